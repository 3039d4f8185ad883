//! [`Error`]: why an `hgrun` command could not do its job.
//!
//! Every failure a user can cause (a missing or corrupt file, an unknown array, a data set that
//! is not installed) becomes one lowercase, complete message naming the file or array concerned;
//! the command line prints it as `error: <message>` and exits with status 1. Nothing a user
//! types or feeds in may panic, so errors of the runtime's readers are carried here verbatim.

use hg_runtime::train::TrainError;
use hg_runtime::{DataError, IoError};
use std::fmt;

/// A user-facing failure message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<IoError> for Error {
    fn from(e: IoError) -> Error {
        Error(e.to_string())
    }
}

impl From<DataError> for Error {
    fn from(e: DataError) -> Error {
        Error(e.to_string())
    }
}

impl From<TrainError> for Error {
    fn from(e: TrainError) -> Error {
        Error(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
