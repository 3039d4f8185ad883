//! What the command line knows of a model, whoever compiled it: the [`ModelCard`] (a plain,
//! serialisable description, carried inside artifacts) and the [`Model`] trait that opens
//! sessions on it. `hgc run` implements it over a spec compiled in memory; a standalone
//! executable over the artifact it carries.

use hg_abi::Manifest;
use hg_exec::Session;
use serde::{Deserialize, Serialize};

/// The spec a model was compiled from, as a run record and `--resume` need it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SpecCard {
    /// The file as the user named it (shown, recorded in runs).
    pub file: String,
    /// Its text when compiled.
    pub text: String,
    /// The `--set NAME=VALUE` overrides it was compiled with.
    pub set: Vec<String>,
}

/// One parameter tensor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ParamCard {
    /// Its path, without the `param:` prefix.
    pub name: String,
    /// Its type as the IR prints it (`f32[784, 256]`).
    pub ty: String,
    /// Its initializer as the spec writes it.
    pub init: String,
    /// Number of values.
    pub values: usize,
}

/// The `train` block's settings, as defaults of `train` and `time`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainCard {
    pub seed: Option<u64>,
    pub batch: Option<u64>,
    pub steps: Option<u64>,
    pub epochs: Option<u64>,
    /// The optimizer's learning rate (the default base learning rate).
    pub lr: f64,
    /// The optimizer with every setting, as a spec writes it: `adam(lr=0.001, ...)`.
    pub optimizer: String,
    /// The schedule: `constant`, `cosine(warmup=100)`.
    pub schedule: String,
    pub clip_grad_norm: Option<f64>,
    /// The settings the `train` block writes; `None` when the model has no `train` block.
    pub written: Option<Vec<String>>,
}

/// Memory of the parameters, the optimizer state and one compiled train step.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryCard {
    pub parameter_bytes: u64,
    pub state_bytes: u64,
    /// The batch size `train_step_bytes` was computed at.
    pub train_batch: Option<usize>,
    pub train_step_bytes: Option<u64>,
}

/// Everything the command line shows or checks about a model without running it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelCard {
    /// The model's name.
    pub model: String,
    pub spec: SpecCard,
    pub params: Vec<ParamCard>,
    /// Entry points the model does not have, with the reason.
    pub missing: Vec<(String, String)>,
    pub latents: Vec<String>,
    pub outputs: Vec<String>,
    pub metrics: Vec<String>,
    pub train: TrainCard,
    /// Why the model cannot be trained, when it cannot.
    pub untrainable: Option<String>,
    /// Parameters the loss does not depend on (they only change through weight decay).
    pub unused_params: Vec<String>,
    /// The runtime's view: entry signatures (with the train step when the model can be
    /// trained) and parameter initializers.
    pub manifest: Manifest,
}

impl MemoryCard {
    /// The memory of `card`'s parameters and optimizer state, and of one call of its compiled
    /// `train_plan` at the `train` block's batch (its arena plus the batch and outputs).
    pub fn of(card: &ModelCard, train_plan: Option<&hg_abi::plan::Plan>) -> MemoryCard {
        let bytes = |specs: &[hg_abi::TensorSpec]| -> u64 {
            specs
                .iter()
                .map(|s| s.shape.iter().map(|d| d.resolve(0) as u64).product::<u64>() * s.dtype.size_bytes() as u64)
                .sum()
        };
        let manifest = &card.manifest;
        let batch = card.train.batch.map_or(crate::run::DEFAULT_BATCH, |b| b as usize);
        let step = train_plan.map(|p| crate::memory::compiled_bytes(p, batch));
        MemoryCard {
            parameter_bytes: bytes(&manifest.param_specs()),
            state_bytes: manifest.train.as_ref().map_or(0, |t| bytes(&t.state)),
            train_batch: step.map(|_| batch),
            train_step_bytes: step,
        }
    }
}

impl ModelCard {
    /// The reason the model has no entry `entry`, if it has none.
    pub fn missing(&self, entry: &str) -> Option<&str> {
        self.missing.iter().find(|(n, _)| n == entry).map(|(_, why)| why.as_str())
    }

    /// Number of parameter tensors and of values in them.
    pub fn parameter_count(&self) -> (usize, usize) {
        (self.params.len(), self.params.iter().map(|p| p.values).sum())
    }
}

/// A model the command line can run: its card, and sessions on the backend it was compiled for.
pub trait Model {
    fn card(&self) -> &ModelCard;
    /// The backend's name, shown and recorded.
    fn backend(&self) -> &str;
    /// Opens a session: with the train step (`train`), or for the inference entries.
    fn open(&self, train: bool) -> Result<Box<dyn Session>, String>;
    /// Fails, with the figures and a batch that fits, when one call of `entry` at `batch`
    /// needs more memory than the machine has available.
    fn check_batch_fits(&self, entry: &str, batch: usize) -> Result<(), String>;
    /// Memory of the parameters, the optimizer state and one compiled train step, for `info`
    /// (a compiler lowers the train step for it only when asked).
    fn memory(&self) -> MemoryCard;
    /// Called when the model cannot be trained, before the error: where a compiler has a
    /// located diagnostic, it prints it.
    fn report_untrainable(&self) {}
    /// Parameters to use when neither `--weights` nor `--init` is given (a build's embedded
    /// weights).
    fn default_params(&self) -> Option<hg_exec::NamedTensors> {
        None
    }
    /// How the model was built, for `info` (a standalone executable's provenance).
    fn about(&self) -> Option<String> {
        None
    }
}
