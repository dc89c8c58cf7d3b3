//! Measurements that are not timings: the browser benchmark's memory and
//! counter rows, and figures the native benches record while they run
//! (compression of the data set). Each is a [`Fact`]: a group, the
//! implementation it describes and named numbers.
//!
//! Native benches write facts as `TARGET/bench-facts/GROUP.json` with
//! [`record`]; the report reads them back with [`recorded`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Named numbers about one implementation in one group.
#[derive(Clone, Debug, PartialEq)]
pub struct Fact {
    /// What was measured (`browser_wasm_memory_100k`, `compression_users_10k`).
    pub group: String,
    /// The implementation (`moonvault`).
    pub id: String,
    /// The figures, by name (`bytes`, `limit_bytes`, `page_ratio`, ...).
    pub values: BTreeMap<String, f64>,
}

impl Fact {
    /// The figure `name`, if recorded.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied()
    }
}

fn from_json(row: &serde_json::Value) -> Option<Fact> {
    let obj = row.as_object()?;
    let values = obj
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
        .collect();
    Some(Fact {
        group: obj.get("group")?.as_str()?.to_string(),
        id: obj.get("id")?.as_str()?.to_string(),
        values,
    })
}

fn to_json(fact: &Fact) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    obj.insert("group".into(), fact.group.clone().into());
    obj.insert("id".into(), fact.id.clone().into());
    for (k, v) in &fact.values {
        obj.insert(k.clone(), (*v).into());
    }
    serde_json::Value::Object(obj)
}

/// The browser benchmark's rows that carry no median: memory and counters.
pub fn browser_facts(path: &Path) -> Vec<Fact> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Array(rows)) = serde_json::from_str(&text) else {
        return Vec::new();
    };
    rows.iter()
        .filter(|r| r.get("median_ms").is_none())
        .filter_map(from_json)
        .collect()
}

/// The directory native benches record facts in: `bench-facts` beside the
/// `release`/`debug` directory holding the running bench binary.
fn facts_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // TARGET/PROFILE/deps/BINARY
    Some(exe.ancestors().nth(3)?.join("bench-facts"))
}

/// Records `fact` for the report (best effort: a bench never fails on it).
pub fn record(fact: &Fact) {
    let Some(dir) = facts_dir() else { return };
    if std::fs::create_dir_all(&dir).is_ok() {
        let text = serde_json::to_string_pretty(&to_json(fact)).unwrap_or_default();
        let _ = std::fs::write(dir.join(format!("{}.json", fact.group)), text + "\n");
    }
}

/// Every fact recorded under `target` (by [`record`]), by group.
pub fn recorded(target: &Path) -> Vec<Fact> {
    let Ok(entries) = std::fs::read_dir(target.join("bench-facts")) else {
        return Vec::new();
    };
    let mut out: Vec<Fact> = entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .filter_map(|v: serde_json::Value| from_json(&v))
        .collect();
    out.sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));
    out
}

/// A Markdown table of facts: one row per fact, its figures as `name = value`.
pub fn facts_table(facts: &[Fact]) -> String {
    let mut out = String::from("| group | id | figures |\n|---|---|---|\n");
    for f in facts {
        let figures: Vec<String> = f
            .values
            .iter()
            .map(|(k, v)| {
                if v.fract() == 0.0 {
                    format!("{k} = {v:.0}")
                } else {
                    format!("{k} = {v:.3}")
                }
            })
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            f.group,
            f.id,
            figures.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_rows_without_a_median_are_facts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b.json");
        std::fs::write(
            &path,
            r#"[{"group":"g","id":"moonvault","median_ms":1.5},
                {"group":"mem","id":"moonvault","bytes":1310720,"limit_bytes":2097152}]"#,
        )
        .expect("write");
        let facts = browser_facts(&path);
        assert_eq!(facts.len(), 1);
        assert_eq!(facts[0].group, "mem");
        assert_eq!(facts[0].get("bytes"), Some(1_310_720.0));
        let md = facts_table(&facts);
        assert!(
            md.contains("| mem | moonvault | bytes = 1310720, limit_bytes = 2097152 |"),
            "{md}"
        );
    }

    #[test]
    fn facts_round_trip_through_json() {
        let fact = Fact {
            group: "compression_users_10k".into(),
            id: "moonvault".into(),
            values: [("page_ratio".to_string(), 2.5)].into_iter().collect(),
        };
        assert_eq!(from_json(&to_json(&fact)), Some(fact));
    }
}
