//! Denormal handling. Denormal f32 arithmetic is one or two orders of magnitude slower than
//! normal arithmetic on x86-64, and training (small gradients times small learning rates)
//! produces denormals, so a run sets flush-to-zero (FTZ: denormal results become 0) and
//! denormals-are-zero (DAZ: denormal inputs read as 0) in MXCSR, and puts the caller's value
//! back afterwards. The executor's worker threads always run with both set. On other targets
//! nothing changes.

#[cfg(target_arch = "x86_64")]
mod imp {
    #[allow(deprecated)]
    use core::arch::x86_64::{_mm_getcsr, _mm_setcsr};

    /// MXCSR bits: flush-to-zero (15) and denormals-are-zero (6).
    pub const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    #[allow(deprecated)]
    pub fn get() -> u32 {
        // SAFETY: reading MXCSR has no preconditions on x86-64 (SSE is always present).
        unsafe { _mm_getcsr() }
    }

    #[allow(deprecated)]
    pub fn set(v: u32) {
        // SAFETY: only the FTZ/DAZ bits are ever changed from a value read from MXCSR, which
        // changes rounding of denormals and nothing Rust relies on.
        unsafe { _mm_setcsr(v) }
    }
}

/// Sets FTZ and DAZ on this thread until dropped, then restores the previous mode.
#[must_use = "the mode is restored when the guard is dropped"]
pub struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl FlushDenormals {
    pub fn new() -> FlushDenormals {
        #[cfg(target_arch = "x86_64")]
        {
            let saved = imp::get();
            if saved & imp::FTZ_DAZ != imp::FTZ_DAZ {
                imp::set(saved | imp::FTZ_DAZ);
            }
            FlushDenormals { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushDenormals {}
    }
}

impl Default for FlushDenormals {
    fn default() -> Self {
        FlushDenormals::new()
    }
}

impl Drop for FlushDenormals {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if imp::get() != self.saved {
            imp::set(self.saved);
        }
    }
}

/// Sets FTZ and DAZ on this thread for good (the executor's worker threads).
pub fn flush_denormals_forever() {
    #[cfg(target_arch = "x86_64")]
    imp::set(imp::get() | imp::FTZ_DAZ);
}

/// Whether this thread flushes denormals (always false off x86-64).
pub fn flushing_denormals() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        imp::get() & imp::FTZ_DAZ == imp::FTZ_DAZ
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}
