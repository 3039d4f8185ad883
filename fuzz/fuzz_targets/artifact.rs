//! Artifacts from anywhere: reading one (container, header, kernel object for this CPU,
//! embedded weights) must give a model or an error, never a panic or a crash. Loaded code is
//! never run here.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hg_cli::artifact::ArtifactModel::from_bytes(data, "fuzz.hgx");
    let _ = hg_abi::artifact::find_appended(data);
});
