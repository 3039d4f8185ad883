//! Argument checks of a call against the callee's parameters (a user `fn` or a builtin):
//! positional arguments first, then keyword arguments; no unknown keywords, no argument given
//! twice, not too many, and every required parameter given.

use crate::ast::{Arg, Ident, Param, Span};
use crate::builtins::BuiltinDef;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::suggest;

/// One parameter of a callee.
pub(crate) struct SigParam<'a> {
    pub name: &'a str,
    pub required: bool,
    /// Where a user `fn` declares it.
    pub span: Option<Span>,
}

/// What a call is checked against.
pub(crate) struct Signature<'a> {
    /// How messages name the callee, e.g. "`Linear`" or "the optimizer `adam`".
    pub what: String,
    pub params: Vec<SigParam<'a>>,
}

impl<'a> Signature<'a> {
    pub(crate) fn of_fn(name: &str, params: &'a [Param]) -> Signature<'a> {
        Signature {
            what: format!("`{name}`"),
            params: params
                .iter()
                .map(|p| SigParam {
                    name: p.name.name.as_str(),
                    required: p.default.is_none(),
                    span: Some(p.name.span),
                })
                .collect(),
        }
    }

    pub(crate) fn of_builtin(what: String, def: &'static BuiltinDef) -> Signature<'static> {
        Signature {
            what,
            params: def
                .params
                .iter()
                .map(|p| SigParam { name: p.name, required: p.is_required(), span: None })
                .collect(),
        }
    }
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Checks `args` of a call to `callee` against `sig`, pushing one diagnostic per problem.
pub(crate) fn check_args(
    sig: &Signature<'_>,
    callee: &Ident,
    call_span: Span,
    args: &[Arg],
    diags: &mut Vec<Diagnostic>,
) {
    // For each parameter, the span of the argument that fills it.
    let mut filled: Vec<Option<Span>> = vec![None; sig.params.len()];
    let mut first_keyword: Option<Span> = None;
    let mut n_positional = 0;
    // After a misplaced positional argument, which parameter it meant is unknown: do not
    // also report missing ones.
    let mut misplaced = false;
    // Parameters that an unknown keyword argument stands for (`outt` for `out`, PyTorch's `dim`
    // for `axis`): their E0109 names the fix, so they are not also reported as missing.
    let mut misnamed = vec![false; sig.params.len()];
    for arg in args {
        match &arg.name {
            None => {
                if let Some(kw) = first_keyword {
                    diags.push(
                        Diagnostic::error(codes::E0111, "positional argument after a keyword argument")
                            .primary(arg.span, "positional argument")
                            .secondary(kw, "keyword arguments start here")
                            .help("put positional arguments first, or name this one"),
                    );
                    misplaced = true;
                    continue;
                }
                if n_positional < sig.params.len() {
                    filled[n_positional] = Some(arg.span);
                } else if n_positional == sig.params.len() {
                    let extra = args.iter().filter(|a| a.name.is_none()).count();
                    let mut d = Diagnostic::error(
                        codes::E0112,
                        format!(
                            "{} takes {} but {} given",
                            sig.what,
                            count(sig.params.len(), "argument"),
                            if extra == 1 { "1 was".to_string() } else { format!("{extra} were") }
                        ),
                    )
                    .primary(arg.span, "unexpected argument");
                    if let Some(def) = sig.params.last().and_then(|p| p.span) {
                        d = d.secondary(def, "the last parameter");
                    }
                    diags.push(d);
                }
                n_positional += 1;
            }
            Some(name) => {
                first_keyword.get_or_insert(name.span);
                match sig.params.iter().position(|p| p.name == name.name) {
                    None => {
                        let names: Vec<&str> = sig.params.iter().map(|p| p.name).collect();
                        // The parameter this keyword meant is not reported again as missing.
                        let meant = suggest::pytorch_name(&name.name, &names)
                            .or_else(|| suggest::nearest(&name.name, names.iter().copied()));
                        if let Some(i) = meant.and_then(|m| names.iter().position(|n| *n == m)) {
                            misnamed[i] = true;
                        }
                        let value = crate::print::print_expr(&arg.value);
                        let help = suggest::pytorch_keyword(&name.name, &names, &value)
                            .or_else(|| suggest::did_you_mean(&name.name, names.iter().copied()))
                            .or_else(|| {
                                Some(if names.is_empty() {
                                    format!("{} takes no arguments", sig.what)
                                } else {
                                    format!("the parameters are {}", suggest::join_and(&names))
                                })
                            });
                        diags.push(
                            Diagnostic::error(codes::E0109, format!("{} has no parameter `{}`", sig.what, name.name))
                                .primary(name.span, "unknown keyword argument")
                                .maybe_help(help),
                        );
                    }
                    Some(i) => match filled[i] {
                        Some(first) => diags.push(
                            Diagnostic::error(codes::E0110, format!("argument `{}` is given twice", name.name))
                                .primary(arg.span, "given again here")
                                .secondary(first, "first given here"),
                        ),
                        None => filled[i] = Some(arg.span),
                    },
                }
            }
        }
    }
    let missing: Vec<&SigParam<'_>> = sig
        .params
        .iter()
        .zip(&filled)
        .zip(&misnamed)
        .filter(|((p, f), misnamed)| p.required && f.is_none() && !**misnamed)
        .map(|((p, _), _)| p)
        .collect();
    if missing.is_empty() || misplaced {
        return;
    }
    let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    let message = match names.as_slice() {
        [one] => format!("missing argument `{one}` in call to {}", sig.what),
        many => format!("missing arguments {} in call to {}", suggest::join_and(many), sig.what),
    };
    let mut d = Diagnostic::error(codes::E0113, message).primary(callee.span.to(call_span), "in this call");
    for p in &missing {
        if let Some(span) = p.span {
            d = d.secondary(span, format!("`{}` has no default", p.name));
        }
    }
    let first = missing[0].name;
    let pronoun = if missing.len() == 1 { "it" } else { "them" };
    diags.push(d.help(format!("pass {pronoun}, e.g. `{first} = ...`")));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Expr, ExprKind, FileId};

    fn ident(name: &str, at: u32) -> Ident {
        Ident { name: name.to_string(), span: Span { file: FileId(0), start: at, end: at + 1 } }
    }

    fn arg(name: Option<&str>, at: u32) -> Arg {
        let span = Span { file: FileId(0), start: at, end: at + 1 };
        Arg { name: name.map(|n| ident(n, at)), value: Expr { kind: ExprKind::Int(1), span }, span }
    }

    fn codes(args: &[Arg]) -> Vec<&'static str> {
        codes_of("sum", args)
    }

    fn codes_of(builtin: &str, args: &[Arg]) -> Vec<&'static str> {
        let def = crate::builtins::lookup(builtin).expect("builtin exists");
        let sig = Signature::of_builtin(format!("`{builtin}`"), def);
        let mut diags = Vec::new();
        let callee = ident(builtin, 0);
        check_args(&sig, &callee, callee.span, args, &mut diags);
        diags.iter().map(|d| d.code).collect()
    }

    #[test]
    fn each_kind_of_bad_call() {
        assert!(codes(&[arg(None, 1), arg(Some("axis"), 2)]).is_empty());
        assert_eq!(codes(&[]), [codes::E0113]);
        assert_eq!(codes(&[arg(None, 1), arg(Some("axes"), 2)]), [codes::E0109]);
        assert_eq!(codes(&[arg(None, 1), arg(Some("x"), 2)]), [codes::E0110]);
        assert_eq!(codes(&[arg(Some("x"), 1), arg(None, 2)]), [codes::E0111]);
        assert_eq!(codes(&[arg(None, 1), arg(None, 2), arg(None, 3), arg(None, 4)]), [codes::E0112]);
    }

    #[test]
    fn a_misnamed_required_argument_is_not_also_missing() {
        // PyTorch's `clamp(x, min = .., max = ..)`: the E0109s name `lo` and `hi`.
        assert_eq!(
            codes_of("clamp", &[arg(None, 1), arg(Some("min"), 2), arg(Some("max"), 3)]),
            [codes::E0109, codes::E0109]
        );
        // A misspelling the help corrects, likewise; an unrelated name leaves `shape` missing.
        assert_eq!(codes_of("zeros", &[arg(Some("shap"), 1)]), [codes::E0109]);
        assert_eq!(codes_of("zeros", &[arg(Some("size"), 1)]), [codes::E0109]);
        assert_eq!(codes_of("zeros", &[arg(Some("sizes"), 1)]), [codes::E0109, codes::E0113]);
    }
}
