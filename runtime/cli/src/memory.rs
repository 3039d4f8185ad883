//! Refusing a batch the machine cannot hold before running it: the memory one call needs
//! against what the system says is available (`MemAvailable` of `/proc/meminfo`, Linux only;
//! elsewhere nothing is checked). For compiled code the need is exact: the plan's arena plus
//! the call's inputs and outputs at that batch size ([`compiled_bytes`]); a compiler may bring
//! its own estimate for an interpreter. The need grows with the batch size, so the largest batch
//! that fits is found by bisection over it.

use hg_exec::units::fmt_bytes;

/// Bytes one call of a compiled plan needs at `batch`: its arena and the buffers of the call's
/// inputs and outputs (resident parameters are counted once, by the session, not per call).
pub fn compiled_bytes(plan: &hg_abi::plan::Plan, batch: usize) -> u64 {
    use hg_abi::plan::BufRole;
    let bytes = |a: hg_abi::plan::Quadratic| a.eval(batch).and_then(|v| u64::try_from(v).ok()).unwrap_or(u64::MAX);
    let mut total = bytes(plan.arena_bytes);
    for b in &plan.buffers {
        if matches!(b.role, BufRole::Input(_) | BufRole::Output(_)) {
            let n = bytes(b.len).saturating_mul(b.dtype.size_bytes() as u64);
            total = total.saturating_add(n);
        }
    }
    total
}

/// Fails, with the figures and the largest `--batch` that fits, when `need(batch)` (the bytes
/// one call of `entry` needs on `who`) exceeds `available`.
pub fn check_fits(
    entry: &str,
    batch: usize,
    available: u64,
    who: &str,
    need: &dyn Fn(usize) -> u64,
) -> Result<(), String> {
    let needed = need(batch);
    if needed <= available {
        return Ok(());
    }
    let what = if entry == "train" { "the train step".to_string() } else { format!("`{entry}`") };
    let figures = format!(
        "{what} at batch {batch} needs about {} of memory for {who}, but {} is available",
        fmt_bytes(u128::from(needed)),
        fmt_bytes(u128::from(available))
    );
    Err(match largest_batch(need, batch, available) {
        Some(n) => format!("{figures}; lower it with --batch {n}"),
        None => format!("{figures}; even --batch 1 does not fit, so the model is too large for this machine"),
    })
}

/// The largest batch below `over` (which does not fit) whose estimate fits in `available`.
fn largest_batch(need: &dyn Fn(usize) -> u64, over: usize, available: u64) -> Option<usize> {
    let fits = |b: usize| need(b) <= available;
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
pub fn available_bytes() -> Option<u64> {
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

    #[test]
    fn meminfo_gives_the_available_bytes() {
        let text = "MemTotal:       24000000 kB\nMemFree:         9000000 kB\nMemAvailable:   10240 kB\n";
        assert_eq!(parse_mem_available(text), Some(10240 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: lots\n"), None);
    }

    #[test]
    fn a_batch_too_large_names_the_figures_and_the_batch_that_fits() {
        // 20,000 bytes per example.
        let need = |b: usize| 20_000 * b as u64;
        let available = 1 << 30;
        let who = "the interpreter";
        assert!(check_fits("sample", 50_000, available, who, &need).is_ok());
        let e = check_fits("sample", 100_000, available, who, &need).unwrap_err();
        let fits = available / 20_000;
        assert_eq!(
            e,
            format!(
                "`sample` at batch 100000 needs about 1.9 GiB of memory for the interpreter, but 1.0 GiB is available; lower it with --batch {fits}"
            )
        );
        let e = check_fits("train", 10, 1000, who, &need).unwrap_err();
        assert!(e.starts_with("the train step at batch 10 needs about 195.3 KiB"), "{e}");
        assert!(e.ends_with("even --batch 1 does not fit, so the model is too large for this machine"), "{e}");
    }
}
