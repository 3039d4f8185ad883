//! Recursion between `fn`s: every call site of a `fn` is expanded at compile time, so a cycle
//! of calls that are made whatever the arguments would never finish expanding. Calls inside a
//! branch of an `if` are left out: compile-time selection may end the recursion (the standard
//! library recurses over lists this way, `if len(sizes) == 1 then ... else Mlp(...)`); a later
//! stage bounds the expansion depth for those. Cycles are found as strongly connected
//! components (Tarjan's algorithm with an explicit stack, so deep call chains cost no native
//! stack) and each is reported once, at its first call in source order.

use std::collections::{BTreeMap, HashMap};

use super::ParsedFile;
use super::body::CallEdge;
use crate::ast::{FileId, Item};
use crate::codes;
use crate::diagnostic::Diagnostic;

type Node = (FileId, usize);

pub(crate) fn check(files: &BTreeMap<FileId, ParsedFile>, calls: &[CallEdge], diags: &mut Vec<Diagnostic>) {
    let calls: Vec<&CallEdge> = calls.iter().filter(|c| !c.conditional).collect();
    let mut adj: BTreeMap<Node, Vec<Node>> = BTreeMap::new();
    for c in &calls {
        adj.entry(c.caller).or_default().push(c.callee);
        adj.entry(c.callee).or_default();
    }
    for scc in strongly_connected(&adj) {
        let self_loop = scc.len() == 1 && adj[&scc[0]].contains(&scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        let mut edges: Vec<&CallEdge> =
            calls.iter().copied().filter(|c| scc.contains(&c.caller) && scc.contains(&c.callee)).collect();
        edges.sort_by_key(|c| (c.span.file, c.span.start));
        let Some(first) = edges.first() else { continue };
        let name = |n: &Node| match files.get(&n.0).and_then(|f| f.ast.items.get(n.1)) {
            Some(Item::Fn(f)) => format!("`{}`", f.name.name),
            _ => "a function".to_string(),
        };
        let mut names: Vec<String> = scc.iter().map(name).collect();
        names.sort();
        let message = if self_loop {
            format!("{} calls itself", names[0])
        } else {
            let (init, last) = names.split_at(names.len() - 1);
            format!("{} and {} call each other", init.join(", "), last[0])
        };
        let mut d = Diagnostic::error(codes::E0116, message).primary(first.span, "recursive call");
        for e in edges.iter().skip(1).take(3) {
            d = d.secondary(e.span, "part of the cycle");
        }
        diags.push(d.help(
            "every call of a `fn` is expanded at compile time, so unconditional recursion never ends; \
             iterate with `repeat`, or end the recursion with `if ... then ... else`",
        ));
    }
}

/// Strongly connected components of `adj`, each sorted, in a deterministic order.
fn strongly_connected(adj: &BTreeMap<Node, Vec<Node>>) -> Vec<Vec<Node>> {
    let mut index: HashMap<Node, usize> = HashMap::new();
    let mut low: HashMap<Node, usize> = HashMap::new();
    let mut on_stack: HashMap<Node, bool> = HashMap::new();
    let mut stack: Vec<Node> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for &root in adj.keys() {
        if index.contains_key(&root) {
            continue;
        }
        // Explicit DFS: (node, position in its successor list).
        let mut work: Vec<(Node, usize)> = vec![(root, 0)];
        index.insert(root, next);
        low.insert(root, next);
        next += 1;
        stack.push(root);
        on_stack.insert(root, true);
        while let Some(&(node, pos)) = work.last() {
            let succs = &adj[&node];
            if pos < succs.len() {
                let succ = succs[pos];
                if let Some(top) = work.last_mut() {
                    top.1 += 1;
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = index.entry(succ) {
                    slot.insert(next);
                    low.insert(succ, next);
                    next += 1;
                    stack.push(succ);
                    on_stack.insert(succ, true);
                    work.push((succ, 0));
                } else if on_stack.get(&succ) == Some(&true) {
                    let l = low[&node].min(index[&succ]);
                    low.insert(node, l);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                let l = low[&parent].min(low[&node]);
                low.insert(parent, l);
            }
            if low[&node] == index[&node] {
                let mut scc = Vec::new();
                while let Some(n) = stack.pop() {
                    on_stack.insert(n, false);
                    scc.push(n);
                    if n == node {
                        break;
                    }
                }
                scc.sort();
                out.push(scc);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: usize) -> Node {
        (FileId(0), i)
    }

    #[test]
    fn finds_cycles_and_self_loops() {
        let mut adj: BTreeMap<Node, Vec<Node>> = BTreeMap::new();
        adj.insert(n(0), vec![n(1)]);
        adj.insert(n(1), vec![n(2)]);
        adj.insert(n(2), vec![n(0), n(3)]);
        adj.insert(n(3), vec![n(3)]);
        adj.insert(n(4), vec![]);
        let mut sccs = strongly_connected(&adj);
        sccs.sort();
        assert_eq!(sccs, vec![vec![n(0), n(1), n(2)], vec![n(3)], vec![n(4)]]);
    }

    #[test]
    fn long_chains_need_no_native_stack() {
        let mut adj: BTreeMap<Node, Vec<Node>> = BTreeMap::new();
        for i in 0..200_000 {
            adj.insert(n(i), vec![n(i + 1)]);
        }
        adj.insert(n(200_000), vec![]);
        assert_eq!(strongly_connected(&adj).len(), 200_001);
    }
}
