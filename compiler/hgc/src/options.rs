//! Which `hgc run` options apply to which entry point, so an option the entry would ignore is
//! an error that says where it does apply, never silently dropped (`info --init SAVE` used to
//! write nothing).

use crate::run::RunArgs;

const INFERENCE: [&str; 5] = ["encode", "decode", "reconstruct", "sample", "eval"];

/// The entries an option applies to; `None` for every entry.
fn applies_to(option: &str) -> Option<&'static [&'static str]> {
    Some(match option {
        "--weights" | "--init" => &["encode", "decode", "reconstruct", "sample", "eval", "train"],
        "--input" => &["encode", "decode", "reconstruct"],
        "--output" | "--png" => &["encode", "decode", "reconstruct", "sample"],
        "--json" => &["info"],
        "--data" | "--limit" => &["eval", "train"],
        "--batch" | "--seed" | "--strict" | "--overwrite" => {
            &["encode", "decode", "reconstruct", "sample", "eval", "train"]
        }
        "--eval-data"
        | "--steps"
        | "--epochs"
        | "--lr"
        | "--out"
        | "--resume"
        | "--checkpoint-every"
        | "--allow-changed-spec" => &["train"],
        _ => return None,
    })
}

/// The options given on the command line (those with no default, or changed from it).
fn given(args: &RunArgs) -> Vec<&'static str> {
    let flags = [
        ("--weights", args.weights.is_some()),
        ("--init", args.init.is_some()),
        ("--input", !args.input.is_empty()),
        ("--output", args.output.is_some()),
        ("--png", args.png.is_some()),
        ("--json", args.json),
        ("--data", args.data.is_some()),
        ("--limit", args.limit.is_some()),
        ("--batch", args.batch.is_some()),
        ("--seed", args.seed.is_some()),
        ("--strict", !args.strict),
        ("--overwrite", args.overwrite),
        ("--eval-data", args.eval_data.is_some()),
        ("--steps", args.steps.is_some()),
        ("--epochs", args.epochs.is_some()),
        ("--lr", args.lr.is_some()),
        ("--out", args.out.is_some()),
        ("--resume", args.resume.is_some()),
        ("--checkpoint-every", args.checkpoint_every.is_some()),
        ("--allow-changed-spec", args.allow_changed_spec),
    ];
    flags.into_iter().filter(|(_, on)| *on).map(|(f, _)| f).collect()
}

/// An error naming the first given option that `entry` would ignore, and where it applies.
pub fn check_options(args: &RunArgs) -> Result<(), String> {
    for option in given(args) {
        let Some(entries) = applies_to(option) else { continue };
        if !entries.contains(&args.entry.as_str()) {
            let list = if entries.len() == INFERENCE.len() + 1 {
                "every entry but `info`".to_string()
            } else {
                entries.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
            };
            return Err(format!("`{option}` does not apply to `{}`; it applies to {list}", args.entry));
        }
    }
    Ok(())
}
