//! Replays the committed fuzz seeds and every crash input kept under `tests/fuzz/`
//! through the same hooks the fuzz targets call, so a regression shows up in
//! `cargo test`, not only under libFuzzer. The seeds are read from `tests/corpus/`,
//! a copy of `fuzz/corpus/*/seed-*` inside the crate (`cargo xtask tidy` checks it
//! is the same), so the packaged tests read nothing outside the crate.

use std::fs;
use std::path::{Path, PathBuf};

use mailwire_webhook::fuzzing;

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    out.sort();
    out
}

fn replay(target: &str, hook: fn(&[u8])) -> usize {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = files(&manifest.join("tests/corpus").join(target), "seed-");
    inputs.extend(files(&manifest.join("tests/fuzz").join(target), ""));
    for path in &inputs {
        let data = fs::read(path).unwrap();
        hook(&data);
    }
    inputs.len()
}

#[test]
fn signature_header_seeds_replay() {
    assert!(replay("signature_header", fuzzing::signature_header) > 0);
}

#[test]
fn verify_seeds_replay() {
    assert!(replay("verify", fuzzing::verify) > 0);
}
