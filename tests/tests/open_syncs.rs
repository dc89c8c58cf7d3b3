//! Opening makes nothing durable when there is nothing to make durable: a
//! new store's first superblock and a clean reopen cost no sync. A crash
//! right after such an open leaves a store that opens (as new, or as it
//! was), and the first durable commit carries the unsynced superblock with
//! it (stores keep batch order).

use moonvault_engine::{Db, KvRead, Options};
use moonvault_pager::store::faulty::{CrashMode, FaultyStore};

fn reopen(store: &FaultyStore, mode: CrashMode) -> (FaultyStore, Db) {
    let image = FaultyStore::with_inner(store.crash_image(mode));
    let db = Db::open(Box::new(image.clone()), Options::default()).expect("reopen");
    (image, db)
}

#[test]
fn new_store_open_makes_nothing_durable_and_survives_a_crash() {
    let store = FaultyStore::new();
    let db = Db::open(Box::new(store.clone()), Options::default()).unwrap();
    assert!(
        store.durable_snapshot().is_empty(),
        "opening a new store made something durable"
    );
    drop(db);
    // Crash with nothing durable: the store opens as new and works.
    let (image, db) = reopen(&store, CrashMode::LoseUnsynced);
    let mut t = db.begin().unwrap();
    t.put(b"k", b"v").unwrap();
    t.commit().unwrap();
    // The durable commit carried the superblock: a crash keeps the commit.
    drop(db);
    let (_, db) = reopen(&image, CrashMode::LoseUnsynced);
    assert_eq!(db.read().unwrap().get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn clean_reopen_makes_nothing_durable_but_recovery_with_wal_does() {
    let store = FaultyStore::new();
    let db = Db::open(Box::new(store.clone()), Options::default()).unwrap();
    let mut t = db.begin().unwrap();
    t.put(b"a", b"1").unwrap();
    t.commit().unwrap();
    drop(db);
    // A WAL record to replay: recovery folds it in with a checkpoint.
    let image = FaultyStore::with_inner(store.crash_image(CrashMode::LoseUnsynced));
    let before = image.durable_snapshot();
    let db = Db::open(Box::new(image.clone()), Options::default()).unwrap();
    assert_ne!(
        image.durable_snapshot(),
        before,
        "recovery did not checkpoint"
    );
    // Let the next checkpoint delete the covered record, and sync that.
    db.checkpoint().unwrap();
    db.flush().unwrap();
    drop(db);
    // Nothing in the WAL: reopening writes nothing durable.
    let image = FaultyStore::with_inner(image.crash_image(CrashMode::LoseUnsynced));
    let clean = image.durable_snapshot();
    let db = Db::open(Box::new(image.clone()), Options::default()).unwrap();
    assert_eq!(
        image.durable_snapshot(),
        clean,
        "a clean reopen made something durable"
    );
    assert_eq!(db.read().unwrap().get(b"a").unwrap(), Some(b"1".to_vec()));
}
