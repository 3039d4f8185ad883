//! The symbols compiled kernel objects may leave undefined, and their addresses in this
//! process: the runtime functions of `hg_exec::kernel_fns`, the C library's memory functions
//! (LLVM turns zeroing and copying loops into calls of them), and the rounding and fused
//! multiply-add functions a code generator calls on a CPU without the instruction, and the
//! f64 `log` and `cos` of inline normal draws.

macro_rules! libm_f32 {
    ($($name:ident => $body:expr),* $(,)?) => {
        $(extern "C" fn $name(x: f32) -> f32 { ($body)(x) })*
    };
}
macro_rules! libm_f64 {
    ($($name:ident => $body:expr),* $(,)?) => {
        $(extern "C" fn $name(x: f64) -> f64 { ($body)(x) })*
    };
}

libm_f32! {
    floorf => f32::floor,
    ceilf => f32::ceil,
    truncf => f32::trunc,
    nearbyintf => f32::round_ties_even,
    roundevenf => f32::round_ties_even,
}
libm_f64! {
    floor => f64::floor,
    ceil => f64::ceil,
    trunc => f64::trunc,
    nearbyint => f64::round_ties_even,
    roundeven => f64::round_ties_even,
    log => f64::ln,
    cos => f64::cos,
}

extern "C" fn fmaf(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}

extern "C" fn fma(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

/// The address of `name` for generated code, if it is one of the symbols above.
pub fn runtime_symbol(name: &str) -> Option<usize> {
    if let Some(address) = hg_exec::kernel_fns::resolve(name) {
        return Some(address as usize);
    }
    let address = match name {
        "memset" => libc::memset as *const () as usize,
        "memcpy" => libc::memcpy as *const () as usize,
        "memmove" => libc::memmove as *const () as usize,
        "fmaf" => fmaf as *const () as usize,
        "fma" => fma as *const () as usize,
        "floorf" => floorf as *const () as usize,
        "ceilf" => ceilf as *const () as usize,
        "truncf" => truncf as *const () as usize,
        "nearbyintf" => nearbyintf as *const () as usize,
        "roundevenf" => roundevenf as *const () as usize,
        "floor" => floor as *const () as usize,
        "ceil" => ceil as *const () as usize,
        "trunc" => trunc as *const () as usize,
        "nearbyint" => nearbyint as *const () as usize,
        "roundeven" => roundeven as *const () as usize,
        // The Box-Muller transform of normal draws that MLIR's kernels compute inline.
        "log" => log as *const () as usize,
        "cos" => cos as *const () as usize,
        _ => return None,
    };
    Some(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_and_c_library_symbols_resolve() {
        for name in ["hg_rt_sin", "hg_rt_random_normal", "memset", "memcpy", "fmaf", "nearbyintf"] {
            assert!(runtime_symbol(name).is_some_and(|a| a != 0), "{name}");
        }
        assert_eq!(runtime_symbol("system"), None);
        // SAFETY: the address is `nearbyintf` above, an `extern "C" fn(f32) -> f32`.
        let f: extern "C" fn(f32) -> f32 = unsafe { std::mem::transmute(runtime_symbol("nearbyintf").unwrap()) };
        assert_eq!((f(2.5), f(3.5), f(-0.5)), (2.0, 4.0, -0.0));
    }
}
