//! `hgrun data NAME --out FILE.npz`: writes a built-in data set to an `.npz` archive, so other
//! tools (numpy, `hgc run --data FILE.npz`, another framework) can read exactly the examples
//! Hourglass trains on.
//!
//! Names are those `hgc run --data` accepts: `fashion-mnist` (the train split, also spelled
//! `fashion-mnist:train`), `fashion-mnist:test`, and `shapes` / `shapes:N` (N seeded scenes,
//! 10000 by default, the same default as `hgc run`). The archive holds the data set's arrays
//! under their own names (`image`, `label` / `image`, `n_objects`), exactly as the runtime's
//! loaders produce them, so reading the archive back gives the same tensors bit for bit.

use crate::error::{Error, Result};
use crate::numfmt::plural;
use hg_runtime::Dataset;
use hg_runtime::data::{SHAPES_DEFAULT_SIZE, Split, fashion_mnist, shapes};
use hg_runtime::npy::{write_npz, write_npz_compressed};
use std::path::Path;

/// Scenes `shapes` generates when neither `shapes:N` nor `--limit` says how many.
pub const SHAPES_DEFAULT_COUNT: usize = 10_000;
/// The seed of `shapes` when `--seed` is not given (`hgc run` also falls back to 0).
pub const DEFAULT_SEED: u64 = 0;

/// A built-in data set, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    FashionMnist(Split),
    /// `shapes` with the number of scenes of `shapes:N`.
    Shapes(Option<usize>),
}

const NAMES_HELP: &str = "use fashion-mnist, fashion-mnist:test or shapes[:N]";

/// Parses `fashion-mnist[:train|:test]` or `shapes[:N]`.
pub fn parse_source(spec: &str) -> Result<Source> {
    let (name, arg) = match spec.split_once(':') {
        Some((name, arg)) => (name, Some(arg)),
        None => (spec, None),
    };
    match (name, arg) {
        ("fashion-mnist", None) => Ok(Source::FashionMnist(Split::Train)),
        ("fashion-mnist", Some(split)) => Split::parse(split).map(Source::FashionMnist).ok_or_else(|| {
            Error::new(format!("unknown fashion-mnist split `{split}`; use fashion-mnist:train or fashion-mnist:test"))
        }),
        ("shapes", None) => Ok(Source::Shapes(None)),
        ("shapes", Some(n)) => n
            .parse()
            .map(|n| Source::Shapes(Some(n)))
            .map_err(|_| Error::new(format!("`shapes:{n}`: expected a number of scenes, as in shapes:1000"))),
        _ => Err(Error::new(format!("unknown data set `{spec}`; {NAMES_HELP}"))),
    }
}

/// What to export and where.
#[derive(Clone, Debug)]
pub struct ExportRequest<'a> {
    pub spec: &'a str,
    pub out: &'a Path,
    pub limit: Option<usize>,
    pub seed: Option<u64>,
    /// Deflate the members (numpy's `savez_compressed`) instead of storing them.
    pub compress: bool,
}

/// Loads the data set, writes the archive and returns the line describing it.
pub fn export(req: &ExportRequest<'_>) -> Result<String> {
    let out_ext = req.out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if out_ext.as_deref() != Some("npz") {
        return Err(Error::new(format!("{}: the output must be an .npz file", req.out.display())));
    }
    let source = parse_source(req.spec)?;
    let data = load(source, req.limit, req.seed)?;
    if req.compress {
        write_npz_compressed(req.out, &data.arrays)?;
    } else {
        write_npz(req.out, &data.arrays)?;
    }
    let arrays: Vec<String> = data.arrays.iter().map(|(n, t)| format!("{n} {t}")).collect();
    Ok(format!(
        "wrote {}: {} of {} ({})\n",
        req.out.display(),
        plural(data.len, "example"),
        req.spec,
        arrays.join(", ")
    ))
}

/// The first `limit` examples of a built-in data set.
pub fn load(source: Source, limit: Option<usize>, seed: Option<u64>) -> Result<Dataset> {
    match source {
        Source::FashionMnist(_) if seed.is_some() => {
            Err(Error::new("--seed only applies to `shapes`; fashion-mnist is a fixed data set"))
        }
        Source::FashionMnist(split) => Ok(fashion_mnist(split, limit)?),
        Source::Shapes(n) => {
            let n = match (n, limit) {
                (Some(n), Some(limit)) => n.min(limit),
                (Some(n), None) => n,
                (None, Some(limit)) => limit,
                (None, None) => SHAPES_DEFAULT_COUNT,
            };
            Ok(shapes(n, seed.unwrap_or(DEFAULT_SEED), SHAPES_DEFAULT_SIZE))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_like_hgc_run_data() {
        assert_eq!(parse_source("fashion-mnist").unwrap(), Source::FashionMnist(Split::Train));
        assert_eq!(parse_source("fashion-mnist:train").unwrap(), Source::FashionMnist(Split::Train));
        assert_eq!(parse_source("fashion-mnist:test").unwrap(), Source::FashionMnist(Split::Test));
        assert_eq!(parse_source("shapes").unwrap(), Source::Shapes(None));
        assert_eq!(parse_source("shapes:12").unwrap(), Source::Shapes(Some(12)));
        let e = parse_source("fashion-mnist:val").unwrap_err().to_string();
        assert_eq!(e, "unknown fashion-mnist split `val`; use fashion-mnist:train or fashion-mnist:test");
        let e = parse_source("shapes:many").unwrap_err().to_string();
        assert_eq!(e, "`shapes:many`: expected a number of scenes, as in shapes:1000");
        let e = parse_source("mnist").unwrap_err().to_string();
        assert_eq!(e, "unknown data set `mnist`; use fashion-mnist, fashion-mnist:test or shapes[:N]");
    }

    #[test]
    fn shapes_counts_follow_the_name_and_the_limit() {
        assert_eq!(load(Source::Shapes(Some(5)), None, None).unwrap().len, 5);
        assert_eq!(load(Source::Shapes(Some(5)), Some(3), None).unwrap().len, 3);
        assert_eq!(load(Source::Shapes(Some(2)), Some(3), None).unwrap().len, 2);
        assert_eq!(load(Source::Shapes(None), Some(4), Some(9)).unwrap(), shapes(4, 9, SHAPES_DEFAULT_SIZE));
        let e = load(Source::FashionMnist(Split::Test), Some(1), Some(3)).unwrap_err().to_string();
        assert!(e.contains("--seed only applies to `shapes`"), "{e}");
    }

    #[test]
    fn the_output_must_be_an_npz_file() {
        let req =
            ExportRequest { spec: "shapes:2", out: Path::new("out.npy"), limit: None, seed: None, compress: false };
        assert_eq!(export(&req).unwrap_err().to_string(), "out.npy: the output must be an .npz file");
    }
}
