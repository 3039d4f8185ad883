//! The Hourglass compiler driver: the stages behind the `hgc` command, callable as a library
//! (tests call [`driver::check_path`] and [`render::render`] directly).
//!
//! **Invariant**: this is the only compiler crate that reads files or prints; the front end
//! receives bytes through [`driver::FsLoader`] and returns diagnostics as data.

pub mod backends;
pub mod build;
pub mod cli;
pub mod compile;
pub mod driver;
pub mod ir;
pub mod memory;
pub mod options;
pub mod render;
pub mod run;
pub mod timing;
