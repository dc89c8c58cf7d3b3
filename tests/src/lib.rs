//! Helpers shared by the scenario and property tests.

#![forbid(unsafe_code)]

pub mod crafted;

use moonvault_engine::{Db, KvRead};
use quickcheck::QuickCheck;
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

/// A quickcheck runner for `MOONVAULT_QC_CASES` passing cases (or `default`).
/// quickcheck caps a run at `QUICKCHECK_MAX_TESTS` (10,000) attempts however
/// many passes `tests` asks for, so the cap is raised with the count.
pub fn quickcheck_cases(default: u64) -> QuickCheck {
    let cases = std::env::var("MOONVAULT_QC_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    QuickCheck::new()
        .tests(cases)
        .max_tests(cases.saturating_mul(10))
}
