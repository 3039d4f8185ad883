//! `hgc gemm M,K,N`: the GEMM library call the CPU backends make, timed for `bench/run`'s
//! comparison with PyTorch's. (Timing an entry of a model is `hg_cli::timing`.)

use std::time::Instant;

/// `hgc gemm M,K,N`: the arguments.
#[derive(clap::Args, Debug)]
pub struct GemmArgs {
    /// The product's sizes: `[M, K] @ [K, N]`
    #[arg(value_name = "M,K,N")]
    pub shape: String,
    /// Read the left operand from a row-major `[K, M]` matrix (a transposed view, as the
    /// backward pass reads activations)
    #[arg(long)]
    pub transpose_a: bool,
    /// Read the right operand from a row-major `[N, K]` matrix (a transposed view, as the
    /// backward pass reads weights)
    #[arg(long)]
    pub transpose_b: bool,
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
        a: strides(args.transpose_a, m, k),
        b: strides(args.transpose_b, k, n),
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
        serde_json::json!({"m": m, "k": k, "n": n, "transpose_a": args.transpose_a, "transpose_b": args.transpose_b,
            "library": hg_cpu::lib::gemm::Gemm::selected().name(), "threads": count, "median_ms": median, "gflops": gflops})
    );
    Ok(())
}

/// Strides of a `rows x cols` operand stored row-major, or transposed (`cols x rows` row-major).
fn strides(transposed: bool, rows: usize, cols: usize) -> hg_cpu::lib::Strides {
    let (row, col) = if transposed { (1, rows) } else { (cols, 1) };
    hg_cpu::lib::Strides { batch: 0, inner: 0, row, col }
}
