//! `cargo xtask tidy` as a test, so `cargo test --workspace` enforces the rules; and
//! each rule shown catching what it is meant to catch.

use std::path::Path;

use xtask::tidy::{self, manifest, source};

#[test]
fn the_workspace_is_tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root");
    let problems = tidy::check(root).expect("the workspace can be read");
    assert!(
        problems.is_empty(),
        "tidy found {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn toml(text: &str) -> toml::Table {
    text.parse().expect("valid TOML")
}

#[test]
fn a_crate_without_the_workspace_lints_is_refused() {
    assert_eq!(
        manifest::workspace_lints(&toml("[lints]\nworkspace = true")).len(),
        0
    );
    assert_eq!(
        manifest::workspace_lints(&toml("lints.workspace = true")).len(),
        0
    );
    assert_eq!(
        manifest::workspace_lints(&toml("[lints.rust]\nunsafe_code = \"forbid\"")).len(),
        1
    );
}

#[test]
fn a_pinned_version_is_refused_wherever_it_is() {
    let m = toml(
        r#"
        [dependencies]
        a.workspace = true
        b = "1"
        c = { version = "1", features = ["x"] }
        d = { path = "../d" }
        [dev-dependencies]
        e = "2"
        [target.'cfg(unix)'.dependencies]
        f = { version = "3" }
        "#,
    );
    let problems = manifest::pinned_versions(&m);
    assert_eq!(problems.len(), 4, "{problems:?}");
    for name in ["`b`", "`c`", "`e`", "`f`"] {
        assert!(
            problems.iter().any(|p| p.contains(name)),
            "{name}: {problems:?}"
        );
    }
}

#[test]
fn the_webhook_crate_may_not_depend_on_tokio_or_hyper() {
    let m = toml(
        r#"
        [package]
        name = "mailwire-webhook"
        [dependencies]
        ring.workspace = true
        hyper-util.workspace = true
        rt = { package = "tokio", workspace = true }
        hyperloglog = "1"
        [dev-dependencies]
        tokio.workspace = true
        "#,
    );
    let problems = manifest::pure_dependencies(&m);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("hyper-util") || problems[1].contains("hyper-util"));
    assert!(problems.iter().any(|p| p.contains("`rt`")));
    // Another crate may.
    let other = toml("[package]\nname = \"mailwire-ws\"\n[dependencies]\ntokio.workspace = true");
    assert!(manifest::pure_dependencies(&other).is_empty());
}

#[test]
fn the_core_may_not_depend_on_client_plumbing() {
    let m = toml(
        r#"
        [package]
        name = "mailwire-source"
        [dependencies]
        async-trait.workspace = true
        backon.workspace = true
        rustls = { workspace = true, optional = true }
        mailwire-client.workspace = true
        http-body.workspace = true
        [dev-dependencies]
        tokio.workspace = true
        "#,
    );
    let problems = manifest::pure_dependencies(&m);
    assert_eq!(problems.len(), 4, "{problems:?}");
    for dep in ["backon", "rustls", "mailwire-client", "http-body"] {
        assert!(
            problems.iter().any(|p| p.contains(&format!("`{dep}`"))),
            "{dep}: {problems:?}"
        );
    }
}

#[test]
fn a_crate_has_one_integration_test_binary() {
    let none = toml("[package]\nname = \"a\"");
    assert!(manifest::test_binaries(&none, &["it".into()]).is_empty());
    assert!(manifest::test_binaries(&none, &[]).is_empty());
    // Two files in tests/ are two binaries.
    let problems = manifest::test_binaries(&none, &["it".into(), "more".into()]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("it, more"), "{problems:?}");
    // So is a `[[test]]` target beside tests/it, but not one that names it.
    let extra = toml("[package]\nname = \"a\"\n[[test]]\nname = \"slow\"\npath = \"slow.rs\"");
    assert_eq!(manifest::test_binaries(&extra, &["it".into()]).len(), 1);
    let same =
        toml("[package]\nname = \"a\"\n[[test]]\nname = \"it\"\nrequired-features = [\"x\"]");
    assert!(manifest::test_binaries(&same, &["it".into()]).is_empty());
}

#[test]
fn an_import_cycle_between_files_is_found() {
    use xtask::tidy::cycles::{cycles, module_of};
    let file = |path: &str, text: &str| (module_of(path), text.to_owned());
    assert_eq!(module_of("lib.rs"), Vec::<String>::new());
    assert_eq!(module_of("a/mod.rs"), ["a"]);
    assert_eq!(module_of("a/b.rs"), ["a", "b"]);
    // a uses b, b uses c through a group, c uses a through a re-export of the root.
    let lib = file("lib.rs", "mod a;\nmod b;\nmod c;\npub use a::Thing;\n");
    let a = file("a.rs", "use crate::b::Helper;\npub struct Thing;\n");
    let b = file("b.rs", "use crate::{c::f, Event};\npub struct Helper;\n");
    let c = file("c.rs", "pub fn f() -> crate::Thing { crate::Thing }\n");
    assert_eq!(
        cycles(&[lib.clone(), a.clone(), b.clone(), c]),
        vec![vec!["a".to_owned(), "b".into(), "c".into()]]
    );
    // c using something of its own instead: no cycle.
    let c = file("c.rs", "pub fn f() {}\n");
    assert!(cycles(&[lib.clone(), a.clone(), b.clone(), c.clone()]).is_empty());
    // A child building on its parent is no cycle, nor is the parent using it.
    let d = file("b/d.rs", "use super::Helper;\npub(super) fn g() {}\n");
    let b = file(
        "b.rs",
        "mod d;\nmod e;\nuse self::d::g;\npub struct Helper;\n",
    );
    assert!(cycles(&[lib.clone(), a.clone(), b.clone(), c.clone(), d.clone()]).is_empty());
    // Two children using each other are, directly or through a re-export.
    let e = file("b/e.rs", "pub fn h() { super::d::g() }\n");
    let d = file("b/d.rs", "pub(super) fn g() { super::e::h() }\n");
    let both = [lib.clone(), a.clone(), b.clone(), c.clone(), d, e.clone()];
    let cycle = vec![vec!["b::d".to_owned(), "b::e".into()]];
    assert_eq!(cycles(&both), cycle);
    let b = file("b.rs", "mod d;\nmod e;\npub use e::h;\n");
    let d = file("b/d.rs", "pub(super) fn g() { super::h() }\n");
    assert_eq!(
        cycles(&[lib.clone(), a.clone(), b.clone(), c.clone(), d, e.clone()]),
        cycle
    );
    let d = file("b/d.rs", "pub(super) fn g() {}\n");
    assert!(cycles(&[lib, a, b, c, d, e]).is_empty());
}

#[test]
fn a_published_crate_needs_its_metadata() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bare = toml("[package]\nname = \"x\"\n[features]\nf = []");
    let problems = manifest::publish_metadata(&bare, dir);
    for what in [
        "description",
        "documentation",
        "readme",
        "keywords",
        "categories",
        "LICENSE-MIT",
        "all-features",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(what)),
            "{what}: {problems:?}"
        );
    }
    let unpublished = toml("[package]\nname = \"x\"\npublish = false");
    assert!(manifest::publish_metadata(&unpublished, dir).is_empty());
}

#[test]
fn a_long_file_is_refused_and_a_grandfathered_one_may_not_grow() {
    let short = "x\n".repeat(source::MAX_LINES);
    let long = "x\n".repeat(source::MAX_LINES + 1);
    assert!(source::file_length("crates/a/src/lib.rs", &short).is_empty());
    assert_eq!(source::file_length("crates/a/src/lib.rs", &long).len(), 1);
    let (path, cap) = source::LONG_FILES[0];
    assert!(source::file_length(path, &long).is_empty());
    assert_eq!(source::file_length(path, &"x\n".repeat(cap + 1)).len(), 1);
}

#[test]
fn a_sleep_in_a_test_needs_the_marker_and_a_reason() {
    let text = "\
fn a() { tokio::time::sleep(d).await; }
// tidy: allow(sleep) a trickling client's pace
std::thread::sleep(d);
std::thread::sleep(d); // tidy: allow(sleep) a paced producer
// tidy: allow(sleep)
std::thread::sleep(d);
// a comment about sleep(d) is not a sleep
";
    let problems = source::sleeps("crates/a/tests/t.rs", text);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("crates/a/tests/t.rs:1:"));
    assert!(problems[1].starts_with("crates/a/tests/t.rs:6:"));
}

#[test]
fn test_code_is_told_apart_from_library_code() {
    assert!(source::is_test_code("crates/a/tests/t.rs"));
    assert!(source::is_test_code("crates/a/src/session/tests.rs"));
    assert!(source::is_test_code("examples/tests/x.rs"));
    assert!(!source::is_test_code("crates/a/src/lib.rs"));
    assert!(!source::is_test_code("crates/a/src/testsuite.rs"));
}

#[test]
fn unwraps_are_counted_outside_test_items_and_comments() {
    let text = r#"
//! let x = y.unwrap();
fn a() { b.unwrap(); c.unwrap(); } // d.unwrap()
/// e.unwrap()
#[cfg(test)]
mod tests {
    #[test]
    fn t() { f.unwrap(); }
}
#[cfg(test)]
#[allow(dead_code)]
fn helper() {
    g.unwrap();
}
#[cfg(test)]
mod more;
fn h() { i.unwrap_or(0); j.unwrap(); }
"#;
    assert_eq!(source::unwraps(text), 3);
}

#[test]
fn the_unwrap_count_may_not_rise() {
    let at_limit = vec![("crates/a/src/lib.rs".to_owned(), source::UNWRAP_LIMIT)];
    assert!(source::unwrap_ratchet(&at_limit).is_empty());
    let above = vec![
        ("crates/a/src/lib.rs".to_owned(), source::UNWRAP_LIMIT),
        ("crates/b/src/lib.rs".to_owned(), 1),
    ];
    let problems = source::unwrap_ratchet(&above);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("crates/b/src/lib.rs (1)"),
        "{problems:?}"
    );
}

#[test]
fn expects_are_counted_like_unwraps_and_may_not_rise() {
    let text = r#"
fn a() { b.expect("x"); } // c.expect("y")
/// d.expect("z")
#[cfg(test)]
mod tests {
    fn t() { e.expect("w"); }
}
fn f() { g.expect_err("v"); h.expect("u"); }
"#;
    assert_eq!(source::expects(text), 2);
    let at_limit = vec![("crates/a/src/lib.rs".to_owned(), source::EXPECT_LIMIT)];
    assert!(source::expect_ratchet(&at_limit).is_empty());
    let above = vec![
        ("crates/a/src/lib.rs".to_owned(), source::EXPECT_LIMIT),
        ("crates/b/src/lib.rs".to_owned(), 1),
    ];
    let problems = source::expect_ratchet(&above);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("`.expect(`"), "{problems:?}");
    assert!(
        problems[0].contains("crates/b/src/lib.rs (1)"),
        "{problems:?}"
    );
}
