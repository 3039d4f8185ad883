//! The options of a model's command line (`hgc run FILE ENTRY ...`, `NAME ENTRY ...` of a
//! standalone executable). Each one's help ends with the entries it applies to, from
//! [`crate::options::OPTIONS`], which also refuses an option given to another entry.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// How training reports progress on stderr.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Bar,
    Plain,
    Quiet,
}

/// The entry to run and every option of it.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// The entry point: info (what the model reads, writes and holds), encode, decode,
    /// reconstruct, sample, train or eval; or time, which times one of them in this process
    /// and prints JSON (see --entry)
    pub entry: String,
    /// Parameters to use: a run's final.safetensors, a checkpoint, or your own safetensors
    #[arg(long, value_name = "W.safetensors")]
    pub weights: Option<PathBuf>,
    /// Draw fresh parameters from the initializers (keyed by --seed); optionally save them
    #[arg(long, value_name = "SAVE.safetensors", num_args = 0..=1, default_missing_value = "")]
    pub init: Option<String>,
    /// Input arrays: x.npy (the only input), NAME=x.npy, or an .npz holding arrays by name (sample: the model's conditions, one sample per row)
    #[arg(long, value_name = "[NAME=]FILE")]
    pub input: Vec<String>,
    /// Write the outputs to a .npy (one output) or .npz (all of them) instead of printing them
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also draw image-shaped outputs as a PNG grid (reconstruct: each input beside its output; eval: each input beside the pictures the model declares)
    #[arg(long, value_name = "FILE.png")]
    pub png: Option<PathBuf>,
    /// Number of samples to draw (a model with conditions draws one per row of --input instead)
    #[arg(short = 'n', long = "num", default_value_t = 16)]
    pub num: usize,
    /// Print the description as JSON
    #[arg(long)]
    pub json: bool,
    /// Data: fashion-mnist[:train|:test], shapes[:N], or .npy/.npz files [default: fashion-mnist, eval: fashion-mnist:test]
    #[arg(long, value_name = "DATA")]
    pub data: Option<String>,
    /// Data to evaluate on at the end of training and with --eval-every [default: fashion-mnist:test when training on fashion-mnist]
    #[arg(long, value_name = "DATA")]
    pub eval_data: Option<String>,
    /// Also evaluate on the eval data every N steps: eval.jsonl, and the eval curve in loss.png
    #[arg(long, value_name = "N")]
    pub eval_every: Option<u64>,
    /// Use only the first N examples of the data (and of the eval data)
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Number of optimizer steps [default: the train block's steps or epochs]
    #[arg(long, value_name = "N")]
    pub steps: Option<u64>,
    /// Number of passes over the data, instead of --steps
    #[arg(long, value_name = "N")]
    pub epochs: Option<u64>,
    /// Examples per training step, or per call of the model [default: the train block's batch when training, else 64]
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Base learning rate [default: the lr of the train block's optimizer, else 0.001]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of the initial parameters, the data order and every random draw [default: the train block's seed, else 0]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Shuffle the training data every epoch
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, default_value_t = true)]
    pub shuffle: bool,
    /// With --resume: continue even though the spec changed since the checkpoint was written
    #[arg(long)]
    pub allow_changed_spec: bool,
    /// Replace what exists: a run in --out, the file --init SAVE names
    #[arg(long)]
    pub overwrite: bool,
    /// Refuse --weights holding tensors the model does not have; false loads the rest and lists them
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, default_value_t = true)]
    pub strict: bool,
    /// Output folder of the run [default: runs/<model>, or runs/<model>-N when that holds a run]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run of this checkpoint.safetensors (with its --set, data and settings)
    #[arg(long, value_name = "CKPT")]
    pub resume: Option<PathBuf>,
    /// Also write checkpoint.safetensors every N steps (it is always written at the end)
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<u64>,
    /// With plain progress, print a line at every N-th step (and the first and last)
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub log_every: u64,
    /// Progress on stderr: a bar (on a terminal), plain lines (in logs), or quiet (notes and errors only)
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressArg,
    /// The entry `time` times (encode, decode, reconstruct, sample, eval or train) on random inputs of its signature, with parameters from --weights or drawn from --seed
    #[arg(long = "entry", value_name = "ENTRY", default_value = "reconstruct")]
    pub time_entry: String,
    /// Timed calls of the entry, after the warm-up calls
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub repeats: usize,
    /// Untimed calls before the timed ones
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub warmup: usize,
    /// The options given on the command line, by id (filled in by the parser, [`crate::options::given_options`]).
    #[arg(skip)]
    pub given: Vec<String>,
}
