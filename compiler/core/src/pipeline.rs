//! The middle end's pipeline, in order: expand a resolved model into typed IR, bind
//! parameters as inputs, run the IR passes, and (for training) build the train step.
//!
//! Stages report through the front end's [`Diagnostic`] type so the driver prints every error
//! the same way, with spans into the spec.

use crate::autodiff::bind_params;
use crate::expand::model::TRAIN_FORWARD;
use crate::expand::{self, OptimizerSpec, ProgramView, ScheduleSpec, TrainDefaults, Value, eval_train_block};
use crate::optim::{
    CriticOptimizer, OptimizerConfig, OptimizerKind, Schedule, TrainStepError, TrainStepInfo, build_train_step,
};
use hg_dsl::ast::{FileId, ModelDef, Span};
use hg_dsl::diagnostic::Diagnostic;
use hg_ir::{Module, NodeSpan};

/// A model lowered to typed IR: one function per derivable entry point, plus the training-mode
/// forward pass `train_forward` (loss and metrics) that [`with_train_step`] turns into `train`.
#[derive(Clone, Debug)]
pub struct CompiledModel {
    pub module: Module,
    pub train_defaults: TrainDefaults,
    /// Entry points the model does not have, with the reason.
    pub missing: Vec<(String, String)>,
    pub latents: Vec<String>,
    pub outputs: Vec<String>,
    pub metrics: Vec<String>,
}

/// Error codes of this stage (documented in docs/errors.md).
pub mod codes {
    /// The train step cannot be built (autodiff or optimizer setting).
    pub const TRAIN_STEP: &str = "E0401";
    /// An internal consistency check of the IR failed (a compiler bug, reported, not a panic).
    pub const IR_VERIFY: &str = "E0402";
}

fn span_of(s: NodeSpan) -> Span {
    expand::ctx::ast_span(s)
}

/// Expands and checks a model. Errors are every diagnostic found (type, shape, model-level).
pub fn compile_model(
    program: &dyn ProgramView,
    file: FileId,
    model: &ModelDef,
    overrides: &[(String, Value)],
) -> Result<CompiledModel, Vec<Diagnostic>> {
    let expanded = expand::expand_model(program, file, model, overrides);
    let (train_defaults, train_errors) = eval_train_block(program, file, model, overrides);
    let mut diags: Vec<Diagnostic> =
        expanded.errors.iter().chain(train_errors.iter()).map(|e| e.to_diagnostic()).collect();
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut module = expanded.module;
    let params = module.params.clone();
    for f in module.functions.iter_mut() {
        // The train forward keeps its `param` nodes: the train step binds them itself.
        if f.name != TRAIN_FORWARD
            && let Err(e) = bind_params(f, &params)
        {
            let d = Diagnostic::error(codes::IR_VERIFY, e.to_string());
            diags.push(match e.span() {
                Some(s) => d.primary(span_of(s), "here"),
                None => d,
            });
            continue;
        }
        if let Err(e) = hg_ir::passes::run_pipeline(f) {
            diags.push(Diagnostic::error(
                codes::IR_VERIFY,
                format!("internal error: IR of `{}` is inconsistent: {e}", f.name),
            ));
        }
        drop_unread_params(f);
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(CompiledModel {
        module,
        train_defaults,
        missing: expanded.missing,
        latents: expanded.latents,
        outputs: expanded.outputs,
        metrics: expanded.metrics,
    })
}

/// The optimizer configuration of the model's `train` block (the learning rate is a run-time
/// input, see [`OptimizerSpec::lr`]).
pub fn optimizer_config(defaults: &TrainDefaults) -> OptimizerConfig {
    let kind_of = |spec: &OptimizerSpec| match *spec {
        OptimizerSpec::Sgd { momentum, nesterov, weight_decay, .. } => {
            OptimizerKind::Sgd { momentum, nesterov, weight_decay }
        }
        OptimizerSpec::Adam { beta1, beta2, eps, weight_decay, .. } => {
            OptimizerKind::Adam { beta1, beta2, eps, weight_decay }
        }
        OptimizerSpec::AdamW { beta1, beta2, eps, weight_decay, .. } => {
            OptimizerKind::AdamW { beta1, beta2, eps, weight_decay }
        }
    };
    let kind = kind_of(&defaults.optimizer);
    // The critic's rate is its own optimizer's `lr` as a fraction of the main one, so
    // `--lr` scales both players and keeps their ratio.
    let critic = defaults.critic_optimizer.as_ref().unwrap_or(&defaults.optimizer);
    let critic = CriticOptimizer {
        kind: kind_of(critic),
        lr_ratio: critic.lr() / defaults.optimizer.lr(),
        alternating: defaults.alternating,
    };
    let schedule = match defaults.schedule {
        ScheduleSpec::Constant => Schedule::Constant,
        ScheduleSpec::Cosine { warmup } => Schedule::Cosine { warmup },
        ScheduleSpec::Linear { warmup } => Schedule::Linear { warmup },
    };
    OptimizerConfig { kind, schedule, clip_grad_norm: defaults.clip_grad_norm, critic }
}

/// Replaces the training forward function (`train_forward`) by the full train step `train`
/// (gradients and optimizer).
pub fn with_train_step(model: &CompiledModel, opt: &OptimizerConfig) -> Result<(Module, TrainStepInfo), Diagnostic> {
    let mut module = model.module.clone();
    let Some(forward) = module.function(TRAIN_FORWARD) else {
        let why = model.missing.iter().find(|(n, _)| n == "train").map(|(_, w)| w.clone()).unwrap_or_default();
        return Err(Diagnostic::error(codes::TRAIN_STEP, format!("the model cannot be trained: {why}")));
    };
    let (mut step, info) = build_train_step(forward, &module.params, opt).map_err(train_step_diagnostic)?;
    if let Err(e) = hg_ir::passes::run_pipeline(&mut step) {
        return Err(Diagnostic::error(
            codes::IR_VERIFY,
            format!("internal error: IR of the train step is inconsistent: {e}"),
        ));
    }
    if let Some(f) = module.function_mut(TRAIN_FORWARD) {
        *f = step;
    }
    Ok((module, info))
}

fn train_step_diagnostic(e: TrainStepError) -> Diagnostic {
    let span = match &e {
        TrainStepError::Autodiff(a) => a.span(),
        TrainStepError::LossType { span, .. } | TrainStepError::InputType { span, .. } => Some(*span),
        _ => None,
    };
    let mut d = Diagnostic::error(codes::TRAIN_STEP, e.to_string());
    if let Some(s) = span.filter(|s| *s != NodeSpan::default()) {
        d = d.primary(span_of(s), "the gradient stops here");
    }
    if let TrainStepError::Autodiff(crate::autodiff::AutodiffError::Blocked { wrt_span, .. }) = &e {
        if *wrt_span != NodeSpan::default() {
            d = d.secondary(span_of(*wrt_span), "the parameter is declared here");
        }
        d = d.help("gradients cannot pass through indices or comparisons; if this is a quantizer, pass the gradient around it with `straight_through(forward, backward)`");
    }
    d
}

/// Removes `param:` inputs an inference entry never reads, so `encode` does not ask for the
/// decoder's weights. (The train step keeps every parameter: it updates them all.)
fn drop_unread_params(f: &mut hg_ir::Function) {
    if f.name == TRAIN_FORWARD {
        return;
    }
    let unread: Vec<hg_ir::ValueId> = f
        .inputs
        .iter()
        .filter(|(name, v)| {
            name.starts_with(hg_abi::names::PARAM) && f.users(*v).is_empty() && !f.outputs.iter().any(|(_, o)| o == v)
        })
        .map(|(_, v)| *v)
        .collect();
    f.inputs.retain(|(_, v)| !unread.contains(v));
    for v in unread {
        f.remove(v);
    }
}
