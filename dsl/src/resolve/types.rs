//! Type annotations: element types, compile-time type names, and the names used as
//! dimensions. Shapes themselves are checked by a later stage.
//!
//! Dimension names bind on first use in a `fn`'s parameter types (`x: [..., I]` binds `I`);
//! elsewhere they must already name something: a parameter, a hyperparameter, the batch `B`
//! of a model, a dimension variable or a binding.

use super::body::Checker;
use super::scope::BindingKind;
use crate::ast::{DimExpr, Ident, TypeExpr};
use crate::builtins::{self, DTYPES, TYPE_NAMES};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::suggest;

/// Where a type annotation is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TypeSite {
    /// A `fn` parameter: dimension names bind here.
    Signature,
    /// A `fn` return type.
    Return,
    /// A `param` statement.
    Body,
    /// A model `input`.
    Input,
    /// A hyperparameter.
    Hparam,
}

impl Checker<'_> {
    pub(crate) fn check_type(&mut self, ty: &TypeExpr, site: TypeSite) {
        match ty {
            TypeExpr::Named(id) => self.named_type(id, site),
            TypeExpr::Tensor { dtype, dims, span } => {
                if site == TypeSite::Hparam {
                    self.diags.push(
                        Diagnostic::error(codes::E0227, "a hyperparameter cannot have a tensor type")
                            .primary(*span, "tensor type")
                            .help("hyperparameters are compile-time values: `int`, `float`, `bool`, `list`, `tuple`, `fn` or `str`"),
                    );
                    return;
                }
                if let Some(d) = dtype
                    && !builtins::is_dtype(&d.name)
                {
                    let help = suggest::did_you_mean(&d.name, DTYPES.iter().copied())
                        .unwrap_or_else(|| format!("the element types are {}", quoted(DTYPES)));
                    self.diags.push(
                        Diagnostic::error(codes::E0114, format!("unknown element type `{}`", d.name))
                            .primary(d.span, "not an element type")
                            .help(help),
                    );
                }
                for (i, dim) in dims.iter().enumerate() {
                    self.dim(dim, site, i == 0);
                }
            }
        }
    }

    fn named_type(&mut self, id: &Ident, site: TypeSite) {
        match site {
            TypeSite::Body | TypeSite::Input => {
                let what = if site == TypeSite::Body { "a parameter" } else { "an input" };
                self.diags.push(
                    Diagnostic::error(codes::E0225, format!("expected a tensor type, found `{}`", id.name))
                        .primary(id.span, format!("{what} must be a tensor"))
                        .help("write the element type and shape, e.g. `f32[B, 784]`"),
                );
            }
            _ if TYPE_NAMES.contains(&id.name.as_str()) => {}
            _ => {
                let help = if builtins::is_dtype(&id.name) {
                    format!("a scalar tensor is written `{}[]`", id.name)
                } else {
                    suggest::did_you_mean(&id.name, TYPE_NAMES.iter().copied()).unwrap_or_else(|| {
                        format!("the compile-time types are {}; tensors are written `f32[...]`", quoted(TYPE_NAMES))
                    })
                };
                self.diags.push(
                    Diagnostic::error(codes::E0115, format!("unknown type `{}`", id.name))
                        .primary(id.span, "not a type")
                        .help(help),
                );
            }
        }
    }

    /// One dimension; recursion is bounded by the parser's depth limit.
    fn dim(&mut self, d: &DimExpr, site: TypeSite, first: bool) {
        match d {
            DimExpr::Int { .. } => {}
            DimExpr::Ellipsis(span) => {
                if !matches!(site, TypeSite::Signature | TypeSite::Return) || !first {
                    self.diags.push(
                        Diagnostic::error(codes::E0224, "`...` is only allowed in `fn` signatures")
                            .primary(*span, "here the shape must be spelled out")
                            .help(
                                "`...` matches leading dimensions of a `fn` argument; elsewhere, name each dimension",
                            ),
                    );
                }
            }
            DimExpr::Binary { lhs, rhs, .. } => {
                self.dim(lhs, site, false);
                self.dim(rhs, site, false);
            }
            DimExpr::Name(id) => self.dim_name(id, site),
        }
    }

    fn dim_name(&mut self, id: &Ident, site: TypeSite) {
        if self.scopes.lookup(&id.name).is_some() || self.sig_params.contains(&id.name) {
            return;
        }
        if site == TypeSite::Signature {
            self.bind(id, BindingKind::DimVar);
            return;
        }
        if self.is_poisoned(&id.name) {
            return;
        }
        let help = match site {
            TypeSite::Return => {
                "a return type may use the parameters and the dimension names bound in the parameter types".to_string()
            }
            TypeSite::Input => {
                let hint = self.unknown_help(&id.name, false);
                hint.unwrap_or_else(|| "input dimensions are the batch `B`, integers and hyperparameters".to_string())
            }
            _ => self.unknown_help(&id.name, false).unwrap_or_else(|| {
                "dimensions are integers, parameters, hyperparameters or names bound in the parameter types".to_string()
            }),
        };
        self.diags.push(
            Diagnostic::error(codes::E0101, format!("unknown dimension `{}`", id.name))
                .primary(id.span, "not found in this scope")
                .help(help),
        );
    }
}

fn quoted(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    q.join(", ")
}
