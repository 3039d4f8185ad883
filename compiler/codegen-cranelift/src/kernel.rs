//! Lowering of kernel IR ([`hg_kernel::ir::Kernel`]) to Cranelift functions with the
//! [`KernelFn`] C ABI, JIT-compiled together into one module.
//!
//! Each kernel becomes `fn(args: *const *mut u8, batch: i64, lo: i64, hi: i64)`:
//!
//! - the entry block loads every argument's base pointer from `args` and computes every size,
//!   stride and offset that depends on `B` once (`b·batch + c`);
//! - a `Loop` is a rotated counted loop (`if start < end { do { body; i += 1 } while i < end }`)
//!   with the counter as a block parameter; a parallel kernel's outermost loop runs `lo..hi`;
//! - a `Let` is one instruction (or a short sequence, an inline approximation of a
//!   transcendental function from [`crate::math`], or a call of a runtime function from
//!   [`crate::runtime`] for the other math Cranelift has no instruction for), a `Local` a
//!   `FunctionBuilder` variable;
//! - a load or store addresses `base + size·offset + Σ var·(size·stride)`, summed from the
//!   outermost loop's variable inwards, so each partial sum is invariant in the inner loops
//!   and Cranelift's mid-end hoists it out of them (its e-graph pass places pure instructions
//!   at the outermost loop level where their operands are available); a constant offset
//!   becomes the instruction's immediate;
//! - booleans are `i8` 0/1 in registers and bytes in memory (a loaded byte is normalised with
//!   `!= 0`).
//!
//! An innermost loop whose body is pure f32 arithmetic gets an `f32x4` copy first and the
//! scalar loop runs the remainder (see [`crate::simd`]).
//!
//! Scalar semantics are `hg_kernel::math`'s (the interpreter's f32 mode), and generated code
//! reproduces them bit for bit (NaN payloads aside): native instructions where they are exact
//! (`fadd`..`fdiv`, `sqrt`, `fabs`, `fneg`, `floor`, `nearest` = round half to even, and
//! `fmin`/`fmax`, whose NaN propagation and `-0 < +0` are IEEE `minimum`/`maximum`), `relu` as
//! `x > 0 or NaN ? x : +0`, `rsqrt` as the interpreter's `1/sqrt` in f64 rounded to f32,
//! `exp`, `log`, `sigmoid`, `tanh`, `softplus` and `gelu` inline as the evaluator's f32
//! approximations (the same instruction sequence, [`crate::math`]), and `sin`, `cos` and `pow`
//! as calls of the very functions the evaluator uses.
//! Casts of NaN or ±inf to i64 saturate (NaN gives 0) in both, as Rust's `as`. Integer division
//! by zero, an error for the evaluator (and the interpreter), cannot be reported by generated
//! code: it gives 0 instead of trapping (and `i64::MIN / -1` wraps).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32, F64, I8, I32, I64};
use cranelift_codegen::ir::{AbiParam, BlockArg, FuncRef, Function, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_module::{FuncId, Linkage, Module};
use hg_abi::plan::{Affine, KernelFn, RandomKind};
use hg_kernel::call::CallSignature;
use hg_kernel::eval::Buffer;
use hg_kernel::ir::{BinaryOp, Expr, Index, Kernel, Local, Scalar, Stmt, UnaryOp, Val, Var};

use crate::CodegenError;
use crate::jit::{JitCode, new_host_module};
use crate::runtime::{self, RuntimeFn};

/// JIT-compiled kernels: one function per kernel, in the order given to [`compile`].
///
/// **Lifetime invariant**: the function pointers point into executable memory owned by this
/// value; they are valid exactly as long as it lives. [`CompiledKernels::functions`] hands
/// them out for executors (which call them through the raw `KernelFn` ABI, possibly from
/// several threads); whoever takes one must keep the `CompiledKernels` alive until its last
/// call. [`CompiledKernels::run`] is the safe way in: it checks the buffers first.
pub struct CompiledKernels {
    functions: Vec<KernelFn>,
    signatures: Vec<CallSignature>,
    clif: Vec<String>,
    vector_loops: Vec<usize>,
    compile_time: Duration,
    // Owns the memory `functions` point into; freed when this value is dropped.
    _code: JitCode,
}

impl std::fmt::Debug for CompiledKernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledKernels")
            .field("kernels", &self.signatures.iter().map(|s| &s.name).collect::<Vec<_>>())
            .field("compile_time", &self.compile_time)
            .finish_non_exhaustive()
    }
}

/// Keeps compiled code alive on behalf of an executor that runs it from any thread.
pub struct CodeOwner(#[allow(dead_code)] CompiledKernels);

// SAFETY: the owner is never used, only kept and eventually dropped; dropping the JIT module
// frees its memory, which does not depend on the thread, and the executor drops it only after
// its last call into the code.
unsafe impl Send for CodeOwner {}

impl CompiledKernels {
    /// The function pointers and an owner that keeps their code alive (`Send`, so an executor
    /// can hold it while its threads call the functions).
    pub fn into_parts(self) -> (Vec<KernelFn>, CodeOwner) {
        (self.functions.clone(), CodeOwner(self))
    }

    /// The entry points, one per kernel (see the lifetime invariant in the type's docs).
    pub fn functions(&self) -> &[KernelFn] {
        &self.functions
    }

    /// Number of kernels.
    pub fn len(&self) -> usize {
        self.functions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// Wall-clock time of [`compile`]: verification, lowering, Cranelift's compilation and
    /// linking.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// The Cranelift IR of kernel `i` as it was handed to Cranelift (before its optimisation),
    /// in Cranelift's text form.
    pub fn clif(&self, i: usize) -> &str {
        &self.clif[i]
    }

    /// How many loops of kernel `i` got an `f32x4` version.
    pub fn vector_loops(&self, i: usize) -> usize {
        self.vector_loops[i]
    }

    /// Runs kernel `i` on `buffers` for batch size `batch` (and iterations `lo..hi` of the
    /// outermost loop of a parallel kernel; ignored otherwise).
    ///
    /// Checks everything generated code relies on, so it cannot touch memory outside the
    /// buffers: one buffer per argument, of its type and at least its length at `batch`,
    /// `batch ≥ 1` (the verifier proved every access in bounds for those), and
    /// `0 ≤ lo ≤ hi ≤ extent` for a parallel kernel. The buffers are distinct (`&mut`), so
    /// arguments do not alias.
    pub fn run(&self, i: usize, buffers: &mut [Buffer], batch: i64, lo: i64, hi: i64) -> Result<(), CodegenError> {
        let sig = self.signatures.get(i).ok_or_else(|| CodegenError::Call(format!("there is no kernel {i}")))?;
        // SAFETY: function `i` is the compiled code of the verified kernel `sig` describes, and
        // `self` keeps it alive.
        unsafe { hg_kernel::call::run_checked(self.functions[i], sig, buffers, batch, lo, hi) }
            .map_err(CodegenError::Call)
    }
}

/// What [`define_kernels`] defined: one function per kernel, with its Cranelift IR text and
/// its number of vector loops.
pub(crate) struct Defined {
    pub(crate) ids: Vec<FuncId>,
    pub(crate) clif: Vec<String>,
    pub(crate) vector_loops: Vec<usize>,
}

/// Verifies `kernels` and defines each in `module` as `hg_kernel_N` with the `KernelFn` ABI,
/// exported when `export` (an object's symbols) and local otherwise (JIT code).
pub(crate) fn define_kernels(
    module: &mut dyn Module,
    kernels: &[Kernel],
    export: bool,
) -> Result<Defined, CodegenError> {
    for k in kernels {
        hg_kernel::verify(k)?;
    }
    let mut imports = HashMap::new();
    let mut ctx = module.make_context();
    let mut builder_ctx = FunctionBuilderContext::new();
    let mut out = Defined { ids: Vec::new(), clif: Vec::new(), vector_loops: Vec::new() };
    let linkage = if export { Linkage::Export } else { Linkage::Local };
    for (i, kernel) in kernels.iter().enumerate() {
        module.clear_context(&mut ctx);
        let ptr = module.target_config().pointer_type();
        ctx.func.signature.params.extend([ptr, I64, I64, I64].map(AbiParam::new));
        let vectorised = build(module, &mut imports, &mut ctx.func, &mut builder_ctx, kernel)?;
        out.clif.push(ctx.func.display().to_string());
        out.vector_loops.push(vectorised);
        let id = module.declare_function(&format!("hg_kernel_{i}"), linkage, &ctx.func.signature)?;
        module.define_function(id, &mut ctx)?;
        out.ids.push(id);
    }
    Ok(out)
}

/// Verifies and JIT-compiles `kernels` into one module for the host CPU.
pub fn compile(kernels: &[Kernel]) -> Result<CompiledKernels, CodegenError> {
    let start = Instant::now();
    let runtime_fns = runtime::all();
    let symbols: Vec<(&'static str, *const u8)> = runtime_fns.iter().map(|f| (f.name, f.address)).collect();
    let mut module = new_host_module(&symbols)?;
    let Defined { ids, clif, vector_loops } = define_kernels(&mut module, kernels, false)?;
    module.finalize_definitions()?;
    let functions = ids
        .iter()
        .map(|&id| {
            let address = module.get_finalized_function(id);
            // SAFETY: `id` was defined with the signature `(ptr, i64, i64, i64)` under the
            // module's default (C) calling convention, which is `KernelFn`.
            unsafe { std::mem::transmute::<*const u8, KernelFn>(address) }
        })
        .collect();
    let signatures = kernels.iter().map(CallSignature::of).collect();
    Ok(CompiledKernels {
        functions,
        signatures,
        clif,
        vector_loops,
        compile_time: start.elapsed(),
        _code: JitCode::new(module),
    })
}

/// Memory flags of scalar accesses: in bounds (verified) and naturally aligned (the ABI passes
/// element-aligned buffers).
pub(crate) fn scalar_flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// `a · k` for a constant `k` (sizes in bytes from sizes in elements).
pub(crate) fn scale(a: Affine, k: i64) -> Affine {
    Affine { b: a.b.wrapping_mul(k), c: a.c.wrapping_mul(k) }
}

/// Fills `func` (whose signature is set) with `kernel`; returns the number of vector loops.
fn build(
    module: &mut dyn Module,
    imports: &mut HashMap<&'static str, FuncId>,
    func: &mut Function,
    builder_ctx: &mut FunctionBuilderContext,
    kernel: &Kernel,
) -> Result<usize, CodegenError> {
    let mut b = FunctionBuilder::new(func, builder_ctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (args_ptr, batch, lo, hi) = (params[0], params[1], params[2], params[3]);
    let ptr_ty = b.func.dfg.value_type(args_ptr);
    let bases = (0..kernel.args.len())
        .map(|i| b.ins().load(ptr_ty, MemFlagsData::trusted().with_readonly(), args_ptr, (8 * i) as i32))
        .collect();
    let mut g = Gen {
        b,
        module,
        imports,
        refs: HashMap::new(),
        kernel,
        bases,
        batch,
        affines: HashMap::new(),
        vals: HashMap::new(),
        vars: HashMap::new(),
        depth: HashMap::new(),
        locals: HashMap::new(),
        vector_loops: 0,
    };
    g.hoist_affines();
    match (kernel.parallel, kernel.body.as_slice()) {
        (true, [Stmt::Loop { var, body, .. }]) => g.emit_loop(*var, lo, hi, body)?,
        _ => g.block(&kernel.body)?,
    }
    g.b.ins().return_(&[]);
    g.b.seal_all_blocks();
    let vector_loops = g.vector_loops;
    let target = g.module.target_config();
    g.b.finalize(target);
    Ok(vector_loops)
}

/// The state of one kernel's lowering.
pub(crate) struct Gen<'a> {
    pub(crate) b: FunctionBuilder<'a>,
    module: &'a mut dyn Module,
    imports: &'a mut HashMap<&'static str, FuncId>,
    refs: HashMap<&'static str, FuncRef>,
    pub(crate) kernel: &'a Kernel,
    /// Base pointer of each argument.
    bases: Vec<Value>,
    batch: Value,
    /// The value of each non-constant affine size, computed in the entry block.
    affines: HashMap<Affine, Value>,
    /// Scalar values and their types.
    pub(crate) vals: HashMap<Val, (Value, Scalar)>,
    /// Loop counters in scope, with their nesting depth.
    pub(crate) vars: HashMap<Var, Value>,
    depth: HashMap<Var, usize>,
    locals: HashMap<Local, (Variable, Scalar)>,
    pub(crate) vector_loops: usize,
}

/// The cranelift type of a scalar in registers.
fn clif_type(ty: Scalar) -> cranelift_codegen::ir::Type {
    match ty {
        Scalar::F32 => F32,
        Scalar::F64 => F64,
        Scalar::I64 => I64,
        Scalar::Bool => I8,
    }
}

/// Per-variable strides of an index (a variable may appear in several terms), without the
/// variables whose stride is zero.
pub(crate) fn combined_strides(index: &Index) -> Vec<(Var, Affine)> {
    let mut out: Vec<(Var, Affine)> = Vec::new();
    for &(var, stride) in &index.terms {
        match out.iter_mut().find(|(v, _)| *v == var) {
            Some((_, s)) => *s = Affine { b: s.b.wrapping_add(stride.b), c: s.c.wrapping_add(stride.c) },
            None => out.push((var, stride)),
        }
    }
    out.retain(|(_, s)| *s != Affine::ZERO);
    out
}

impl Gen<'_> {
    /// Computes every non-constant affine the kernel uses (loop extents, byte offsets and byte
    /// strides) in the entry block, where it dominates every use.
    fn hoist_affines(&mut self) {
        let mut wanted = Vec::new();
        collect_affines(self.kernel, &self.kernel.body, &mut wanted);
        for a in wanted {
            if a.b != 0 && !self.affines.contains_key(&a) {
                let scaled = if a.b == 1 { self.batch } else { self.b.ins().imul_imm_s(self.batch, a.b) };
                let v = if a.c == 0 { scaled } else { self.b.ins().iadd_imm_s(scaled, a.c) };
                self.affines.insert(a, v);
            }
        }
    }

    /// The value of `a` (a constant, or computed in the entry block).
    pub(crate) fn affine(&mut self, a: Affine) -> Value {
        match self.affines.get(&a) {
            Some(&v) => v,
            None => self.b.ins().iconst(I64, a.c),
        }
    }

    /// The address of an access, and the constant byte offset to put in the instruction.
    pub(crate) fn address(&mut self, arg: u32, index: &Index) -> (Value, i32) {
        let size = self.kernel.args[arg as usize].ty.size() as i64;
        let mut addr = self.bases[arg as usize];
        let offset = scale(index.offset, size);
        let mut imm = 0;
        match (offset.b, i32::try_from(offset.c)) {
            (0, Ok(c)) => imm = c,
            _ => {
                let o = self.affine(offset);
                addr = self.b.ins().iadd(addr, o);
            }
        }
        let mut strides = combined_strides(index);
        strides.sort_by_key(|(v, _)| self.depth.get(v).copied().unwrap_or(0));
        for (var, stride) in strides {
            let i = self.vars[&var];
            let stride = scale(stride, size);
            let term = match stride.as_const() {
                Some(c) => self.b.ins().imul_imm_s(i, c),
                None => {
                    let s = self.affine(stride);
                    self.b.ins().imul(i, s)
                }
            };
            addr = self.b.ins().iadd(addr, term);
        }
        (addr, imm)
    }

    fn block(&mut self, stmts: &[Stmt]) -> Result<(), CodegenError> {
        for stmt in stmts {
            self.stmt(stmt)?;
        }
        Ok(())
    }

    pub(crate) fn stmt(&mut self, stmt: &Stmt) -> Result<(), CodegenError> {
        match stmt {
            Stmt::Loop { var, extent, body } => {
                let start = self.b.ins().iconst(I64, 0);
                let end = self.affine(*extent);
                self.emit_loop(*var, start, end, body)
            }
            Stmt::Let { dst, ty, expr } => {
                let v = self.expr(*ty, expr)?;
                self.vals.insert(*dst, (v, *ty));
                Ok(())
            }
            Stmt::Store { arg, index, value } => {
                let (v, _) = self.val(*value)?;
                let (addr, imm) = self.address(*arg, index);
                self.b.ins().store(scalar_flags(), v, addr, imm);
                Ok(())
            }
            Stmt::Local { local, ty, init } => {
                let (v, _) = self.val(*init)?;
                let var = self.b.declare_var(clif_type(*ty));
                self.b.def_var(var, v);
                self.locals.insert(*local, (var, *ty));
                Ok(())
            }
            Stmt::Assign { local, value } => {
                let (v, _) = self.val(*value)?;
                let (var, _) = self.local(*local)?;
                self.b.def_var(var, v);
                Ok(())
            }
        }
    }

    /// `for var in start..end { body }`: an `f32x4` loop first when the body allows it (an
    /// innermost loop of f32 arithmetic, see [`crate::simd`]), then the scalar loop over what is
    /// left.
    pub(crate) fn emit_loop(&mut self, var: Var, start: Value, end: Value, body: &[Stmt]) -> Result<(), CodegenError> {
        self.depth.insert(var, self.depth.len() + 1);
        let mut start = start;
        if let Some(plan) = crate::simd::plan(self, var, body) {
            start = self.vector_loop(var, start, end, body, &plan)?;
            self.vector_loops += 1;
        }
        self.scalar_loop(var, start, end, body)?;
        self.depth.remove(&var);
        Ok(())
    }

    fn scalar_loop(&mut self, var: Var, start: Value, end: Value, body: &[Stmt]) -> Result<(), CodegenError> {
        let body_block = self.b.create_block();
        let exit = self.b.create_block();
        let i = self.b.append_block_param(body_block, I64);
        let enter = self.b.ins().icmp(IntCC::SignedLessThan, start, end);
        self.b.ins().brif(enter, body_block, &[BlockArg::Value(start)], exit, &[]);

        self.b.switch_to_block(body_block);
        self.vars.insert(var, i);
        self.block(body)?;
        self.vars.remove(&var);
        let next = self.b.ins().iadd_imm_s(i, 1);
        let again = self.b.ins().icmp(IntCC::SignedLessThan, next, end);
        self.b.ins().brif(again, body_block, &[BlockArg::Value(next)], exit, &[]);

        self.b.switch_to_block(exit);
        Ok(())
    }

    pub(crate) fn val(&self, v: Val) -> Result<(Value, Scalar), CodegenError> {
        self.vals.get(&v).copied().ok_or_else(|| self.unsupported(format!("v{} is not defined", v.0)))
    }

    fn local(&self, l: Local) -> Result<(Variable, Scalar), CodegenError> {
        self.locals.get(&l).copied().ok_or_else(|| self.unsupported(format!("l{} is not declared", l.0)))
    }

    pub(crate) fn unsupported(&self, message: String) -> CodegenError {
        CodegenError::Unsupported(format!("kernel `{}`: {message}", self.kernel.name))
    }

    /// A call of a runtime function; declares it in the module and the function on first use.
    fn call(&mut self, f: RuntimeFn, args: &[Value]) -> Result<Value, CodegenError> {
        let func_ref = match self.refs.get(f.name) {
            Some(&r) => r,
            None => {
                let id = match self.imports.get(f.name) {
                    Some(&id) => id,
                    None => {
                        let sig = runtime::signature(&f, self.module.make_signature());
                        let id = self.module.declare_function(f.name, Linkage::Import, &sig)?;
                        self.imports.insert(f.name, id);
                        id
                    }
                };
                let r = self.module.declare_func_in_func(id, self.b.func);
                self.refs.insert(f.name, r);
                r
            }
        };
        let inst = self.b.ins().call(func_ref, args);
        Ok(self.b.inst_results(inst)[0])
    }

    fn expr(&mut self, ty: Scalar, expr: &Expr) -> Result<Value, CodegenError> {
        Ok(match expr {
            Expr::Const(ty, x) => match ty {
                Scalar::F32 => self.b.ins().f32const(*x as f32),
                Scalar::F64 => self.b.ins().f64const(*x),
                Scalar::I64 => self.b.ins().iconst(I64, *x as i64),
                Scalar::Bool => self.b.ins().iconst(I8, i64::from(*x != 0.0)),
            },
            Expr::Load { arg, index } => {
                let (addr, imm) = self.address(*arg, index);
                let v = self.b.ins().load(clif_type(ty), scalar_flags(), addr, imm);
                if ty == Scalar::Bool { self.b.ins().icmp_imm_s(IntCC::NotEqual, v, 0) } else { v }
            }
            Expr::Get(l) => {
                let (var, _) = self.local(*l)?;
                self.b.use_var(var)
            }
            Expr::Var(v) => *self.vars.get(v).ok_or_else(|| self.unsupported(format!("i{} is not bound", v.0)))?,
            Expr::Batch => self.batch,
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
                let (x, _) = self.val(*a)?;
                let (y, _) = self.val(*b)?;
                self.b.ins().select(c, x, y)
            }
            Expr::Cast(to, a) => {
                let (x, from) = self.val(*a)?;
                self.cast(x, from, *to)
            }
            Expr::Random { kind, site, seed, step, counter } => {
                let (seed, _) = self.val(*seed)?;
                let (step, _) = self.val(*step)?;
                let (counter, _) = self.val(*counter)?;
                let site = self.b.ins().iconst(I32, i64::from(*site));
                let mut args = vec![seed, step, counter, site];
                match *kind {
                    RandomKind::Normal => {}
                    RandomKind::Uniform { lo, hi } => {
                        args.push(self.b.ins().f64const(lo));
                        args.push(self.b.ins().f64const(hi));
                    }
                    RandomKind::Bernoulli { p } => args.push(self.b.ins().f64const(p)),
                }
                self.call(runtime::random(*kind), &args)?
            }
        })
    }

    fn unary(&mut self, op: UnaryOp, x: Value, ty: Scalar) -> Result<Value, CodegenError> {
        Ok(match (ty, op) {
            (Scalar::F32, UnaryOp::Neg) => self.b.ins().fneg(x),
            (Scalar::F32, UnaryOp::Sqrt) => self.b.ins().sqrt(x),
            (Scalar::F32, UnaryOp::Abs) => self.b.ins().fabs(x),
            (Scalar::F32, UnaryOp::Floor) => self.b.ins().floor(x),
            (Scalar::F32, UnaryOp::Round) => self.b.ins().nearest(x),
            (Scalar::F32, UnaryOp::Relu) => {
                // `x > 0 or NaN ? x : +0`: NaN stays NaN and -0 becomes +0, as the interpreter.
                let zero = self.b.ins().f32const(0.0);
                let keep = self.b.ins().fcmp(FloatCC::UnorderedOrGreaterThan, x, zero);
                self.b.ins().select(keep, x, zero)
            }
            (Scalar::F32, UnaryOp::Rsqrt) => {
                // The interpreter's `1 / sqrt(x)` in f64, rounded once to f32.
                let wide = self.b.ins().fpromote(F64, x);
                let root = self.b.ins().sqrt(wide);
                let one = self.b.ins().f64const(1.0);
                let r = self.b.ins().fdiv(one, root);
                self.b.ins().fdemote(F32, r)
            }
            (Scalar::F32, UnaryOp::Sign) => {
                let zero = self.b.ins().f32const(0.0);
                let one = self.b.ins().f32const(1.0);
                let minus_one = self.b.ins().f32const(-1.0);
                let gt = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
                let lt = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
                // ±0 and NaN are their own sign.
                let neg = self.b.ins().select(lt, minus_one, x);
                self.b.ins().select(gt, one, neg)
            }
            (Scalar::F32, op) if crate::math::inline(op) => crate::math::unary_f32(&mut self.b, op, x)
                .ok_or_else(|| CodegenError::Unsupported(format!("inline f32 `{}`", op.name())))?,
            (Scalar::F32, op) => match runtime::unary(op) {
                Some(f) => self.call(f, &[x])?,
                None => return Err(self.unsupported(format!("{} of an f32", op.name()))),
            },
            (Scalar::F64, UnaryOp::Neg) => self.b.ins().fneg(x),
            (Scalar::F64, UnaryOp::Sqrt) => self.b.ins().sqrt(x),
            (Scalar::F64, UnaryOp::Abs) => self.b.ins().fabs(x),
            (Scalar::F64, UnaryOp::Floor) => self.b.ins().floor(x),
            (Scalar::F64, UnaryOp::Round) => self.b.ins().nearest(x),
            (Scalar::F64, op) if op != UnaryOp::Not => {
                let code = UnaryOp::ALL.iter().position(|u| *u == op).unwrap_or(0);
                let code = self.b.ins().iconst(I32, code as i64);
                self.call(runtime::unary_f64_fn(), &[code, x])?
            }
            (Scalar::I64, UnaryOp::Neg) => self.b.ins().ineg(x),
            (Scalar::I64, UnaryOp::Abs) => self.b.ins().iabs(x),
            (Scalar::I64, UnaryOp::Sign) => {
                let one = self.b.ins().iconst(I64, 1);
                let minus_one = self.b.ins().iconst(I64, -1);
                let low = self.b.ins().smax(x, minus_one);
                self.b.ins().smin(low, one)
            }
            (Scalar::Bool, UnaryOp::Not) => self.b.ins().bxor_imm_s(x, 1),
            (ty, op) => return Err(self.unsupported(format!("{} of a {}", op.name(), ty.name()))),
        })
    }

    fn binary(&mut self, op: BinaryOp, x: Value, y: Value, ty: Scalar) -> Result<Value, CodegenError> {
        if op.is_comparison() {
            return Ok(match ty {
                Scalar::F32 | Scalar::F64 => self.b.ins().fcmp(float_cc(op), x, y),
                Scalar::I64 | Scalar::Bool => self.b.ins().icmp(int_cc(op), x, y),
            });
        }
        Ok(match (ty, op) {
            (Scalar::F32, BinaryOp::Add) => self.b.ins().fadd(x, y),
            (Scalar::F32, BinaryOp::Sub) => self.b.ins().fsub(x, y),
            (Scalar::F32, BinaryOp::Mul) => self.b.ins().fmul(x, y),
            (Scalar::F32, BinaryOp::Div) => self.b.ins().fdiv(x, y),
            (Scalar::F32, BinaryOp::Maximum) => self.b.ins().fmax(x, y),
            (Scalar::F32, BinaryOp::Minimum) => self.b.ins().fmin(x, y),
            (Scalar::F32, BinaryOp::Pow) => self.call(runtime::binary(op).expect("pow is a runtime call"), &[x, y])?,
            (Scalar::F64, BinaryOp::Add) => self.b.ins().fadd(x, y),
            (Scalar::F64, BinaryOp::Sub) => self.b.ins().fsub(x, y),
            (Scalar::F64, BinaryOp::Mul) => self.b.ins().fmul(x, y),
            (Scalar::F64, BinaryOp::Div) => self.b.ins().fdiv(x, y),
            (Scalar::F64, BinaryOp::Maximum | BinaryOp::Minimum | BinaryOp::Pow) => {
                let code = BinaryOp::ALL.iter().position(|b| *b == op).unwrap_or(0);
                let code = self.b.ins().iconst(I32, code as i64);
                self.call(runtime::binary_f64_fn(), &[code, x, y])?
            }
            (Scalar::I64, BinaryOp::Add) => self.b.ins().iadd(x, y),
            (Scalar::I64, BinaryOp::Sub) => self.b.ins().isub(x, y),
            (Scalar::I64, BinaryOp::Mul) => self.b.ins().imul(x, y),
            (Scalar::I64, BinaryOp::Maximum) => self.b.ins().smax(x, y),
            (Scalar::I64, BinaryOp::Minimum) => self.b.ins().smin(x, y),
            (Scalar::I64, BinaryOp::Div) => {
                // `sdiv` traps on a zero divisor and on `MIN / -1`: divide by 1 in those cases
                // and pick the defined result (0, and the wrapped negation).
                let zero = self.b.ins().iconst(I64, 0);
                let one = self.b.ins().iconst(I64, 1);
                let is_zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
                let is_minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
                let special = self.b.ins().bor(is_zero, is_minus_one);
                let divisor = self.b.ins().select(special, one, y);
                let q = self.b.ins().sdiv(x, divisor);
                let negated = self.b.ins().ineg(x);
                let q = self.b.ins().select(is_minus_one, negated, q);
                self.b.ins().select(is_zero, zero, q)
            }
            (Scalar::Bool, BinaryOp::And) => self.b.ins().band(x, y),
            (Scalar::Bool, BinaryOp::Or) => self.b.ins().bor(x, y),
            (ty, op) => return Err(self.unsupported(format!("{} of {}", op.name(), ty.name()))),
        })
    }

    fn cast(&mut self, x: Value, from: Scalar, to: Scalar) -> Value {
        match (from, to) {
            (from, to) if from == to => x,
            (Scalar::F32, Scalar::I64) => self.b.ins().fcvt_to_sint_sat(I64, x),
            (Scalar::F32, Scalar::Bool) => {
                // `x != 0`, unordered (NaN is true).
                let zero = self.b.ins().f32const(0.0);
                self.b.ins().fcmp(FloatCC::NotEqual, x, zero)
            }
            (Scalar::I64, Scalar::F32) => {
                // Through f64 as the interpreter: exact below 2^53, then one rounding.
                let wide = self.b.ins().fcvt_from_sint(F64, x);
                self.b.ins().fdemote(F32, wide)
            }
            (Scalar::I64, Scalar::Bool) => self.b.ins().icmp_imm_s(IntCC::NotEqual, x, 0),
            (Scalar::Bool, Scalar::F32) => {
                let one = self.b.ins().f32const(1.0);
                let zero = self.b.ins().f32const(0.0);
                self.b.ins().select(x, one, zero)
            }
            (Scalar::Bool, Scalar::I64) => self.b.ins().uextend(I64, x),
            (Scalar::F32, Scalar::F64) => self.b.ins().fpromote(F64, x),
            (Scalar::F64, Scalar::F32) => self.b.ins().fdemote(F32, x),
            (Scalar::F64, Scalar::I64) => self.b.ins().fcvt_to_sint_sat(I64, x),
            (Scalar::F64, Scalar::Bool) => {
                let zero = self.b.ins().f64const(0.0);
                self.b.ins().fcmp(FloatCC::NotEqual, x, zero)
            }
            (Scalar::I64, Scalar::F64) => self.b.ins().fcvt_from_sint(F64, x),
            (Scalar::Bool, Scalar::F64) => {
                let one = self.b.ins().f64const(1.0);
                let zero = self.b.ins().f64const(0.0);
                self.b.ins().select(x, one, zero)
            }
            _ => unreachable!("every pair of distinct scalar types is handled"),
        }
    }
}

pub(crate) fn float_cc(op: BinaryOp) -> FloatCC {
    match op {
        BinaryOp::Eq => FloatCC::Equal,
        // Unordered or unequal: NaN != anything.
        BinaryOp::Ne => FloatCC::NotEqual,
        BinaryOp::Lt => FloatCC::LessThan,
        BinaryOp::Le => FloatCC::LessThanOrEqual,
        BinaryOp::Gt => FloatCC::GreaterThan,
        _ => FloatCC::GreaterThanOrEqual,
    }
}

pub(crate) fn int_cc(op: BinaryOp) -> IntCC {
    match op {
        BinaryOp::Eq => IntCC::Equal,
        BinaryOp::Ne => IntCC::NotEqual,
        BinaryOp::Lt => IntCC::SignedLessThan,
        BinaryOp::Le => IntCC::SignedLessThanOrEqual,
        BinaryOp::Gt => IntCC::SignedGreaterThan,
        _ => IntCC::SignedGreaterThanOrEqual,
    }
}

/// Every affine the lowering computes: loop extents, and the byte offsets and byte strides of
/// every access.
fn collect_affines(kernel: &Kernel, stmts: &[Stmt], out: &mut Vec<Affine>) {
    let access = |arg: u32, index: &Index, out: &mut Vec<Affine>| {
        let size = kernel.args[arg as usize].ty.size() as i64;
        out.push(scale(index.offset, size));
        out.extend(combined_strides(index).into_iter().map(|(_, s)| scale(s, size)));
    };
    for stmt in stmts {
        match stmt {
            Stmt::Loop { extent, body, .. } => {
                out.push(*extent);
                collect_affines(kernel, body, out);
            }
            Stmt::Let { expr: Expr::Load { arg, index }, .. } | Stmt::Store { arg, index, .. } => {
                access(*arg, index, out)
            }
            _ => {}
        }
    }
}
