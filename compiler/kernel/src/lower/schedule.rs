//! The order of steps and the train step's in-place updates.
//!
//! Steps are built in a topological order. The steps that produce new parameters and optimizer
//! state (and anything that reads them) move to the end, behind the commit point, so the
//! executor can check the loss before anything resident changes. A new value is then written
//! straight into its resident buffer when that is safe: its kernel reads the old value only at
//! the element it writes, and every other reader of the old value runs before it. Otherwise it
//! goes to a temporary that a final copy moves in.

use super::kernels::copy_into;
use super::{LowerError, Lowering, Repr, kernel_io, lib_io};
use crate::ir::{Expr, Index, Kernel, Stmt};
use hg_abi::names;
use hg_abi::plan::{Affine, BufId, BufRole, Quadratic, Step};
use hg_ir::{Op, ValueId};
use std::collections::HashSet;

/// The final steps, their kernels and labels (with source spans), and the commit index.
pub type Finished = (Vec<Step>, Vec<Kernel>, Vec<(String, Vec<hg_ir::NodeSpan>)>, usize);

pub fn finish(lw: &mut Lowering, carried: &[(String, ValueId)]) -> Result<Finished, LowerError> {
    let resident_of = |lw: &Lowering, name: &str| {
        lw.buffers.iter().position(|b| b.role == BufRole::Resident(name.to_string())).map(|i| BufId(i as u32))
    };
    // Where each carried value is, and whether it needs work at all. A new value that an output
    // of the step also needs (a buffer that holds a value the forward pass computes, such as
    // `std.nn.Initial`'s) is computed before the commit point like the rest of the forward
    // pass, and copied into its resident buffer after it.
    let forward = needed_by_outputs(lw.f, carried);
    let mut targets: Vec<(BufId, BufId, ValueId)> = Vec::new();
    for (input, v) in carried {
        let resident = resident_of(lw, input)
            .ok_or_else(|| LowerError::Malformed(format!("carried `{input}` is not a resident input")))?;
        if matches!(lw.f.op(*v), Op::Input { name } if name == input) {
            continue;
        }
        // The buffer that already holds the new value, where it is its producer's own temporary.
        let own = match lw.reprs.get(v).cloned() {
            _ if forward.contains(v) => None,
            Some(Repr::InlineStored { buf }) if lw.producer.get(&buf) == Some(v) => Some(buf),
            Some(Repr::Strided { buf, offset, .. })
                if offset == Affine::ZERO
                    && lw.producer.get(&buf) == Some(v)
                    && matches!(lw.buffers[buf.0 as usize].role, BufRole::Temp { .. }) =>
            {
                Some(buf)
            }
            _ => None,
        };
        let temp = match own {
            Some(buf) => buf,
            None => {
                let tmp = lw.temp_for_copy(*v)?;
                copy_into(lw, *v, tmp, &format!("new_{}", super::sanitize(input)))?;
                lw.producer.insert(tmp, *v);
                tmp
            }
        };
        targets.push((temp, resident, *v));
    }
    // Order: steps not depending on new values, then the rest.
    let n = lw.steps.len();
    let io: Vec<(Vec<BufId>, Vec<BufId>)> = lw
        .steps
        .iter()
        .map(|b| match (&b.step, &b.kernel) {
            (Step::Kernel { args, .. }, Some(k)) => kernel_io(k, args),
            (Step::Lib { call, args }, _) => lib_io(call, args),
            (Step::Kernel { args, .. }, None) => (args.clone(), args.clone()),
        })
        .collect();
    let new_bufs: HashSet<BufId> = targets.iter().map(|t| t.0).collect();
    let mut late_bufs: HashSet<BufId> = HashSet::new();
    let mut late = vec![false; n];
    for i in 0..n {
        let (reads, writes) = &io[i];
        if writes.iter().any(|w| new_bufs.contains(w)) || reads.iter().any(|r| late_bufs.contains(r)) {
            late[i] = true;
            late_bufs.extend(writes.iter().copied());
        }
    }
    let order: Vec<usize> = (0..n).filter(|&i| !late[i]).chain((0..n).filter(|&i| late[i])).collect();
    let commit = order.iter().position(|&i| late[i]).unwrap_or(n);
    // Every output, the loss first, must be known at the commit point: a step whose loss is not
    // finite skips what follows and still returns them.
    for (i, b) in lw.buffers.iter().enumerate() {
        let BufRole::Output(name) = &b.role else { continue };
        if let Some(&s) = order[commit..].iter().find(|&&s| io[s].1.contains(&BufId(i as u32))) {
            let what = if name == names::LOSS { "the loss".to_string() } else { format!("the output `{name}`") };
            let step = &lw.steps[s].label;
            return Err(LowerError::Malformed(format!("{what} depends on the updated parameters (step `{step}`)")));
        }
    }
    let position: Vec<usize> = {
        let mut p = vec![0; n];
        for (pos, &i) in order.iter().enumerate() {
            p[i] = pos;
        }
        p
    };
    // In place where safe; otherwise a copy at the end.
    let mut renames: Vec<(BufId, BufId)> = Vec::new();
    let mut copies: Vec<(BufId, BufId)> = Vec::new();
    for &(temp, resident, _) in &targets {
        let writer = (0..n).find(|&i| io[i].1.contains(&temp));
        let safe = writer.is_some_and(|w| {
            let old_readers_before =
                (0..n).filter(|&i| i != w && io[i].0.contains(&resident)).all(|i| position[i] < position[w]);
            let same_element = match (&lw.steps[w].step, &lw.steps[w].kernel) {
                (Step::Kernel { args, .. }, Some(k)) => reads_only_at_store(k, args, resident, temp),
                _ => !io[w].0.contains(&resident),
            };
            old_readers_before && same_element
        });
        if safe { renames.push((temp, resident)) } else { copies.push((temp, resident)) }
    }
    // Assemble the final steps and kernels.
    let mut steps = Vec::with_capacity(n + copies.len());
    let mut kernels = Vec::new();
    let mut labels = Vec::with_capacity(n + copies.len());
    for &i in &order {
        let built = &lw.steps[i];
        labels.push((built.label.clone(), built.sources.clone()));
        let mut step = built.step.clone();
        rename(&mut step, &renames);
        if let (Step::Kernel { kernel, args, .. }, Some(k)) = (&mut step, &built.kernel) {
            let mut k = k.clone();
            merge_duplicate_args(&mut k, args);
            *kernel = kernels.len() as u32;
            kernels.push(k);
        }
        steps.push(step);
    }
    for &(temp, resident) in &copies {
        let (k, rows) = copy_kernel(lw, temp, resident, kernels.len())?;
        steps.push(Step::Kernel { kernel: kernels.len() as u32, args: vec![temp, resident], parallel: Some(rows) });
        labels.push(("commit".to_string(), Vec::new()));
        kernels.push(k);
    }
    // Renamed temporaries are no longer used; give them no space.
    for &(temp, _) in &renames {
        lw.buffers[temp.0 as usize].len = Quadratic::ZERO;
    }
    // An output the updates also read (the learning rate) is complete before the commit point
    // and must not be touched after it: the late steps read a temporary copy instead.
    let mut commit = commit;
    let outputs: Vec<BufId> = (0..lw.buffers.len())
        .filter(|&i| matches!(lw.buffers[i].role, BufRole::Output(_)))
        .map(|i| BufId(i as u32))
        .collect();
    for out in outputs {
        let late_use = steps[commit..].iter().any(|s| match s {
            Step::Kernel { args, .. } | Step::Lib { args, .. } => args.contains(&out),
        });
        if !late_use {
            continue;
        }
        let decl = lw.buffers[out.0 as usize].clone();
        let tmp = lw.new_buffer(
            crate::ir::Scalar::of(decl.dtype).unwrap_or(crate::ir::Scalar::F32),
            decl.len,
            BufRole::Temp { offset: Quadratic::ZERO },
        );
        for s in &mut steps[commit..] {
            rename(s, &[(out, tmp)]);
        }
        let (k, rows) = copy_kernel(lw, out, tmp, kernels.len())?;
        steps.insert(commit, Step::Kernel { kernel: kernels.len() as u32, args: vec![out, tmp], parallel: Some(rows) });
        labels.insert(commit, ("keep_output".to_string(), Vec::new()));
        kernels.push(k);
        commit += 1;
    }
    Ok((steps, kernels, labels, commit))
}

/// The values the outputs that are not carried values (the loss, the metrics) depend on.
fn needed_by_outputs(f: &hg_ir::Function, carried: &[(String, ValueId)]) -> HashSet<ValueId> {
    let carried: HashSet<ValueId> = carried.iter().map(|(_, v)| *v).collect();
    let mut seen = HashSet::new();
    let mut stack: Vec<ValueId> = f.outputs.iter().map(|(_, v)| *v).filter(|v| !carried.contains(v)).collect();
    while let Some(v) = stack.pop() {
        if seen.insert(v) {
            stack.extend(f.operands(v));
        }
    }
    seen
}

fn rename(step: &mut Step, renames: &[(BufId, BufId)]) {
    let args = match step {
        Step::Kernel { args, .. } | Step::Lib { args, .. } => args,
    };
    for a in args.iter_mut() {
        if let Some((_, to)) = renames.iter().find(|(from, _)| from == a) {
            *a = *to;
        }
    }
}

/// After an in-place rename a kernel may name one buffer twice (the old value it reads, the new
/// value it writes): make it one argument, read and written, so no two arguments alias.
fn merge_duplicate_args(k: &mut Kernel, args: &mut Vec<BufId>) {
    let mut map: Vec<u32> = Vec::with_capacity(args.len());
    let mut kept: Vec<BufId> = Vec::new();
    let mut kept_args = Vec::new();
    for (i, b) in args.iter().enumerate() {
        match kept.iter().position(|x| x == b) {
            Some(j) => {
                let a: &mut crate::ir::Arg = &mut kept_args[j];
                a.written |= k.args[i].written;
                map.push(j as u32);
            }
            None => {
                map.push(kept.len() as u32);
                kept.push(*b);
                kept_args.push(k.args[i].clone());
            }
        }
    }
    if kept.len() == args.len() {
        return;
    }
    remap(&mut k.body, &map);
    k.args = kept_args;
    *args = kept;
}

fn remap(body: &mut [Stmt], map: &[u32]) {
    for s in body {
        match s {
            Stmt::Loop { body, .. } => remap(body, map),
            Stmt::Let { expr: Expr::Load { arg, .. }, .. } | Stmt::Store { arg, .. } => *arg = map[*arg as usize],
            _ => {}
        }
    }
}

/// Whether kernel `k` reads `resident` only at indices equal to those it stores `temp` at.
fn reads_only_at_store(k: &Kernel, args: &[BufId], resident: BufId, temp: BufId) -> bool {
    let (Some(r), Some(t)) = (args.iter().position(|a| *a == resident), args.iter().position(|a| *a == temp)) else {
        return !args.contains(&resident);
    };
    let mut loads = Vec::new();
    let mut stores = Vec::new();
    let mut writes_resident = false;
    collect(&k.body, r as u32, t as u32, &mut loads, &mut stores, &mut writes_resident);
    !writes_resident && stores.len() == 1 && loads.iter().all(|l| *l == stores[0])
}

fn collect(body: &[Stmt], r: u32, t: u32, loads: &mut Vec<Index>, stores: &mut Vec<Index>, writes_resident: &mut bool) {
    for s in body {
        match s {
            Stmt::Loop { body, .. } => collect(body, r, t, loads, stores, writes_resident),
            Stmt::Let { expr: Expr::Load { arg, index }, .. } if *arg == r => loads.push(index.clone()),
            Stmt::Store { arg, index, .. } if *arg == t => stores.push(index.clone()),
            Stmt::Store { arg, .. } if *arg == r => *writes_resident = true,
            _ => {}
        }
    }
}

/// `dst[i] = src[i]` over the buffer's elements, with the extent of its parallel loop. The
/// buffers copied here (parameters, optimizer state, values an update reads) never grow as
/// `B²`, which one loop of affine extent could not cover: such a length is refused.
fn copy_kernel(lw: &Lowering, src: BufId, dst: BufId, n: usize) -> Result<(Kernel, Affine), LowerError> {
    use super::builder::KernelBuilder;
    use crate::ir::Scalar;
    let decl = &lw.buffers[src.0 as usize];
    let ty = Scalar::of(decl.dtype).unwrap_or(Scalar::F32);
    let len = decl.len.as_affine().ok_or_else(|| LowerError::NotAffine(decl.len.to_string()))?;
    let mut kb = KernelBuilder::new(format!("k{n}_commit"));
    let a = kb.arg(src, ty, decl.len, false);
    let b = kb.arg(dst, ty, decl.len, true);
    let i = kb.begin_loop(len);
    let index = super::shape::var(i);
    let v = kb.let_(ty, Expr::Load { arg: a, index: index.clone() });
    kb.push(Stmt::Store { arg: b, index, value: v });
    kb.end_loop();
    Ok((kb.finish(true).0, len))
}
