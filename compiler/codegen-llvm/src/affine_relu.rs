//! The affine-ReLU kernel, `y[i] = max(a * x[i] + b, 0)` over `f32` arrays, built as LLVM IR
//! and compiled to an object file with a C ABI.
//!
//! Numerics are the same in all three code generators so their outputs can be compared bit
//! for bit: `fmul` and `fadd` carry no fast-math flags, so LLVM neither contracts them into a
//! fused multiply-add nor reorders them, and the maximum is `llvm.maximum.f32` (IEEE 754-2019
//! `maximum`: NaN in gives NaN out, and `+0.0 > -0.0`, so the result is never `-0.0`).
//!
//! The C ABI is [`C_PROTOTYPE`]: `x` and `y` must not overlap (they are `noalias`, which lets
//! LLVM vectorise without run-time overlap checks), `x[0..n]` is read and `y[0..n]` written,
//! and `n <= 0` does nothing.

use std::path::Path;

use inkwell::AddressSpace;
use inkwell::IntPredicate;
use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::context::Context;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::Module;
use inkwell::values::FunctionValue;

use crate::CodegenError;
use crate::target::{HostTarget, ObjectInfo, verify};

/// Symbol name of the kernel in the object file.
pub const SYMBOL: &str = "hg_affine_relu";

/// The C declaration of the kernel, for drivers and generated headers.
pub const C_PROTOTYPE: &str =
    "void hg_affine_relu(const float *restrict x, float *restrict y, int64_t n, float a, float b);";

/// The kernel's LLVM IR before optimisation, as text. Target independent: no triple or data
/// layout is set.
pub fn affine_relu_ir() -> Result<String, CodegenError> {
    let context = Context::create();
    let module = context.create_module(SYMBOL);
    build_affine_relu(&context, &module)?;
    verify(&module)?;
    Ok(module.print_to_string().to_string())
}

/// Builds the kernel, optimises it at O3 for the host CPU and writes an object file to `path`.
pub fn emit_affine_relu_object(path: &Path) -> Result<ObjectInfo, CodegenError> {
    let target = HostTarget::new()?;
    let context = Context::create();
    let module = optimized_module(&context, &target)?;
    target.emit_object(&module, path, &[SYMBOL])
}

/// The kernel module after the host target's O3 pipeline.
fn optimized_module<'ctx>(context: &'ctx Context, target: &HostTarget) -> Result<Module<'ctx>, CodegenError> {
    let module = context.create_module(SYMBOL);
    target.adopt(&module);
    build_affine_relu(context, &module)?;
    target.optimize(&module)?;
    Ok(module)
}

/// Adds the kernel to `module`:
///
/// ```text
/// entry: if n > 0 goto loop else exit
/// loop:  i = phi [0, entry], [i + 1, loop]
///        y[i] = llvm.maximum(a * x[i] + b, 0.0)
///        if i + 1 == n goto exit else loop
/// exit:  ret void
/// ```
fn build_affine_relu<'ctx>(context: &'ctx Context, module: &Module<'ctx>) -> Result<FunctionValue<'ctx>, CodegenError> {
    let f32_type = context.f32_type();
    let i64_type = context.i64_type();
    let ptr_type = context.ptr_type(AddressSpace::default());
    let fn_type = context
        .void_type()
        .fn_type(&[ptr_type.into(), ptr_type.into(), i64_type.into(), f32_type.into(), f32_type.into()], false);
    let function = module.add_function(SYMBOL, fn_type, None);
    let attribute = |name: &str| context.create_enum_attribute(Attribute::get_named_enum_kind_id(name), 0);
    for (param, names) in [(0, ["noalias", "readonly"]), (1, ["noalias", "writeonly"])] {
        for name in names {
            function.add_attribute(AttributeLoc::Param(param), attribute(name));
        }
    }
    function.add_attribute(AttributeLoc::Function, attribute("nounwind"));

    let maximum = Intrinsic::find("llvm.maximum")
        .and_then(|intrinsic| intrinsic.get_declaration(module, &[f32_type.into()]))
        .ok_or_else(|| CodegenError::InvalidIr {
            module: SYMBOL.to_string(),
            message: "this LLVM has no `llvm.maximum.f32` intrinsic".to_string(),
        })?;

    let param = |index: u32| {
        function.get_nth_param(index).ok_or_else(|| CodegenError::InvalidIr {
            module: SYMBOL.to_string(),
            message: format!("kernel has no parameter {index}"),
        })
    };
    let x = param(0)?.into_pointer_value();
    let y = param(1)?.into_pointer_value();
    let n = param(2)?.into_int_value();
    let scale = param(3)?.into_float_value();
    let shift = param(4)?.into_float_value();

    let entry = context.append_basic_block(function, "entry");
    let body = context.append_basic_block(function, "loop");
    let exit = context.append_basic_block(function, "exit");
    let builder = context.create_builder();

    builder.position_at_end(entry);
    let non_empty = builder.build_int_compare(IntPredicate::SGT, n, i64_type.const_zero(), "non_empty")?;
    builder.build_conditional_branch(non_empty, body, exit)?;

    builder.position_at_end(body);
    let i = builder.build_phi(i64_type, "i")?;
    let index = i.as_basic_value().into_int_value();
    // SAFETY: these calls only build IR; nothing is dereferenced at compile time. `inbounds`
    // holds at run time because 0 <= i < n and the ABI requires `x` and `y` to hold n floats.
    let (x_at, y_at) = unsafe {
        (
            builder.build_in_bounds_gep(f32_type, x, &[index], "x_at")?,
            builder.build_in_bounds_gep(f32_type, y, &[index], "y_at")?,
        )
    };
    let xv = builder.build_load(f32_type, x_at, "xv")?.into_float_value();
    let product = builder.build_float_mul(scale, xv, "product")?;
    let sum = builder.build_float_add(product, shift, "sum")?;
    let result = builder
        .build_call(maximum, &[sum.into(), f32_type.const_zero().into()], "relu")?
        .try_as_basic_value()
        .basic()
        .ok_or_else(|| CodegenError::InvalidIr {
            module: SYMBOL.to_string(),
            message: "`llvm.maximum.f32` returned no value".to_string(),
        })?;
    builder.build_store(y_at, result)?;
    let next = builder.build_int_nsw_add(index, i64_type.const_int(1, false), "next")?;
    i.add_incoming(&[(&i64_type.const_zero(), entry), (&next, body)]);
    let done = builder.build_int_compare(IntPredicate::EQ, next, n, "done")?;
    builder.build_conditional_branch(done, exit, body)?;

    builder.position_at_end(exit);
    builder.build_return(None)?;
    Ok(function)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::elf;

    /// The kernel's contract in plain Rust: separate rounding, IEEE `maximum` against zero.
    fn reference(x: &[f32], a: f32, b: f32) -> Vec<f32> {
        x.iter()
            .map(|&v| {
                let s = a * v + b;
                if s.is_nan() || s > 0.0 { s } else { 0.0 }
            })
            .collect()
    }

    /// Deterministic values in [-4, 4): a small LCG keeps the test free of extra crates.
    fn inputs(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
            })
            .collect()
    }

    /// The C driver: reads cases `(int64 n, float a, float b, float x[n])` from stdin, runs the
    /// kernel on each and prints every `y[i]` as hexadecimal bits, then `end`. `y` starts
    /// filled with a marker so that an element the kernel skips shows up as a mismatch.
    fn driver_source() -> String {
        format!(
            r#"#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

{C_PROTOTYPE}

int main(void) {{
    int64_t n;
    float ab[2];
    while (fread(&n, sizeof n, 1, stdin) == 1) {{
        if (fread(ab, sizeof(float), 2, stdin) != 2 || n < 0) return 2;
        float *x = malloc((size_t)n * sizeof(float) + 1);
        float *y = malloc((size_t)n * sizeof(float) + 1);
        if (!x || !y || fread(x, sizeof(float), (size_t)n, stdin) != (size_t)n) return 3;
        memset(y, 0x5a, (size_t)n * sizeof(float));
        {SYMBOL}(x, y, n, ab[0], ab[1]);
        for (int64_t i = 0; i < n; i++) {{
            uint32_t bits;
            memcpy(&bits, &y[i], sizeof bits);
            printf("%08x\n", (unsigned)bits);
        }}
        printf("end\n");
        free(x);
        free(y);
    }}
    return 0;
}}
"#
        )
    }

    fn run_cmd(command: &mut Command) -> std::process::Output {
        let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
        assert!(
            output.status.success(),
            "{command:?} failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    #[test]
    fn ir_text_has_the_c_abi_and_unfused_arithmetic() {
        let ir = affine_relu_ir().expect("ir");
        assert!(
            ir.contains(
                "define void @hg_affine_relu(ptr noalias readonly %0, ptr noalias writeonly %1, i64 %2, float %3, float %4)"
            ),
            "{ir}"
        );
        for needle in ["fmul float", "fadd float", "call float @llvm.maximum.f32(float %sum, float 0.000000e+00)"] {
            assert!(ir.contains(needle), "missing `{needle}` in:\n{ir}");
        }
        assert!(!ir.contains("fma") && !ir.contains("fast"), "{ir}");
    }

    #[test]
    fn o3_vectorises_the_loop_for_the_host() {
        let target = HostTarget::new().expect("host target");
        let context = Context::create();
        let module = optimized_module(&context, &target).expect("optimise");
        let ir = module.print_to_string().to_string();
        // Every x86-64 CPU has at least 128-bit vectors, so the loop vectoriser must have
        // produced a vector `maximum` of some width.
        assert!(ir.contains("x float> @llvm.maximum.v"), "{ir}");
        assert!(!ir.contains("fmuladd") && !ir.contains("llvm.fma"), "{ir}");
    }

    #[test]
    fn linked_executable_matches_reference_and_needs_no_libllvm() {
        let dir = tempfile::tempdir().expect("tempdir");
        let object = dir.path().join("affine_relu.o");
        let info = emit_affine_relu_object(&object).expect("emit object");
        assert_eq!(info.path, object);
        assert_eq!(info.symbols, [SYMBOL]);
        assert!(info.size_bytes > 0 && !info.cpu.is_empty() && !info.triple.is_empty());

        let driver = dir.path().join("driver.c");
        std::fs::write(&driver, driver_source()).expect("write driver");
        let exe = dir.path().join("driver");
        run_cmd(Command::new("cc").arg("-std=c11").arg("-O1").arg(&driver).arg(&object).arg("-o").arg(&exe));

        let mut cases: Vec<(Vec<f32>, f32, f32)> = Vec::new();
        for n in [0, 1, 2, 3, 17, 1000] {
            for (a, b) in [(2.0, 1.0), (-1.5, 0.25), (0.5, -3.0), (0.0, -1.0)] {
                cases.push((inputs(n, n as u64 + 1), a, b));
            }
        }
        let special = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, f32::MAX, -1e-40];
        cases.push((special.clone(), 1.0, -0.0));
        cases.push((special, 0.0, 0.0));

        let mut stdin = Vec::new();
        for (x, a, b) in &cases {
            stdin.extend_from_slice(&(x.len() as i64).to_ne_bytes());
            for v in [*a, *b].iter().chain(x) {
                stdin.extend_from_slice(&v.to_ne_bytes());
            }
        }
        let mut child = Command::new(&exe).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn driver");
        child.stdin.take().expect("stdin").write_all(&stdin).expect("feed driver");
        let output = child.wait_with_output().expect("driver output");
        assert!(output.status.success(), "driver exited with {}", output.status);

        let stdout = String::from_utf8(output.stdout).expect("utf-8");
        let outputs: Vec<&str> = stdout.split_terminator("end\n").collect();
        assert_eq!(outputs.len(), cases.len(), "one output block per case");
        for ((x, a, b), printed) in cases.iter().zip(outputs) {
            let got: Vec<f32> =
                printed.lines().map(|line| f32::from_bits(u32::from_str_radix(line, 16).expect("hex bits"))).collect();
            let want = reference(x, *a, *b);
            assert_eq!(got.len(), want.len(), "n={} a={a} b={b}", x.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
                assert!(same, "n={} a={a} b={b}: y[{i}] = {g:?}, expected {w:?}", x.len());
            }
        }

        let needed = elf::needed_libraries(&std::fs::read(&exe).expect("read exe")).expect("parse ELF");
        assert!(needed.iter().any(|lib| lib.starts_with("libc.so")), "{needed:?}");
        assert!(!needed.iter().any(|lib| lib.to_lowercase().contains("llvm")), "{needed:?}");
    }

    #[test]
    fn this_binary_links_llvm_statically() {
        let exe = std::fs::read(std::env::current_exe().expect("current exe")).expect("read exe");
        let needed = elf::needed_libraries(&exe).expect("parse ELF");
        assert!(!needed.is_empty(), "a Rust test binary links libc dynamically");
        assert!(!needed.iter().any(|lib| lib.to_lowercase().contains("llvm")), "{needed:?}");
    }

    #[test]
    fn unwritable_path_is_an_emit_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing-dir").join("k.o");
        match emit_affine_relu_object(&path) {
            Err(CodegenError::Emit { path: reported, message }) => {
                assert_eq!(reported, path);
                assert!(!message.is_empty());
            }
            other => panic!("expected an emit error, got {other:?}"),
        }
    }
}
