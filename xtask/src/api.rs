//! `cargo xtask api`: each library crate's public API, one item per line, written
//! to `api/<crate>.txt` so that a change to it shows in review as a diff of those
//! files; `cargo xtask api --check` fails when a file is not up to date.
//!
//! The listing is read from rustdoc's JSON output (`--output-format json`, an
//! unstable rustdoc flag, allowed on the stable toolchain by `RUSTC_BOOTSTRAP=1`
//! for this one command). Each line is a path and what is there: modules, types
//! with their public fields and variants, traits with their items, functions and
//! methods with their signatures, constants, and the traits each type implements.

use std::collections::BTreeSet;

use serde_json::Value;

/// The lines of the public API of the crate whose rustdoc JSON is `doc`.
pub fn listing(doc: &Value) -> Result<Vec<String>, String> {
    let index = doc
        .get("index")
        .and_then(Value::as_object)
        .ok_or("rustdoc JSON without an index")?;
    let root = doc.get("root").ok_or("rustdoc JSON without a root")?;
    let item = |id: &Value| -> Option<&Value> { index.get(&id_key(id)) };
    let root_item = item(root).ok_or("the root module is not in the index")?;
    let name = root_item
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("crate");
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::new();
    module(&item, root_item, name, &mut out, &mut seen);
    Ok(out.into_iter().collect())
}

fn id_key(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn module<'a>(
    item: &impl Fn(&Value) -> Option<&'a Value>,
    m: &'a Value,
    path: &str,
    out: &mut BTreeSet<String>,
    seen: &mut BTreeSet<String>,
) {
    let Some(items) = m.pointer("/inner/module/items").and_then(Value::as_array) else {
        return;
    };
    for id in items {
        let Some(it) = item(id) else { continue };
        if !is_public(it) {
            continue;
        }
        if let Some(u) = it.pointer("/inner/use") {
            let name = u.get("name").and_then(Value::as_str).unwrap_or("?");
            let glob = u.get("is_glob").and_then(Value::as_bool) == Some(true);
            let source = u.get("source").and_then(Value::as_str).unwrap_or("?");
            match u.get("id").and_then(item) {
                // A re-export of an item of this crate: listed where it is exported.
                Some(target) if !glob => {
                    let at = format!("{path}::{name}");
                    entry(item, target, &at, out, seen);
                }
                Some(target) if glob && target.pointer("/inner/module").is_some() => {
                    module(item, target, path, out, seen);
                }
                _ => {
                    let star = if glob { "::*" } else { "" };
                    out.insert(format!("{path}: pub use {source}{star}"));
                }
            }
            continue;
        }
        let name = it.get("name").and_then(Value::as_str).unwrap_or("?");
        let at = format!("{path}::{name}");
        entry(item, it, &at, out, seen);
    }
}

fn is_public(it: &Value) -> bool {
    it.get("visibility").and_then(Value::as_str) == Some("public")
}

fn is_hidden(it: &Value) -> bool {
    it.get("attrs")
        .and_then(Value::as_array)
        .is_some_and(|attrs| attrs.iter().any(|a| a.to_string().contains("doc(hidden)")))
}

fn entry<'a>(
    item: &impl Fn(&Value) -> Option<&'a Value>,
    it: &'a Value,
    path: &str,
    out: &mut BTreeSet<String>,
    seen: &mut BTreeSet<String>,
) {
    if is_hidden(it) || !seen.insert(format!("{path}@{}", id_key(&it["id"]))) {
        return;
    }
    let Some((kind, inner)) = it
        .get("inner")
        .and_then(Value::as_object)
        .and_then(|o| o.iter().next())
    else {
        return;
    };
    match kind.as_str() {
        "module" => {
            out.insert(format!("{path}: mod"));
            module(item, it, path, out, seen);
        }
        "struct" => {
            let generics = generics(&inner["generics"]);
            let kind = &inner["kind"];
            let shape = if let Some(fields) = kind.pointer("/plain/fields") {
                for f in fields.as_array().into_iter().flatten() {
                    if let Some(f) = item(f).filter(|f| is_public(f)) {
                        let name = f["name"].as_str().unwrap_or("?");
                        out.insert(format!(
                            "{path}::{name}: field {}",
                            ty(&f["inner"]["struct_field"])
                        ));
                    }
                }
                let more = kind.pointer("/plain/has_stripped_fields") == Some(&Value::Bool(true));
                if more { " { .. }" } else { " { }" }
            } else if kind.get("tuple").is_some() {
                "(..)"
            } else {
                ""
            };
            out.insert(format!(
                "{path}: struct{generics}{shape}{}",
                non_exhaustive(it)
            ));
            impls(item, inner, path, out, seen);
        }
        "enum" => {
            out.insert(format!(
                "{path}: enum{}{}",
                generics(&inner["generics"]),
                non_exhaustive(it)
            ));
            for v in inner["variants"].as_array().into_iter().flatten() {
                let Some(v) = item(v) else { continue };
                let name = v["name"].as_str().unwrap_or("?");
                let k = &v["inner"]["variant"]["kind"];
                let shape = match k {
                    Value::String(_) => String::new(),
                    _ if k.get("tuple").is_some() => {
                        let fields: Vec<String> = k["tuple"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|f| {
                                item(f).map_or("_".to_owned(), |f| ty(&f["inner"]["struct_field"]))
                            })
                            .collect();
                        format!("({})", fields.join(", "))
                    }
                    _ => {
                        let fields: Vec<String> = k
                            .pointer("/struct/fields")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(item)
                            .map(|f| {
                                format!(
                                    "{}: {}",
                                    f["name"].as_str().unwrap_or("?"),
                                    ty(&f["inner"]["struct_field"])
                                )
                            })
                            .collect();
                        format!(" {{ {} }}", fields.join(", "))
                    }
                };
                out.insert(format!(
                    "{path}::{name}: variant{shape}{}",
                    non_exhaustive(v)
                ));
            }
            impls(item, inner, path, out, seen);
        }
        "union" => {
            out.insert(format!("{path}: union"));
        }
        "trait" => {
            let bounds = bounds(&inner["bounds"]);
            let colon = if bounds.is_empty() { "" } else { ": " };
            out.insert(format!(
                "{path}: trait{}{colon}{bounds}",
                generics(&inner["generics"])
            ));
            for t in inner["items"].as_array().into_iter().flatten() {
                if let Some(t) = item(t) {
                    let name = t["name"].as_str().unwrap_or("?");
                    let at = format!("{path}::{name}");
                    assoc(t, &at, out);
                }
            }
        }
        "function" => {
            out.insert(format!("{path}: {}", function(path, inner)));
        }
        "type_alias" => {
            out.insert(format!(
                "{path}: type{} = {}",
                generics(&inner["generics"]),
                ty(&inner["type"])
            ));
        }
        "constant" => {
            out.insert(format!("{path}: const {}", ty(&inner["type"])));
        }
        "static" => {
            out.insert(format!("{path}: static {}", ty(&inner["type"])));
        }
        "macro" | "proc_macro" => {
            out.insert(format!("{path}: macro"));
        }
        other => {
            out.insert(format!("{path}: {other}"));
        }
    }
}

fn non_exhaustive(it: &Value) -> &'static str {
    let marked = it
        .get("attrs")
        .and_then(Value::as_array)
        .is_some_and(|attrs| {
            attrs
                .iter()
                .any(|a| a.to_string().contains("non_exhaustive"))
        });
    if marked { " #[non_exhaustive]" } else { "" }
}

/// The inherent methods of a type and the traits it implements.
fn impls<'a>(
    item: &impl Fn(&Value) -> Option<&'a Value>,
    inner: &Value,
    path: &str,
    out: &mut BTreeSet<String>,
    seen: &mut BTreeSet<String>,
) {
    for i in inner["impls"].as_array().into_iter().flatten() {
        let Some(imp) = item(i) else { continue };
        let imp = &imp["inner"]["impl"];
        if imp["is_synthetic"] == Value::Bool(true) || !imp["blanket_impl"].is_null() {
            continue;
        }
        match imp.get("trait").filter(|t| !t.is_null()) {
            // The compiler's own marker for `#[derive(PartialEq)]`, not an API.
            Some(t) if t["path"] == "StructuralPartialEq" => {}
            Some(t) => {
                let neg = if imp["is_negative"] == Value::Bool(true) {
                    "!"
                } else {
                    ""
                };
                out.insert(format!("{path}: impl {neg}{}", path_ty(t)));
            }
            None => {
                for m in imp["items"].as_array().into_iter().flatten() {
                    let Some(m) = item(m) else { continue };
                    if !is_public(m) || is_hidden(m) {
                        continue;
                    }
                    let name = m["name"].as_str().unwrap_or("?");
                    let at = format!("{path}::{name}");
                    if seen.insert(format!("{at}@{}", id_key(&m["id"]))) {
                        assoc(m, &at, out);
                    }
                }
            }
        }
    }
}

/// A trait's or an impl's item.
fn assoc(t: &Value, path: &str, out: &mut BTreeSet<String>) {
    let Some((kind, inner)) = t
        .get("inner")
        .and_then(Value::as_object)
        .and_then(|o| o.iter().next())
    else {
        return;
    };
    let line = match kind.as_str() {
        "function" => function(path, inner),
        "assoc_type" => {
            let b = bounds(&inner["bounds"]);
            if b.is_empty() {
                "type".to_owned()
            } else {
                format!("type: {b}")
            }
        }
        "assoc_const" => format!("const {}", ty(&inner["type"])),
        other => other.to_owned(),
    };
    out.insert(format!("{path}: {line}"));
}

fn function(path: &str, f: &Value) -> String {
    let name = path.rsplit("::").next().unwrap_or(path);
    let header = &f["header"];
    let mut quals = String::new();
    for (flag, word) in [
        ("is_const", "const "),
        ("is_async", "async "),
        ("is_unsafe", "unsafe "),
    ] {
        if header[flag] == Value::Bool(true) {
            quals.push_str(word);
        }
    }
    let inputs: Vec<String> = f["sig"]["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| {
            let name = pair[0].as_str().unwrap_or("_");
            let t = ty(&pair[1]);
            match (name, t.as_str()) {
                ("self", "Self") => "self".to_owned(),
                ("self", "&Self") => "&self".to_owned(),
                ("self", "&mut Self") => "&mut self".to_owned(),
                _ => format!("{name}: {t}"),
            }
        })
        .collect();
    let output = match &f["sig"]["output"] {
        Value::Null => String::new(),
        t => format!(" -> {}", ty(t)),
    };
    format!(
        "{quals}fn {name}{}({}){output}{}",
        generics(&f["generics"]),
        inputs.join(", "),
        where_clause(&f["generics"])
    )
}

fn generics(g: &Value) -> String {
    let params: Vec<String> = g["params"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p["name"].as_str().unwrap_or("?");
            let kind = &p["kind"];
            if let Some(t) = kind.get("type") {
                if t["is_synthetic"] == Value::Bool(true) {
                    return None;
                }
                let b = bounds(&t["bounds"]);
                Some(if b.is_empty() {
                    name.to_owned()
                } else {
                    format!("{name}: {b}")
                })
            } else if kind.get("const").is_some() {
                Some(format!("const {name}: {}", ty(&kind["const"]["type"])))
            } else {
                Some(name.to_owned())
            }
        })
        .collect();
    if params.is_empty() {
        String::new()
    } else {
        format!("<{}>", params.join(", "))
    }
}

fn where_clause(g: &Value) -> String {
    let preds: Vec<String> = g["where_predicates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let b = p.get("bound_predicate")?;
            Some(format!("{}: {}", ty(&b["type"]), bounds(&b["bounds"])))
        })
        .collect();
    if preds.is_empty() {
        String::new()
    } else {
        format!(" where {}", preds.join(", "))
    }
}

fn bounds(b: &Value) -> String {
    let parts: Vec<String> = b
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            if let Some(t) = b.get("trait_bound") {
                let maybe = if t["modifier"] == "maybe" { "?" } else { "" };
                format!("{maybe}{}", path_ty(&t["trait"]))
            } else if let Some(l) = b.get("outlives") {
                l.as_str().unwrap_or("'_").to_owned()
            } else {
                "use<..>".to_owned()
            }
        })
        .collect();
    parts.join(" + ")
}

fn path_ty(p: &Value) -> String {
    let name = p["path"].as_str().unwrap_or("?");
    format!("{name}{}", args(&p["args"]))
}

fn args(a: &Value) -> String {
    if let Some(ab) = a.get("angle_bracketed") {
        let mut parts: Vec<String> = ab["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                if let Some(t) = g.get("type") {
                    ty(t)
                } else if let Some(l) = g.get("lifetime") {
                    l.as_str().unwrap_or("'_").to_owned()
                } else if let Some(c) = g.get("const") {
                    c["expr"].as_str().unwrap_or("_").to_owned()
                } else {
                    "_".to_owned()
                }
            })
            .collect();
        for c in ab["constraints"].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or("?");
            let binding = &c["binding"];
            if let Some(t) = binding.get("equality").and_then(|e| e.get("type")) {
                parts.push(format!("{name} = {}", ty(t)));
            } else if let Some(b) = binding.get("constraint") {
                parts.push(format!("{name}: {}", bounds(b)));
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("<{}>", parts.join(", "))
        }
    } else if let Some(p) = a.get("parenthesized") {
        let inputs: Vec<String> = p["inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(ty)
            .collect();
        let output = match &p["output"] {
            Value::Null => String::new(),
            t => format!(" -> {}", ty(t)),
        };
        format!("({}){output}", inputs.join(", "))
    } else {
        String::new()
    }
}

/// A type as written in Rust, near enough.
fn ty(t: &Value) -> String {
    let Some((kind, v)) = t.as_object().and_then(|o| o.iter().next()) else {
        return "_".to_owned();
    };
    match kind.as_str() {
        "resolved_path" => path_ty(v),
        "dyn_trait" => {
            let traits: Vec<String> = v["traits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| path_ty(&t["trait"]))
                .collect();
            let mut s = format!("dyn {}", traits.join(" + "));
            if let Some(l) = v["lifetime"].as_str() {
                s.push_str(" + ");
                s.push_str(l);
            }
            s
        }
        "generic" | "primitive" => v.as_str().unwrap_or("?").to_owned(),
        "tuple" => {
            let items: Vec<String> = v.as_array().into_iter().flatten().map(ty).collect();
            format!("({})", items.join(", "))
        }
        "slice" => format!("[{}]", ty(v)),
        "array" => format!("[{}; {}]", ty(&v["type"]), v["len"].as_str().unwrap_or("_")),
        "impl_trait" => format!("impl {}", bounds(v)),
        "infer" => "_".to_owned(),
        "raw_pointer" => {
            let m = if v["is_mutable"] == Value::Bool(true) {
                "mut"
            } else {
                "const"
            };
            format!("*{m} {}", ty(&v["type"]))
        }
        "borrowed_ref" => {
            let mut s = "&".to_owned();
            if let Some(l) = v["lifetime"].as_str() {
                s.push_str(l);
                s.push(' ');
            }
            if v["is_mutable"] == Value::Bool(true) {
                s.push_str("mut ");
            }
            s.push_str(&ty(&v["type"]));
            s
        }
        "qualified_path" => {
            let name = v["name"].as_str().unwrap_or("?");
            match v.get("trait").filter(|t| !t.is_null()) {
                Some(tr) => format!("<{} as {}>::{name}", ty(&v["self_type"]), path_ty(tr)),
                None => format!("{}::{name}", ty(&v["self_type"])),
            }
        }
        "function_pointer" => {
            let inputs: Vec<String> = v["sig"]["inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| ty(&p[1]))
                .collect();
            let output = match &v["sig"]["output"] {
                Value::Null => String::new(),
                t => format!(" -> {}", ty(t)),
            };
            format!("fn({}){output}", inputs.join(", "))
        }
        other => other.to_owned(),
    }
}
