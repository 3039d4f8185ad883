//! Model selection (`--model NAME`) and hyperparameter overrides (`--set name=value`).
//!
//! Each `--set` string becomes a small source file named `--set` in the [`SourceDb`], so its
//! diagnostics point into it like into any other file. A value is a literal (number, string,
//! boolean, list or tuple of literals, possibly negated) or the name of a function
//! (`--set act=gelu`); its kind must match the hyperparameter's declared type, or the kind of
//! its default when it declares none.

use std::collections::{BTreeMap, HashMap};

use super::model::{declared_type, fits, literal_kind, prose};
use super::{CheckOptions, Global, HparamValue, ParsedFile, SelectedModel};
use crate::ast::{Expr, ExprKind, FileId, Ident, Item, ModelDef, Span, UnaryOp};
use crate::builtins;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::parse::parse_expr;
use crate::source::SourceDb;
use crate::suggest;

pub(crate) fn select(
    db: &mut SourceDb,
    files: &BTreeMap<FileId, ParsedFile>,
    root: FileId,
    options: &CheckOptions,
    diags: &mut Vec<Diagnostic>,
) -> Option<SelectedModel> {
    let root_file = files.get(&root)?;
    let file_name = db.file(root).name.clone();
    let models: Vec<(usize, &ModelDef)> = root_file
        .ast
        .items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item {
            Item::Model(m) => Some((i, m)),
            _ => None,
        })
        .collect();
    let list = || suggest::join_and(&models.iter().map(|(_, m)| m.name.name.as_str()).collect::<Vec<_>>());
    let (index, model) = match &options.model {
        Some(name) => match models.iter().find(|(_, m)| m.name.name == *name) {
            Some(found) => *found,
            None => {
                let help = if models.is_empty() {
                    format!("`{file_name}` defines no model")
                } else {
                    suggest::did_you_mean(name, models.iter().map(|(_, m)| m.name.name.as_str()))
                        .unwrap_or_else(|| format!("the models are {}", list()))
                };
                diags.push(
                    Diagnostic::error(codes::E0218, format!("no model named `{name}` in `{file_name}`")).help(help),
                );
                return None;
            }
        },
        None => match models.as_slice() {
            [one] => *one,
            [] => {
                if !options.overrides.is_empty() {
                    diags.push(
                        Diagnostic::error(
                            codes::E0223,
                            format!("`--set` is given, but `{file_name}` defines no model"),
                        )
                        .help("hyperparameters belong to a model; check a file that defines one"),
                    );
                }
                return None;
            }
            many => {
                let mut d =
                    Diagnostic::error(codes::E0219, format!("`{file_name}` defines {} models; choose one", many.len()))
                        .help(format!("pass `--model NAME`; the models are {}", list()));
                for (_, m) in many {
                    d = d.secondary(m.name.span, "a model");
                }
                diags.push(d);
                return None;
            }
        },
    };
    let overrides = parse_overrides(db, root_file, model, &options.overrides, diags);
    let mut hparams = Vec::new();
    let mut seen = Vec::new();
    for p in &model.hparams {
        if seen.contains(&&p.name.name) {
            continue;
        }
        seen.push(&p.name.name);
        match (overrides.get(&p.name.name), &p.default) {
            (Some(value), _) => {
                hparams.push(HparamValue { name: p.name.clone(), value: value.clone(), overridden: true })
            }
            (None, Some(d)) => hparams.push(HparamValue { name: p.name.clone(), value: d.clone(), overridden: false }),
            (None, None) => diags.push(
                Diagnostic::error(codes::E0222, format!("hyperparameter `{}` has no value", p.name.name))
                    .primary(p.name.span, "no default")
                    .help(format!("give it a default, or set it with `--set {}=...`", p.name.name)),
            ),
        }
    }
    Some(SelectedModel { file: root, index, hparams })
}

/// `hgc run` flags that override a `train` setting, by the names a user may try with `--set`,
/// with the setting's name in the `train` block.
const TRAIN_FLAGS: &[(&str, &str, &str)] = &[
    ("lr", "--lr", "lr"),
    ("learning_rate", "--lr", "lr"),
    ("batch", "--batch", "batch"),
    ("batch_size", "--batch", "batch"),
    ("epochs", "--epochs", "epochs"),
    ("steps", "--steps", "steps"),
    ("seed", "--seed", "seed"),
];

/// The help for `--set NAME=VALUE` where `NAME` is a training setting, not a hyperparameter:
/// the `hgc run` flag that sets it, and where the `train` block sets it.
fn train_flag_help(name: &str, value: &str) -> Option<String> {
    let (_, flag, key) = TRAIN_FLAGS.iter().find(|(n, _, _)| *n == name)?;
    let value = if value.is_empty() { "..." } else { value };
    let in_block = if *key == "lr" { format!("optimizer = adam(lr = {value})") } else { format!("{key} = {value}") };
    Some(format!(
        "`{name}` is a training setting, not a hyperparameter: pass `{flag} {value}` to `hgc run FILE train`, \
         or write `{in_block}` in the model's `train` block"
    ))
}

/// Parses every `--set`; returns the valid values by name.
fn parse_overrides(
    db: &mut SourceDb,
    file: &ParsedFile,
    model: &ModelDef,
    raw: &[String],
    diags: &mut Vec<Diagnostic>,
) -> HashMap<String, Expr> {
    let mut values: HashMap<String, Expr> = HashMap::new();
    let mut first_seen: HashMap<String, Span> = HashMap::new();
    for (i, text) in raw.iter().enumerate() {
        let id = db.add_text(format!("--set #{i}"), "--set", text.clone());
        let whole = Span::new(id, 0, text.len());
        let Some(eq) = text.find('=') else {
            diags.push(
                Diagnostic::error(codes::E0221, format!("`--set {text}` has no value"))
                    .primary(whole, "expected `name=value`")
                    .help(format!("write e.g. `--set {}=64`", text.trim())),
            );
            continue;
        };
        let name_text = &text[..eq];
        let trimmed = name_text.trim();
        let name_start = name_text.len() - name_text.trim_start().len();
        let name = Ident { name: trimmed.to_string(), span: Span::new(id, name_start, name_start + trimmed.len()) };
        let Some(param) = model.hparams.iter().find(|p| p.name.name == name.name) else {
            let names = model.hparams.iter().map(|p| p.name.name.as_str());
            let value = text[eq + 1..].trim();
            let help = train_flag_help(&name.name, value)
                .or_else(|| suggest::did_you_mean(&name.name, names))
                .unwrap_or_else(|| {
                    if model.hparams.is_empty() {
                        format!("`{}` has no hyperparameters", model.name.name)
                    } else {
                        let names: Vec<&str> = model.hparams.iter().map(|p| p.name.name.as_str()).collect();
                        format!("the hyperparameters are {}", suggest::join_and(&names))
                    }
                });
            diags.push(
                Diagnostic::error(
                    codes::E0220,
                    format!("model `{}` has no hyperparameter `{}`", model.name.name, name.name),
                )
                .primary(if trimmed.is_empty() { whole } else { name.span }, "unknown hyperparameter")
                .help(help),
            );
            continue;
        };
        if let Some(first) = first_seen.get(&name.name) {
            diags.push(
                Diagnostic::error(codes::E0221, format!("`{}` is set twice", name.name))
                    .primary(name.span, "set again here")
                    .secondary(*first, "first set here"),
            );
            continue;
        }
        first_seen.insert(name.name.clone(), name.span);
        let value_span = Span::new(id, eq + 1, text.len());
        if text[eq + 1..].trim().is_empty() {
            diags.push(
                Diagnostic::error(codes::E0221, format!("`--set {}` has an empty value", name.name))
                    .primary(value_span, "expected a value")
                    .help(format!("write e.g. `--set {}=64`", name.name)),
            );
            continue;
        }
        // Parse the value in place: blank the `name=` part so spans index the whole text.
        let blanked = format!("{}{}", " ".repeat(eq + 1), &text[eq + 1..]);
        let value = match parse_expr(id, &blanked) {
            Ok(v) => v,
            Err(errs) => {
                let literal = errs.iter().any(|d| matches!(d.code, "E0004" | "E0005" | "E0006" | "E0007"));
                if literal {
                    diags.extend(errs);
                } else {
                    let reason = errs.first().map_or_else(|| "not a value".to_string(), |d| d.message.clone());
                    diags.push(
                        Diagnostic::error(codes::E0221, format!("invalid value for `{}`", name.name))
                            .primary(value_span, reason)
                            .help("values are numbers, strings, `true`/`false`, lists `[1, 2]`, tuples `(1, 2)` or function names"),
                    );
                }
                continue;
            }
        };
        let expected = declared_type(param).or_else(|| param.default.as_ref().and_then(literal_kind));
        if let (ExprKind::Name(id), Some(ty)) = (&value.kind, expected)
            && ty != "fn"
        {
            diags.push(
                Diagnostic::error(codes::E0221, format!("`{}` takes {}, not a name", name.name, prose(ty)))
                    .primary(id.span, "a name")
                    .help(format!("write the value itself, e.g. `--set {}={}`", name.name, example(ty))),
            );
            continue;
        }
        if let Err(d) = check_value(&value, file) {
            diags.push(d);
            continue;
        }
        if let (Some(ty), Some(kind)) = (expected, literal_kind(&value))
            && builtins::TYPE_NAMES.contains(&ty)
            && !fits(ty, kind)
        {
            let mut d = Diagnostic::error(
                codes::E0221,
                format!("`{}` takes {}, but the value is {}", name.name, prose(ty), prose(kind)),
            )
            .primary(value.span, prose(kind));
            d = match &param.ty {
                Some(ty) => d.secondary(ty.span(), "declared type"),
                None => d.secondary(param.name.span, "declared here"),
            };
            diags.push(d);
            continue;
        }
        values.insert(name.name, value);
    }
    values
}

/// An example literal of a compile-time type.
fn example(ty: &str) -> &'static str {
    match ty {
        "float" => "0.5",
        "bool" => "true",
        "str" => "\"text\"",
        "list" => "[1, 2]",
        "tuple" => "(1, 2)",
        _ => "64",
    }
}

/// A value must be a literal (or a list/tuple of them) or the name of a function.
fn check_value(e: &Expr, file: &ParsedFile) -> Result<(), Diagnostic> {
    match &e.kind {
        ExprKind::Int(_) | ExprKind::Float { .. } | ExprKind::Bool(_) | ExprKind::Str(_) => Ok(()),
        ExprKind::Unary { op: UnaryOp::Neg, operand }
            if matches!(operand.kind, ExprKind::Int(_) | ExprKind::Float { .. }) =>
        {
            Ok(())
        }
        ExprKind::Paren(inner) => check_value(inner, file),
        ExprKind::List(items) | ExprKind::Tuple(items) => items.iter().try_for_each(|i| check_value(i, file)),
        ExprKind::Name(id) => {
            let is_fn = matches!(file.scope.get(&id.name).map(|g| g.target), Some(Global::Fn { .. }));
            if is_fn || builtins::lookup(&id.name).is_some() {
                return Ok(());
            }
            let fns = file.scope.names().filter(|(_, g)| matches!(g.target, Global::Fn { .. })).map(|(n, _)| n);
            let help = suggest::did_you_mean(&id.name, fns.chain(builtins::OPS.iter().map(|d| d.name)))
                .unwrap_or_else(|| "a name in `--set` must be a function or builtin, like `gelu`".to_string());
            Err(Diagnostic::error(codes::E0221, format!("unknown value `{}`", id.name))
                .primary(id.span, "not a function")
                .help(help))
        }
        _ => Err(Diagnostic::error(codes::E0221, "a `--set` value must be a literal")
            .primary(e.span, "computed value")
            .help("write the value itself, e.g. `64`, `0.5`, `[256, 128]`")),
    }
}
