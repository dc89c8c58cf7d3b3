//! `IdbStore` behaviour beyond the conformance suite, in headless
//! Chromium within the 2 MiB budget: key forms, the write queue (group
//! commit, asynchronous durability), the Web Lock, failures and what a
//! reopen finds after them, a store dropped without closing (a crash), and
//! lazy paging's record of pages not yet durable.

#![cfg(target_arch = "wasm32")]

use bytes::Bytes;
use moonvault_pager::store::{Area, BlobStore, StoreError, WriteOp};
use moonvault_pager::Page;
use moonvault_web::idb::lazy::{LazyPages, Lookup, NOT_SENT};
use moonvault_web::idb::{key, IdbOptions, IdbStore, OnLocked};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn put(key: u64, value: &str) -> WriteOp {
    WriteOp::Put {
        area: Area::Pages,
        key,
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}

/// A WAL record put, as a commit writes it.
fn wal(seq: u64) -> WriteOp {
    WriteOp::Put {
        area: Area::Wal,
        key: seq,
        value: Bytes::from_static(b"record"),
    }
}

async fn fresh(name: &str) -> IdbStore {
    IdbStore::delete(name).await.expect("delete");
    IdbStore::open(name, IdbOptions::default())
        .await
        .expect("open")
}

async fn reopen(name: &str) -> IdbStore {
    let options = IdbOptions {
        on_locked: OnLocked::Wait,
        ..IdbOptions::default()
    };
    IdbStore::open(name, options).await.expect("reopen")
}

fn text(store: &IdbStore, key: u64) -> Option<String> {
    store
        .get(Area::Pages, key)
        .unwrap()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
}

/// Makes the next readwrite transaction abort the way a full disk does:
/// `abort` with `error` a QuotaExceededError DOMException.
fn fail_next_transaction_with_quota() {
    let install = js_sys::Function::new_no_args(
        r#"
        if (!globalThis.__mvQuotaPatch) {
            globalThis.__mvQuotaPatch = true;
            const commit = IDBTransaction.prototype.commit;
            IDBTransaction.prototype.commit = function () {
                if (globalThis.__mvFailNext && this.mode === 'readwrite') {
                    globalThis.__mvFailNext = false;
                    Object.defineProperty(this, 'error', {
                        value: new DOMException('simulated: the quota is used up', 'QuotaExceededError'),
                    });
                    this.abort();
                    return;
                }
                return commit.call(this);
            };
        }
        globalThis.__mvFailNext = true;
        "#,
    );
    install.call0(&JsValue::NULL).unwrap();
}

#[wasm_bindgen_test]
fn key_forms_round_trip_and_reject_others() {
    for k in [0, 1, 4096, key::MAX_SAFE, key::MAX_SAFE + 1, u64::MAX] {
        assert_eq!(key::from_js(&key::to_js(k)), Ok(k), "{k}");
    }
    assert!(key::to_js(key::MAX_SAFE).as_f64().is_some());
    assert!(key::to_js(key::MAX_SAFE + 1).as_string().is_some());
    for bad in [
        JsValue::from_f64(-1.0),
        JsValue::from_f64(1.5),
        JsValue::from_f64(f64::NAN),
        JsValue::from_f64(9007199254740992.0),
        JsValue::from_str("12"),
        JsValue::from_str("09007199254740993"),
        JsValue::from_str("18446744073709551616"),
        JsValue::TRUE,
    ] {
        assert!(key::from_js(&bad).is_err(), "{bad:?}");
    }
}

#[wasm_bindgen_test]
async fn batches_of_one_task_share_one_transaction_and_flush_waits_for_it() {
    let mut store = fresh("group-commit").await;
    for i in 0..5 {
        store.write(vec![put(i, "v")], i == 4).unwrap();
    }
    let s = store.stats();
    assert_eq!((s.batches, s.durable_batches, s.transactions), (5, 0, 0));
    store.flush().await.unwrap();
    let s = store.stats();
    assert_eq!((s.batches, s.durable_batches, s.transactions), (5, 5, 1));
    // An empty batch is durable without a transaction.
    store.write(Vec::new(), true).unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.stats().transactions, 1);
    assert_eq!(store.stats().durable_batches, 6);
    store.close().await.unwrap();
}

/// How many readwrite transactions the page has created (counted from the
/// first call on).
fn readwrite_transactions_created() -> u32 {
    let count = js_sys::Function::new_no_args(
        r#"
        if (!globalThis.__mvTxCounter) {
            globalThis.__mvTxCounter = 0;
            const transaction = IDBDatabase.prototype.transaction;
            IDBDatabase.prototype.transaction = function (...args) {
                if (args[1] === 'readwrite') globalThis.__mvTxCounter++;
                return transaction.apply(this, args);
            };
        }
        return globalThis.__mvTxCounter;
        "#,
    );
    count.call0(&JsValue::NULL).unwrap().as_f64().unwrap() as u32
}

#[wasm_bindgen_test]
async fn a_batch_of_wal_records_starts_its_transaction_at_once() {
    let mut store = fresh("wal-at-once").await;
    let started = readwrite_transactions_created();
    store.write(vec![wal(1)], true).unwrap();
    assert_eq!(
        readwrite_transactions_created(),
        started + 1,
        "started within the write"
    );
    // Batches of the same task wait for it, and share the next one.
    store.write(vec![put(1, "page")], false).unwrap();
    store.write(vec![wal(2)], true).unwrap();
    assert_eq!(readwrite_transactions_created(), started + 1);
    store.flush().await.unwrap();
    let s = store.stats();
    assert_eq!((s.batches, s.durable_batches, s.transactions), (3, 3, 2));
    store.close().await.unwrap();
    let store = reopen("wal-at-once").await;
    assert_eq!(text(&store, 1).as_deref(), Some("page"));
    assert!(store.get(Area::Wal, 2).unwrap().is_some());
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn writes_while_a_transaction_is_in_flight_go_in_the_next_one() {
    let mut store = fresh("in-flight").await;
    store.write(vec![put(1, "a")], false).unwrap();
    let first = store.flush_promise();
    // Let the microtask start transaction 1, then write more while it runs.
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&JsValue::NULL))
        .await
        .unwrap();
    store.write(vec![put(1, "b"), put(2, "c")], false).unwrap();
    store
        .write(
            vec![WriteOp::Delete {
                area: Area::Pages,
                key: 2,
            }],
            false,
        )
        .unwrap();
    wasm_bindgen_futures::JsFuture::from(first).await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.stats().transactions, 2);
    store.close().await.unwrap();
    let store = reopen("in-flight").await;
    assert_eq!(text(&store, 1).as_deref(), Some("b"));
    assert_eq!(text(&store, 2), None);
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn a_second_opener_gets_a_clear_error_or_waits() {
    let store = fresh("locked").await;
    let err = IdbStore::open("locked", IdbOptions::default())
        .await
        .expect_err("second open must fail");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("locked") && msg.contains("onLocked"), "{msg}");
    assert!(matches!(
        IdbStore::delete("locked").await,
        Err(StoreError::Locked { .. })
    ));

    // A waiting opener gets in once the holder closes.
    let waiting = wasm_bindgen_futures::future_to_promise(async {
        let s = reopen("locked").await;
        s.close().await.unwrap();
        Ok(JsValue::TRUE)
    });
    store.close().await.unwrap();
    let got = wasm_bindgen_futures::JsFuture::from(waiting).await.unwrap();
    assert_eq!(got, JsValue::TRUE);
}

#[wasm_bindgen_test]
async fn a_failed_transaction_poisons_and_reopen_finds_the_last_durable_state() {
    let mut store = fresh("quota").await;
    store.write(vec![put(1, "kept")], true).unwrap();
    store.flush().await.unwrap();

    fail_next_transaction_with_quota();
    store
        .write(vec![put(1, "lost"), put(2, "lost")], true)
        .unwrap();
    // Read-your-writes until the failure is known...
    assert_eq!(text(&store, 1).as_deref(), Some("lost"));
    let err = store
        .flush()
        .await
        .expect_err("flush must report the abort");
    let msg = err.to_string();
    assert!(
        msg.contains("QuotaExceededError") && msg.contains("space"),
        "{msg}"
    );
    assert!(store.failure().is_some_and(|f| f.quota));
    // ...then every call refuses, and nothing more is written.
    assert!(matches!(
        store.get(Area::Pages, 1),
        Err(StoreError::Poisoned { .. })
    ));
    assert!(store.write(vec![put(3, "refused")], true).is_err());
    assert!(store.sync().is_err());
    assert!(store.close().await.is_err(), "close reports the failure");

    let store = reopen("quota").await;
    assert_eq!(text(&store, 1).as_deref(), Some("kept"));
    assert_eq!(text(&store, 2), None);
    assert_eq!(text(&store, 3), None);
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn a_store_dropped_without_close_keeps_exactly_the_acknowledged_batches() {
    let mut store = fresh("dropped").await;
    store.write(vec![put(1, "acknowledged")], true).unwrap();
    store.flush().await.unwrap();
    store
        .write(vec![put(2, "never acknowledged")], true)
        .unwrap();
    drop(store); // as a closed tab: the queued batch never reaches IndexedDB
    let store = reopen("dropped").await;
    assert_eq!(text(&store, 1).as_deref(), Some("acknowledged"));
    assert_eq!(text(&store, 2), None);
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn durability_hints_are_accepted() {
    for (name, durability) in [
        ("strict", moonvault_web::idb::TxnDurability::Strict),
        ("relaxed", moonvault_web::idb::TxnDurability::Relaxed),
        ("default", moonvault_web::idb::TxnDurability::Default),
    ] {
        IdbStore::delete(name).await.unwrap();
        let options = IdbOptions {
            durability,
            ..IdbOptions::default()
        };
        let mut store = IdbStore::open(name, options).await.unwrap();
        store.write(vec![put(7, name)], true).unwrap();
        store.close().await.unwrap();
        let store = reopen(name).await;
        assert_eq!(text(&store, 7).as_deref(), Some(name));
        store.close().await.unwrap();
    }
}

#[wasm_bindgen_test]
async fn a_foreign_database_is_refused() {
    // A database with moonvault's name but not its object stores.
    let make = js_sys::Function::new_no_args(
        r#"return new Promise((ok, fail) => {
            const r = indexedDB.open('moonvault:foreign', 1);
            r.onupgradeneeded = () => r.result.createObjectStore('other');
            r.onsuccess = () => { r.result.close(); ok(); };
            r.onerror = () => fail(r.error);
        });"#,
    );
    let p: js_sys::Promise = make.call0(&JsValue::NULL).unwrap().into();
    wasm_bindgen_futures::JsFuture::from(p).await.unwrap();
    let err = IdbStore::open("foreign", IdbOptions::default())
        .await
        .expect_err("not a moonvault database");
    assert!(matches!(err, StoreError::Corrupted { .. }), "{err:?}");
    // The lock was released on the error path.
    IdbStore::delete("foreign").await.unwrap();
}

/// A page image of `kind` holding `data`, not checked.
fn page(kind: u8, data: &[u8]) -> Page {
    Page::new(kind, data.to_vec())
}

#[wasm_bindgen_test]
async fn decoded_pages_are_kept_until_the_page_is_written_and_within_their_bound() {
    let mut store = fresh("decoded").await;
    store.write(vec![put(5, "blob")], false).unwrap();
    assert_eq!(
        store.decoded(5),
        None,
        "nothing is kept before the pager offers it"
    );
    store.keep_decoded(5, &page(4, b"image"));
    let kept = store.decoded(5).expect("kept");
    assert_eq!(kept, page(4, b"image"));
    assert!(
        !kept.is_checked(),
        "a page not checked comes back unchecked"
    );
    // Offered again once checked, the image is marked; offered again
    // unchecked, it stays marked.
    let checked = page(4, b"image");
    checked.set_checked();
    store.keep_decoded(5, &checked);
    assert!(store.decoded(5).expect("kept").is_checked());
    store.keep_decoded(5, &page(4, b"image"));
    assert!(store.decoded(5).expect("kept").is_checked());
    let held = store.stats().js_bytes;
    // A write of the page, or of its deletion, forgets the image: the next
    // load decodes the new blob.
    store.write(vec![put(5, "new blob")], false).unwrap();
    assert_eq!(store.decoded(5), None);
    assert!(
        store.stats().js_bytes < held,
        "the image is no longer counted"
    );
    store.keep_decoded(5, &page(4, b"new image"));
    store
        .write(
            vec![WriteOp::Delete {
                area: Area::Pages,
                key: 5,
            }],
            false,
        )
        .unwrap();
    assert_eq!(store.decoded(5), None);
    // Other areas' writes leave page images alone.
    let six = page(2, b"six");
    six.set_checked();
    store.keep_decoded(6, &six);
    store
        .write(
            vec![WriteOp::Put {
                area: Area::Wal,
                key: 6,
                value: Bytes::from_static(b"log"),
            }],
            false,
        )
        .unwrap();
    let kept = store.decoded(6).expect("kept");
    assert_eq!(kept, six);
    assert!(kept.is_checked(), "a checked page comes back checked");
    // Bounded: 4 KiB images past the default 4 MiB evict the least
    // recently used; page 6, just read, outlives the first of them.
    let image = page(4, &[7u8; 4096]);
    let before = store.stats().js_bytes;
    for id in 100..1200 {
        store.keep_decoded(id, &image);
        if id == 150 {
            assert!(store.decoded(6).is_some());
        }
    }
    let grown = store.stats().js_bytes - before;
    assert!(grown <= 4 * 1024 * 1024, "{grown} bytes of images");
    assert_eq!(store.decoded(100), None, "the oldest image was evicted");
    assert_eq!(store.decoded(1199), Some(image));
    store.flush().await.unwrap();
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn held_page_writes_wait_for_a_page_or_meta_write_and_wal_records_pass_them() {
    let mut store = fresh("held").await;
    store.write_deferred(vec![put(1, "spilled")]).unwrap();
    store.write(vec![wal(1)], true).unwrap();
    store.flush().await.unwrap();
    assert_eq!(text(&store, 1).as_deref(), Some("spilled"), "read at once");
    let s = store.stats();
    assert_eq!(
        (s.batches, s.transactions),
        (1, 1),
        "the WAL record went alone"
    );
    drop(store); // a crash: the held page never reached IndexedDB
    let mut store = reopen("held").await;
    assert_eq!(text(&store, 1), None);
    assert!(store.get(Area::Wal, 1).unwrap().is_some());

    // A superblock takes the held pages along; a later page write wins.
    store
        .write_deferred(vec![put(2, "spilled"), put(3, "spilled")])
        .unwrap();
    store.write(vec![put(3, "rewritten")], false).unwrap();
    store
        .write(
            vec![WriteOp::Put {
                area: Area::Meta,
                key: 0,
                value: Bytes::from_static(b"superblock"),
            }],
            true,
        )
        .unwrap();
    store.flush().await.unwrap();
    drop(store);
    let mut store = reopen("held").await;
    assert_eq!(text(&store, 2).as_deref(), Some("spilled"));
    assert_eq!(text(&store, 3).as_deref(), Some("rewritten"));

    // Past HELD_LIMIT they go as a batch of their own.
    let page = "p".repeat(4096);
    let n = moonvault_web::idb::queue::HELD_LIMIT / 4096 + 1;
    for i in 0..n as u64 {
        store.write_deferred(vec![put(100 + i, &page)]).unwrap();
    }
    assert_eq!(store.stats().batches, 1);
    store.flush().await.unwrap();
    drop(store);
    let mut store = reopen("held").await;
    assert_eq!(text(&store, 100 + n as u64 - 1).as_deref(), Some(&page[..]));

    // And `close` writes what is held.
    store.write_deferred(vec![put(4, "at close")]).unwrap();
    store.close().await.unwrap();
    let store = reopen("held").await;
    assert_eq!(text(&store, 4).as_deref(), Some("at close"));
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
fn lazy_pages_settle_each_write_once_its_own_batch_is_durable() {
    let value = |len: usize| js_sys::Uint8Array::new_with_length(len as u32);
    let k = |id: u64| key::to_js(id);
    let mut pages = LazyPages::new(1 << 20);
    pages.put(&k(1), &value(10), 1);
    pages.put(&k(2), &value(20), 2);
    pages.put(&k(1), &value(30), 3); // written again by a later batch
    pages.put(&k(4), &value(40), NOT_SENT); // held back
    assert_eq!(pages.held_bytes(), (0, 30 + 20 + 40));
    // Batch 1 durable: page 1's newest write is batch 3's, not yet.
    pages.settle(1);
    assert_eq!(pages.held_bytes(), (0, 90));
    pages.settle(2);
    assert_eq!(pages.held_bytes(), (20, 70));
    pages.settle(3);
    assert_eq!(pages.held_bytes(), (50, 40), "the held page stays");
    // Settling again, or further, finds nothing more to move.
    pages.settle(9);
    assert_eq!(pages.held_bytes(), (50, 40));
    // The held page goes with batch 10; a page deleted before its batch
    // settles reads as absent and never reaches the cache.
    pages.put(&k(4), &value(40), 10);
    pages.put(&k(5), &value(50), 10);
    pages.delete(&k(5), 11);
    pages.settle(11);
    assert_eq!(pages.held_bytes(), (90, 0));
    assert!(matches!(pages.lookup(&k(5)), Lookup::Absent));
    match pages.lookup(&k(1)) {
        Lookup::Found(page) => assert_eq!(page.length(), 30, "the newest write"),
        _ => panic!("page 1 is cached"),
    }
}
