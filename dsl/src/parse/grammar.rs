//! The pest parser generated from `hgl.pest`.

#[derive(pest_derive::Parser)]
#[grammar = "hgl.pest"]
pub(crate) struct HglParser;
