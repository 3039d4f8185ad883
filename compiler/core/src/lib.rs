//! Hourglass middle end: expansion, type and shape checking, autodiff, passes, reference interpreter

pub mod expand;
pub mod interp;
pub mod pipeline;
pub mod autodiff;
pub mod optim;
