//! The Hourglass runtime: everything that runs a compiled (or interpreted) model and knows
//! nothing of the compiler.
//!
//! **API boundary**: executors (the reference interpreter, compiled CPU plans, CUDA) implement
//! [`exec::Executable`]; the training loop, data loaders and checkpoints only talk to that trait
//! and to [`tensor::Tensor`].

pub mod checkpoint;
pub mod data;
pub mod exec;
pub mod fsutil;
pub mod images;
pub mod npy;
pub mod philox;
pub mod tensor;
pub mod train;

pub use data::{DataError, Dataset};
pub use exec::{ExecError, Executable, NamedTensors};
pub use fsutil::IoError;
pub use tensor::{Tensor, TensorData, TensorError};
