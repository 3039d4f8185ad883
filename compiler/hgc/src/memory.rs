//! Refusing a batch the machine cannot hold before running a spec compiled in memory
//! (`hg_cli::memory` does the arithmetic): for the interpreter the need is its own estimate
//! (`hg_core::interp::estimate_peak_bytes`, one walk of the graph's shapes); for compiled
//! backends it is exact, from the plan.

use hg_cli::memory::{available_bytes, check_fits, compiled_bytes};
use hg_core::interp::estimate_peak_bytes;
use hg_ir::Module;

/// Fails, with the figures and the largest `--batch` that fits, when one call of `entry` of
/// `module` at `batch` needs more memory than is available. Machines whose available memory
/// cannot be read are not checked.
pub fn check_batch_fits(module: &Module, backend: &str, entry: &str, batch: usize) -> Result<(), String> {
    let (Some(f), Some(available)) = (module.function(entry), available_bytes()) else { return Ok(()) };
    match backend {
        "interp" => check_fits(entry, batch, available, "the interpreter", &|b| estimate_peak_bytes(f, b)),
        _ => match hg_kernel::lower_function(f, &[]) {
            Ok(program) => {
                let plan = program.plan;
                check_fits(entry, batch, available, "compiled code", &|b| compiled_bytes(&plan, b))
            }
            // The backend reports what does not compile when it opens.
            Err(_) => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_abi::DType;
    use hg_ir::{Dim, Function, NodeSpan, Op, TensorType, UnaryOp};

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
    fn a_batch_too_large_names_the_figures_and_the_batch_that_fits() {
        let f = exp_of_batch();
        let per_example = estimate_peak_bytes(&f, 2) - estimate_peak_bytes(&f, 1);
        assert_eq!(per_example, 20_000);
        let available = 1 << 30;
        let need = |b: usize| estimate_peak_bytes(&f, b);
        let who = "the interpreter";
        assert!(check_fits("sample", 50_000, available, who, &need).is_ok());
        let e = check_fits("sample", 100_000, available, who, &need).unwrap_err();
        let fits = (available / per_example) as usize;
        assert_eq!(
            e,
            format!(
                "`sample` at batch 100000 needs about 1.9 GiB of memory for the interpreter, but 1.0 GiB is available; lower it with --batch {fits}"
            )
        );
        assert!(estimate_peak_bytes(&f, fits) <= available && estimate_peak_bytes(&f, fits + 1) > available);
        let e = check_fits("train", 10, 1000, who, &need).unwrap_err();
        assert!(e.starts_with("the train step at batch 10 needs about 195.3 KiB"), "{e}");
        assert!(e.ends_with("even --batch 1 does not fit, so the model is too large for this machine"), "{e}");
    }

    #[test]
    fn compiled_plans_need_their_arena_and_the_call_buffers() {
        let f = exp_of_batch();
        let plan = hg_kernel::lower_function(&f, &[]).unwrap().plan;
        // Input and output, 4000 bytes per example each; the kernel needs no temporary.
        assert_eq!(compiled_bytes(&plan, 1), 8000);
        assert_eq!(compiled_bytes(&plan, 10), 80_000);
        let e = check_fits("sample", 1000, 100_000, "compiled code", &|b| compiled_bytes(&plan, b)).unwrap_err();
        assert!(e.contains("needs about 7.6 MiB of memory for compiled code"), "{e}");
        assert!(e.ends_with("lower it with --batch 12"), "{e}");
    }
}
