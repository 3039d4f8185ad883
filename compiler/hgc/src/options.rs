//! The option table of `hgc run` lives with the model command line (`hg_cli::options`), which
//! also lists the options only `hgc run` has; this test checks the two agree.

#[cfg(test)]
mod tests {
    use crate::run::RunArgs;
    use clap::{Args, Command};
    use hg_cli::options::{ENTRIES, OPTIONS, with_entries_in_help};

    /// The help line of every option, as `hgc run --help` prints it.
    fn help_lines() -> Vec<(String, String)> {
        let run = with_entries_in_help(RunArgs::augment_args(Command::new("run")));
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
}
