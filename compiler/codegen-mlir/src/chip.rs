//! The NVIDIA GPU generations we generate PTX for, and the PTX ISA version each one needs.
//!
//! The PTX ISA version is the lowest that supports the chip, which keeps the PTX loadable by
//! the oldest driver that knows the chip: `sm_80` needs PTX 7.0 (CUDA 11.0), `sm_90` needs
//! PTX 8.0 (CUDA 12.0).

use std::fmt;

/// A GPU architecture (compute capability) to generate code for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Chip {
    /// Ampere (A100): compute capability 8.0.
    Sm80,
    /// Hopper (H100, H200): compute capability 9.0.
    Sm90,
}

impl Chip {
    /// Every supported chip, oldest first.
    pub const ALL: [Chip; 2] = [Chip::Sm80, Chip::Sm90];

    /// The architecture name used by NVVM, PTX `.target` and `ptxas -arch`, e.g. `sm_80`.
    pub fn arch(self) -> &'static str {
        match self {
            Chip::Sm80 => "sm_80",
            Chip::Sm90 => "sm_90",
        }
    }

    /// The compute capability as one number, `80` for sm_80: how the runtime picks the PTX
    /// for a device (`hg_cuda::PtxSet`).
    pub fn capability(self) -> u32 {
        match self {
            Chip::Sm80 => 80,
            Chip::Sm90 => 90,
        }
    }

    /// The LLVM target feature selecting the PTX ISA version, e.g. `+ptx70`.
    pub fn ptx_feature(self) -> &'static str {
        match self {
            Chip::Sm80 => "+ptx70",
            Chip::Sm90 => "+ptx80",
        }
    }

    /// The PTX ISA version as written in PTX's `.version` directive, e.g. `7.0`.
    pub fn ptx_version(self) -> &'static str {
        match self {
            Chip::Sm80 => "7.0",
            Chip::Sm90 => "8.0",
        }
    }
}

impl fmt::Display for Chip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arch())
    }
}
