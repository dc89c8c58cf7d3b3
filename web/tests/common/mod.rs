//! Helpers shared by the wasm test binaries that run the engine on
//! `IdbStore` with the web build's options.

use moonvault_engine::{Db, Store};
use moonvault_web::budget;
use moonvault_web::idb::{IdbOptions, IdbStore, OnLocked};

/// Opens store `name` (waiting for a lock a previous test may still hold)
/// as a table store with the web build's engine options.
pub async fn open(name: &str) -> (IdbStore, Store) {
    let options = IdbOptions {
        on_locked: OnLocked::Wait,
        ..IdbOptions::default()
    };
    let idb = IdbStore::open(name, options).await.expect("open");
    let db = Db::open(Box::new(idb.clone()), budget::engine_options()).expect("engine open");
    (idb, Store::open(db).expect("tables"))
}

/// Checkpoints, then flushes and closes the IndexedDB store.
pub async fn close(idb: IdbStore, store: Store) {
    let db = store.db().clone();
    drop(store);
    db.close().expect("checkpoint");
    idb.close().await.expect("flush and close");
}
