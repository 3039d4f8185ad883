//! What a run was asked to do, recorded so it can be resumed, audited and repeated: the spec
//! text, the hyperparameters, the optimizer and schedule, the data and the seed. The training
//! loop writes it to `run.json` in the output folder at the start of a fresh run and into
//! every checkpoint, so `--resume CHECKPOINT` alone continues the same run, and a changed spec
//! is caught instead of resumed because its shapes happen to fit.

use serde::{Deserialize, Serialize};

/// File name of the record inside the output folder.
pub const RUN_FILE: &str = "run.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The spec file as given on the command line.
    pub spec_file: String,
    /// The text of that file when the run started.
    pub spec: String,
    pub model: String,
    /// The `--set NAME=VALUE` overrides, as given.
    pub hyperparameters: Vec<String>,
    /// The optimizer with every setting (`adam(lr=0.001, beta1=0.9, ...)`).
    pub optimizer: String,
    pub schedule: String,
    /// Training data as `--data` names it, with `--limit`.
    pub data: String,
    pub limit: Option<usize>,
    pub seed: u64,
    pub backend: String,
}

impl RunRecord {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Option<RunRecord> {
        serde_json::from_str(text).ok()
    }
}

/// A short line diff of two texts: the lines between the first and the last difference, as
/// `- old` / `+ new`, at most `max` of each (with a count of the rest), and the line number.
pub fn short_diff(old: &str, new: &str, max: usize) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (gone, added) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out = format!("line {}:\n", head + 1);
    for (sign, lines) in [("-", gone), ("+", added)] {
        for l in lines.iter().take(max) {
            out.push_str(&format!("  {sign} {l}\n"));
        }
        if lines.len() > max {
            out.push_str(&format!("  {sign} ... {} more line(s)\n", lines.len() - max));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_shows_the_changed_lines() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nB\nc\nd\ne\n";
        // The common tail is empty (`d` vs `e` differ at the end), so everything after line 1 shows.
        assert_eq!(short_diff(old, new, 5), "line 2:\n  - b\n  - c\n  - d\n  + B\n  + c\n  + d\n  + e\n");
        assert_eq!(short_diff("x\ny\n", "x\nz\n", 5), "line 2:\n  - y\n  + z\n");
        let long_new: String = (0..20).map(|i| format!("n{i}\n")).collect();
        assert!(short_diff("o\n", &long_new, 3).contains("... 17 more line(s)"));
    }

    #[test]
    fn a_record_round_trips() {
        let r = RunRecord {
            spec_file: "vae.hgl".into(),
            spec: "model M() {}\n".into(),
            model: "M".into(),
            hyperparameters: vec!["latent=8".into()],
            optimizer: "adam(lr=0.001)".into(),
            schedule: "constant".into(),
            data: "fashion-mnist".into(),
            limit: Some(512),
            seed: 3,
            backend: "interp".into(),
        };
        assert_eq!(RunRecord::from_json(&r.to_json()), Some(r));
        assert_eq!(RunRecord::from_json("{"), None);
    }
}
