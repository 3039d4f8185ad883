//! Graph-to-graph clean-up passes and the order they run in.
//!
//! Each pass is a verb-named function over one [`Function`]; [`run_pipeline`] lists them in
//! order and, in debug builds and tests, verifies the function after each one so a broken
//! invariant is blamed on the pass that broke it.

mod cse;
mod dce;

pub use cse::eliminate_common_subexpressions;
pub use dce::eliminate_dead_values;

use crate::function::Function;
use crate::verify::{VerifyError, verify_function};

/// A pass: rewrites one function in place.
pub type Pass = fn(&mut Function);

/// Runs the clean-up passes in order: common-subexpression elimination, then dead-value
/// elimination (so the duplicates CSE leaves unused disappear).
///
/// The verifier runs once after the pipeline in every build: it is the cheap net that catches a
/// bad pass before a backend miscompiles its output. Debug builds also verify after each pass,
/// so the error names the pass that broke the invariant.
pub fn run_pipeline(f: &mut Function) -> Result<(), VerifyError> {
    let passes: [(&str, Pass); 2] = [
        ("eliminate_common_subexpressions", eliminate_common_subexpressions),
        ("eliminate_dead_values", eliminate_dead_values),
    ];
    for (name, pass) in passes {
        pass(f);
        if cfg!(debug_assertions) {
            verify_function(f).map_err(|mut e| {
                e.message = format!("after `{name}`: {}", e.message);
                e
            })?;
        }
    }
    verify_function(f).map_err(|mut e| {
        e.message = format!("after the pass pipeline: {}", e.message);
        e
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::NodeSpan;
    use crate::infer::test_util::ty;
    use crate::op::{BinaryOp, Op, ReduceOp, UnaryOp};

    #[test]
    fn pipeline_merges_then_sweeps() {
        let sp = NodeSpan::default();
        let mut f = Function::new("loss");
        let x = f.add_input("x", ty("f32[B, 8]"), sp);
        let w = f.add_with_type(Op::Param { name: "w".into() }, &[], ty("f32[8, 8]"), sp).unwrap();
        let h1 = f.add(Op::MatMul, &[x, w], sp).unwrap();
        let h2 = f.add(Op::MatMul, &[x, w], sp).unwrap();
        let sq = f.add(Op::Binary(BinaryOp::Mul), &[h1, h2], sp).unwrap();
        let _unused = f.add(Op::Unary(UnaryOp::Exp), &[h2], sp).unwrap();
        let all = f.add(Op::Reduce { op: ReduceOp::Mean, axes: vec![0, 1], keepdims: false }, &[sq], sp).unwrap();
        f.outputs.push(("loss".into(), all));
        let before = f.to_string();
        run_pipeline(&mut f).unwrap();
        assert_eq!(f.len(), 5);
        insta::assert_snapshot!(format!("{before}\n{f}"));
    }

    #[test]
    fn pipeline_reports_broken_input() {
        let sp = NodeSpan::default();
        let mut f = Function::new("bad");
        let x = f.add_input("x", ty("f32[B]"), sp);
        let y = f.add(Op::Unary(UnaryOp::Exp), &[x], sp).unwrap();
        f.graph[y.0].ty = ty("f32[B, 2]");
        f.outputs.push(("y".into(), y));
        let err = run_pipeline(&mut f).unwrap_err();
        assert!(err.message.starts_with("after `eliminate_common_subexpressions`: exp:"), "{err}");
    }
}
