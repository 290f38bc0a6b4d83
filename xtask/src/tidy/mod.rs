//! `cargo xtask tidy`: every crate opts into the workspace lints and has crate-level
//! docs, and every crate's manifest takes its versions from the workspace.

use std::fs;
use std::path::Path;

pub(crate) fn run(root: &Path) -> Result<(), String> {
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
        check_crate(root, dir, &mut problems);
    }
    if problems.is_empty() {
        eprintln!("tidy: {} crates ok", crates.len());
        Ok(())
    } else {
        for p in &problems {
            eprintln!("tidy: {p}");
        }
        Err(format!("{} tidy problem(s)", problems.len()))
    }
}

fn check_crate(root: &Path, dir: &Path, problems: &mut Vec<String>) {
    let name = dir.strip_prefix(root).unwrap_or(dir).display().to_string();
    let manifest = match fs::read_to_string(dir.join("Cargo.toml")) {
        Ok(m) => m,
        Err(e) => return problems.push(format!("{name}: cannot read Cargo.toml: {e}")),
    };
    if !has_workspace_lints(&manifest) {
        problems.push(format!(
            "{name}: Cargo.toml lacks `[lints] workspace = true`"
        ));
    }
    for line in manifest.lines() {
        let line = line.trim();
        // External versions live once, in the root's [workspace.dependencies].
        if line.contains("version = \"") && !line.starts_with("version") && !line.starts_with('#') {
            problems.push(format!(
                "{name}: `{line}` pins a version; use `{{ workspace = true }}`"
            ));
        }
    }
    let lib = ["src/lib.rs", "src/main.rs", "lib.rs"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file());
    match lib.map(fs::read_to_string) {
        Some(Ok(src)) => {
            if !src.trim_start().starts_with("//!") {
                problems.push(format!(
                    "{name}: the crate root does not open with `//!` docs"
                ));
            }
        }
        Some(Err(e)) => problems.push(format!("{name}: cannot read its crate root: {e}")),
        None => problems.push(format!("{name}: no crate root found")),
    }
}

fn has_workspace_lints(manifest: &str) -> bool {
    let mut in_lints = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_lints = line == "[lints]";
        } else if in_lints && line.replace(' ', "") == "workspace=true" {
            return true;
        }
    }
    manifest.contains("lints.workspace = true")
}
