//! Showing a run's progress: an indicatif bar on a terminal, plain lines in logs, or nothing.
//!
//! Steps are numbered from 0, as in `metrics.jsonl` and in error messages. Plain mode prints
//! one line at the first step of the session, at every step that is a multiple of `log_every`,
//! and at the last step, saying how many of the run's steps are done:
//! `step 200 (201/1000 done)  epoch 3  loss 0.04213  kl 0.0123  lr 0.001  5321 samples/s  eta 0:01:02`.
//! An evaluation during the run prints `eval at step 200: loss 0.0398  kl 0.0119  (10000 examples)`,
//! made with the parameters step 200 starts from. The run closes with the files written and
//! one line: `trained 1000 steps (0-999) in 0:03:05, 5321 samples/s; final loss 0.0401; eval loss
//! 0.0398 on 10000 examples`. Quiet mode prints none of these; notes (a resume that overrides
//! settings, a picture that could not be drawn) are printed in every mode, above the bar when
//! there is one.
//!
//! **Invariant**: progress output never fails the run: a log stream that cannot be written to
//! (a closed pipe) is ignored.

use super::batched::EvalResult;
use super::config::ProgressMode;
use super::metrics::{EvalRecord, StepRecord};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

enum View {
    Bar(ProgressBar),
    Lines,
    Quiet,
}

pub(crate) struct Progress<'a> {
    view: View,
    log: &'a mut dyn Write,
    log_every: u64,
    total: u64,
    first_step: u64,
    started: Instant,
}

impl<'a> Progress<'a> {
    /// Progress of a session that takes steps `first_step..total`.
    pub fn new(
        mode: ProgressMode,
        log: &'a mut dyn Write,
        log_every: u64,
        first_step: u64,
        total: u64,
    ) -> Progress<'a> {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Plain,
            other => other,
        };
        let view = match mode {
            ProgressMode::Bar => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                // The template is a constant; should it ever be rejected the default style is fine.
                if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}  eta {eta}") {
                    bar.set_style(style);
                }
                bar.set_position(first_step);
                bar.reset_eta();
                View::Bar(bar)
            }
            ProgressMode::Quiet => View::Quiet,
            _ => View::Lines,
        };
        Progress { view, log, log_every, total, first_step, started: Instant::now() }
    }

    /// Reports a finished step.
    pub fn step(&mut self, record: &StepRecord) {
        let summary = describe(record);
        let done = record.step + 1;
        match &self.view {
            View::Bar(bar) => {
                bar.set_position(done);
                bar.set_message(format!("step {}  {summary}", record.step));
            }
            View::Lines => {
                let due =
                    record.step == self.first_step || record.step.is_multiple_of(self.log_every) || done == self.total;
                if due {
                    let eta = clock(self.eta(done));
                    let line = format!(
                        "step {} ({done}/{} done)  epoch {}  {summary}  eta {eta}",
                        record.step, self.total, record.epoch
                    );
                    let _ = writeln!(self.log, "{line}");
                }
            }
            View::Quiet => {}
        }
    }

    /// Reports an evaluation made during the run.
    pub fn eval(&mut self, record: &EvalRecord) {
        let mut parts = vec![format!("loss {}", value(record.loss))];
        parts.extend(record.metrics.iter().map(|(k, v)| format!("{k} {}", value(*v))));
        let line = format!("eval at step {}: {}  ({} examples)", record.step, parts.join("  "), record.examples);
        self.line(line);
    }

    /// A line shown above the bar, or in the log; nothing in quiet mode.
    fn line(&mut self, line: String) {
        match &self.view {
            View::Bar(bar) if !bar.is_hidden() => bar.println(line),
            View::Bar(_) | View::Lines => {
                let _ = writeln!(self.log, "{line}");
            }
            View::Quiet => {}
        }
    }

    /// A message that needs attention, shown in every mode.
    pub fn note(&mut self, message: &str) {
        match &self.view {
            // A bar that is not drawn (stderr is no terminal) would swallow the line.
            View::Bar(bar) if !bar.is_hidden() => bar.println(format!("note: {message}")),
            _ => {
                let _ = writeln!(self.log, "note: {message}");
            }
        }
    }

    /// Ends the bar once the last step is done (the closing line comes after the end-of-run
    /// files, from [`Progress::close`]).
    pub fn end_steps(&mut self) {
        if let View::Bar(bar) = &self.view {
            bar.finish();
        }
    }

    /// Prints the files written and the closing line (not in quiet mode).
    pub fn close(&mut self, files: &[PathBuf], out_dir: &Path, closing: &Closing<'_>) {
        if !files.is_empty() {
            let names: Vec<String> =
                files.iter().map(|f| f.strip_prefix(out_dir).unwrap_or(f).display().to_string()).collect();
            self.line(format!("wrote {}: {}", out_dir.display(), names.join(", ")));
        }
        self.line(closing.line());
    }

    /// Ends the bar where it stands after a failure, so the error prints below it.
    pub fn abandon(&mut self) {
        if let View::Bar(bar) = &self.view {
            bar.abandon();
        }
    }

    /// Remaining time at the average pace of this session.
    fn eta(&self, done: u64) -> Duration {
        let in_session = done.saturating_sub(self.first_step).max(1);
        let per_step = self.started.elapsed().as_secs_f64() / in_session as f64;
        Duration::from_secs_f64(per_step * self.total.saturating_sub(done) as f64)
    }
}

/// What the closing line of a run reports.
pub(crate) struct Closing<'a> {
    /// The first step of this session (0 for a fresh run).
    pub first_step: u64,
    pub steps_run: u64,
    pub batch: usize,
    /// Time spent taking the steps (not the end-of-run evaluation and pictures).
    pub train_time: Duration,
    pub final_loss: Option<f64>,
    pub eval: Option<&'a EvalResult>,
}

impl Closing<'_> {
    /// `trained 400 steps (0-399) in 12.5 s, 256 samples/s; final loss 0.0401; eval loss 0.0398 on 10000 examples`
    pub fn line(&self) -> String {
        let (first, n) = (self.first_step, self.steps_run);
        let range = match n {
            0 => String::new(),
            1 => format!(" ({first})"),
            _ => format!(" ({first}-{})", first + n - 1),
        };
        let secs = self.train_time.as_secs_f64();
        let rate = if n > 0 && secs > 0.0 {
            match (n as f64 * self.batch as f64) / secs {
                r if r >= 10.0 => format!(", {r:.0} samples/s"),
                r => format!(", {r:.2} samples/s"),
            }
        } else {
            String::new()
        };
        let mut line =
            format!("trained {n} step{}{range} in {}{rate}", if n == 1 { "" } else { "s" }, seconds(self.train_time));
        if let Some(l) = self.final_loss {
            line.push_str(&format!("; final loss {}", value(l)));
        }
        if let Some(e) = self.eval {
            line.push_str(&format!("; eval loss {} on {} examples", value(e.loss), e.examples));
        }
        line
    }
}

/// `0.42 s`, `12.5 s`, `1:02:05`
fn seconds(d: Duration) -> String {
    match d.as_secs_f64() {
        s if s < 10.0 => format!("{s:.2} s"),
        s if s < 60.0 => format!("{s:.1} s"),
        _ => clock(d),
    }
}

/// `loss 0.04213  kl 0.0123  lr 0.001  5321 samples/s`
fn describe(r: &StepRecord) -> String {
    let mut parts = vec![format!("loss {}", value(r.loss))];
    parts.extend(r.metrics.iter().map(|(k, v)| format!("{k} {}", value(*v))));
    if let Some(lr) = r.lr {
        parts.push(format!("lr {}", value(lr)));
    }
    parts.push(format!("{:.0} samples/s", r.samples_per_s));
    parts.join("  ")
}

/// Four significant digits, in scientific notation for very small or large magnitudes.
pub(crate) fn value(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() {
        format!("{v}")
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.3e}")
    } else {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    }
}

/// `h:mm:ss`
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_four_significant_digits() {
        assert_eq!(value(0.042131), "0.04213");
        assert_eq!(value(1234.56), "1235");
        assert_eq!(value(1.5), "1.500");
        assert_eq!(value(1e-5), "1.000e-5");
        assert_eq!(value(0.0), "0");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
    }

    #[test]
    fn plain_lines_follow_the_interval_and_number_steps_from_0() {
        let mut out = Vec::new();
        {
            let mut p = Progress::new(ProgressMode::Plain, &mut out, 4, 2, 10);
            for step in 2..10 {
                let r = StepRecord {
                    step,
                    epoch: step / 5,
                    loss: 1.0,
                    metrics: Default::default(),
                    lr: None,
                    samples_per_s: 10.0,
                };
                p.step(&r);
            }
            p.eval(&EvalRecord { step: 10, loss: 0.75, metrics: [("kl".to_string(), 0.5)].into(), examples: 6 });
            p.end_steps();
            let closing = Closing {
                first_step: 2,
                steps_run: 8,
                batch: 4,
                train_time: Duration::from_millis(500),
                final_loss: Some(0.5),
                eval: None,
            };
            p.close(&[PathBuf::from("out/a.png")], Path::new("out"), &closing);
        }
        let text = String::from_utf8(out).unwrap();
        let steps: Vec<&str> = text.lines().map(|l| l.split("  ").next().unwrap()).collect();
        assert_eq!(
            steps,
            vec![
                "step 2 (3/10 done)",
                "step 4 (5/10 done)",
                "step 8 (9/10 done)",
                "step 9 (10/10 done)",
                "eval at step 10: loss 0.7500",
                "wrote out: a.png",
                "trained 8 steps (2-9) in 0.50 s, 64 samples/s; final loss 0.5000",
            ]
        );
        assert!(text.contains("eval at step 10: loss 0.7500  kl 0.5000  (6 examples)"), "{text}");
    }

    #[test]
    fn the_closing_line_counts_steps_time_and_losses() {
        let eval = EvalResult { loss: 0.25, metrics: Default::default(), examples: 100, batches: 2 };
        let c = Closing {
            first_step: 0,
            steps_run: 1,
            batch: 8,
            train_time: Duration::from_secs(125),
            final_loss: None,
            eval: Some(&eval),
        };
        assert_eq!(c.line(), "trained 1 step (0) in 0:02:05, 0.06 samples/s; eval loss 0.2500 on 100 examples");
        let c = Closing { steps_run: 0, eval: None, train_time: Duration::from_secs(12), ..c };
        assert_eq!(c.line(), "trained 0 steps in 12.0 s");
    }
}
