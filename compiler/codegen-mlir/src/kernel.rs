//! Kernel IR to MLIR: the loop nest of each [`Kernel`] as `scf`, `arith`, `math` and `memref`
//! operations, written as MLIR text that [`crate::cpu`] parses, verifies and lowers.
//!
//! Text, not builders: the generic form of every operation is one line, the result is what
//! `hgc ir --stage mlir` prints and snapshot tests keep, and melior's typed builders miss some
//! of what is needed (`iter_args`, `arith.maximumf`).
//!
//! | kernel IR | MLIR |
//! | --- | --- |
//! | argument `k` | a `memref<?xT>` (booleans `memref<?xi8>`), built from the `KernelFn` pointer table |
//! | `Loop` | `scf.for` over `i64`; the parallel outermost loop runs over `lo..hi` |
//! | `Local` / `Assign` | SSA values: a local assigned inside a loop is an `iter_args` value of that loop |
//! | `Let` | `arith` (and `math.fma`, `math.sqrt`, ...) ops; `exp`, `log`, `tanh`, `sigmoid`, `softplus`, `gelu` inline from [`hg_kernel::fastmath`] |
//! | `Load` / `Store` | `memref.load` / `memref.store` at an index computed in `i64` |
//! | `Random` | inline Philox 4x32-10 (`arith` on `i32`/`i64`), the runtime's canonical stream; normal draws' Box-Muller calls `log` and `cos` (the C library's on the CPU, libdevice's on the GPU) |
//! | `sin`, `cos`, `pow`, f64 math | CPU: `func.call` of the runtime functions of [`hg_exec::kernel_fns`]; GPU: their definitions with libdevice's functions ([`math`]) |
//!
//! Arithmetic is exactly the reference evaluator's, as in the LLVM backend: no fast-math flags,
//! NaN-propagating `maximumf`/`minimumf`, saturating float-to-integer conversions, integer
//! division that cannot trap.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use hg_abi::plan::{Affine, DeviceLib, Quadratic, RandomKind};
use hg_exec::kernel_fns::{self as runtime, CType, RuntimeFn};
use hg_exec::philox;
use hg_kernel::fastmath::{self, Arith};
use hg_kernel::ir::{BinaryOp, Expr, Index, Kernel, Local, Scalar, Stmt, UnaryOp, Val, Var};

use crate::CodegenError;

pub mod lib;
mod math;

/// The exported symbol of kernel `i` (the `hg_abi::plan::KernelFn` ABI), as in the LLVM backend.
pub fn symbol(i: usize) -> String {
    format!("hg_kernel_{i}")
}

/// The memref descriptor of a one-dimensional buffer, as `finalize-memref-to-llvm` lays it out:
/// allocated and aligned pointers, offset, size, stride.
const DESCRIPTOR: &str = "!llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>";

/// The module of `kernels` for the CPU: `func.func @hg_kernel_N(%args: !llvm.ptr, %batch: i64,
/// %lo: i64, %hi: i64)`, each kernel verified first, and the declarations of the runtime
/// functions they call.
pub fn cpu_module(kernels: &[Kernel]) -> Result<String, CodegenError> {
    let mut declarations = BTreeMap::new();
    let mut functions = String::new();
    for (i, kernel) in kernels.iter().enumerate() {
        hg_kernel::verify(kernel)?;
        functions.push_str(&cpu_function(kernel, &symbol(i), &mut declarations)?);
    }
    let mut text = String::from("module {\n");
    for declaration in declarations.values() {
        text.push_str(declaration);
    }
    text.push_str(&functions);
    text.push_str("}\n");
    Ok(text)
}

/// One kernel as a function with the `KernelFn` ABI: the argument pointers are read from the
/// table `%args` and wrapped as memrefs of their declared lengths.
fn cpu_function(
    kernel: &Kernel,
    name: &str,
    declarations: &mut BTreeMap<&'static str, String>,
) -> Result<String, CodegenError> {
    cpu_function_with(kernel, name, declarations, |e, range| match (kernel.parallel, kernel.body.as_slice()) {
        (true, [Stmt::Loop { var, body, .. }]) => e.emit_loop_by(*var, range.start, range.end, range.step, body),
        _ => e.block(&kernel.body),
    })
}

/// The iterations of a function's parallel work this thread runs: `start..end` by `step`.
struct Range {
    start: String,
    end: String,
    step: String,
}

/// A function with the `KernelFn` ABI for `kernel`'s arguments whose body `body` emits; on the
/// CPU a caller's `lo..hi` is the whole range, one step at a time.
fn cpu_function_with(
    kernel: &Kernel,
    name: &str,
    declarations: &mut BTreeMap<&'static str, String>,
    body: impl FnOnce(&mut Emitter, Range) -> Result<(), CodegenError>,
) -> Result<String, CodegenError> {
    let mut e = Emitter::new(kernel, declarations);
    e.indent = 2;
    let mut buffers = Vec::with_capacity(kernel.args.len());
    for (k, arg) in kernel.args.iter().enumerate() {
        let slot = e.fresh();
        e.line(format!("{slot} = llvm.getelementptr %args[{k}] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr"));
        let pointer = e.fresh();
        e.line(format!("{pointer} = llvm.load {slot} : !llvm.ptr -> !llvm.ptr"));
        let len = e.quadratic(arg.len);
        let (zero, one) = (e.i64_const(0), e.i64_const(1));
        let mut descriptor = e.fresh();
        e.line(format!("{descriptor} = llvm.mlir.poison : {DESCRIPTOR}"));
        for (value, position) in [(&pointer, "0"), (&pointer, "1"), (&zero, "2"), (&len, "3, 0"), (&one, "4, 0")] {
            let next = e.fresh();
            e.line(format!("{next} = llvm.insertvalue {value}, {descriptor}[{position}] : {DESCRIPTOR}"));
            descriptor = next;
        }
        let memref = format!("%arg{k}");
        e.line(format!(
            "{memref} = builtin.unrealized_conversion_cast {descriptor} : {DESCRIPTOR} to {}",
            memref_type(arg.ty)
        ));
        buffers.push(memref);
    }
    e.buffers = buffers;
    let step = e.i64_const(1);
    body(&mut e, Range { start: "%lo".into(), end: "%hi".into(), step })?;
    e.line("return".into());
    Ok(format!(
        "  // {}\n  func.func @{name}(%args: !llvm.ptr, %batch: i64, %lo: i64, %hi: i64) {{\n{}{}  }}\n",
        kernel.name,
        e.prelude.iter().map(|l| format!("    {l}\n")).collect::<String>(),
        e.out
    ))
}

/// The name of the `gpu.module` holding every kernel of a program.
pub const GPU_MODULE: &str = "hg_kernels";

/// The module of `kernels` for NVIDIA GPUs, before lowering: one `gpu.func @hg_kernel_N(%arg0:
/// memref<?xT>, ..., %batch: i64, %lo: i64, %hi: i64) kernel` per kernel (after lowering each
/// memref is five parameters: allocated and aligned pointers, offset, size, stride). The
/// iterations `lo..hi` of a parallel kernel's outermost loop are spread over every thread of
/// the grid (thread `g` runs `lo + g`, `lo + g + threads`, ...); a kernel that is not parallel
/// runs on the grid's first thread. The math functions the CPU takes from the runtime (normal
/// draws, `sin`, `cos`, `pow`, f64 math) are libdevice's (`__nv_*`, declared in the module);
/// with `libdevice` false, kernels that need one are refused.
pub fn gpu_module(kernels: &[Kernel], libdevice: bool) -> Result<String, CodegenError> {
    let program = gpu_program(kernels, &[], libdevice)?;
    match program.refused.into_iter().next() {
        Some((_, error)) => Err(error),
        None => Ok(program.text),
    }
}

/// The GPU module of a program's kernels and library calls that have a GPU form, and those that
/// have none, with why.
#[derive(Debug)]
pub struct GpuProgram {
    pub text: String,
    /// The symbols of the kernels left out (`hg_kernel_N`, `hg_lib_N`), with the reason
    /// (`CodegenError::Unsupported`).
    pub refused: Vec<(String, CodegenError)>,
}

/// [`gpu_module`] of the kernels of a program that have a GPU form, and the kernels of its
/// device library calls `libs` (`hg_lib_N`, [`lib`]); the others are listed in
/// [`GpuProgram::refused`]. A kernel that does not verify is an error.
pub fn gpu_program(kernels: &[Kernel], libs: &[DeviceLib], libdevice: bool) -> Result<GpuProgram, CodegenError> {
    let mut declarations = BTreeMap::new();
    let mut functions = String::new();
    let mut refused = Vec::new();
    for (i, kernel) in kernels.iter().enumerate() {
        hg_kernel::verify(kernel)?;
        match gpu_function(kernel, &symbol(i), libdevice, &mut declarations) {
            Ok(function) => functions.push_str(&function),
            Err(error @ CodegenError::Unsupported(_)) => refused.push((symbol(i), error)),
            Err(error) => return Err(error),
        }
    }
    for (i, call) in libs.iter().enumerate() {
        let name = DeviceLib::symbol(i);
        match lib::gpu_lib_function(call, &name, &mut declarations) {
            Ok(function) => functions.push_str(&function),
            Err(error @ CodegenError::Unsupported(_)) => refused.push((name, error)),
            Err(error) => return Err(error),
        }
    }
    let mut text = format!("module attributes {{gpu.container_module}} {{\n  gpu.module @{GPU_MODULE} {{\n");
    for declaration in declarations.values() {
        text.push_str(declaration);
    }
    text.push_str(&functions);
    text.push_str("  }\n}\n");
    Ok(GpuProgram { text, refused })
}

fn gpu_function(
    kernel: &Kernel,
    name: &str,
    libdevice: bool,
    declarations: &mut BTreeMap<&'static str, String>,
) -> Result<String, CodegenError> {
    gpu_function_with(kernel, name, libdevice, declarations, |e, range| {
        match (kernel.parallel, kernel.body.as_slice()) {
            (true, [Stmt::Loop { var, body, .. }]) => e.emit_loop_by(*var, range.start, range.end, range.step, body),
            _ => {
                // Not parallel: the grid's first thread runs it all.
                let is_first = e.op(format!("arith.cmpi eq, {}, %lo : i64", range.start));
                e.line(format!("scf.if {is_first} {{"));
                e.indent += 1;
                e.block(&kernel.body)?;
                e.indent -= 1;
                e.line("}".into());
                Ok(())
            }
        }
    })
}

/// A `gpu.func` kernel for `kernel`'s arguments whose body `body` emits: thread `g` of the
/// grid runs iterations `lo + g`, `lo + g + threads`, ... of `lo..hi`. Declarations the body
/// adds are kept only when it succeeds.
fn gpu_function_with(
    kernel: &Kernel,
    name: &str,
    libdevice: bool,
    declarations: &mut BTreeMap<&'static str, String>,
    body: impl FnOnce(&mut Emitter, Range) -> Result<(), CodegenError>,
) -> Result<String, CodegenError> {
    // A refused kernel must leave no declarations behind: its own are merged once it is done.
    let mut own = BTreeMap::new();
    let mut e = Emitter::new(kernel, &mut own);
    e.gpu = true;
    e.libdevice = libdevice;
    e.indent = 3;
    e.buffers = (0..kernel.args.len()).map(|k| format!("%arg{k}")).collect();
    let thread = e.op("gpu.thread_id x".into());
    let block = e.op("gpu.block_id x".into());
    let block_dim = e.op("gpu.block_dim x".into());
    let grid_dim = e.op("gpu.grid_dim x".into());
    let first = e.op(format!("arith.muli {block}, {block_dim} : index"));
    let global = e.op(format!("arith.addi {first}, {thread} : index"));
    let global = e.op(format!("arith.index_cast {global} : index to i64"));
    let start = e.op(format!("arith.addi %lo, {global} : i64"));
    let threads = e.op(format!("arith.muli {grid_dim}, {block_dim} : index"));
    let step = e.op(format!("arith.index_cast {threads} : index to i64"));
    body(&mut e, Range { start, end: "%hi".into(), step })?;
    e.line("gpu.return".into());
    let params: Vec<String> =
        kernel.args.iter().enumerate().map(|(k, a)| format!("%arg{k}: {}", memref_type(a.ty))).collect();
    let prelude: String = e.prelude.iter().map(|l| format!("      {l}\n")).collect();
    let text = format!(
        "    // {}\n    gpu.func @{name}({}, %batch: i64, %lo: i64, %hi: i64) kernel {{\n{prelude}{}    }}\n",
        kernel.name,
        params.join(", "),
        e.out
    );
    declarations.extend(own);
    Ok(text)
}

/// The MLIR type of a scalar in registers (booleans are `i1`).
fn register_type(ty: Scalar) -> &'static str {
    match ty {
        Scalar::F32 => "f32",
        Scalar::F64 => "f64",
        Scalar::I64 => "i64",
        Scalar::Bool => "i1",
    }
}

/// The MLIR type of a scalar in memory (booleans are one byte).
fn memory_type(ty: Scalar) -> &'static str {
    match ty {
        Scalar::Bool => "i8",
        ty => register_type(ty),
    }
}

fn memref_type(ty: Scalar) -> String {
    format!("memref<?x{}>", memory_type(ty))
}

fn c_type(t: CType) -> &'static str {
    match t {
        CType::F32 => "f32",
        CType::F64 => "f64",
        CType::I32 => "i32",
        CType::I64 => "i64",
    }
}

/// An exact MLIR literal of an f32 (its bit pattern: NaNs, infinities and -0 included).
fn f32_literal(x: f32) -> String {
    format!("0x{:08X}", x.to_bits())
}

fn f64_literal(x: f64) -> String {
    format!("0x{:016X}", x.to_bits())
}

/// Every local a statement list assigns, at any depth.
fn assigned(stmts: &[Stmt], into: &mut Vec<Local>) {
    for s in stmts {
        match s {
            Stmt::Assign { local, .. } if !into.contains(local) => into.push(*local),
            Stmt::Loop { body, .. } => assigned(body, into),
            _ => {}
        }
    }
}

/// The state of one kernel's emission: the text so far and the SSA name of every value,
/// loop variable and (current value of every) local.
struct Emitter<'a> {
    kernel: &'a Kernel,
    declarations: &'a mut BTreeMap<&'static str, String>,
    /// Emitting a GPU kernel: no runtime functions to call.
    gpu: bool,
    /// On the GPU: libdevice is linked, so its math functions may be called.
    libdevice: bool,
    out: String,
    /// Constants, defined once at the top of the function (text `value : type` to name).
    constants: BTreeMap<String, String>,
    prelude: Vec<String>,
    indent: usize,
    next: u32,
    buffers: Vec<String>,
    vals: HashMap<Val, (String, Scalar)>,
    vars: HashMap<Var, String>,
    locals: HashMap<Local, (String, Scalar)>,
}

impl<'a> Emitter<'a> {
    fn new(kernel: &'a Kernel, declarations: &'a mut BTreeMap<&'static str, String>) -> Emitter<'a> {
        Emitter {
            kernel,
            declarations,
            gpu: false,
            libdevice: false,
            out: String::new(),
            constants: BTreeMap::new(),
            prelude: Vec::new(),
            indent: 0,
            next: 0,
            buffers: Vec::new(),
            vals: HashMap::new(),
            vars: HashMap::new(),
            locals: HashMap::new(),
        }
    }

    fn unsupported(&self, message: String) -> CodegenError {
        CodegenError::Unsupported(format!("kernel `{}`: {message}", self.kernel.name))
    }

    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("%t{}", self.next)
    }

    fn line(&mut self, text: String) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        self.out.push_str(&text);
        self.out.push('\n');
    }

    /// `dst = text` for a fresh `dst`.
    fn op(&mut self, text: String) -> String {
        let dst = self.fresh();
        self.line(format!("{dst} = {text}"));
        dst
    }

    /// The constant `literal` (`1 : i64`, `true`), defined once per function at its top.
    fn constant(&mut self, literal: String) -> String {
        if let Some(name) = self.constants.get(&literal) {
            return name.clone();
        }
        let name = self.fresh();
        self.prelude.push(format!("{name} = arith.constant {literal}"));
        self.constants.insert(literal, name.clone());
        name
    }

    fn i64_const(&mut self, x: i64) -> String {
        self.constant(format!("{x} : i64"))
    }

    fn affine(&mut self, a: Affine) -> String {
        if a.b == 0 {
            return self.i64_const(a.c);
        }
        let scaled = if a.b == 1 {
            "%batch".to_string()
        } else {
            let k = self.i64_const(a.b);
            self.op(format!("arith.muli %batch, {k} overflow<nsw> : i64"))
        };
        if a.c == 0 {
            scaled
        } else {
            let c = self.i64_const(a.c);
            self.op(format!("arith.addi {scaled}, {c} overflow<nsw> : i64"))
        }
    }

    /// `q*B² + b*B + c`: an argument's length (a `[B, B]` buffer's is quadratic).
    fn quadratic(&mut self, a: Quadratic) -> String {
        let linear = self.affine(Affine { b: a.b, c: a.c });
        if a.q == 0 {
            return linear;
        }
        let qb = self.affine(Affine::batch(a.q));
        let square = self.op(format!("arith.muli {qb}, %batch overflow<nsw> : i64"));
        if a.b == 0 && a.c == 0 {
            square
        } else {
            self.op(format!("arith.addi {square}, {linear} overflow<nsw> : i64"))
        }
    }

    /// The `index` of an access (proved in bounds by `hg_kernel::verify`).
    fn index(&mut self, index: &Index) -> Result<String, CodegenError> {
        let mut at = (index.offset != Affine::ZERO).then(|| self.affine(index.offset));
        for &(var, stride) in &index.terms {
            if stride == Affine::ZERO {
                continue;
            }
            let i = self.vars.get(&var).cloned().ok_or_else(|| self.unsupported(format!("i{} is not bound", var.0)))?;
            let term = if stride == Affine::ONE {
                i
            } else {
                let s = self.affine(stride);
                self.op(format!("arith.muli {i}, {s} overflow<nsw> : i64"))
            };
            at = Some(match at {
                Some(at) => self.op(format!("arith.addi {at}, {term} overflow<nsw> : i64")),
                None => term,
            });
        }
        let at = at.unwrap_or_else(|| self.i64_const(0));
        Ok(self.op(format!("arith.index_cast {at} : i64 to index")))
    }

    fn buffer(&self, arg: u32) -> Result<(String, Scalar), CodegenError> {
        let ty = self.kernel.args.get(arg as usize).map(|a| a.ty);
        match (self.buffers.get(arg as usize), ty) {
            (Some(name), Some(ty)) => Ok((name.clone(), ty)),
            _ => Err(self.unsupported(format!("there is no argument {arg}"))),
        }
    }

    fn val(&self, v: Val) -> Result<(String, Scalar), CodegenError> {
        self.vals.get(&v).cloned().ok_or_else(|| self.unsupported(format!("%{} is not defined", v.0)))
    }

    fn block(&mut self, stmts: &[Stmt]) -> Result<(), CodegenError> {
        stmts.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<(), CodegenError> {
        match stmt {
            Stmt::Loop { var, extent, body } => {
                let start = self.i64_const(0);
                let end = self.affine(*extent);
                self.emit_loop(*var, start, end, body)
            }
            Stmt::Let { dst, ty, expr } => {
                let v = self.expr(*ty, expr)?;
                self.vals.insert(*dst, (v, *ty));
                Ok(())
            }
            Stmt::Store { arg, index, value } => {
                let (v, ty) = self.val(*value)?;
                let v = match ty {
                    Scalar::Bool => self.op(format!("arith.extui {v} : i1 to i8")),
                    _ => v,
                };
                let at = self.index(index)?;
                let (memref, arg_ty) = self.buffer(*arg)?;
                self.line(format!("memref.store {v}, {memref}[{at}] : {}", memref_type(arg_ty)));
                Ok(())
            }
            Stmt::Local { local, ty, init } => {
                let (v, _) = self.val(*init)?;
                self.locals.insert(*local, (v, *ty));
                Ok(())
            }
            Stmt::Assign { local, value } => {
                let (v, _) = self.val(*value)?;
                let slot = self.locals.get_mut(local).ok_or_else(|| {
                    CodegenError::Unsupported(format!("kernel `{}`: l{} is not declared", self.kernel.name, local.0))
                })?;
                slot.0 = v;
                Ok(())
            }
        }
    }

    /// `for var in start..end { body }` as an `scf.for` whose `iter_args` are the locals
    /// declared outside the loop that its body assigns; after the loop they hold its results.
    fn emit_loop(&mut self, var: Var, start: String, end: String, body: &[Stmt]) -> Result<(), CodegenError> {
        let step = self.i64_const(1);
        self.emit_loop_by(var, start, end, step, body)
    }

    /// [`Emitter::emit_loop`] with the step `step`.
    fn emit_loop_by(
        &mut self,
        var: Var,
        start: String,
        end: String,
        step: String,
        body: &[Stmt],
    ) -> Result<(), CodegenError> {
        let mut carried = Vec::new();
        assigned(body, &mut carried);
        carried.retain(|l| self.locals.contains_key(l));
        let results = self.fresh();
        let iv = format!("%i{}_{}", var.0, self.next);
        let mut header = String::new();
        if !carried.is_empty() {
            let _ = write!(header, "{results}:{} = ", carried.len());
        }
        let _ = write!(header, "scf.for {iv} = {start} to {end} step {step}");
        let outer_locals = self.locals.clone();
        let outer_vals = self.vals.clone();
        let mut types = Vec::new();
        if !carried.is_empty() {
            // The iteration arguments of `%tN` are `%cN_0`, `%cN_1`, ...
            let mut inits = Vec::new();
            for (n, l) in carried.iter().enumerate() {
                let (v, ty) = outer_locals[l].clone();
                let inner = format!("%c{}_{n}", &results[2..]);
                inits.push(format!("{inner} = {v}"));
                types.push(register_type(ty));
                self.locals.insert(*l, (inner, ty));
            }
            let _ = write!(header, " iter_args({}) -> ({})", inits.join(", "), types.join(", "));
        }
        header.push_str(" : i64 {");
        self.line(header);
        self.indent += 1;
        self.vars.insert(var, iv);
        self.block(body)?;
        self.vars.remove(&var);
        if !carried.is_empty() {
            let yielded: Vec<String> = carried.iter().map(|l| self.locals[l].0.clone()).collect();
            self.line(format!("scf.yield {} : {}", yielded.join(", "), types.join(", ")));
        }
        self.indent -= 1;
        self.line("}".into());
        // Locals and values of the body go out of scope; the carried locals hold the results.
        self.locals = outer_locals;
        self.vals = outer_vals;
        for (n, l) in carried.iter().enumerate() {
            if let Some(slot) = self.locals.get_mut(l) {
                slot.0 = format!("{results}#{n}");
            }
        }
        Ok(())
    }

    /// A call of runtime function `f`, declared once per module; on the GPU, where the runtime
    /// does not exist, an error naming the function.
    fn call(&mut self, f: RuntimeFn, args: &[String]) -> Result<String, CodegenError> {
        if self.gpu {
            return Err(self.unsupported(format!("`{}` has no GPU form yet", f.name)));
        }
        let params: Vec<&str> = f.params.iter().map(|&t| c_type(t)).collect();
        let signature = format!("({}) -> {}", params.join(", "), c_type(f.result));
        self.declarations.entry(f.name).or_insert_with(|| format!("  func.func private @{}{signature}\n", f.name));
        Ok(self.op(format!("func.call @{}({}) : {signature}", f.name, args.join(", "))))
    }

    /// A correctly rounded function of IEEE 754: `math` on the CPU; on the GPU, where the
    /// NVVM conversion would turn those ops into libdevice calls, the PTX instruction itself
    /// (inline assembly) or, for the absolute value, the sign bit cleared.
    fn exact(&mut self, f: Exact, x: String, ty: Scalar) -> String {
        let t = register_type(ty);
        if !self.gpu {
            return self.op(format!("math.{} {x} : {t}", f.math_op()));
        }
        let (int, mask) = if ty == Scalar::F64 { ("i64", i64::MAX) } else { ("i32", i64::from(i32::MAX)) };
        if f == Exact::Abs {
            let bits = self.op(format!("arith.bitcast {x} : {t} to {int}"));
            let mask = self.constant(format!("{mask} : {int}"));
            let cleared = self.op(format!("arith.andi {bits}, {mask} : {int}"));
            return self.op(format!("arith.bitcast {cleared} : {int} to {t}"));
        }
        let (register, suffix) = if ty == Scalar::F64 { ("d", "f64") } else { ("f", "f32") };
        let instruction = match f {
            Exact::Sqrt => format!("sqrt.rn.{suffix}"),
            Exact::Floor => format!("cvt.rmi.{suffix}.{suffix}"),
            _ => format!("cvt.rni.{suffix}.{suffix}"),
        };
        self.op(format!("llvm.inline_asm \"{instruction} $0, $1;\", \"={register},{register}\" {x} : ({t}) -> {t}"))
    }

    fn f32_const(&mut self, x: f32) -> String {
        self.constant(format!("{} : f32", f32_literal(x)))
    }

    fn float_const(&mut self, ty: Scalar, x: f64) -> String {
        match ty {
            Scalar::F32 => self.f32_const(x as f32),
            _ => self.constant(format!("{} : f64", f64_literal(x))),
        }
    }

    fn expr(&mut self, ty: Scalar, expr: &Expr) -> Result<String, CodegenError> {
        Ok(match expr {
            Expr::Const(ty, x) => match ty {
                Scalar::F32 | Scalar::F64 => self.float_const(*ty, *x),
                Scalar::I64 => self.i64_const(*x as i64),
                Scalar::Bool => self.constant((*x != 0.0).to_string()),
            },
            Expr::Load { arg, index } => {
                let at = self.index(index)?;
                let (memref, arg_ty) = self.buffer(*arg)?;
                let v = self.op(format!("memref.load {memref}[{at}] : {}", memref_type(arg_ty)));
                match ty {
                    Scalar::Bool => {
                        let zero = self.constant("0 : i8".into());
                        self.op(format!("arith.cmpi ne, {v}, {zero} : i8"))
                    }
                    _ => v,
                }
            }
            Expr::Get(l) => self
                .locals
                .get(l)
                .map(|s| s.0.clone())
                .ok_or_else(|| self.unsupported(format!("l{} is not declared", l.0)))?,
            Expr::Var(v) => {
                self.vars.get(v).cloned().ok_or_else(|| self.unsupported(format!("i{} is not bound", v.0)))?
            }
            Expr::Batch => "%batch".to_string(),
            Expr::Unary(op, a) => {
                let (x, t) = self.val(*a)?;
                self.unary(*op, x, t)?
            }
            Expr::Binary(op, a, b) => {
                let (x, t) = self.val(*a)?;
                let (y, _) = self.val(*b)?;
                self.binary(*op, x, y, t)?
            }
            Expr::Select(c, a, b) => {
                let (c, _) = self.val(*c)?;
                let (x, t) = self.val(*a)?;
                let (y, _) = self.val(*b)?;
                self.op(format!("arith.select {c}, {x}, {y} : {}", register_type(t)))
            }
            Expr::Cast(to, a) => {
                let (x, from) = self.val(*a)?;
                self.cast(x, from, *to)?
            }
            Expr::Random { kind, site, seed, step, counter } => {
                let (seed, _) = self.val(*seed)?;
                let (step, _) = self.val(*step)?;
                let (counter, _) = self.val(*counter)?;
                match *kind {
                    RandomKind::Uniform { lo, hi } => {
                        let u = self.uniform01(*site, &seed, &step, &counter);
                        // `lo + (hi - lo) * u` in f64, as `hg_exec::philox`.
                        let width = self.float_const(Scalar::F64, hi - lo);
                        let lo = self.float_const(Scalar::F64, lo);
                        let scaled = self.op(format!("arith.mulf {width}, {u} : f64"));
                        let x = self.op(format!("arith.addf {lo}, {scaled} : f64"));
                        self.op(format!("arith.truncf {x} : f64 to f32"))
                    }
                    RandomKind::Bernoulli { p } => {
                        let u = self.uniform01(*site, &seed, &step, &counter);
                        let p = self.float_const(Scalar::F64, p);
                        let hit = self.op(format!("arith.cmpf olt, {u}, {p} : f64"));
                        let (one, zero) = (self.f32_const(1.0), self.f32_const(0.0));
                        self.op(format!("arith.select {hit}, {one}, {zero} : f32"))
                    }
                    // Box-Muller with the C library's (CPU) or libdevice's (GPU) `log`, `cos`.
                    RandomKind::Normal => self.normal(*site, &seed, &step, &counter)?,
                }
            }
        })
    }

    /// `uniform01(counter)` of draw site `{seed, step, site}` in f64, inline: the Philox
    /// 4x32-10 block of element `counter` (`hg_exec::philox`'s canonical stream), its word
    /// `counter % 4`, and `(bits >> 8) * 2^-24`.
    fn uniform01(&mut self, site: u32, seed: &str, step: &str, counter: &str) -> String {
        let two = self.i64_const(2);
        let three = self.i64_const(3);
        let block = self.op(format!("arith.shrui {counter}, {two} : i64"));
        let lane = self.op(format!("arith.andi {counter}, {three} : i64"));
        let c = self.philox_block(site, seed, step, &block);
        // The word of this element: lane 3, 2, 1 or 0.
        let mut word = c[3].clone();
        for n in (0..3).rev() {
            let at = self.i64_const(n as i64);
            let here = self.op(format!("arith.cmpi eq, {lane}, {at} : i64"));
            word = self.op(format!("arith.select {here}, {}, {word} : i32", c[n]));
        }
        let eight = self.constant("8 : i32".into());
        let top = self.op(format!("arith.shrui {word}, {eight} : i32"));
        let top = self.op(format!("arith.uitofp {top} : i32 to f64"));
        let unit = self.float_const(Scalar::F64, 1.0 / f64::from(1u32 << 24));
        self.op(format!("arith.mulf {top}, {unit} : f64"))
    }

    /// The four words of Philox 4x32-10 block `block` (i64) of draw site `{seed, step, site}`:
    /// counter `(block, block >> 32, site, step)`, key `(seed, seed >> 32)`, as
    /// `hg_exec::philox::DrawSite::block`.
    fn philox_block(&mut self, site: u32, seed: &str, step: &str, block: &str) -> [String; 4] {
        let thirty_two = self.i64_const(32);
        let block_hi = self.op(format!("arith.shrui {block}, {thirty_two} : i64"));
        let seed_hi = self.op(format!("arith.shrui {seed}, {thirty_two} : i64"));
        let low32 = |e: &mut Self, x: &str| e.op(format!("arith.trunci {x} : i64 to i32"));
        let mut c = [
            low32(self, block),
            low32(self, &block_hi),
            self.constant(format!("{} : i32", site as i32)),
            low32(self, step),
        ];
        let mut k = [low32(self, seed), low32(self, &seed_hi)];
        let multipliers = [philox::M0, philox::M1].map(|m| self.i64_const(i64::from(m)));
        let increments = [philox::W0, philox::W1].map(|w| self.constant(format!("{} : i32", w as i32)));
        for round in 0..10 {
            if round > 0 {
                for n in 0..2 {
                    k[n] = self.op(format!("arith.addi {}, {} : i32", k[n], increments[n]));
                }
            }
            let mut halves = Vec::new();
            for (word, m) in [(&c[0], &multipliers[0]), (&c[2], &multipliers[1])] {
                let wide = self.op(format!("arith.extui {word} : i32 to i64"));
                let product = self.op(format!("arith.muli {wide}, {m} : i64"));
                let high = self.op(format!("arith.shrui {product}, {thirty_two} : i64"));
                halves.push((low32(self, &high), low32(self, &product)));
            }
            let [(hi0, lo0), (hi1, lo1)] = [halves[0].clone(), halves[1].clone()];
            let x0 = self.op(format!("arith.xori {hi1}, {} : i32", c[1]));
            let x0 = self.op(format!("arith.xori {x0}, {} : i32", k[0]));
            let x2 = self.op(format!("arith.xori {hi0}, {} : i32", c[3]));
            let x2 = self.op(format!("arith.xori {x2}, {} : i32", k[1]));
            c = [x0, lo1, x2, lo0];
        }
        c
    }

    fn unary(&mut self, op: UnaryOp, x: String, ty: Scalar) -> Result<String, CodegenError> {
        let t = register_type(ty);
        Ok(match ty {
            Scalar::F32 | Scalar::F64 => match op {
                UnaryOp::Neg => self.op(format!("arith.negf {x} : {t}")),
                UnaryOp::Sqrt => self.exact(Exact::Sqrt, x, ty),
                UnaryOp::Abs => self.exact(Exact::Abs, x, ty),
                UnaryOp::Floor => self.exact(Exact::Floor, x, ty),
                UnaryOp::Round => self.exact(Exact::RoundEven, x, ty),
                UnaryOp::Relu if ty == Scalar::F32 => {
                    // `x > 0 or NaN ? x : +0`: NaN stays NaN and -0 becomes +0.
                    let zero = self.f32_const(0.0);
                    let keep = self.op(format!("arith.cmpf ugt, {x}, {zero} : f32"));
                    self.op(format!("arith.select {keep}, {x}, {zero} : f32"))
                }
                UnaryOp::Rsqrt if ty == Scalar::F32 => {
                    // `1 / sqrt(x)` in f64, rounded once to f32.
                    let wide = self.op(format!("arith.extf {x} : f32 to f64"));
                    let root = self.exact(Exact::Sqrt, wide, Scalar::F64);
                    let one = self.float_const(Scalar::F64, 1.0);
                    let r = self.op(format!("arith.divf {one}, {root} : f64"));
                    self.op(format!("arith.truncf {r} : f64 to f32"))
                }
                UnaryOp::Sign if ty == Scalar::F32 => {
                    // ±0 and NaN are their own sign.
                    let zero = self.f32_const(0.0);
                    let gt = self.op(format!("arith.cmpf ogt, {x}, {zero} : f32"));
                    let lt = self.op(format!("arith.cmpf olt, {x}, {zero} : f32"));
                    let minus = self.f32_const(-1.0);
                    let plus = self.f32_const(1.0);
                    let neg = self.op(format!("arith.select {lt}, {minus}, {x} : f32"));
                    self.op(format!("arith.select {gt}, {plus}, {neg} : f32"))
                }
                op if ty == Scalar::F32 && fastmath::approximates(op) => {
                    let mut text = Text { e: self, names: vec![x] };
                    let r = fastmath::unary(&mut text, op, Name(0));
                    let names = text.names;
                    r.map(|n| names[n.0].clone())
                        .ok_or_else(|| self.unsupported(format!("inline f32 `{}`", op.name())))?
                }
                op if ty == Scalar::F32 && self.gpu => self.gpu_unary_f32(op, x)?,
                op if ty == Scalar::F32 => match runtime::unary(op) {
                    Some(f) => self.call(f, &[x])?,
                    None => return Err(self.unsupported(format!("{} of an f32", op.name()))),
                },
                UnaryOp::Not => return Err(self.unsupported("not of an f64".into())),
                op if self.gpu => self.gpu_unary_f64(op, x)?,
                op => {
                    let code = self.constant(format!("{} : i32", runtime::unary_code(op)));
                    self.call(runtime::unary_f64_fn(), &[code, x])?
                }
            },
            Scalar::I64 => match op {
                UnaryOp::Neg => {
                    let zero = self.i64_const(0);
                    self.op(format!("arith.subi {zero}, {x} : i64"))
                }
                UnaryOp::Abs => self.op(format!("math.absi {x} : i64")),
                UnaryOp::Sign => {
                    let (minus, plus) = (self.i64_const(-1), self.i64_const(1));
                    let low = self.op(format!("arith.maxsi {x}, {minus} : i64"));
                    self.op(format!("arith.minsi {low}, {plus} : i64"))
                }
                op => return Err(self.unsupported(format!("{} of an i64", op.name()))),
            },
            Scalar::Bool => match op {
                UnaryOp::Not => {
                    let one = self.constant("true".into());
                    self.op(format!("arith.xori {x}, {one} : i1"))
                }
                op => return Err(self.unsupported(format!("{} of a bool", op.name()))),
            },
        })
    }

    fn binary(&mut self, op: BinaryOp, x: String, y: String, ty: Scalar) -> Result<String, CodegenError> {
        let t = register_type(ty);
        if op.is_comparison() {
            return Ok(match ty {
                Scalar::F32 | Scalar::F64 => self.op(format!("arith.cmpf {}, {x}, {y} : {t}", float_predicate(op))),
                Scalar::I64 | Scalar::Bool => self.op(format!("arith.cmpi {}, {x}, {y} : {t}", int_predicate(op, ty))),
            });
        }
        Ok(match ty {
            Scalar::F32 | Scalar::F64 => match op {
                BinaryOp::Add => self.op(format!("arith.addf {x}, {y} : {t}")),
                BinaryOp::Sub => self.op(format!("arith.subf {x}, {y} : {t}")),
                BinaryOp::Mul => self.op(format!("arith.mulf {x}, {y} : {t}")),
                BinaryOp::Div => self.op(format!("arith.divf {x}, {y} : {t}")),
                BinaryOp::Maximum if ty == Scalar::F32 => self.op(format!("arith.maximumf {x}, {y} : f32")),
                BinaryOp::Minimum if ty == Scalar::F32 => self.op(format!("arith.minimumf {x}, {y} : f32")),
                BinaryOp::Maximum | BinaryOp::Minimum | BinaryOp::Pow if self.gpu => self.gpu_binary(op, x, y, ty)?,
                BinaryOp::Pow if ty == Scalar::F32 => match runtime::binary(op) {
                    Some(f) => self.call(f, &[x, y])?,
                    None => return Err(self.unsupported("pow of f32".into())),
                },
                BinaryOp::Maximum | BinaryOp::Minimum | BinaryOp::Pow => {
                    let code = self.constant(format!("{} : i32", runtime::binary_code(op)));
                    self.call(runtime::binary_f64_fn(), &[code, x, y])?
                }
                op => return Err(self.unsupported(format!("{} of {}", op.name(), ty.name()))),
            },
            Scalar::I64 => match op {
                BinaryOp::Add => self.op(format!("arith.addi {x}, {y} : i64")),
                BinaryOp::Sub => self.op(format!("arith.subi {x}, {y} : i64")),
                BinaryOp::Mul => self.op(format!("arith.muli {x}, {y} : i64")),
                BinaryOp::Maximum => self.op(format!("arith.maxsi {x}, {y} : i64")),
                BinaryOp::Minimum => self.op(format!("arith.minsi {x}, {y} : i64")),
                BinaryOp::Div => {
                    // `divsi` is undefined for a zero divisor and for `MIN / -1`: divide by 1
                    // then, and pick the defined results (0, and the wrapped negation).
                    let (zero, one, minus_one) = (self.i64_const(0), self.i64_const(1), self.i64_const(-1));
                    let is_zero = self.op(format!("arith.cmpi eq, {y}, {zero} : i64"));
                    let is_minus_one = self.op(format!("arith.cmpi eq, {y}, {minus_one} : i64"));
                    let special = self.op(format!("arith.ori {is_zero}, {is_minus_one} : i1"));
                    let divisor = self.op(format!("arith.select {special}, {one}, {y} : i64"));
                    let q = self.op(format!("arith.divsi {x}, {divisor} : i64"));
                    let negated = self.op(format!("arith.subi {zero}, {x} : i64"));
                    let q = self.op(format!("arith.select {is_minus_one}, {negated}, {q} : i64"));
                    self.op(format!("arith.select {is_zero}, {zero}, {q} : i64"))
                }
                op => return Err(self.unsupported(format!("{} of i64", op.name()))),
            },
            Scalar::Bool => match op {
                BinaryOp::And => self.op(format!("arith.andi {x}, {y} : i1")),
                BinaryOp::Or => self.op(format!("arith.ori {x}, {y} : i1")),
                op => return Err(self.unsupported(format!("{} of bool", op.name()))),
            },
        })
    }

    fn cast(&mut self, x: String, from: Scalar, to: Scalar) -> Result<String, CodegenError> {
        Ok(match (from, to) {
            (from, to) if from == to => x,
            (Scalar::F32 | Scalar::F64, Scalar::I64) => {
                // Saturating, NaN to 0 (Rust's `as`): `fptosi` alone is poison out of range.
                let t = register_type(from);
                let low = self.float_const(from, -9_223_372_036_854_775_808.0);
                let high = self.float_const(from, 9_223_372_036_854_775_808.0);
                let (max, zero) = (self.i64_const(i64::MAX), self.i64_const(0));
                let clamped = self.op(format!("arith.maximumf {x}, {low} : {t}"));
                let clamped = self.op(format!("arith.minimumf {clamped}, {high} : {t}"));
                let in_range = self.op(format!("arith.cmpf olt, {clamped}, {high} : {t}"));
                let safe = self.op(format!("arith.select {in_range}, {clamped}, {low} : {t}"));
                let q = self.op(format!("arith.fptosi {safe} : {t} to i64"));
                let q = self.op(format!("arith.select {in_range}, {q}, {max} : i64"));
                let nan = self.op(format!("arith.cmpf uno, {x}, {x} : {t}"));
                self.op(format!("arith.select {nan}, {zero}, {q} : i64"))
            }
            (Scalar::F32 | Scalar::F64, Scalar::Bool) => {
                // `x != 0`, unordered (NaN is true).
                let zero = self.float_const(from, 0.0);
                self.op(format!("arith.cmpf une, {x}, {zero} : {}", register_type(from)))
            }
            (Scalar::I64, Scalar::F32) => {
                // Through f64 as the interpreter: exact below 2^53, then one rounding.
                let wide = self.op(format!("arith.sitofp {x} : i64 to f64"));
                self.op(format!("arith.truncf {wide} : f64 to f32"))
            }
            (Scalar::I64, Scalar::F64) => self.op(format!("arith.sitofp {x} : i64 to f64")),
            (Scalar::I64, Scalar::Bool) => {
                let zero = self.i64_const(0);
                self.op(format!("arith.cmpi ne, {x}, {zero} : i64"))
            }
            (Scalar::Bool, Scalar::F32 | Scalar::F64) => {
                let (one, zero) = (self.float_const(to, 1.0), self.float_const(to, 0.0));
                self.op(format!("arith.select {x}, {one}, {zero} : {}", register_type(to)))
            }
            (Scalar::Bool, Scalar::I64) => self.op(format!("arith.extui {x} : i1 to i64")),
            (Scalar::F32, Scalar::F64) => self.op(format!("arith.extf {x} : f32 to f64")),
            (Scalar::F64, Scalar::F32) => self.op(format!("arith.truncf {x} : f64 to f32")),
            (from, to) => return Err(self.unsupported(format!("cast from {} to {}", from.name(), to.name()))),
        })
    }
}

/// The correctly rounded functions [`Emitter::exact`] emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exact {
    Sqrt,
    Abs,
    Floor,
    RoundEven,
}

impl Exact {
    fn math_op(self) -> &'static str {
        match self {
            Exact::Sqrt => "sqrt",
            Exact::Abs => "absf",
            Exact::Floor => "floor",
            Exact::RoundEven => "roundeven",
        }
    }
}

/// [`Arith`] as MLIR text on one lane: a value is the index of its SSA name in `names`.
struct Text<'e, 'a> {
    e: &'e mut Emitter<'a>,
    names: Vec<String>,
}

/// An f32, i32 or i1 value of [`Text`]: its index in `Text::names` (`Arith` values are `Copy`).
#[derive(Clone, Copy, Debug)]
struct Name(usize);

impl Text<'_, '_> {
    fn op(&mut self, text: String) -> Name {
        let name = self.e.op(text);
        self.named(name)
    }

    fn n(&self, v: Name) -> &str {
        &self.names[v.0]
    }

    fn float2(&mut self, op: &str, a: Name, b: Name) -> Name {
        let text = format!("{op} {}, {} : f32", self.n(a), self.n(b));
        self.op(text)
    }

    fn int2(&mut self, op: &str, a: Name, b: Name) -> Name {
        let text = format!("{op} {}, {} : i32", self.n(a), self.n(b));
        self.op(text)
    }

    fn compare(&mut self, predicate: &str, a: Name, b: Name) -> Name {
        let text = format!("arith.cmpf {predicate}, {}, {} : f32", self.n(a), self.n(b));
        self.op(text)
    }

    fn shift(&mut self, op: &str, a: Name, n: u32) -> Name {
        let amount = self.e.constant(format!("{n} : i32"));
        let amount = self.named(amount);
        self.int2(op, a, amount)
    }

    fn named(&mut self, name: String) -> Name {
        self.names.push(name);
        Name(self.names.len() - 1)
    }
}

impl Arith for Text<'_, '_> {
    type F = Name;
    type I = Name;
    type M = Name;

    fn f(&mut self, x: f32) -> Name {
        let name = self.e.f32_const(x);
        self.named(name)
    }
    fn i(&mut self, x: i32) -> Name {
        let name = self.e.constant(format!("{x} : i32"));
        self.named(name)
    }
    fn add(&mut self, a: Name, b: Name) -> Name {
        self.float2("arith.addf", a, b)
    }
    fn sub(&mut self, a: Name, b: Name) -> Name {
        self.float2("arith.subf", a, b)
    }
    fn mul(&mut self, a: Name, b: Name) -> Name {
        self.float2("arith.mulf", a, b)
    }
    fn div(&mut self, a: Name, b: Name) -> Name {
        self.float2("arith.divf", a, b)
    }
    fn fma(&mut self, a: Name, b: Name, c: Name) -> Name {
        let text = format!("math.fma {}, {}, {} : f32", self.n(a), self.n(b), self.n(c));
        self.op(text)
    }
    fn neg(&mut self, a: Name) -> Name {
        let text = format!("arith.negf {} : f32", self.n(a));
        self.op(text)
    }
    fn abs(&mut self, a: Name) -> Name {
        let x = self.n(a).to_string();
        let name = self.e.exact(Exact::Abs, x, Scalar::F32);
        self.named(name)
    }
    fn lt(&mut self, a: Name, b: Name) -> Name {
        self.compare("olt", a, b)
    }
    fn gt(&mut self, a: Name, b: Name) -> Name {
        self.compare("ogt", a, b)
    }
    fn ge(&mut self, a: Name, b: Name) -> Name {
        self.compare("oge", a, b)
    }
    fn eq(&mut self, a: Name, b: Name) -> Name {
        self.compare("oeq", a, b)
    }
    fn not_lt(&mut self, a: Name, b: Name) -> Name {
        // Not ordered-less-than: unordered (a NaN) or greater or equal.
        self.compare("uge", a, b)
    }
    fn select(&mut self, m: Name, a: Name, b: Name) -> Name {
        let text = format!("arith.select {}, {}, {} : f32", self.n(m), self.n(a), self.n(b));
        self.op(text)
    }
    fn bitcast_i(&mut self, a: Name) -> Name {
        let text = format!("arith.bitcast {} : f32 to i32", self.n(a));
        self.op(text)
    }
    fn bitcast_f(&mut self, a: Name) -> Name {
        let text = format!("arith.bitcast {} : i32 to f32", self.n(a));
        self.op(text)
    }
    fn iadd(&mut self, a: Name, b: Name) -> Name {
        self.int2("arith.addi", a, b)
    }
    fn isub(&mut self, a: Name, b: Name) -> Name {
        self.int2("arith.subi", a, b)
    }
    fn and(&mut self, a: Name, b: Name) -> Name {
        self.int2("arith.andi", a, b)
    }
    fn or(&mut self, a: Name, b: Name) -> Name {
        self.int2("arith.ori", a, b)
    }
    fn shl(&mut self, a: Name, n: u32) -> Name {
        self.shift("arith.shli", a, n)
    }
    fn sar(&mut self, a: Name, n: u32) -> Name {
        self.shift("arith.shrsi", a, n)
    }
    fn to_float(&mut self, a: Name) -> Name {
        let text = format!("arith.sitofp {} : i32 to f32", self.n(a));
        self.op(text)
    }
}

fn float_predicate(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Eq => "oeq",
        // Unordered or unequal: NaN != anything.
        BinaryOp::Ne => "une",
        BinaryOp::Lt => "olt",
        BinaryOp::Le => "ole",
        BinaryOp::Gt => "ogt",
        _ => "oge",
    }
}

/// Integer comparisons: signed on i64, unsigned on booleans.
fn int_predicate(op: BinaryOp, ty: Scalar) -> &'static str {
    let signed = ty == Scalar::I64;
    match op {
        BinaryOp::Eq => "eq",
        BinaryOp::Ne => "ne",
        BinaryOp::Lt if signed => "slt",
        BinaryOp::Le if signed => "sle",
        BinaryOp::Gt if signed => "sgt",
        BinaryOp::Lt => "ult",
        BinaryOp::Le => "ule",
        BinaryOp::Gt => "ugt",
        _ if signed => "sge",
        _ => "uge",
    }
}
