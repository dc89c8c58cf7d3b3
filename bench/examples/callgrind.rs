//! The bench workloads as plain functions, for instruction counts under
//! `valgrind --tool=callgrind` (stable on a loaded machine, unlike wall
//! time). Each measured workload is one `#[inline(never)]` function named
//! `measured_*`; setup runs outside it, so
//!
//! ```text
//! cargo build --release -p moonvault-bench --example callgrind
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='callgrind::measured_point_read' \
//!     target/release/examples/callgrind point_read
//! ```
//!
//! counts exactly what the criterion bench of the same name times (one
//! iteration; name the measured function, since a workload's setup may run
//! another one, such as `measured_users_load`). Workloads: point_read,
//! query_range, query_eq, bulk_load, range_100, point_get, kv_bulk_load,
//! small_txn; `redb_bulk_load`, `redb_point_read` and `redb_range_100` run
//! redb's versions. The stores and loads are the benches' own
//! (`moonvault_bench::setup`); an optional second argument sets the record
//! count (default 10,000). `report` prints the B-tree's entry and page
//! counts after the users load; `sizes` what each part of the keyspace
//! (catalog, metas, records, index) stores when written alone.
//! `lua_get_hot` and `lua_get_plain` run the Lua bench's chunk of reads
//! (the second argument is the number of reads) through `measured_lua_exec`.
//! Checkpoints encode their pages on the measured thread alone (callgrind
//! counts no other): `MOONVAULT_BENCH_ENCODE_THREADS` is 1 unless set.

use moonvault_bench::setup::{
    lua_get_hot_chunk, lua_get_hot_vault, moonvault_db, moonvault_kv_load, moonvault_range_count,
    moonvault_read_record, moonvault_store, moonvault_users_load, moonvault_users_schema,
    moonvault_view_fields, redb_kv_load, redb_read_record, redb_users_load, REDB_KV as TABLE,
    REDB_USERS as USERS,
};
use moonvault_bench::{key, random_indexes, users};
use moonvault_engine::codec::Key;
use moonvault_engine::query::Query;
use moonvault_engine::{Db, KvRead, ReadTxn, Snapshot, Store, TableId, TableRead};
use redb::ReadableDatabase;
use std::hint::black_box;
use std::ops::Bound;
use tempfile::TempDir;

fn mv_store(dir: &TempDir) -> Store {
    moonvault_store(dir.path())
}

#[inline(never)]
fn measured_users_load(store: &Store, n: u64) -> TableId {
    moonvault_users_load(store, n)
}

#[inline(never)]
fn measured_point_read(snap: &Snapshot, users: TableId, probes: &[u64]) {
    point_read(snap, users, probes)
}

fn point_read(snap: &Snapshot, users: TableId, probes: &[u64]) {
    for &i in probes {
        let fields = moonvault_read_record(snap, users, &Key::Int(i as i64 + 1));
        assert_eq!(black_box(fields), 3);
    }
}

#[inline(never)]
fn measured_query(snap: &Snapshot, q: &Query, expected: usize) {
    query(snap, q, expected)
}

fn query(snap: &Snapshot, q: &Query, expected: usize) {
    let mut got = 0;
    let mut cursor = snap.query_cursor(q).expect("query");
    while let Some(fields) = cursor
        .next_with(snap, |_, record| moonvault_view_fields(snap, record))
        .expect("record")
    {
        got += fields / 3;
    }
    assert_eq!(got, expected);
}

fn kv_loaded(dir: &TempDir, n: u64) -> Db {
    let db = moonvault_db(dir.path());
    measured_kv_load(&db, n);
    db
}

#[inline(never)]
fn measured_kv_load(db: &Db, n: u64) {
    moonvault_kv_load(db, n)
}

#[inline(never)]
fn measured_range_100(snap: &ReadTxn, starts: &[Vec<u8>]) {
    range_100(snap, starts)
}

fn range_100(snap: &ReadTxn, starts: &[Vec<u8>]) {
    for s in starts {
        assert_eq!(moonvault_range_count(snap, s, 100), 100);
    }
}

#[inline(never)]
fn measured_point_get(snap: &ReadTxn, probes: &[Vec<u8>]) {
    point_get(snap, probes)
}

fn point_get(snap: &ReadTxn, probes: &[Vec<u8>]) {
    for k in probes {
        black_box(snap.get(k).expect("get").expect("present"));
    }
}

#[inline(never)]
fn measured_small_txn(store: &Store, users: TableId, round: u64, n: u64) {
    for i in 0..1000u64 {
        let id = (i * 7 + round) % n + 1;
        store
            .set(
                users,
                Key::Int(id as i64),
                users::record((id + round) as i64),
            )
            .expect("set");
    }
}

#[inline(never)]
fn measured_redb_users_load(db: &redb::Database, n: u64) {
    redb_users_load(db, n)
}

#[inline(never)]
fn measured_redb_point_read(users: &redb::ReadOnlyTable<u64, &[u8]>, probes: &[u64]) {
    redb_point_read(users, probes)
}

fn redb_point_read(users: &redb::ReadOnlyTable<u64, &[u8]>, probes: &[u64]) {
    for &i in probes {
        let row = users.get(i + 1).expect("get").expect("present");
        assert_eq!(black_box(redb_read_record(row.value())), 3);
    }
}

#[inline(never)]
fn measured_redb_range_100(table: &redb::ReadOnlyTable<&[u8], &[u8]>, starts: &[Vec<u8>]) {
    redb_range_100(table, starts)
}

fn redb_range_100(table: &redb::ReadOnlyTable<&[u8], &[u8]>, starts: &[Vec<u8>]) {
    for s in starts {
        let got = table
            .range(s.as_slice()..)
            .expect("range")
            .take(100)
            .count();
        assert_eq!(got, 100);
    }
}

#[inline(never)]
fn measured_lua_exec(vault: &moonvault_lua_bind::Vault, code: &str) {
    lua_exec(vault, code)
}

fn lua_exec(vault: &moonvault_lua_bind::Vault, code: &str) {
    let out = vault.exec(code, "bench").expect("exec");
    black_box(out);
}

/// Passes of a read workload before the measured one, as criterion's
/// warm-up makes: each page it reads is then used often enough to have its
/// search aid (`moonvault_pager::AID_AFTER_USES`, 16; a query reads each of
/// its leaves once a pass).
const WARM_UP_PASSES: usize = 16;

fn main() {
    if std::env::var_os("MOONVAULT_BENCH_ENCODE_THREADS").is_none() {
        // Before any thread starts.
        std::env::set_var("MOONVAULT_BENCH_ENCODE_THREADS", "1");
    }
    let what = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "point_read".into());
    let n: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = TempDir::new().expect("tempdir");
    match what.as_str() {
        "bulk_load" => {
            let store = mv_store(&dir);
            measured_users_load(&store, n);
        }
        "point_read" | "query_range" | "query_eq" | "small_txn" => {
            let store = mv_store(&dir);
            let users = measured_users_load(&store, n);
            if what == "small_txn" {
                measured_small_txn(&store, users, 1, n);
                return;
            }
            let snap = store.read().expect("snapshot");
            match what.as_str() {
                "point_read" => {
                    let probes = random_indexes(n, 1000, 3);
                    // Warm the cache as criterion's warm-up does: enough
                    // passes that every page read has been used often
                    // enough to get its search aid (`AID_AFTER_USES`).
                    for _ in 0..WARM_UP_PASSES {
                        point_read(&snap, users, &probes);
                    }
                    measured_point_read(&snap, users, &probes);
                }
                "query_range" => {
                    let q = Query::new(users).gt("age", 60i64).limit(10);
                    for _ in 0..WARM_UP_PASSES {
                        query(&snap, &q, 10);
                    }
                    measured_query(&snap, &q, 10);
                }
                _ => {
                    let q = Query::new(users).eq("age", 42i64);
                    for _ in 0..WARM_UP_PASSES {
                        query(&snap, &q, (n / 50) as usize);
                    }
                    measured_query(&snap, &q, (n / 50) as usize);
                }
            }
        }
        "phases" => {
            use std::time::Instant;
            for _ in 0..5 {
                let dir = TempDir::new().expect("tempdir");
                let t0 = Instant::now();
                let store = mv_store(&dir);
                let t1 = Instant::now();
                let users = moonvault_users_schema(&store);
                let t2 = Instant::now();
                let mut tx = store.begin().expect("begin");
                for i in 1..=n as i64 {
                    tx.set(users, Key::Int(i), users::record(i)).expect("set");
                }
                let t3 = Instant::now();
                tx.commit().expect("commit");
                let t4 = Instant::now();
                println!(
                    "open {:?} schema {:?} sets {:?} commit {:?}",
                    t1 - t0,
                    t2 - t1,
                    t3 - t2,
                    t4 - t3
                );
            }
        }
        "report" => {
            let store = mv_store(&dir);
            measured_users_load(&store, n);
            println!("users: {:?}", store.db().check().expect("check"));
            let dir2 = TempDir::new().expect("tempdir");
            let db = kv_loaded(&dir2, n);
            println!("kv: {:?}", db.check().expect("check"));
        }
        "kv_bulk_load" => {
            kv_loaded(&dir, n);
        }
        "range_100" => {
            let db = kv_loaded(&dir, n);
            let snap = db.read().expect("read");
            let starts: Vec<Vec<u8>> = random_indexes(n - 100, 100, 11)
                .into_iter()
                .map(key)
                .collect();
            range_100(&snap, &starts);
            measured_range_100(&snap, &starts);
        }
        "point_get" => {
            let db = kv_loaded(&dir, n);
            let snap = db.read().expect("read");
            let probes: Vec<Vec<u8>> = random_indexes(n, 1000, 7).into_iter().map(key).collect();
            point_get(&snap, &probes);
            measured_point_get(&snap, &probes);
        }
        "redb_bulk_load" | "redb_point_read" => {
            let db = redb::Database::create(dir.path().join("redb")).expect("redb");
            measured_redb_users_load(&db, n);
            if what == "redb_point_read" {
                let probes = random_indexes(n, 1000, 3);
                let txn = db.begin_read().expect("read");
                let users = txn.open_table(USERS).expect("users");
                redb_point_read(&users, &probes);
                measured_redb_point_read(&users, &probes);
            }
        }
        "redb_range_100" => {
            let db = redb::Database::create(dir.path().join("redb")).expect("redb");
            redb_kv_load(&db, n);
            let starts: Vec<Vec<u8>> = random_indexes(n - 100, 100, 11)
                .into_iter()
                .map(key)
                .collect();
            let txn = db.begin_read().expect("read");
            let table = txn.open_table(TABLE).expect("table");
            redb_range_100(&table, &starts);
            measured_redb_range_100(&table, &starts);
        }
        "lua_get_hot" | "lua_get_plain" => {
            let vault = lua_get_hot_vault(dir.path());
            let table = if what == "lua_get_hot" {
                "Memory"
            } else {
                "plain"
            };
            // `n` is the number of reads here (the bench's is 1,000).
            let code = lua_get_hot_chunk(table, n as usize);
            lua_exec(&vault, &code);
            measured_lua_exec(&vault, &code);
        }
        "sizes" => sizes(&dir, n),
        other => panic!("unknown workload {other}"),
    }
}

/// Load the users, then copy each part of the keyspace (the catalog's
/// areas by their second byte, table entries, index entries) into a store
/// of its own and print what it stores: where the stored bytes go.
fn sizes(dir: &TempDir, n: u64) {
    let store = mv_store(dir);
    measured_users_load(&store, n);
    store.db().checkpoint().expect("checkpoint");
    let snap = store.db().read().expect("read");
    type Entries = Vec<(Vec<u8>, Vec<u8>)>;
    let mut parts: std::collections::BTreeMap<Vec<u8>, Entries> = Default::default();
    for entry in snap.range(Bound::Unbounded, Bound::Unbounded, false) {
        let (k, v) = entry.expect("entry");
        let part = k[..if k[0] == 0 { 2 } else { 1 }].to_vec();
        parts.entry(part).or_default().push((k, v));
    }
    for (part, entries) in parts {
        let dir = TempDir::new().expect("tempdir");
        let db = moonvault_db(dir.path());
        let mut txn = db.begin().expect("begin");
        for (k, v) in &entries {
            txn.put(k, v).expect("put");
        }
        txn.commit().expect("commit");
        db.checkpoint().expect("checkpoint");
        let key_bytes: usize = entries.iter().map(|e| e.0.len()).sum();
        let value_bytes: usize = entries.iter().map(|e| e.1.len()).sum();
        let stored = db.stats().expect("stats").pager.stored_page_bytes;
        println!(
            "{part:02x?}: {} entries, {key_bytes} key bytes, {value_bytes} value bytes, {stored} stored",
            entries.len()
        );
    }
    let stats = store.stats().expect("stats");
    println!("whole store: {} stored", stats.db.pager.stored_page_bytes);
}
