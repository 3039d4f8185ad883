//! Which options of a model's command line apply to which entry point. One table, [`OPTIONS`],
//! makes both the `[applies to: ...]` of every option's `--help` line and the check of a command
//! line, so the two cannot disagree: an option given to an entry it does not apply to is an
//! error that says where it applies, never silently dropped (`info --init SAVE` used to write
//! nothing). The table also lists the options only `hgc run` has (`--model`, `--set`,
//! `--backend`, `--precision`).

use crate::args::ModelArgs;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command};

/// The entry points, and `time`, which times one of them (`crate::timing`).
pub const ENTRIES: [&str; 8] = ["info", "encode", "decode", "reconstruct", "sample", "train", "eval", "time"];

const ALL: &[&str] = &ENTRIES;
const BUT_INFO: &[&str] = &["encode", "decode", "reconstruct", "sample", "train", "eval", "time"];
const ARRAYS_IN: &[&str] = &["encode", "decode", "reconstruct", "sample"];
const ARRAYS_OUT: &[&str] = &["encode", "decode", "reconstruct", "sample"];
const DATA: &[&str] = &["eval", "train"];
/// `eval --png` draws the pictures a model declares.
const PICTURES: &[&str] = &["encode", "decode", "reconstruct", "sample", "eval"];
const TRAIN: &[&str] = &["train"];
const TIME: &[&str] = &["time"];

/// Every option (by its argument id, the field of [`ModelArgs`] or of `hgc run`'s arguments) and
/// the entries it applies to. Unit tests here and in `hgc` check that no option is missing.
pub const OPTIONS: &[(&str, &[&str])] = &[
    ("model", ALL),
    ("set", ALL),
    ("backend", BUT_INFO),
    ("precision", BUT_INFO),
    ("weights", BUT_INFO),
    ("init", BUT_INFO),
    ("input", ARRAYS_IN),
    ("output", ARRAYS_OUT),
    ("png", PICTURES),
    ("num", &["sample"]),
    ("json", &["info"]),
    ("data", DATA),
    ("eval_data", TRAIN),
    ("eval_every", TRAIN),
    ("limit", DATA),
    ("steps", TRAIN),
    ("epochs", TRAIN),
    ("batch", BUT_INFO),
    ("lr", TRAIN),
    ("seed", BUT_INFO),
    ("shuffle", TRAIN),
    ("allow_changed_spec", TRAIN),
    ("overwrite", BUT_INFO),
    ("strict", BUT_INFO),
    ("out", TRAIN),
    ("resume", TRAIN),
    ("checkpoint_every", TRAIN),
    ("log_every", TRAIN),
    ("progress", TRAIN),
    ("time_entry", TIME),
    ("repeats", TIME),
    ("warmup", TIME),
];

/// The entries option `id` applies to (every entry for an id not in the table).
fn applies_to(id: &str) -> &'static [&'static str] {
    OPTIONS.iter().find(|(o, _)| *o == id).map_or(ALL, |(_, e)| e)
}

/// `every entry`, `every entry but info`, or the list; entries between `quote`s.
fn describe(entries: &[&str], quote: &str) -> String {
    if entries == ALL {
        "every entry".into()
    } else if entries == BUT_INFO {
        format!("every entry but {quote}info{quote}")
    } else {
        entries.iter().map(|e| format!("{quote}{e}{quote}")).collect::<Vec<_>>().join(", ")
    }
}

/// The model options as clap builds them from [`ModelArgs`].
fn model_command() -> Command {
    ModelArgs::augment_args(Command::new("run"))
}

/// Adds `[applies to: ...]` to the help of every option of `cmd` (`hgc run`, or a standalone
/// executable's command).
pub fn with_entries_in_help(cmd: Command) -> Command {
    let ids: Vec<String> =
        cmd.get_arguments().filter(|a| a.get_long().is_some()).map(|a| a.get_id().as_str().to_string()).collect();
    ids.iter().fold(cmd, |cmd, id| {
        cmd.mut_arg(id, |a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            a.help(format!("{help} [applies to: {}]", describe(applies_to(id), "")))
        })
    })
}

/// The ids of the options given on the command line (not those left at their defaults).
pub fn given_options(matches: &ArgMatches) -> Vec<String> {
    OPTIONS
        .iter()
        .filter(|(id, _)| {
            // A standalone executable's command has no `hgc run` options: ask only about ids it has.
            matches.ids().any(|i| i.as_str() == *id) && matches.value_source(id) == Some(ValueSource::CommandLine)
        })
        .map(|(id, _)| id.to_string())
        .collect()
}

/// How the user writes option `id`: `--steps`, `-n/--num` (`hgc run`'s own options are long
/// only).
fn flag(id: &str) -> String {
    let cmd = model_command();
    let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == id) else {
        return format!("--{}", id.replace('_', "-"));
    };
    match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => format!("-{s}/--{l}"),
        (None, Some(l)) => format!("--{l}"),
        _ => id.to_string(),
    }
}

/// An error naming the first given option that `entry` would ignore, and where it applies.
pub fn check_options(args: &ModelArgs) -> Result<(), String> {
    for id in &args.given {
        let entries = applies_to(id);
        if !entries.contains(&args.entry.as_str()) {
            return Err(format!(
                "`{}` does not apply to `{}`; it applies to {}",
                flag(id),
                args.entry,
                describe(entries, "`")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    /// Every option of the model command line is in the table (`hgc` checks its own).
    #[test]
    fn every_model_option_is_in_the_table_and_its_help_says_where_it_applies() {
        let cmd = with_entries_in_help(model_command());
        let mut count = 0;
        for a in cmd.get_arguments().filter(|a| a.get_long().is_some()) {
            let id = a.get_id().as_str();
            assert!(OPTIONS.iter().any(|(o, _)| *o == id), "option `{id}` is missing from OPTIONS");
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.contains(" [applies to: "), "{id}: {help}");
            count += 1;
        }
        assert!(count >= 25, "{count} options");
    }

    fn parse(line: &[&str]) -> ModelArgs {
        let cmd = model_command().no_binary_name(true);
        let matches = cmd.try_get_matches_from(line).unwrap();
        let mut args = ModelArgs::from_arg_matches(&matches).unwrap();
        args.given = given_options(&matches);
        args
    }

    #[test]
    fn options_left_at_their_defaults_are_not_given() {
        let args = parse(&["sample", "--init", "-n", "3"]);
        assert_eq!(args.given, vec!["init", "num"]);
        assert_eq!(check_options(&args), Ok(()));
        let e = check_options(&parse(&["encode", "-n", "3"])).unwrap_err();
        assert_eq!(e, "`-n/--num` does not apply to `encode`; it applies to `sample`");
        let e = check_options(&parse(&["eval", "--log-every", "50"])).unwrap_err();
        assert_eq!(e, "`--log-every` does not apply to `eval`; it applies to `train`");
        assert_eq!(check_options(&parse(&["train", "--progress", "quiet"])), Ok(()));
    }

    #[test]
    fn compiler_options_are_named_by_their_long_flag() {
        let mut args = parse(&["info"]);
        args.given = vec!["backend".into()];
        let e = check_options(&args).unwrap_err();
        assert_eq!(e, "`--backend` does not apply to `info`; it applies to every entry but `info`");
    }
}
