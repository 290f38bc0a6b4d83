//! Rules over the source: file length, sleeps in tests, `.unwrap()` in libraries.

/// The team's limit on a source file's length: a file that needs a table of
/// contents wants splitting.
pub const MAX_LINES: usize = 800;

/// Files longer than [`MAX_LINES`] when the rule came in, each with the length it may
/// not grow past. Remove an entry once its file is split; never add one.
pub const LONG_FILES: &[(&str, usize)] = &[
    ("crates/mailwire-cli/tests/it/commands.rs", 1000),
    ("crates/mailwire-webhook/tests/it/rules.rs", 900),
];

/// How many `.unwrap()` library code (`crates/*/src`, outside `#[cfg(test)]` items
/// and `tests.rs` files, comments left out) holds at most: the count when the rule
/// came in, to be lowered as call sites move to `?` or `expect` with a reason, never
/// raised. A ratchet rather than clippy's `unwrap_used`, which would fail the build
/// at every one of them at once.
pub const UNWRAP_LIMIT: usize = 0;

/// How many `.expect(` library code holds at most, counted as `.unwrap()` is: each
/// one states an invariant, and none may stand for an error from the network or a
/// user (those are returned). A ratchet at the count when the rule came in: lowered
/// as invariants move into types, never raised.
pub const EXPECT_LIMIT: usize = 6;

/// The marker that lets a test sleep, on the line of the `sleep(` or the line
/// above, followed by the reason: `// tidy: allow(sleep) a trickling client's pace`.
pub const SLEEP_MARKER: &str = "tidy: allow(sleep)";

/// `path` (relative to the root, `/` separators) is test code: under a `tests/`
/// directory, or a `tests.rs` module.
pub fn is_test_code(path: &str) -> bool {
    path.starts_with("tests/") || path.contains("/tests/") || path.ends_with("/tests.rs")
}

/// `text`, the file at `path`, is no longer than [`MAX_LINES`] (or its entry in
/// [`LONG_FILES`]).
pub fn file_length(path: &str, text: &str) -> Vec<String> {
    let limit = LONG_FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(MAX_LINES, |&(_, n)| n);
    let lines = text.lines().count();
    if lines > limit {
        vec![format!(
            "{path}: {lines} lines, more than {limit}: split it into files of one idea each"
        )]
    } else {
        Vec::new()
    }
}

/// No `sleep(` in test code except a deliberate pace (a trickling client, a paced
/// producer, a paused clock advanced on purpose) marked with [`SLEEP_MARKER`] and a
/// reason. A test waiting for something waits on the event, with a timeout.
pub fn sleeps(path: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("//") || !line.contains("sleep(") {
            continue;
        }
        let marked = |l: &str| {
            l.split_once(SLEEP_MARKER).is_some_and(|(_, reason)| {
                !reason
                    .trim_matches(|c: char| !c.is_alphanumeric())
                    .is_empty()
            })
        };
        if marked(line) || (i > 0 && marked(lines[i - 1])) {
            continue;
        }
        problems.push(format!(
            "{path}:{}: a sleep in a test: wait on the event with a timeout, or mark a \
             deliberate pace with `// {SLEEP_MARKER} <reason>`",
            i + 1
        ));
    }
    problems
}

/// The `.unwrap()` calls in `text` outside `#[cfg(test)]` items and comments.
pub fn unwraps(text: &str) -> usize {
    calls(text, ".unwrap()")
}

/// The `.expect(` calls in `text` outside `#[cfg(test)]` items and comments.
pub fn expects(text: &str) -> usize {
    calls(text, ".expect(")
}

/// `text` without its `#[cfg(test)]` items, comment lines and trailing comments:
/// the code a library build compiles (near enough: braces in strings are not told
/// apart, nor is `//` inside a string).
pub fn library_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let code = line.trim();
        if code == "#[cfg(test)]" {
            skip_item(&mut lines);
            continue;
        }
        if code.starts_with("//") {
            continue;
        }
        out.push_str(line.split_once("//").map_or(line, |(c, _)| c));
        out.push('\n');
    }
    out
}

/// How often `needle` occurs in `text` outside `#[cfg(test)]` items and comments.
fn calls(text: &str, needle: &str) -> usize {
    library_code(text).matches(needle).count()
}

/// Skips the item after an attribute: further attributes, then either one line
/// ending in `;` or everything up to the brace that closes the item. Braces are
/// counted naively (not inside strings), which is enough for test modules.
fn skip_item<'a>(lines: &mut impl Iterator<Item = &'a str>) {
    let mut depth = 0i64;
    let mut opened = false;
    for line in lines {
        let code = line.trim();
        if !opened && (code.starts_with("#[") || code.is_empty() || code.starts_with("//")) {
            continue;
        }
        let code = code.split_once("//").map_or(code, |(c, _)| c);
        for c in code.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        if (opened && depth <= 0) || (!opened && code.ends_with(';')) {
            return;
        }
    }
}

/// The total over `counts` (file, `.unwrap()` calls) is no more than
/// [`UNWRAP_LIMIT`]; above it, the files with the most are named.
pub fn unwrap_ratchet(counts: &[(String, usize)]) -> Vec<String> {
    ratchet(
        counts,
        "`.unwrap()`",
        UNWRAP_LIMIT,
        "UNWRAP_LIMIT",
        "return the error, or `expect` an invariant with its reason",
    )
}

/// The total over `counts` (file, `.expect(` calls) is no more than
/// [`EXPECT_LIMIT`]; above it, the files with the most are named.
pub fn expect_ratchet(counts: &[(String, usize)]) -> Vec<String> {
    ratchet(
        counts,
        "`.expect(`",
        EXPECT_LIMIT,
        "EXPECT_LIMIT",
        "return the error, or make the invariant a type's",
    )
}

fn ratchet(
    counts: &[(String, usize)],
    what: &str,
    limit: usize,
    name: &str,
    fix: &str,
) -> Vec<String> {
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    match total.cmp(&limit) {
        std::cmp::Ordering::Less => {
            eprintln!("tidy: {total} {what} in library code: lower {name} to {total}");
            return Vec::new();
        }
        std::cmp::Ordering::Equal => return Vec::new(),
        std::cmp::Ordering::Greater => {}
    }
    let mut worst = counts.to_vec();
    worst.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let named: Vec<String> = worst
        .iter()
        .take(5)
        .map(|(f, n)| format!("{f} ({n})"))
        .collect();
    vec![format!(
        "{total} {what} in library code, more than {limit}: {fix} (most in {})",
        named.join(", ")
    )]
}
