//! "Did you mean ...?": the nearest known name to a misspelled one.
//!
//! Distance is optimal-string-alignment edit distance (insertions, deletions, substitutions and
//! swaps of neighbours), computed case-insensitively with case differences costing nothing
//! extra, so `linear` finds `Linear`. A candidate qualifies when it is within a third of the
//! name's length (at least 1; for names shorter than three characters only a difference in
//! case qualifies, since any two short names are close); ties go to the alphabetically first
//! candidate, so suggestions are deterministic.

/// Edit distance between `a` and `b` (case-insensitive).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let (n, m) = (a.len(), b.len());
    // Three rolling rows: two back (for swaps), previous, current.
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
}

/// The candidate nearest to `name`, if one is close enough (never `name` itself).
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = name.chars().count();
    let limit = if len < 3 { 0 } else { (len / 3).max(1) };
    let mut best: Option<(usize, &'a str)> = None;
    for cand in candidates {
        if cand == name {
            continue;
        }
        // Cheap length filter before the quadratic distance.
        if cand.chars().count().abs_diff(name.chars().count()) > limit {
            continue;
        }
        let d = distance(name, cand);
        if d <= limit && best.is_none_or(|(bd, bc)| d < bd || (d == bd && cand < bc)) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// `Some("did you mean `x`?")` for the nearest candidate.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    nearest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Keyword names of PyTorch (`torch`, `torch.nn`, `torch.nn.functional`) and the Hourglass
/// parameters that mean the same, in order of preference. docs/errors.md (E0109) shows this
/// table; [`pytorch_keyword`] only suggests a name the callee has.
pub const PYTORCH_KEYWORDS: &[(&str, &[&str])] = &[
    ("dim", &["axis"]),
    ("keepdim", &["keepdims"]),
    ("kernel_size", &["kernel"]),
    ("out_features", &["out"]),
    ("out_channels", &["out"]),
    ("start_dim", &["start"]),
    ("dims", &["perm"]),
    ("min", &["lo"]),
    ("max", &["hi"]),
    ("low", &["lo"]),
    ("high", &["hi"]),
    ("input", &["x", "a"]),
    ("other", &["b"]),
    ("tensors", &["xs"]),
    ("index", &["idx"]),
    ("src", &["values"]),
    ("size", &["shape"]),
    ("fill_value", &["value"]),
    ("pad", &["widths"]),
    ("chunks", &["parts"]),
    ("split_size_or_sections", &["parts"]),
    ("num_classes", &["n"]),
    ("num_embeddings", &["n"]),
    ("embedding_dim", &["dim"]),
    ("num_heads", &["heads"]),
    ("num_groups", &["groups"]),
];

/// PyTorch keywords that give an input size, which Hourglass infers from the argument's shape.
pub const PYTORCH_INFERRED: &[&str] = &["in_features", "in_channels", "normalized_shape"];

/// The help for a keyword argument `name` that the callee (with parameters `params`) does not
/// have but that PyTorch spells this way: the Hourglass parameter to use instead, or that the
/// size is inferred. `value` is the argument's text, for the rewritten argument.
pub fn pytorch_keyword(name: &str, params: &[&str], value: &str) -> Option<String> {
    if PYTORCH_INFERRED.contains(&name) && !params.is_empty() {
        return Some(format!(
            "`{name}` is PyTorch's; Hourglass infers input sizes from the argument's shape: leave it out"
        ));
    }
    let ours = pytorch_name(name, params)?;
    Some(format!("`{name}` is PyTorch's name; here the parameter is `{ours}`: write `{ours} = {value}`"))
}

/// The parameter of `params` that PyTorch's keyword `name` stands for, if any.
pub fn pytorch_name<'a>(name: &str, params: &[&'a str]) -> Option<&'a str> {
    let (_, ours) = PYTORCH_KEYWORDS.iter().find(|(torch, _)| *torch == name)?;
    ours.iter().find_map(|o| params.iter().find(|p| *p == o).copied())
}

/// "`a`", "`a` and `b`", "`a`, `b` and `c`".
pub fn join_and<S: AsRef<str>>(items: &[S]) -> String {
    join_with(items, "and")
}

/// "`a`", "`a` or `b`", "`a`, `b` or `c`".
pub fn join_or<S: AsRef<str>>(items: &[S]) -> String {
    join_with(items, "or")
}

fn join_with<S: AsRef<str>>(items: &[S], word: &str) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{}`", i.as_ref())).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins() {
        assert_eq!(join_and(&["a"]), "`a`");
        assert_eq!(join_and(&["a", "b"]), "`a` and `b`");
        assert_eq!(join_or(&["a", "b", "c"]), "`a`, `b` or `c`");
    }

    #[test]
    fn pytorch_keywords_map_only_to_existing_parameters() {
        let sum = ["x", "axis", "keepdims"];
        assert_eq!(
            pytorch_keyword("dim", &sum, "-1").as_deref(),
            Some("`dim` is PyTorch's name; here the parameter is `axis`: write `axis = -1`")
        );
        assert!(pytorch_keyword("keepdim", &sum, "true").is_some_and(|h| h.contains("`keepdims = true`")));
        assert_eq!(pytorch_keyword("kernel_size", &sum, "3"), None);
        assert_eq!(pytorch_keyword("input", &["a", "b"], "h").as_deref().map(|h| h.contains("`a = h`")), Some(true));
        assert!(pytorch_keyword("in_features", &["x", "out"], "784").is_some_and(|h| h.contains("leave it out")));
        assert_eq!(pytorch_keyword("axes", &sum, "0"), None);
    }

    #[test]
    fn distances() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("adam", "adma"), 1);
        assert_eq!(distance("Linear", "linear"), 0);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn nearest_respects_the_limit_and_is_deterministic() {
        let cands = ["Linear", "Mlp", "LayerNorm"];
        assert_eq!(nearest("Lineer", cands), Some("Linear"));
        assert_eq!(nearest("linear", cands), Some("Linear"));
        assert_eq!(nearest("Conv", cands), None);
        assert_eq!(nearest("abc", ["abd", "abb"]), Some("abb"));
        assert_eq!(nearest("b", ["F", "c"]), None);
        assert_eq!(nearest("x", ["X"]), Some("X"));
        assert_eq!(nearest("Mlp", ["Mlp"]), None);
    }
}
