//! `cargo xtask bench`: every benchmark of the workspace in one markdown table.
//!
//! Each row is one of mailwire's figures beside its baseline or peer measured in the
//! same run, and their ratio. Two kinds of benchmarks feed it:
//!
//! - The criterion benchmarks write their estimates under `CRITERION_HOME`; the rows
//!   come from [`PAIRS`], which says which function of a group is mailwire's and which
//!   its baseline (same group, same input).
//! - The benchmarks with a harness of their own (end-to-end runs over processes and
//!   sockets) print their rows on standard output as `bench-row` lines, see
//!   [`parse_rows`].
//!
//! With `--quick` every benchmark runs small (`MAILWIRE_BENCH_QUICK=1`): the run only
//! shows that every benchmark still works, and its figures are not for reading.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The benchmark (crate and group).
    pub bench: String,
    /// What mailwire's figure is of.
    pub case: String,
    /// Mailwire's figure.
    pub figure: f64,
    /// The unit of both figures: a rate (`…/s`, higher is better) or a time (`ns`,
    /// `µs`, `ms`, lower is better).
    pub unit: String,
    /// What mailwire is compared with.
    pub baseline: String,
    /// The baseline's figure, in the same unit.
    pub baseline_figure: f64,
}

impl Row {
    /// `figure / baseline_figure`.
    pub fn ratio(&self) -> f64 {
        self.figure / self.baseline_figure
    }

    /// Whether a larger figure is better (a rate) or worse (a time).
    pub fn higher_is_better(&self) -> bool {
        self.unit.ends_with("/s")
    }
}

/// The marker a benchmark prints before a row on standard output.
pub const ROW_MARKER: &str = "bench-row";

/// The rows printed by benchmarks with their own harness: one per line, tab
/// separated, `bench-row BENCH CASE FIGURE UNIT BASELINE BASELINE_FIGURE`. Other lines
/// are ignored; a marked line that does not parse is an error (a benchmark that
/// changed its output and would silently drop out of the table).
pub fn parse_rows(output: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for line in output.lines() {
        let Some(rest) = line
            .strip_prefix(ROW_MARKER)
            .and_then(|r| r.strip_prefix('\t'))
        else {
            continue;
        };
        let fields: Vec<&str> = rest.split('\t').collect();
        let [bench, case, figure, unit, baseline, baseline_figure] = fields[..] else {
            return Err(format!("a bench row needs 6 fields: {line:?}"));
        };
        let number = |s: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("not a figure ({s:?}) in {line:?}"))
        };
        rows.push(Row {
            bench: bench.into(),
            case: case.into(),
            figure: number(figure)?,
            unit: unit.into(),
            baseline: baseline.into(),
            baseline_figure: number(baseline_figure)?,
        });
    }
    Ok(rows)
}

/// A criterion group's pairs: (benchmark name in the table, group id or its prefix
/// ending in `/`, mailwire's function, the baseline's function, unit of a rate when
/// the group declares a throughput in elements). Functions are matched within one
/// group and one input value.
pub const PAIRS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "proto: parse an event",
        "parse/",
        "Event::parse",
        "serde_json::Value",
        "",
    ),
    (
        "proto: parse an event",
        "parse/",
        "Event::parse+payload",
        "serde_json::Value",
        "",
    ),
    (
        "webhook: verify a signature",
        "standard",
        "mailwire",
        "ring",
        "",
    ),
    (
        "webhook: verify a signature",
        "standard",
        "mailwire",
        "svix",
        "",
    ),
    (
        "webhook: verify a signature",
        "standard",
        "mailwire",
        "standardwebhooks",
        "",
    ),
    ("webhook: verify a signature", "hex", "mailwire", "ring", ""),
    (
        "merge: deduplicate 2M deliveries of 1M ids",
        "dedup_2M_deliveries_1M_ids/",
        "IdWindow",
        "HashSet<String>",
        "deliveries/s",
    ),
    (
        "store: append, 64 appenders",
        "append_64_appenders",
        "redb_group_commit",
        "redb_txn_per_append",
        "appends/s",
    ),
    (
        "store: append, 64 appenders",
        "append_64_appenders",
        "redb_group_commit",
        "memory",
        "appends/s",
    ),
    (
        "store: append on Redis, 64 appenders",
        "redis_append_64_appenders",
        "redis_store",
        "bare_xadd",
        "appends/s",
    ),
    (
        "webhook-http: receive 2 KiB signed webhooks",
        "webhook receiver, 2 KiB signed",
        "receiver + memory store",
        "bare hyper (ceiling)",
        "requests/s",
    ),
    (
        "webhook-http: receive 2 KiB signed webhooks",
        "webhook receiver, 2 KiB signed",
        "receiver + redb",
        "bare hyper (ceiling)",
        "requests/s",
    ),
    (
        "webhook-http: receive 2 KiB signed webhooks",
        "webhook receiver, 2 KiB signed",
        "memory, 32 addresses: rate limits + 1000 tenants",
        "memory, 32 addresses: no limits, no tenants",
        "requests/s",
    ),
];

/// One criterion measurement.
#[derive(Clone, Debug)]
struct Measured {
    group: String,
    function: String,
    value: String,
    /// Mean time per iteration, in nanoseconds.
    mean_ns: f64,
    /// Elements per iteration, when the group declared them.
    elements: Option<f64>,
}

/// The rows [`PAIRS`] make of the criterion estimates under `dir` (criterion's
/// `CRITERION_HOME`). A pair whose functions did not run is left out.
pub fn criterion_rows(dir: &Path) -> Result<Vec<Row>, String> {
    let mut found = Vec::new();
    if dir.exists() {
        collect(dir, &mut found)?;
    }
    // (group, value) -> function -> measurement
    let mut by_group: BTreeMap<(String, String), BTreeMap<String, Measured>> = BTreeMap::new();
    for m in found {
        by_group
            .entry((m.group.clone(), m.value.clone()))
            .or_default()
            .insert(m.function.clone(), m);
    }
    let mut rows = Vec::new();
    for (bench, group, ours, theirs, rate_unit) in PAIRS {
        for ((g, value), functions) in &by_group {
            let matches = match group.strip_suffix('/') {
                Some(prefix) => g.starts_with(prefix) && g.len() > prefix.len(),
                None => g == group,
            };
            let (Some(a), Some(b)) = (functions.get(*ours), functions.get(*theirs)) else {
                continue;
            };
            if !matches {
                continue;
            }
            // A group named in full is named in the case too (the standard and the
            // hex scheme share a benchmark and its sizes).
            let named = match group.strip_suffix('/') {
                Some(_) => g.strip_prefix(*group).unwrap_or(""),
                None => g.as_str(),
            };
            let detail = [named, value.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            let case = if detail.is_empty() || detail == *g {
                (*ours).to_owned()
            } else {
                format!("{ours} ({detail})")
            };
            let (figure, baseline_figure, unit) = match (a.elements, b.elements) {
                (Some(ea), Some(eb)) if !rate_unit.is_empty() => (
                    ea * 1e9 / a.mean_ns,
                    eb * 1e9 / b.mean_ns,
                    (*rate_unit).to_owned(),
                ),
                _ => (a.mean_ns, b.mean_ns, "ns".to_owned()),
            };
            rows.push(Row {
                bench: (*bench).to_owned(),
                case,
                figure,
                unit,
                baseline: (*theirs).to_owned(),
                baseline_figure,
            });
        }
    }
    Ok(rows)
}

fn collect(dir: &Path, out: &mut Vec<Measured>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(m) = measured(&path)? {
                out.push(m);
            }
        } else {
            collect(&path, out)?;
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// One `new/` folder of criterion's output: `benchmark.json` and `estimates.json`.
fn measured(dir: &Path) -> Result<Option<Measured>, String> {
    let (bench, estimates) = (dir.join("benchmark.json"), dir.join("estimates.json"));
    if !bench.exists() || !estimates.exists() {
        return Ok(None);
    }
    let bench = read_json(&bench)?;
    let estimates = read_json(&estimates)?;
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let Some(mean_ns) = estimates
        .pointer("/mean/point_estimate")
        .and_then(serde_json::Value::as_f64)
    else {
        return Err(format!("{}: no mean estimate", dir.display()));
    };
    let elements = bench
        .pointer("/throughput/Elements")
        .and_then(serde_json::Value::as_f64);
    Ok(Some(Measured {
        group: text(&bench, "group_id"),
        function: text(&bench, "function_id"),
        value: text(&bench, "value_str"),
        mean_ns,
        elements,
    }))
}

/// A figure with a precision that suits its size, thousands grouped.
fn figure(v: f64) -> String {
    if v >= 1000.0 {
        let digits = format!("{v:.0}");
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The markdown table of `rows`, in their order.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| benchmark | mailwire | figure | baseline or peer | its figure | ratio |\n\
         | --- | --- | ---: | --- | ---: | ---: |\n",
    );
    for r in rows {
        let better = if r.higher_is_better() {
            "higher is better"
        } else {
            "lower is better"
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} {} | {} | {} {} | {:.2}x ({better}) |",
            r.bench,
            r.case,
            figure(r.figure),
            r.unit,
            r.baseline,
            figure(r.baseline_figure),
            r.unit,
            r.ratio(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_printed_by_a_benchmark_are_read_and_a_broken_one_is_an_error() {
        let out = "some text\nbench-row\tws\tWsSource::next\t1500.5\tevents/s\tbare loop\t2000\n\
                   bench-rows are not this\n";
        let rows = parse_rows(out).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].case, "WsSource::next");
        assert!((rows[0].ratio() - 0.75025).abs() < 1e-9);
        assert!(rows[0].higher_is_better());
        assert!(parse_rows("bench-row\tws\tx\t1\tns\ty\n").is_err());
        assert!(parse_rows("bench-row\tws\tx\tNaN\tns\ty\t1\n").is_err());
        assert!(parse_rows("bench-row\tws\tx\tfast\tns\ty\t1\n").is_err());
    }

    fn write(dir: &Path, group: &str, function: &str, value: &str, mean: f64, elements: u64) {
        let d = dir.join(format!("{group}/{function}/{value}/new").replace(' ', "_"));
        std::fs::create_dir_all(&d).unwrap();
        let throughput = if elements > 0 {
            serde_json::json!({ "Elements": elements })
        } else {
            serde_json::Value::Null
        };
        let bench = serde_json::json!({
            "group_id": group, "function_id": function, "value_str": value,
            "throughput": throughput,
        });
        std::fs::write(d.join("benchmark.json"), bench.to_string()).unwrap();
        let est = serde_json::json!({ "mean": { "point_estimate": mean } });
        std::fs::write(d.join("estimates.json"), est.to_string()).unwrap();
    }

    #[test]
    fn criterion_estimates_become_rows_by_pair_and_input() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir, "standard", "ring", "256", 400.0, 0);
        write(&dir, "standard", "mailwire", "256", 800.0, 0);
        write(&dir, "standard", "ring", "4096", 1000.0, 0);
        write(&dir, "standard", "mailwire", "4096", 1100.0, 0);
        // A function without its pair makes no row.
        write(&dir, "standard", "svix", "4096", 5000.0, 0);
        write(
            &dir,
            "dedup_2M_deliveries_1M_ids/fresh",
            "IdWindow",
            "",
            1e9,
            2_000_000,
        );
        write(
            &dir,
            "dedup_2M_deliveries_1M_ids/fresh",
            "HashSet<String>",
            "",
            2e9,
            2_000_000,
        );
        let rows = criterion_rows(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let find = |case: &str, baseline: &str| {
            rows.iter()
                .find(|r| r.case == case && r.baseline == baseline)
                .unwrap_or_else(|| panic!("{case} against {baseline} in {rows:?}"))
        };
        assert_eq!(find("mailwire (standard, 256)", "ring").ratio(), 2.0);
        assert!((find("mailwire (standard, 4096)", "ring").ratio() - 1.1).abs() < 1e-9);
        assert!(find("mailwire (standard, 4096)", "svix").ratio() < 0.25);
        assert!(
            rows.iter()
                .all(|r| r.case != "mailwire (standard, 256)" || r.baseline != "svix")
        );
        let dedup = find("IdWindow (fresh)", "HashSet<String>");
        assert_eq!(dedup.unit, "deliveries/s");
        assert_eq!(dedup.figure, 2e6);
        assert_eq!(dedup.ratio(), 2.0);
        let table = table(&rows);
        assert!(table.contains("| 2,000,000 deliveries/s |"), "{table}");
        assert!(table.contains("2.00x (lower is better)"), "{table}");
    }
}
