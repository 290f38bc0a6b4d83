//! Project automation, run as `cargo xtask <command>`:
//!
//! - `ci`: `tidy`, formatting, clippy (warnings denied, all targets, all
//!   features), clippy over the facade with no features and with each feature
//!   alone, `cargo deny` (licences, bans, sources: `deny.toml`), the fuzz targets
//!   built (checked, without `cargo fuzz`), the tests and
//!   every benchmark once, small (`bench --quick --profile dev`, on the test
//!   build), and the docs (warnings denied): what CI runs. Before the tests it installs
//!   AgentMail's SDKs into `target/sdk` (once) and starts a Redis on a free port if
//!   none answers at 127.0.0.1:6379 (see `deps.rs`).
//! - `tidy`: rules the team agreed on, enforced rather than remembered (see
//!   `xtask::tidy`); `cargo test` runs them too (`xtask/tests/tidy.rs`).
//! - `bench [--quick] [--profile NAME] [CRATE...]`: every benchmark (of the named
//!   crates), then one markdown table of mailwire's figures against their
//!   baselines from the same run (see `xtask::bench`). `--quick` runs each small, to
//!   show it still works (`--profile dev` runs it on the test build).
//! - `fuzz [SECONDS]`: every fuzz target for SECONDS each (default 60).

mod deps;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use xtask::tidy;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("tidy") => tidy::run(&root()),
        Some("api") => api(args.get(1).map(String::as_str) == Some("--check")),
        Some("bench") => bench(&args[1..], &[]),
        Some("fuzz") => fuzz(args.get(1).map(String::as_str)),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | tidy | api [--check] | bench [--quick] [--profile NAME] [CRATE...] | fuzz [SECONDS]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn cargo(args: &[&str]) -> Result<(), String> {
    cargo_in(&root(), args, &[])
}

fn cargo_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

/// Lists each library crate's public API into `api/<crate>.txt` (see
/// [`xtask::api`]), or with `check` fails when a listing is out of date.
fn api(check: bool) -> Result<(), String> {
    let root = root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let mut crates = Vec::new();
    let entries = std::fs::read_dir(root.join("crates")).map_err(|e| format!("crates/: {e}"))?;
    for entry in entries {
        let dir = entry.map_err(|e| e.to_string())?.path();
        if dir.join("src/lib.rs").is_file()
            && let Some(name) = dir.file_name().and_then(|n| n.to_str())
        {
            crates.push(name.to_owned());
        }
    }
    crates.sort();
    let mut stale = Vec::new();
    for name in &crates {
        cargo_in(
            &root,
            &[
                "rustdoc",
                "-q",
                "-p",
                name,
                "--lib",
                "--all-features",
                "--",
                "-Z",
                "unstable-options",
                "--output-format",
                "json",
            ],
            // rustdoc's JSON output is unstable: allowed for this listing only.
            &[("RUSTC_BOOTSTRAP", "1")],
        )?;
        let json = target
            .join("doc")
            .join(format!("{}.json", name.replace('-', "_")));
        let text =
            std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
        let mut listing = format!(
            "# The public API of {name}, listed by `cargo xtask api` from rustdoc's JSON.\n"
        );
        for line in xtask::api::listing(&doc)? {
            listing.push_str(&line);
            listing.push('\n');
        }
        let path = root.join("api").join(format!("{name}.txt"));
        if check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(listing.as_str()) {
                stale.push(format!("api/{name}.txt"));
            }
        } else {
            std::fs::create_dir_all(root.join("api")).map_err(|e| e.to_string())?;
            std::fs::write(&path, listing).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the public API changed: {} out of date; run `cargo xtask api` and review the diff",
            stale.join(", ")
        ))
    }
}

fn ci() -> Result<(), String> {
    tidy::run(&root())?;
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ])?;
    facade_features()?;
    deny()?;
    fuzz_build()?;
    let env = deps::prepare(&root())?;
    let vars: Vec<(&str, &str)> = env
        .vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    cargo_in(&root(), &["test", "--workspace", "--all-features"], &vars)?;
    // Every benchmark, small, on the test build: they must keep running (no time is
    // asserted; the figures of a quick run are not for reading).
    let quick: Vec<String> = ["--quick", "--profile", "dev"].map(String::from).into();
    bench(&quick, &vars)?;
    drop(env);
    cargo_in(
        &root(),
        &["doc", "--workspace", "--no-deps", "--all-features"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // The public API listed in api/ is the one the code has: a change to it is made
    // on purpose, and shows in review.
    api(true)
}

/// The facade linted with no features and with each feature alone, so a feature
/// that only compiles (or only uses its code) beside another shows up: clippy above
/// saw them all together. Clippy is a check, not a build (no code generation), and
/// with the same arguments as above it reuses that run's results where it can.
fn facade_features() -> Result<(), String> {
    let path = root().join("crates/mailwire/Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let features: Vec<&String> = manifest
        .get("features")
        .and_then(toml::Value::as_table)
        .map(|f| f.keys().filter(|k| *k != "default").collect())
        .unwrap_or_default();
    let lint = |features: &[&str]| {
        let mut args = vec!["clippy", "-p", "mailwire", "--no-default-features"];
        args.extend(features);
        args.extend(["--", "-D", "warnings"]);
        cargo(&args)
    };
    lint(&[])?;
    for feature in &features {
        lint(&["--features", feature])?;
    }
    // Each feature brings in something the features it names do not: one that
    // compiles nothing of its own (its code on anyway, through a crate's default
    // features) is a promise the manifest does not keep.
    let table = manifest
        .get("features")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    for feature in &features {
        let named: Vec<&str> = table
            .get(feature.as_str())
            .and_then(toml::Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(toml::Value::as_str)
                    .filter(|f| !f.contains('/') && !f.starts_with("dep:"))
                    .collect()
            })
            .unwrap_or_default();
        if dependency_tree(&[feature.as_str()])? == dependency_tree(&named)? {
            return Err(format!(
                "the facade's feature `{feature}` compiles nothing that {named:?} does not: \
                 its code is on without it (a default feature of a dependency?)"
            ));
        }
    }
    Ok(())
}

/// The facade's dependencies, as `cargo tree` lists them, with only `features` on.
fn dependency_tree(features: &[&str]) -> Result<String, String> {
    let joined = features.join(",");
    let mut args = vec![
        "tree",
        "-p",
        "mailwire",
        "--no-default-features",
        "-e",
        "normal,features",
    ];
    args.extend(["--prefix", "none", "--offline"]);
    if !joined.is_empty() {
        args.extend(["--features", joined.as_str()]);
    }
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(&args)
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines.dedup();
    Ok(lines.join("\n"))
}

/// Builds every fuzz target (its own workspace in `fuzz/`) with `cargo fuzz` when it
/// is installed; without it, checks that they compile (`cargo check` with the
/// `fuzzing` cfg the fuzzer sets), so a target never falls behind the API.
fn fuzz_build() -> Result<(), String> {
    if installed("fuzz") {
        return cargo_in(&root().join("fuzz"), &["fuzz", "build", "-s", "none"], &[]);
    }
    eprintln!("xtask: cargo fuzz is not installed: the fuzz targets are checked, not built");
    cargo_in(
        &root().join("fuzz"),
        &["check", "--bins", "--locked"],
        &[("RUSTFLAGS", "--cfg fuzzing")],
    )
}

/// `cargo NAME --version` runs: the cargo subcommand is installed.
fn installed(name: &str) -> bool {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([name, "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `cargo deny` over licences, bans and sources (`deny.toml`); the advisory
/// database is not fetched. Required when `MAILWIRE_CI` is set (`.ci/run` installs
/// it); elsewhere a missing `cargo deny` is said and skipped.
fn deny() -> Result<(), String> {
    if !installed("deny") {
        if std::env::var_os("MAILWIRE_CI").is_some() {
            return Err("cargo deny is not installed (cargo install --locked cargo-deny)".into());
        }
        eprintln!("xtask: cargo deny is not installed: licences and bans are not checked");
        return Ok(());
    }
    cargo(&["deny", "--locked", "check", "licenses", "bans", "sources"])
}

/// `bench [--quick] [--profile NAME] [CRATE...]`: runs the benchmarks, passes their
/// output through, then prints the one table (also written to
/// `target/bench/table.md`).
fn bench(args: &[String], extra_env: &[(&str, &str)]) -> Result<(), String> {
    let mut quick = false;
    let mut profile = None;
    let mut crates = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--profile" => {
                profile = Some(
                    args.next()
                        .ok_or("--profile needs a profile name")?
                        .as_str(),
                );
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            name => crates.push(name),
        }
    }
    let out = root().join("target/bench");
    let criterion = out.join("criterion");
    // Only this run's estimates make the table.
    let _ = std::fs::remove_dir_all(&criterion);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut cargo_args = vec!["bench", "--all-features"];
    if let Some(profile) = profile {
        cargo_args.extend(["--profile", profile]);
    }
    if crates.is_empty() {
        cargo_args.push("--workspace");
    }
    for c in &crates {
        cargo_args.extend(["-p", c]);
    }
    let criterion_home = criterion.to_string_lossy().into_owned();
    let mut env = vec![("CRITERION_HOME", criterion_home.as_str())];
    env.extend(extra_env.iter().copied());
    if quick {
        env.push(("MAILWIRE_BENCH_QUICK", "1"));
    }
    let printed = cargo_output(&cargo_args, &env)?;
    let mut rows = xtask::bench::criterion_rows(&criterion)?;
    rows.extend(xtask::bench::parse_rows(&printed)?);
    if rows.is_empty() {
        return Err("no benchmark reported a row".into());
    }
    let table = xtask::bench::table(&rows);
    let path = out.join("table.md");
    std::fs::write(&path, &table).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\n{table}");
    if quick {
        println!("(--quick: every benchmark ran small; the figures are not for reading)");
    }
    eprintln!("xtask: the table is in {}", path.display());
    Ok(())
}

/// Runs cargo with its standard output passed through and kept.
fn cargo_output(args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
    use std::io::{BufRead as _, Write as _};
    eprintln!("$ cargo {}", args.join(" "));
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(root())
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let mut kept = String::new();
    if let Some(stdout) = child.stdout.take() {
        let mut out = std::io::stdout().lock();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading cargo's output: {e}"))?;
            let _ = writeln!(out, "{line}");
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    let status = child.wait().map_err(|e| format!("cargo: {e}"))?;
    if status.success() {
        Ok(kept)
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

fn fuzz(seconds: Option<&str>) -> Result<(), String> {
    let seconds = seconds.unwrap_or("60");
    if seconds.parse::<u32>().is_err() {
        return Err(format!("SECONDS must be a number, not {seconds:?}"));
    }
    let dir = root().join("fuzz");
    let targets = std::fs::read_dir(dir.join("fuzz_targets"))
        .map_err(|e| format!("cannot list fuzz targets: {e}"))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "rs" {
                return None;
            }
            Some(path.file_stem()?.to_string_lossy().into_owned())
        })
        .collect::<Vec<_>>();
    let max_time = format!("-max_total_time={seconds}");
    for target in &targets {
        let corpus = format!("corpus/{target}");
        cargo_in(
            &dir,
            &[
                "fuzz", "run", "-s", "none", target, &corpus, "--", &max_time,
            ],
            &[],
        )?;
    }
    Ok(())
}
