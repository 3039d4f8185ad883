//! Hourglass's CUDA executor: compiled plans on an NVIDIA GPU through the driver API, with the
//! PTX the compiler generated (one text per chip generation; the driver compiles it for the
//! device) and cuBLAS for matrix products.
//!
//! The driver and cuBLAS are loaded when a session opens (cudarc's dynamic loading), so every
//! build of Hourglass carries this crate and runs on machines without a GPU, where opening a
//! session is an error that says so ([`device::probe_driver`]), never a crash.
//!
//! What runs: generated kernels and matrix products, which is every step of the MLP and
//! convolutional models; plans with other library calls (gather, top-k, ...) are refused when
//! the session opens. Parameters and optimizer state stay on the device; a train step reads
//! back its loss at the commit point.

pub mod device;
pub mod error;
pub mod exec;
pub mod gemm;
pub mod launch;
pub mod module;
pub mod session;

pub use device::{DeviceInfo, Gpu, probe_driver};
pub use error::CudaError;
pub use exec::unsupported_step;
pub use module::{PtxSet, best_target};
pub use session::{CudaProgram, CudaSession};
