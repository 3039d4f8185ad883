//! `metrics.jsonl`: one JSON object per training step, written as the run goes; and
//! `eval.jsonl`: one per evaluation during the run (`--eval-every`).
//!
//! Each line is `{"step":S,"epoch":E,"loss":L,<metric>:V,...,"lr":R,"samples_per_s":T}` where
//! `step` is the 0-based step taken (the `step` input of that call) and metrics appear under
//! their names without the `metric:` prefix (a metric named like one of the fixed keys is
//! written as `metric:<name>` instead). Non-finite metric values are written as `null`.
//!
//! Each line of `eval.jsonl` is `{"step":S,"eval_loss":L,"eval_metrics":{<metric>:V,...},"examples":N}`:
//! the averages over the evaluation data of the parameters after `S` steps, those that step
//! `S` of `metrics.jsonl` starts from (so both curves share the step axis, and `S` counts like
//! the `step` of a checkpoint and of `eval.json`).
//!
//! **Invariants**: every line is flushed as soon as its step finishes, so a killed run leaves at
//! most one partial last line. Resuming at step `S` first rewrites the file (atomically) with
//! only the complete lines of steps before `S`, then appends, so the file always lists each step
//! once and in order, whatever happened before. `eval.jsonl` is cut the same way, keeping the
//! evaluations of steps up to `S` (the one at `S` was made with the checkpoint's parameters).

use super::error::TrainError;
use crate::fsutil::{IoError, atomic_write};
use serde_json::{Number, Value};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// File name of the step log inside the output directory.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// File name of the log of evaluations made during the run.
pub const EVAL_LOG_FILE: &str = "eval.jsonl";

const FIXED_KEYS: [&str; 5] = ["step", "epoch", "loss", "lr", "samples_per_s"];

/// What one training step reported.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// The 0-based step taken.
    pub step: u64,
    pub epoch: u64,
    pub loss: f64,
    /// Metrics by name, without the `metric:` prefix.
    pub metrics: BTreeMap<String, f64>,
    /// The learning rate the step used, when the model reports it.
    pub lr: Option<f64>,
    pub samples_per_s: f64,
}

fn number(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

impl StepRecord {
    /// The record as one line of JSON, without the newline. Keys are written in a fixed order
    /// (step, epoch, loss, metrics by name, lr, samples_per_s) so lines are easy to read.
    pub fn to_json(&self) -> String {
        let mut fields: Vec<(String, Value)> = vec![
            ("step".into(), Value::from(self.step)),
            ("epoch".into(), Value::from(self.epoch)),
            ("loss".into(), number(self.loss)),
        ];
        for (name, &v) in &self.metrics {
            let key = if FIXED_KEYS.contains(&name.as_str()) { format!("metric:{name}") } else { name.clone() };
            fields.push((key, number(v)));
        }
        if let Some(lr) = self.lr {
            fields.push(("lr".into(), number(lr)));
        }
        fields.push(("samples_per_s".into(), number(self.samples_per_s)));
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", Value::from(k.as_str()))).collect();
        format!("{{{}}}", body.join(","))
    }

    /// Parses a line written by [`StepRecord::to_json`]; `None` for anything else (a line cut
    /// short by a crash).
    pub fn from_json(line: &str) -> Option<StepRecord> {
        let Value::Object(obj) = serde_json::from_str::<Value>(line).ok()? else { return None };
        let float = |key: &str| obj.get(key).and_then(Value::as_f64);
        let mut metrics = BTreeMap::new();
        for (key, v) in &obj {
            if FIXED_KEYS.contains(&key.as_str()) {
                continue;
            }
            let name = key.strip_prefix("metric:").unwrap_or(key);
            metrics.insert(name.to_string(), v.as_f64().unwrap_or(f64::NAN));
        }
        Some(StepRecord {
            step: obj.get("step")?.as_u64()?,
            epoch: obj.get("epoch")?.as_u64()?,
            loss: float("loss")?,
            metrics,
            lr: float("lr"),
            samples_per_s: float("samples_per_s").unwrap_or(0.0),
        })
    }
}

/// One evaluation made during a run: averages over the evaluation data.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalRecord {
    /// Steps taken before the evaluation: the parameters are those step `step` starts from.
    pub step: u64,
    pub loss: f64,
    /// Metrics by name, without the `metric:` prefix.
    pub metrics: BTreeMap<String, f64>,
    pub examples: usize,
}

impl EvalRecord {
    /// The record as one line of JSON, without the newline.
    pub fn to_json(&self) -> String {
        let metrics: serde_json::Map<String, Value> =
            self.metrics.iter().map(|(k, &v)| (k.clone(), number(v))).collect();
        let fields = [
            ("step", Value::from(self.step)),
            ("eval_loss", number(self.loss)),
            ("eval_metrics", Value::Object(metrics)),
            ("examples", Value::from(self.examples)),
        ];
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", Value::from(*k))).collect();
        format!("{{{}}}", body.join(","))
    }

    /// Parses a line written by [`EvalRecord::to_json`]; `None` for anything else.
    pub fn from_json(line: &str) -> Option<EvalRecord> {
        let Value::Object(obj) = serde_json::from_str::<Value>(line).ok()? else { return None };
        let metrics = match obj.get("eval_metrics") {
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(f64::NAN))).collect(),
            _ => BTreeMap::new(),
        };
        Some(EvalRecord {
            step: obj.get("step")?.as_u64()?,
            loss: obj.get("eval_loss")?.as_f64().unwrap_or(f64::NAN),
            metrics,
            examples: obj.get("examples").and_then(Value::as_u64).unwrap_or(0) as usize,
        })
    }
}

/// A line of a log, identified by its step.
trait LogLine: Sized {
    fn step(&self) -> u64;
    fn to_json(&self) -> String;
    fn from_json(line: &str) -> Option<Self>;
}

impl LogLine for StepRecord {
    fn step(&self) -> u64 {
        self.step
    }
    fn to_json(&self) -> String {
        StepRecord::to_json(self)
    }
    fn from_json(line: &str) -> Option<Self> {
        StepRecord::from_json(line)
    }
}

impl LogLine for EvalRecord {
    fn step(&self) -> u64 {
        self.step
    }
    fn to_json(&self) -> String {
        EvalRecord::to_json(self)
    }
    fn from_json(line: &str) -> Option<Self> {
        EvalRecord::from_json(line)
    }
}

/// An open `metrics.jsonl` (or `eval.jsonl`), appended to line by line.
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Starts an empty log (a fresh run replaces any earlier file).
    pub fn create(path: &Path) -> Result<MetricsLog, TrainError> {
        atomic_write(path, b"")?;
        MetricsLog::open_append(path)
    }

    /// Continues the log of a run resumed at `resume_step`: keeps the complete records of earlier
    /// steps, in order and without repeats, drops everything else, and returns the kept records
    /// (they extend the loss curve). A missing file starts empty.
    pub fn resume(path: &Path, resume_step: u64) -> Result<(MetricsLog, Vec<StepRecord>), TrainError> {
        MetricsLog::resume_lines(path, |step| step < resume_step)
    }

    /// Continues `eval.jsonl` of a run resumed at `resume_step`: keeps the evaluations of steps
    /// up to and including `resume_step`, like [`MetricsLog::resume`].
    pub fn resume_eval(path: &Path, resume_step: u64) -> Result<(MetricsLog, Vec<EvalRecord>), TrainError> {
        MetricsLog::resume_lines(path, |step| step <= resume_step)
    }

    fn resume_lines<R: LogLine>(path: &Path, keep: impl Fn(u64) -> bool) -> Result<(MetricsLog, Vec<R>), TrainError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == ErrorKind::NotFound => String::new(),
            Err(e) => return Err(IoError::read(path, e).into()),
        };
        let mut kept: Vec<R> = Vec::new();
        for record in text.lines().filter_map(R::from_json) {
            // A run resumed from an older checkpoint may have logged a step twice; the later
            // line is from the run whose parameters survived, so it replaces the earlier one.
            if !keep(record.step()) {
                continue;
            }
            kept.retain(|r| r.step() < record.step());
            kept.push(record);
        }
        let mut rewritten = String::new();
        for r in &kept {
            rewritten.push_str(&r.to_json());
            rewritten.push('\n');
        }
        atomic_write(path, rewritten.as_bytes())?;
        Ok((MetricsLog::open_append(path)?, kept))
    }

    fn open_append(path: &Path) -> Result<MetricsLog, TrainError> {
        let file = OpenOptions::new().append(true).open(path).map_err(|e| IoError::write(path, e))?;
        Ok(MetricsLog { path: path.to_path_buf(), file })
    }

    /// Appends one record and flushes it to the operating system.
    pub fn append(&mut self, record: &StepRecord) -> Result<(), TrainError> {
        self.append_line(record.to_json())
    }

    /// Appends one evaluation (to `eval.jsonl`) and flushes it.
    pub fn append_eval(&mut self, record: &EvalRecord) -> Result<(), TrainError> {
        self.append_line(record.to_json())
    }

    fn append_line(&mut self, mut line: String) -> Result<(), TrainError> {
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| IoError::write(&self.path, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: u64, loss: f64) -> StepRecord {
        StepRecord {
            step,
            epoch: step / 3,
            loss,
            metrics: [("kl".to_string(), 0.5), ("loss".to_string(), 2.0)].into(),
            lr: Some(0.01),
            samples_per_s: 1000.0,
        }
    }

    #[test]
    fn lines_round_trip_and_keep_fixed_keys_apart() {
        let r = record(4, 0.25);
        let line = r.to_json();
        assert_eq!(
            line,
            r#"{"step":4,"epoch":1,"loss":0.25,"kl":0.5,"metric:loss":2.0,"lr":0.01,"samples_per_s":1000.0}"#
        );
        assert_eq!(StepRecord::from_json(&line), Some(r));
        assert_eq!(StepRecord::from_json(&line[..line.len() - 3]), None);
    }

    #[test]
    fn resume_drops_later_repeated_and_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        let mut text = String::new();
        for (step, loss) in [(0, 1.0), (1, 0.9), (2, 0.8), (3, 0.7), (2, 0.75), (3, 0.65), (4, 0.6)] {
            text.push_str(&record(step, loss).to_json());
            text.push('\n');
        }
        text.push_str(r#"{"step":5,"epo"#);
        std::fs::write(&path, text).unwrap();
        let (mut log, kept) = MetricsLog::resume(&path, 4).unwrap();
        let losses: Vec<(u64, f64)> = kept.iter().map(|r| (r.step, r.loss)).collect();
        assert_eq!(losses, vec![(0, 1.0), (1, 0.9), (2, 0.75), (3, 0.65)]);
        log.append(&record(4, 0.5)).unwrap();
        let lines: Vec<StepRecord> =
            std::fs::read_to_string(&path).unwrap().lines().map(|l| StepRecord::from_json(l).unwrap()).collect();
        assert_eq!(lines.iter().map(|r| r.step).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(lines[4].loss, 0.5);
    }

    #[test]
    fn eval_lines_round_trip_and_resume_keeps_the_resume_step() {
        let eval = |step: u64, loss: f64| EvalRecord {
            step,
            loss,
            metrics: [("kl".to_string(), 0.5), ("odd".to_string(), f64::NAN)].into(),
            examples: 64,
        };
        let line = eval(4, 0.25).to_json();
        assert_eq!(line, r#"{"step":4,"eval_loss":0.25,"eval_metrics":{"kl":0.5,"odd":null},"examples":64}"#);
        let back = EvalRecord::from_json(&line).unwrap();
        assert_eq!((back.step, back.loss, back.examples, back.metrics["kl"]), (4, 0.25, 64, 0.5));
        assert!(back.metrics["odd"].is_nan());
        // An evaluation line is not a step record, so it cannot slip into metrics.jsonl's curve.
        assert_eq!(StepRecord::from_json(&line), None);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVAL_LOG_FILE);
        let text: String = [eval(2, 1.0), eval(4, 0.9), eval(6, 0.8)].iter().map(|r| r.to_json() + "\n").collect();
        std::fs::write(&path, text + r#"{"step":8,"ev"#).unwrap();
        let (mut log, kept) = MetricsLog::resume_eval(&path, 4).unwrap();
        assert_eq!(kept.iter().map(|r| r.step).collect::<Vec<_>>(), vec![2, 4]);
        log.append_eval(&eval(6, 0.7)).unwrap();
        let steps: Vec<u64> =
            std::fs::read_to_string(&path).unwrap().lines().map(|l| EvalRecord::from_json(l).unwrap().step).collect();
        assert_eq!(steps, vec![2, 4, 6]);
    }

    #[test]
    fn resume_without_a_file_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        let (_, kept) = MetricsLog::resume(&path, 10).unwrap();
        assert!(kept.is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }
}
