//! Text of a compiled entry: its buffers, then its steps in order (library calls with their
//! geometry, kernels in full), with the commit point marked. `hgc ir --stage kernels`.

use crate::Program;
use hg_abi::plan::{BufRole, LibCall, SparseForm, Step};
use std::fmt::Write as _;

pub fn program(p: &Program, kernel_text: impl Fn(&crate::ir::Kernel) -> String) -> String {
    let mut out = String::new();
    let plan = &p.plan;
    let _ = writeln!(out, "entry {} (arena {} bytes)", plan.entry, plan.arena_bytes);
    for (i, b) in plan.buffers.iter().enumerate() {
        if b.len == hg_abi::plan::Quadratic::ZERO && matches!(b.role, BufRole::Temp { .. }) {
            continue;
        }
        let role = match &b.role {
            BufRole::Input(n) => format!("input {n}"),
            BufRole::Output(n) => format!("output {n}"),
            BufRole::Resident(n) => format!("resident {n}"),
            BufRole::Temp { offset } => format!("temp @{offset}"),
        };
        let _ = writeln!(out, "  %{i}: {}[{}] {role}", b.dtype, b.len);
    }
    for (i, step) in plan.steps.iter().enumerate() {
        if i == plan.commit {
            out.push_str("  commit (the rest runs only when the loss is finite)\n");
        }
        match step {
            Step::Lib { call, args } => {
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                let _ = writeln!(out, "  step {i}: {} ({})", lib_text(call), args.join(", "));
            }
            Step::Kernel { kernel, args, parallel } => {
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                let par = parallel.map(|e| format!(" parallel over {e}")).unwrap_or_default();
                let _ = writeln!(out, "  step {i}: kernel {kernel} ({}){par}", args.join(", "));
                if let Some(k) = p.kernels.get(*kernel as usize) {
                    for line in kernel_text(k).lines() {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
        }
    }
    out
}

fn lib_text(call: &LibCall) -> String {
    match call {
        LibCall::MatMul { batch, inner_batch, m, n, k, a, b, accumulate } => {
            // One batch level: [batch stride, row, col]; two: [batch, inner, row, col].
            let two = *inner_batch != hg_abi::plan::Affine::ONE;
            let strides = |s: &hg_abi::plan::MatStrides| {
                if two {
                    format!("[{}, {}, {}, {}]", s.batch, s.inner, s.row, s.col)
                } else {
                    format!("[{}, {}, {}]", s.batch, s.row, s.col)
                }
            };
            let batches = if two { format!("{batch}x{inner_batch}") } else { batch.to_string() };
            format!(
                "matmul batch={batches} m={m} n={n} k={k} a={} b={}{}",
                strides(a),
                strides(b),
                if *accumulate { " accumulate" } else { "" }
            )
        }
        LibCall::Conv2d(g) | LibCall::ConvTranspose2d(g) | LibCall::Conv2dWeightGrad(g) | LibCall::MaxPool2dGrad(g) => {
            let name = match call {
                LibCall::Conv2d(_) => "conv2d",
                LibCall::ConvTranspose2d(_) => "conv_transpose2d",
                LibCall::Conv2dWeightGrad(_) => "conv2d_weight_grad",
                _ => "max_pool2d_grad",
            };
            format!("{name} {}", geom_text(g))
        }
        LibCall::Pool2d { geom, max } => format!("{}_pool2d {}", if *max { "max" } else { "avg" }, geom_text(geom)),
        LibCall::Gather { outer, axis, idx_axis, inner } => {
            format!("gather outer={outer} axis={axis} idx_axis={idx_axis} inner={inner}")
        }
        LibCall::ScatterAdd { outer, axis, idx_axis, inner } => {
            format!("scatter_add outer={outer} axis={axis} idx_axis={idx_axis} inner={inner}")
        }
        LibCall::TopK { outer, axis, inner, k } => format!("topk k={k} outer={outer} axis={axis} inner={inner}"),
        LibCall::ArgReduce { outer, axis, inner, max } => {
            format!("{} outer={outer} axis={axis} inner={inner}", if *max { "argmax" } else { "argmin" })
        }
        LibCall::SparseMatMul { form, rows, nnz, n, cols, d } => format!(
            "sparse_matmul {} rows={rows} nnz={nnz} n={n} cols={cols} d=[{}, {}]",
            match form {
                SparseForm::GatherRows => "gather_rows",
                SparseForm::ScatterRows => "scatter_rows",
                SparseForm::ScatterCols => "scatter_cols",
            },
            d.row,
            d.col
        ),
        LibCall::SampledMatMul { rows, nnz, n, inner, a, b } => format!(
            "sampled_matmul rows={rows} nnz={nnz} n={n} inner={inner} a=[{}, {}] b=[{}, {}]",
            a.row, a.col, b.row, b.col
        ),
        LibCall::CheckIndices { len, n } => format!("check_indices len={len} n={n}"),
        LibCall::Random { kind, site, len } => format!("random {kind:?} site={site} len={len}"),
    }
}

fn geom_text(g: &hg_abi::plan::Conv2dGeom) -> String {
    format!(
        "n={} in={}x{}x{} out={}x{}x{} kernel={}x{} stride={:?} padding={:?} groups={}",
        g.n, g.c, g.h, g.w, g.o, g.oh, g.ow, g.kh, g.kw, g.stride, g.padding, g.groups
    )
}
