//! Choosing the kernel object a runner loads: an artifact carries one per CPU level, and the
//! runner takes the highest level this machine supports, or says which features it lacks.
//! It may also carry PTX for NVIDIA GPUs, one section per chip generation.

use super::{Artifact, ArtifactError, Section};
use crate::cpu::{CpuLevel, host_cpu_model};

/// The section holding the kernel object compiled for `level`: `kernels/x86-64-v3`.
pub fn kernel_section_name(level: CpuLevel) -> String {
    format!("kernels/{}", level.name())
}

/// The section holding the PTX of every kernel for NVIDIA chips of compute capability
/// `target` (`80` for sm_80): `ptx/sm_80`.
pub fn ptx_section_name(target: u32) -> String {
    format!("ptx/sm_{target}")
}

impl Artifact {
    /// The PTX sections, by the compute capability they target, oldest first.
    pub fn ptx_sections(&self) -> Vec<(u32, &Section)> {
        let mut found: Vec<(u32, &Section)> = self
            .sections
            .iter()
            .filter_map(|s| s.name.strip_prefix("ptx/sm_")?.parse().ok().map(|target| (target, s)))
            .collect();
        found.sort_by_key(|(target, _)| *target);
        found
    }

    /// The kernel section to run on this machine and its level.
    pub fn host_kernels(&self) -> Result<(CpuLevel, &Section), ArtifactError> {
        if !cfg!(target_arch = "x86_64") {
            return Err(ArtifactError::NotX86_64 { arch: std::env::consts::ARCH });
        }
        self.best_kernels(CpuLevel::host_supports).map_err(|weakest| match weakest {
            Some(needed) => {
                ArtifactError::CpuUnsupported { needed, missing: needed.missing_on_host(), cpu: host_cpu_model() }
            }
            None => ArtifactError::NoKernels { sections: self.sections.iter().map(|s| s.name.clone()).collect() },
        })
    }

    /// The highest level with a section that `supports` accepts; otherwise the weakest level
    /// with a section (the one to name in the error), or `None` when there is no kernel
    /// section at all.
    fn best_kernels(&self, supports: impl Fn(CpuLevel) -> bool) -> Result<(CpuLevel, &Section), Option<CpuLevel>> {
        let present: Vec<(CpuLevel, &Section)> = CpuLevel::ALL
            .into_iter()
            .filter_map(|level| self.section(&kernel_section_name(level)).map(|s| (level, s)))
            .collect();
        match present.iter().rev().find(|(level, _)| supports(*level)) {
            Some(&best) => Ok(best),
            None => Err(present.first().map(|(level, _)| *level)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact_with(levels: &[CpuLevel]) -> Artifact {
        let mut artifact = Artifact::new(serde_json::Value::Null);
        artifact.sections.push(Section { name: "weights".into(), bytes: vec![1] });
        for level in levels {
            artifact.sections.push(Section { name: kernel_section_name(*level), bytes: level.name().into() });
        }
        artifact
    }

    #[test]
    fn picks_the_highest_supported_level() {
        let all = artifact_with(&[CpuLevel::X86_64V4, CpuLevel::X86_64V3]);
        let up_to_v3 = |level| level <= CpuLevel::X86_64V3;
        let (level, section) = all.best_kernels(up_to_v3).unwrap();
        assert_eq!((level, section.bytes.as_slice()), (CpuLevel::X86_64V3, &b"x86-64-v3"[..]));
        assert_eq!(all.best_kernels(|_| true).unwrap().0, CpuLevel::X86_64V4);
        // Too old a CPU: the error names the weakest level the artifact offers.
        assert_eq!(all.best_kernels(|level| level == CpuLevel::Generic).unwrap_err(), Some(CpuLevel::X86_64V3));
        assert_eq!(artifact_with(&[]).best_kernels(|_| true).unwrap_err(), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn host_kernels_runs_generic_anywhere_and_explains_what_is_missing() {
        let generic = artifact_with(&[CpuLevel::Generic]);
        assert_eq!(generic.host_kernels().unwrap().0, CpuLevel::Generic);
        let v4 = artifact_with(&[CpuLevel::X86_64V4]);
        match v4.host_kernels() {
            Ok((level, _)) => assert!(CpuLevel::X86_64V4.host_supports() && level == CpuLevel::X86_64V4),
            Err(err) => {
                let message = err.to_string();
                assert!(message.starts_with("this build needs x86-64-v4 (AVX-512: "), "{message}");
                assert!(message.contains(&host_cpu_model()), "{message}");
            }
        }
        let none = artifact_with(&[]).host_kernels().unwrap_err();
        assert_eq!(
            none.to_string(),
            "the artifact holds no kernel section (`kernels/<level>`) this runtime knows; its sections: weights"
        );
    }
}
