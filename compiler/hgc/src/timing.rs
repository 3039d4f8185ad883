//! `hgc run FILE time --entry ENTRY`: how long one entry point takes, measured inside this
//! process, for benchmarks (`bench/speed.py`) that must not count process start-up, data
//! loading or file output.
//!
//! The command compiles the spec and opens one session on `--backend` (with the train step for
//! `--entry train`), loads the parameters (`--weights`, or drawn from `--seed` as `--init`
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
//! (parsing, checking, lowering with the train step for `train`, and the backend's own
//! compilation), `params_ms` the time to draw or read the parameters, load them (and zero
//! optimizer state) and make the inputs, `first_call_ms` the first call (warm-up or timed), and
//! the percentiles are linearly interpolated over the timed calls. Train steps update the session's parameters as training
//! does; their inputs (`step` counting up) are those of a run of `warmup + repeats` steps.

use crate::backends::BackendOptions;
use crate::compile::CompiledSpec;
use crate::run::{DEFAULT_SEED, PrecisionArg, RunArgs, RunError, load_params};
use hg_abi::{DType, TensorSpec, names};
use hg_core::interp::Precision;
use hg_core::manifest::manifest;
use hg_core::pipeline::{optimizer_config, with_train_step};
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
pub fn time(args: &RunArgs, spec: &CompiledSpec, started: Instant) -> Result<()> {
    let model = &spec.model;
    let entry = args.time_entry.as_str();
    let backend = crate::backends::backend(args.backend_name()).map_err(RunError)?;
    crate::options::check_options(args).map_err(RunError)?;
    if !TIMED_ENTRIES.contains(&entry) {
        return fail(format!(
            "--entry: cannot time `{entry}`; the entries that can be timed are {}",
            TIMED_ENTRIES.join(", ")
        ));
    }
    if let Some((_, why)) = model.missing.iter().find(|(n, _)| *n == entry) {
        return fail(format!("model `{}` has no `{entry}` entry: {why}", model.module.model));
    }
    if args.repeats == 0 {
        return fail("--repeats must be at least 1");
    }
    let batch = match args.batch {
        Some(0) => return fail("--batch must be at least 1"),
        Some(b) => b,
        None => model.train_defaults.batch.map_or(DEFAULT_BATCH, |b| b as usize),
    };
    let precision = match args.precision {
        PrecisionArg::F32 => Precision::F32,
        PrecisionArg::F64 if entry == "train" => {
            return fail("--precision f64: the train step runs in f32 only");
        }
        PrecisionArg::F64 => Precision::F64,
    };
    let seed = args.seed.or(model.train_defaults.seed).unwrap_or(DEFAULT_SEED);
    let opts = BackendOptions { precision };

    let mut session: Box<dyn Session> = if entry == "train" {
        let (module, info) = with_train_step(model, &optimizer_config(&model.train_defaults)).map_err(|d| {
            spec.report(&d);
            RunError("the model cannot be trained".into())
        })?;
        crate::memory::check_batch_fits(&module, args.backend_name(), entry, batch).map_err(RunError)?;
        backend.open(module, Some(&info), &opts)
    } else {
        crate::memory::check_batch_fits(&model.module, args.backend_name(), entry, batch).map_err(RunError)?;
        backend.open(model.module.clone(), None, &opts)
    }
    .map_err(|e| RunError(format!("backend `{}`: {e}", backend.name)))?;
    let compile_ms = ms(started.elapsed());
    let loading = Instant::now();
    let params = if args.weights.is_some() || args.init.is_some() {
        load_params(args, model)?
    } else {
        init_params(&manifest(&model.module, None)?.params, seed)?
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
    let base_lr = model.train_defaults.optimizer.lr();
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
        "model": model.module.model,
        "entry": entry,
        "backend": backend.name,
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

/// `hgc gemm M,K,N`: the arguments.
#[derive(clap::Args, Debug)]
pub struct GemmArgs {
    /// The product's sizes: `[M, K] @ [K, N]`
    #[arg(value_name = "M,K,N")]
    pub shape: String,
    /// Timed calls, after two untimed ones
    #[arg(long, default_value_t = 20)]
    pub repeats: usize,
}

/// Times the GEMM the CPU backends call (`hg_cpu::lib::gemm`), on this machine's threads
/// (`HG_THREADS` sets how many), and prints JSON: sizes, threads, median ms and GFLOP/s.
pub fn gemm(args: &GemmArgs) -> std::result::Result<(), i32> {
    let fail = |m: String| {
        eprintln!("error: {m}");
        1
    };
    let dims: Vec<usize> = args
        .shape
        .split(',')
        .map(|d| d.trim().parse::<usize>().ok().filter(|&v| v > 0))
        .collect::<Option<Vec<_>>>()
        .filter(|d| d.len() == 3)
        .ok_or_else(|| fail(format!("expected three positive sizes M,K,N, found `{}`", args.shape)))?;
    if args.repeats == 0 {
        return Err(fail("--repeats must be at least 1".into()));
    }
    let (m, k, n) = (dims[0], dims[1], dims[2]);
    let len = |a: usize, b: usize| a.checked_mul(b).filter(|&l| l <= 1 << 28);
    let (Some(la), Some(lb), Some(lc)) = (len(m, k), len(k, n), len(m, n)) else {
        return Err(fail(format!("{m}x{k}x{n} is too large to time (at most 2^28 elements per matrix)")));
    };
    let a: Vec<f32> = (0..la).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();
    let b: Vec<f32> = (0..lb).map(|i| ((i % 5) as f32 - 2.0) * 0.1).collect();
    let mut c = vec![0.0f32; lc];
    let geom = hg_cpu::lib::MatMulGeom {
        batch: 1,
        inner: 1,
        m,
        n,
        k,
        a: hg_cpu::lib::Strides { batch: 0, inner: 0, row: k, col: 1 },
        b: hg_cpu::lib::Strides { batch: 0, inner: 0, row: n, col: 1 },
        accumulate: false,
    };
    let threads = hg_cpu::Threads::available().map_err(|e| fail(e.to_string()))?;
    let count = threads.count();
    let mut times = Vec::with_capacity(args.repeats);
    for r in 0..args.repeats + 2 {
        let start = Instant::now();
        threads.install(|| hg_cpu::lib::gemm::matmul(&geom, &a, &b, &mut c, count)).map_err(|e| fail(e.to_string()))?;
        if r >= 2 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let gflops = 2.0 * (m * k * n) as f64 / (median * 1e-3) / 1e9;
    println!(
        "{}",
        serde_json::json!({"m": m, "k": k, "n": n, "threads": count, "median_ms": median, "gflops": gflops})
    );
    Ok(())
}
