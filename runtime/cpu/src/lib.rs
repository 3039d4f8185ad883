//! The Hourglass CPU executor (see the crate description).
