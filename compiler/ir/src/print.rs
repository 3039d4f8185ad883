//! IR text form. (Being written.)
