//! The conformance suite of docs/numerics.md: every example × every entry point, forward
//! outputs, the gradient of the loss and five training steps, run on each backend of the registry and compared with the
//! reference interpreter in f64 under the tolerances that document gives. A new backend joins
//! by adding its name to [`BACKENDS`]. The table it prints (`cargo test --test conformance --
//! --nocapture`) is the evidence quoted in notes.

use hg_abi::{DType, names};
use hg_core::autodiff::gradient_function;
use hg_core::expand::TRAIN_FORWARD;
use hg_core::interp::{InterpSession, Precision};
use hg_core::pipeline::{optimizer_config, with_train_step};
use hg_exec::philox::ShuffleRng;
use hg_exec::{NamedTensors, Session, Tensor, init_params};
use hgc::backends::{BackendOptions, backend};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The backends under test, by registry name. Each is compared with the interpreter in f64.
#[cfg(not(feature = "llvm"))]
const BACKENDS: &[&str] = &["interp", "cranelift"];
/// With the `llvm` feature, LLVM joins.
#[cfg(all(feature = "llvm", not(feature = "mlir")))]
const BACKENDS: &[&str] = &["interp", "cranelift", "llvm"];
/// With the `mlir` feature (as `scripts/test.sh` runs it), the MLIR lowering on the CPU joins.
#[cfg(feature = "mlir")]
const BACKENDS: &[&str] = &["interp", "cranelift", "llvm", "mlir-cpu"];

/// Largest error of a forward output, relative to the largest magnitude of the reference
/// tensor (f32 arithmetic with its own rounding and reduction order against exact f64).
const FORWARD_TOL: f64 = 1e-4;
/// Largest error of the gradient of the loss for a parameter, relative to the largest
/// magnitude of that gradient.
const GRAD_TOL: f64 = 1e-4;
/// [`GRAD_TOL`] for an importance-weighted bound: its gradient is a softmax of log-weights of
/// magnitude ~550 (a 784-pixel log-likelihood), which f32 computes to ~1e-3 absolute, so the
/// weights and the gradient carry ~1e-4 relative error in any f32 implementation.
const IWAE_GRAD_TOL: f64 = 1e-3;
/// Largest relative difference of a training loss over the first five steps.
const LOSS_TOL: f64 = 1e-4;
/// Largest absolute difference of a parameter after five steps. Absolute, and as wide as one
/// Adam step per step: Adam moves an element whose gradient is zero up to rounding by up to
/// the learning rate whatever the gradient's size, so where f64 sees an exact 0 (a dead ReLU
/// region of conv_vae) f32 rounding may take a full step (`lr * steps` = 5e-3 here). The losses
/// of those steps are compared tightly, so a wrong update still fails.
const PARAM_TOL: f64 = 1e-2;
const SEED: u64 = 5;
const BATCH: usize = 2;
const STEPS: u64 = 5;

/// Examples at sizes the interpreter runs in moments, with the shape of one input example.
const CASES: &[(&str, &[&str], &[usize])] = &[
    ("examples/vae/vae.hgl", &["hidden=12", "latent=4"], &[784]),
    ("examples/ae_identity/ae_identity.hgl", &["hidden=12", "latent=4"], &[784]),
    ("examples/conv_vae/conv_vae.hgl", &["ch=4", "latent=3"], &[1, 28, 28]),
    ("examples/sae/sae.hgl", &["hidden=12", "features=16", "k=4"], &[784]),
    ("examples/mae/mae.hgl", &["dim=8", "dec_dim=8", "heads=2"], &[1, 28, 28]),
    ("examples/vqvae/vqvae.hgl", &["codes=6", "dim=3", "ch=4"], &[1, 28, 28]),
    ("examples/fsq/fsq.hgl", &["hidden=12", "levels=[3, 4, 2, 5]"], &[784]),
    ("examples/binary/binary.hgl", &["hidden=12", "bits=6"], &[784]),
    ("examples/gumbel/gumbel.hgl", &["hidden=12", "groups=3", "classes=4"], &[784]),
    ("examples/slot_attention/slot_attention.hgl", &["slots=2", "dim=8", "ch=4", "iters=2"], &[3, 32, 32]),
    ("bench/torch_twin/twin.hgl", &["hidden=12", "latent=4"], &[784]),
    // A condition (`label`) that every entry, `decode` and `sample` included, reads.
    ("examples/cvae/cvae.hgl", &["hidden=12", "latent=4"], &[784]),
    // Model-level bindings in the loss; noise only while training; k samples per image.
    ("examples/beta_vae/beta_vae.hgl", &["latent=3"], &[1, 28, 28]),
    ("examples/denoising_ae/denoising_ae.hgl", &["hidden=12", "latent=4"], &[784]),
    ("examples/iwae/iwae.hgl", &["hidden=12", "latent=4", "k=3"], &[784]),
    // Batch norm: buffers (running statistics) the train step updates and eval reads.
    ("bench/torch_twin/twin_bn.hgl", &["hidden=6", "latent=3"], &[784]),
    // Two players: an EMA VQ autoencoder (buffers) and a patch critic with its own loss and
    // optimizer, updated in one step; the adversarial term is on from step 2.
    ("examples/vqgan/vqgan.hgl", &["codes=6", "dim=3", "adv_start=2"], &[1, 28, 28]),
    // Alternating players: the critic's step evaluates its loss again on the model's new
    // parameters, in the same compiled step.
    ("tests/fixtures/two_players/alternating.hgl", &["hidden=12", "latent=4"], &[784]),
    // `grad` in the loss (VQGAN's adaptive weight) with alternating players.
    ("bench/torch_twin/twin_gan.hgl", &["hidden=12", "latent=4", "critic_hidden=6"], &[784]),
    ("examples/vqvae_ema/vqvae_ema.hgl", &["codes=6", "dim=3"], &[1, 28, 28]),
    ("examples/sae_auxk/sae_auxk.hgl", &["features=64", "k=4", "k_aux=8", "dead_after=2"], &[784]),
    // Priors that read another latent through bottleneck layers (ancestral sampling).
    ("examples/hvae/hvae.hgl", &["hidden=12", "z1_dim=4", "z2_dim=3"], &[784]),
    // The benchmark's top-k SAE: its products with the code compile to sparse library calls.
    ("bench/models/sae.hgl", &["features=64", "k=4"], &[784]),
    ("bench/models/mae.hgl", &["dim=16", "heads=2"], &[1, 28, 28]),
    // An output that is a reshape of a product into an image (more than a unit-axis change):
    // its kernel copies the product in order (it once dropped an axis and read wrong elements).
    ("tests/ir/matmul_broadcast.hgl", &[], &[1, 8, 8]),
    // `[B, B]` tensors: the MMD's kernel matrices, and similarities reduced along either axis,
    // softmaxed and multiplied with the codes (buffers of B² elements).
    ("examples/wae_mmd/wae_mmd.hgl", &["hidden=12", "latent=4"], &[784]),
    ("tests/fixtures/batch_square/contrastive.hgl", &["hidden=12", "latent=4"], &[784]),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Pixels in `(0.05, 0.95)` from the runtime's own stream.
fn images(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = ShuffleRng::new(seed, 0);
    let n: usize = shape.iter().product();
    Tensor::from_f32(shape.to_vec(), (0..n).map(|_| (0.05 + 0.9 * rng.next_f64()) as f32).collect()).unwrap()
}

/// Class labels in `0..10` (the `label` condition), from the runtime's own stream.
fn labels(seed: u64) -> Tensor {
    let mut rng = ShuffleRng::new(seed, 1);
    Tensor::from_i64(vec![BATCH], (0..BATCH).map(|_| (rng.next_f64() * 10.0) as i64).collect()).unwrap()
}

/// Largest `|a - b|` over the largest `|b|` (exact equality for integers and bools).
fn error(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-6);
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max) / scale
}

fn max_abs(t: &Tensor) -> f64 {
    t.to_f64_vec().iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// [`error`] of each gradient, with a floor of 1e-3 of the model's largest gradient: the
/// gradient of a bias that a normalisation or a softmax cancels is zero up to rounding (1e-14
/// in f64, 1e-13 in f32), and its relative error says nothing.
fn gradient_error(got: &NamedTensors, want: &NamedTensors) -> f64 {
    let scale = want.values().map(max_abs).fold(0.0, f64::max);
    let mut worst = 0.0f64;
    for (k, w) in want {
        let diff = got[k].to_f64_vec().iter().zip(w.to_f64_vec()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        worst = worst.max(diff / max_abs(w).max(1e-3 * scale).max(1e-12));
    }
    worst
}

fn scalars(into: &mut NamedTensors, step: u64) {
    into.insert(names::SEED.into(), Tensor::scalar_i64(SEED as i64));
    into.insert(names::STEP.into(), Tensor::scalar_i64(step as i64));
    into.insert(names::FIRST_EXAMPLE.into(), Tensor::scalar_i64(0));
    into.insert(names::BATCH.into(), Tensor::scalar_i64(BATCH as i64));
}

/// The inputs `entry` declares, from `x`, the reference's latents and the runtime scalars.
fn inputs_for(session: &dyn Session, entry: &str, pool: &NamedTensors) -> NamedTensors {
    let sig = session.manifest().entry(entry).unwrap();
    sig.inputs.iter().filter_map(|s| pool.get(&s.name).map(|t| (s.name.clone(), t.clone()))).collect()
}

/// As f32 (the reference's f64 outputs fed back as inputs).
fn to_f32(t: &Tensor) -> Tensor {
    match t.dtype() {
        DType::F64 => Tensor::from_f64_values(DType::F32, t.shape().to_vec(), &t.to_f64_vec()).unwrap(),
        _ => t.clone(),
    }
}

/// Runs one example on `backend` and the reference; returns the table rows and failures.
fn conform(backend_name: &str, file: &str, set: &[&str], example: &[usize], rows: &mut String) -> Vec<String> {
    let args =
        hgc::cli::SpecArgs { file: root().join(file), model: None, set: set.iter().map(|s| s.to_string()).collect() };
    let checked = hgc::compile::check_spec(&args).unwrap();
    let model = checked.model.unwrap_or_else(|| panic!("{file} does not compile: {:?}", checked.diagnostics));
    let (mut module, info) = with_train_step(&model, &optimizer_config(&model.train_defaults)).unwrap();
    // The gradient of the loss joins as one more entry, so it runs on the backend like any other.
    let forward = model.module.function(TRAIN_FORWARD).unwrap();
    let mut gradient = gradient_function(forward, &model.module.params).unwrap();
    gradient.name = "gradient".into();
    module.functions.push(gradient);
    let mut reference = InterpSession::new(module.clone(), Some(&info), Precision::F64).unwrap();
    let b = backend(backend_name).unwrap();
    let mut candidate = match b.open(module, Some(&info), &BackendOptions { precision: Precision::F32 }) {
        Ok(session) => session,
        // The GPU executor refuses, naming it, a plan with a library call it has no form of.
        Err(e) if backend_name == "cuda" && e.contains("which the cuda backend does not run") => {
            let _ = writeln!(rows, "| cuda | {file} | not run: {e} | | | |");
            return Vec::new();
        }
        Err(e) => panic!("{backend_name} {file}: {e}"),
    };
    let params = init_params(&reference.manifest().params, SEED).unwrap();
    reference.load_params(params.clone()).unwrap();
    candidate.load_params(params.clone()).unwrap();

    let stem = Path::new(file).file_stem().unwrap().to_string_lossy().to_string();
    // The benchmark's models share names with examples.
    let name = if file.starts_with("bench/models/") { format!("bench {stem}") } else { stem };
    let mut failures = Vec::new();
    let mut check = |what: &str, err: f64, tol: f64, rows: &mut String| {
        let verdict = if err <= tol { "ok" } else { "FAIL" };
        let _ = writeln!(rows, "| {backend_name} | {name} | {what} | {err:.2e} | {tol:.0e} | {verdict} |");
        if err > tol || err.is_nan() {
            failures.push(format!("{backend_name} {name} {what}: error {err:.3e} > {tol:.0e}"));
        }
    };

    let mut shape = vec![BATCH];
    shape.extend_from_slice(example);
    let mut pool = NamedTensors::new();
    pool.insert("x".into(), images(&shape, 1));
    pool.insert("label".into(), labels(1));
    scalars(&mut pool, 0);
    let entries: Vec<String> =
        reference.manifest().entries.iter().map(|e| e.name.clone()).filter(|e| e != "train").collect();
    // `decode` reads latents: take them from the reference's `encode`.
    if let Ok(latents) = reference.run("encode", &inputs_for(&reference, "encode", &pool)) {
        pool.extend(latents.iter().map(|(k, v)| (k.clone(), to_f32(v))));
    }
    for entry in &entries {
        let want = reference.run(entry, &inputs_for(&reference, entry, &pool)).unwrap();
        let got = candidate.run(entry, &inputs_for(candidate.as_ref(), entry, &pool)).unwrap();
        let worst = match entry.as_str() {
            "gradient" => gradient_error(&got, &want),
            _ => want.iter().map(|(k, w)| error(&got[k], w)).fold(0.0, f64::max),
        };
        let (what, tol) = match entry.as_str() {
            "gradient" if file.ends_with("iwae.hgl") => ("gradient of the loss".to_string(), IWAE_GRAD_TOL),
            "gradient" => ("gradient of the loss".to_string(), GRAD_TOL),
            _ => (format!("{entry} forward"), FORWARD_TOL),
        };
        check(&what, worst, tol, rows);
    }

    let state = reference.manifest().train.as_ref().unwrap().state.clone();
    let zeros: NamedTensors =
        state.iter().map(|s| (s.name.clone(), Tensor::zeros(s.dtype, s.resolve_shape(0)).unwrap())).collect();
    reference.load_state(zeros.clone()).unwrap();
    candidate.load_state(zeros).unwrap();
    let mut loss_err = 0.0f64;
    for step in 0..STEPS {
        let mut call = NamedTensors::new();
        call.insert("x".into(), images(&shape, 10 + step));
        call.insert("label".into(), labels(10 + step));
        scalars(&mut call, step);
        call.insert(names::BASE_LR.into(), Tensor::scalar_f32(1e-3));
        call.insert(names::TOTAL_STEPS.into(), Tensor::scalar_i64(100));
        let sig = reference.manifest().entry("train").unwrap().clone();
        call.retain(|k, _| sig.inputs.iter().any(|s| &s.name == k));
        let want = reference.train_step(&call).unwrap();
        let got = candidate.train_step(&call).unwrap();
        let (w, g) = (want[names::LOSS].scalar_value().unwrap(), got[names::LOSS].scalar_value().unwrap());
        loss_err = loss_err.max((w - g).abs() / w.abs().max(1e-6));
    }
    check(&format!("train loss, {STEPS} steps"), loss_err, LOSS_TOL, rows);
    let (want, got) = (reference.read_params().unwrap(), candidate.read_params().unwrap());
    let abs = |a: &Tensor, b: &Tensor| {
        a.to_f64_vec().iter().zip(b.to_f64_vec()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    };
    let worst = want.iter().map(|(k, w)| abs(&got[k], w)).fold(0.0, f64::max);
    check(&format!("params after {STEPS} steps"), worst, PARAM_TOL, rows);
    failures
}

#[test]
fn every_backend_matches_the_reference_interpreter() {
    let mut rows = String::from("| backend | example | check | error | tolerance | |\n|---|---|---|---|---|---|\n");
    let mut failures = Vec::new();
    for backend in BACKENDS {
        for (file, set, example) in CASES {
            failures.extend(conform(backend, file, set, example, &mut rows));
        }
    }
    println!("{rows}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The CUDA backend against the interpreter, as every other backend, on a machine with an
/// NVIDIA GPU (`scripts/gpu-check` runs it there). Without a driver the backend must refuse to
/// open with that reason, which is what this test checks on such a machine.
#[test]
fn cuda_matches_the_reference_interpreter() {
    let b = backend("cuda").unwrap();
    if hg_cuda::probe_driver().is_err() {
        let model = hgc::compile::check_spec(&hgc::cli::SpecArgs {
            file: root().join(CASES[0].0),
            model: None,
            set: CASES[0].1.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
        .model
        .unwrap();
        let (module, info) = with_train_step(&model, &optimizer_config(&model.train_defaults)).unwrap();
        let err = b.open(module, Some(&info), &BackendOptions { precision: Precision::F32 }).err().unwrap();
        assert!(err.contains("no NVIDIA driver"), "{err}");
        return;
    }
    let mut rows = String::from("| backend | example | check | error | tolerance | |\n|---|---|---|---|---|---|\n");
    let mut failures = Vec::new();
    for (file, set, example) in CASES {
        failures.extend(conform("cuda", file, set, example, &mut rows));
    }
    println!("{rows}");
    let ran = rows.lines().filter(|l| l.starts_with("| cuda") && !l.contains("not run")).count();
    assert!(ran > 0, "no example ran on the GPU:\n{rows}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// With MLIR, `hgc build` puts PTX for sm_80 and sm_90 into the artifact of a model that runs
/// wholly on the GPU, its library calls as library kernels; the built model then opens on the
/// GPU, or, without a driver, says so.
#[cfg(feature = "mlir")]
#[test]
fn builds_carry_ptx_for_the_gpu() {
    use hg_cli::Model as _;
    use hg_cli::artifact::{ArtifactModel, Device};
    let dir = tempfile::tempdir().unwrap();
    let build = |file: &str, set: &[&str], gpu: &str, out: &str| {
        let args = hgc::build::BuildArgs {
            spec: hgc::cli::SpecArgs {
                file: root().join(file),
                model: None,
                set: set.iter().map(|s| s.to_string()).collect(),
            },
            output: None,
            artifact: Some(dir.path().join(out)),
            weights: None,
            backend: Some("cranelift".into()),
            target_cpu: "all".into(),
            gpu: gpu.into(),
            overwrite: false,
            runner: None,
        };
        hgc::build::build(&args)
    };
    build(CASES[0].0, CASES[0].1, "yes", "vae.hgx").unwrap();
    let bytes = std::fs::read(dir.path().join("vae.hgx")).unwrap();
    let mut model = ArtifactModel::from_bytes(&bytes, "vae.hgx").unwrap();
    assert_eq!(model.ptx_targets(), [80, 90]);
    assert!(model.about().unwrap().contains("PTX for sm_80, sm_90"));
    model.set_device(Device::Cuda).unwrap();
    assert_eq!(model.backend(), "cuda");
    match model.open(true) {
        Ok(session) => assert_eq!(session.backend(), "cuda"),
        Err(e) => {
            assert!(hg_cuda::probe_driver().is_err(), "a GPU is here but the session did not open: {e}");
            assert!(e.contains("no NVIDIA driver"), "{e}");
        }
    }
    // The MAE's gathers, scatter-adds and top-k run as library kernels the PTX carries.
    build("examples/mae/mae.hgl", &["dim=8", "dec_dim=8", "heads=2"], "yes", "mae.hgx").unwrap();
    let bytes = std::fs::read(dir.path().join("mae.hgx")).unwrap();
    let artifact = hg_abi::artifact::Artifact::from_bytes(&bytes).unwrap();
    let ptx = String::from_utf8(artifact.section("ptx/sm_90").unwrap().bytes.clone()).unwrap();
    for kernel in ["hg_kernel_0", "hg_lib_0", "hg_lib_2"] {
        assert!(ptx.contains(&format!(".entry {kernel}(")), "no {kernel} in the MAE's PTX");
    }
    let mut model = ArtifactModel::from_bytes(&bytes, "mae.hgx").unwrap();
    assert_eq!(model.ptx_targets(), [80, 90]);
    model.set_device(Device::Cuda).unwrap();
}

/// The code generator `hgc build` uses in this build (LLVM when it is built in).
const BUILDER: &str = if cfg!(feature = "llvm") { "llvm" } else { "cranelift" };

/// A built executable of each example, for this machine's CPU level, run as a user runs it
/// (`NAME reconstruct --weights W --input x.npy --output y.npy`, in another process, loading
/// its kernels from the artifact it carries), against the interpreter in f64 on the same
/// weights and inputs.
#[test]
fn built_executables_match_the_reference_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = String::from("| built by | example | check | error | tolerance | |\n|---|---|---|---|---|---|\n");
    let mut failures = Vec::new();
    for (n, (file, set, example)) in CASES.iter().enumerate() {
        let spec = hgc::cli::SpecArgs {
            file: root().join(file),
            model: None,
            set: set.iter().map(|s| s.to_string()).collect(),
        };
        let exe = dir.path().join(format!("model{n}"));
        let args = hgc::build::BuildArgs {
            spec: spec.clone(),
            output: Some(exe.clone()),
            artifact: None,
            weights: None,
            backend: None,
            target_cpu: "native".into(),
            // The CPU's parity; the GPU code of builds has its own test.
            gpu: "no".into(),
            overwrite: true,
            runner: Some(hg_tests::cli::hgrun()),
        };
        assert_eq!(hgc::build::build(&args), Ok(()), "building {file}");

        let model = hgc::compile::check_spec(&spec).unwrap().model.unwrap();
        let mut reference = InterpSession::new(model.module.clone(), None, Precision::F64).unwrap();
        let params = init_params(&reference.manifest().params, SEED).unwrap();
        reference.load_params(params.clone()).unwrap();
        let bare =
            params.iter().map(|(k, v)| (k.strip_prefix(names::PARAM).unwrap_or(k).to_string(), v.clone())).collect();
        let weights = dir.path().join(format!("w{n}.safetensors"));
        hg_runtime::checkpoint::save_safetensors(&weights, &bare, &Default::default()).unwrap();
        let shape: Vec<usize> = [BATCH].iter().chain(example.iter()).copied().collect();
        // The images, and the labels of a model with a `label` condition, in one .npz.
        let sig = reference.manifest().entry("reconstruct").unwrap().clone();
        let pool: NamedTensors = hg_runtime::train::model_inputs(&sig)
            .into_iter()
            .map(|s| {
                let t = if s.name == "label" { labels(SEED + 1) } else { images(&shape, SEED + 1) };
                (s.name, t)
            })
            .collect();
        let input = dir.path().join(format!("x{n}.npz"));
        let arrays: Vec<(String, Tensor)> = pool.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        hg_runtime::npy::write_npz(&input, &arrays).unwrap();

        let output = dir.path().join(format!("y{n}.npz"));
        let run = std::process::Command::new(&exe)
            .args(["reconstruct", "--weights", weights.to_str().unwrap(), "--input", input.to_str().unwrap()])
            .args(["--output", output.to_str().unwrap(), "--seed", &SEED.to_string(), "--batch", &BATCH.to_string()])
            .output()
            .unwrap();
        assert!(run.status.success(), "{file}: {}", String::from_utf8_lossy(&run.stderr));
        // A debug runner is large: keep one executable at a time.
        std::fs::remove_file(&exe).unwrap();
        let got: NamedTensors = hg_runtime::npy::read_npz(&output).unwrap().into_iter().collect();

        let scalars = hg_runtime::train::CallScalars { seed: SEED, step: 0, first_example: 0, batch: 0 };
        let want = hg_runtime::train::run_batched(&mut reference, "reconstruct", &pool, scalars, BATCH).unwrap();
        let name = file.rsplit('/').next().unwrap_or(file).trim_end_matches(".hgl");
        for (k, w) in want.iter().filter(|(k, _)| !k.starts_with(names::PARAM)) {
            let err = error(&got[k], w);
            let verdict = if err <= FORWARD_TOL { "ok" } else { "FAIL" };
            let _ = writeln!(
                rows,
                "| {BUILDER} executable | {name} | reconstruct `{k}` | {err:.2e} | {FORWARD_TOL:.0e} | {verdict} |"
            );
            if err > FORWARD_TOL {
                failures.push(format!("{file} `{k}`: error {err:.3e}"));
            }
        }
    }
    println!("{rows}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The GPU check that needs no GPU: every kernel of every example's train step has a GPU form
/// (libdevice linked for its math functions), lowers through MLIR to PTX for each chip, and
/// `ptxas` assembles it for that chip.
#[cfg(feature = "mlir")]
#[test]
fn example_kernels_assemble_with_ptxas() {
    use hg_codegen_mlir::Chip;
    let ptxas = hg_codegen_mlir::ptxas::find_ptxas().unwrap_or_else(|message| panic!("{message}"));
    let libdevice = hg_codegen_mlir::Libdevice::find()
        .unwrap_or_else(|message| panic!("{message}"))
        .unwrap_or_else(|| panic!("libdevice not found: run scripts/setup.sh"));
    let dir = tempfile::tempdir().unwrap();
    let mut rows = String::from("| example | kernels | library kernels |\n|---|---|---|\n");
    for (n, (file, set, _)) in CASES.iter().enumerate() {
        let args = hgc::cli::SpecArgs {
            file: root().join(file),
            model: None,
            set: set.iter().map(|s| s.to_string()).collect(),
        };
        let model = hgc::compile::check_spec(&args).unwrap().model.unwrap();
        let (module, info) = with_train_step(&model, &optimizer_config(&model.train_defaults)).unwrap();
        let (_, plans, kernels) = hgc::backends::lower_module(&module, Some(&info)).unwrap();
        let libs = hg_abi::plan::DeviceLib::of_plans(plans.values());
        for chip in Chip::ALL {
            let (ptx, refused) = hg_codegen_mlir::gpu::program_ptx(&kernels, &libs, chip, Some(&libdevice))
                .unwrap_or_else(|e| panic!("{file} {chip}: {e}"));
            assert!(refused.is_empty(), "{file}: kernels without a GPU form: {refused:?}");
            if chip == Chip::Sm80 {
                let _ = writeln!(rows, "| {file} | {} | {} |", kernels.len(), libs.len());
            }
            let path = dir.path().join(format!("model{n}_{chip}.ptx"));
            std::fs::write(&path, ptx).unwrap();
            hg_codegen_mlir::ptxas::assemble(&ptxas, chip.arch(), &path).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
    println!("{rows}");
}
