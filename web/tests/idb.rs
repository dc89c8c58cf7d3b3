//! `IdbStore` behaviour beyond the conformance suite, in headless
//! Chromium within the 2 MiB budget: key forms, the write queue (group
//! commit, asynchronous durability), the Web Lock, failures and what a
//! reopen finds after them, a store dropped without closing (a crash),
//! lazy paging's record of pages not yet durable, and the read helpers
//! (`idb::request`).

#![cfg(target_arch = "wasm32")]

use bytes::Bytes;
use moonvault_pager::store::{Area, BlobStore, StoreError, WriteOp};
use moonvault_pager::Page;
use moonvault_web::idb::lazy::{LazyPages, Lookup, NOT_SENT};
use moonvault_web::idb::{key, request, IdbOptions, IdbStore, OnLocked};
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

/// The live sets on the JS heap (whose `mask` and `locate` are JS
/// functions) plan every transaction as the native model does, and locate
/// every page alike: runs, rewrites and deletes across a chunk boundary,
/// and pages past the largest group key.
#[wasm_bindgen_test]
fn js_live_sets_plan_and_locate_as_the_model_does() {
    use moonvault_web::idb::groups::{Directory, JsDirectory, PageWrite, CHUNK_IDS};
    let mut js = JsDirectory::new();
    let mut model: Directory = Directory::new();
    // A fixed pseudo-random sequence (xorshift), so a failure repeats.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let base = CHUNK_IDS - 100;
    let (mut grouped, mut full) = (0, 0);
    for round in 0..300 {
        let mut writes = std::collections::BTreeMap::new();
        for _ in 0..1 + next(4) {
            let start = base + next(200);
            // Small pages in some runs, so that groups reach 32 pages.
            let most = if next(2) == 0 { 400 } else { 3000 };
            // Deletes in some runs only, so that runs of 32 puts happen.
            let deletes = next(3) == 0;
            for id in start..start + 1 + next(40) {
                let delete = deletes && next(3) == 0;
                let len = (!delete).then(|| 100 + next(most) as u32);
                writes.insert(id, len);
            }
        }
        if round % 50 == 0 {
            writes.insert(key::MAX_SAFE + 1 + next(3), Some(100));
        }
        let writes: Vec<PageWrite> = writes
            .into_iter()
            .map(|(id, len)| PageWrite { id, len })
            .collect();
        let plan = js.plan(&writes);
        assert_eq!(plan, model.plan(&writes), "round {round}");
        grouped += plan.groups.len();
        full += plan.groups.iter().filter(|g| g.1 == 32).count();
        for id in (base - 40..base + 260).chain(key::MAX_SAFE - 2..key::MAX_SAFE + 4) {
            assert_eq!(js.locate(id), model.locate(id), "round {round}, page {id}");
        }
        assert_eq!(js.firsts(), model.firsts(), "round {round}");
    }
    assert!(
        grouped > 50 && full > 5,
        "the sequence made {grouped} groups, {full} of 32 pages"
    );
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
    let kept = raw_idb(
        "foreign",
        "return [db.version, [...db.objectStoreNames]].join();",
    )
    .await;
    assert_eq!(
        kept.as_string().as_deref(),
        Some("1,other"),
        "left as it was"
    );
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

/// Runs `body` (JS statements with `db`, an open connection to store
/// `name`'s database, ending in a promise or value) and returns what it
/// gives; the connection is closed afterwards.
async fn raw_idb(name: &str, body: &str) -> JsValue {
    let run = js_sys::Function::new_with_args(
        "name",
        &format!(
            r#"return new Promise((ok, fail) => {{
                const r = indexedDB.open('moonvault:' + name);
                r.onerror = () => fail(r.error);
                r.onsuccess = async () => {{
                    const db = r.result;
                    try {{ ok(await (async () => {{ {body} }})()); }}
                    catch (e) {{ fail(e); }}
                    finally {{ db.close(); }}
                }};
            }});"#
        ),
    );
    let p: js_sys::Promise = run.call1(&JsValue::NULL, &name.into()).unwrap().into();
    wasm_bindgen_futures::JsFuture::from(p).await.unwrap()
}

/// `[pages keys, groups keys, live sets]` of store `name` (a JSON string).
async fn layout(name: &str) -> String {
    let got = raw_idb(
        name,
        r#"const all = (s, m) => new Promise((ok, fail) => {
               const q = db.transaction(s).objectStore(s)[m]();
               q.onsuccess = () => ok(q.result); q.onerror = () => fail(q.error);
           });
           // Chunk records of [u16 offset, u32 mask] entries (groups.rs).
           const masks = [];
           for (const r of await all('members', 'getAll')) {
               const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
               for (let at = 0; at < r.byteLength; at += 6) masks.push(v.getUint32(at + 2, true));
           }
           return JSON.stringify([await all('pages', 'getAllKeys'), await all('groups', 'getAllKeys'), masks]);"#,
    )
    .await;
    got.as_string().unwrap()
}

#[wasm_bindgen_test]
async fn runs_of_page_puts_go_as_groups_and_each_page_keeps_one_home() {
    let name = "groups";
    let mut store = fresh(name).await;
    let pages: Vec<String> = (0..=10).map(|i| format!("page {i}")).collect();
    store
        .write(
            (1..=10).map(|i| put(i, &pages[i as usize])).collect(),
            false,
        )
        .unwrap();
    store.flush().await.unwrap();
    assert_eq!(
        layout(name).await,
        "[[],[1],[1023]]",
        "ten pages, one record"
    );

    // A rewrite becomes a single, a delete clears its bit: no other record.
    store
        .write(
            vec![
                put(3, "three"),
                WriteOp::Delete {
                    area: Area::Pages,
                    key: 5,
                },
            ],
            false,
        )
        .unwrap();
    // A short run next to the group is singles.
    store
        .write(vec![put(11, "a"), put(12, "b")], false)
        .unwrap();
    store.flush().await.unwrap();
    assert_eq!(layout(name).await, "[[3,11,12],[1],[1003]]");
    let bytes = store.stored_bytes(Area::Pages).unwrap();
    store.close().await.unwrap();

    let mut store = reopen(name).await;
    for i in 1..=10 {
        let want = match i {
            3 => Some("three".to_string()),
            5 => None,
            _ => Some(pages[i as usize].clone()),
        };
        assert_eq!(text(&store, i), want, "page {i} after reopen");
    }
    assert_eq!(
        store.keys(Area::Pages).unwrap(),
        [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12]
    );
    assert_eq!(store.stored_bytes(Area::Pages).unwrap(), bytes);

    // A new run over the group's ids takes them over; the old group keeps
    // only what the run leaves it, and goes when that is gone.
    store
        .write(
            (2..=9).map(|i| put(i, &format!("again {i}"))).collect(),
            false,
        )
        .unwrap();
    store.flush().await.unwrap();
    assert_eq!(layout(name).await, "[[11,12],[1,2],[513,255]]");
    let deletes = [1, 10].map(|key| WriteOp::Delete {
        area: Area::Pages,
        key,
    });
    store.write(deletes.to_vec(), false).unwrap();
    store.flush().await.unwrap();
    assert_eq!(layout(name).await, "[[11,12],[2],[255]]");
    assert_eq!(text(&store, 9).as_deref(), Some("again 9"));
    store.close().await.unwrap();
    let store = reopen(name).await;
    assert_eq!(
        store.keys(Area::Pages).unwrap(),
        [2, 3, 4, 5, 6, 7, 8, 9, 11, 12]
    );
    assert_eq!(text(&store, 5).as_deref(), Some("again 5"));
    store.close().await.unwrap();
}

#[wasm_bindgen_test]
async fn a_layout_version_1_database_upgrades_and_reads_as_it_was() {
    let _ = IdbStore::delete("v1").await;
    // What a build before page groups left: three object stores.
    let make = js_sys::Function::new_no_args(
        r#"return new Promise((ok, fail) => {
            const r = indexedDB.open('moonvault:v1', 1);
            r.onupgradeneeded = () => {
                for (const s of ['meta', 'pages', 'wal']) r.result.createObjectStore(s);
            };
            r.onsuccess = () => {
                const tx = r.result.transaction(['pages', 'wal'], 'readwrite');
                for (let i = 1; i <= 6; i++) tx.objectStore('pages').put(new TextEncoder().encode('old ' + i), i);
                tx.objectStore('wal').put(new Uint8Array([7]), 1);
                tx.oncomplete = () => { r.result.close(); ok(); };
                tx.onabort = () => fail(tx.error);
            };
            r.onerror = () => fail(r.error);
        });"#,
    );
    let p: js_sys::Promise = make.call0(&JsValue::NULL).unwrap().into();
    wasm_bindgen_futures::JsFuture::from(p).await.unwrap();
    let mut store = reopen("v1").await;
    for i in 1..=6 {
        assert_eq!(text(&store, i), Some(format!("old {i}")));
    }
    assert_eq!(
        store.get(Area::Wal, 1).unwrap().as_deref(),
        Some(&[7u8][..])
    );
    // Rewritten as a run, the pages move into a group of the new layout.
    store
        .write(
            (1..=6).map(|i| put(i, &format!("new {i}"))).collect(),
            false,
        )
        .unwrap();
    store.close().await.unwrap();
    assert_eq!(layout("v1").await, "[[],[1],[63]]");
    let version = raw_idb("v1", "return db.version;").await;
    assert_eq!(version.as_f64(), Some(2.0));
    let store = reopen("v1").await;
    assert_eq!(text(&store, 6).as_deref(), Some("new 6"));
    store.close().await.unwrap();
    IdbStore::delete("v1").await.unwrap();
}

#[wasm_bindgen_test]
async fn a_later_layout_version_is_refused_and_left_alone() {
    let _ = IdbStore::delete("later").await;
    let make = js_sys::Function::new_no_args(
        r#"return new Promise((ok, fail) => {
            const r = indexedDB.open('moonvault:later', 3);
            r.onupgradeneeded = () => {
                for (const s of ['meta', 'pages', 'wal', 'groups', 'members', 'next']) r.result.createObjectStore(s);
            };
            r.onsuccess = () => { r.result.close(); ok(); };
            r.onerror = () => fail(r.error);
        });"#,
    );
    let p: js_sys::Promise = make.call0(&JsValue::NULL).unwrap().into();
    wasm_bindgen_futures::JsFuture::from(p).await.unwrap();
    let err = IdbStore::open("later", IdbOptions::default())
        .await
        .expect_err("a later layout");
    assert!(err.to_string().contains("newer moonvault"), "{err}");
    assert_eq!(
        raw_idb("later", "return db.version;").await.as_f64(),
        Some(3.0)
    );
    IdbStore::delete("later").await.unwrap();
}

/// A database of its own for the read helpers of `idb::request`: object
/// store `pages` (keys 1..=5 -> "p<k>", and the far key
/// "9007199254740993", a string as keys past 2^53 - 1 are) and `groups`
/// (key 10 -> "g10").
async fn read_fixture() -> web_sys::IdbDatabase {
    let make = js_sys::Function::new_no_args(
        r#"return new Promise((ok, fail) => {
            const gone = indexedDB.deleteDatabase('moonvault-test-reads');
            gone.onerror = () => fail(gone.error);
            gone.onsuccess = () => {
                const r = indexedDB.open('moonvault-test-reads', 1);
                r.onupgradeneeded = () => {
                    const pages = r.result.createObjectStore('pages');
                    for (let k = 1; k <= 5; k++) pages.put('p' + k, k);
                    pages.put('far', '9007199254740993');
                    r.result.createObjectStore('groups').put('g10', 10);
                };
                r.onerror = () => fail(r.error);
                r.onsuccess = () => ok(r.result);
            };
        });"#,
    );
    let p: js_sys::Promise = make.call0(&JsValue::NULL).unwrap().into();
    wasm_bindgen_futures::JsFuture::from(p)
        .await
        .unwrap()
        .into()
}

async fn settled(read: request::RangeRead) -> String {
    let got = wasm_bindgen_futures::JsFuture::from(read.promise)
        .await
        .unwrap();
    js_sys::JSON::stringify(&got).unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
async fn reads_settle_with_their_results_or_their_error() {
    let db = read_fixture().await;
    // Spans and records in one transaction; a missing record is undefined.
    let read = request::read_spans(&db, "pages", &[(1, 2), (4, 5)], "groups", &[10, 11]).unwrap();
    assert_eq!(
        settled(read).await,
        r#"[[1,2,4,5],["p1","p2","p4","p5"],["g10",null]]"#
    );
    let read = request::read_spans(&db, "pages", &[], "groups", &[10]).unwrap();
    assert_eq!(settled(read).await, r#"[[],[],["g10"]]"#);
    let read = request::read_range(&db, "pages", &JsValue::from(3), 2).unwrap();
    assert_eq!(settled(read).await, r#"[[3,4],["p3","p4"]]"#);
    // A listing past 2^53 - 1 lists every string key.
    let read = request::list_keys(&db, "pages", 4, u64::MAX).unwrap();
    assert_eq!(settled(read).await, r#"[4,5,"9007199254740993"]"#);
    let read = request::list_keys(&db, "pages", 2, 3).unwrap();
    assert_eq!(settled(read).await, "[2,3]");
    // An object store that is not there: refused when the read starts.
    assert!(request::read_spans(&db, "nope", &[(1, 2)], "groups", &[]).is_err());
    assert!(request::list_keys(&db, "nope", 1, 2).is_err());
    // One request: its result, or its error.
    let pages = |mode| {
        db.transaction_with_str_and_mode("pages", mode)
            .unwrap()
            .object_store("pages")
            .unwrap()
    };
    let found = pages(web_sys::IdbTransactionMode::Readonly)
        .get(&JsValue::from(2))
        .unwrap();
    assert_eq!(
        request::wait(&found).await.unwrap().as_string().as_deref(),
        Some("p2")
    );
    let clash = pages(web_sys::IdbTransactionMode::Readwrite)
        .add_with_key(&"again".into(), &JsValue::from(1))
        .unwrap();
    let err = request::wait(&clash).await.expect_err("the key is taken");
    let name = js_sys::Reflect::get(&err, &"name".into()).unwrap();
    assert_eq!(name.as_string().as_deref(), Some("ConstraintError"));
    db.close();
}
