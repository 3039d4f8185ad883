//! Optimizers compiled into the train step.
//!
//! [`build_train_step`] turns the training-mode forward function into one graph that computes
//! the loss, its gradients (by [`crate::autodiff`]), the scheduled learning rate, optional
//! global-norm clipping and the optimizer update, so the whole step is fused, planned and run
//! like any other entry point. The base learning rate and the planned number of steps are
//! run-time inputs (`base_lr`, `total_steps`), so `--lr` and `--steps` need no recompilation.
//!
//! Semantics follow PyTorch exactly, per parameter `p` with gradient `g` at step `t = step + 1`
//! (`step` is the 0-based step being taken), learning rate `lr` from the schedule:
//! - **clipping** (`clip_grad_norm = Some(c)`, before the optimizer, as
//!   `torch.nn.utils.clip_grad_norm_`): `n = sqrt(sum over all parameters of sum(g²))`,
//!   every `g *= min(1, c / (n + 1e-6))`.
//! - **SGD** (`torch.optim.SGD`, dampening 0): `d = g + wd·p`; with momentum `μ ≠ 0`:
//!   `buf = μ·buf + d` (`buf` starts at zero, which equals PyTorch's `buf = d` on the first
//!   step), then `d = d + μ·buf` (nesterov) or `d = buf`; finally `p -= lr·d`.
//! - **Adam** (`torch.optim.Adam`, amsgrad off): `g = g + wd·p` (coupled L2),
//!   `m = m + (1 - β1)(g - m)`, `v = β2·v + (1 - β2)·g²`,
//!   `p -= (lr / (1 - β1^t)) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)`.
//! - **AdamW** (`torch.optim.AdamW`): first `p *= 1 - lr·wd` (decoupled), then the Adam update
//!   without the L2 term.
//! - **schedules**, with `w = warmup`, `T = total_steps` and
//!   `progress = clamp((step - w) / max(1, T - w), 0, 1)`:
//!   `constant`: `lr = base_lr`;
//!   `linear(w)`: `base_lr·(step + 1)/w` while `step < w`, then `base_lr·(1 - progress)`
//!   (reaches 0 at `step = T`);
//!   `cosine(w)`: `base_lr·(step + 1)/w` while `step < w`, then
//!   `base_lr·0.5·(1 + cos(π·progress))`. With `w = 0` there is no warmup phase.
//!
//! Optimizer state lives in `state:` buffers of the parameter's type that the runtime creates
//! as zeros ([`TrainStepInfo::state`]): `state:sgd.momentum.<p>` (only when `μ ≠ 0`),
//! `state:adam.m.<p>`, `state:adam.v.<p>` (Adam and AdamW). Scalar arithmetic (schedule,
//! bias corrections, the clipping norm) is done in f32.

mod adam;
mod clip;
mod schedule;
mod sgd;
mod train_step;

#[cfg(test)]
mod tests;

pub use train_step::{CRITIC_LOSS, build_train_step};

use crate::autodiff::AutodiffError;
use hg_ir::{NodeSpan, TensorType};

/// The optimizer, schedule and clipping a train step compiles in.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub schedule: Schedule,
    /// Global L2-norm clipping threshold, as `torch.nn.utils.clip_grad_norm_(max_norm)`.
    pub clip_grad_norm: Option<f64>,
    /// The optimizer of the `critic` section's parameters, used only by a model with a critic.
    pub critic: CriticOptimizer,
}

/// The second player's optimizer (two-player training): its kind, and its learning rate as a
/// multiple of the base rate (the train step's `base_lr` input), scheduled like the first's.
#[derive(Clone, Debug, PartialEq)]
pub struct CriticOptimizer {
    pub kind: OptimizerKind,
    pub lr_ratio: f64,
    /// The critic steps after the model, on a second forward pass that reads the model's new
    /// parameters (`players = alternating`); otherwise both step on one forward pass.
    pub alternating: bool,
}

impl Default for CriticOptimizer {
    fn default() -> Self {
        CriticOptimizer { kind: OptimizerKind::adam(), lr_ratio: 1.0, alternating: false }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerKind {
    Sgd { momentum: f64, nesterov: bool, weight_decay: f64 },
    Adam { beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
    AdamW { beta1: f64, beta2: f64, eps: f64, weight_decay: f64 },
}

impl OptimizerKind {
    /// PyTorch's defaults: `torch.optim.Adam()`.
    pub fn adam() -> OptimizerKind {
        OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }

    /// PyTorch's defaults: `torch.optim.AdamW()` (weight decay 0.01).
    pub fn adamw() -> OptimizerKind {
        OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }

    /// Plain SGD with momentum `momentum` (0 for none).
    pub fn sgd(momentum: f64) -> OptimizerKind {
        OptimizerKind::Sgd { momentum, nesterov: false, weight_decay: 0.0 }
    }
}

/// Learning-rate schedule over the run; `warmup` is a number of steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    Constant,
    Cosine { warmup: u64 },
    Linear { warmup: u64 },
}

/// One optimizer state buffer: created as zeros of `ty` before the first step, then carried
/// from each step's outputs to the next step's inputs under the same name.
#[derive(Clone, Debug, PartialEq)]
pub struct StateBuffer {
    /// Full entry-point name, `state:adam.m.encoder.w`.
    pub name: String,
    pub ty: TensorType,
}

/// What the runtime needs to know about a train step besides its signature.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainStepInfo {
    /// State buffers in the order of the train step's `state:` inputs.
    pub state: Vec<StateBuffer>,
    /// Parameters the loss does not depend on: their gradient is zero (weight decay still
    /// applies). Worth a warning.
    pub unused_params: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TrainStepError {
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
    #[error("the loss must be a float scalar, found {ty}")]
    LossType { ty: TensorType, span: NodeSpan },
    #[error("input `{name}` of the forward function has type {found}, expected {expected}")]
    InputType { name: String, expected: TensorType, found: TensorType, span: NodeSpan },
    #[error("the forward function returns `{name}`; a train step returns only `loss` and `metric:` outputs")]
    UnexpectedOutput { name: String },
    #[error("invalid optimizer setting: {message}")]
    InvalidConfig { message: String },
}

impl OptimizerConfig {
    /// Checks the ranges PyTorch's constructors check, so a bad setting is an error here
    /// rather than NaNs later.
    pub fn validate(&self) -> Result<(), TrainStepError> {
        let bad = |message: String| Err(TrainStepError::InvalidConfig { message });
        self.kind.validate()?;
        self.critic.kind.validate()?;
        if !(self.critic.lr_ratio.is_finite() && self.critic.lr_ratio > 0.0) {
            return bad(format!(
                "the critic's learning rate must be positive, found {} times the base",
                self.critic.lr_ratio
            ));
        }
        if let Some(c) = self.clip_grad_norm
            && !(c.is_finite() && c > 0.0)
        {
            return bad(format!("clip_grad_norm must be a positive number, found {c}"));
        }
        Ok(())
    }
}

impl OptimizerKind {
    fn validate(&self) -> Result<(), TrainStepError> {
        let bad = |message: String| Err(TrainStepError::InvalidConfig { message });
        let finite_nonneg = |v: f64| v.is_finite() && v >= 0.0;
        match *self {
            OptimizerKind::Sgd { momentum, nesterov, weight_decay } => {
                if !finite_nonneg(momentum) {
                    return bad(format!("momentum must be a non-negative number, found {momentum}"));
                }
                if nesterov && momentum == 0.0 {
                    return bad("nesterov momentum requires a non-zero momentum".to_string());
                }
                if !finite_nonneg(weight_decay) {
                    return bad(format!("weight_decay must be a non-negative number, found {weight_decay}"));
                }
            }
            OptimizerKind::Adam { beta1, beta2, eps, weight_decay }
            | OptimizerKind::AdamW { beta1, beta2, eps, weight_decay } => {
                for (name, beta) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&beta) {
                        return bad(format!("{name} must be in [0, 1), found {beta}"));
                    }
                }
                if !finite_nonneg(eps) {
                    return bad(format!("eps must be a non-negative number, found {eps}"));
                }
                if !finite_nonneg(weight_decay) {
                    return bad(format!("weight_decay must be a non-negative number, found {weight_decay}"));
                }
            }
        }
        Ok(())
    }
}
