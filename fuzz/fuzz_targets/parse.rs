//! Fuzz target for the front end: any bytes, as a root file, through parsing, name resolution
//! and model selection. The front end must not panic or overflow its stack, every diagnostic
//! must point inside its file, and what parses cleanly must survive a print/parse round trip.

#![no_main]

use hg_dsl::ast::FileId;
use hg_dsl::parse::parse_file;
use hg_dsl::print::print_file;
use hg_dsl::resolve::CheckOptions;
use hg_dsl::spans::erase_spans;
use hg_dsl::{MemoryLoader, SourceDb, check};
use libfuzzer_sys::fuzz_target;

const NN: &str = "fn Linear(x: [..., I], out: int) -> [..., out] {\n    param w: f32[I, out] = glorot_uniform\n    return x @ w\n}\n";

fuzz_target!(|data: &[u8]| {
    let loader = MemoryLoader::new().with_std("std.nn", NN).with_file("a.hgl", "fn A(x) { return x }\n");
    let mut db = SourceDb::new();
    let root = db.add_bytes("fuzz.hgl", "fuzz.hgl", data.to_vec());
    let options = CheckOptions { model: None, overrides: vec!["latent=3".to_string()] };
    let (_, diags) = check(&mut db, &loader, root, &options);
    for d in &diags {
        for label in &d.labels {
            let text = &db.file(label.span.file).text;
            let (start, end) = (label.span.start as usize, label.span.end as usize);
            assert!(start <= end && end <= text.len() && text.is_char_boundary(start) && text.is_char_boundary(end));
        }
    }
    let text = db.file(root).text.clone();
    let first = parse_file(FileId(0), &text);
    if first.diagnostics.is_empty() {
        let printed = print_file(&first.file);
        let second = parse_file(FileId(0), &printed);
        assert!(second.diagnostics.is_empty(), "printed text does not parse:\n{printed}");
        let (mut a, mut b) = (first.file, second.file);
        erase_spans(&mut a);
        erase_spans(&mut b);
        assert_eq!(a, b);
    }
});
