//! Library calls as generated kernels, for the GPU: gather and scatter-add, top-k and
//! arg-max/min, index checks, the sparse and sampled products of top-k codes, convolutions and
//! pooling (matrix products go to the vendor's BLAS). The CPU runs these calls in its tuned
//! library (`hg_cpu::lib`); here each is a loop body over one work item (see
//! `LibCall::device_extent`), written as MLIR text with the kernels' own emitter, so the same
//! body runs on the CPU (where tests hold it to `hg_cpu::lib`) and in a `gpu.func`.
//!
//! Each work item owns what it writes (an output element, a row of top-k indices, a column of a
//! scattered product), so no kernel needs atomics for its results and every result is
//! deterministic. Sums follow the CPU library's order where its result does not depend on a
//! blocking (scatter-add and pooling in f64, gathered sparse rows in index order), so those
//! match it bit for bit; convolutions and dense dot products accumulate in f32 in loop order,
//! differing from the CPU's blocked sums by rounding only.
//!
//! Indices read from data are checked: an index outside its range is skipped (the element is
//! zero or left out of its sum) and raises the status word, the last argument, to one plus its
//! flat position, by an atomic maximum. The executor reads the status after the step and fails
//! the call, naming the position, so a bad index is an error as on the CPU, never a wild access.

use std::collections::BTreeMap;

use hg_abi::DType;
use hg_abi::plan::{Affine, DeviceLib, LibCall, Quadratic};
use hg_kernel::ir::{Arg, Kernel, Scalar};

use super::{Emitter, Range, cpu_function_with, f64_literal, gpu_function_with, memref_type};
use crate::CodegenError;

mod conv;
mod index;
mod select;
mod sparse;

/// The kernel-IR signature of a device library call: its arguments' element types (lengths
/// are unused: the executor checks the call's geometry against its buffers) and the status
/// word last.
fn signature(lib: &DeviceLib) -> Result<Kernel, CodegenError> {
    let name = call_name(&lib.call);
    let mut args = Vec::with_capacity(lib.dtypes.len() + 1);
    for (k, &dtype) in lib.dtypes.iter().enumerate() {
        let ty = match dtype {
            DType::F32 => Scalar::F32,
            DType::I64 => Scalar::I64,
            DType::Bool => Scalar::Bool,
            other => {
                return Err(CodegenError::Unsupported(format!(
                    "`{name}`: argument {k} is {}, which its GPU kernel does not take",
                    other.name()
                )));
            }
        };
        args.push(Arg { ty, len: Quadratic::ZERO, written: k + 1 == lib.dtypes.len() });
    }
    args.push(Arg { ty: Scalar::I64, len: Quadratic::constant(1), written: true });
    Ok(Kernel { name: name.to_string(), args, body: Vec::new(), parallel: true })
}

/// The name of a call in messages, as the CPU library and the executors name it.
fn call_name(call: &LibCall) -> &'static str {
    hg_cpu::lib::resolve(call, 1).map_or("library call", |r| r.name())
}

/// The body of `lib`'s kernel over the work items of `range`.
fn emit(e: &mut Emitter, lib: &DeviceLib, range: Range) -> Result<(), CodegenError> {
    e.for_range(&range, Vec::new(), |e, i, _| {
        match &lib.call {
            LibCall::Gather { .. } | LibCall::ScatterAdd { .. } | LibCall::CheckIndices { .. } => {
                index::item(e, &lib.call, i)?
            }
            LibCall::TopK { .. } | LibCall::ArgReduce { .. } => select::item(e, &lib.call, i)?,
            LibCall::SparseMatMul { .. } | LibCall::SampledMatMul { .. } => sparse::item(e, &lib.call, i)?,
            LibCall::Conv2d(_)
            | LibCall::ConvTranspose2d(_)
            | LibCall::Conv2dWeightGrad(_)
            | LibCall::Pool2d { .. }
            | LibCall::MaxPool2dGrad(_) => conv::item(e, &lib.call, i)?,
            LibCall::MatMul { .. } | LibCall::Random { .. } => {
                return Err(e.unsupported("has no generated GPU kernel".into()));
            }
        }
        Ok(Vec::new())
    })?;
    Ok(())
}

/// `lib`'s kernel as a `gpu.func` named `name` (see [`super::gpu_module`] for the parameters:
/// one memref per argument, the status word, then `batch`, `lo`, `hi`).
pub(super) fn gpu_lib_function(
    lib: &DeviceLib,
    name: &str,
    declarations: &mut BTreeMap<&'static str, String>,
) -> Result<String, CodegenError> {
    let kernel = signature(lib)?;
    gpu_function_with(&kernel, name, false, declarations, |e, range| emit(e, lib, range))
}

/// The kernels of `libs` for the CPU, with the `KernelFn` ABI (argument pointers in a table,
/// the status word's last), named [`DeviceLib::symbol`]: how their bodies are tested without a
/// GPU.
pub fn cpu_lib_module(libs: &[DeviceLib]) -> Result<String, CodegenError> {
    let mut declarations = BTreeMap::new();
    let mut text = String::from("module {\n");
    for (i, lib) in libs.iter().enumerate() {
        let kernel = signature(lib)?;
        text.push_str(&cpu_function_with(&kernel, &DeviceLib::symbol(i), &mut declarations, |e, range| {
            emit(e, lib, range)
        })?);
    }
    text.push_str("}\n");
    Ok(text)
}

/// MLIR text builders for the library kernels: `i64` index arithmetic, loads and stores at an
/// `i64` position, loops and conditionals with results.
impl Emitter<'_> {
    /// `arith.OP a, b : ty`.
    fn arith(&mut self, op: &str, a: &str, b: &str, ty: &str) -> String {
        self.op(format!("arith.{op} {a}, {b} : {ty}"))
    }

    fn add(&mut self, a: &str, b: &str) -> String {
        self.op(format!("arith.addi {a}, {b} overflow<nsw> : i64"))
    }

    fn sub(&mut self, a: &str, b: &str) -> String {
        self.op(format!("arith.subi {a}, {b} overflow<nsw> : i64"))
    }

    fn mul(&mut self, a: &str, b: &str) -> String {
        self.op(format!("arith.muli {a}, {b} overflow<nsw> : i64"))
    }

    /// `a / b` of non-negative values (a divisor is a size that divides the work, never 0 while
    /// a work item runs).
    fn div(&mut self, a: &str, b: &str) -> String {
        self.arith("divsi", a, b, "i64")
    }

    fn rem(&mut self, a: &str, b: &str) -> String {
        self.arith("remsi", a, b, "i64")
    }

    /// `a * b + c` with the constants `b` and `c`.
    fn mul_add(&mut self, a: &str, b: usize, c: &str) -> String {
        let b = self.c64(b);
        let ab = self.mul(a, &b);
        self.add(&ab, c)
    }

    fn c64(&mut self, x: usize) -> String {
        self.i64_const(x as i64)
    }

    fn f64_const(&mut self, x: f64) -> String {
        self.constant(format!("{} : f64", f64_literal(x)))
    }

    fn bool_const(&mut self, b: bool) -> String {
        self.constant(format!("{b}"))
    }

    fn not(&mut self, c: &str) -> String {
        let t = self.bool_const(true);
        self.arith("xori", c, &t, "i1")
    }

    /// `0 <= v < n` for an `i64` value `v`.
    fn in_range(&mut self, v: &str, n: &str) -> String {
        let zero = self.c64(0);
        let low = self.op(format!("arith.cmpi sge, {v}, {zero} : i64"));
        let high = self.op(format!("arith.cmpi slt, {v}, {n} : i64"));
        self.arith("andi", &low, &high, "i1")
    }

    /// The element type of argument `k` in memory (`f32`, `i64`, `i8`).
    fn memory(&self, k: usize) -> Result<&'static str, CodegenError> {
        let ty = self.kernel.args.get(k).map(|a| a.ty).ok_or_else(|| self.unsupported(format!("no argument {k}")))?;
        Ok(super::memory_type(ty))
    }

    /// Element `at` (`i64`) of argument `k`.
    fn load(&mut self, k: usize, at: &str) -> Result<String, CodegenError> {
        let ty = self.kernel.args.get(k).map(|a| a.ty).ok_or_else(|| self.unsupported(format!("no argument {k}")))?;
        let index = self.op(format!("arith.index_cast {at} : i64 to index"));
        Ok(self.op(format!("memref.load %arg{k}[{index}] : {}", memref_type(ty))))
    }

    /// Stores `v` (of the argument's memory type) at element `at` of argument `k`.
    fn store(&mut self, k: usize, at: &str, v: &str) -> Result<(), CodegenError> {
        let ty = self.kernel.args.get(k).map(|a| a.ty).ok_or_else(|| self.unsupported(format!("no argument {k}")))?;
        let index = self.op(format!("arith.index_cast {at} : i64 to index"));
        self.line(format!("memref.store {v}, %arg{k}[{index}] : {}", memref_type(ty)));
        Ok(())
    }

    /// Raises the status word (the last argument) to `1 + position`.
    fn flag(&mut self, position: &str) {
        let one = self.c64(1);
        let code = self.add(position, &one);
        let status = self.kernel.args.len() - 1;
        let zero = self.op("arith.constant 0 : index".into());
        self.op(format!("memref.atomic_rmw maxs {code}, %arg{status}[{zero}] : (i64, memref<?xi64>) -> i64"));
    }

    /// `for i in range` carrying `carried` (initial value, type); `body` gets the induction
    /// variable and the carried values and returns their next values. Returns the results.
    fn for_range(
        &mut self,
        range: &Range,
        carried: Vec<(String, &'static str)>,
        body: impl FnOnce(&mut Self, &str, &[String]) -> Result<Vec<String>, CodegenError>,
    ) -> Result<Vec<String>, CodegenError> {
        let results = self.fresh();
        let iv = format!("%j{}", &results[2..]);
        let args: Vec<String> = (0..carried.len()).map(|n| format!("%a{}_{n}", &results[2..])).collect();
        let types: Vec<&str> = carried.iter().map(|c| c.1).collect();
        let mut header = String::new();
        if !carried.is_empty() {
            header.push_str(&format!("{results}:{} = ", carried.len()));
        }
        header.push_str(&format!("scf.for {iv} = {} to {} step {}", range.start, range.end, range.step));
        if !carried.is_empty() {
            let inits: Vec<String> = args.iter().zip(&carried).map(|(a, c)| format!("{a} = {}", c.0)).collect();
            header.push_str(&format!(" iter_args({}) -> ({})", inits.join(", "), types.join(", ")));
        }
        header.push_str(" : i64 {");
        self.line(header);
        self.indent += 1;
        let next = body(self, &iv, &args)?;
        if next.len() != carried.len() {
            return Err(self.unsupported(format!("a loop yields {} of {} values", next.len(), carried.len())));
        }
        if !carried.is_empty() {
            self.line(format!("scf.yield {} : {}", next.join(", "), types.join(", ")));
        }
        self.indent -= 1;
        self.line("}".into());
        Ok((0..carried.len()).map(|n| format!("{results}#{n}")).collect())
    }

    /// `for i in 0..n` (an `i64` value) carrying `carried`.
    fn for_n(
        &mut self,
        n: &str,
        carried: Vec<(String, &'static str)>,
        body: impl FnOnce(&mut Self, &str, &[String]) -> Result<Vec<String>, CodegenError>,
    ) -> Result<Vec<String>, CodegenError> {
        let range = Range { start: self.c64(0), end: n.to_string(), step: self.c64(1) };
        self.for_range(&range, carried, body)
    }

    /// `if cond { then } else { otherwise }`, each branch yielding values of `types`.
    fn if_else(
        &mut self,
        cond: &str,
        types: &[&'static str],
        then: impl FnOnce(&mut Self) -> Result<Vec<String>, CodegenError>,
        otherwise: impl FnOnce(&mut Self) -> Result<Vec<String>, CodegenError>,
    ) -> Result<Vec<String>, CodegenError> {
        let results = self.fresh();
        let mut header = String::new();
        if !types.is_empty() {
            header.push_str(&format!("{results}:{} = ", types.len()));
        }
        header.push_str(&format!("scf.if {cond}"));
        if !types.is_empty() {
            header.push_str(&format!(" -> ({})", types.join(", ")));
        }
        header.push_str(" {");
        self.line(header);
        for (n, branch) in
            [Box::new(then) as Box<dyn FnOnce(&mut Self) -> _>, Box::new(otherwise)].into_iter().enumerate()
        {
            if n == 1 {
                self.line("} else {".into());
            }
            self.indent += 1;
            let values = branch(self)?;
            if values.len() != types.len() {
                return Err(self.unsupported(format!("a branch yields {} of {} values", values.len(), types.len())));
            }
            self.line(if types.is_empty() {
                "scf.yield".into()
            } else {
                format!("scf.yield {} : {}", values.join(", "), types.join(", "))
            });
            self.indent -= 1;
        }
        self.line("}".into());
        Ok((0..types.len()).map(|n| format!("{results}#{n}")).collect())
    }

    /// `if cond { then }` without results.
    fn when(
        &mut self,
        cond: &str,
        then: impl FnOnce(&mut Self) -> Result<(), CodegenError>,
    ) -> Result<(), CodegenError> {
        self.if_else(
            cond,
            &[],
            |e| {
                then(e)?;
                Ok(Vec::new())
            },
            |_| Ok(Vec::new()),
        )?;
        Ok(())
    }

    /// `c ? a : b`.
    fn select(&mut self, c: &str, a: &str, b: &str, ty: &str) -> String {
        self.op(format!("arith.select {c}, {a}, {b} : {ty}"))
    }

    /// An `i64` size of a call's geometry, evaluated at the call's batch size.
    fn size(&mut self, a: Affine) -> String {
        self.affine(a)
    }
}

/// The zero of a memory type.
fn zero_of(e: &mut Emitter, ty: &str) -> String {
    match ty {
        "f32" => e.f32_const(0.0),
        "i64" => e.c64(0),
        _ => e.constant(format!("0 : {ty}")),
    }
}
