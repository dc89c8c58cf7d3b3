//! A crafted store whose table graph reuses one child id: level after
//! level, entries `L` and `R` name the same child table. Copying it must
//! fail with a `Corrupted` error naming the table, not copy 2^30 tables.

use moonvault_engine::codec::{decode_stored, Stored, Value};
use moonvault_engine::{Db, KvRead, Options};
use moonvault_lua_bind::{Vault, VaultOptions};
use moonvault_pager::store::memory::MemoryStore;
use std::ops::Bound;

const LEVELS: usize = 30;

fn crafted() -> MemoryStore {
    let blobs = MemoryStore::new();
    let vault = Vault::open(Box::new(blobs.clone()), VaultOptions::default()).unwrap();
    vault
        .exec(
            format!(
                "Memory.g = {{}} local t = Memory.g \
                 for i = 1, {LEVELS} do t.L = {{n = i}} t.R = {{n = -i}} t = t.L end"
            ),
            "build.lua",
        )
        .unwrap();
    vault.close().unwrap();
    // Point every `R` entry at its sibling `L`'s table.
    let db = Db::open(Box::new(blobs.clone()), Options::default()).unwrap();
    let entries: Vec<(Vec<u8>, Vec<u8>)> = {
        let snap = db.read().unwrap();
        snap.range(Bound::Unbounded, Bound::Unbounded, false)
            .map(|e| e.unwrap())
            .collect()
    };
    let is_table = |v: &[u8]| matches!(decode_stored(v), Ok(Stored::Value(Value::Table(_))));
    let mut txn = db.begin().unwrap();
    let mut patched = 0;
    for (rk, _) in &entries {
        let sibling = entries.iter().find(|(lk, lv)| {
            lk.len() == rk.len() && is_table(lv) && {
                let diff: Vec<usize> = (0..lk.len()).filter(|&i| lk[i] != rk[i]).collect();
                diff.len() == 1 && lk[diff[0]] == b'L' && rk[diff[0]] == b'R'
            }
        });
        if let Some((_, lv)) = sibling {
            txn.put(rk, lv).unwrap();
            patched += 1;
        }
    }
    // Every level but the last, whose `L` is a packed record.
    assert_eq!(patched, LEVELS - 1);
    txn.commit().unwrap();
    db.checkpoint().unwrap();
    blobs
}

#[test]
fn copying_a_graph_that_reuses_a_child_is_an_error_not_an_exponential_copy() {
    let blobs = crafted();
    let vault = Vault::open(Box::new(blobs), VaultOptions::default()).unwrap();
    let e = vault
        .exec("Memory.copy = Memory.g", "copy.lua")
        .unwrap_err()
        .to_string();
    assert!(e.contains("parent link disagrees"), "{e}");
    // Nothing was written, and the store stays usable.
    let out = vault
        .exec(
            "Memory.ok = 1 return Memory.copy == nil, Memory.ok",
            "after.lua",
        )
        .unwrap();
    assert_eq!(format!("{out:?}"), "[Boolean(true), Integer(1)]");
}
