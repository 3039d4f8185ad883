//! Showing a run's progress: an indicatif bar on a terminal, plain lines in logs, or nothing.
//!
//! Plain mode prints one line at the first step of the session, every `log_every` steps
//! (counting steps from 1, so `log_every = 100` logs steps 99, 199, ... in 0-based terms) and
//! at the last step:
//! `step 200/1000  epoch 3  loss 0.04213  kl 0.0123  lr 0.001  5321 samples/s  eta 0:01:02`.
//! Notes (a resume that overrides settings, a picture that could not be drawn) are printed in
//! every mode, above the bar when there is one.
//!
//! **Invariant**: progress output never fails the run: a log stream that cannot be written to
//! (a closed pipe) is ignored.

use super::config::ProgressMode;
use super::metrics::StepRecord;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
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
        match &self.view {
            View::Bar(bar) => {
                bar.set_position(record.step + 1);
                bar.set_message(summary);
            }
            View::Lines => {
                let done = record.step + 1;
                let due = record.step == self.first_step || done.is_multiple_of(self.log_every) || done == self.total;
                if due {
                    let eta = self.eta(done);
                    let line =
                        format!("step {done}/{}  epoch {}  {summary}  eta {}", self.total, record.epoch, clock(eta));
                    let _ = writeln!(self.log, "{line}");
                }
            }
            View::Quiet => {}
        }
    }

    /// A message that needs attention, shown in every mode.
    pub fn note(&mut self, message: &str) {
        match &self.view {
            View::Bar(bar) => bar.println(format!("note: {message}")),
            View::Lines | View::Quiet => {
                let _ = writeln!(self.log, "note: {message}");
            }
        }
    }

    /// Ends the bar and prints a closing line (not in quiet mode).
    pub fn finish(&mut self, steps_run: u64, final_loss: Option<f64>) {
        let loss = final_loss.map(|l| format!(", final loss {}", value(l))).unwrap_or_default();
        let line = format!("trained {steps_run} steps in {}{loss}", clock(self.started.elapsed()));
        match &self.view {
            View::Bar(bar) => {
                bar.finish();
                bar.println(line);
            }
            View::Lines => {
                let _ = writeln!(self.log, "{line}");
            }
            View::Quiet => {}
        }
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
    fn plain_lines_follow_the_interval() {
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
            p.finish(8, Some(0.5));
        }
        let text = String::from_utf8(out).unwrap();
        let steps: Vec<&str> = text.lines().map(|l| l.split("  ").next().unwrap()).collect();
        assert_eq!(
            steps,
            vec!["step 3/10", "step 4/10", "step 8/10", "step 10/10", "trained 8 steps in 0:00:00, final loss 0.5000"]
        );
    }
}
