//! CPU target levels: which instruction sets a kernel section was compiled for, and which of
//! them the machine we run on has.
//!
//! An artifact carries one relocatable kernel object per level (`kernels/x86-64-v3`, ...);
//! the compiler asks a level for its LLVM CPU name, the runner asks the host for the best
//! level it supports. The levels are the x86-64 psABI microarchitecture levels, so the LLVM
//! CPU name of each is the level itself and the feature lists match what that CPU implies.
//!
//! Detection goes through `std::is_x86_feature_detected!`, which reads CPUID once and caches
//! it; the macro takes literal feature names, hence the `match` in `detect`. On other
//! architectures no level is supported: every kernel object is x86-64 code.

use std::fmt;
use std::str::FromStr;

/// An x86-64 microarchitecture level a kernel object can be compiled for, weakest first (the
/// order is the order of preference reversed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CpuLevel {
    /// The x86-64 baseline (SSE2): runs on every x86-64 CPU.
    Generic,
    /// AVX2, FMA, BMI and friends (Haswell, Zen 1 and later).
    X86_64V3,
    /// v3 plus AVX-512 F/BW/CD/DQ/VL (Skylake-X, Ice Lake, Zen 4 and later).
    X86_64V4,
}

/// The features of [`CpuLevel::X86_64V3`], in the spelling of `is_x86_feature_detected!` and
/// LLVM's `+feature` strings.
const V3_FEATURES: [&str; 9] = ["avx", "avx2", "bmi1", "bmi2", "fma", "f16c", "lzcnt", "movbe", "xsave"];

/// [`V3_FEATURES`] followed by the AVX-512 subsets v4 adds.
const V4_FEATURES: [&str; 14] = [
    "avx", "avx2", "bmi1", "bmi2", "fma", "f16c", "lzcnt", "movbe", "xsave", "avx512f", "avx512bw", "avx512cd",
    "avx512dq", "avx512vl",
];

/// The vector extensions worth naming when describing a machine (`hgrun` banners, bug
/// reports). AMX is left out: its detection is not stable Rust yet.
const VECTOR_EXTENSIONS: [&str; 8] = ["sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512bf16"];

impl CpuLevel {
    pub const ALL: [CpuLevel; 3] = [CpuLevel::Generic, CpuLevel::X86_64V3, CpuLevel::X86_64V4];

    /// The spelling in section names, file names and command-line options.
    pub fn name(self) -> &'static str {
        match self {
            CpuLevel::Generic => "generic",
            CpuLevel::X86_64V3 => "x86-64-v3",
            CpuLevel::X86_64V4 => "x86-64-v4",
        }
    }

    /// What the level brings, in the words people know it by (for error messages).
    pub fn summary(self) -> &'static str {
        match self {
            CpuLevel::Generic => "SSE2",
            CpuLevel::X86_64V3 => "AVX2/FMA",
            CpuLevel::X86_64V4 => "AVX-512",
        }
    }

    /// The CPU name LLVM's target machine takes for this level.
    pub fn llvm_cpu(self) -> &'static str {
        match self {
            CpuLevel::Generic => "x86-64",
            CpuLevel::X86_64V3 => "x86-64-v3",
            CpuLevel::X86_64V4 => "x86-64-v4",
        }
    }

    /// The x86 features the level requires beyond the x86-64 baseline.
    pub fn required_features(self) -> &'static [&'static str] {
        match self {
            CpuLevel::Generic => &[],
            CpuLevel::X86_64V3 => &V3_FEATURES,
            CpuLevel::X86_64V4 => &V4_FEATURES,
        }
    }

    /// Whether code compiled for this level runs on this machine.
    pub fn host_supports(self) -> bool {
        cfg!(target_arch = "x86_64") && self.missing_on_host().is_empty()
    }

    /// The highest level this machine supports. On a machine that is not x86-64 this is
    /// [`CpuLevel::Generic`], which [`CpuLevel::host_supports`] still rejects.
    pub fn host_best() -> CpuLevel {
        CpuLevel::ALL.into_iter().rev().find(|level| level.host_supports()).unwrap_or(CpuLevel::Generic)
    }

    /// The required features this machine lacks (all of them off x86-64).
    pub fn missing_on_host(self) -> Vec<&'static str> {
        self.required_features().iter().copied().filter(|f| !detected(f)).collect()
    }
}

impl fmt::Display for CpuLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`CpuLevel::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown CPU level `{0}` (expected generic, x86-64-v3 or x86-64-v4)")]
pub struct UnknownCpuLevel(pub String);

impl FromStr for CpuLevel {
    type Err = UnknownCpuLevel;

    fn from_str(s: &str) -> Result<CpuLevel, UnknownCpuLevel> {
        CpuLevel::ALL.into_iter().find(|level| level.name() == s).ok_or_else(|| UnknownCpuLevel(s.to_string()))
    }
}

/// The processor's marketing name ("AMD Ryzen 9 7950X 16-Core Processor"), for messages that
/// say which machine lacks what.
pub fn host_cpu_model() -> String {
    let cpuinfo = if cfg!(target_os = "linux") { std::fs::read_to_string("/proc/cpuinfo").ok() } else { None };
    cpuinfo
        .as_deref()
        .and_then(|text| {
            text.lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(key, _)| key.trim() == "model name")
                .map(|(_, value)| value.trim().to_string())
        })
        .filter(|model| !model.is_empty())
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// The vector extensions of this machine, from SSE4.2 to AVX-512 BF16.
pub fn host_vector_extensions() -> Vec<&'static str> {
    VECTOR_EXTENSIONS.into_iter().filter(|f| detected(f)).collect()
}

/// Whether this machine has one x86 feature; `None` for a name the detection does not know
/// (a typo in the lists above, caught by a test) and on other architectures.
fn detect(feature: &str) -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detect {
            ($($name:tt)*) => {
                match feature {
                    $($name => Some(std::is_x86_feature_detected!($name)),)*
                    _ => None,
                }
            };
        }
        detect!(
            "sse4.2" "avx" "avx2" "bmi1" "bmi2" "fma" "f16c" "lzcnt" "movbe" "xsave"
            "avx512f" "avx512bw" "avx512cd" "avx512dq" "avx512vl" "avx512bf16"
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        None
    }
}

fn detected(feature: &str) -> bool {
    detect(feature).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for level in CpuLevel::ALL {
            assert_eq!(level.name().parse::<CpuLevel>(), Ok(level));
            assert_eq!(level.to_string(), level.name());
        }
        assert_eq!("x86-64-v5".parse::<CpuLevel>(), Err(UnknownCpuLevel("x86-64-v5".into())));
    }

    #[test]
    fn levels_are_ordered_and_nested() {
        assert!(CpuLevel::Generic < CpuLevel::X86_64V3 && CpuLevel::X86_64V3 < CpuLevel::X86_64V4);
        let v3 = CpuLevel::X86_64V3.required_features();
        assert!(v3.iter().all(|f| CpuLevel::X86_64V4.required_features().contains(f)));
        assert_eq!(CpuLevel::X86_64V4.llvm_cpu(), "x86-64-v4");
        assert_eq!(CpuLevel::Generic.llvm_cpu(), "x86-64");
    }

    /// Every feature a level or the extension list names must be one [`detect`] knows, or it
    /// would count as missing on every machine.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_listed_feature_is_detectable() {
        for f in V4_FEATURES.iter().chain(&VECTOR_EXTENSIONS) {
            assert!(detect(f).is_some(), "`{f}` is not in `detect`");
        }
        assert_eq!(detect("avx1024"), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn host_best_is_supported_and_misses_nothing() {
        assert!(CpuLevel::Generic.host_supports());
        assert!(CpuLevel::Generic.missing_on_host().is_empty());
        let best = CpuLevel::host_best();
        assert!(best.host_supports());
        assert!(best.missing_on_host().is_empty());
        // No level above the best one is supported, and each lacks at least one feature.
        for level in CpuLevel::ALL.into_iter().filter(|l| *l > best) {
            assert!(!level.host_supports());
            assert!(!level.missing_on_host().is_empty());
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[test]
    fn nothing_is_supported_off_x86_64() {
        assert!(CpuLevel::ALL.into_iter().all(|level| !level.host_supports()));
    }

    #[test]
    fn host_cpu_model_is_never_empty() {
        assert!(!host_cpu_model().is_empty());
    }
}
