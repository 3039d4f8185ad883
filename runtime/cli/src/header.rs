//! What a training run is about to do, printed before the first step.

use crate::args::ModelArgs;
use crate::model::ModelCard;
use crate::run::thousands;
use hg_runtime::train::{self, TrainConfig};

/// What a training run is about to do, printed on stderr before the first step (not with
/// `--progress quiet`): the model, backend, optimizer, learning rate and schedule, batch, steps,
/// seed, data, evaluation and output folder, each setting with where it comes from (an option,
/// the spec's `train` block, the checkpoint being resumed, or a default).
pub(crate) struct Header<'a> {
    pub(crate) args: &'a ModelArgs,
    pub(crate) card: &'a ModelCard,
    pub(crate) backend: &'a str,
    pub(crate) cfg: &'a TrainConfig,
    pub(crate) data_spec: &'a str,
    pub(crate) examples: usize,
    pub(crate) eval_spec: Option<&'a str>,
    /// Time to compile the model for the backend and open its session.
    pub(crate) compile_time: std::time::Duration,
}

impl Header<'_> {
    fn given(&self, id: &str) -> bool {
        self.args.given.iter().any(|g| g == id)
    }

    /// Where a setting comes from: `--flag` when given, else the `train` block when it writes
    /// `key`, else the default (and why).
    fn source(&self, id: &str, key: &str) -> String {
        if self.given(id) {
            return format!("--{}", id.replace('_', "-"));
        }
        match &self.card.train.written {
            Some(keys) if keys.iter().any(|k| k == key) => "train block".into(),
            Some(_) => format!("default: the train block sets no {key}"),
            None => "default: the spec has no train block".into(),
        }
    }

    pub(crate) fn lines(&self, resumed: Option<&train::CheckpointMeta>) -> Vec<String> {
        let (cfg, defaults, card) = (self.cfg, &self.card.train, self.card);
        let mut lines = Vec::new();
        let mut add = |key: &str, value: String| lines.push(format!("{key:<10} {value}"));

        let (tensors, values) = card.parameter_count();
        let set =
            if card.spec.set.is_empty() { String::new() } else { format!(" --set {}", card.spec.set.join(" --set ")) };
        add(
            "model",
            format!("{} ({}{set}): {} parameters in {tensors} tensors", card.model, card.spec.file, thousands(values)),
        );
        add("backend", format!("{}, compiled in {:.0} ms", self.backend, self.compile_time.as_secs_f64() * 1e3));
        let mut optimizer = format!("{} ({})", defaults.optimizer, self.source("optimizer", "optimizer"));
        if let Some(c) = defaults.clip_grad_norm {
            optimizer.push_str(&format!(", gradient norm clipped at {c} (train block)"));
        }
        add("optimizer", optimizer);

        let from_checkpoint = |what: String| format!("{what} (checkpoint)");
        let lr = match resumed {
            Some(m) => from_checkpoint(m.base_lr.to_string()),
            None if self.given("lr") => format!("{} (--lr)", cfg.base_lr),
            None => format!("{} (the optimizer's)", cfg.base_lr),
        };
        add("lr", format!("{lr}, schedule {} ({})", defaults.schedule, self.source("schedule", "schedule")));

        let batch = match resumed {
            Some(m) => m.batch,
            None => cfg.batch,
        };
        add(
            "batch",
            match resumed {
                Some(_) => from_checkpoint(batch.to_string()),
                None => format!("{batch} ({})", self.source("batch", "batch")),
            },
        );

        let per_epoch = (self.examples / batch.max(1)) as u64;
        let planned = match (cfg.steps, cfg.epochs) {
            (Some(s), _) => Some((s, format!("{} steps", s), self.source("steps", "steps"))),
            (None, Some(e)) => Some((e * per_epoch, format!("{e} epochs"), self.source("epochs", "epochs"))),
            (None, None) => None,
        };
        let (first, total, how) = match (resumed, planned) {
            (Some(m), None) => (m.step, m.total_steps, format!("the checkpoint's {} steps", m.total_steps)),
            (Some(m), Some((t, what, from))) => (m.step, t, format!("{what}, {from}")),
            (None, Some((t, what, from))) => (0, t, format!("{what}, {from}")),
            (None, None) => (0, 0, String::new()),
        };
        let range = match total.saturating_sub(first) {
            0 => "none left".to_string(),
            1 => format!("{first}"),
            _ => format!("{first}-{}", total - 1),
        };
        let epochs = match per_epoch {
            0 => String::new(),
            1 => "; 1 batch an epoch".into(),
            n => format!("; {n} batches an epoch"),
        };
        let resuming = if first > 0 { format!("; resuming at step {first}") } else { String::new() };
        add("steps", format!("{range} ({how}{epochs}{resuming})"));

        add(
            "seed",
            match resumed {
                Some(m) => from_checkpoint(m.seed.to_string()),
                None => format!("{} ({})", cfg.seed, self.source("seed", "seed")),
            },
        );
        let limit = if self.given("limit") { " (--limit)" } else { "" };
        let order = if resumed.map_or(cfg.shuffle, |m| m.shuffle) { "shuffled every epoch" } else { "in file order" };
        let restored = if resumed.is_some() && !self.given("data") { " (checkpoint)" } else { "" };
        add("data", format!("{}{restored}: {} examples{limit}, {order}", self.data_spec, self.examples));
        let eval = match (self.eval_spec, &cfg.eval_data) {
            _ if card.missing("eval").is_some() => "none (the model has no `eval` entry)".into(),
            (Some(spec), Some(d)) => {
                let when = match cfg.eval_every {
                    Some(n) => format!("every {n} steps and at the end (eval.jsonl, eval.json)"),
                    None => "at the end (eval.json)".into(),
                };
                format!("{spec}: {} examples, {when}", d.len)
            }
            _ => "none (give --eval-data)".into(),
        };
        add("eval", eval);
        add("out", cfg.out_dir.display().to_string());
        lines
    }
}
