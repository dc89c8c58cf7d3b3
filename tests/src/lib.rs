//! Helpers shared by the scenario and property tests.

use moonvault_engine::{Db, KvRead};
use std::collections::BTreeMap;

/// A model of committed contents.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Every entry of a database's last commit, in key order.
pub fn contents(db: &Db) -> Model {
    let snap = db.read().expect("snapshot");
    snap.range(
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        false,
    )
    .map(|e| e.expect("scan"))
    .collect()
}

/// Number of quickcheck cases: `MOONVAULT_QC_CASES` or `default`.
pub fn qc_cases(default: u64) -> u64 {
    std::env::var("MOONVAULT_QC_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
