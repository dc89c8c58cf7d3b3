//! The memory budget in the browser: a 100K-record store and a 100K-insert
//! transaction, on `IdbStore` with the web build's engine options, inside
//! the 2 MiB of linear memory (which the linker makes a hard cap: going
//! past it would trap, so these tests also check the figure directly).

#![cfg(target_arch = "wasm32")]

use moonvault_engine::codec::{Key, Value};
use moonvault_engine::query::{Order, Query};
use moonvault_engine::{Input, TableRead};
use moonvault_web::api::stats::linear_memory;
use moonvault_web::budget::LINEAR_MEMORY;
use moonvault_web::idb::IdbStore;
use wasm_bindgen_test::*;

mod common;

use common::{close, open};

wasm_bindgen_test_configure!(run_in_browser);

fn check_memory(stage: &str) -> usize {
    let m = linear_memory() as usize;
    web_sys::console::log_1(&format!("{stage}: linear memory {} KiB", m / 1024).into());
    assert!(m <= LINEAR_MEMORY, "{stage}: {m} bytes of linear memory");
    m
}

fn user(i: i64) -> Input {
    Input::table([
        ("name", Input::from(format!("user{i:06}"))),
        ("age", Input::from(18 + i % 70)),
        ("score", Input::from((i % 1000) as f64 / 10.0)),
    ])
}

extern "C" {
    /// Where wasm-ld ends static data (and the Lua arena): the allocator
    /// takes memory from the page after it.
    static __heap_base: u8;
}

#[wasm_bindgen_test]
fn static_data_ends_within_its_budget() {
    use moonvault_web::budget::{LUA_ARENA, RUST_HEAP, STACK, STATIC_DATA, WASM_PAGE};
    let heap_base = std::ptr::addr_of!(__heap_base) as usize;
    let budgeted = STACK + STATIC_DATA + LUA_ARENA;
    web_sys::console::log_1(
        &format!(
            "static data {} KiB of {} KiB budgeted",
            (heap_base - STACK - LUA_ARENA) / 1024,
            STATIC_DATA / 1024
        )
        .into(),
    );
    assert!(
        heap_base <= budgeted,
        "__heap_base {heap_base} > {budgeted}"
    );
    assert_eq!(
        LINEAR_MEMORY - heap_base.next_multiple_of(WASM_PAGE),
        RUST_HEAP,
        "the Rust heap"
    );
}

#[wasm_bindgen_test]
async fn a_100k_record_store_fits() {
    IdbStore::delete("budget-100k").await.unwrap();
    let (idb, store) = open("budget-100k").await;
    check_memory("opened");
    let users = store.ensure_path(&[Key::from("users")]).unwrap();
    store.create_index(users, "age", false).unwrap();
    for chunk in 0..100i64 {
        store
            .write(|tx| {
                for i in chunk * 1000..(chunk + 1) * 1000 {
                    tx.set(users, Key::Int(i), user(i))?;
                }
                Ok(())
            })
            .unwrap();
        if chunk % 10 == 9 {
            idb.flush().await.unwrap();
            check_memory(&format!("{} records", (chunk + 1) * 1000));
        }
    }
    let snap = store.read().unwrap();
    assert_eq!(snap.len(users).unwrap(), 100_000);
    let q = Query::new(users)
        .gt("age", 80)
        .order_by("age", Order::Desc)
        .limit(10);
    assert!(snap.explain(&q).unwrap().uses_index());
    let rows: Vec<_> = snap.query(&q).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 10);
    assert_eq!(
        snap.count(&Query::new(users).eq("age", 30)).unwrap(),
        100_000 / 70 + 1
    );
    // (The engine's table_stats holds every child id: too much here.)
    let stats = moonvault_web::measure::measure(&snap, users).unwrap();
    assert_eq!(stats.entries, 100_000 * 4);
    drop(snap);
    check_memory("queried and measured");
    let stored = idb.stats().bytes.iter().sum::<u64>();
    web_sys::console::log_1(
        &format!(
            "100K records: {} KiB in IndexedDB (JS side), {} logical bytes",
            stored / 1024,
            stats.logical_bytes
        )
        .into(),
    );
    close(idb, store).await;

    // Reopen: the whole store loads into the JS mirror, not linear memory.
    let (idb, store) = open("budget-100k").await;
    let users2 = store
        .read()
        .unwrap()
        .lookup(&[Key::from("users")])
        .unwrap()
        .unwrap();
    assert_eq!(store.read().unwrap().len(users2).unwrap(), 100_000);
    assert_eq!(
        store
            .get(users2, &Key::Int(99_999))
            .unwrap()
            .map(|v| matches!(v, Value::Table(_))),
        Some(true)
    );
    check_memory("reopened");
    close(idb, store).await;
}

#[wasm_bindgen_test]
async fn a_100k_insert_transaction_fits() {
    IdbStore::delete("budget-txn").await.unwrap();
    let (idb, store) = open("budget-txn").await;
    let t = store.ensure_path(&[Key::from("big")]).unwrap();
    store
        .write(|tx| {
            for i in 0..100_000i64 {
                tx.set(t, Key::Int(i), Input::from(format!("value number {i}")))?;
            }
            Ok(())
        })
        .unwrap();
    check_memory("100K inserts committed");
    idb.flush().await.unwrap();
    let snap = store.read().unwrap();
    assert_eq!(snap.len(t).unwrap(), 100_000);
    assert_eq!(
        snap.get(t, &Key::Int(54_321)).unwrap(),
        Some(Value::Str(b"value number 54321".to_vec()))
    );
    drop(snap);
    close(idb, store).await;
    let (idb, store) = open("budget-txn").await;
    assert_eq!(store.read().unwrap().len(t).unwrap(), 100_000);
    check_memory("reopened");
    close(idb, store).await;
}
