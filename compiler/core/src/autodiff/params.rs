//! Parameters as inputs, and the gradient-only function `hgc ir --stage grad` prints.
//!
//! Expansion reads parameters through `param` nodes. Entry points that the runtime calls take
//! them as named inputs instead (`param:<path>`, see `hg_abi::names`), so [`bind_params`]
//! replaces every `param` node by one input per declared parameter, in declaration order,
//! checking each use's type against the declaration.

use super::{AutodiffError, differentiate};
use hg_abi::names;
use hg_ir::{Function, Op, ParamDecl, ValueId};

/// The inputs that now stand for the parameters, in declaration order.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundParams {
    pub inputs: Vec<ValueId>,
}

/// Replaces the `param` nodes of `f` by `param:<path>` inputs, one per declaration (also for a
/// declared parameter the function does not read, so the signature is the same for every
/// entry point). An input of that name that already exists is reused.
pub fn bind_params(f: &mut Function, params: &[ParamDecl]) -> Result<BoundParams, AutodiffError> {
    let mut inputs = Vec::with_capacity(params.len());
    for p in params {
        let name = names::param(&p.name);
        let v = match f.input(&name) {
            Some(v) => {
                check_type(f, p, v)?;
                v
            }
            None => f.add_input(&name, p.ty.clone(), p.span),
        };
        inputs.push(v);
    }
    let param_nodes: Vec<(ValueId, String)> = f
        .values()
        .filter_map(|v| match f.op(v) {
            Op::Param { name } => Some((v, name.clone())),
            _ => None,
        })
        .collect();
    for (v, name) in param_nodes {
        let Some(slot) = params.iter().position(|p| p.name == name) else {
            return Err(AutodiffError::UndeclaredParam { name, span: f.node(v).span });
        };
        check_type(f, &params[slot], v)?;
        f.replace_all_uses(v, inputs[slot]);
        f.remove(v);
    }
    Ok(BoundParams { inputs })
}

fn check_type(f: &Function, p: &ParamDecl, v: ValueId) -> Result<(), AutodiffError> {
    let found = f.ty(v);
    if *found != p.ty {
        return Err(AutodiffError::ParamType {
            name: p.name.clone(),
            declared: p.ty.clone(),
            found: found.clone(),
            span: f.node(v).span,
        });
    }
    Ok(())
}

/// Prefix of a gradient output of [`gradient_function`]: `grad:encoder.mu.w`.
pub const GRAD_PREFIX: &str = "grad:";

/// The forward function with its parameters bound as inputs and outputs `loss` and
/// `grad:<path>` for each trainable parameter, in declaration order (a parameter the loss does
/// not depend on gets zeros). Other outputs of `forward` (metrics, buffer updates) are dropped.
pub fn gradient_function(forward: &Function, params: &[ParamDecl]) -> Result<Function, AutodiffError> {
    let mut f = forward.clone();
    f.name = format!("{}_grad", forward.name);
    let bound = bind_params(&mut f, params)?;
    let loss = f.output(names::LOSS).ok_or(AutodiffError::MissingLoss)?;
    let (params, inputs): (Vec<&ParamDecl>, Vec<ValueId>) =
        params.iter().zip(&bound.inputs).filter(|(p, _)| p.trainable).unzip();
    let result = differentiate(&mut f, loss, &inputs)?;
    f.outputs = vec![(names::LOSS.to_string(), loss)];
    for (p, g) in params.iter().zip(result.grads) {
        f.outputs.push((format!("{GRAD_PREFIX}{}", p.name), g));
    }
    super::run_passes(&mut f)?;
    Ok(f)
}
