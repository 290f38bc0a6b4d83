//! File-level import cycles inside one crate: the file of module `a` uses an item of
//! module `b` and `b`'s file one of `a`, directly or through others. A crate whose
//! files form a hierarchy reads from the bottom up; a cycle means neither file can
//! be read, changed or moved without the other.
//!
//! References are the paths that start with `crate::`, `super::`, `self::` or the
//! name of a child module in library code (outside `#[cfg(test)]` items and comments), in `use` items and in expressions.
//! A path names the file of the deepest module it goes through, after following
//! the re-exports a module makes of its own children (`pub use child::Item`): using
//! `crate::Item` that the crate root re-exports from `a` is using `a`. A re-export
//! itself is not a use: a module owns its children. Nor is a use of an ancestor's
//! own items (`super::Config`, `crate::Error`): children build on their parents,
//! so a cycle is among siblings, cousins, or a parent and what its child uses
//! sideways.

use std::collections::{BTreeMap, BTreeSet};

/// A module's path from the crate root (`[]` for `lib.rs`/`main.rs`, `["a", "b"]`
/// for `a/b.rs` or `a/b/mod.rs`), from a file's path relative to `src/`.
pub fn module_of(rel: &str) -> Vec<String> {
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod")) {
        parts.pop();
    }
    if parts.len() == 1 && matches!(parts[0].as_str(), "lib" | "main") {
        parts.clear();
    }
    parts
}

/// The import cycles among one crate's files, each given as its module path and
/// its library code (see [`super::source::library_code`]): each cycle as the
/// sorted module names (`crate` for the root) of one strongly connected group.
pub fn cycles(files: &[(Vec<String>, String)]) -> Vec<Vec<String>> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut reexports: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
    for (module, text) in files {
        for (name, target) in child_reexports(module, text, &modules) {
            reexports.insert((module.clone(), name), target);
        }
    }
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, text) in files {
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("pub use ") || code.starts_with("pub(crate) use ") {
                continue;
            }
            for path in references(module, code, &modules) {
                let target = resolve(&path, &modules, &reexports);
                // A module builds on what its ancestors hold (`super::Item`, an
                // error type at the root): only edges sideways and down count.
                if !module.starts_with(&target) {
                    edges.entry(module.clone()).or_default().insert(target);
                }
            }
        }
    }
    strongly_connected(&modules, &edges)
        .into_iter()
        .filter(|group| group.len() > 1)
        .map(|group| {
            let mut names: Vec<String> = group
                .iter()
                .map(|m| {
                    if m.is_empty() {
                        "crate".to_owned()
                    } else {
                        m.join("::")
                    }
                })
                .collect();
            names.sort();
            names
        })
        .collect()
}

/// The deepest module `path` goes through, following re-exports of children.
fn resolve(
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
    reexports: &BTreeMap<(Vec<String>, String), Vec<String>>,
) -> Vec<String> {
    let mut path = path.to_vec();
    for _ in 0..8 {
        let mut deepest = 0;
        for n in 0..=path.len() {
            if modules.contains(&path[..n].to_vec()) {
                deepest = n;
            }
        }
        let module = path[..deepest].to_vec();
        let Some(next) = path.get(deepest) else {
            return module;
        };
        match reexports.get(&(module.clone(), next.clone())) {
            Some(target) => {
                let mut followed = target.clone();
                followed.extend_from_slice(&path[deepest + 1..]);
                path = followed;
            }
            None => return module,
        }
    }
    path
}

/// What `module` re-exports from its own children: `pub use child::a::Item;` (or
/// `self::child`) makes `module::Item` mean `module::child::a::Item`.
fn child_reexports(
    module: &[String],
    text: &str,
    modules: &BTreeSet<Vec<String>>,
) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for item in use_items(text) {
        let Some(rest) = item
            .strip_prefix("pub use ")
            .or_else(|| item.strip_prefix("pub(crate) use "))
        else {
            continue;
        };
        let rest = rest.strip_prefix("self::").unwrap_or(rest);
        for path in expand(rest) {
            let Some(first) = path.first() else { continue };
            let mut child = module.to_vec();
            child.push(first.clone());
            if !modules.contains(&child) {
                continue;
            }
            let (full, name) = match path.split_last() {
                Some((last, _)) if last == "*" => continue,
                Some((last, _)) => (path.clone(), last.clone()),
                None => continue,
            };
            let mut target = module.to_vec();
            target.extend(full);
            out.push((name, target));
        }
    }
    out
}

/// The `use` items of `text`, each on one line (an item may span several).
fn use_items(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let code = line.trim();
        if let Some(item) = current.as_mut() {
            item.push(' ');
            item.push_str(code);
        } else if code.starts_with("use ")
            || code.starts_with("pub use ")
            || code.starts_with("pub(crate) use ")
        {
            current = Some(code.to_owned());
        }
        if current.as_ref().is_some_and(|i| i.ends_with(';')) {
            items.extend(current.take());
        }
    }
    items
}

/// Every path in `code` that starts at `crate::`, `super::`, `self::` or a child
/// module of `module`, made absolute.
fn references(module: &[String], code: &str, modules: &BTreeSet<Vec<String>>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (at, _) in code.match_indices("::") {
        // The word just before this `::`.
        let start = code[..at]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let word = &code[start..at];
        let before = code[..start].trim_end();
        if before.ends_with("::") {
            continue; // in the middle of a path
        }
        if start > 0 && bytes[start - 1] == b'$' {
            continue;
        }
        let child = [module, &[word.to_owned()]].concat();
        let (mut base, mut rest): (Vec<String>, &str) = match word {
            "crate" => (Vec::new(), &code[at + 2..]),
            "super" => (
                module[..module.len().saturating_sub(1)].to_vec(),
                &code[at + 2..],
            ),
            "self" => (module.to_vec(), &code[at + 2..]),
            _ if modules.contains(&child) => (module.to_vec(), &code[start..]),
            _ => continue,
        };
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        for tail in expand(rest) {
            let mut path = base.clone();
            path.extend(tail);
            out.push(path);
        }
    }
    out
}

/// The paths of a use tree or an expression path at the start of `text`:
/// `a::b::{c, d::e}` gives `a::b::c` and `a::b::d::e`; `a::f(x)` gives `a::f`.
fn expand(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    tree(text, &mut chars, Vec::new(), &mut out);
    out
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

fn tree(text: &str, chars: &mut Chars<'_>, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        skip_spaces(chars);
        match chars.peek().map(|&(_, c)| c) {
            Some('{') => {
                chars.next();
                loop {
                    tree(text, chars, path.clone(), out);
                    skip_spaces(chars);
                    match chars.next().map(|(_, c)| c) {
                        Some(',') => {
                            skip_spaces(chars);
                            if chars.peek().map(|&(_, c)| c) == Some('}') {
                                chars.next();
                                return;
                            }
                        }
                        _ => return,
                    }
                }
            }
            Some('*') => {
                chars.next();
                path.push("*".to_owned());
                out.push(path);
                return;
            }
            Some(c) if c.is_alphanumeric() || c == '_' => {
                let start = chars.peek().map_or(0, |&(i, _)| i);
                let mut end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' {
                        end = i + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &text[start..end];
                if word != "self" {
                    path.push(word.to_owned());
                }
                if text[end..].starts_with("::") {
                    chars.next();
                    chars.next();
                    continue;
                }
                skip_alias(text, chars);
                out.push(path);
                return;
            }
            _ => {
                if !path.is_empty() {
                    out.push(path);
                }
                return;
            }
        }
    }
}

fn skip_spaces(chars: &mut Chars<'_>) {
    while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
        chars.next();
    }
}

/// Skips ` as name` after a use path.
fn skip_alias(text: &str, chars: &mut Chars<'_>) {
    let Some(&(at, _)) = chars.peek() else { return };
    let rest = &text[at..];
    let trimmed = rest.trim_start();
    if let Some(alias) = trimmed.strip_prefix("as ") {
        let alias = alias.trim_start();
        let len = alias
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(alias.len());
        let skip = rest.len() - alias.len() + len;
        for _ in 0..rest[..skip].chars().count() {
            chars.next();
        }
    }
}

/// Tarjan's strongly connected components over `nodes` and `edges`.
fn strongly_connected(
    nodes: &BTreeSet<Vec<String>>,
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<Vec<String>, usize>,
        low: BTreeMap<Vec<String>, usize>,
        stack: Vec<Vec<String>>,
        on_stack: BTreeSet<Vec<String>>,
        groups: Vec<Vec<Vec<String>>>,
    }
    fn visit(s: &mut State<'_>, v: &Vec<String>) {
        let n = s.index.len();
        s.index.insert(v.clone(), n);
        s.low.insert(v.clone(), n);
        s.stack.push(v.clone());
        s.on_stack.insert(v.clone());
        let next: Vec<Vec<String>> = s
            .edges
            .get(v)
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default();
        for w in &next {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v.clone(), low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v.clone(), low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(&w);
                let done = w == *v;
                group.push(w);
                if done {
                    break;
                }
            }
            s.groups.push(group);
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.groups
}

/// Cycles found when the rule came in, by crate and sorted module names, to be
/// taken apart and removed from here; never added to.
pub const KNOWN: &[(&str, &str)] = &[];
