//! `cargo xtask tidy`: the rules the team agreed on, checked over the manifests and
//! the source rather than remembered. Each rule is a function over one file's text,
//! so `xtask/tests/tidy.rs` can show it catching what it is meant to catch.
//!
//! - every crate opts into the workspace lints, takes its versions from the
//!   workspace and opens its crate root with `//!` docs;
//! - every published crate carries what crates.io and docs.rs need;
//! - `mailwire-webhook` stays pure: no tokio, no hyper;
//! - each crate has at most one integration-test binary (`tests/it/main.rs`);
//! - licence texts and fuzz seeds copied into a crate equal their originals;
//! - no file-level import cycle inside a crate ([`cycles`]);
//! - no source file longer than [`source::MAX_LINES`];
//! - no `sleep(` in tests unless marked as a deliberate pace;
//! - no more `.unwrap()` in library code than [`source::UNWRAP_LIMIT`], and no more
//!   `.expect(` than [`source::EXPECT_LIMIT`] (ratchets).

pub mod cycles;
pub mod manifest;
pub mod source;

use std::fs;
use std::path::{Path, PathBuf};

/// Runs every rule over the workspace at `root`; prints each problem and returns an
/// error counting them.
pub fn run(root: &Path) -> Result<(), String> {
    let problems = check(root)?;
    if problems.is_empty() {
        eprintln!("tidy: ok");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        Err(format!("{} tidy problem(s)", problems.len()))
    }
}

/// Every rule over the workspace at `root`: the problems found, one line each.
pub fn check(root: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let mut crates = vec![root.join("xtask"), root.join("examples")];
    let entries = fs::read_dir(root.join("crates")).map_err(|e| format!("crates/: {e}"))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.join("Cargo.toml").is_file() {
            crates.push(path);
        }
    }
    crates.sort();
    for dir in &crates {
        let name = relative(root, dir);
        let text = match fs::read_to_string(dir.join("Cargo.toml")) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{name}: cannot read Cargo.toml: {e}"));
                continue;
            }
        };
        let manifest = match text.parse::<toml::Table>() {
            Ok(m) => m,
            Err(e) => {
                problems.push(format!("{name}/Cargo.toml: {e}"));
                continue;
            }
        };
        for p in manifest::check(&manifest, dir) {
            problems.push(format!("{name}: {p}"));
        }
        for p in manifest::test_binaries(&manifest, &test_targets(dir)) {
            problems.push(format!("{name}: {p}"));
        }
        problems.extend(licence_copies(root, dir, &name));
        problems.extend(corpus_copies(root, dir, &name));
    }

    let mut files = Vec::new();
    for dir in &crates {
        if dir.parent() == Some(&root.join("crates")) {
            rust_files(&dir.join("src"), &mut files);
            rust_files(&dir.join("tests"), &mut files);
        }
    }
    rust_files(&root.join("examples"), &mut files);
    rust_files(&root.join("xtask/src"), &mut files);
    // Not xtask/tests: the rules' own tests hold what the rules refuse.
    files.sort();

    let (mut unwraps, mut expects) = (Vec::new(), Vec::new());
    for path in &files {
        let rel = relative(root, path);
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{rel}: {e}"));
                continue;
            }
        };
        problems.extend(source::file_length(&rel, &text));
        if source::is_test_code(&rel) {
            problems.extend(source::sleeps(&rel, &text));
        } else if rel.starts_with("crates/") && rel.contains("/src/") {
            let n = source::expects(&text);
            if n > 0 {
                expects.push((rel.clone(), n));
            }
            let n = source::unwraps(&text);
            if n > 0 {
                unwraps.push((rel, n));
            }
        }
    }
    for dir in &crates {
        problems.extend(import_cycles(root, dir));
    }
    problems.extend(source::unwrap_ratchet(&unwraps));
    problems.extend(source::expect_ratchet(&expects));
    Ok(problems)
}

/// The file-level import cycles of the crate at `dir` (its `src/`), except those
/// [`cycles::KNOWN`] lists while they are being taken apart.
fn import_cycles(root: &Path, dir: &Path) -> Vec<String> {
    let src = dir.join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(Vec<String>, String)> = paths
        .iter()
        .filter_map(|p| {
            let text = fs::read_to_string(p).ok()?;
            Some((
                cycles::module_of(&relative(&src, p)),
                source::library_code(&text),
            ))
        })
        .collect();
    let name = relative(root, dir);
    let found: Vec<String> = cycles::cycles(&files)
        .into_iter()
        .map(|group| group.join(", "))
        .collect();
    let mut problems: Vec<String> = found
        .iter()
        .filter(|group| !cycles::KNOWN.contains(&(name.as_str(), group.as_str())))
        .map(|group| {
            format!("{name}: an import cycle among the files of {group}: move what they share into one of them or a module below both")
        })
        .collect();
    // A cycle taken apart leaves the list, so the list only ever shrinks.
    for (krate, group) in cycles::KNOWN {
        if *krate == name && !found.iter().any(|g| g == group) {
            problems.push(format!(
                "{name}: the import cycle among {group} is gone: remove it from cycles::KNOWN"
            ));
        }
    }
    problems
}

/// The test targets cargo discovers in the crate at `dir`: `tests/x.rs` and
/// `tests/x/main.rs`, each the binary `x`.
fn test_targets(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir.join("tests")) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() && path.join("main.rs").is_file() {
            names.push(name);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            names.push(stem.to_owned());
        }
    }
    names
}

/// A crate's licence texts, copied so that `cargo package` packs them (it packs
/// nothing from outside the crate but `readme` and `license-file`), are the root's.
fn licence_copies(root: &Path, dir: &Path, name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for licence in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let Ok(copy) = fs::read(dir.join(licence)) else {
            continue;
        };
        if fs::read(root.join(licence)).ok().as_ref() != Some(&copy) {
            problems.push(format!(
                "{name}/{licence} differs from the root's: copy it again"
            ));
        }
    }
    problems
}

/// A crate's copy of a fuzz corpus (`tests/corpus/<target>/`, so that its packaged
/// tests read nothing outside it) holds every seed of `fuzz/corpus/<target>/`, and
/// each file it holds equals the file of that name there, byte for byte (a copy may
/// hold the seeds only, or the whole corpus).
fn corpus_copies(root: &Path, dir: &Path, name: &str) -> Vec<String> {
    let files = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<_> = fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                Some((file, fs::read(e.path()).ok()?))
            })
            .collect();
        out.sort();
        out
    };
    let Ok(targets) = fs::read_dir(dir.join("tests/corpus")) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for target in targets.flatten() {
        let target = target.file_name().to_string_lossy().into_owned();
        let copy = files(&dir.join("tests/corpus").join(&target));
        let original = files(&root.join("fuzz/corpus").join(&target));
        let seeds_kept = original
            .iter()
            .filter(|(file, _)| file.starts_with("seed-"))
            .all(|seed| copy.contains(seed));
        let all_equal = copy.iter().all(|file| original.contains(file));
        if !seeds_kept || !all_equal {
            problems.push(format!(
                "{name}/tests/corpus/{target} differs from fuzz/corpus/{target}: copy it again"
            ));
        }
    }
    problems
}

/// `path` relative to `root`, with `/` separators.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `.rs` file under `dir`, recursively; nothing when `dir` does not exist.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
