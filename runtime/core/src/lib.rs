//! The Hourglass runtime: everything that runs a compiled (or interpreted) model and knows
//! nothing of the compiler.
//!
//! **API boundary**: backends implement `hg_exec::Session` (re-exported here); the training
//! loop, data loaders and checkpoints only talk to that trait and to [`Tensor`].

pub mod checkpoint;
pub mod data;
pub mod fsutil;
pub mod images;
pub mod npy;
pub mod train;

pub use data::{DataError, Dataset};
pub use fsutil::IoError;
pub use hg_exec::{ExecError, NamedTensors, Session, Tensor, TensorData, TensorError, init, philox, session, tensor};
