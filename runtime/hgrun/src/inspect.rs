//! `hgrun inspect FILE`: what a safetensors, `.npy` or `.npz` file holds.
//!
//! For every tensor: its name, dtype, shape, number of values and [`crate::stats`] summary;
//! for safetensors files also the metadata. Files the training loop writes are recognised by
//! their `format` metadata: a training checkpoint is read a second time through the runtime's
//! own checkpoint loader, so `inspect` shows its counters exactly as a resume would see them,
//! or a warning saying why a resume would refuse it. Dtypes are those the file stores (`u8` for
//! numpy's `uint8`), even where the data is widened on load (to i32) to compute the statistics.
//!
//! The text output is for people; `--json` output is one JSON object whose fields stay stable
//! for scripts (see the crate README).

use crate::error::Result;
use crate::files::{self, Format, TensorFile};
use crate::numfmt::{fmt_float, fmt_shape, plural};
use crate::stats::{Summary, summarize};
use crate::table::{self, Align};
use hg_abi::names;
use hg_runtime::train::{CHECKPOINT_FORMAT, CheckpointMeta, WEIGHTS_FORMAT, load_checkpoint};
use serde_json::{Map, Value, json};
use std::path::Path;

/// What the training loop's metadata says a safetensors file is.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// Not written by the training loop (or not a safetensors file).
    Plain,
    /// Final weights of a run (`format = hourglass-weights`).
    Weights,
    /// A checkpoint a run can resume from.
    Checkpoint(Box<CheckpointMeta>),
    /// Claims to be a checkpoint but a resume would refuse it, for this reason.
    BrokenCheckpoint(String),
}

/// A loaded file and everything `inspect` reports about it.
struct Report {
    file: TensorFile,
    kind: Kind,
    summaries: Vec<Summary>,
}

/// Inspects a file and renders the report as text, or as JSON when `json` is set.
pub fn inspect(path: &Path, json: bool) -> Result<String> {
    let file = files::load(path)?;
    let kind = match file.metadata.get("format").map(String::as_str) {
        Some(CHECKPOINT_FORMAT) => match load_checkpoint(path) {
            Ok(ckpt) => Kind::Checkpoint(Box::new(ckpt.meta)),
            Err(e) => Kind::BrokenCheckpoint(e.to_string()),
        },
        Some(WEIGHTS_FORMAT) => Kind::Weights,
        _ => Kind::Plain,
    };
    let summaries = file.arrays.iter().map(|(_, t)| summarize(t)).collect();
    let report = Report { file, kind, summaries };
    Ok(if json { render_json(path, &report) } else { render_text(path, &report) })
}

/// `tensor` for safetensors files, `array` for numpy files, as their own tools say.
fn noun(format: Format) -> &'static str {
    if format == Format::Safetensors { "tensor" } else { "array" }
}

fn total_values<'a>(tensors: impl Iterator<Item = &'a hg_runtime::Tensor>) -> usize {
    tensors.map(|t| t.len()).sum()
}

fn render_text(path: &Path, r: &Report) -> String {
    let f = &r.file;
    let noun = noun(f.format);
    let mut out = format!(
        "{}: {}, {}, {}\n",
        path.display(),
        f.format.name(),
        plural(f.arrays.len(), noun),
        plural(total_values(f.arrays.iter().map(|(_, t)| t)), "value")
    );
    match &r.kind {
        Kind::Plain => {}
        Kind::Weights => {
            let field = |k: &str| f.metadata.get(k).map_or("?", String::as_str).to_string();
            out.push_str(&format!(
                "kind: final weights of a training run (step {}, seed {})\n",
                field("step"),
                field("seed")
            ));
        }
        Kind::Checkpoint(m) => {
            out.push_str(&format!(
                "kind: training checkpoint: step {} of {}, epoch {} (next batch at example {} of {}), seed {}, batch {}, {}, base lr {}\n",
                m.step,
                m.total_steps,
                m.epoch,
                m.position,
                m.examples,
                m.seed,
                m.batch,
                if m.shuffle { "shuffled" } else { "in order" },
                m.base_lr
            ));
            let part = |prefix: &str| {
                let tensors: Vec<_> = f.arrays.iter().filter(|(n, _)| n.starts_with(prefix)).map(|(_, t)| t).collect();
                format!(
                    "{} in {}",
                    plural(total_values(tensors.iter().copied()), "value"),
                    plural(tensors.len(), "tensor")
                )
            };
            out.push_str(&format!("parameters: {}; optimizer state: {}\n", part(names::PARAM), part(names::STATE)));
        }
        Kind::BrokenCheckpoint(why) => {
            out.push_str(&format!("kind: training checkpoint, but a resume would refuse it\nwarning: {why}\n"));
        }
    }
    if !f.metadata.is_empty() {
        out.push_str("metadata:\n");
        let rows: Vec<Vec<String>> = f.metadata.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect();
        // The header row of a two-column key/value list says nothing; drop it.
        let listing = table::render(&[("", Align::Left), ("", Align::Left)], &rows, 2);
        out.extend(listing.lines().skip(1).map(|l| format!("{l}\n")));
    }
    if !f.arrays.is_empty() {
        out.push_str(&format!("{noun}s:\n"));
        let header = [
            ("name", Align::Left),
            ("dtype", Align::Left),
            ("shape", Align::Left),
            ("values", Align::Right),
            ("min", Align::Right),
            ("max", Align::Right),
            ("mean", Align::Right),
            ("std", Align::Right),
            ("", Align::Left),
        ];
        let rows: Vec<Vec<String>> = f
            .arrays
            .iter()
            .zip(&r.summaries)
            .enumerate()
            .map(|(i, ((name, t), s))| {
                let moments = match s.moments {
                    Some(m) => [m.min.to_text(), m.max.to_text(), fmt_float(m.mean), fmt_float(m.std)],
                    None => ["-".to_string(), "-".to_string(), "-".to_string(), "-".to_string()],
                };
                let mut notes = Vec::new();
                if s.nan > 0 {
                    notes.push(format!("{} nan", s.nan));
                }
                if s.inf > 0 {
                    notes.push(format!("{} inf", s.inf));
                }
                let mut row = vec![name.clone(), f.file_dtype(i), fmt_shape(t.shape()), t.len().to_string()];
                row.extend(moments);
                row.push(notes.join(", "));
                row
            })
            .collect();
        out.push_str(&table::render(&header, &rows, 2));
    }
    out
}

fn render_json(path: &Path, r: &Report) -> String {
    let f = &r.file;
    let tensors: Vec<Value> = f
        .arrays
        .iter()
        .zip(&r.summaries)
        .enumerate()
        .map(|(i, ((name, t), s))| {
            let mut entry = json!({
                "name": name,
                "dtype": f.file_dtype(i),
                "shape": t.shape(),
                "values": t.len(),
            });
            if let (Value::Object(entry), Value::Object(stats)) = (&mut entry, s.to_json()) {
                entry.extend(stats);
            }
            entry
        })
        .collect();
    let (kind, checkpoint, checkpoint_error) = match &r.kind {
        Kind::Plain => (Value::Null, Value::Null, Value::Null),
        Kind::Weights => (json!("weights"), Value::Null, Value::Null),
        Kind::Checkpoint(m) => (
            json!("checkpoint"),
            json!({
                "step": m.step,
                "epoch": m.epoch,
                "position": m.position,
                "seed": m.seed,
                "base_lr": m.base_lr,
                "total_steps": m.total_steps,
                "batch": m.batch,
                "shuffle": m.shuffle,
                "examples": m.examples,
                "run": m.record,
            }),
            Value::Null,
        ),
        Kind::BrokenCheckpoint(why) => (json!("checkpoint"), Value::Null, json!(why)),
    };
    let metadata: Map<String, Value> = f.metadata.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let report = json!({
        "file": path.display().to_string(),
        "format": f.format.name(),
        "kind": kind,
        "checkpoint": checkpoint,
        "checkpoint_error": checkpoint_error,
        "metadata": metadata,
        "values": total_values(f.arrays.iter().map(|(_, t)| t)),
        "tensors": tensors,
    });
    let mut text = serde_json::to_string_pretty(&report).expect("a JSON value always serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_runtime::NamedTensors;
    use hg_runtime::Tensor;
    use hg_runtime::checkpoint::save_safetensors;
    use hg_runtime::npy::write_npz;
    use hg_runtime::train::save_checkpoint;
    use std::collections::BTreeMap;

    fn meta() -> CheckpointMeta {
        CheckpointMeta {
            step: 7,
            epoch: 1,
            position: 4,
            seed: 42,
            base_lr: 0.001,
            total_steps: 20,
            batch: 4,
            shuffle: true,
            examples: 21,
            record: None,
        }
    }

    #[test]
    fn checkpoints_show_their_counters_and_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.safetensors");
        let params: NamedTensors =
            [("param:w".to_string(), Tensor::from_f32(vec![2, 2], vec![1.0, -2.0, 0.5, 0.5]).unwrap())].into();
        let state: NamedTensors = [
            ("state:m.w".to_string(), Tensor::from_f32(vec![2, 2], vec![0.0; 4]).unwrap()),
            ("state:t".to_string(), Tensor::scalar_i64(7)),
        ]
        .into();
        save_checkpoint(&path, &params, &state, &meta()).unwrap();
        let text = inspect(&path, false).unwrap();
        assert!(text.contains(": safetensors, 3 tensors, 9 values\n"), "{text}");
        assert!(
            text.contains(
                "kind: training checkpoint: step 7 of 20, epoch 1 (next batch at example 4 of 21), seed 42, batch 4, shuffled, base lr 0.001\n"
            ),
            "{text}"
        );
        assert!(text.contains("parameters: 4 values in 1 tensor; optimizer state: 5 values in 2 tensors\n"), "{text}");
        let tail: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(
            tail,
            [
                "metadata:",
                "  base_lr         0.001",
                "  batch           4",
                "  epoch           1",
                "  examples        21",
                "  format          hourglass-checkpoint",
                "  format_version  1",
                "  position        4",
                "  seed            42",
                "  shuffle         true",
                "  step            7",
                "  total_steps     20",
                "tensors:",
                "  name       dtype  shape   values  min  max  mean     std",
                "  param:w    f32    [2, 2]       4   -2    1     0  1.1726",
                "  state:m.w  f32    [2, 2]       4    0    0     0       0",
                "  state:t    i64    []           1    7    7     7       0",
            ],
            "{text}"
        );
        let json: Value = serde_json::from_str(&inspect(&path, true).unwrap()).unwrap();
        assert_eq!(json["kind"], "checkpoint");
        assert_eq!(json["checkpoint"]["seed"], 42);
        assert_eq!(json["checkpoint"]["shuffle"], true);
        assert_eq!(json["metadata"]["format"], CHECKPOINT_FORMAT);
        assert_eq!(json["tensors"][0]["name"], "param:w");
        assert_eq!(json["tensors"][0]["shape"], json!([2, 2]));
        assert_eq!(json["tensors"][0]["min"], -2.0);
        assert_eq!(json["tensors"][0]["mean"], 0.0);
        assert_eq!(json["tensors"][2]["max"], 7);
    }

    #[test]
    fn broken_checkpoints_warn_and_weights_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        let tensors: BTreeMap<String, Tensor> = [("w".to_string(), Tensor::scalar_f32(1.0))].into();
        let metadata: BTreeMap<String, String> =
            [("format".to_string(), CHECKPOINT_FORMAT.to_string()), ("format_version".to_string(), "1".to_string())]
                .into();
        save_safetensors(&path, &tensors, &metadata).unwrap();
        let text = inspect(&path, false).unwrap();
        assert!(text.contains("warning: checkpoint ") && text.contains("metadata `step` is missing"), "{text}");
        let json: Value = serde_json::from_str(&inspect(&path, true).unwrap()).unwrap();
        assert!(json["checkpoint_error"].as_str().unwrap().contains("`step` is missing"));
        assert_eq!(json["checkpoint"], Value::Null);

        let metadata: BTreeMap<String, String> = [
            ("format".to_string(), WEIGHTS_FORMAT.to_string()),
            ("step".to_string(), "20".to_string()),
            ("seed".to_string(), "3".to_string()),
        ]
        .into();
        save_safetensors(&path, &tensors, &metadata).unwrap();
        let text = inspect(&path, false).unwrap();
        assert!(text.contains("kind: final weights of a training run (step 20, seed 3)\n"), "{text}");
    }

    #[test]
    fn numpy_files_list_arrays_with_non_finite_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.npz");
        let x = Tensor::from_f32(vec![2, 2], vec![f32::NAN, 1.0, f32::INFINITY, 3.0]).unwrap();
        let empty = Tensor::from_f32(vec![0], vec![]).unwrap();
        write_npz(&path, &[("x".into(), x), ("e".into(), empty)]).unwrap();
        let text = inspect(&path, false).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("d.npz: npz, 2 arrays, 4 values"), "{text}");
        assert_eq!(lines[1], "arrays:");
        assert_eq!(lines[2], "  name  dtype  shape   values  min  max  mean  std");
        assert_eq!(lines[3], "  x     f32    [2, 2]       4    1    3     2    1  1 nan, 1 inf");
        assert_eq!(lines[4], "  e     f32    [0]          0    -    -     -    -");
        assert_eq!(lines.len(), 5);
        let json: Value = serde_json::from_str(&inspect(&path, true).unwrap()).unwrap();
        assert_eq!((json["format"].as_str(), json["kind"].is_null()), (Some("npz"), true));
        assert_eq!(json["tensors"][0]["nan"], 1);
        assert_eq!(json["tensors"][1]["min"], Value::Null);
        assert_eq!(json["values"], 4);
    }
}
