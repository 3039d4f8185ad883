//! A model compiled ahead of time, as `hgc build` writes it and a runner reads it: the
//! artifact's header is a [`BuiltModel`] (the card, one plan per entry, which code generator
//! made the kernels), its sections are one kernel object per CPU level and optionally the
//! trained weights, and PTX for NVIDIA GPUs where the build made it (one section per chip
//! generation). [`ArtifactModel`] is the [`Model`] over it: it loads the object for the best
//! level this CPU supports with the runtime's loader and opens CPU sessions on it, or, on
//! [`Device::Cuda`], CUDA sessions with the PTX that fits the GPU.

use std::collections::BTreeMap;
use std::sync::Arc;

use hg_abi::artifact::{self, Artifact, WEIGHTS_SECTION, kernel_section_name, ptx_section_name};
use hg_abi::plan::{KernelFn, KernelSignature, Plan};
use hg_abi::{CpuLevel, names};
use hg_cpu::loader::{LoadedObject, runtime_symbol};
use hg_cpu::{CpuSession, Kernels};
use hg_cuda::{CudaProgram, CudaSession, Gpu, PtxSet};
use hg_exec::{NamedTensors, Session};
use serde::{Deserialize, Serialize};

use crate::memory::{available_bytes, check_fits, compiled_bytes};
use crate::model::{MemoryCard, Model, ModelCard};

/// The header of an artifact.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuiltModel {
    pub card: ModelCard,
    /// One plan per entry (`train` with the train step when the model can be trained).
    pub plans: BTreeMap<String, Plan>,
    /// The code generator of the kernels: `llvm` or `cranelift`.
    pub backend: String,
    /// The signature of each kernel; kernel `i` is the symbol `hg_kernel_{i}` of every kernel
    /// section. Every plan step is checked against them before anything runs.
    pub signatures: Vec<KernelSignature>,
}

impl BuiltModel {
    /// The artifact of this model with `objects` (one per CPU level) and optional weights (a
    /// safetensors file's bytes), as bytes.
    pub fn to_artifact(
        &self,
        objects: &[(CpuLevel, Vec<u8>)],
        ptx: &PtxSet,
        weights: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, String> {
        let header = serde_json::to_value(self).map_err(|e| format!("cannot write the artifact header: {e}"))?;
        let mut artifact = Artifact::new(header);
        for (level, bytes) in objects {
            artifact.sections.push(artifact::Section { name: kernel_section_name(*level), bytes: bytes.clone() });
        }
        for (target, text) in &ptx.texts {
            artifact
                .sections
                .push(artifact::Section { name: ptx_section_name(*target), bytes: text.clone().into_bytes() });
        }
        if let Some(bytes) = weights {
            artifact.sections.push(artifact::Section { name: WEIGHTS_SECTION.into(), bytes });
        }
        artifact.to_bytes().map_err(|e| e.to_string())
    }
}

/// What a built model runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Device {
    /// This CPU, with the kernel object for its level.
    #[default]
    Cpu,
    /// An NVIDIA GPU, with the PTX for its chip.
    Cuda,
}

/// A built model loaded for this CPU.
pub struct ArtifactModel {
    built: BuiltModel,
    /// `llvm (x86-64-v3)`: the code generator and the level of the loaded kernels.
    backend: String,
    /// Every level the artifact carries kernels for.
    levels: Vec<CpuLevel>,
    producer: String,
    functions: Vec<KernelFn>,
    code: Arc<LoadedObject>,
    weights: Option<NamedTensors>,
    /// The PTX the artifact carries (none when it was built without GPU code).
    ptx: PtxSet,
    device: Device,
}

impl ArtifactModel {
    /// Reads an artifact (`origin` names it in errors) and loads its kernels for this CPU.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<ArtifactModel, String> {
        let fail = |m: String| format!("{origin}: {m}");
        let artifact = Artifact::from_bytes(bytes).map_err(|e| fail(e.to_string()))?;
        let built: BuiltModel = serde_json::from_value(artifact.header.clone())
            .map_err(|e| fail(format!("not a model built by this version of Hourglass ({e})")))?;
        let (level, section) = artifact.host_kernels().map_err(|e| fail(e.to_string()))?;
        let code = LoadedObject::load(&section.bytes, &runtime_symbol)
            .map_err(|e| fail(format!("cannot load its {} kernels: {e}", level.name())))?;
        let functions = (0..built.signatures.len())
            .map(|i| {
                let address = code
                    .symbol(&format!("hg_kernel_{i}"))
                    .ok_or_else(|| fail(format!("its {} kernels lack kernel {i}", level.name())))?;
                // SAFETY: `hgc build` defines `hg_kernel_{i}` with the `KernelFn` signature;
                // the artifact's checksum vouches that these are the bytes it wrote.
                Ok(unsafe { std::mem::transmute::<*const u8, KernelFn>(address) })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let weights = match artifact.section(WEIGHTS_SECTION) {
            Some(s) => Some(embedded_weights(&s.bytes, &built.card).map_err(fail)?),
            None => None,
        };
        let levels =
            CpuLevel::ALL.into_iter().filter(|l| artifact.section(&kernel_section_name(*l)).is_some()).collect();
        let mut ptx = PtxSet::default();
        for (target, section) in artifact.ptx_sections() {
            let text = String::from_utf8(section.bytes.clone())
                .map_err(|_| fail(format!("its section `{}` is not PTX text", section.name)))?;
            ptx.texts.push((target, text));
        }
        let backend = format!("{} ({})", built.backend, level.name());
        Ok(ArtifactModel {
            built,
            backend,
            levels,
            producer: artifact.producer,
            functions,
            code: Arc::new(code),
            weights,
            ptx,
            device: Device::Cpu,
        })
    }

    /// Runs the model on `device` from now on; an error when the artifact has no code for it.
    pub fn set_device(&mut self, device: Device) -> Result<(), String> {
        if device == Device::Cuda && self.ptx.texts.is_empty() {
            return Err("--device cuda: this model carries no GPU code; build it with an hgc built with MLIR \
                        (`--features hgc/mlir`), which adds PTX when every step of the model runs on the GPU"
                .into());
        }
        self.device = device;
        Ok(())
    }

    /// The compute capabilities the artifact carries PTX for (`80` for sm_80).
    pub fn ptx_targets(&self) -> Vec<u32> {
        self.ptx.texts.iter().map(|(target, _)| *target).collect()
    }

    /// A session on the GPU: its driver probed first, then the PTX that fits it.
    fn open_cuda(&self) -> Result<Box<dyn Session>, String> {
        let gpu = Gpu::open().map_err(|e| e.to_string())?;
        let program = CudaProgram {
            manifest: self.built.card.manifest.clone(),
            plans: self.built.plans.clone(),
            signatures: self.built.signatures.clone(),
            ptx: self.ptx.clone(),
        };
        Ok(Box::new(CudaSession::open(gpu, program).map_err(|e| e.to_string())?))
    }

    /// The plans of the model.
    pub fn plans(&self) -> &BTreeMap<String, Plan> {
        &self.built.plans
    }
}

/// The embedded weights as `param:` tensors, checked against the model's parameters.
pub fn embedded_weights(bytes: &[u8], card: &ModelCard) -> Result<NamedTensors, String> {
    let (tensors, _) =
        hg_runtime::checkpoint::load_safetensors_bytes(bytes, "the embedded weights").map_err(|e| e.to_string())?;
    let mut out = NamedTensors::new();
    for p in &card.manifest.params {
        let t = tensors
            .get(&p.name)
            .or_else(|| tensors.get(&names::param(&p.name)))
            .ok_or_else(|| format!("the embedded weights have no tensor for parameter `{}`", p.name))?;
        if t.shape() != p.shape.as_slice() || t.dtype() != p.dtype {
            return Err(format!("the embedded weights' `{}` is {t}, not the parameter's shape", p.name));
        }
        out.insert(names::param(&p.name), t.clone());
    }
    Ok(out)
}

impl Model for ArtifactModel {
    fn card(&self) -> &ModelCard {
        &self.built.card
    }

    fn backend(&self) -> &str {
        match self.device {
            Device::Cpu => &self.backend,
            Device::Cuda => "cuda",
        }
    }

    fn open(&self, _train: bool) -> Result<Box<dyn Session>, String> {
        if self.device == Device::Cuda {
            return self.open_cuda();
        }
        // SAFETY: the kernels were compiled by `hgc build` from verified kernel IR, each reading
        // and writing only inside arguments of its signature, and the executor checks every plan
        // step against those signatures before it runs; `code` keeps them loaded.
        let kernels = unsafe {
            Kernels::with_signatures(
                self.functions.clone(),
                self.built.signatures.clone(),
                Box::new(Arc::clone(&self.code)),
            )
        }
        .map_err(|e| e.to_string())?;
        let card = &self.built.card;
        let session = CpuSession::new(card.manifest.clone(), self.built.plans.clone(), kernels, self.backend.clone())
            .map_err(|e| e.to_string())?;
        Ok(Box::new(session))
    }

    fn check_batch_fits(&self, entry: &str, batch: usize) -> Result<(), String> {
        if self.device == Device::Cuda {
            // Device memory: an allocation that does not fit is the driver's error.
            return Ok(());
        }
        match (self.built.plans.get(entry), available_bytes()) {
            (Some(plan), Some(available)) => {
                check_fits(entry, batch, available, "compiled code", &|b| compiled_bytes(plan, b))
            }
            _ => Ok(()),
        }
    }

    fn memory(&self) -> MemoryCard {
        MemoryCard::of(&self.built.card, self.built.plans.get("train"))
    }

    fn default_params(&self) -> Option<NamedTensors> {
        self.weights.clone()
    }

    fn about(&self) -> Option<String> {
        let card = &self.built.card;
        let set =
            if card.spec.set.is_empty() { String::new() } else { format!(" --set {}", card.spec.set.join(" --set ")) };
        let levels: Vec<&str> = self.levels.iter().map(|l| l.name()).collect();
        let weights = if self.weights.is_some() { "trained weights embedded" } else { "no weights embedded" };
        let gpu: Vec<String> = self.ptx_targets().iter().map(|t| format!("sm_{t}")).collect();
        let gpu = if gpu.is_empty() { "no GPU code".to_string() } else { format!("PTX for {}", gpu.join(", ")) };
        Some(format!(
            "built by Hourglass {} from {}{set}: {} kernels for {}, {gpu}, running {}; {weights}",
            self.producer,
            card.spec.file,
            self.built.backend,
            levels.join(", "),
            self.backend()
        ))
    }
}
