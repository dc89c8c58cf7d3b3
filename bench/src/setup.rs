//! Stores and loads shared by the criterion benches and the callgrind
//! example, so the instructions counted are those of the code timed: the
//! seed's users on moonvault, redb and SQLite, the key/value data set on
//! moonvault and redb, and the Lua binding's hot read.

use std::path::Path;

use moonvault_engine::codec::{Key, StoredView, Value};
use moonvault_engine::{Db, KvRead, Options, Store, TableId, TableRead};
use moonvault_pager::store::file::FileStore;
use redb::{MultimapTableDefinition, TableDefinition};

use crate::{key, users, value};

/// redb's users table: id -> [`redb_record`].
pub const REDB_USERS: TableDefinition<u64, &[u8]> = TableDefinition::new("users");
/// redb's index on age (redb has no secondary indexes of its own): age -> id.
pub const REDB_BY_AGE: MultimapTableDefinition<u64, u64> =
    MultimapTableDefinition::new("users_by_age");
/// The key/value data set's table in redb.
pub const REDB_KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

/// Native runs give moonvault a native-sized page cache (redb's default
/// cache is far larger still); `MOONVAULT_BENCH_CACHE` overrides it, e.g.
/// 262144 for the browser's 256 KiB budget.
pub fn cache_bytes() -> usize {
    std::env::var("MOONVAULT_BENCH_CACHE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 * 1024 * 1024)
}

/// Threads that encode a checkpoint's pages: the default (all cores, at
/// most four), or `MOONVAULT_BENCH_ENCODE_THREADS`. The callgrind example
/// sets 1: callgrind counts the measured function's own thread only.
pub fn encode_threads() -> usize {
    std::env::var("MOONVAULT_BENCH_ENCODE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A moonvault database on a file store in `dir`, with [`cache_bytes`] and
/// [`encode_threads`].
pub fn moonvault_db(dir: &Path) -> Db {
    let store = FileStore::open(dir.join("mv")).expect("open file store");
    let mut options = Options::default();
    options.pager.cache_bytes = cache_bytes();
    options.pager.encode_threads = encode_threads();
    Db::open(Box::new(store), options).expect("open moonvault")
}

/// [`moonvault_db`] as a table store.
pub fn moonvault_store(dir: &Path) -> Store {
    Store::open(moonvault_db(dir)).expect("store")
}

/// `Memory.users` with its index on `age`, committed; returns the table.
pub fn moonvault_users_schema(store: &Store) -> TableId {
    store
        .write(|tx| {
            let users = tx.ensure_path(&[Key::from("users")])?;
            tx.create_index(users, "age", false)?;
            Ok(users)
        })
        .expect("schema")
}

/// The users workload's load on moonvault: the `age` index first (kept up
/// by every insert, as the peers' are), then `Memory.users[1..=n]` in one
/// transaction.
pub fn moonvault_users_load(store: &Store, n: u64) -> TableId {
    let users = moonvault_users_schema(store);
    store
        .write(|tx| {
            for i in 1..=n as i64 {
                tx.set(users, Key::Int(i), users::record(i))?;
            }
            Ok(())
        })
        .expect("load");
    users
}

/// Read `table[key]`, a user record, in full where it lies: every field's
/// key and value is looked at (as redb's bench looks at its value's
/// bytes), none is copied out. Returns the field count.
pub fn moonvault_read_record(reader: &impl TableRead, table: TableId, key: &Key) -> usize {
    reader
        .with_stored(table, key, |found| {
            moonvault_view_fields(reader, found.expect("present"))
        })
        .expect("read")
}

/// Look at every field of a record lent by a read; the field count.
pub fn moonvault_view_fields(reader: &impl TableRead, record: StoredView<'_>) -> usize {
    match record {
        StoredView::Record(r) => r.fields().map(std::hint::black_box).count(),
        StoredView::Value(Value::Table(id)) => reader
            .entries(id)
            .try_fold(0usize, |n, e| e.map(|_| n + 1))
            .expect("fields"),
        other => panic!("not a record: {other:?}"),
    }
}

/// Step through up to `max` entries from `start` on, each lent to the
/// step rather than copied out (as redb's range lends its entries); how
/// many there were.
pub fn moonvault_range_count(reader: &impl KvRead, start: &[u8], max: usize) -> usize {
    let mut range = reader.range(
        std::ops::Bound::Included(start),
        std::ops::Bound::Unbounded,
        false,
    );
    let mut got = 0;
    while got < max {
        match range.next_with(|_, _| ()) {
            Some(step) => step.expect("range"),
            None => break,
        }
        got += 1;
    }
    got
}

/// The key/value data set `0..n` in one moonvault transaction.
pub fn moonvault_kv_load(db: &Db, n: u64) {
    let mut txn = db.begin().expect("begin");
    for i in 0..n {
        txn.put(&key(i), &value(i)).expect("put");
    }
    txn.commit().expect("commit");
}

/// A user's age (the seed's `20 + i % 50`).
pub fn age(i: u64) -> u64 {
    20 + i % 50
}

/// redb's record encoding: age and score fixed, then the name.
pub fn redb_record(i: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&age(i).to_le_bytes());
    v.extend_from_slice(&(i * 10).to_le_bytes());
    v.extend_from_slice(format!("User {i}").as_bytes());
    v
}

/// Read a row of [`redb_record`] in full, as a user of redb reads a record:
/// age, score and the name (checked as UTF-8), each handed to `black_box`;
/// returns the field count. The bench's moonvault side looks at every field
/// of its packed record the same way ([`moonvault_view_fields`]).
pub fn redb_read_record(row: &[u8]) -> usize {
    let (age, rest) = row.split_at(8);
    let (score, name) = rest.split_at(8);
    std::hint::black_box(u64::from_le_bytes(age.try_into().expect("age")));
    std::hint::black_box(u64::from_le_bytes(score.try_into().expect("score")));
    std::hint::black_box(std::str::from_utf8(name).expect("name"));
    3
}

/// The users workload's load on redb: rows and the age index in one
/// transaction.
pub fn redb_users_load(db: &redb::Database, n: u64) {
    let txn = db.begin_write().expect("begin");
    {
        let mut users = txn.open_table(REDB_USERS).expect("users");
        let mut by_age = txn.open_multimap_table(REDB_BY_AGE).expect("by_age");
        for i in 1..=n {
            users.insert(i, redb_record(i).as_slice()).expect("insert");
            by_age.insert(age(i), i).expect("index");
        }
    }
    txn.commit().expect("commit");
}

/// The key/value data set `0..n` in one redb transaction.
pub fn redb_kv_load(db: &redb::Database, n: u64) {
    let txn = db.begin_write().expect("begin");
    {
        let mut table = txn.open_table(REDB_KV).expect("table");
        for i in 0..n {
            table
                .insert(key(i).as_slice(), value(i).as_slice())
                .expect("insert");
        }
    }
    txn.commit().expect("commit");
}

/// The users workload on SQLite in `dir`: WAL mode, `synchronous = FULL`,
/// the `age` index created first, then the rows in one transaction.
pub fn sqlite_users(dir: &Path, n: u64) -> rusqlite::Connection {
    let mut conn = rusqlite::Connection::open(dir.join("sqlite")).expect("sqlite");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, score INTEGER);
         CREATE INDEX users_age ON users (age);",
    )
    .expect("schema");
    let txn = conn.transaction().expect("begin");
    {
        let mut insert = txn
            .prepare("INSERT INTO users (id, name, age, score) VALUES (?1, ?2, ?3, ?4)")
            .expect("prepare");
        for i in 1..=n {
            insert
                .execute(rusqlite::params![
                    i as i64,
                    format!("User {i}"),
                    age(i) as i64,
                    (i * 10) as i64
                ])
                .expect("insert");
        }
    }
    txn.commit().expect("commit");
    conn
}

/// The vault of the `lua_get_hot` bench: one user record both in `Memory`
/// and in a plain global table.
pub fn lua_get_hot_vault(dir: &Path) -> moonvault_lua_bind::Vault {
    use moonvault_lua_bind::{Vault, VaultOptions};
    let vault = Vault::open_path(dir.join("db"), VaultOptions::default()).expect("vault");
    vault
        .exec(
            "Memory.users = {u1 = {name = 'Ann', age = 31}}
             plain = {users = {u1 = {name = 'Ann', age = 31}}}",
            "setup",
        )
        .expect("setup");
    vault
}

/// The `lua_get_hot` chunk: `reads` reads of one field of the record under
/// global `table` (`"Memory"` or `"plain"`); it returns their sum.
pub fn lua_get_hot_chunk(table: &str, reads: usize) -> String {
    format!(
        "local u = {table}.users.u1; local s = 0
         for i = 1, {reads} do s = s + u.age end
         return s"
    )
}
