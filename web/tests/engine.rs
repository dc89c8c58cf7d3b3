//! The engine compiled to wasm, in headless Chromium, on `IdbStore` with
//! the web build's options: the data model end to end, recovery from the
//! WAL after a crash (a store dropped without closing, as a closed tab), a
//! model check with random crashes at IndexedDB boundaries, and the export
//! format moving between IndexedDB and an in-memory (native-style) store.

#![cfg(target_arch = "wasm32")]

use std::collections::BTreeMap;

use moonvault_engine::codec::{Key, Value};
use moonvault_engine::export::{export, import};
use moonvault_engine::query::{Order, Query};
use moonvault_engine::schema::{FieldRule, Schema};
use moonvault_engine::{Db, Input, Store, TableRead, ROOT};
use moonvault_pager::store::memory::MemoryStore;
use moonvault_web::idb::IdbStore;
use wasm_bindgen_test::*;

mod common;

use common::{close, open};

wasm_bindgen_test_configure!(run_in_browser);

async fn fresh(name: &str) -> (IdbStore, Store) {
    IdbStore::delete(name).await.expect("delete");
    open(name).await
}

/// A crash: the handles go away without a checkpoint or a close; only what
/// IndexedDB completed survives.
fn crash(idb: IdbStore, store: Store) {
    drop(store);
    drop(idb);
}

fn k(s: &str) -> Key {
    Key::from(s)
}

#[wasm_bindgen_test]
async fn tables_indexes_queries_schemas_and_migrations() {
    let (idb, store) = fresh("engine-model").await;
    let users = store.ensure_path(&[k("users")]).unwrap();
    store.create_index(users, "age", false).unwrap();
    store
        .set_schema(
            users,
            Some(Schema::open().field("age", FieldRule::integer().min(0.0))),
        )
        .unwrap();
    store
        .write(|tx| {
            for i in 0..500i64 {
                let rec = Input::table([
                    ("name", Input::from(format!("u{i}"))),
                    ("age", Input::from(i % 100)),
                    ("tags", Input::table([(1i64, Input::from("t"))])),
                ]);
                tx.set(users, Key::Int(i), rec)?;
            }
            Ok(())
        })
        .unwrap();
    assert!(store
        .set(
            users,
            Key::Int(9999),
            Input::table([("age", Input::from(-1i64))])
        )
        .is_err());
    let snap = store.read().unwrap();
    let q = Query::new(users)
        .between("age", 10, 12)
        .order_by("age", Order::Desc)
        .limit(4);
    assert!(snap.explain(&q).unwrap().uses_index());
    let ages: Vec<Option<Value>> = snap
        .query(&q)
        .unwrap()
        .map(|r| {
            let (_, v) = r.unwrap();
            let Value::Table(id) = v else {
                panic!("a record")
            };
            snap.get(id, &k("age")).unwrap()
        })
        .collect();
    assert_eq!(ages, vec![Some(Value::Int(12)); 4]);
    drop(snap);
    let mut steps = [|tx: &mut moonvault_engine::Txn| tx.set(ROOT, k("migrated"), true)];
    assert_eq!(store.migrate(1, &mut steps).unwrap(), 1);
    store.delete(users, Key::Int(3)).unwrap();
    close(idb, store).await;

    let (idb, store) = open("engine-model").await;
    let snap = store.read().unwrap();
    let users = snap.lookup(&[k("users")]).unwrap().unwrap();
    assert_eq!(snap.len(users).unwrap(), 499);
    assert_eq!(snap.user_version().unwrap(), 1);
    assert_eq!(snap.count(&Query::new(users).eq("age", 3)).unwrap(), 4);
    for def in store.indexes().unwrap() {
        moonvault_engine::index::verify_index(&snap, &def).unwrap();
    }
    store.db().check().unwrap();
    drop(snap);
    close(idb, store).await;
}

#[wasm_bindgen_test]
async fn a_crash_keeps_flushed_commits_and_recovery_replays_the_wal() {
    let (idb, store) = fresh("engine-crash").await;
    let t = store.ensure_path(&[k("t")]).unwrap();
    for i in 0..20i64 {
        store.set(t, Key::Int(i), i * 10).unwrap();
    }
    idb.flush().await.unwrap();
    // Written to the engine, not flushed. The first commit's WAL record is
    // in a transaction at once, which completes though the page goes away
    // (IndexedDB finishes what was handed to it); the second waits for it,
    // so the crash loses it.
    store.set(t, Key::Int(100), 1i64).unwrap();
    store.set(t, Key::Int(101), 1i64).unwrap();
    crash(idb, store);

    let (idb, store) = open("engine-crash").await;
    let stats = store.db().stats().unwrap();
    assert!(stats.recovered_records > 0, "{stats:?}");
    let snap = store.read().unwrap();
    assert_eq!(snap.get(t, &Key::Int(19)).unwrap(), Some(Value::Int(190)));
    assert_eq!(snap.get(t, &Key::Int(101)).unwrap(), None);
    // The in-flight one may or may not have completed: a prefix either way.
    let in_flight = snap.get(t, &Key::Int(100)).unwrap().is_some();
    assert_eq!(snap.len(t).unwrap(), 20 + u64::from(in_flight));
    drop(snap);
    store.db().check().unwrap();
    close(idb, store).await;
}

/// xorshift, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[wasm_bindgen_test]
async fn random_commits_and_crashes_match_a_model() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut idb, mut store) = fresh("engine-random").await;
    let t = store.ensure_path(&[k("m")]).unwrap();
    idb.flush().await.unwrap();
    // What is durable, what is committed on top of it, and the state after
    // each commit since the durable one (a crash keeps a prefix of them:
    // the transaction in flight completes, the batches after it are lost).
    let mut durable: BTreeMap<i64, i64> = BTreeMap::new();
    let mut committed = durable.clone();
    let mut since = vec![durable.clone()];
    for step in 0..300 {
        match rng.next(10) {
            0..=5 => {
                // A commit of a few sets and deletes.
                let ops: Vec<(i64, Option<i64>)> = (0..1 + rng.next(20))
                    .map(|_| {
                        let key = rng.next(200) as i64;
                        let value = (rng.next(3) > 0).then(|| rng.next(1_000_000) as i64);
                        (key, value)
                    })
                    .collect();
                store
                    .write(|tx| {
                        for (key, value) in &ops {
                            match value {
                                Some(v) => tx.set(t, Key::Int(*key), *v)?,
                                None => tx.delete(t, Key::Int(*key))?,
                            }
                        }
                        Ok(())
                    })
                    .unwrap();
                for (key, value) in ops {
                    match value {
                        Some(v) => committed.insert(key, v),
                        None => committed.remove(&key),
                    };
                }
                since.push(committed.clone());
            }
            6..=7 => {
                idb.flush().await.unwrap();
                durable = committed.clone();
                since = vec![durable.clone()];
            }
            8 => store.db().checkpoint().unwrap(),
            _ => {
                crash(idb, store);
                (idb, store) = open("engine-random").await;
                let snap = store.read().unwrap();
                let mut found = BTreeMap::new();
                for e in snap.entries(t) {
                    let (key, v) = e.unwrap();
                    let (Key::Int(key), Value::Int(v)) = (key, v) else {
                        panic!("shape")
                    };
                    found.insert(key, v);
                }
                assert!(
                    since.contains(&found),
                    "after the crash at step {step}: neither the durable state nor it with \
                     a prefix of the commits after it"
                );
                durable = found;
                committed = durable.clone();
                since = vec![durable.clone()];
            }
        }
    }
    close(idb, store).await;
}

#[wasm_bindgen_test]
async fn the_export_format_moves_between_indexeddb_and_memory() {
    let (idb, store) = fresh("engine-export").await;
    store
        .write(|tx| {
            let u = tx.ensure_path(&[k("users")])?;
            // Enough for several pages, few enough that the in-memory
            // store and both files fit the module's 512 KiB Rust heap.
            for i in 0..600i64 {
                tx.set(u, Key::Int(i), Input::table([("n", Input::from(i))]))?;
            }
            tx.set(ROOT, k("bytes"), Input::Value(Value::Str(vec![0, 255, 7])))
        })
        .unwrap();
    let mut file = Vec::new();
    let n = export(store.db(), &mut |c| {
        file.extend_from_slice(c);
        Ok(())
    })
    .unwrap();
    close(idb, store).await;

    // Into an in-memory store (as the native CLI would read it) and back;
    // with the browser's engine options, as the store lives in the module's
    // heap beside the two files.
    let memory = Db::open(
        Box::new(MemoryStore::new()),
        moonvault_web::budget::engine_options(),
    )
    .unwrap();
    assert_eq!(import(&memory, &file).unwrap(), n);
    let mut again = Vec::new();
    export(&memory, &mut |c| {
        again.extend_from_slice(c);
        Ok(())
    })
    .unwrap();
    assert_eq!(again, file, "byte for byte the same export");
    let (idb, store) = fresh("engine-import").await;
    assert_eq!(import(store.db(), &again).unwrap(), n);
    assert_eq!(
        store.get(ROOT, &k("bytes")).unwrap(),
        Some(Value::Str(vec![0, 255, 7]))
    );
    close(idb, store).await;
}
