//! The BlobStore conformance suite (`moonvault_pager::store::conformance`)
//! on `IdbStore`, in headless Chromium.
//!
//! Built only with `--features test-memory-16mib` (scripts/test-wasm.sh):
//! the suite's large-blob checks hold two 2 MiB blobs in linear memory,
//! which the shipped 2 MiB budget cannot. The store code is the same.
//!
//! Each check runs on a fresh store. The suite's own `reopen` is
//! synchronous and a page cannot wait for IndexedDB synchronously, so the
//! mid-check `reopen` hands back a new handle on the same open store
//! (read-your-writes across handles). Durability is then checked by an
//! asynchronous cold reopen after every check: flush, close, open the
//! database again (a new connection loading every blob from IndexedDB) and
//! compare every blob with the state before closing.

#![cfg(target_arch = "wasm32")]

use moonvault_pager::store::conformance::{self, snapshot};
use moonvault_pager::store::BlobStore;
use moonvault_web::idb::{IdbOptions, IdbStore};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn fresh(name: &str) -> IdbStore {
    IdbStore::delete(name).await.expect("delete");
    IdbStore::open(name, IdbOptions::default())
        .await
        .expect("open")
}

/// Close (after every queued write is durable) and open again from
/// IndexedDB; the contents must be exactly what they were.
async fn cold_reopen(store: IdbStore) -> IdbStore {
    let name = store.name();
    let before = snapshot(&store).expect("snapshot before close");
    store.close().await.expect("close flushes");
    assert!(
        store.get(moonvault_pager::store::Area::Meta, 0).is_err(),
        "closed handle refuses calls"
    );
    let again = IdbStore::open(&name, IdbOptions::default())
        .await
        .expect("reopen");
    let after = snapshot(&again).expect("snapshot after reopen");
    assert_eq!(before.len(), after.len(), "{name}: blob count after reopen");
    assert!(
        before == after,
        "{name}: contents differ after a cold reopen"
    );
    again
}

fn warm(store: IdbStore) -> IdbStore {
    store.clone()
}

macro_rules! check {
    ($name:ident) => {
        #[wasm_bindgen_test]
        async fn $name() {
            let mut store = fresh(stringify!($name)).await;
            conformance::$name(&mut store);
            let again = cold_reopen(store).await;
            again.close().await.unwrap();
        }
    };
    ($name:ident, reopen) => {
        #[wasm_bindgen_test]
        async fn $name() {
            let store = fresh(stringify!($name)).await;
            let store = conformance::$name(store, &mut warm);
            let again = cold_reopen(store).await;
            again.close().await.unwrap();
        }
    };
}

check!(check_missing_key);
check!(check_put_get_overwrite_delete);
check!(check_delete_missing);
check!(check_areas_independent);
check!(check_keys_ascending);
check!(check_empty_values);
check!(check_large_blobs);
check!(check_batch_order);
check!(check_stored_bytes);
check!(check_durable_write_survives_reopen, reopen);
check!(check_sync_survives_reopen, reopen);
check!(check_write_after_reopen, reopen);
check!(check_many_keys, reopen);
check!(
    check_deferred_write_reaches_the_store_before_the_next_superblock,
    reopen
);
