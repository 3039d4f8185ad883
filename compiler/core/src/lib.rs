//! Hourglass middle end: expansion, type and shape checking, autodiff, passes, reference interpreter

pub mod autodiff;
pub mod expand;
pub mod interp;
pub mod manifest;
pub mod optim;
pub mod pipeline;
