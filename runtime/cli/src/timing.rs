//! `time --entry ENTRY` (of `hgc run FILE` and of standalone executables): how long one entry
//! point takes, measured inside this process, for benchmarks (`bench/speed.py`) that must not
//! count process start-up, data loading or file output.
//!
//! The command opens one session of the model (with the train step for `--entry train`), loads the parameters (`--weights`, or drawn from `--seed` as `--init`
//! draws them), and feeds the entry random inputs of its signature at `--batch` examples: float
//! inputs uniform in [0, 1), integer inputs counting 0, 1, ... along their last axis (a valid
//! index for any gather), booleans false. It makes `--warmup` untimed calls, then `--repeats`
//! timed ones, and times only the `Session::run` (or `Session::train_step`) call itself. It
//! prints one line of JSON:
//!
//! `{"model", "entry", "backend", "batch", "warmup", "repeats", "compile_ms", "params_ms",
//!   "first_call_ms", "median_ms", "p10_ms", "p90_ms", "min_ms", "max_ms"}`
//!
//! where `compile_ms` is the time from the start of the command to the session being open
//! (for `hgc run`: parsing, checking, lowering and the backend's own compilation; for a
//! standalone executable: reading the artifact and loading its code), `params_ms` the time to draw or read the parameters, load them (and zero
//! optimizer state) and make the inputs, `first_call_ms` the first call (warm-up or timed), and
//! the percentiles are linearly interpolated over the timed calls. Train steps update the session's parameters as training
//! does; their inputs (`step` counting up) are those of a run of `warmup + repeats` steps.

use crate::args::ModelArgs;
use crate::model::Model;
use crate::run::{DEFAULT_SEED, RunError, load_params};
use hg_abi::{DType, TensorSpec, names};
use hg_exec::init_params;
use hg_runtime::train::model_inputs;
use hg_runtime::{NamedTensors, Session, Tensor};
use std::time::Instant;

/// The entries `time` can time.
pub const TIMED_ENTRIES: [&str; 6] = ["encode", "decode", "reconstruct", "sample", "eval", "train"];

/// The batch size when `--batch` is not given.
const DEFAULT_BATCH: usize = 64;

type Result<T> = std::result::Result<T, RunError>;

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(RunError(msg.into()))
}

/// Runs the `time` command; `started` is when the command began.
pub fn time(args: &ModelArgs, model: &dyn Model, started: Instant) -> Result<()> {
    let card = model.card();
    let entry = args.time_entry.as_str();
    crate::options::check_options(args).map_err(RunError)?;
    if !TIMED_ENTRIES.contains(&entry) {
        return fail(format!(
            "--entry: cannot time `{entry}`; the entries that can be timed are {}",
            TIMED_ENTRIES.join(", ")
        ));
    }
    if let Some(why) = card.missing(entry) {
        return fail(format!("model `{}` has no `{entry}` entry: {why}", card.model));
    }
    if args.repeats == 0 {
        return fail("--repeats must be at least 1");
    }
    let batch = match args.batch {
        Some(0) => return fail("--batch must be at least 1"),
        Some(b) => b,
        None => card.train.batch.map_or(DEFAULT_BATCH, |b| b as usize),
    };
    let seed = args.seed.or(card.train.seed).unwrap_or(DEFAULT_SEED);
    let train = entry == "train";
    if let (true, Some(why)) = (train, &card.untrainable) {
        model.report_untrainable();
        return fail(format!("the model cannot be trained: {why}"));
    }
    model.check_batch_fits(entry, batch).map_err(RunError)?;
    let mut session: Box<dyn Session> =
        model.open(train).map_err(|e| RunError(format!("backend `{}`: {e}", model.backend())))?;
    let compile_ms = ms(started.elapsed());
    let loading = Instant::now();
    let params = if args.weights.is_some() || args.init.is_some() {
        load_params(args, model)?
    } else {
        init_params(&card.manifest.params, seed)?
    };
    session.load_params(params)?;
    if entry == "train" {
        let state = session.manifest().train.as_ref().map(|t| t.state.clone()).unwrap_or_default();
        let zeros = state
            .iter()
            .map(|s| Tensor::zeros(s.dtype, s.resolve_shape(0)).map(|t| (s.name.clone(), t)))
            .collect::<std::result::Result<NamedTensors, _>>()?;
        session.load_state(zeros)?;
    }
    let sig = session.manifest().entry(entry).cloned().ok_or_else(|| RunError(format!("no entry `{entry}`")))?;
    let mut rng = SplitMix(seed);
    let mut inputs = NamedTensors::new();
    for s in model_inputs(&sig) {
        inputs.insert(s.name.clone(), random_input(&s, batch, &mut rng)?);
    }
    let calls = args.warmup + args.repeats;
    let base_lr = card.train.lr;
    let params_ms = ms(loading.elapsed());

    let mut first_call_ms = None;
    let mut timed = Vec::with_capacity(args.repeats);
    for call in 0..calls {
        for s in &sig.inputs {
            let value = match s.name.as_str() {
                names::SEED => Scalar::Int(seed),
                names::STEP if entry == "train" => Scalar::Int(call as u64),
                names::STEP | names::FIRST_EXAMPLE => Scalar::Int(0),
                names::BATCH => Scalar::Int(batch as u64),
                names::TOTAL_STEPS => Scalar::Int(calls as u64),
                names::BASE_LR => Scalar::Float(base_lr),
                _ => continue,
            };
            inputs.insert(s.name.clone(), scalar(s, value)?);
        }
        let tick = Instant::now();
        if entry == "train" {
            session.train_step(&inputs)?;
        } else {
            session.run(entry, &inputs)?;
        }
        let took = ms(tick.elapsed());
        first_call_ms.get_or_insert(took);
        if call >= args.warmup {
            timed.push(took);
        }
    }
    timed.sort_by(f64::total_cmp);
    let out = serde_json::json!({
        "model": card.model,
        "entry": entry,
        "backend": model.backend(),
        "batch": batch,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "compile_ms": compile_ms,
        "params_ms": params_ms,
        "first_call_ms": first_call_ms,
        "median_ms": percentile(&timed, 0.5),
        "p10_ms": percentile(&timed, 0.1),
        "p90_ms": percentile(&timed, 0.9),
        "min_ms": timed[0],
        "max_ms": timed[timed.len() - 1],
    });
    println!("{out}");
    Ok(())
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `q`-quantile of sorted, non-empty `v`, linearly interpolated between neighbours.
fn percentile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// A runtime scalar's value.
#[derive(Clone, Copy)]
enum Scalar {
    Int(u64),
    Float(f64),
}

/// A runtime scalar input in its spec's dtype (integers keep all their bits, as in training).
fn scalar(spec: &TensorSpec, value: Scalar) -> Result<Tensor> {
    Ok(match (spec.dtype, value) {
        (DType::I64, Scalar::Int(v)) => Tensor::scalar_i64(v as i64),
        (dtype, Scalar::Int(v)) => Tensor::from_f64_values(dtype, vec![], &[v as f64])?,
        (dtype, Scalar::Float(v)) => Tensor::from_f64_values(dtype, vec![], &[v])?,
    })
}

/// A random input of `spec` at `batch` examples (see the module doc).
fn random_input(spec: &TensorSpec, batch: usize, rng: &mut SplitMix) -> Result<Tensor> {
    let shape = spec.resolve_shape(batch);
    let n: usize = shape.iter().product();
    let last = shape.last().copied().unwrap_or(1).max(1);
    let values: Vec<f64> = match spec.dtype {
        DType::Bool => vec![0.0; n],
        d if d.is_int() => (0..n).map(|i| (i % last) as f64).collect(),
        _ => (0..n).map(|_| rng.unit()).collect(),
    };
    Ok(Tensor::from_f64_values(spec.dtype, shape, &values)?)
}

/// SplitMix64: a small, seeded source of input values (not of the model's own draws).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_sorted_values() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert_eq!(percentile(&v, 0.1), 1.4);
        assert_eq!(percentile(&v, 0.9), 4.6);
        assert_eq!(percentile(&[7.0], 0.9), 7.0);
    }

    #[test]
    fn random_inputs_fit_their_signature() {
        use hg_abi::DimSpec::{Batch, Fixed};
        let mut rng = SplitMix(3);
        let spec = |dtype, shape| TensorSpec { name: "x".into(), dtype, shape };
        let x = random_input(&spec(DType::F32, vec![Batch(1), Fixed(4)]), 2, &mut rng).unwrap();
        assert_eq!(x.shape(), [2, 4]);
        assert!(x.to_f64_vec().iter().all(|v| (0.0..1.0).contains(v)));
        let ids = random_input(&spec(DType::I64, vec![Batch(1), Fixed(3)]), 2, &mut rng).unwrap();
        assert_eq!(ids.to_f64_vec(), [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
    }
}
