//! Helpers shared by the scenario and property tests.

#![forbid(unsafe_code)]

pub mod crafted;

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

pub use moonvault_pager::testing::quickcheck_cases;
