//! Rules over one crate's `Cargo.toml`, read with the `toml` crate.

use std::path::Path;

use toml::{Table, Value};

/// Crates that must stay small, and what they may not depend on, with the reason. A
/// dependency is refused when its name (or the `package` it renames) is one of
/// these or starts with one followed by `-` (`hyper-util`, `tokio-rustls`).
pub const PURE_CRATES: &[(&str, &[&str], &str)] = &[
    (
        "mailwire-webhook",
        &["tokio", "hyper"],
        "verification stays pure: sync, no I/O",
    ),
    (
        "mailwire-source",
        &[
            "tokio",
            "hyper",
            "http",
            "backon",
            "fastrand",
            "rustls",
            "webpki-roots",
            "mailwire-client",
        ],
        "the core holds the trait and its types; client plumbing lives in mailwire-client",
    ),
];

/// The integration-test binaries of one crate: the names of the test targets cargo
/// finds in `tests/` (`found`: a `tests/x.rs` file is the binary `x`, a
/// `tests/x/main.rs` the binary `x`) and the `[[test]]` targets of `manifest`. At
/// most one: each binary links the whole dependency tree again, so a crate's
/// integration tests are modules of `tests/it/main.rs` (gated by `cfg` where they
/// need a feature).
pub fn test_binaries(manifest: &Table, found: &[String]) -> Vec<String> {
    let mut names: Vec<String> = found.to_vec();
    if let Some(tests) = manifest.get("test").and_then(Value::as_array) {
        for t in tests {
            if let Some(n) = t.get("name").and_then(Value::as_str) {
                names.push(n.to_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    if names.len() > 1 {
        vec![format!(
            "{} integration-test binaries ({}): make them modules of tests/it/main.rs",
            names.len(),
            names.join(", ")
        )]
    } else {
        Vec::new()
    }
}

/// At most this many keywords on crates.io.
const MAX_KEYWORDS: usize = 5;

/// Every manifest rule over `manifest`, the `Cargo.toml` of the crate in `dir`.
pub fn check(manifest: &Table, dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    problems.extend(workspace_lints(manifest));
    problems.extend(pinned_versions(manifest));
    problems.extend(pure_dependencies(manifest));
    problems.extend(publish_metadata(manifest, dir));
    problems.extend(crate_docs(manifest, dir));
    problems
}

/// `[lints] workspace = true`.
pub fn workspace_lints(manifest: &Table) -> Vec<String> {
    let on = manifest
        .get("lints")
        .and_then(|l| l.get("workspace"))
        .and_then(Value::as_bool)
        == Some(true);
    if on {
        Vec::new()
    } else {
        vec!["Cargo.toml lacks `[lints] workspace = true`".into()]
    }
}

/// Every external version lives once, in the root's `[workspace.dependencies]`: a
/// dependency that names a version is refused.
pub fn pinned_versions(manifest: &Table) -> Vec<String> {
    let mut problems = Vec::new();
    for (table, name, spec) in dependencies(manifest) {
        let pinned = match spec {
            Value::String(_) => true,
            Value::Table(t) => t.contains_key("version"),
            _ => false,
        };
        if pinned {
            problems.push(format!(
                "[{table}] `{name}` pins a version; use `{name}.workspace = true`"
            ));
        }
    }
    problems
}

/// The crates in [`PURE_CRATES`] have none of their refused normal dependencies.
pub fn pure_dependencies(manifest: &Table) -> Vec<String> {
    let Some(name) = package_name(manifest) else {
        return Vec::new();
    };
    let Some((_, refused, reason)) = PURE_CRATES.iter().find(|(n, _, _)| *n == name) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for (table, dep, spec) in dependencies(manifest) {
        // Normal dependencies only: tests and benchmarks may use a runtime.
        if table != "dependencies" && !table.ends_with(".dependencies") {
            continue;
        }
        let real = spec
            .get("package")
            .and_then(Value::as_str)
            .unwrap_or(dep.as_str());
        let banned = refused.iter().any(|r| {
            real == *r
                || real
                    .strip_prefix(r)
                    .is_some_and(|rest| rest.starts_with('-'))
        });
        if banned {
            problems.push(format!(
                "[{table}] `{dep}`: {name} may not depend on {} ({reason})",
                refused.join(", ")
            ));
        }
    }
    problems
}

/// A published crate (no `publish = false`) has what crates.io and docs.rs need: a
/// description, its docs.rs link, a README that exists, a licence, 1 to 5
/// keywords, categories, the licence texts in the crate (a copy of the root's:
/// see [`super::check`]), and docs.rs building every
/// feature when it has features.
pub fn publish_metadata(manifest: &Table, dir: &Path) -> Vec<String> {
    let Some(package) = manifest.get("package").and_then(Value::as_table) else {
        return vec!["Cargo.toml has no [package]".into()];
    };
    if package.get("publish").and_then(Value::as_bool) == Some(false) {
        return Vec::new();
    }
    let name = package_name(manifest).unwrap_or_default();
    let mut problems = Vec::new();
    for key in ["description", "license", "repository"] {
        if !package.contains_key(key) {
            problems.push(format!("[package] lacks `{key}`"));
        }
    }
    let docs = format!("https://docs.rs/{name}");
    if package.get("documentation").and_then(Value::as_str) != Some(docs.as_str()) {
        problems.push(format!("[package] wants `documentation = \"{docs}\"`"));
    }
    match package.get("readme").and_then(Value::as_str) {
        Some(readme) if dir.join(readme).is_file() => {}
        Some(readme) => problems.push(format!("`readme = \"{readme}\"` does not exist")),
        None => problems.push("[package] lacks `readme`".into()),
    }
    let keywords = package.get("keywords").and_then(Value::as_array);
    match keywords.map(Vec::len) {
        Some(1..=MAX_KEYWORDS) => {}
        _ => problems.push(format!("[package] wants 1 to {MAX_KEYWORDS} `keywords`")),
    }
    if package
        .get("categories")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        problems.push("[package] lacks `categories`".into());
    }
    // Packaged without an `include`: everything in the crate's directory goes in.
    let include = package.get("include").and_then(Value::as_array);
    for licence in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let listed = include.is_none_or(|files| files.iter().any(|f| f.as_str() == Some(licence)));
        if !dir.join(licence).is_file() || !listed {
            problems.push(format!("{licence} is not packaged: copy it into the crate"));
        }
    }
    let has_features = manifest
        .get("features")
        .and_then(Value::as_table)
        .is_some_and(|f| !f.is_empty());
    let all_features = package
        .get("metadata")
        .and_then(|m| m.get("docs"))
        .and_then(|d| d.get("rs"))
        .and_then(|d| d.get("all-features"))
        .and_then(Value::as_bool)
        == Some(true);
    if has_features && !all_features {
        problems
            .push("has features but no `[package.metadata.docs.rs] all-features = true`".into());
    }
    problems
}

/// The crate root (`[lib] path`, `src/lib.rs` or `src/main.rs`) opens with `//!`.
pub fn crate_docs(manifest: &Table, dir: &Path) -> Vec<String> {
    let lib_path = manifest
        .get("lib")
        .and_then(|l| l.get("path"))
        .and_then(Value::as_str);
    let root = lib_path
        .into_iter()
        .chain(["src/lib.rs", "src/main.rs"])
        .map(|f| dir.join(f))
        .find(|p| p.is_file());
    match root.map(std::fs::read_to_string) {
        Some(Ok(src)) if src.trim_start().starts_with("//!") => Vec::new(),
        Some(Ok(_)) => vec!["the crate root does not open with `//!` docs".into()],
        Some(Err(e)) => vec![format!("cannot read its crate root: {e}")],
        None => vec!["no crate root found".into()],
    }
}

fn package_name(manifest: &Table) -> Option<&str> {
    manifest.get("package")?.get("name")?.as_str()
}

/// Every dependency: the table it is in (`dependencies`,
/// `target.'cfg(unix)'.dev-dependencies`, ...), its key and its specification.
fn dependencies(manifest: &Table) -> Vec<(String, &String, &Value)> {
    let mut out = Vec::new();
    scan("", manifest, &mut out);
    if let Some(targets) = manifest.get("target").and_then(Value::as_table) {
        for (cfg, table) in targets {
            if let Some(table) = table.as_table() {
                scan(&format!("target.'{cfg}'."), table, &mut out);
            }
        }
    }
    out
}

fn scan<'a>(prefix: &str, table: &'a Table, out: &mut Vec<(String, &'a String, &'a Value)>) {
    for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = table.get(kind).and_then(Value::as_table) {
            for (name, spec) in deps {
                out.push((format!("{prefix}{kind}"), name, spec));
            }
        }
    }
}
