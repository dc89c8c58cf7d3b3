//! Turns benchmark results into the report: tables of medians with each
//! peer's time as a multiple of moonvault's, and an SVG chart of those
//! ratios. Reads criterion's `target/criterion/**/new/{benchmark,estimates}.json`
//! and, when present, the browser benchmark's JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One measured benchmark: group, id (`moonvault`, `redb`, ...), median ns.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The benchmark group (`users_point_read_10k`).
    pub group: String,
    /// The implementation measured (`moonvault`, `redb`, `sqlite`, ...).
    pub id: String,
    /// Median time in nanoseconds.
    pub median_ns: f64,
}

impl Sample {
    /// A sample of `group`/`id` with median `median_ns`.
    pub fn new(group: &str, id: &str, median_ns: f64) -> Sample {
        Sample {
            group: group.into(),
            id: id.into(),
            median_ns,
        }
    }
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Every criterion result under `dir` (normally `target/criterion`).
pub fn criterion_samples(dir: &Path) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "new") {
                    let bench = read_json(&p.join("benchmark.json"));
                    let est = read_json(&p.join("estimates.json"));
                    if let (Some(b), Some(e)) = (bench, est) {
                        let group = b["group_id"].as_str().unwrap_or_default().to_string();
                        let id = b["function_id"].as_str().unwrap_or_default().to_string();
                        if let Some(m) = e["median"]["point_estimate"].as_f64() {
                            out.push(Sample::new(&group, &id, m));
                        }
                    }
                } else {
                    stack.push(p);
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));
    out
}

/// Samples from the browser benchmark's JSON: `[{group, id, median_ms}]`.
pub fn browser_samples(path: &Path) -> Vec<Sample> {
    let Some(serde_json::Value::Array(rows)) = read_json(path) else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|r| {
            Some(Sample::new(
                r["group"].as_str()?,
                r["id"].as_str()?,
                r["median_ms"].as_f64()? * 1e6,
            ))
        })
        .collect()
}

/// A human time: "412 µs".
pub fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Group -> id -> median, for groups measured with `base` as one id.
pub fn by_group(samples: &[Sample], base: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut groups: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for s in samples {
        groups
            .entry(s.group.clone())
            .or_default()
            .insert(s.id.clone(), s.median_ns);
    }
    groups.retain(|_, ids| ids.contains_key(base) && ids.len() > 1);
    groups
}

/// A Markdown table: one row per group, each id's median and its ratio to `base`.
pub fn markdown_table(groups: &BTreeMap<String, BTreeMap<String, f64>>, base: &str) -> String {
    let mut peers: Vec<&String> = groups
        .values()
        .flat_map(|ids| ids.keys())
        .filter(|id| *id != base)
        .collect();
    peers.sort();
    peers.dedup();
    let mut out = format!("| group | {base} |");
    for p in &peers {
        let _ = write!(out, " {p} | {p} / {base} |");
    }
    out.push('\n');
    out.push_str("|---|---:|");
    for _ in &peers {
        out.push_str("---:|---:|");
    }
    out.push('\n');
    for (group, ids) in groups {
        let b = ids[base];
        let _ = write!(out, "| {group} | {} |", human(b));
        for p in &peers {
            match ids.get(*p) {
                Some(t) => {
                    let _ = write!(out, " {} | {:.2}x |", human(*t), t / b);
                }
                None => out.push_str(" – | – |"),
            }
        }
        out.push('\n');
    }
    out
}

/// A horizontal bar chart of peer/base ratios on a log scale: bars right of
/// the axis mean moonvault is faster.
pub fn svg_chart(
    title: &str,
    groups: &BTreeMap<String, BTreeMap<String, f64>>,
    base: &str,
) -> String {
    let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1"];
    let mut peers: Vec<&String> = groups
        .values()
        .flat_map(|ids| ids.keys())
        .filter(|id| *id != base)
        .collect();
    peers.sort();
    peers.dedup();
    let bar = 12.0;
    let row = bar * peers.len().max(1) as f64 + 10.0;
    let (left, width, top) = (300.0, 420.0, 66.0);
    let height = top + row * groups.len() as f64 + 40.0;
    let axis = left + width / 2.0;
    // log2 ratio clamped to +-5 (32x) maps onto half the width.
    let x = |ratio: f64| axis + (ratio.log2().clamp(-5.0, 5.0) / 5.0) * (width / 2.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n",
        left + width + 20.0
    );
    let _ = writeln!(s, "<text x=\"10\" y=\"20\" font-size=\"14\">{title}</text>");
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"36\" fill=\"#555\">peer time / {base} time, log scale; right of the line = {base} faster</text>"
    );
    for (k, p) in peers.iter().enumerate() {
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{p}</text>",
            10.0 + 110.0 * k as f64,
            44.0,
            palette[k % palette.len()],
            24.0 + 110.0 * k as f64,
            53.0
        );
    }
    for (g, (group, ids)) in groups.iter().enumerate() {
        let y0 = top + row * g as f64;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{group}</text>",
            left - 8.0,
            y0 + row / 2.0
        );
        for (k, p) in peers.iter().enumerate() {
            let Some(t) = ids.get(*p) else { continue };
            let ratio = t / ids[base];
            let (x0, x1) = (axis.min(x(ratio)), axis.max(x(ratio)));
            let y = y0 + bar * k as f64;
            let _ = writeln!(
                s,
                "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\">{ratio:.2}x</text>",
                (x1 - x0).max(1.0),
                bar - 2.0,
                palette[k % palette.len()],
                x1 + 3.0,
                y + bar - 3.0
            );
        }
    }
    let bottom = top + row * groups.len() as f64;
    let _ = writeln!(
        s,
        "<line x1=\"{axis}\" y1=\"{top}\" x2=\"{axis}\" y2=\"{bottom}\" stroke=\"#000\"/>"
    );
    for r in [1.0 / 32.0, 1.0 / 4.0, 4.0, 32.0] {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            x(r),
            bottom + 15.0,
            if r < 1.0 {
                format!("1/{:.0}x", 1.0 / r)
            } else {
                format!("{r:.0}x")
            }
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_give_ratios_to_the_base() {
        let s = vec![
            Sample::new("g", "moonvault", 100.0),
            Sample::new("g", "redb", 250.0),
            Sample::new("lonely", "moonvault", 1.0),
        ];
        let groups = by_group(&s, "moonvault");
        assert_eq!(groups.len(), 1, "groups without a peer are left out");
        let md = markdown_table(&groups, "moonvault");
        assert!(md.contains("| g | 100 ns | 250 ns | 2.50x |"), "{md}");
        let svg = svg_chart("t", &groups, "moonvault");
        assert!(svg.starts_with("<svg") && svg.contains("2.50x"));
    }

    #[test]
    fn human_units() {
        assert_eq!(human(1500.0), "1.5 µs");
        assert_eq!(human(2.5e6), "2.50 ms");
        assert_eq!(human(3e9), "3.00 s");
    }
}
