//! Storage-core benches: moonvault against redb, same data, same run, same
//! durability (every commit durable on return).

// criterion_group! defines public functions without docs.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use moonvault_bench::setup::{
    moonvault_db, moonvault_kv_load, moonvault_range_count, redb_kv_load, REDB_KV as TABLE,
};
use moonvault_bench::{key, random_indexes, value};
use moonvault_engine::KvRead;
use redb::ReadableDatabase;
use std::hint::black_box;
use tempfile::TempDir;

fn redb_open(dir: &TempDir) -> redb::Database {
    redb::Database::create(dir.path().join("redb")).expect("open redb")
}

fn moonvault_loaded(n: u64) -> (TempDir, moonvault_engine::Db) {
    let dir = TempDir::new().expect("tempdir");
    let db = moonvault_db(dir.path());
    moonvault_kv_load(&db, n);
    (dir, db)
}

fn redb_loaded(n: u64) -> (TempDir, redb::Database) {
    let dir = TempDir::new().expect("tempdir");
    let db = redb_open(&dir);
    redb_kv_load(&db, n);
    (dir, db)
}

fn bulk_load(c: &mut Criterion, n: u64, name: &str) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    g.bench_function("moonvault", |b| {
        b.iter_batched(
            TempDir::new,
            |dir| {
                let dir = dir.expect("tempdir");
                moonvault_kv_load(&moonvault_db(dir.path()), n);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("redb", |b| {
        b.iter_batched(
            TempDir::new,
            |dir| {
                let dir = dir.expect("tempdir");
                redb_kv_load(&redb_open(&dir), n);
                dir
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn point_get(c: &mut Criterion, n: u64, name: &str) {
    let probes: Vec<Vec<u8>> = random_indexes(n, 1000, 7).into_iter().map(key).collect();
    let mut g = c.benchmark_group(name);
    let (_d1, mv) = moonvault_loaded(n);
    g.bench_function("moonvault", |b| {
        let snap = mv.read().expect("read");
        b.iter(|| {
            for k in &probes {
                black_box(snap.get(k).expect("get").expect("present"));
            }
        })
    });
    let (_d2, rd) = redb_loaded(n);
    g.bench_function("redb", |b| {
        let txn = rd.begin_read().expect("read");
        let table = txn.open_table(TABLE).expect("table");
        b.iter(|| {
            for k in &probes {
                black_box(
                    table
                        .get(k.as_slice())
                        .expect("get")
                        .expect("present")
                        .value()
                        .len(),
                );
            }
        })
    });
    g.finish();
}

fn range_100(c: &mut Criterion, n: u64, name: &str) {
    let starts: Vec<Vec<u8>> = random_indexes(n - 100, 100, 11)
        .into_iter()
        .map(key)
        .collect();
    let mut g = c.benchmark_group(name);
    let (_d1, mv) = moonvault_loaded(n);
    g.bench_function("moonvault", |b| {
        let snap = mv.read().expect("read");
        b.iter(|| {
            for s in &starts {
                assert_eq!(moonvault_range_count(&snap, s, 100), 100);
            }
        })
    });
    let (_d2, rd) = redb_loaded(n);
    g.bench_function("redb", |b| {
        let txn = rd.begin_read().expect("read");
        let table = txn.open_table(TABLE).expect("table");
        b.iter(|| {
            for s in &starts {
                let got = table
                    .range(s.as_slice()..)
                    .expect("range")
                    .take(100)
                    .count();
                assert_eq!(got, 100);
            }
        })
    });
    g.finish();
}

fn small_txn(c: &mut Criterion) {
    let mut g = c.benchmark_group("small_txn_1k");
    g.sample_size(10);
    let (_d1, mv) = moonvault_loaded(10_000);
    let mut round = 0u64;
    g.bench_function("moonvault", |b| {
        b.iter(|| {
            round += 1;
            for i in 0..1000u64 {
                let mut txn = mv.begin().expect("begin");
                txn.put(&key((i * 7 + round) % 10_000), &value(i + round))
                    .expect("put");
                txn.commit().expect("commit");
            }
        })
    });
    let (_d2, rd) = redb_loaded(10_000);
    g.bench_function("redb", |b| {
        b.iter(|| {
            round += 1;
            for i in 0..1000u64 {
                let txn = rd.begin_write().expect("begin");
                {
                    let mut table = txn.open_table(TABLE).expect("table");
                    let k = key((i * 7 + round) % 10_000);
                    let v = value(i + round);
                    table.insert(k.as_slice(), v.as_slice()).expect("insert");
                }
                txn.commit().expect("commit");
            }
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bulk_load(c, 10_000, "bulk_load_10k");
    bulk_load(c, 100_000, "bulk_load_100k");
    point_get(c, 10_000, "point_get_10k");
    point_get(c, 100_000, "point_get_100k");
    range_100(c, 10_000, "range_100_of_10k");
    range_100(c, 100_000, "range_100_of_100k");
    small_txn(c);
}

criterion_group!(storage, benches);
criterion_main!(storage);
