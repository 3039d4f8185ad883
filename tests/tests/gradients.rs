//! Whole-model gradient checks: for every example model and the PyTorch twin, the gradient of
//! the training loss with respect to every parameter, as autodiff builds it, is compared with
//! central finite differences of the loss, both run by the reference interpreter in f64.
//!
//! Each model is compiled with small hyperparameters (`--set` overrides), its parameters are
//! drawn with the model's own initialisers (zero-initialised ones then get small random values,
//! see [`jitter_zero_params`]), and a batch of two or three synthetic images strictly inside
//! `(0, 1)` is fed as `x`. The run's seed and step are fixed, so every random op
//! (reparameterisation noise, dropout masks, Gumbel and Bernoulli draws, random masking, slot
//! initialisation) draws the same numbers in every run and the loss is a deterministic
//! function of the parameters.
//!
//! Parameters are sampled (at most [`MAX_ELEMENTS`] elements of every parameter tensor, drawn
//! uniformly over all of its axes from a stream keyed by [`SAMPLE_SEED`], so every row, column
//! and channel can be hit and a failure names the same elements on every run), which keeps the
//! checks fast while every tensor, and so every layer's rule, is seen.
//! The error of one element is `|analytic - numeric| / max(|analytic|, |numeric|, floor)` with
//! the gradient checker's floor derived from the rounding noise of the loss ([`floor_for`]).
//!
//! **Straight-through and stop-gradient models.** `vqvae`, `fsq`, `binary` and `gumbel` route
//! the decoder's gradient around a discrete op with `straight_through(forward, backward)`, and
//! `vqvae`'s codebook and commitment terms use `stop_gradient`. For a parameter upstream of such
//! an op, autodiff computes the gradient of a *different* function than the loss (that is the
//! point of the estimator), so finite differences of the loss legitimately disagree. These
//! models get three checks:
//! 1. the plain check on the loss for the parameters whose path to it has no straight-through
//!    or gradient-stopping op (the decoder: it sits downstream of every discrete decision, so
//!    perturbing it cannot flip one either);
//! 2. for the other parameters, that finite differences of the loss really do disagree
//!    ([`assert_behind_estimator`]), so the split is justified;
//! 3. a check of *every* parameter on the loss linearised at the base point ([`linearised`]):
//!    each discrete decision and each `stop_gradient` value is frozen to its value there, and
//!    each `straight_through(a, b)` becomes `b + (a0 - b0)` (same value, the gradient of `b`).
//!    Autodiff must give that function exactly the loss's gradients, and its true derivative is
//!    the estimator by construction, so a finite-difference mismatch is a wrong rule, not the
//!    estimator at work.

use hg_abi::names;
use hg_core::autodiff::gradcheck::{GradCheckOptions, check_gradients_with};
use hg_core::autodiff::{GRAD_PREFIX, bind_params, gradient_function};
use hg_core::interp::{NamedTensors, Precision, RunContext, run_function};
use hg_core::manifest::manifest;
use hg_core::pipeline::CompiledModel;
use hg_ir::{BinaryOp, Function, Init, Op, ParamDecl, UnaryOp, ValueId};
use hg_runtime::Tensor;
use hg_runtime::init::init_params;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Central-difference step: a difference carries a rounding error of about
/// `NOISE_EPSILONS * f64::EPSILON * |loss| / EPS` and a truncation error of about `EPS^2` times
/// the third derivative. 1e-5 balances the two for these losses: at 1e-6 rounding reaches
/// 1e-4 relative on the summed cross-entropies, at 1e-4 truncation does in slot attention.
const EPS: f64 = 1e-5;
/// Largest accepted error (relative above the floor, see the module doc).
const TOLERANCE: f64 = 1e-4;
/// Rounding of one loss evaluation, in machine epsilons of the loss (see [`floor_for`]).
const NOISE_EPSILONS: f64 = 10.0;
/// Elements checked per parameter tensor.
const MAX_ELEMENTS: usize = 6;
/// Seed of the sample of checked elements (see the module doc).
const SAMPLE_SEED: u64 = 2024;
/// Seed and step of every run (they key each random op's draws).
const SEED: u64 = 11;
const STEP: u64 = 3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn compile(file: &str, set: &[&str]) -> CompiledModel {
    let args =
        hgc::cli::SpecArgs { file: root().join(file), model: None, set: set.iter().map(|s| s.to_string()).collect() };
    let checked = hgc::compile::check_spec(&args).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(!checked.has_errors(), "{file} does not compile: {:?}", checked.diagnostics);
    checked.model.unwrap_or_else(|| panic!("{file} defines no model"))
}

/// SplitMix64: a tiny deterministic generator for synthetic inputs.
struct Rng(u64);

impl Rng {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Synthetic grey images in `[0.05, 0.95]`: a smooth blob per image plus pixel noise, so the
/// pixels are neither constant nor exactly 0 or 1.
fn images(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng(seed);
    let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let per_image: usize = shape[1..].iter().product();
    let mut data = Vec::with_capacity(shape[0] * per_image);
    for _ in 0..shape[0] {
        let (cy, cx) = (rng.next_unit() * h as f64, rng.next_unit() * w as f64);
        let r = 0.2 * (h.min(w) as f64) * (1.0 + rng.next_unit());
        for i in 0..per_image {
            let (y, x) = ((i / w) % h, i % w);
            let d2 = (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2);
            let blob = (-d2 / (2.0 * r * r)).exp();
            data.push((0.05 + 0.75 * blob + 0.15 * rng.next_unit()) as f32);
        }
    }
    Tensor::from_f32(shape.to_vec(), data).expect("image buffer matches its shape")
}

/// Flattened `[n, 784]` images for the Mlp models.
fn flat_images(n: usize, seed: u64) -> Tensor {
    images(&[n, 28, 28], seed).reshape(vec![n, 784]).expect("same element count")
}

/// Coloured scenes of the runtime's `shapes` data set, blended with pixel noise and kept inside
/// `(0, 1)`. On a flat black background every background token of slot attention is the same
/// vector, so one hidden unit that happens to sit near its ReLU kink does so on hundreds of
/// tokens at once and a central difference crossing it is badly off; noise makes the tokens
/// distinct.
fn shape_scenes(n: usize, seed: u64) -> Tensor {
    let scene = hg_runtime::data::shapes(n, seed, 32).get("image").expect("shapes has an image array").clone();
    let mut rng = Rng(seed);
    let pixels: Vec<f32> =
        scene.to_f64_vec().iter().map(|&p| (0.05 + 0.85 * p + 0.1 * rng.next_unit()) as f32).collect();
    Tensor::from_f32(scene.shape().to_vec(), pixels).expect("same shape")
}

fn run_context() -> RunContext {
    RunContext::new(Precision::F64)
}

/// A model's training forward pass with its parameters bound as `param:<path>` inputs, and
/// the inputs of one check: the initial parameters and the batch `x`.
struct Setup {
    name: String,
    f: Function,
    inputs: NamedTensors,
    /// Parameter input names (`param:<path>`), in declaration order.
    params: Vec<String>,
    decls: Vec<ParamDecl>,
}

fn setup(file: &str, set: &[&str], x: Tensor) -> Setup {
    let model = compile(file, set);
    let mut f = model
        .module
        .function(hg_core::expand::TRAIN_FORWARD)
        .unwrap_or_else(|| panic!("{file} has no train entry"))
        .clone();
    bind_params(&mut f, &model.module.params).expect("parameters bind");
    let specs = manifest(&model.module, None).expect("the model has a manifest").params;
    let mut inputs = init_params(&specs, SEED).expect("parameters initialise");
    jitter_zero_params(&model, &mut inputs);
    // Random draws read the run's seed, the step and the first example as inputs.
    let runtime = [(names::SEED, SEED), (names::STEP, STEP), (names::FIRST_EXAMPLE, 0)];
    for (name, value) in runtime {
        if f.input(name).is_some() {
            inputs.insert(name.to_string(), Tensor::scalar_i64(value as i64));
        }
    }
    let sources: Vec<&str> = f
        .inputs
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !name.starts_with(names::PARAM) && !runtime.iter().any(|(r, _)| r == name))
        .collect();
    assert_eq!(sources, ["x"], "{file}: the train entry should read only `x` besides parameters and runtime scalars");
    inputs.insert("x".to_string(), x);
    let params = model.module.params.iter().filter(|p| p.trainable).map(|p| names::param(&p.name)).collect();
    Setup { name: file.to_string(), f, inputs, params, decls: model.module.params.clone() }
}

/// Replaces the zeros of zero-initialised parameters (biases, LayerNorm shifts) by small
/// random values. With a zero bias, a unit whose receptive field is entirely dead (a ReLU
/// output of exact zeros, common after a strided convolution) has a pre-activation of exactly
/// 0, the ReLU's kink: autodiff takes the derivative there as 0 (as PyTorch does) while a
/// central difference measures half the slope. Away from the kink both agree.
fn jitter_zero_params(model: &CompiledModel, inputs: &mut NamedTensors) {
    let mut rng = Rng(SEED ^ 0x5EED);
    for p in model.module.params.iter().filter(|p| p.init == Init::Zeros) {
        let name = names::param(&p.name);
        let shape = inputs[&name].shape().to_vec();
        let values: Vec<f32> = (0..inputs[&name].len()).map(|_| (0.2 * rng.next_unit() - 0.1) as f32).collect();
        inputs.insert(name, Tensor::from_f32(shape, values).expect("same shape"));
    }
}

fn loss_of(f: &Function, inputs: &NamedTensors) -> f64 {
    let out = run_function(f, inputs, &run_context()).expect("the loss evaluates");
    let loss = out.get(names::LOSS).and_then(Tensor::scalar_value).expect("a scalar loss");
    assert!(loss.is_finite(), "{}: the loss is not finite: {loss}", f.name);
    loss
}

/// Absolute-error floor for gradients of this loss. Evaluating a loss of size `L` in f64
/// rounds it by up to about [`NOISE_EPSILONS`] machine epsilons of `L` (sums of thousands of
/// terms), so a central difference carries an absolute error of up to
/// `NOISE_EPSILONS * f64::EPSILON * L / EPS`; the floor is that error over the tolerance, so
/// noise alone never fails a check while any gradient above the floor is compared relatively.
fn floor_for(loss: f64) -> f64 {
    NOISE_EPSILONS * f64::EPSILON * loss.abs().max(1.0) / (EPS * TOLERANCE)
}

fn options(loss: f64) -> GradCheckOptions {
    GradCheckOptions {
        floor: floor_for(loss),
        max_elements: Some(MAX_ELEMENTS),
        sample_seed: SAMPLE_SEED,
        ctx: run_context(),
        ..GradCheckOptions::new(EPS)
    }
}

/// Parameter inputs (`param:<path>`) whose path `select` accepts.
fn params_where(s: &Setup, select: impl Fn(&str) -> bool) -> Vec<&str> {
    s.params.iter().map(String::as_str).filter(|p| select(p.strip_prefix(names::PARAM).unwrap_or(p))).collect()
}

/// Runs the check of `f` with respect to the chosen parameter inputs and asserts the error.
fn check(what: &str, f: &Function, inputs: &NamedTensors, wrt: &[&str]) {
    assert!(!wrt.is_empty(), "{what}: nothing to check");
    let loss = loss_of(f, inputs);
    let report = check_gradients_with(f, inputs, wrt, &options(loss)).unwrap_or_else(|e| panic!("{what}: {e}"));
    if report.max_error < TOLERANCE {
        return;
    }
    // A central difference that crosses a ReLU kink near the base point is off while a smaller
    // step is not; a wrong rule is off at every step. Say which, to spare a debugging session.
    let worst = report.worst.expect("a failed check has a worst element");
    let finer = central_difference(f, inputs, &worst.input, worst.index, EPS / 10.0);
    panic!(
        "{what}: autodiff and finite differences disagree (loss {loss}, {} elements checked): max error {:e} at \
         {worst:?}; with a step of EPS/10 the difference is {finer} (close to the analytic value: a kink lies within \
         EPS of the base point, change the data; otherwise the rule is wrong)",
        report.checked, report.max_error
    );
}

/// `(loss(x + eps) - loss(x - eps)) / (2 eps)` for one element of one input.
fn central_difference(f: &Function, inputs: &NamedTensors, name: &str, index: usize, eps: f64) -> f64 {
    let at = |delta: f64| {
        let mut moved = inputs.clone();
        let base = &inputs[name];
        let mut values = base.to_f64_vec();
        values[index] += delta;
        moved.insert(name.to_string(), Tensor::from_f64(base.shape().to_vec(), values).expect("same shape"));
        loss_of(f, &moved)
    };
    (at(eps) - at(-eps)) / (2.0 * eps)
}

/// Checks the parameters whose path `select` accepts on the loss itself.
fn check_loss(s: &Setup, select: impl Fn(&str) -> bool) {
    check(&format!("{} (loss)", s.name), &s.f, &s.inputs, &params_where(s, select));
}

fn check_all(s: &Setup) {
    check_loss(s, |_| true);
}

/// Asserts that for the parameters `select` accepts, finite differences of the loss itself
/// clearly disagree with autodiff: they really sit behind the estimator, so they must be left
/// to the linearised check (and the split in a test stays justified if the model changes).
fn assert_behind_estimator(s: &Setup, select: impl Fn(&str) -> bool) {
    let wrt = params_where(s, select);
    assert!(!wrt.is_empty(), "{}: no parameter behind the estimator", s.name);
    let loss = loss_of(&s.f, &s.inputs);
    let report =
        check_gradients_with(&s.f, &s.inputs, &wrt, &options(loss)).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    assert!(
        report.max_error > 100.0 * TOLERANCE,
        "{}: finite differences of the loss match the estimator for {wrt:?} (max error {:e}); check them on the loss",
        s.name,
        report.max_error
    );
}

/// Checks every parameter on the loss linearised at the base point (see the module doc), after
/// making sure autodiff gives the linearised loss exactly the gradients it gives the loss: the
/// gradients checked are the ones training uses.
fn check_linearised(s: &Setup) {
    let (g, inputs) = linearised(&s.f, &s.inputs);
    let of_loss = gradients(&s.f, &s.decls, &s.inputs);
    let of_linearised = gradients(&g, &s.decls, &inputs);
    for (name, want) in &of_loss {
        let got = &of_linearised[name];
        for (i, (a, b)) in want.iter().zip(got).enumerate() {
            assert!(
                (a - b).abs() <= 1e-12 * a.abs().max(1e-6),
                "{}: {name}[{i}] is {a} for the loss but {b} for the linearised loss",
                s.name
            );
        }
    }
    let moving = of_loss.iter().filter(|(n, g)| n.starts_with(GRAD_PREFIX) && g.iter().any(|v| *v != 0.0)).count();
    assert_eq!(moving, s.decls.len(), "{}: some parameter gets no gradient at all", s.name);
    check(&format!("{} (linearised loss)", s.name), &g, &inputs, &params_where(s, |_| true));
}

/// Autodiff's `loss` and `grad:<path>` outputs of `f`, as f64 vectors.
fn gradients(f: &Function, decls: &[ParamDecl], inputs: &NamedTensors) -> BTreeMap<String, Vec<f64>> {
    let grad = gradient_function(f, decls).unwrap_or_else(|e| panic!("{}: {e}", f.name));
    let out = run_function(&grad, inputs, &run_context()).unwrap_or_else(|e| panic!("{}: {e}", f.name));
    out.into_iter().map(|(name, t)| (name, t.to_f64_vec())).collect()
}

/// Values autodiff treats as constant wherever they are differentiable: `stop_gradient`,
/// the piecewise-constant `sign`/`floor`/`round`, and every integer or bool value computed
/// from a float (comparisons, `argmin`/`argmax`, `topk` indices, casts to integers).
fn is_frozen(f: &Function, v: ValueId) -> bool {
    match f.op(v) {
        Op::StopGradient | Op::Unary(UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Round) => true,
        _ => !f.ty(v).dtype.is_float() && f.operands(v).iter().any(|&o| f.ty(o).dtype.is_float()),
    }
}

/// The loss `f` linearised at `inputs`: frozen values (see [`is_frozen`]) become inputs holding
/// their value at the base point, and `straight_through(a, b)` becomes `b + (a0 - b0)`. Returns
/// the new function and its inputs. Its value at the base point is the loss's, and its
/// derivative is the straight-through estimator with every discrete decision held fixed.
fn linearised(f: &Function, inputs: &NamedTensors) -> (Function, NamedTensors) {
    let frozen: Vec<ValueId> = f.values().filter(|&v| is_frozen(f, v)).collect();
    let straight: Vec<(ValueId, ValueId, ValueId)> = f
        .values()
        .filter(|&v| matches!(f.op(v), Op::StraightThrough))
        .map(|v| {
            let ops = f.operands(v);
            (v, ops[0], ops[1])
        })
        .collect();

    // One run of the original function yields every value to freeze.
    let mut probe = f.clone();
    probe.outputs = frozen.iter().map(|v| (format!("frozen:{}", v.index()), *v)).collect();
    for &(_, a, b) in &straight {
        probe.outputs.push((format!("forward:{}", a.index()), a));
        probe.outputs.push((format!("backward:{}", b.index()), b));
    }
    let base = run_function(&probe, inputs, &run_context()).expect("the frozen values evaluate");

    let mut g = f.clone();
    g.name = format!("{}_linearised", f.name);
    let mut g_inputs = inputs.clone();
    for &v in &frozen {
        let name = format!("frozen:{}", v.index());
        let node = f.node(v).clone();
        let input = g.add_input(&name, node.ty, node.span);
        g.replace_all_uses(v, input);
        g_inputs.insert(name.clone(), base[&name].clone());
    }
    for &(v, a, b) in &straight {
        let a0 = &base[&format!("forward:{}", a.index())];
        let b0 = base[&format!("backward:{}", b.index())].to_f64_vec();
        let offset: Vec<f64> = a0.to_f64_vec().iter().zip(&b0).map(|(x, y)| x - y).collect();
        let name = format!("offset:{}", v.index());
        let node = f.node(v).clone();
        let input = g.add_input(&name, node.ty, node.span);
        let sum = g.add(Op::Binary(BinaryOp::Add), &[b, input], node.span).expect("b + offset type-checks");
        g.replace_all_uses(v, sum);
        g_inputs.insert(name, Tensor::from_f64(a0.shape().to_vec(), offset).expect("same shape"));
    }
    assert!(frozen.len() + straight.len() > 0, "{}: nothing to linearise", f.name);

    // Same value at the base point (up to the rounding of `b + (a0 - b0)`).
    let (l0, l1) = (loss_of(f, inputs), loss_of(&g, &g_inputs));
    assert!((l0 - l1).abs() <= 1e-12 * l0.abs().max(1.0), "{}: linearised loss {l1} differs from {l0}", f.name);
    (g, g_inputs)
}

fn is_decoder(path: &str) -> bool {
    path.starts_with("decoder.")
}

#[test]
fn twin_gradients_match_finite_differences() {
    let s = setup("bench/torch_twin/twin.hgl", &["hidden=12", "latent=4"], flat_images(3, 1));
    check_all(&s);
}

#[test]
fn batch_norm_gradients_match_finite_differences() {
    // In the train step a batch norm normalises with the batch's own statistics, so every
    // example's gradient reads the whole batch; the running statistics get no gradient.
    let s = setup("bench/torch_twin/twin_bn.hgl", &["hidden=6", "latent=3"], flat_images(4, 5));
    assert!(!s.params.iter().any(|p| p.contains("running")), "{:?}", s.params);
    check_all(&s);
}

#[test]
fn vae_gradients_match_finite_differences() {
    // The reparameterisation noise is fixed by the seed and step: z = mu + exp(logvar/2) * eps
    // is smooth in every parameter.
    let s = setup("examples/vae/vae.hgl", &["hidden=12", "latent=4"], flat_images(2, 2));
    check_all(&s);
}

#[test]
fn ae_identity_gradients_match_finite_differences() {
    let s = setup("examples/ae_identity/ae_identity.hgl", &["hidden=12", "latent=4"], flat_images(3, 3));
    check_all(&s);
}

#[test]
fn conv_vae_gradients_match_finite_differences() {
    // Dropout's Bernoulli mask is fixed by the seed and step; GroupNorm needs ch % 4 == 0.
    let s = setup("examples/conv_vae/conv_vae.hgl", &["ch=4", "latent=3"], images(&[2, 1, 28, 28], 4));
    check_all(&s);
}

#[test]
fn sae_gradients_match_finite_differences() {
    // top-k selects the k largest (post-ReLU) features; the selection is locally constant, so
    // finite differences see the same support as autodiff's scatter of the kept values.
    let s = setup("examples/sae/sae.hgl", &["hidden=12", "features=16", "k=4"], flat_images(3, 5));
    check_all(&s);
}

#[test]
fn mae_gradients_match_finite_differences() {
    // Random masking permutes tokens by sorting uniform noise that does not depend on any
    // parameter, so the kept set is the same in every run; the `stop_gradient` inside softmax
    // (the max shift) does not change its derivative.
    let s = setup("examples/mae/mae.hgl", &["dim=8", "dec_dim=8", "heads=2"], images(&[2, 1, 28, 28], 6));
    check_all(&s);
}

#[test]
fn slot_attention_gradients_match_finite_differences() {
    // The slots' initial noise is fixed by the seed and step; slot_mu and slot_log_sigma enter
    // through the reparameterisation and are checked like every other parameter.
    let s = setup(
        "examples/slot_attention/slot_attention.hgl",
        &["slots=2", "dim=8", "ch=4", "iters=2"],
        shape_scenes(2, 7),
    );
    check_all(&s);
}

#[test]
fn vqvae_gradients_match_finite_differences() {
    // z = straight_through(q, e): the encoder receives the decoder's gradient as if z were e,
    // and the codebook/commitment terms stop gradients on purpose, so only the decoder is
    // checkable on the loss itself; the codebook and encoder are checked on the linearised loss.
    let s = setup("examples/vqvae/vqvae.hgl", &["codes=6", "dim=3", "ch=4"], images(&[2, 1, 28, 28], 8));
    check_loss(&s, is_decoder);
    assert_behind_estimator(&s, |p| !is_decoder(p));
    check_linearised(&s);
}

#[test]
fn fsq_gradients_match_finite_differences() {
    // Rounding with a straight-through gradient: the encoder's gradient is that of the
    // unrounded value, which finite differences of the loss (flat between rounding steps)
    // cannot see; the decoder is downstream of the rounding.
    let s = setup("examples/fsq/fsq.hgl", &["hidden=12", "levels=[3, 4, 2, 5]"], flat_images(3, 9));
    check_loss(&s, is_decoder);
    assert_behind_estimator(&s, |p| !is_decoder(p));
    check_linearised(&s);
}

#[test]
fn binary_gradients_match_finite_differences() {
    // Bernoulli bits with a straight-through gradient: the encoder reaches the reconstruction
    // only through the sampled bits (piecewise constant in the encoder), plus the smooth KL.
    let s = setup("examples/binary/binary.hgl", &["hidden=12", "bits=6"], flat_images(3, 10));
    check_loss(&s, is_decoder);
    assert_behind_estimator(&s, |p| !is_decoder(p));
    check_linearised(&s);
}

#[test]
fn gumbel_gradients_match_finite_differences() {
    // Hard Gumbel-softmax: a one-hot argmax sample with the relaxed sample's gradient; the
    // encoder's path to the reconstruction goes through the argmax.
    let s = setup("examples/gumbel/gumbel.hgl", &["hidden=12", "groups=3", "classes=4"], flat_images(3, 11));
    check_loss(&s, is_decoder);
    assert_behind_estimator(&s, |p| !is_decoder(p));
    check_linearised(&s);
}

/// `grad(y, x)` as a value of the model: the squared norm the spec computes from `grad(rec, s)`
/// equals that of central differences of `rec` with respect to `s`; and the train step takes
/// it as a constant: the loss `gsq * rec` has the gradient `gsq * d rec` (no second
/// derivative, which a central difference of the loss itself would include).
#[test]
fn grad_values_match_finite_differences_and_stay_constants() {
    let s = setup("tests/fixtures/grad/grad_value.hgl", &[], flat_images(3, 8));
    let metric = |inputs: &NamedTensors, name: &str| {
        let out = run_function(&s.f, inputs, &run_context()).expect("the forward pass runs");
        out[&names::metric(name)].scalar_value().expect("a scalar metric")
    };
    let rec_slope = |param: &str, index: usize| {
        let at = |delta: f64| {
            let mut moved = s.inputs.clone();
            let mut values = s.inputs[param].to_f64_vec();
            values[index] += delta;
            moved.insert(param.to_string(), Tensor::from_f64(s.inputs[param].shape().to_vec(), values).unwrap());
            metric(&moved, "rec")
        };
        (at(EPS) - at(-EPS)) / (2.0 * EPS)
    };
    let scale = names::param("decoder.s");
    let fd: Vec<f64> = (0..s.inputs[&scale].len()).map(|i| rec_slope(&scale, i)).collect();
    let gsq = metric(&s.inputs, "gsq");
    let want: f64 = fd.iter().map(|g| g * g).sum();
    assert!((gsq - want).abs() <= 1e-6 * want, "sum(grad(rec, s) ** 2) = {gsq}, central differences {want}");
    let grads = gradients(&s.f, &s.decls, &s.inputs);
    for param in [scale.as_str(), "param:encoder.h.w", "param:decoder.logits.b"] {
        let got = &grads[&format!("{GRAD_PREFIX}{}", param.strip_prefix(names::PARAM).unwrap())];
        for index in [0, got.len() / 2, got.len() - 1] {
            let want = gsq * rec_slope(param, index);
            let err = (got[index] - want).abs() / want.abs().max(1e-3);
            assert!(err < TOLERANCE, "{param}[{index}]: train-step gradient {} vs gsq * d rec {want}", got[index]);
        }
    }
}
