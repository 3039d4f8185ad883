//! Kernel IR to LLVM IR: one function per [`Kernel`] with the [`hg_abi::plan::KernelFn`] C ABI.
//!
//! Each kernel becomes two functions. `hg_kernel_N(args, batch, lo, hi)` is the exported entry:
//! it loads the argument pointers from `args` and calls `hg_body_N`, an internal,
//! always-inlined function that takes them as `noalias` parameters (the kernel IR guarantees no
//! two arguments alias), so after inlining LLVM knows the buffers are disjoint and vectorises
//! without run-time overlap checks. Loops are counted loops over `i64` (a phi per loop);
//! locals are `alloca`s that `mem2reg` turns into registers; index arithmetic is `nsw` and
//! addresses `getelementptr inbounds` (every access is proved in bounds by `hg_kernel::verify`).
//!
//! Arithmetic is exactly the reference evaluator's: no fast-math flags (no contraction, no
//! reassociation), `llvm.maximum`/`llvm.minimum` for the NaN-propagating maximum and minimum,
//! saturating float-to-int conversions, integer division that cannot trap, the inline f32
//! approximations of [`crate::math`], and calls of the runtime functions of
//! [`hg_exec::kernel_fns`] for everything else.

use std::collections::HashMap;

use hg_abi::plan::{Affine, RandomKind};
use hg_exec::kernel_fns::{self as runtime, CType, RuntimeFn};
use hg_kernel::ir::{BinaryOp, Expr, Index, Kernel, Local, Scalar, Stmt, UnaryOp, Val, Var};
use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::{Linkage, Module};
use inkwell::types::{BasicMetadataTypeEnum, BasicType, BasicTypeEnum};
use inkwell::values::{BasicMetadataValueEnum, BasicValueEnum, FloatValue, FunctionValue, IntValue, PointerValue};
use inkwell::{AddressSpace, FloatPredicate, IntPredicate};

use crate::CodegenError;

/// The exported symbol of kernel `i` of a module.
pub fn symbol(i: usize) -> String {
    format!("hg_kernel_{i}")
}

/// Adds `kernels` to `module` as `hg_kernel_0`, `hg_kernel_1`, ... (each verified first).
pub fn build_kernels<'ctx>(cx: &'ctx Context, module: &Module<'ctx>, kernels: &[Kernel]) -> Result<(), CodegenError> {
    for (i, kernel) in kernels.iter().enumerate() {
        hg_kernel::verify(kernel)?;
        build_kernel(cx, module, kernel, i)?;
    }
    Ok(())
}

fn enum_attr(cx: &Context, name: &str) -> Attribute {
    cx.create_enum_attribute(Attribute::get_named_enum_kind_id(name), 0)
}

fn build_kernel<'ctx>(cx: &'ctx Context, module: &Module<'ctx>, kernel: &Kernel, i: usize) -> Result<(), CodegenError> {
    let ptr = cx.ptr_type(AddressSpace::default());
    let i64t = cx.i64_type();
    // The body: (arg pointers..., batch, lo, hi), noalias pointers, inlined into the entry.
    let mut params: Vec<BasicMetadataTypeEnum> = kernel.args.iter().map(|_| ptr.into()).collect();
    params.extend([BasicMetadataTypeEnum::from(i64t); 3]);
    let body =
        module.add_function(&format!("hg_body_{i}"), cx.void_type().fn_type(&params, false), Some(Linkage::Internal));
    body.add_attribute(AttributeLoc::Function, enum_attr(cx, "alwaysinline"));
    body.add_attribute(AttributeLoc::Function, enum_attr(cx, "nounwind"));
    for (a, arg) in kernel.args.iter().enumerate() {
        body.add_attribute(AttributeLoc::Param(a as u32), enum_attr(cx, "noalias"));
        if !arg.written {
            body.add_attribute(AttributeLoc::Param(a as u32), enum_attr(cx, "readonly"));
        }
    }
    let b = cx.create_builder();
    let entry = cx.append_basic_block(body, "entry");
    b.position_at_end(entry);
    let n = kernel.args.len() as u32;
    let param = |k: u32| body.get_nth_param(k).ok_or_else(|| CodegenError::Unsupported(format!("parameter {k}")));
    let bases = (0..n).map(|k| param(k).map(|p| p.into_pointer_value())).collect::<Result<Vec<_>, _>>()?;
    let (batch, lo, hi) = (param(n)?.into_int_value(), param(n + 1)?.into_int_value(), param(n + 2)?.into_int_value());
    let mut g = Gen {
        cx,
        module,
        b: &b,
        function: body,
        entry,
        kernel,
        bases,
        batch,
        vals: HashMap::new(),
        vars: HashMap::new(),
        locals: HashMap::new(),
    };
    match (kernel.parallel, kernel.body.as_slice()) {
        (true, [Stmt::Loop { var, body, .. }]) => match reduction_loop(body) {
            Some(at) => g.emit_jammed(*var, lo, hi, body, at)?,
            None => g.emit_loop(*var, lo, hi, body)?,
        },
        _ => g.block(&kernel.body)?,
    }
    b.build_return(None)?;

    // The entry with the `KernelFn` ABI.
    let entry_fn = module.add_function(
        &symbol(i),
        cx.void_type().fn_type(&[ptr.into(), i64t.into(), i64t.into(), i64t.into()], false),
        None,
    );
    entry_fn.add_attribute(AttributeLoc::Function, enum_attr(cx, "nounwind"));
    let block = cx.append_basic_block(entry_fn, "entry");
    b.position_at_end(block);
    let args_ptr =
        entry_fn.get_nth_param(0).ok_or_else(|| CodegenError::Unsupported("args".into()))?.into_pointer_value();
    let mut call_args: Vec<BasicMetadataValueEnum> = Vec::new();
    for k in 0..n {
        // SAFETY: `args` holds one pointer per kernel argument (the `KernelFn` contract).
        let slot = unsafe { b.build_in_bounds_gep(ptr, args_ptr, &[i64t.const_int(u64::from(k), false)], "")? };
        call_args.push(b.build_load(ptr, slot, &format!("arg{k}"))?.into());
    }
    for k in 1..4 {
        call_args.push(entry_fn.get_nth_param(k).ok_or_else(|| CodegenError::Unsupported("params".into()))?.into());
    }
    b.build_call(body, &call_args, "")?;
    b.build_return(None)?;
    Ok(())
}

/// Rows of a parallel reduction computed together by [`Gen::emit_jammed`].
const JAM: u64 = 2;

/// Where the inner loop is, when the body of a kernel's parallel loop is `pre; for { .. };
/// post` with no other loop and the inner loop updates locals (a reduction per row): the adds of
/// one row form a chain whose latency bounds it, so rows are computed [`JAM`] at a time.
fn reduction_loop(body: &[Stmt]) -> Option<usize> {
    let is_loop = |s: &Stmt| matches!(s, Stmt::Loop { .. });
    let at = body.iter().position(is_loop)?;
    let Stmt::Loop { body: inner, .. } = &body[at] else { return None };
    let single = body.iter().filter(|s| is_loop(s)).count() == 1;
    let flat = !inner.iter().any(is_loop);
    let reduces = inner.iter().any(|s| matches!(s, Stmt::Assign { .. }));
    (single && flat && reduces).then_some(at)
}

/// Whether a statement computes a transcendental function or calls the runtime.
fn calls_a_function(stmt: &Stmt) -> bool {
    use UnaryOp::*;
    match stmt {
        Stmt::Let { expr: Expr::Unary(op, _), .. } => {
            matches!(op, Exp | Log | Tanh | Sigmoid | Gelu | Softplus | Sin | Cos)
        }
        Stmt::Let { expr: Expr::Binary(BinaryOp::Pow, ..) | Expr::Random { .. }, .. } => true,
        _ => false,
    }
}

/// The values, loop variables and locals one copy of a jammed body sees.
#[derive(Default)]
struct Scope<'ctx> {
    vals: HashMap<Val, (BasicValueEnum<'ctx>, Scalar)>,
    vars: HashMap<Var, IntValue<'ctx>>,
    locals: HashMap<Local, (PointerValue<'ctx>, Scalar)>,
}

/// The state of one kernel's lowering.
struct Gen<'a, 'ctx> {
    cx: &'ctx Context,
    module: &'a Module<'ctx>,
    b: &'a Builder<'ctx>,
    function: FunctionValue<'ctx>,
    entry: BasicBlock<'ctx>,
    kernel: &'a Kernel,
    bases: Vec<PointerValue<'ctx>>,
    batch: IntValue<'ctx>,
    vals: HashMap<Val, (BasicValueEnum<'ctx>, Scalar)>,
    vars: HashMap<Var, IntValue<'ctx>>,
    locals: HashMap<Local, (PointerValue<'ctx>, Scalar)>,
}

/// The LLVM type of a scalar in registers (booleans are `i1`, stored as one byte).
fn register_type<'ctx>(cx: &'ctx Context, ty: Scalar) -> BasicTypeEnum<'ctx> {
    match ty {
        Scalar::F32 => cx.f32_type().into(),
        Scalar::F64 => cx.f64_type().into(),
        Scalar::I64 => cx.i64_type().into(),
        Scalar::Bool => cx.bool_type().into(),
    }
}

/// The LLVM type of a scalar in memory.
fn memory_type<'ctx>(cx: &'ctx Context, ty: Scalar) -> BasicTypeEnum<'ctx> {
    match ty {
        Scalar::Bool => cx.i8_type().into(),
        ty => register_type(cx, ty),
    }
}

fn c_type<'ctx>(cx: &'ctx Context, t: CType) -> BasicTypeEnum<'ctx> {
    match t {
        CType::F32 => cx.f32_type().into(),
        CType::F64 => cx.f64_type().into(),
        CType::I32 => cx.i32_type().into(),
        CType::I64 => cx.i64_type().into(),
    }
}

impl<'ctx> Gen<'_, 'ctx> {
    fn unsupported(&self, message: String) -> CodegenError {
        CodegenError::Unsupported(format!("kernel `{}`: {message}", self.kernel.name))
    }

    fn affine(&self, a: Affine) -> Result<IntValue<'ctx>, CodegenError> {
        let i64t = self.cx.i64_type();
        let c = i64t.const_int(a.c as u64, true);
        if a.b == 0 {
            return Ok(c);
        }
        let scaled = if a.b == 1 {
            self.batch
        } else {
            self.b.build_int_nsw_mul(self.batch, i64t.const_int(a.b as u64, true), "")?
        };
        Ok(if a.c == 0 { scaled } else { self.b.build_int_nsw_add(scaled, c, "")? })
    }

    /// The element address of an access.
    fn address(&self, arg: u32, index: &Index) -> Result<PointerValue<'ctx>, CodegenError> {
        let mut at = self.affine(index.offset)?;
        for &(var, stride) in &index.terms {
            if stride == Affine::ZERO {
                continue;
            }
            let i = *self.vars.get(&var).ok_or_else(|| self.unsupported(format!("i{} is not bound", var.0)))?;
            let term = if stride == Affine::ONE { i } else { self.b.build_int_nsw_mul(i, self.affine(stride)?, "")? };
            at = self.b.build_int_nsw_add(at, term, "")?;
        }
        let ty = memory_type(self.cx, self.kernel.args[arg as usize].ty);
        // SAFETY: `hg_kernel::verify` proved the index within the argument for every batch size.
        Ok(unsafe { self.b.build_in_bounds_gep(ty, self.bases[arg as usize], &[at], "")? })
    }

    fn block(&mut self, stmts: &[Stmt]) -> Result<(), CodegenError> {
        stmts.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<(), CodegenError> {
        match stmt {
            Stmt::Loop { var, extent, body } => {
                let start = self.cx.i64_type().const_zero();
                let end = self.affine(*extent)?;
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
                    Scalar::Bool => self.b.build_int_z_extend(v.into_int_value(), self.cx.i8_type(), "")?.into(),
                    _ => v,
                };
                let addr = self.address(*arg, index)?;
                self.b.build_store(addr, v)?;
                Ok(())
            }
            Stmt::Local { local, ty, init } => {
                let (v, _) = self.val(*init)?;
                // The slot lives in the entry block, where `mem2reg` promotes it.
                let here = self.b.get_insert_block();
                match self.entry.get_first_instruction() {
                    Some(first) => self.b.position_before(&first),
                    None => self.b.position_at_end(self.entry),
                }
                let slot = self.b.build_alloca(register_type(self.cx, *ty), &format!("l{}", local.0))?;
                if let Some(block) = here {
                    self.b.position_at_end(block);
                }
                self.b.build_store(slot, v)?;
                self.locals.insert(*local, (slot, *ty));
                Ok(())
            }
            Stmt::Assign { local, value } => {
                let (v, _) = self.val(*value)?;
                let (slot, _) = self.local(*local)?;
                self.b.build_store(slot, v)?;
                Ok(())
            }
        }
    }

    /// `for var in start..end { body }` as a counted loop with the test at the bottom.
    fn emit_loop(
        &mut self,
        var: Var,
        start: IntValue<'ctx>,
        end: IntValue<'ctx>,
        body: &[Stmt],
    ) -> Result<(), CodegenError> {
        self.counted(var, start, end, 1, true, |g, i| {
            g.vars.insert(var, i);
            g.block(body)?;
            g.vars.remove(&var);
            Ok(())
        })?;
        Ok(())
    }

    /// `i = start; while i < end { body(i); i += step }`, testing at the bottom; returns the
    /// value of `i` after the loop (`start` when it did not run).
    fn counted(
        &mut self,
        var: Var,
        start: IntValue<'ctx>,
        end: IntValue<'ctx>,
        step: u64,
        vectorize: bool,
        body: impl FnOnce(&mut Self, IntValue<'ctx>) -> Result<(), CodegenError>,
    ) -> Result<IntValue<'ctx>, CodegenError> {
        let i64t = self.cx.i64_type();
        let pre = self.b.get_insert_block().ok_or_else(|| self.unsupported("no insertion block".into()))?;
        let body_block = self.cx.append_basic_block(self.function, "loop");
        let exit = self.cx.append_basic_block(self.function, "done");
        let enter = self.b.build_int_compare(IntPredicate::SLT, start, end, "")?;
        self.b.build_conditional_branch(enter, body_block, exit)?;

        self.b.position_at_end(body_block);
        let phi = self.b.build_phi(i64t, &format!("i{}", var.0))?;
        phi.add_incoming(&[(&start, pre)]);
        let i = phi.as_basic_value().into_int_value();
        body(self, i)?;
        let next = self.b.build_int_nsw_add(i, i64t.const_int(step, false), "")?;
        let latch = self.b.get_insert_block().ok_or_else(|| self.unsupported("no insertion block".into()))?;
        phi.add_incoming(&[(&next, latch)]);
        let again = self.b.build_int_compare(IntPredicate::SLT, next, end, "")?;
        let branch = self.b.build_conditional_branch(again, body_block, exit)?;
        if !vectorize {
            self.no_loop_vectorizer(branch);
        }
        self.b.position_at_end(exit);
        let after = self.b.build_phi(i64t, "")?;
        after.add_incoming(&[(&start, pre), (&next, latch)]);
        Ok(after.as_basic_value().into_int_value())
    }

    /// The parallel loop `for var in lo..hi { pre; for v in 0..n { inner }; post }` (see
    /// [`reduction_loop`]) with [`JAM`] rows per iteration: each row's statements in its own
    /// [`Scope`], the inner loops of the rows merged into one whose body runs every row's
    /// `inner` in turn, so their chains of adds overlap; the rows left over run one at a time.
    /// Each row computes exactly what it computes alone.
    fn emit_jammed(
        &mut self,
        var: Var,
        lo: IntValue<'ctx>,
        hi: IntValue<'ctx>,
        body: &[Stmt],
        at: usize,
    ) -> Result<(), CodegenError> {
        let Stmt::Loop { var: inner_var, extent, body: inner } = &body[at] else {
            return Err(self.unsupported("a jammed loop without its inner loop".into()));
        };
        let i64t = self.cx.i64_type();
        let last = self.b.build_int_nsw_sub(hi, i64t.const_int(JAM - 1, false), "")?;
        let done = self.counted(var, lo, last, JAM, true, |g, i| {
            let mut rows = Vec::with_capacity(JAM as usize);
            for r in 0..JAM {
                let row = g.b.build_int_nsw_add(i, i64t.const_int(r, false), "")?;
                let mut scope = Scope { vars: g.vars.clone(), ..Scope::default() };
                scope.vars.insert(var, row);
                g.in_scope(&mut scope, |g| g.block(&body[..at]))?;
                rows.push(scope);
            }
            let end = g.affine(*extent)?;
            // Cheap bodies: the rows' partial sums are independent chains that the SLP
            // vectoriser packs into vectors, where the loop vectoriser would reduce each in
            // order, lane by lane (twice as slow on a sum of squares). Inline functions are
            // worth that loop vectoriser's wide vectors (4x faster on the VAE's softplus sum).
            let vectorize = inner.iter().any(calls_a_function);
            g.counted(*inner_var, i64t.const_zero(), end, 1, vectorize, |g, j| {
                for scope in rows.iter_mut() {
                    scope.vars.insert(*inner_var, j);
                    g.in_scope(scope, |g| g.block(inner))?;
                    scope.vars.remove(inner_var);
                }
                Ok(())
            })?;
            for scope in rows.iter_mut() {
                g.in_scope(scope, |g| g.block(&body[at + 1..]))?;
            }
            Ok(())
        })?;
        self.emit_loop(var, done, hi, body)
    }

    /// Marks the loop whose latch is `branch` `llvm.loop.vectorize.enable = false`.
    fn no_loop_vectorizer(&self, branch: inkwell::values::InstructionValue<'ctx>) {
        use inkwell::llvm_sys::core::{
            LLVMConstInt, LLVMGetMDKindIDInContext, LLVMInt1TypeInContext, LLVMMDNodeInContext2,
            LLVMMDStringInContext2, LLVMMetadataAsValue, LLVMSetMetadata, LLVMValueAsMetadata,
        };
        use inkwell::llvm_sys::debuginfo::{LLVMMetadataReplaceAllUsesWith, LLVMTemporaryMDNode};
        use inkwell::values::AsValueRef;
        let cx = self.cx.raw();
        let key = "llvm.loop.vectorize.enable";
        // SAFETY: every reference is made in this context and outlives its use; the temporary
        // node stands for the loop ID's reference to itself (replacing it deletes it).
        unsafe {
            let name = LLVMMDStringInContext2(cx, key.as_ptr().cast(), key.len());
            let off = LLVMValueAsMetadata(LLVMConstInt(LLVMInt1TypeInContext(cx), 0, 0));
            let mut hint = [name, off];
            let hint = LLVMMDNodeInContext2(cx, hint.as_mut_ptr(), 2);
            let me = LLVMTemporaryMDNode(cx, std::ptr::null_mut(), 0);
            let mut ops = [me, hint];
            let id = LLVMMDNodeInContext2(cx, ops.as_mut_ptr(), 2);
            LLVMMetadataReplaceAllUsesWith(me, id);
            let kind = LLVMGetMDKindIDInContext(cx, c"llvm.loop".as_ptr(), 9);
            LLVMSetMetadata(branch.as_value_ref(), kind, LLVMMetadataAsValue(cx, id));
        }
    }

    /// Runs `f` with `scope`'s values, variables and locals in place of this generator's.
    fn in_scope(
        &mut self,
        scope: &mut Scope<'ctx>,
        f: impl FnOnce(&mut Self) -> Result<(), CodegenError>,
    ) -> Result<(), CodegenError> {
        std::mem::swap(&mut self.vals, &mut scope.vals);
        std::mem::swap(&mut self.vars, &mut scope.vars);
        std::mem::swap(&mut self.locals, &mut scope.locals);
        let r = f(self);
        std::mem::swap(&mut self.vals, &mut scope.vals);
        std::mem::swap(&mut self.vars, &mut scope.vars);
        std::mem::swap(&mut self.locals, &mut scope.locals);
        r
    }

    fn val(&self, v: Val) -> Result<(BasicValueEnum<'ctx>, Scalar), CodegenError> {
        self.vals.get(&v).copied().ok_or_else(|| self.unsupported(format!("v{} is not defined", v.0)))
    }

    fn local(&self, l: Local) -> Result<(PointerValue<'ctx>, Scalar), CodegenError> {
        self.locals.get(&l).copied().ok_or_else(|| self.unsupported(format!("l{} is not declared", l.0)))
    }

    /// A call of an intrinsic overloaded on the types `over`.
    fn intrinsic(
        &self,
        name: &str,
        over: &[BasicTypeEnum<'ctx>],
        args: &[BasicMetadataValueEnum<'ctx>],
    ) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let decl = Intrinsic::find(name)
            .and_then(|i| i.get_declaration(self.module, over))
            .ok_or_else(|| self.unsupported(format!("no intrinsic `{name}`")))?;
        let call = self.b.build_call(decl, args, "")?;
        call.try_as_basic_value().basic().ok_or_else(|| self.unsupported(format!("`{name}` returns nothing")))
    }

    fn float_intrinsic(&self, name: &str, x: FloatValue<'ctx>) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        self.intrinsic(name, &[x.get_type().into()], &[x.into()])
    }

    /// A call of a runtime function, declared in the module (an external symbol) on first use.
    fn call(&self, f: RuntimeFn, args: &[BasicMetadataValueEnum<'ctx>]) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let callee = match self.module.get_function(f.name) {
            Some(callee) => callee,
            None => {
                let params: Vec<BasicMetadataTypeEnum> = f.params.iter().map(|&t| c_type(self.cx, t).into()).collect();
                let ty = c_type(self.cx, f.result).fn_type(&params, false);
                let callee = self.module.add_function(f.name, ty, Some(Linkage::External));
                callee.add_attribute(AttributeLoc::Function, enum_attr(self.cx, "nounwind"));
                callee
            }
        };
        let call = self.b.build_call(callee, args, "")?;
        call.try_as_basic_value().basic().ok_or_else(|| self.unsupported(format!("`{}` returns nothing", f.name)))
    }

    fn expr(&mut self, ty: Scalar, expr: &Expr) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let cx = self.cx;
        Ok(match expr {
            Expr::Const(ty, x) => match ty {
                Scalar::F32 => cx.f32_type().const_float(f64::from(*x as f32)).into(),
                Scalar::F64 => cx.f64_type().const_float(*x).into(),
                Scalar::I64 => cx.i64_type().const_int(*x as i64 as u64, true).into(),
                Scalar::Bool => cx.bool_type().const_int(u64::from(*x != 0.0), false).into(),
            },
            Expr::Load { arg, index } => {
                let addr = self.address(*arg, index)?;
                let v = self.b.build_load(memory_type(cx, ty), addr, "")?;
                match ty {
                    Scalar::Bool => self
                        .b
                        .build_int_compare(IntPredicate::NE, v.into_int_value(), cx.i8_type().const_zero(), "")?
                        .into(),
                    _ => v,
                }
            }
            Expr::Get(l) => {
                let (slot, t) = self.local(*l)?;
                self.b.build_load(register_type(cx, t), slot, "")?
            }
            Expr::Var(v) => {
                (*self.vars.get(v).ok_or_else(|| self.unsupported(format!("i{} is not bound", v.0)))?).into()
            }
            Expr::Batch => self.batch.into(),
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
                self.b.build_select(c.into_int_value(), x, y, "")?
            }
            Expr::Cast(to, a) => {
                let (x, from) = self.val(*a)?;
                self.cast(x, from, *to)?
            }
            Expr::Random { kind, site, seed, step, counter } => {
                let (seed, _) = self.val(*seed)?;
                let (step, _) = self.val(*step)?;
                let (counter, _) = self.val(*counter)?;
                let site = cx.i32_type().const_int(u64::from(*site), false);
                let mut args: Vec<BasicMetadataValueEnum> = vec![seed.into(), step.into(), counter.into(), site.into()];
                let f64t = cx.f64_type();
                match *kind {
                    RandomKind::Normal => {}
                    RandomKind::Uniform { lo, hi } => {
                        args.push(f64t.const_float(lo).into());
                        args.push(f64t.const_float(hi).into());
                    }
                    RandomKind::Bernoulli { p } => args.push(f64t.const_float(p).into()),
                }
                self.call(runtime::random(*kind), &args)?
            }
        })
    }

    fn unary(
        &mut self,
        op: UnaryOp,
        x: BasicValueEnum<'ctx>,
        ty: Scalar,
    ) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let cx = self.cx;
        Ok(match ty {
            Scalar::F32 | Scalar::F64 => {
                let x = x.into_float_value();
                let fty = x.get_type();
                match op {
                    UnaryOp::Neg => self.b.build_float_neg(x, "")?.into(),
                    UnaryOp::Sqrt => self.float_intrinsic("llvm.sqrt", x)?,
                    UnaryOp::Abs => self.float_intrinsic("llvm.fabs", x)?,
                    UnaryOp::Floor => self.float_intrinsic("llvm.floor", x)?,
                    UnaryOp::Round => self.float_intrinsic("llvm.roundeven", x)?,
                    UnaryOp::Relu if ty == Scalar::F32 => {
                        // `x > 0 or NaN ? x : +0`: NaN stays NaN and -0 becomes +0.
                        let zero = fty.const_zero();
                        let keep = self.b.build_float_compare(FloatPredicate::UGT, x, zero, "")?;
                        self.b.build_select(keep, x, zero, "")?
                    }
                    UnaryOp::Rsqrt if ty == Scalar::F32 => {
                        // `1 / sqrt(x)` in f64, rounded once to f32.
                        let wide = self.b.build_float_ext(x, cx.f64_type(), "")?;
                        let root = self.float_intrinsic("llvm.sqrt", wide)?.into_float_value();
                        let r = self.b.build_float_div(cx.f64_type().const_float(1.0), root, "")?;
                        self.b.build_float_trunc(r, cx.f32_type(), "")?.into()
                    }
                    UnaryOp::Sign if ty == Scalar::F32 => {
                        // ±0 and NaN are their own sign.
                        let zero = fty.const_zero();
                        let gt = self.b.build_float_compare(FloatPredicate::OGT, x, zero, "")?;
                        let lt = self.b.build_float_compare(FloatPredicate::OLT, x, zero, "")?;
                        let neg = self.b.build_select(lt, fty.const_float(-1.0), x, "")?.into_float_value();
                        self.b.build_select(gt, fty.const_float(1.0), neg, "")?
                    }
                    op if ty == Scalar::F32 && crate::math::inline(op) => {
                        crate::math::unary_f32(cx, self.module, self.b, op, x)?
                            .ok_or_else(|| self.unsupported(format!("inline f32 `{}`", op.name())))?
                            .into()
                    }
                    op if ty == Scalar::F32 => match runtime::unary(op) {
                        Some(f) => self.call(f, &[x.into()])?,
                        None => return Err(self.unsupported(format!("{} of an f32", op.name()))),
                    },
                    UnaryOp::Not => return Err(self.unsupported("not of an f64".into())),
                    op => {
                        let code = cx.i32_type().const_int(u64::from(runtime::unary_code(op)), false);
                        self.call(runtime::unary_f64_fn(), &[code.into(), x.into()])?
                    }
                }
            }
            Scalar::I64 => {
                let x = x.into_int_value();
                let i64t = cx.i64_type();
                match op {
                    UnaryOp::Neg => self.b.build_int_neg(x, "")?.into(),
                    UnaryOp::Abs => {
                        self.intrinsic("llvm.abs", &[i64t.into()], &[x.into(), cx.bool_type().const_zero().into()])?
                    }
                    UnaryOp::Sign => {
                        let low = self.intrinsic(
                            "llvm.smax",
                            &[i64t.into()],
                            &[x.into(), i64t.const_int(-1i64 as u64, true).into()],
                        )?;
                        self.intrinsic("llvm.smin", &[i64t.into()], &[low.into(), i64t.const_int(1, false).into()])?
                    }
                    op => return Err(self.unsupported(format!("{} of an i64", op.name()))),
                }
            }
            Scalar::Bool => match op {
                UnaryOp::Not => self.b.build_not(x.into_int_value(), "")?.into(),
                op => return Err(self.unsupported(format!("{} of a bool", op.name()))),
            },
        })
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        x: BasicValueEnum<'ctx>,
        y: BasicValueEnum<'ctx>,
        ty: Scalar,
    ) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        if op.is_comparison() {
            return Ok(match ty {
                Scalar::F32 | Scalar::F64 => {
                    self.b.build_float_compare(float_predicate(op), x.into_float_value(), y.into_float_value(), "")?
                }
                Scalar::I64 | Scalar::Bool => {
                    self.b.build_int_compare(int_predicate(op, ty), x.into_int_value(), y.into_int_value(), "")?
                }
            }
            .into());
        }
        let cx = self.cx;
        Ok(match ty {
            Scalar::F32 | Scalar::F64 => {
                let (a, c) = (x.into_float_value(), y.into_float_value());
                match op {
                    BinaryOp::Add => self.b.build_float_add(a, c, "")?.into(),
                    BinaryOp::Sub => self.b.build_float_sub(a, c, "")?.into(),
                    BinaryOp::Mul => self.b.build_float_mul(a, c, "")?.into(),
                    BinaryOp::Div => self.b.build_float_div(a, c, "")?.into(),
                    BinaryOp::Maximum if ty == Scalar::F32 => {
                        self.intrinsic("llvm.maximum", &[a.get_type().into()], &[a.into(), c.into()])?
                    }
                    BinaryOp::Minimum if ty == Scalar::F32 => {
                        self.intrinsic("llvm.minimum", &[a.get_type().into()], &[a.into(), c.into()])?
                    }
                    BinaryOp::Pow if ty == Scalar::F32 => match runtime::binary(op) {
                        Some(f) => self.call(f, &[a.into(), c.into()])?,
                        None => return Err(self.unsupported("pow of f32".into())),
                    },
                    BinaryOp::Maximum | BinaryOp::Minimum | BinaryOp::Pow => {
                        let code = cx.i32_type().const_int(u64::from(runtime::binary_code(op)), false);
                        self.call(runtime::binary_f64_fn(), &[code.into(), a.into(), c.into()])?
                    }
                    op => return Err(self.unsupported(format!("{} of {}", op.name(), ty.name()))),
                }
            }
            Scalar::I64 => {
                let (a, c) = (x.into_int_value(), y.into_int_value());
                let i64t = cx.i64_type();
                match op {
                    BinaryOp::Add => self.b.build_int_add(a, c, "")?.into(),
                    BinaryOp::Sub => self.b.build_int_sub(a, c, "")?.into(),
                    BinaryOp::Mul => self.b.build_int_mul(a, c, "")?.into(),
                    BinaryOp::Maximum => self.intrinsic("llvm.smax", &[i64t.into()], &[a.into(), c.into()])?,
                    BinaryOp::Minimum => self.intrinsic("llvm.smin", &[i64t.into()], &[a.into(), c.into()])?,
                    BinaryOp::Div => {
                        // `sdiv` is undefined for a zero divisor and for `MIN / -1`: divide by 1
                        // then, and pick the defined results (0, and the wrapped negation).
                        let zero = i64t.const_zero();
                        let one = i64t.const_int(1, false);
                        let minus_one = i64t.const_int(-1i64 as u64, true);
                        let is_zero = self.b.build_int_compare(IntPredicate::EQ, c, zero, "")?;
                        let is_minus_one = self.b.build_int_compare(IntPredicate::EQ, c, minus_one, "")?;
                        let special = self.b.build_or(is_zero, is_minus_one, "")?;
                        let divisor = self.b.build_select(special, one, c, "")?.into_int_value();
                        let q = self.b.build_int_signed_div(a, divisor, "")?;
                        let negated = self.b.build_int_sub(zero, a, "")?;
                        let q = self.b.build_select(is_minus_one, negated, q, "")?.into_int_value();
                        self.b.build_select(is_zero, zero, q, "")?
                    }
                    op => return Err(self.unsupported(format!("{} of i64", op.name()))),
                }
            }
            Scalar::Bool => {
                let (a, c) = (x.into_int_value(), y.into_int_value());
                match op {
                    BinaryOp::And => self.b.build_and(a, c, "")?.into(),
                    BinaryOp::Or => self.b.build_or(a, c, "")?.into(),
                    op => return Err(self.unsupported(format!("{} of bool", op.name()))),
                }
            }
        })
    }

    fn cast(&self, x: BasicValueEnum<'ctx>, from: Scalar, to: Scalar) -> Result<BasicValueEnum<'ctx>, CodegenError> {
        let cx = self.cx;
        let b = self.b;
        let one_or_zero = |x: IntValue<'ctx>, t: inkwell::types::FloatType<'ctx>| {
            b.build_select(x, t.const_float(1.0), t.const_float(0.0), "")
        };
        Ok(match (from, to) {
            (from, to) if from == to => x,
            (Scalar::F32 | Scalar::F64, Scalar::I64) => {
                let x = x.into_float_value();
                self.intrinsic("llvm.fptosi.sat", &[cx.i64_type().into(), x.get_type().into()], &[x.into()])?
            }
            (Scalar::F32 | Scalar::F64, Scalar::Bool) => {
                // `x != 0`, unordered (NaN is true).
                let x = x.into_float_value();
                b.build_float_compare(FloatPredicate::UNE, x, x.get_type().const_zero(), "")?.into()
            }
            (Scalar::I64, Scalar::F32) => {
                // Through f64 as the interpreter: exact below 2^53, then one rounding.
                let wide = b.build_signed_int_to_float(x.into_int_value(), cx.f64_type(), "")?;
                b.build_float_trunc(wide, cx.f32_type(), "")?.into()
            }
            (Scalar::I64, Scalar::F64) => b.build_signed_int_to_float(x.into_int_value(), cx.f64_type(), "")?.into(),
            (Scalar::I64, Scalar::Bool) => {
                b.build_int_compare(IntPredicate::NE, x.into_int_value(), cx.i64_type().const_zero(), "")?.into()
            }
            (Scalar::Bool, Scalar::F32) => one_or_zero(x.into_int_value(), cx.f32_type())?,
            (Scalar::Bool, Scalar::F64) => one_or_zero(x.into_int_value(), cx.f64_type())?,
            (Scalar::Bool, Scalar::I64) => b.build_int_z_extend(x.into_int_value(), cx.i64_type(), "")?.into(),
            (Scalar::F32, Scalar::F64) => b.build_float_ext(x.into_float_value(), cx.f64_type(), "")?.into(),
            (Scalar::F64, Scalar::F32) => b.build_float_trunc(x.into_float_value(), cx.f32_type(), "")?.into(),
            (from, to) => return Err(self.unsupported(format!("cast from {} to {}", from.name(), to.name()))),
        })
    }
}

fn float_predicate(op: BinaryOp) -> FloatPredicate {
    match op {
        BinaryOp::Eq => FloatPredicate::OEQ,
        // Unordered or unequal: NaN != anything.
        BinaryOp::Ne => FloatPredicate::UNE,
        BinaryOp::Lt => FloatPredicate::OLT,
        BinaryOp::Le => FloatPredicate::OLE,
        BinaryOp::Gt => FloatPredicate::OGT,
        _ => FloatPredicate::OGE,
    }
}

/// Integer comparisons: signed on i64, unsigned on booleans (an `i1` true is -1 when signed).
fn int_predicate(op: BinaryOp, ty: Scalar) -> IntPredicate {
    let signed = ty == Scalar::I64;
    match op {
        BinaryOp::Eq => IntPredicate::EQ,
        BinaryOp::Ne => IntPredicate::NE,
        BinaryOp::Lt if signed => IntPredicate::SLT,
        BinaryOp::Le if signed => IntPredicate::SLE,
        BinaryOp::Gt if signed => IntPredicate::SGT,
        BinaryOp::Lt => IntPredicate::ULT,
        BinaryOp::Le => IntPredicate::ULE,
        BinaryOp::Gt => IntPredicate::UGT,
        _ if signed => IntPredicate::SGE,
        _ => IntPredicate::UGE,
    }
}
