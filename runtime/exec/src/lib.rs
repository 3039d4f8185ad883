//! What runs a compiled Hourglass model, and nothing more: host tensors, the random stream
//! every backend shares, parameter initialisation from a manifest, and the [`Session`]
//! interface a backend implements.
//!
//! **API boundary**: backends (the reference interpreter in the compiler, compiled CPU code,
//! CUDA) depend on this crate and `hg-abi` only; the training loop, data sets, checkpoints and
//! pictures (`hg-runtime`) talk to a model only through [`Session`]. So a standalone executable
//! links this crate and the runtime, never the compiler.

pub mod compiled;
pub mod init;
pub mod kernel_fns;
pub mod philox;
pub mod session;
pub mod tensor;
pub mod units;

pub use init::{InitError, init_params};
pub use session::{ExecError, NamedTensors, Session, check_tensors};
pub use tensor::{Tensor, TensorData, TensorError};
