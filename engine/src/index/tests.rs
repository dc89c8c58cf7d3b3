//! Index maintenance: scenarios for each kind of write that moves an
//! indexed value, and a property test comparing every index with a
//! rebuild from scratch after random writes, deletes, record replacements,
//! injected I/O failures and crashes.

use quickcheck::{Arbitrary, Gen, TestResult};

use moonvault_pager::store::faulty::{CrashMode, FaultyStore};

use super::index_entries;
use crate::batch::BatchOp;
use crate::codec::{Key, Value};
use crate::error::EngineError;
use crate::table::{Input, Store, TableId, TableRead, ROOT};
use crate::testutil::{dump, k, quickcheck_cases, s, verify_all, Tree, M};
use crate::{Db, Options};

fn users_store() -> (Store, TableId) {
    let store = Store::memory().unwrap();
    let users = store.ensure_path(&[k("users")]).unwrap();
    (store, users)
}

fn entries(store: &Store, users: TableId, field: &str) -> Vec<(Key, Key)> {
    let snap = store.read().unwrap();
    let def = snap
        .indexes(users)
        .into_iter()
        .find(|d| d.field.to_string() == field)
        .unwrap();
    index_entries(&snap, &def)
        .unwrap()
        .into_iter()
        .map(|(v, r, _)| (v, r))
        .collect()
}

#[test]
fn every_kind_of_write_moves_the_entry() {
    let (store, users) = users_store();
    store
        .create_index(users, "profile.address.city", false)
        .unwrap();
    let rec = |city: &str| {
        Input::table([(
            "profile",
            Input::table([("address", Input::table([("city", Input::from(city))]))]),
        )])
    };
    store.set(users, k("u1"), rec("Oslo")).unwrap();
    store.set(users, k("u2"), rec("Rome")).unwrap();
    let city = "profile.address.city";
    assert_eq!(
        entries(&store, users, city),
        vec![(k("Oslo"), k("u1")), (k("Rome"), k("u2"))]
    );
    // Setting the field.
    let addr = store
        .read()
        .unwrap()
        .lookup(&[k("users"), k("u1"), k("profile"), k("address")])
        .unwrap()
        .unwrap();
    store.set(addr, k("city"), "Bergen").unwrap();
    assert_eq!(entries(&store, users, city)[0], (k("Bergen"), k("u1")));
    // Replacing a parent on the path (keeps identity, new content).
    let profile = store
        .read()
        .unwrap()
        .lookup(&[k("users"), k("u1"), k("profile")])
        .unwrap()
        .unwrap();
    store
        .set(profile, k("address"), Input::table([("city", "Paris")]))
        .unwrap();
    assert_eq!(entries(&store, users, city)[0], (k("Paris"), k("u1")));
    // A parent replaced by a scalar.
    store.set(profile, k("address"), 5).unwrap();
    assert_eq!(entries(&store, users, city), vec![(k("Rome"), k("u2"))]);
    // The field set to nil; then back.
    store
        .set(profile, k("address"), Input::table([("city", "Oslo")]))
        .unwrap();
    let addr = store
        .read()
        .unwrap()
        .lookup(&[k("users"), k("u1"), k("profile"), k("address")])
        .unwrap()
        .unwrap();
    store.delete(addr, k("city")).unwrap();
    assert_eq!(entries(&store, users, city).len(), 1);
    store.set(addr, k("city"), "Oslo").unwrap();
    // Replacing the record; deleting it; deleting a grandparent.
    store.set(users, k("u1"), rec("Kyiv")).unwrap();
    assert_eq!(entries(&store, users, city)[0], (k("Kyiv"), k("u1")));
    store.delete(users, k("u2")).unwrap();
    assert_eq!(entries(&store, users, city), vec![(k("Kyiv"), k("u1"))]);
    store.delete(ROOT, k("users")).unwrap();
    assert!(
        store.read().unwrap().catalog().is_empty(),
        "index dropped with its table"
    );
    verify_all(&store.read().unwrap()).unwrap();
}

#[test]
fn appends_in_key_order_skip_reads_yet_keep_indexes_exact() {
    // Assignments above the known end of a table read no prior value
    // (table/append.rs); every way of putting an entry above that end
    // must be noticed, or a replaced record would keep its index entry.
    let (store, users) = users_store();
    store.create_index(users, "age", false).unwrap();
    let rec = |age: i64| Input::table([("age", Input::from(age))]);
    let ages = |store: &Store| {
        let mut all: Vec<(Key, Key)> = entries(store, users, "age");
        all.sort_by(|a, b| a.1.cmp(&b.1));
        all
    };
    store
        .write(|tx| {
            for i in (1..=5).chain([100]) {
                tx.set(users, Key::Int(i), rec(i))?;
            }
            Ok(())
        })
        .unwrap();
    store
        .write(|tx| {
            // A run long enough to ask the tree, which has 100 above it:
            // 100 is then replaced, and must be read.
            for i in 10..=100 {
                tx.set(users, Key::Int(i), rec(1000 + i))?;
            }
            // 100 is the greatest now: appends above it read nothing...
            for i in 101..=120 {
                tx.set(users, Key::Int(i), rec(i))?;
            }
            // ...until a move puts an entry above the end, and a nested
            // table's entries are written (another table's keys).
            tx.move_entries(users, vec![(Key::Int(120), Key::Int(121))])?;
            tx.set(users, Key::Int(121), rec(7))?;
            tx.set(users, Key::Int(122), Input::table([("t", rec(1))]))?;
            tx.set(users, Key::Int(123), rec(9))?;
            tx.set(users, Key::Int(122), rec(8))?;
            Ok(())
        })
        .unwrap();
    verify_all(&store.read().unwrap()).unwrap();
    let got = ages(&store);
    let want: Vec<(Key, Key)> = (1..=5)
        .map(|i| (i, i))
        .chain((10..=100).map(|i| (1000 + i, i)))
        .chain((101..=119).map(|i| (i, i)))
        .chain([(7, 121), (8, 122), (9, 123)])
        .map(|(age, key)| (Key::Int(age), Key::Int(key)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn values_index_with_lua_equality() {
    let (store, users) = users_store();
    store.create_index(users, "v", false).unwrap();
    let vals = [
        Value::Float(2.0),
        Value::Int(2),
        Value::Float(f64::NAN),
        Value::Table(0),
        s("x"),
        Value::Bool(true),
        Value::Float(-0.0),
    ];
    for (i, v) in vals.iter().enumerate() {
        let input = match v {
            Value::Table(_) => Input::table([("t", 1)]),
            other => Input::Value(other.clone()),
        };
        store
            .set(users, Key::Int(i as i64), Input::table([("v", input)]))
            .unwrap();
    }
    let got = entries(&store, users, "v");
    assert_eq!(
        got,
        vec![
            (Key::Bool(true), Key::Int(5)),
            (Key::Int(0), Key::Int(6)),
            (Key::Int(2), Key::Int(0)),
            (Key::Int(2), Key::Int(1)),
            (k("x"), Key::Int(4)),
        ],
        "NaN and tables are not indexed; 2.0 is 2; -0.0 is 0"
    );
}

#[test]
fn building_over_existing_data_and_unique_violations() {
    let (store, users) = users_store();
    for i in 0..50 {
        let email = format!("u{}@x", i % 40);
        store
            .set(
                users,
                Key::Int(i),
                Input::table([("email", email.as_str())]),
            )
            .unwrap();
    }
    let err = store.create_index(users, "email", true).unwrap_err();
    assert!(matches!(err, EngineError::UniqueViolation(..)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("Memory.users(email)") && msg.contains("\"u0@x\""),
        "{msg}"
    );
    assert!(
        store.read().unwrap().catalog().is_empty(),
        "nothing created"
    );
    let def = store.create_index(users, "email", false).unwrap();
    assert_eq!(entries(&store, users, "email").len(), 50);
    // Same options: the existing index; other options: an error.
    assert_eq!(store.create_index(users, "email", false).unwrap(), def);
    assert!(matches!(
        store.create_index(users, "email", true),
        Err(EngineError::IndexExists { .. })
    ));
    assert!(store.drop_index(users, "email").unwrap());
    assert!(!store.drop_index(users, "email").unwrap());
    let snap = store.read().unwrap();
    let left = snap
        .kv()
        .range(
            std::ops::Bound::Included(&[2u8][..]),
            std::ops::Bound::Excluded(&[3u8][..]),
            false,
        )
        .count();
    assert_eq!(left, 0, "dropping removes every entry");
}

#[test]
fn an_index_build_reports_its_progress() {
    let (store, users) = users_store();
    let n = 2500;
    let mut tx = store.begin().unwrap();
    for i in 0..n {
        tx.set(
            users,
            Key::Int(i),
            Input::table([("age", Input::from(i % 90))]),
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let mut seen = Vec::new();
    store
        .write(|tx| {
            tx.create_index_reporting(users, "age", false, Some(&mut |d, t| seen.push((d, t))))
        })
        .unwrap();
    let n = n as u64;
    assert_eq!(seen.first(), Some(&(0, n)), "{seen:?}");
    assert_eq!(seen.last(), Some(&(n, n)), "{seen:?}");
    assert!(seen.len() >= 3, "reports along the way: {seen:?}");
    assert!(seen
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[1].0 <= w[1].1));
    assert_eq!(entries(&store, users, "age").len(), n as usize);
}

#[test]
fn too_long_values_are_refused_before_writing() {
    let (store, users) = users_store();
    store.create_index(users, "bio", false).unwrap();
    store
        .set(users, k("u"), Input::table([("bio", "short")]))
        .unwrap();
    let u = store
        .read()
        .unwrap()
        .lookup(&[k("users"), k("u")])
        .unwrap()
        .unwrap();
    let mut tx = store.begin().unwrap();
    let long = "x".repeat(store.max_key_len());
    let err = tx.set(u, k("bio"), long.as_str()).unwrap_err();
    assert!(matches!(err, EngineError::KeyTooLong { .. }), "{err}");
    assert!(err.to_string().contains("bio"), "{err}");
    assert!(!tx.is_failed());
    tx.commit().unwrap();
    verify_all(&store.read().unwrap()).unwrap();
}

// ---- property test ---------------------------------------------------------

#[derive(Clone, Debug)]
enum Val {
    Int(i64),
    Half(i64),
    IntFloat(i64),
    Str(u8),
    Bool(bool),
    NaN,
    Table,
}

impl Val {
    fn input(&self) -> Input {
        match self {
            Val::Int(n) => Input::from(*n),
            Val::Half(n) => Input::from(*n as f64 + 0.5),
            Val::IntFloat(n) => Input::from(*n as f64),
            Val::Str(c) => Input::Value(Value::Str(vec![b'a' + c % 3])),
            Val::Bool(b) => Input::from(*b),
            Val::NaN => Input::from(f64::NAN),
            Val::Table => Input::table([("x", 1)]),
        }
    }
}

impl Arbitrary for Val {
    fn arbitrary(g: &mut Gen) -> Val {
        let n = i64::from(u8::arbitrary(g) % 4);
        match u8::arbitrary(g) % 9 {
            0 | 1 => Val::Int(n),
            2 => Val::Half(n),
            3 => Val::IntFloat(n),
            4 | 5 => Val::Str(u8::arbitrary(g)),
            6 => Val::Bool(bool::arbitrary(g)),
            7 => Val::NaN,
            _ => Val::Table,
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Record {
        r: u8,
        age: Option<Val>,
        city: Option<Val>,
        email: Option<u8>,
    },
    Age(u8, Option<Val>),
    City(u8, Option<Val>),
    Profile(u8, Option<Val>),
    Email(u8, Option<u8>),
    Scalar(u8, Val),
    Delete(u8),
    ReplaceAll(Vec<(u8, Option<Val>, Option<u8>)>),
    Reindex,
    FailNextWrite(u8),
    Crash(u64),
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        let r = u8::arbitrary(g) % 6;
        let opt = |g: &mut Gen| {
            if bool::arbitrary(g) {
                Some(Val::arbitrary(g))
            } else {
                None
            }
        };
        let email = |g: &mut Gen| {
            if bool::arbitrary(g) {
                Some(u8::arbitrary(g) % 5)
            } else {
                None
            }
        };
        match u8::arbitrary(g) % 24 {
            0..=3 => Op::Record {
                r,
                age: opt(g),
                city: opt(g),
                email: email(g),
            },
            4..=6 => Op::Age(r, opt(g)),
            7..=9 => Op::City(r, opt(g)),
            10 | 11 => Op::Profile(r, opt(g)),
            12..=14 => Op::Email(r, email(g)),
            15 => Op::Scalar(r, Val::arbitrary(g)),
            16 | 17 => Op::Delete(r),
            18 => {
                let n = u8::arbitrary(g) % 4;
                Op::ReplaceAll((0..n).map(|i| (i, opt(g), email(g))).collect())
            }
            19 => Op::Reindex,
            20 | 21 => Op::FailNextWrite(1 + u8::arbitrary(g) % 4),
            _ => Op::Crash(u64::arbitrary(g)),
        }
    }
}

fn rk(r: u8) -> Key {
    Key::Str(vec![b'u', b'0' + r])
}

fn record(age: &Option<Val>, city: &Option<Val>, email: &Option<u8>) -> Input {
    let mut e = Vec::new();
    if let Some(a) = age {
        e.push((k("age"), a.input()));
    }
    if let Some(c) = city {
        e.push((k("profile"), Input::table([("city", c.input())])));
    }
    if let Some(m) = email {
        e.push((k("email"), Input::from(format!("{m}@x"))));
    }
    Input::Table(e)
}

fn run(store: &Store, users: TableId, op: &Op) -> crate::Result<()> {
    let path = |r: u8| vec![k("users"), rk(r)];
    let opt = |v: &Option<Val>| v.as_ref().map_or(Input::Nil, Val::input);
    match op {
        Op::Record {
            r,
            age,
            city,
            email,
        } => store.set(users, rk(*r), record(age, city, email)),
        Op::Age(r, v) => store
            .batch([BatchOp::set(path(*r), "age", opt(v))])
            .map(drop),
        Op::City(r, v) => {
            let mut p = path(*r);
            p.push(k("profile"));
            store.batch([BatchOp::set(p, "city", opt(v))]).map(drop)
        }
        Op::Profile(r, v) => {
            let input = match v {
                Some(Val::Table) | None => Input::table([("city", "b")]),
                Some(other) => other.input(),
            };
            store
                .batch([BatchOp::set(path(*r), "profile", input)])
                .map(drop)
        }
        Op::Email(r, m) => store
            .batch([BatchOp::set(
                path(*r),
                "email",
                m.map_or(Input::Nil, |m| Input::from(format!("{m}@x"))),
            )])
            .map(drop),
        Op::Scalar(r, v) => store.set(users, rk(*r), v.input()),
        Op::Delete(r) => store.delete(users, rk(*r)),
        Op::ReplaceAll(recs) => store.set(
            ROOT,
            k("users"),
            Input::Table(
                recs.iter()
                    .map(|(r, a, m)| (rk(*r), record(a, &None, m)))
                    .collect(),
            ),
        ),
        Op::Reindex => {
            store.drop_index(users, "age")?;
            store.create_index(users, "age", false).map(drop)
        }
        Op::FailNextWrite(_) | Op::Crash(_) => Ok(()),
    }
}

/// Emails held by records, for the unique constraint.
fn emails(tree: &Tree) -> Vec<Value> {
    let Some(M::T(users)) = tree.get(&k("users")) else {
        return Vec::new();
    };
    users
        .values()
        .filter_map(|rec| match rec {
            M::T(fields) => match fields.get(&k("email")) {
                Some(M::S(v)) => Some(v.clone()),
                _ => None,
            },
            M::S(_) => None,
        })
        .collect()
}

#[test]
fn indexes_equal_a_rebuild_after_random_writes_and_crashes() {
    fn prop(ops: Vec<Op>) -> TestResult {
        let open = |faulty: &FaultyStore| {
            let db = Db::open(Box::new(faulty.clone()), Options::default()).unwrap();
            Store::open(db).unwrap()
        };
        let mut faulty = FaultyStore::new();
        let mut store = open(&faulty);
        let users = store.ensure_path(&[k("users")]).unwrap();
        store.create_index(users, "age", false).unwrap();
        store.create_index(users, "profile.city", false).unwrap();
        store.create_index(users, "email", true).unwrap();
        let mut armed = false;
        for op in &ops {
            let before = dump(&store.read().unwrap(), ROOT).unwrap();
            match op {
                Op::FailNextWrite(n) => {
                    faulty.fail_after(u64::from(*n));
                    armed = true;
                    continue;
                }
                Op::Crash(seed) => {
                    let image = faulty.crash_image(CrashMode::Random(*seed));
                    faulty = FaultyStore::with_inner(image);
                    store = open(&faulty);
                    armed = false;
                    let after = dump(&store.read().unwrap(), ROOT).unwrap();
                    // Every commit was durable: a crash loses nothing.
                    if after != before {
                        return TestResult::error(format!(
                            "crash changed committed data:\n{before:?}\n{after:?}"
                        ));
                    }
                }
                _ => {
                    let result = run(&store, users, op);
                    if let Err(e) = &result {
                        match e {
                            EngineError::UniqueViolation(..) | EngineError::NotATable { .. } => {}
                            EngineError::BatchFailed { source, .. }
                                if matches!(
                                    **source,
                                    EngineError::UniqueViolation(..)
                                        | EngineError::NotATable { .. }
                                ) => {}
                            _ if armed => {
                                // An injected I/O failure: the handle may be
                                // poisoned; recover as after a crash.
                                faulty.clear_faults();
                                let image = faulty.crash_image(CrashMode::Random(7));
                                faulty = FaultyStore::with_inner(image);
                                store = open(&faulty);
                            }
                            other => return TestResult::error(format!("{op:?} failed: {other}")),
                        }
                        let now = dump(&store.read().unwrap(), ROOT).unwrap();
                        if !armed && now != before {
                            return TestResult::error(format!("{op:?} failed but changed data"));
                        }
                    }
                    armed = false;
                    faulty.clear_faults();
                }
            }
            let snap = store.read().unwrap();
            if let Err(e) = verify_all(&snap) {
                return TestResult::error(format!("after {op:?}: {e}"));
            }
            let mut seen = emails(&dump(&snap, ROOT).unwrap());
            let n = seen.len();
            seen.sort_by_key(|v| format!("{v:?}"));
            seen.dedup();
            if seen.len() != n {
                return TestResult::error(format!("after {op:?}: duplicate emails"));
            }
        }
        TestResult::passed()
    }
    quickcheck_cases(80).quickcheck(prop as fn(Vec<Op>) -> TestResult);
}

/// Index entries are held back and applied in key order (kv/deferred.rs);
/// with a log limit this small they are applied for lack of room many
/// times in one transaction, and the cache spills. Queries inside the
/// transaction, an index built inside it and the committed store all see
/// exactly the records written.
#[test]
fn queries_inside_a_transaction_see_the_index_entries_it_holds_back() {
    use crate::query::Query;
    use moonvault_pager::store::memory::MemoryStore;
    let options = Options {
        txn_log_limit: 4096,
        held_back_bytes: 0,
        pager: moonvault_pager::PagerConfig {
            cache_bytes: 32 * 1024,
            ..moonvault_pager::PagerConfig::default()
        },
        ..Options::default()
    };
    let db = Db::open(Box::new(MemoryStore::new()), options).unwrap();
    let store = Store::open(db).unwrap();
    let users = store.ensure_path(&[k("users")]).unwrap();
    store.create_index(users, "age", false).unwrap();
    let count = |tx: &crate::Txn, field: &str, age: i64| {
        tx.query(&Query::new(users).eq(field, age))
            .unwrap()
            .map(|r| r.map(|(key, _)| key))
            .collect::<crate::Result<Vec<Key>>>()
            .unwrap()
            .len()
    };
    store
        .write(|tx| {
            let mut model = std::collections::BTreeMap::new();
            for i in 0..3000i64 {
                let record = Input::table([("age", Input::from(i % 7)), ("score", Input::from(i))]);
                tx.set(users, Key::Int(i), record)?;
                model.insert(i, i % 7);
                if i % 5 == 4 {
                    // Moves the entry of an earlier record.
                    tx.set(
                        users,
                        Key::Int(i - 3),
                        Input::table([("age", Input::from(3))]),
                    )?;
                    model.insert(i - 3, 3);
                }
                if i % 11 == 10 {
                    tx.set(users, Key::Int(i - 7), Input::Nil)?;
                    model.remove(&(i - 7));
                }
                if i % 600 == 599 {
                    let want = model.values().filter(|&&a| a == 3).count();
                    assert_eq!(count(tx, "age", 3), want, "after record {i}");
                }
                if i == 1500 {
                    tx.create_index(users, "score", false)?;
                }
            }
            assert_eq!(count(tx, "score", 2999), 1);
            verify_all(tx)
        })
        .unwrap();
    verify_all(&store.read().unwrap()).unwrap();
    assert!(store.db().stats().unwrap().pager.spilled_pages > 0);
}

/// Records appended in key order are held back with their index entries
/// (`Txn::put_entry`, `appended`) once the table's end is known: every read
/// of the table inside the transaction (the record just written, an
/// earlier one, the table's entries, a query through the index) sees
/// them, a rollback drops them, and the committed store holds what puts
/// one at a time would.
#[test]
fn appended_records_held_back_read_as_written() {
    use crate::query::Query;
    let (store, users) = users_store();
    store.create_index(users, "age", false).unwrap();
    let rec = |i: i64| {
        Input::table([
            ("age", Input::from(i % 9)),
            ("name", Input::from(format!("u{i}"))),
        ])
    };
    let name = |tx: &crate::Txn, i: i64| -> Option<Value> {
        match tx.get(users, &Key::Int(i)).unwrap()? {
            Value::Table(r) => tx.get(r, &k("name")).unwrap(),
            other => panic!("record {i} is {other:?}"),
        }
    };
    let load = |tx: &mut crate::Txn| -> crate::Result<()> {
        for i in 1..=400i64 {
            tx.set(users, Key::Int(i), rec(i))?;
            if i % 37 == 0 {
                assert_eq!(name(tx, i), Some(s(&format!("u{i}"))));
                assert_eq!(name(tx, i - 20), Some(s(&format!("u{}", i - 20))));
                assert_eq!(tx.entries(users).count() as i64, i);
                let aged = tx
                    .query(&Query::new(users).eq("age", i % 9))
                    .unwrap()
                    .count() as i64;
                assert_eq!(aged, (1..=i).filter(|j| j % 9 == i % 9).count() as i64);
            }
        }
        Ok(())
    };
    let mut tx = store.begin().unwrap();
    load(&mut tx).unwrap();
    tx.rollback();
    assert!(store
        .read()
        .unwrap()
        .get(users, &Key::Int(1))
        .unwrap()
        .is_none());
    assert!(entries(&store, users, "age").is_empty());
    store.write(load).unwrap();
    let snap = store.read().unwrap();
    verify_all(&snap).unwrap();
    assert_eq!(snap.entries(users).count(), 400);
    assert_eq!(entries(&store, users, "age").len(), 400);
}

/// The catalog is read from the store only after a commit (`Store::catalog_for`
/// trusts its cache until `Db::commit_count` moves): a store opened on the
/// same database, with a cache of its own, sees an index created or dropped
/// through the other as soon as it is committed, and never one rolled back.
#[test]
fn a_second_store_on_the_database_sees_committed_catalog_changes_only() {
    let (a, users) = users_store();
    let b = Store::open(a.db().clone()).unwrap();
    let names = |s: &Store| {
        let snap = s.read().unwrap();
        snap.indexes(users)
            .into_iter()
            .map(|d| d.field.to_string())
            .collect::<Vec<_>>()
    };
    assert!(names(&b).is_empty());
    a.create_index(users, "age", false).unwrap();
    assert_eq!(names(&b), ["age"]);
    let mut tx = b.begin().unwrap();
    tx.create_index(users, "city", false).unwrap();
    tx.rollback();
    assert_eq!(names(&a), ["age"]);
    assert_eq!(names(&b), ["age"]);
    b.drop_index(users, "age").unwrap();
    assert!(names(&a).is_empty());
    a.create_index(users, "city", false).unwrap();
    let mut writer = b.begin().unwrap();
    assert!(writer
        .indexes(users)
        .iter()
        .any(|d| d.field.to_string() == "city"));
    writer.drop_index(users, "city").unwrap();
    writer.commit().unwrap();
    assert!(names(&a).is_empty());
}
