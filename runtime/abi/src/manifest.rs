//! What a compiled model tells the runtime about itself: its parameters and how to initialise
//! them, the typed signature of every entry point, and the layout of the train step. A
//! backend produces it with its program and a standalone artifact carries it (it serialises
//! with serde), so a binary without the compiler can initialise, train, checkpoint, resume and
//! run every entry.

use crate::{DType, EntrySignature, TensorSpec, names};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a parameter's initial value is drawn. Fan-in/fan-out follow PyTorch: for a rank-2
/// `[in, out]` weight (our `Linear` layout) fan_in = in, fan_out = out; for rank ≥ 3
/// (`[out, in, k...]` convolution weights) fan_in = in * prod(k), fan_out = out * prod(k).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Init {
    Zeros,
    Ones,
    Normal { std: f64 },
    Uniform { lo: f64, hi: f64 },
    GlorotUniform,
    HeNormal,
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Zeros => f.write_str("zeros"),
            Init::Ones => f.write_str("ones"),
            Init::Normal { std } => write!(f, "normal({std:?})"),
            Init::Uniform { lo, hi } => write!(f, "uniform({lo:?}, {hi:?})"),
            Init::GlorotUniform => f.write_str("glorot_uniform"),
            Init::HeNormal => f.write_str("he_normal"),
        }
    }
}

/// One trainable parameter: its path (without the `param:` prefix), type and initializer.
/// Parameter `k` of a manifest's list draws its initial values from Philox site
/// `PARAM_INIT_SITE_BASE + k` (see the runtime's `init` module), so the order is part of the
/// contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub init: Init,
    /// False for a buffer: state the train step sets by the model's `update` (running
    /// statistics, EMA codebooks), with no gradient and no optimizer state, saved with the
    /// weights like a parameter.
    #[serde(default = "trainable_default")]
    pub trainable: bool,
}

fn trainable_default() -> bool {
    true
}

/// How the `train` entry threads state from one step to the next: each pair says which output
/// replaces which input (`param:w` → `param:w`, `state:adam.m.w` → `state:adam.m.w`). The
/// backend keeps these tensors resident; everything else the step returns (`loss`, metrics,
/// `lr`) goes to the host every step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainLayout {
    /// `(input, output)` pairs: parameters first (in manifest order), then optimizer state.
    pub carried: Vec<(String, String)>,
    /// Optimizer state tensors, all starting at zero.
    pub state: Vec<TensorSpec>,
}

/// The whole runtime-facing description of a compiled model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The model's name in the spec.
    pub model: String,
    pub params: Vec<ParamSpec>,
    pub entries: Vec<EntrySignature>,
    /// Present when the model has a train step.
    pub train: Option<TrainLayout>,
}

impl Manifest {
    pub fn entry(&self, name: &str) -> Option<&EntrySignature> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn entry_names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// The parameters as the tensor specs of their `param:` inputs.
    pub fn param_specs(&self) -> Vec<TensorSpec> {
        self.params
            .iter()
            .map(|p| TensorSpec {
                name: names::param(&p.name),
                dtype: p.dtype,
                shape: p.shape.iter().map(|&n| crate::DimSpec::Fixed(n)).collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DimSpec;

    #[test]
    fn a_manifest_round_trips_through_json() {
        let m = Manifest {
            model: "Vae".into(),
            params: vec![ParamSpec {
                name: "enc.w".into(),
                dtype: DType::F32,
                shape: vec![3, 4],
                init: Init::GlorotUniform,
                trainable: false,
            }],
            entries: vec![EntrySignature {
                name: "encode".into(),
                inputs: vec![TensorSpec {
                    name: "x".into(),
                    dtype: DType::F32,
                    shape: vec![DimSpec::Batch(1), DimSpec::Fixed(3)],
                }],
                outputs: vec![],
            }],
            train: Some(TrainLayout { carried: vec![("param:enc.w".into(), "param:enc.w".into())], state: vec![] }),
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
        assert_eq!(m.param_specs()[0].to_string(), "param:enc.w: f32[3, 4]");
        assert_eq!(m.train.as_ref().unwrap().carried[0].1, "param:enc.w");
        assert_eq!(Init::Normal { std: 0.5 }.to_string(), "normal(0.5)");
    }
}
