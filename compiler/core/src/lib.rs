//! Hourglass middle end: expansion, type and shape checking, autodiff, passes, reference interpreter
