//! A transaction far larger than the page cache: 100K inserts with a
//! 512 KiB budget. Dirty pages spill to the store before commit; a
//! crash before commit leaves nothing (and the spilled pages are reclaimed),
//! a commit makes all of it durable at once.

use moonvault_engine::{Db, KvRead, Options};
use moonvault_pager::store::faulty::{CrashMode, FaultyStore};
use moonvault_pager::store::{Area, BlobStore};
use moonvault_pager::PagerConfig;
use std::ops::Bound;

const N: u32 = 100_000;

fn key(i: u32) -> Vec<u8> {
    format!("user:{i:08}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    format!(
        "{{name=\"User {i}\", age={}, score={}}}",
        20 + i % 50,
        i * 10
    )
    .into_bytes()
}

fn fill(db: &Db, budget: usize) -> moonvault_engine::WriteTxn {
    let mut txn = db.begin().unwrap();
    for i in 0..N {
        txn.put(&key(i), &value(i)).unwrap();
        if i % 10_000 == 0 {
            let mem = db.stats().unwrap().pager.memory_bytes;
            assert!(
                mem <= budget,
                "page memory {mem} exceeds the {budget}-byte budget"
            );
        }
    }
    txn
}

#[test]
fn hundred_thousand_inserts_in_one_transaction() {
    let store = FaultyStore::new();
    let options = Options {
        pager: PagerConfig {
            cache_bytes: 512 * 1024,
            ..PagerConfig::default()
        },
        ..Options::default()
    };
    let budget = options.pager.cache_bytes;
    let db = Db::open(Box::new(store.clone()), options).unwrap();

    // Crash before commit: nothing of it survives, spilled pages are reclaimed.
    let txn = fill(&db, budget);
    assert!(
        db.stats().unwrap().pager.spilled_pages > 0,
        "the transaction must have spilled"
    );
    drop(txn);
    drop(db);
    let image = FaultyStore::with_inner(store.crash_image(CrashMode::KeepPrefix(usize::MAX)));
    let db = Db::open(Box::new(image.clone()), options).unwrap();
    assert_eq!(
        db.read()
            .unwrap()
            .range(Bound::Unbounded, Bound::Unbounded, false)
            .count(),
        0
    );
    drop(db);
    // Reopening after a checkpoint-free crash leaves at most the superblocks' pages.
    assert!(
        image.keys(Area::Pages).unwrap().len() <= 1,
        "orphaned pages were not reclaimed"
    );

    // Commit, crash right after: everything is there.
    let db = Db::open(Box::new(image.clone()), options).unwrap();
    fill(&db, budget).commit().unwrap();
    drop(db);
    let after = FaultyStore::with_inner(image.crash_image(CrashMode::LoseUnsynced));
    let db = Db::open(Box::new(after), options).unwrap();
    let snap = db.read().unwrap();
    let mut n = 0;
    for (i, entry) in snap
        .range(Bound::Unbounded, Bound::Unbounded, false)
        .enumerate()
    {
        let (k, v) = entry.unwrap();
        assert_eq!((k, v), (key(i as u32), value(i as u32)));
        n += 1;
    }
    assert_eq!(n, N as usize);
    drop(snap);
    db.check().unwrap();
}
