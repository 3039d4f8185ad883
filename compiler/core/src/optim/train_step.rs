//! Assembling the train step: forward, gradients, schedule, clipping and updates in one graph.
//!
//! Steps:
//! 1. Clone the forward function; bind its `param` nodes to `param:<path>` inputs.
//! 2. Check the loss (a float scalar) and the outputs (only `loss`, `metric:*` and the
//!    buffers' `update:*`).
//! 3. Add (or reuse, when the forward already reads them) the scalar inputs `step` (i64),
//!    `base_lr` (f32) and `total_steps` (i64), and one `state:` input per state slot of each
//!    trainable parameter.
//! 4. Differentiate the loss with respect to the trainable parameter inputs.
//! 5. Schedule the learning rate, clip the gradients, update each trainable parameter.
//! 6. Outputs: `loss`, the metrics, `lr`, the new parameters (a buffer's is its `update`; a
//!    buffer without one is not returned), the new state; then drop nodes that no output needs.

use super::adam::{self, AdamParams};
use super::clip::clip_by_global_norm;
use super::schedule::scheduled_lr;
use super::{OptimizerConfig, OptimizerKind, StateBuffer, TrainStepError, TrainStepInfo, sgd};
use crate::autodiff::{AutodiffError, Emit, bind_params, differentiate, run_passes};
use crate::expand::buffers::UPDATE_PREFIX;
use hg_abi::names;
use hg_ir::{DType, Function, NodeSpan, ParamDecl, TensorType, ValueId};
use std::collections::HashMap;

/// The train forward function's output holding the critic's loss in two-player training; the
/// train step returns it as a metric.
pub const CRITIC_LOSS: &str = "metric:critic_loss";

/// The section whose parameters form the second player (`critic { ... }`): its parameter
/// paths start with it.
const CRITIC_PREFIX: &str = "critic.";

/// One player: the trainable parameters one loss trains with one optimizer.
struct Player<'p> {
    params: Vec<&'p ParamDecl>,
    inputs: Vec<ValueId>,
    loss: ValueId,
    kind: OptimizerKind,
    /// Its learning rate as a multiple of the scheduled base rate.
    lr_ratio: f64,
    /// The second player (`critic.*`), which steps after the first with `players = alternating`.
    is_critic: bool,
}

/// Builds the `train` entry point from the training-mode forward function; see the module doc
/// of [`crate::optim`] for the exact update formulas and names.
pub fn build_train_step(
    forward: &Function,
    params: &[ParamDecl],
    opt: &OptimizerConfig,
) -> Result<(Function, TrainStepInfo), TrainStepError> {
    opt.validate()?;
    let mut f = forward.clone();
    f.name = "train".to_string();
    let bound = bind_params(&mut f, params)?;
    // The forward pass, in order: what `players = alternating` evaluates again.
    let forward_order = if opt.critic.alternating { f.topo_order() } else { Vec::new() };

    let loss = f.output(names::LOSS).ok_or(AutodiffError::MissingLoss)?;
    let loss_node = f.node(loss).clone();
    if loss_node.ty.rank() != 0 || !loss_node.ty.dtype.is_float() {
        return Err(TrainStepError::LossType { ty: loss_node.ty, span: loss_node.span });
    }
    let span = loss_node.span;
    let mut outputs = vec![(names::LOSS.to_string(), loss)];
    let mut buffer_updates = Vec::new();
    for (name, v) in &forward.outputs {
        if name.starts_with(names::METRIC) {
            outputs.push((name.clone(), *v));
        } else if let Some(path) = name.strip_prefix(UPDATE_PREFIX)
            && params.iter().any(|p| p.name == path && !p.trainable)
        {
            buffer_updates.push((names::param(path), *v));
        } else if name != names::LOSS {
            return Err(TrainStepError::UnexpectedOutput { name: name.clone() });
        }
    }
    // Buffers get no gradient and no optimizer state: their update is their new value. The
    // critic's parameters are trained by the critic's loss, every other one by the loss.
    let mut main = Player {
        params: Vec::new(),
        inputs: Vec::new(),
        loss,
        kind: opt.kind.clone(),
        lr_ratio: 1.0,
        is_critic: false,
    };
    // A model with a critic returns its loss; without one, every parameter is the main player's.
    let mut critic = f.output(CRITIC_LOSS).map(|loss| Player {
        params: Vec::new(),
        inputs: Vec::new(),
        loss,
        kind: opt.critic.kind.clone(),
        lr_ratio: opt.critic.lr_ratio,
        is_critic: true,
    });
    for (p, &v) in params.iter().zip(&bound.inputs).filter(|(p, _)| p.trainable) {
        let player = match critic.as_mut() {
            Some(c) if p.name.starts_with(CRITIC_PREFIX) => c,
            _ => &mut main,
        };
        player.params.push(p);
        player.inputs.push(v);
    }

    // Optimizer state inputs first, player by player, then the scalars.
    let players: Vec<(Player, Vec<Vec<ValueId>>, Vec<StateBuffer>)> = std::iter::once(main)
        .chain(critic)
        .filter(|p| !p.params.is_empty())
        .map(|p| {
            let (inputs, state) = state_inputs(&mut f, &p);
            (p, inputs, state)
        })
        .collect();
    let step = scalar_input(&mut f, names::STEP, DType::I64, span)?;
    let base_lr = scalar_input(&mut f, names::BASE_LR, DType::F32, span)?;
    let total_steps = scalar_input(&mut f, names::TOTAL_STEPS, DType::I64, span)?;
    let lr = {
        let mut e = Emit::new(&mut f, span, "train step");
        scheduled_lr(&mut e, opt.schedule, step, base_lr, total_steps)?
    };
    let mut state = Vec::new();
    let mut new_params = Vec::new();
    let mut new_state = Vec::new();
    let mut unused_params = Vec::new();
    // What the model's step replaced: its parameter inputs and their new values.
    let mut stepped: HashMap<ValueId, ValueId> = HashMap::new();
    for (mut player, inputs, buffers) in players {
        if player.is_critic && opt.critic.alternating && !stepped.is_empty() {
            // The critic steps after the model: its loss is evaluated again, on the model's new
            // parameters. The metric stays the loss before the step, as every metric of a step
            // is (outputs are complete before the commit point, where the new values are not).
            player.loss = replay(&mut f, &forward_order, &stepped, player.loss, span)?;
        }
        let updated = update_player(&mut f, &player, &inputs, opt.clip_grad_norm, (step, lr), span)?;
        if !player.is_critic {
            stepped.extend(player.inputs.iter().copied().zip(updated.params.iter().map(|(_, v)| *v)));
        }
        state.extend(buffers);
        new_params.extend(updated.params);
        new_state.extend(updated.new_state);
        unused_params.extend(updated.unused);
    }

    outputs.push((names::LR.to_string(), lr));
    outputs.extend(new_params);
    outputs.extend(buffer_updates);
    outputs.extend(state.iter().map(|s| s.name.clone()).zip(new_state));
    f.outputs = outputs;
    run_passes(&mut f)?;
    Ok((f, TrainStepInfo { state, unused_params }))
}

/// Evaluates `value` of the forward pass again with the parameter inputs of `stepped` replaced
/// by their new values (`players = alternating`): the nodes between them and `value` are
/// copied, every other node is shared (data, random draws, the critic's own parameters). The new
/// values enter as constants (`stop_gradient`), so the critic's gradient does not reach back
/// through the model's optimizer step.
fn replay(
    f: &mut Function,
    order: &[ValueId],
    stepped: &HashMap<ValueId, ValueId>,
    value: ValueId,
    span: NodeSpan,
) -> Result<ValueId, TrainStepError> {
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    for (&old, &new) in stepped {
        let fixed = Emit::new(f, span, "train step").op(hg_ir::Op::StopGradient, &[new])?;
        map.insert(old, fixed);
    }
    for &v in order {
        if map.contains_key(&v) {
            continue;
        }
        let operands = f.operands(v);
        if !operands.iter().any(|o| map.contains_key(o)) {
            continue;
        }
        let mapped: Vec<ValueId> = operands.iter().map(|o| map.get(o).copied().unwrap_or(*o)).collect();
        let node = f.node(v).clone();
        let copy = f.add_typed(node.op, &mapped, node.ty, node.span);
        map.insert(v, copy);
    }
    Ok(map.get(&value).copied().unwrap_or(value))
}

/// One `state:` input per slot of the player's optimizer and parameter, with its buffers.
fn state_inputs(f: &mut Function, player: &Player) -> (Vec<Vec<ValueId>>, Vec<StateBuffer>) {
    let slots: &[&str] = match player.kind {
        OptimizerKind::Sgd { momentum, .. } => sgd::slots(momentum),
        OptimizerKind::Adam { .. } | OptimizerKind::AdamW { .. } => adam::SLOTS,
    };
    let mut state = Vec::new();
    let mut inputs = Vec::with_capacity(player.params.len());
    for p in &player.params {
        let mut per_param = Vec::with_capacity(slots.len());
        for slot in slots {
            let name = names::state(&format!("{slot}.{}", p.name));
            per_param.push(f.add_input(&name, p.ty.clone(), p.span));
            state.push(StateBuffer { name, ty: p.ty.clone() });
        }
        inputs.push(per_param);
    }
    (inputs, state)
}

/// What one player's optimizer step adds to the train step.
struct PlayerUpdate {
    params: Vec<(String, ValueId)>,
    new_state: Vec<ValueId>,
    unused: Vec<String>,
}

/// Differentiates a player's loss with respect to its parameters and emits its optimizer's
/// update: clipping (per player), then the update of each parameter and its state.
fn update_player(
    f: &mut Function,
    player: &Player,
    state_inputs: &[Vec<ValueId>],
    clip_grad_norm: Option<f64>,
    (step, lr): (ValueId, ValueId),
    span: NodeSpan,
) -> Result<PlayerUpdate, TrainStepError> {
    let result = differentiate(f, player.loss, &player.inputs)?;
    let unused = result
        .unused
        .iter()
        .filter_map(|u| player.inputs.iter().position(|v| v == u))
        .map(|i| player.params[i].name.clone())
        .collect();

    let mut e = Emit::new(f, span, "train step");
    let lr = if player.lr_ratio == 1.0 {
        lr
    } else {
        let ratio = e.scalar(player.lr_ratio, DType::F32)?;
        e.mul(lr, ratio)?
    };
    let grads = match clip_grad_norm {
        Some(c) => clip_by_global_norm(&mut e, &result.grads, c)?,
        None => result.grads,
    };
    let one = e.scalar(1.0, DType::F32)?;
    let step_f = e.cast(step, DType::F32)?;
    let t = e.add(step_f, one)?;

    let mut params = Vec::with_capacity(player.params.len());
    let mut new_state = Vec::new();
    for (i, p) in player.params.iter().enumerate() {
        e.span = p.span;
        let (pv, g, st) = (player.inputs[i], grads[i], &state_inputs[i]);
        let dt = e.dtype(pv);
        let lr_p = e.cast(lr, dt)?;
        let (np, ns) = match player.kind {
            OptimizerKind::Sgd { momentum, nesterov, weight_decay } => {
                sgd::update(&mut e, (momentum, nesterov, weight_decay), pv, g, st, lr_p)?
            }
            OptimizerKind::Adam { beta1, beta2, eps, weight_decay } => {
                let h = AdamParams { beta1, beta2, eps, weight_decay, decoupled: false };
                let t_p = e.cast(t, dt)?;
                adam::update(&mut e, &h, pv, g, st, lr_p, t_p)?
            }
            OptimizerKind::AdamW { beta1, beta2, eps, weight_decay } => {
                let h = AdamParams { beta1, beta2, eps, weight_decay, decoupled: true };
                let t_p = e.cast(t, dt)?;
                adam::update(&mut e, &h, pv, g, st, lr_p, t_p)?
            }
        };
        params.push((names::param(&p.name), np));
        new_state.extend(ns);
    }
    Ok(PlayerUpdate { params, new_state, unused })
}

/// The scalar input `name` of `dtype`: reused when the forward function already reads it
/// (`step` keys randomness), added otherwise.
fn scalar_input(f: &mut Function, name: &str, dtype: DType, span: NodeSpan) -> Result<ValueId, TrainStepError> {
    let ty = TensorType::scalar(dtype);
    match f.input(name) {
        Some(v) if *f.ty(v) == ty => Ok(v),
        Some(v) => Err(TrainStepError::InputType {
            name: name.to_string(),
            expected: ty,
            found: f.ty(v).clone(),
            span: f.node(v).span,
        }),
        None => Ok(f.add_input(name, ty, span)),
    }
}
