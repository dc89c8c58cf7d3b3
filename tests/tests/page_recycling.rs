//! Small transactions that rewrite the same leaves recycle the pages they
//! committed since the last checkpoint instead of piling them up as
//! pending frees (which forced a checkpoint every ~80 commits), the store
//! grows by about one copy of each page, and the set of such pages stays bounded by
//! `checkpoint_unsaved_pages`. Crashes in between lose nothing committed.

use moonvault_engine::{Db, KvRead, Options};
use moonvault_pager::store::faulty::{CrashMode, FaultyStore};
use moonvault_pager::store::memory::MemoryStore;
use moonvault_tests::{contents, Model};

fn key(i: u64) -> Vec<u8> {
    format!("key{:06}", i).into_bytes()
}

fn load(db: &Db, n: u64, model: &mut Model) {
    let mut t = db.begin().unwrap();
    for i in 0..n {
        t.put(&key(i), &[7u8; 40]).unwrap();
        model.insert(key(i), vec![7u8; 40]);
    }
    t.commit().unwrap();
    db.checkpoint().unwrap();
}

/// One durable single-put commit rewriting record `i`.
fn rewrite(db: &Db, i: u64, round: u8, model: &mut Model) {
    let mut t = db.begin().unwrap();
    t.put(&key(i), &[round; 40]).unwrap();
    t.commit().unwrap();
    model.insert(key(i), vec![round; 40]);
}

#[test]
fn rewrites_recycle_pages_without_checkpoints() {
    let db = Db::open(Box::new(MemoryStore::new()), Options::default()).unwrap();
    let mut model = Model::new();
    load(&db, 5_000, &mut model);
    let before = db.stats().unwrap();
    for round in 0..10u8 {
        for i in (0..5_000).step_by(50) {
            rewrite(&db, i + u64::from(round), round, &mut model);
        }
    }
    let after = db.stats().unwrap();
    assert_eq!(
        after.pager.checkpoints, before.pager.checkpoints,
        "1,000 small commits needed no checkpoint (WAL {} bytes)",
        after.wal_bytes
    );
    let grown = (after.pager.live_pages + after.pager.free_pages)
        - (before.pager.live_pages + before.pager.free_pages);
    // About one copy of each page of the durable tree; every later rewrite
    // reuses a page committed since the checkpoint (without recycling, the
    // ~3 pages each commit copies would pile up: thousands).
    assert!(
        grown <= 2 * before.pager.live_pages,
        "the store grew by {grown} pages over 1,000 commits ({} live)",
        before.pager.live_pages
    );
    assert_eq!(contents(&db), model);
}

#[test]
fn unsaved_pages_are_bounded_and_crashes_keep_every_commit() {
    let store = FaultyStore::new();
    let options = Options {
        checkpoint_unsaved_pages: 16,
        ..Options::default()
    };
    let db = Db::open(Box::new(store.clone()), options).unwrap();
    let mut model = Model::new();
    load(&db, 5_000, &mut model);
    let before = db.stats().unwrap().pager.checkpoints;
    for (n, i) in (0..5_000).step_by(37).enumerate() {
        rewrite(&db, i, (n % 200) as u8, &mut model);
    }
    assert!(
        db.stats().unwrap().pager.checkpoints > before,
        "136 commits over scattered leaves pass 16 unsaved pages"
    );
    // A crash keeps every durable commit; recycled pages never held
    // anything a superblock or the WAL replay needs.
    drop(db);
    for mode in [CrashMode::LoseUnsynced, CrashMode::KeepPrefix(0)] {
        let image = FaultyStore::with_inner(store.crash_image(mode));
        let db = Db::open(Box::new(image), options).unwrap();
        assert_eq!(contents(&db), model, "after a crash ({mode:?})");
        db.check().unwrap();
        assert_eq!(
            db.read().unwrap().get(&key(37)).unwrap(),
            model.get(&key(37)).cloned()
        );
    }
}
