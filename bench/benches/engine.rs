//! Engine benches: batches, indexed queries against scans, and the
//! compression of the seed's users data set (printed once per size and
//! recorded as a fact for the report).

// criterion_group! defines public functions without docs.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use moonvault_bench::facts::{self, Fact};
use moonvault_bench::users;
use moonvault_engine::batch::BatchOp;
use moonvault_engine::codec::Key;
use moonvault_engine::query::Query;
use moonvault_engine::{Db, Options, Store, TableRead};
use moonvault_pager::store::file::FileStore;
use std::hint::black_box;
use tempfile::TempDir;

fn file_store(dir: &TempDir) -> Store {
    let fs = FileStore::open(dir.path().join("mv")).expect("file store");
    let mut options = Options::default();
    options.pager.cache_bytes = 64 * 1024 * 1024;
    Store::open(Db::open(Box::new(fs), options).expect("db")).expect("store")
}

fn batch_1000(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch_1000");
    g.sample_size(20);
    let dir = TempDir::new().expect("tempdir");
    let store = file_store(&dir);
    users::load(&store, 10_000, true).expect("load");
    let mut round = 0i64;
    g.bench_function("moonvault", |b| {
        b.iter_batched(
            || {
                round += 1;
                (0..1000i64)
                    .map(|i| {
                        let id = 10_000 + round * 1000 + i;
                        BatchOp::set(vec![Key::from("users")], Key::Int(id), users::record(id))
                    })
                    .collect::<Vec<_>>()
            },
            |ops| store.batch(ops).expect("batch"),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn queries(c: &mut Criterion, n: i64) {
    let name = format!("query_{}k", n / 1000);
    let mut g = c.benchmark_group(&name);
    let (d1, d2) = (
        TempDir::new().expect("tempdir"),
        TempDir::new().expect("tempdir"),
    );
    let indexed = file_store(&d1);
    let scanned = file_store(&d2);
    let t1 = users::load(&indexed, n, true).expect("load");
    let t2 = users::load(&scanned, n, false).expect("load");
    report_compression(&indexed, t1, n, "");
    report_compression(&scanned, t2, n, "_noindex");
    for (id, store, table, expect_index) in [
        ("indexed", &indexed, t1, true),
        ("scan", &scanned, t2, false),
    ] {
        let snap = store.read().expect("snapshot");
        let range = Query::new(table).gt("age", 60i64).limit(10);
        let equal = Query::new(table).eq("age", 42i64);
        assert_eq!(
            snap.explain(&range).expect("plan").uses_index(),
            expect_index
        );
        assert_eq!(
            snap.explain(&equal).expect("plan").uses_index(),
            expect_index
        );
        let matches = (n / 50) as usize;
        g.bench_function(format!("{id}/age_gt_60_limit_10"), |b| {
            b.iter(|| {
                let got = snap
                    .query(&range)
                    .expect("query")
                    .try_fold(0usize, |n, r| r.map(|_| n + 1))
                    .expect("records");
                assert_eq!(black_box(got), 10);
            })
        });
        g.bench_function(format!("{id}/age_eq_42"), |b| {
            b.iter(|| {
                let got = snap
                    .query(&equal)
                    .expect("query")
                    .try_fold(0usize, |n, r| r.map(|_| n + 1))
                    .expect("records");
                assert_eq!(black_box(got), matches);
            })
        });
    }
    g.finish();
}

/// Print and record logical vs stored bytes of the data set (not a timed bench).
/// `suffix` names the variant: "" with the `age` index, "_noindex" without
/// (the size goal: logical / stored of the records alone).
fn report_compression(store: &Store, users: moonvault_engine::TableId, n: i64, suffix: &str) {
    store.db().checkpoint().expect("checkpoint");
    let snap = store.read().expect("snapshot");
    let table = snap.table_stats(users).expect("table stats");
    let tree = store.db().check().expect("tree");
    let stats = store.stats().expect("stats");
    let stored = stats.db.pager.stored_page_bytes;
    let index_bytes: u64 = table.indexes.iter().map(|i| i.stored_bytes).sum();
    println!(
        "compression users_{n}{suffix}: logical {} B, page bytes before compression {} B, stored {} B \
         (of which the index ~{index_bytes} B): page compression {:.2}:1, logical/stored {:.2}:1 \
         (whole store)",
        table.logical_bytes,
        tree.node_bytes,
        stored,
        tree.node_bytes as f64 / stored as f64,
        table.logical_bytes as f64 / stored as f64,
    );
    facts::record(&Fact {
        group: format!("compression_users_{}k{suffix}", n / 1000),
        id: "moonvault".into(),
        values: [
            ("logical_bytes", table.logical_bytes as f64),
            ("node_bytes", tree.node_bytes as f64),
            ("stored_bytes", stored as f64),
            ("index_stored_bytes", index_bytes as f64),
            ("page_ratio", tree.node_bytes as f64 / stored as f64),
            ("logical_ratio", table.logical_bytes as f64 / stored as f64),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    });
}

fn benches(c: &mut Criterion) {
    batch_1000(c);
    queries(c, 10_000);
    queries(c, 100_000);
}

criterion_group!(engine, benches);
criterion_main!(engine);
