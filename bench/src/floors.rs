//! The product's stated floors (from the users' request) next to what the
//! latest run measured: a 1,000-op batch under 100 ms, an indexed query
//! under 10 ms on 10K+ records and 10x faster than a scan, function
//! serialization under 20 ms, compression above 2:1, the Lua heap and the
//! wasm module's memory within 2 MiB.

use crate::facts::Fact;
use crate::report::{human, Sample};

/// How a figure is shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    /// Nanoseconds, shown as a time.
    Nanos,
    /// A dimensionless ratio, shown as `N:1` / `Nx`.
    Ratio,
    /// Bytes, shown in KiB.
    Bytes,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Nanos => human(v),
            Unit::Ratio => format!("{v:.1}x"),
            Unit::Bytes => format!("{:.0} KiB", v / 1024.0),
        }
    }
}

/// One floor and its measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct Floor {
    /// What the floor is about.
    pub what: String,
    /// The measured figure.
    pub measured: f64,
    /// The floor.
    pub floor: f64,
    /// How both are shown.
    pub unit: Unit,
    /// Whether the measurement must stay below the floor (times, memory)
    /// rather than above it (speedups, compression).
    pub below: bool,
}

impl Floor {
    /// How many times past the floor the measurement is (> 1 = met).
    pub fn margin(&self) -> f64 {
        if self.below {
            self.floor / self.measured
        } else {
            self.measured / self.floor
        }
    }
}

fn median(samples: &[Sample], group: &str, id: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.group == group && s.id == id)
        .map(|s| s.median_ns)
}

fn fact(facts: &[Fact], group: &str, name: &str) -> Option<f64> {
    facts.iter().find(|f| f.group == group)?.get(name)
}

/// Every floor the samples and facts of one run measure (a floor whose
/// benchmark did not run is left out).
pub fn floors(samples: &[Sample], facts: &[Fact]) -> Vec<Floor> {
    const MS: f64 = 1e6;
    let mut out = Vec::new();
    let mut push = |what: String, measured: Option<f64>, floor: f64, unit, below| {
        if let Some(measured) = measured {
            out.push(Floor {
                what,
                measured,
                floor,
                unit,
                below,
            });
        }
    };
    push(
        "1,000-op batch, durable (batch_1000)".into(),
        median(samples, "batch_1000", "moonvault"),
        100.0 * MS,
        Unit::Nanos,
        true,
    );
    for n in ["10k", "100k"] {
        push(
            format!("indexed query `age = 42`, every match read in full, {n} records"),
            median(samples, &format!("users_query_age_eq_42_{n}"), "moonvault"),
            10.0 * MS,
            Unit::Nanos,
            true,
        );
        let group = format!("query_{n}");
        let indexed = median(samples, &group, "indexed/age_eq_42");
        let scan = median(samples, &group, "scan/age_eq_42");
        push(
            format!("scan time / indexed time, `age = 42` (matches found), {n} records"),
            scan.zip(indexed).map(|(s, i)| s / i),
            10.0,
            Unit::Ratio,
            false,
        );
    }
    push(
        "indexed query `age = 42` in Chromium, 10k records".into(),
        median(samples, "browser_query_age_eq_42_10k", "moonvault"),
        10.0 * MS,
        Unit::Nanos,
        true,
    );
    push(
        "function serialization (encode + restore + call)".into(),
        median(samples, "function_persist", "encode_decode"),
        20.0 * MS,
        Unit::Nanos,
        true,
    );
    for n in ["10k", "100k"] {
        push(
            format!("page compression, users {n}"),
            fact(facts, &format!("compression_users_{n}"), "page_ratio"),
            2.0,
            Unit::Ratio,
            false,
        );
        push(
            format!("logical / stored bytes, users {n} without index"),
            fact(
                facts,
                &format!("compression_users_{n}_noindex"),
                "logical_ratio",
            ),
            2.0,
            Unit::Ratio,
            false,
        );
    }
    push(
        "Lua heap after writing and reading 10K users".into(),
        fact(facts, "lua_heap_users_10k", "used_bytes"),
        2.0 * 1024.0 * 1024.0,
        Unit::Bytes,
        true,
    );
    push(
        "wasm linear memory, 100K-record store loaded and queried".into(),
        fact(facts, "browser_wasm_memory_100k", "bytes"),
        2.0 * 1024.0 * 1024.0,
        Unit::Bytes,
        true,
    );
    out
}

/// A Markdown table of floors: measured, floor, and the margin.
pub fn floors_table(floors: &[Floor]) -> String {
    let mut out = String::from("| floor | measured | floor | margin |\n|---|---:|---:|---:|\n");
    for f in floors {
        let bound = if f.below { "<" } else { ">" };
        out.push_str(&format!(
            "| {} | {} | {bound} {} | {:.1}x{} |\n",
            f.what,
            f.unit.show(f.measured),
            f.unit.show(f.floor),
            f.margin(),
            if f.margin() >= 1.0 { "" } else { " (missed)" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_point_the_right_way() {
        let samples = vec![
            Sample::new("batch_1000", "moonvault", 20e6),
            Sample::new("users_query_age_eq_42_10k", "moonvault", 2e5),
            Sample::new("query_10k", "indexed/age_eq_42", 1e5),
            Sample::new("query_10k", "scan/age_eq_42", 5e6),
        ];
        let facts = vec![Fact {
            group: "compression_users_10k".into(),
            id: "moonvault".into(),
            values: [("page_ratio".to_string(), 1.5)].into_iter().collect(),
        }];
        let f = floors(&samples, &facts);
        assert_eq!(
            f.len(),
            4,
            "floors without a measurement are left out: {f:?}"
        );
        assert!((f[0].margin() - 5.0).abs() < 1e-9, "100 ms / 20 ms");
        assert!((f[1].margin() - 50.0).abs() < 1e-9, "10 ms / 200 µs");
        assert!((f[2].margin() - 5.0).abs() < 1e-9, "50x speedup / 10x");
        let md = floors_table(&f);
        assert!(
            md.contains("| page compression, users 10k | 1.5x | > 2.0x | 0.8x (missed) |"),
            "{md}"
        );
    }
}
