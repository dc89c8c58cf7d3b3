//! The seed's users workload on moonvault, redb and SQLite, same data, same
//! run, every commit durable on return.
//!
//! - moonvault: `Memory.users[i] = {name, age, score}` with an index on
//!   `age` (engine API, file store).
//! - redb: `users: u64 -> record bytes` plus a multimap `age -> id` kept in
//!   the same transaction (redb has no secondary indexes of its own).
//! - SQLite (bundled): `users(id INTEGER PRIMARY KEY, name, age, score)`,
//!   `CREATE INDEX ... (age)`, WAL mode, `synchronous = FULL`.

// criterion_group! defines public functions without docs.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use moonvault_bench::random_indexes;
use moonvault_bench::setup::{
    age, moonvault_read_record, moonvault_store, moonvault_users_load, moonvault_view_fields,
    redb_read_record, redb_record, redb_users_load, sqlite_users, REDB_BY_AGE as BY_AGE,
    REDB_USERS as USERS,
};
use moonvault_bench::users;
use moonvault_engine::codec::Key;
use moonvault_engine::query::Query;
use moonvault_engine::{Store, TableId, TableRead};
use redb::ReadableDatabase;
use std::hint::black_box;
use tempfile::TempDir;

struct Moonvault {
    _dir: TempDir,
    store: Store,
    users: TableId,
}

fn moonvault(n: u64) -> Moonvault {
    let dir = TempDir::new().expect("tempdir");
    let store = moonvault_store(dir.path());
    let users = moonvault_users_load(&store, n);
    Moonvault {
        _dir: dir,
        store,
        users,
    }
}

fn redb_db(n: u64) -> (TempDir, redb::Database) {
    let dir = TempDir::new().expect("tempdir");
    let db = redb::Database::create(dir.path().join("redb")).expect("redb");
    redb_users_load(&db, n);
    (dir, db)
}

fn sqlite_db(n: u64) -> (TempDir, rusqlite::Connection) {
    let dir = TempDir::new().expect("tempdir");
    let conn = sqlite_users(dir.path(), n);
    (dir, conn)
}

fn size_name(n: u64) -> String {
    format!("{}k", n / 1000)
}

fn bulk_load(c: &mut Criterion, n: u64) {
    let mut g = c.benchmark_group(format!("users_bulk_load_{}", size_name(n)));
    g.sample_size(10);
    g.bench_function("moonvault", |b| {
        b.iter_batched(|| (), |_| moonvault(n), BatchSize::PerIteration)
    });
    g.bench_function("redb", |b| {
        b.iter_batched(|| (), |_| redb_db(n), BatchSize::PerIteration)
    });
    g.bench_function("sqlite", |b| {
        b.iter_batched(|| (), |_| sqlite_db(n), BatchSize::PerIteration)
    });
    g.finish();
}

fn point_reads(c: &mut Criterion, n: u64) {
    let probes = random_indexes(n, 1000, 3);
    let mut g = c.benchmark_group(format!("users_point_read_{}", size_name(n)));
    let mv = moonvault(n);
    g.bench_function("moonvault", |b| {
        let snap = mv.store.read().expect("snapshot");
        b.iter(|| {
            for &i in &probes {
                let fields = moonvault_read_record(&snap, mv.users, &Key::Int(i as i64 + 1));
                assert_eq!(black_box(fields), 3);
            }
        })
    });
    let (_d, rd) = redb_db(n);
    g.bench_function("redb", |b| {
        let txn = rd.begin_read().expect("read");
        let users = txn.open_table(USERS).expect("users");
        b.iter(|| {
            for &i in &probes {
                let row = users.get(i + 1).expect("get").expect("present");
                assert_eq!(black_box(redb_read_record(row.value())), 3);
            }
        })
    });
    let (_d2, sq) = sqlite_db(n);
    g.bench_function("sqlite", |b| {
        let mut stmt = sq
            .prepare_cached("SELECT name, age, score FROM users WHERE id = ?1")
            .expect("prepare");
        b.iter(|| {
            for &i in &probes {
                let row: (String, i64, i64) = stmt
                    .query_row([i as i64 + 1], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .expect("row");
                black_box(row);
            }
        })
    });
    g.finish();
}

fn queries(c: &mut Criterion, n: u64) {
    let mv = moonvault(n);
    let (_d, rd) = redb_db(n);
    let (_d2, sq) = sqlite_db(n);
    let eq_matches = (n / 50) as usize;
    for (name, is_range) in [
        ("users_query_age_gt_60_limit_10", true),
        ("users_query_age_eq_42", false),
    ] {
        let mut g = c.benchmark_group(format!("{name}_{}", size_name(n)));
        let expected = if is_range { 10 } else { eq_matches };
        g.bench_function("moonvault", |b| {
            let snap = mv.store.read().expect("snapshot");
            let q = if is_range {
                Query::new(mv.users).gt("age", 60i64).limit(10)
            } else {
                Query::new(mv.users).eq("age", 42i64)
            };
            assert!(snap.explain(&q).expect("plan").uses_index());
            b.iter(|| {
                let mut got = 0;
                let mut cursor = snap.query_cursor(&q).expect("query");
                // Every field of every row looked at where it lies, as
                // redb's bench looks at its row's bytes.
                while let Some(fields) = cursor
                    .next_with(&snap, |_, record| moonvault_view_fields(&snap, record))
                    .expect("record")
                {
                    got += fields / 3;
                }
                assert_eq!(got, expected);
            })
        });
        g.bench_function("redb", |b| {
            let txn = rd.begin_read().expect("read");
            let users = txn.open_table(USERS).expect("users");
            let by_age = txn.open_multimap_table(BY_AGE).expect("by_age");
            b.iter(|| {
                let mut got = 0;
                let ranges = if is_range {
                    by_age.range(61u64..).expect("range")
                } else {
                    by_age.range(42u64..=42).expect("range")
                };
                'outer: for entry in ranges {
                    let (_, ids) = entry.expect("entry");
                    for id in ids {
                        let id = id.expect("id").value();
                        let row = users.get(id).expect("get").expect("present");
                        black_box(redb_read_record(row.value()));
                        got += 1;
                        if is_range && got == 10 {
                            break 'outer;
                        }
                    }
                }
                assert_eq!(got, expected);
            })
        });
        g.bench_function("sqlite", |b| {
            let sql = if is_range {
                "SELECT id, name, age, score FROM users WHERE age > 60 LIMIT 10"
            } else {
                "SELECT id, name, age, score FROM users WHERE age = 42"
            };
            let mut stmt = sq.prepare_cached(sql).expect("prepare");
            b.iter(|| {
                let mut rows = stmt
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                        ))
                    })
                    .expect("query");
                let got = rows
                    .try_fold(0usize, |n, r| {
                        r.map(|row| {
                            black_box(row);
                            n + 1
                        })
                    })
                    .expect("rows");
                assert_eq!(got, expected);
            })
        });
        g.finish();
    }
}

fn small_txns(c: &mut Criterion) {
    let n = 10_000u64;
    let mut g = c.benchmark_group("users_small_txn_1k");
    g.sample_size(10);
    let mv = moonvault(n);
    let mut round = 0u64;
    g.bench_function("moonvault", |b| {
        b.iter(|| {
            round += 1;
            for i in 0..1000u64 {
                let id = (i * 7 + round) % n + 1;
                mv.store
                    .set(
                        mv.users,
                        Key::Int(id as i64),
                        users::record((id + round) as i64),
                    )
                    .expect("set");
            }
        })
    });
    let (_d, rd) = redb_db(n);
    g.bench_function("redb", |b| {
        b.iter(|| {
            round += 1;
            for i in 0..1000u64 {
                let id = (i * 7 + round) % n + 1;
                let txn = rd.begin_write().expect("begin");
                {
                    let mut users = txn.open_table(USERS).expect("users");
                    let mut by_age = txn.open_multimap_table(BY_AGE).expect("by_age");
                    by_age.remove(age(id), id).expect("unindex");
                    users
                        .insert(id, redb_record(id + round).as_slice())
                        .expect("insert");
                    by_age.insert(age(id + round), id).expect("index");
                }
                txn.commit().expect("commit");
            }
        })
    });
    let (_d2, sq) = sqlite_db(n);
    g.bench_function("sqlite", |b| {
        let mut stmt = sq
            .prepare_cached(
                "INSERT OR REPLACE INTO users (id, name, age, score) VALUES (?1, ?2, ?3, ?4)",
            )
            .expect("prepare");
        b.iter(|| {
            round += 1;
            for i in 0..1000u64 {
                let id = (i * 7 + round) % n + 1;
                let v = id + round;
                stmt.execute(rusqlite::params![
                    id as i64,
                    format!("User {v}"),
                    age(v) as i64,
                    (v * 10) as i64
                ])
                .expect("upsert");
            }
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    for n in [10_000, 100_000] {
        bulk_load(c, n);
        point_reads(c, n);
        queries(c, n);
    }
    small_txns(c);
}

criterion_group!(peers, benches);
criterion_main!(peers);
