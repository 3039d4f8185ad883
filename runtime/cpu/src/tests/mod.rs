//! Executor and session tests on hand-written plans and kernels (no compiler needed).

mod executor;
mod session;

use crate::exec::Kernels;
use hg_abi::DType;
use hg_abi::plan::{Affine, BufDecl, BufId, BufRole, LibCall, MatStrides, Step};

pub fn input(name: &str, dtype: DType, len: Affine) -> BufDecl {
    BufDecl { dtype, len: len.into(), role: BufRole::Input(name.into()) }
}

pub fn output(name: &str, dtype: DType, len: Affine) -> BufDecl {
    BufDecl { dtype, len: len.into(), role: BufRole::Output(name.into()) }
}

pub fn resident(name: &str, len: i64) -> BufDecl {
    BufDecl { dtype: DType::F32, len: Affine::constant(len).into(), role: BufRole::Resident(name.into()) }
}

pub fn temp(dtype: DType, len: Affine, offset: Affine) -> BufDecl {
    BufDecl { dtype, len: len.into(), role: BufRole::Temp { offset: offset.into() } }
}

pub fn kernel(kernel: u32, args: &[u32], parallel: Option<Affine>) -> Step {
    Step::Kernel { kernel, args: args.iter().map(|&a| BufId(a)).collect(), parallel }
}

pub fn lib(call: LibCall, args: &[u32]) -> Step {
    Step::Lib { call, args: args.iter().map(|&a| BufId(a)).collect() }
}

/// Row-major strides of a `rows x cols` matrix (one matrix, batch stride 0).
pub fn rm(cols: Affine) -> MatStrides {
    MatStrides { batch: Affine::ZERO, inner: Affine::ZERO, row: cols, col: Affine::ONE }
}

/// # Safety
/// `args` holds at least `i + 1` pointers.
unsafe fn arg<T>(args: *const *mut u8, i: usize) -> *mut T {
    unsafe { (*args.add(i)).cast::<T>() }
}

/// `y[i] = max(x[i], 0)` for `i` in `lo..hi`: args (x, y).
pub unsafe extern "C" fn relu(args: *const *mut u8, _batch: i64, lo: i64, hi: i64) {
    unsafe {
        let (x, y) = (arg::<f32>(args, 0), arg::<f32>(args, 1));
        for i in lo as usize..hi as usize {
            *y.add(i) = (*x.add(i)).max(0.0);
        }
    }
}

/// Mean-square loss of `h` `[B, 2]` and its gradient: args (h, loss, g).
pub unsafe extern "C" fn mse(args: *const *mut u8, batch: i64, _lo: i64, _hi: i64) {
    unsafe {
        let (h, loss, g) = (arg::<f32>(args, 0), arg::<f32>(args, 1), arg::<f32>(args, 2));
        let n = (batch * 2) as usize;
        let mut s = 0.0f32;
        for i in 0..n {
            s += *h.add(i) * *h.add(i);
            *g.add(i) = 2.0 * *h.add(i) / n as f32;
        }
        *loss = s / n as f32;
    }
}

/// `w -= lr * dw` over 6 elements and `steps += 1`: args (w, dw, lr, steps).
pub unsafe extern "C" fn sgd(args: *const *mut u8, _batch: i64, _lo: i64, _hi: i64) {
    unsafe {
        let (w, dw, lr, steps) = (arg::<f32>(args, 0), arg::<f32>(args, 1), arg::<f32>(args, 2), arg::<f32>(args, 3));
        for i in 0..6 {
            *w.add(i) -= *lr * *dw.add(i);
        }
        *steps += 1.0;
    }
}

/// `out[0] = 0` (i64): args (out).
pub unsafe extern "C" fn zero_i64(args: *const *mut u8, _batch: i64, _lo: i64, _hi: i64) {
    unsafe { *arg::<i64>(args, 0) = 0 }
}

/// For each iteration `i` in `lo..hi`: `out[3i]` = a product that is denormal, `out[3i+1]` =
/// a denormal times one, `out[3i+2]` = 1 when this thread flushes denormals: args (out).
pub unsafe extern "C" fn denormals(args: *const *mut u8, _batch: i64, lo: i64, hi: i64) {
    use std::hint::black_box;
    unsafe {
        let out = arg::<f32>(args, 0);
        for i in lo as usize..hi as usize {
            *out.add(3 * i) = black_box(1e-30f32) * black_box(1e-10f32);
            *out.add(3 * i + 1) = black_box(1e-40f32) * black_box(1.0f32);
            *out.add(3 * i + 2) = if crate::fpenv::flushing_denormals() { 1.0 } else { 0.0 };
        }
    }
}

/// Records `(lo, hi)` of each call into `out[2*lo..]` as `(lo, hi)` (i64): args (out).
pub unsafe extern "C" fn ranges(args: *const *mut u8, _batch: i64, lo: i64, hi: i64) {
    unsafe {
        let out = arg::<i64>(args, 0);
        for i in lo..hi {
            *out.add(2 * i as usize) = lo;
            *out.add(2 * i as usize + 1) = hi;
        }
    }
}

pub const RELU: u32 = 0;
pub const MSE: u32 = 1;
pub const SGD: u32 = 2;
pub const ZERO_I64: u32 = 3;
pub const DENORMALS: u32 = 4;
pub const RANGES: u32 = 5;

/// The test kernels, indexed by the constants above.
pub fn kernels() -> Kernels {
    // SAFETY: each kernel touches only the elements its test plans give it.
    unsafe { Kernels::new(vec![relu, mse, sgd, zero_i64, denormals, ranges], Box::new(())) }
}
