//! Which `hgc run` options apply to which entry point. One table, [`OPTIONS`], makes both the
//! `[applies to: ...]` of every option's `--help` line and the check of a command line, so the
//! two cannot disagree: an option given to an entry it does not apply to is an error that says
//! where it applies, never silently dropped (`info --init SAVE` used to write nothing).

use crate::run::RunArgs;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command};

/// The entry points of `hgc run`, and `time`, which times one of them (`crate::timing`).
pub const ENTRIES: [&str; 8] = ["info", "encode", "decode", "reconstruct", "sample", "train", "eval", "time"];

const ALL: &[&str] = &ENTRIES;
const BUT_INFO: &[&str] = &["encode", "decode", "reconstruct", "sample", "train", "eval", "time"];
const ARRAYS_IN: &[&str] = &["encode", "decode", "reconstruct"];
const ARRAYS_OUT: &[&str] = &["encode", "decode", "reconstruct", "sample"];
const DATA: &[&str] = &["eval", "train"];
const TRAIN: &[&str] = &["train"];
const TIME: &[&str] = &["time"];

/// Every option of `hgc run` (by its argument id, the field of [`RunArgs`]) and the entries it
/// applies to. A unit test checks that no option is missing.
pub const OPTIONS: &[(&str, &[&str])] = &[
    ("model", ALL),
    ("set", ALL),
    ("backend", BUT_INFO),
    ("precision", BUT_INFO),
    ("weights", BUT_INFO),
    ("init", BUT_INFO),
    ("input", ARRAYS_IN),
    ("output", ARRAYS_OUT),
    ("png", ARRAYS_OUT),
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

/// The `run` subcommand as clap builds it from [`RunArgs`].
fn run_command() -> Command {
    RunArgs::augment_args(Command::new("run"))
}

/// Adds `[applies to: ...]` to the help of every option of the `run` subcommand of `cli`.
pub fn with_entries_in_help(cli: Command) -> Command {
    cli.mut_subcommand("run", |run| {
        let ids: Vec<String> =
            run.get_arguments().filter(|a| a.get_long().is_some()).map(|a| a.get_id().as_str().to_string()).collect();
        ids.iter().fold(run, |run, id| {
            run.mut_arg(id, |a| {
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                a.help(format!("{help} [applies to: {}]", describe(applies_to(id), "")))
            })
        })
    })
}

/// The ids of the options given on the command line (not those left at their defaults).
pub fn given_options(matches: &ArgMatches) -> Vec<String> {
    OPTIONS
        .iter()
        .filter(|(id, _)| matches.value_source(id) == Some(ValueSource::CommandLine))
        .map(|(id, _)| id.to_string())
        .collect()
}

/// How the user writes option `id`: `--steps`, `-n/--num`.
fn flag(id: &str) -> String {
    let cmd = run_command();
    let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == id) else { return id.to_string() };
    match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => format!("-{s}/--{l}"),
        (None, Some(l)) => format!("--{l}"),
        _ => id.to_string(),
    }
}

/// An error naming the first given option that `entry` would ignore, and where it applies.
pub fn check_options(args: &RunArgs) -> Result<(), String> {
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

    /// The help line of every option, as `hgc run --help` prints it.
    fn help_lines() -> Vec<(String, String)> {
        let cli = with_entries_in_help(Command::new("hgc").subcommand(run_command()));
        let run = cli.find_subcommand("run").unwrap();
        run.get_arguments()
            .filter(|a| a.get_long().is_some())
            .map(|a| (a.get_id().to_string(), a.get_help().map(|h| h.to_string()).unwrap_or_default()))
            .collect()
    }

    #[test]
    fn every_option_is_in_the_table_and_its_help_says_where_it_applies() {
        let lines = help_lines();
        assert!(lines.len() >= 25, "{lines:?}");
        for (id, help) in &lines {
            let Some((_, entries)) = OPTIONS.iter().find(|(o, _)| o == id) else {
                panic!("option `{id}` is missing from OPTIONS");
            };
            let (text, applies) = help.split_once(" [applies to: ").unwrap_or_else(|| panic!("{id}: {help}"));
            assert!(text.len() > 10, "`{id}` has no description: {help}");
            let listed: Vec<&str> = match applies.strip_suffix(']').unwrap() {
                "every entry" => ENTRIES.to_vec(),
                "every entry but info" => ENTRIES.iter().copied().filter(|e| *e != "info").collect(),
                list => list.split(", ").collect(),
            };
            // Exactly the entries the check allows, each once.
            let mut sorted = listed.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), listed.len(), "{id}: {help}");
            for e in ENTRIES {
                assert_eq!(listed.contains(&e), entries.contains(&e), "`{id}` and `{e}`: {help}");
            }
        }
        for (id, _) in OPTIONS {
            assert!(lines.iter().any(|(l, _)| l == id), "OPTIONS lists `{id}`, which `hgc run` does not have");
        }
    }

    fn parse(line: &[&str]) -> RunArgs {
        let cmd = run_command().no_binary_name(true);
        let matches = cmd.try_get_matches_from(line).unwrap();
        let mut args = RunArgs::from_arg_matches(&matches).unwrap();
        args.given = given_options(&matches);
        args
    }

    #[test]
    fn options_left_at_their_defaults_are_not_given() {
        let args = parse(&["m.hgl", "sample", "--init", "-n", "3"]);
        assert_eq!(args.given, vec!["init", "num"]);
        assert_eq!(check_options(&args), Ok(()));
        let e = check_options(&parse(&["m.hgl", "encode", "-n", "3"])).unwrap_err();
        assert_eq!(e, "`-n/--num` does not apply to `encode`; it applies to `sample`");
        let e = check_options(&parse(&["m.hgl", "eval", "--log-every", "50"])).unwrap_err();
        assert_eq!(e, "`--log-every` does not apply to `eval`; it applies to `train`");
        let e = check_options(&parse(&["m.hgl", "info", "--backend", "interp"])).unwrap_err();
        assert_eq!(e, "`--backend` does not apply to `info`; it applies to every entry but `info`");
        assert_eq!(check_options(&parse(&["m.hgl", "train", "--set", "a=1", "--progress", "quiet"])), Ok(()));
    }
}
