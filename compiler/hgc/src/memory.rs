//! Refusing a batch the machine cannot hold before running it: the interpreter's estimate of
//! one call (`hg_core::interp::estimate_peak_bytes`) against the memory the system says is
//! available (`MemAvailable` of `/proc/meminfo`, Linux only; elsewhere nothing is checked).
//!
//! The estimate grows with the batch size, so the largest batch that fits is found by
//! bisection over it (each estimate is one walk of the graph's shapes; nothing runs).

use hg_core::interp::{estimate_peak_bytes, fmt_bytes};
use hg_ir::{Function, Module};

/// Fails, with the figures and the largest `--batch` that fits, when one call of `entry` of
/// `module` at `batch` needs more memory than is available. Only the interpreter's memory is
/// estimated, so other backends are not checked, nor are machines whose available memory
/// cannot be read.
pub fn check_batch_fits(module: &Module, backend: &str, entry: &str, batch: usize) -> Result<(), String> {
    if backend != "interp" {
        return Ok(());
    }
    match (module.function(entry), available_bytes()) {
        (Some(f), Some(available)) => check_fits(f, entry, batch, available),
        _ => Ok(()),
    }
}

/// [`check_batch_fits`] against a given amount of available memory.
pub fn check_fits(f: &Function, entry: &str, batch: usize, available: u64) -> Result<(), String> {
    let needed = estimate_peak_bytes(f, batch);
    if needed <= available {
        return Ok(());
    }
    let what = if entry == "train" { "the train step".to_string() } else { format!("`{entry}`") };
    let figures = format!(
        "{what} at batch {batch} needs about {} of memory for the interpreter, but {} is available",
        fmt_bytes(u128::from(needed)),
        fmt_bytes(u128::from(available))
    );
    Err(match largest_batch(f, batch, available) {
        Some(n) => format!("{figures}; lower it with --batch {n}"),
        None => format!("{figures}; even --batch 1 does not fit, so the model is too large for this machine"),
    })
}

/// The largest batch below `over` (which does not fit) whose estimate fits in `available`.
fn largest_batch(f: &Function, over: usize, available: u64) -> Option<usize> {
    let fits = |b: usize| estimate_peak_bytes(f, b) <= available;
    if over <= 1 || !fits(1) {
        return None;
    }
    // Invariant: `lo` fits, `hi` does not.
    let (mut lo, mut hi) = (1, over);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo)
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn available_bytes() -> Option<u64> {
    parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// The `MemAvailable:  123456 kB` line of meminfo text, in bytes.
fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib = line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_abi::DType;
    use hg_ir::{Dim, NodeSpan, Op, TensorType, UnaryOp};

    /// `y = exp(x)` with `x: f32[B, 1000]`: 4 + 8 + 8 + 4 bytes per element at the peak.
    fn exp_of_batch() -> Function {
        let ty = TensorType::new(DType::F32, vec![Dim::batch(), Dim::constant(1000)]);
        let mut f = Function::new("sample");
        let x = f.add_input("x", ty.clone(), NodeSpan::default());
        let y = f.add_typed(Op::Unary(UnaryOp::Exp), &[x], ty, NodeSpan::default());
        f.outputs.push(("y".into(), y));
        f
    }

    #[test]
    fn meminfo_gives_the_available_bytes() {
        let text = "MemTotal:       24000000 kB\nMemFree:         9000000 kB\nMemAvailable:   10240 kB\n";
        assert_eq!(parse_mem_available(text), Some(10240 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: lots\n"), None);
    }

    #[test]
    fn a_batch_too_large_names_the_figures_and_the_batch_that_fits() {
        let f = exp_of_batch();
        let per_example = estimate_peak_bytes(&f, 2) - estimate_peak_bytes(&f, 1);
        assert_eq!(per_example, 20_000);
        let available = 1 << 30;
        assert!(check_fits(&f, "sample", 50_000, available).is_ok());
        let e = check_fits(&f, "sample", 100_000, available).unwrap_err();
        let fits = (available / per_example) as usize;
        assert_eq!(
            e,
            format!(
                "`sample` at batch 100000 needs about 1.9 GiB of memory for the interpreter, but 1.0 GiB is available; lower it with --batch {fits}"
            )
        );
        assert!(estimate_peak_bytes(&f, fits) <= available && estimate_peak_bytes(&f, fits + 1) > available);
        let e = check_fits(&f, "train", 10, 1000).unwrap_err();
        assert!(e.starts_with("the train step at batch 10 needs about 195.3 KiB"), "{e}");
        assert!(e.ends_with("even --batch 1 does not fit, so the model is too large for this machine"), "{e}");
    }
}
