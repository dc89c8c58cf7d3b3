//! Table semantics: nested writes, deep copies, identity, recursive
//! deletion, iteration, borders, paths, errors; and a model-based property
//! test of random assignments.

use std::collections::BTreeMap;

use quickcheck::{Arbitrary, Gen, TestResult};

use super::keyspace::{meta_key, NS_ENTRY, NS_INDEX};
use super::*;
use crate::codec::{Key, StoredView, Value};
use crate::error::EngineError;
use crate::testutil::{dump, k, model_of, quickcheck_cases, s, verify_all, Tree, M};

fn user(name: &str, age: i64) -> Input {
    Input::table([("name", Input::from(name)), ("age", Input::from(age))])
}

fn table_id(store: &Store, path: &[Key]) -> TableId {
    store
        .read()
        .unwrap()
        .lookup(path)
        .unwrap()
        .expect("table exists")
}

#[test]
fn nested_set_get_and_one_key_per_field() {
    let store = Store::memory().unwrap();
    store
        .set(ROOT, k("users"), Input::table([("u1", user("Ann", 30))]))
        .unwrap();
    let u1 = table_id(&store, &[k("users"), k("u1")]);
    let snap = store.read().unwrap();
    assert_eq!(snap.get(u1, &k("age")).unwrap(), Some(Value::Int(30)));
    assert_eq!(
        snap.get_path(ROOT, &[k("users"), k("u1"), k("name")])
            .unwrap(),
        Some(s("Ann"))
    );
    assert_eq!(snap.table_name(u1).unwrap(), "Memory.users.u1");
    drop(snap);

    // Writing one nested field rewrites exactly one entry.
    let mut tx = store.begin().unwrap();
    let before = tx.mutations;
    tx.set(u1, k("age"), 31).unwrap();
    assert_eq!(tx.mutations - before, 1);
    tx.commit().unwrap();
    assert_eq!(store.get(u1, &k("age")).unwrap(), Some(Value::Int(31)));
}

#[test]
fn float_keys_are_lua_keys_and_nan_is_refused() {
    let store = Store::memory().unwrap();
    store.set(ROOT, Key::Float(2.0), "two").unwrap();
    assert_eq!(store.get(ROOT, &Key::Int(2)).unwrap(), Some(s("two")));
    let snap = store.read().unwrap();
    assert_eq!(
        snap.next(ROOT, None).unwrap(),
        Some((Key::Int(2), s("two")))
    );
    drop(snap);
    let err = store.set(ROOT, Key::Float(f64::NAN), 1).unwrap_err();
    assert!(matches!(err, EngineError::InvalidKey(_)), "{err}");
    assert!(err.to_string().contains("NaN"));
    // Values keep their type: 1.0 stays a float value.
    store.set(ROOT, k("f"), 1.0).unwrap();
    assert_eq!(store.get(ROOT, &k("f")).unwrap(), Some(Value::Float(1.0)));
}

#[test]
fn identity_is_kept_when_a_table_replaces_a_table() {
    let store = Store::memory().unwrap();
    store
        .set(
            ROOT,
            k("users"),
            Input::table([("u1", user("Ann", 30)), ("u2", user("Bob", 40))]),
        )
        .unwrap();
    let users = table_id(&store, &[k("users")]);
    let u1 = table_id(&store, &[k("users"), k("u1")]);
    store.create_index(users, "age", false).unwrap();
    store
        .set_schema(users, Some(crate::schema::Schema::open()))
        .unwrap();

    store
        .set(
            ROOT,
            k("users"),
            Input::table([("u1", user("Ann", 31)), ("u3", user("Cy", 50))]),
        )
        .unwrap();
    assert_eq!(table_id(&store, &[k("users")]), users);
    assert_eq!(
        table_id(&store, &[k("users"), k("u1")]),
        u1,
        "nested identity too"
    );
    let snap = store.read().unwrap();
    assert_eq!(snap.indexes(users).len(), 1, "index survives");
    assert!(snap.schema(users).is_some(), "schema survives");
    assert_eq!(snap.get_path(users, &[k("u2")]).unwrap(), None);
    verify_all(&snap).unwrap();
    let ages: Vec<_> = crate::index::index_entries(&snap, &snap.indexes(users)[0])
        .unwrap()
        .into_iter()
        .map(|(v, r, _)| (v, r))
        .collect();
    assert_eq!(ages, vec![(Key::Int(31), k("u1")), (Key::Int(50), k("u3"))]);
    drop(snap);

    // `Memory.users = {}` empties but keeps the table.
    store.set(ROOT, k("users"), Input::empty_table()).unwrap();
    assert_eq!(table_id(&store, &[k("users")]), users);
    let snap = store.read().unwrap();
    assert_eq!(snap.len(users).unwrap(), 0);
    assert_eq!(snap.indexes(users).len(), 1);
    verify_all(&snap).unwrap();
}

#[test]
fn recursive_delete_removes_everything_below() {
    let store = Store::memory().unwrap();
    let deep = Input::table([(
        "a",
        Input::table([
            ("b", Input::table([("c", Input::from(1))])),
            ("x", Input::from("y")),
        ]),
    )]);
    store.set(ROOT, k("t"), deep).unwrap();
    let t = table_id(&store, &[k("t")]);
    let b = table_id(&store, &[k("t"), k("a"), k("b")]);
    store.create_index(t, "b.c", false).unwrap();
    store.create_index(b, "z", true).unwrap();
    store.set(ROOT, k("keep"), 5).unwrap();

    store.delete(ROOT, k("t")).unwrap();
    let snap = store.read().unwrap();
    // Only `keep` remains: no entries, metas or index entries of the subtree.
    let raw: Vec<Vec<u8>> = snap
        .kv()
        .range(
            std::ops::Bound::Unbounded,
            std::ops::Bound::Unbounded,
            false,
        )
        .map(|e| e.unwrap().0)
        .collect();
    let entries = raw.iter().filter(|k| k[0] == NS_ENTRY).count();
    let index_entries = raw.iter().filter(|k| k[0] == NS_INDEX).count();
    assert_eq!(entries, 1);
    assert_eq!(index_entries, 0);
    assert!(snap.kv().get(&meta_key(b)).unwrap().is_none());
    assert_eq!(snap.catalog().all_indexes().count(), 0);
    assert!(!snap.table_exists(t).unwrap());
    drop(snap);

    // A stale id is refused for writes, reads see nothing.
    let err = store.set(b, k("c"), 2).unwrap_err();
    assert!(matches!(err, EngineError::NoSuchTable { .. }), "{err}");
    assert_eq!(store.get(b, &k("c")).unwrap(), None);

    // Replacing a table by a scalar deletes it too.
    store
        .set(
            ROOT,
            k("t"),
            Input::table([("q", Input::table([("r", 1)]))]),
        )
        .unwrap();
    let q = table_id(&store, &[k("t"), k("q")]);
    store.set(ROOT, k("t"), 7).unwrap();
    assert!(!store.read().unwrap().table_exists(q).unwrap());
}

#[test]
fn next_entries_and_border() {
    let store = Store::memory().unwrap();
    let list = Input::table((1..=10).map(|i| (Key::Int(i), Input::from(i * 10))));
    store.set(ROOT, k("list"), list).unwrap();
    let l = table_id(&store, &[k("list")]);
    let snap = store.read().unwrap();
    assert_eq!(snap.border(l).unwrap(), 10);
    assert_eq!(snap.len(l).unwrap(), 10);
    let keys: Vec<Key> = snap.entries(l).map(|e| e.unwrap().0).collect();
    assert_eq!(keys, (1..=10).map(Key::Int).collect::<Vec<_>>());
    drop(snap);

    // `next` is stateless: deleting the current key while iterating works.
    let mut tx = store.begin().unwrap();
    let mut at = None;
    let mut seen = 0;
    while let Some((key, _)) = tx.next(l, at.as_ref()).unwrap() {
        if let Key::Int(n) = key {
            if n % 2 == 0 {
                tx.delete(l, key.clone()).unwrap();
            }
        }
        seen += 1;
        at = Some(key);
    }
    assert_eq!(seen, 10);
    assert_eq!(tx.len(l).unwrap(), 5);
    assert_eq!(tx.border(l).unwrap(), 1);
    tx.commit().unwrap();

    let store = Store::memory().unwrap();
    store.set(ROOT, k("e"), Input::empty_table()).unwrap();
    let e = table_id(&store, &[k("e")]);
    assert_eq!(store.read().unwrap().border(e).unwrap(), 0);
    store.set(e, Key::Int(i64::MAX), true).unwrap();
    store.set(e, Key::Int(1), true).unwrap();
    let b = store.read().unwrap().border(e).unwrap();
    let snap = store.read().unwrap();
    assert!(snap.get(e, &Key::Int(b)).unwrap().is_some());
    assert!(b == i64::MAX || snap.get(e, &Key::Int(b + 1)).unwrap().is_none());
}

#[test]
fn paths_and_intermediate_tables() {
    let store = Store::memory().unwrap();
    let mut tx = store.begin().unwrap();
    let c = tx.ensure_path(&[k("a"), k("b"), k("c")]).unwrap();
    assert_eq!(tx.table_path(c).unwrap(), vec![k("a"), k("b"), k("c")]);
    assert_eq!(tx.ensure_path(&[k("a"), k("b"), k("c")]).unwrap(), c);
    tx.set(c, k("x"), 1).unwrap();
    tx.set(ROOT, k("n"), 5).unwrap();
    let err = tx.ensure_path(&[k("n"), k("m")]).unwrap_err();
    assert!(matches!(err, EngineError::NotATable { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "Memory.n is an integer, not a table; assign a table there first"
    );
    assert!(!tx.is_failed(), "refused before writing");
    assert!(tx.lookup(&[k("n"), k("m")]).is_err());
    assert_eq!(tx.lookup(&[k("zz")]).unwrap(), None);
    tx.commit().unwrap();
    assert_eq!(table_id(&store, &[k("a"), k("b"), k("c")]), c);
}

#[test]
fn a_snapshot_finds_the_table_a_path_names_at_its_own_commit() {
    // Snapshots reuse the table an earlier one found by the same path
    // while no commit came between (`PathMemo`); every commit ends that.
    let store = Store::memory().unwrap();
    let other = Store::open(store.db().clone()).unwrap();
    let users = || [k("users")];
    store
        .set(ROOT, k("users"), Input::table::<&str, Input>([]))
        .unwrap();
    let before = store.read().unwrap();
    let first = before.lookup(&users()).unwrap().expect("users");
    assert_eq!(table_id(&store, &users()), first);
    // The path names no table after a commit of a second handle on the
    // database, then a non-table: each found at once.
    other.delete(ROOT, k("users")).unwrap();
    assert_eq!(store.read().unwrap().lookup(&users()).unwrap(), None);
    assert_eq!(before.lookup(&users()).unwrap(), Some(first));
    store.set(ROOT, k("users"), 5).unwrap();
    assert!(store.read().unwrap().lookup(&users()).is_err());
    // A rolled-back transaction changes nothing: still a number.
    let mut tx = store.begin().unwrap();
    tx.set(ROOT, k("users"), Input::table::<&str, Input>([]))
        .unwrap();
    tx.rollback();
    assert!(store.read().unwrap().lookup(&users()).is_err());
}

#[test]
fn refused_keys_and_values() {
    let store = Store::memory().unwrap();
    let long = Key::Str(vec![b'x'; store.max_key_len()]);
    let err = store.set(ROOT, long, 1).unwrap_err();
    assert!(matches!(err, EngineError::KeyTooLong { .. }), "{err}");
    let err = store
        .set(ROOT, k("r"), Input::Value(Value::Table(1)))
        .unwrap_err();
    assert!(matches!(err, EngineError::InvalidArgument(_)), "{err}");
    // Long string values are fine (overflow pages).
    let big = Value::Str(vec![7; 100_000]);
    store.set(ROOT, k("big"), big.clone()).unwrap();
    assert_eq!(store.get(ROOT, &k("big")).unwrap(), Some(big));
}

#[test]
fn large_strings_and_functions_read_back_after_a_crash() {
    use crate::kv::{Db, Options};
    use moonvault_pager::store::memory::MemoryStore;
    // Around the size from which an encoding is written in parts, the
    // inline limit, and past the WAL limit (committed by checkpoint).
    let sizes = [0, 1000, 1023, 1024, 1025, 3000, 9000, 100_000];
    let mem = MemoryStore::new();
    let store = Store::open(Db::open(Box::new(mem.clone()), Options::default()).unwrap()).unwrap();
    let mut expected = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let bytes: Vec<u8> = (0..len).map(|j| (j * 31 + i) as u8).collect();
        for (n, v) in [Value::Str(bytes.clone()), Value::Function(bytes)]
            .into_iter()
            .enumerate()
        {
            let key = Key::Int((i * 2 + n) as i64);
            store.set(ROOT, key.clone(), v.clone()).unwrap();
            expected.push((key, v));
        }
    }
    // A crash: the store is reopened from its blobs, WAL replayed.
    let again = Store::open(
        Db::open(
            Box::new(MemoryStore::from_contents(mem.snapshot())),
            Options::default(),
        )
        .unwrap(),
    )
    .unwrap();
    for (key, v) in &expected {
        assert_eq!(again.get(ROOT, key).unwrap().as_ref(), Some(v), "{key:?}");
    }
}

#[test]
fn replacing_large_values_keeps_indexes_and_frees_their_pages() {
    // Entries holding a large string or function are replaced without
    // being read (`Prior::Opaque`); what they become must still move the
    // index entries below them and free their chains.
    let store = Store::memory().unwrap();
    store.set(ROOT, k("users"), Input::empty_table()).unwrap();
    let users = table_id(&store, &[k("users")]);
    store.create_index(users, "bio.x", false).unwrap();
    store
        .set(users, k("u1"), Input::table([("name", "a")]))
        .unwrap();
    let u1 = table_id(&store, &[k("users"), k("u1")]);
    let long = |c: u8| Value::Str(vec![c; 50_000]);
    let function = Value::Function(vec![7; 30_000]);
    let short = Value::Str(b"short".to_vec());
    let steps: Vec<(Input, Option<Value>, usize)> = vec![
        (long(b'a').into(), Some(long(b'a')), 0),
        (long(b'a').into(), Some(long(b'a')), 0),
        (long(b'b').into(), Some(long(b'b')), 0),
        (function.clone().into(), Some(function), 0),
        (Input::table([("x", 5)]), None, 1),
        (long(b'c').into(), Some(long(b'c')), 0),
        (short.clone().into(), Some(short), 0),
        (long(b'd').into(), Some(long(b'd')), 0),
        (Input::Nil, None, 0),
    ];
    for (i, (input, expected, indexed)) in steps.into_iter().enumerate() {
        let is_table = matches!(input, Input::Table(_));
        store.set(u1, k("bio"), input).unwrap();
        let found = store.get(u1, &k("bio")).unwrap();
        if is_table {
            assert!(
                matches!(found, Some(Value::Table(_))),
                "step {i}: {found:?}"
            );
        } else {
            assert_eq!(found, expected, "step {i}");
        }
        let snap = store.read().unwrap();
        verify_all(&snap).unwrap();
        let def = &store.indexes().unwrap()[0];
        let entries = crate::index::index_entries(&snap, def).unwrap();
        assert_eq!(entries.len(), indexed, "step {i}");
    }
    let report = store.db().check().unwrap();
    assert_eq!(report.overflow_pages, 0, "every chain freed");
    assert_eq!(store.get(u1, &k("name")).unwrap(), Some(s("a")));
}

#[test]
fn a_failed_transaction_only_rolls_back() {
    let store = Store::memory().unwrap();
    store.set(ROOT, k("users"), Input::empty_table()).unwrap();
    let users = table_id(&store, &[k("users")]);
    store.create_index(users, "email", true).unwrap();
    store
        .set(users, k("a"), Input::table([("email", "x")]))
        .unwrap();
    let mut tx = store.begin().unwrap();
    // The literal's record table is created before its email collides.
    let err = tx
        .set(users, k("b"), Input::table([("email", "x")]))
        .unwrap_err();
    assert!(matches!(err, EngineError::UniqueViolation(..)), "{err}");
    assert!(tx.is_failed());
    assert!(matches!(
        tx.set(ROOT, k("z"), 1),
        Err(EngineError::TxnAborted(_))
    ));
    assert!(tx.commit().is_err());
    assert_eq!(store.get(users, &k("b")).unwrap(), None);
    // A single-field write refused before writing keeps the transaction.
    store
        .set(users, k("b"), Input::table([("email", "y")]))
        .unwrap();
    let b = table_id(&store, &[k("users"), k("b")]);
    let mut tx = store.begin().unwrap();
    assert!(tx.set(b, k("email"), "x").is_err());
    assert!(!tx.is_failed());
    tx.set(b, k("email"), "z").unwrap();
    tx.commit().unwrap();
    verify_all(&store.read().unwrap()).unwrap();
}

// ---- model-based property test -------------------------------------------

/// Small key universe so that random operations collide.
fn small_key(g: &mut Gen) -> Key {
    match u8::arbitrary(g) % 5 {
        0 => Key::Int(i64::from(u8::arbitrary(g) % 4)),
        1 => Key::Float(f64::from(u8::arbitrary(g) % 4)),
        2 => Key::Float(0.5),
        3 => Key::Bool(bool::arbitrary(g)),
        _ => Key::Str(vec![b'a' + u8::arbitrary(g) % 4]),
    }
}

fn small_input(g: &mut Gen, depth: u32) -> Input {
    match u8::arbitrary(g) % 6 {
        0 => Input::Nil,
        1 | 2 if depth > 0 => {
            let n = usize::from(u8::arbitrary(g) % 4);
            Input::Table(
                (0..n)
                    .map(|_| (small_key(g), small_input(g, depth - 1)))
                    .collect(),
            )
        }
        3 => Input::Value(Value::Int(i64::from(u8::arbitrary(g) % 3))),
        4 => Input::Value(Value::Str(vec![b'v'; usize::from(u8::arbitrary(g) % 3)])),
        _ => Input::Value(Value::Bool(bool::arbitrary(g))),
    }
}

#[derive(Clone, Debug)]
struct Op {
    path: Vec<Key>,
    key: Key,
    input: Input,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        let depth = u8::arbitrary(g) % 3;
        Op {
            path: (0..depth).map(|_| small_key(g)).collect(),
            key: small_key(g),
            input: small_input(g, 3),
        }
    }
}

/// The model's table at `path`, if every step is a table.
fn model_table<'a>(tree: &'a mut Tree, path: &[Key]) -> Option<&'a mut Tree> {
    let mut t = tree;
    for key in path {
        let key = normalize_key(key.clone()).ok()?;
        match t.get_mut(&key) {
            Some(M::T(next)) => t = next,
            _ => return None,
        }
    }
    Some(t)
}

#[test]
fn random_assignments_match_a_model() {
    fn prop(ops: Vec<Op>) -> TestResult {
        let store = Store::memory().unwrap();
        let root = table_id(&store, &[]);
        // Indexes on Memory's records keep maintenance in the loop.
        store.create_index(root, vec![Key::Int(1)], false).unwrap();
        store
            .create_index(root, vec![k("a"), k("b")], false)
            .unwrap();
        let mut model: Tree = BTreeMap::new();
        for op in ops {
            let result = store.write(|tx| {
                let table = match tx.lookup(&op.path)? {
                    Some(t) => t,
                    None => return Ok(false),
                };
                tx.set(table, op.key.clone(), op.input.clone())?;
                Ok(true)
            });
            match (result, model_table(&mut model, &op.path)) {
                (Ok(true), Some(t)) => {
                    let key = normalize_key(op.key.clone()).unwrap();
                    match model_of(&op.input) {
                        Some(m) => {
                            t.insert(key, m);
                        }
                        None => {
                            t.remove(&key);
                        }
                    }
                }
                (Ok(false), None) => {}
                (Err(EngineError::NotATable { .. }), None) => {}
                (r, m) => {
                    return TestResult::error(format!(
                        "{op:?}: store {r:?}, model has table: {}",
                        m.is_some()
                    ))
                }
            }
            let snap = store.read().unwrap();
            let stored = dump(&snap, ROOT).unwrap();
            if stored != model {
                return TestResult::error(format!(
                    "after {op:?}:\nstore {stored:?}\nmodel {model:?}"
                ));
            }
            if let Err(e) = verify_all(&snap) {
                return TestResult::error(format!("after {op:?}: {e}"));
            }
        }
        // Every table meta belongs to a reachable table: nothing leaked.
        let snap = store.read().unwrap();
        let metas = match snap.check_metas() {
            Ok(report) => report.tables as usize,
            Err(e) => return TestResult::error(format!("metas: {e}")),
        };
        fn tables(t: &Tree) -> usize {
            t.values()
                .map(|m| match m {
                    M::T(c) => 1 + tables(c),
                    M::S(_) => 0,
                })
                .sum()
        }
        if metas != tables(&model) {
            return TestResult::error(format!("{metas} metas for {} tables", tables(&model)));
        }
        TestResult::passed()
    }
    quickcheck_cases(60).quickcheck(prop as fn(Vec<Op>) -> TestResult);
}

/// A lent read (`with_stored`, `next_with`) sees exactly what an owned
/// read (`get_stored`, `next_stored`) does: packed records, tables of
/// entries, fields of a packed record, scalars and absent keys; index
/// and scan plans.
#[test]
fn lent_reads_agree_with_owned_reads() {
    use crate::codec::Stored;
    use crate::query::Query;

    let store = Store::memory().unwrap();
    let nested = Input::table([
        ("name", Input::from("Eve")),
        ("tags", Input::table([(1, "x")])),
    ]);
    store
        .set(
            ROOT,
            k("users"),
            Input::table([
                ("u1", user("Ann", 42)),
                ("u2", user("Bob", 42)),
                ("u3", nested),
                ("n", Input::from(7)),
            ]),
        )
        .unwrap();
    let users = table_id(&store, &[k("users")]);
    let u1 = table_id(&store, &[k("users"), k("u1")]);
    let snap = store.read().unwrap();
    assert!(snap.packed(u1).unwrap().is_some(), "u1 packs");
    let lent = |table, key: &Key| {
        snap.with_stored(table, key, |v| match v {
            Some(StoredView::Record(r)) => Some(Stored::Record(r.to_record())),
            Some(StoredView::Value(v)) => Some(Stored::Value(v)),
            None => None,
        })
        .unwrap()
    };
    for (table, key) in [
        (users, k("u1")),
        (users, k("u3")),
        (users, k("n")),
        (users, k("nobody")),
        (u1, k("age")),
        (u1, k("name")),
        (u1, k("missing")),
        (987_654, k("x")),
    ] {
        assert_eq!(
            lent(table, &key),
            snap.get_stored(table, &key).unwrap(),
            "{table}[{key}]"
        );
    }
    drop(snap);

    for with_index in [false, true] {
        if with_index {
            store.create_index(users, "age", false).unwrap();
        }
        let snap = store.read().unwrap();
        let q = Query::new(users).eq("age", 42i64);
        assert_eq!(snap.explain(&q).unwrap().uses_index(), with_index);
        let (mut owned, mut lent) = (
            snap.query_cursor(&q).unwrap(),
            snap.query_cursor(&q).unwrap(),
        );
        let mut rows = 0;
        while let Some((key, value)) = owned.next_stored(&snap).unwrap() {
            let got = lent
                .next_with(&snap, |k, v| {
                    let fields: Vec<_> = match &v {
                        StoredView::Record(r) => r
                            .fields()
                            .map(|(k, v)| (k.to_key(), v.to_value()))
                            .collect(),
                        StoredView::Value(_) => vec![],
                    };
                    (k.clone(), v.table_id(), fields)
                })
                .unwrap()
                .expect("a row");
            let fields = match &value {
                Stored::Record(r) => r.fields.clone(),
                Stored::Value(_) => vec![],
            };
            assert_eq!(got, (key, value.table_id(), fields));
            rows += 1;
        }
        assert_eq!(rows, 2);
        assert!(lent.next_with(&snap, |_, _| ()).unwrap().is_none());
    }
}

#[test]
fn every_handle_sees_the_catalog_its_own_and_other_handles_committed() {
    let a = Store::memory().unwrap();
    let b = Store::open(a.db().clone()).unwrap();
    let users = a.write(|tx| tx.ensure_path(&[k("users")])).unwrap();
    let indexes = |store: &Store| store.read().unwrap().catalog().all_indexes().count();
    // Its own commits: the next transaction starts from what it committed,
    // without reading the stored generation.
    a.create_index(users, "age", false).unwrap();
    assert_eq!(indexes(&a), 1);
    a.write(|tx| tx.set(users, k("u1"), user("Ann", 30)))
        .unwrap();
    a.write(|tx| {
        assert_eq!(tx.catalog().all_indexes().count(), 1);
        tx.set(users, k("u2"), user("Bob", 40))
    })
    .unwrap();
    // Another handle's commits, and a rolled-back change.
    assert_eq!(indexes(&b), 1);
    b.create_index(users, "name", true).unwrap();
    assert_eq!(indexes(&a), 2);
    a.write(|tx| {
        assert_eq!(tx.catalog().all_indexes().count(), 2);
        Ok(())
    })
    .unwrap();
    let refused: crate::error::Result<()> = a.write(|tx| {
        tx.create_index(users, "city", false)?;
        Err(EngineError::InvalidArgument("roll back".into()))
    });
    assert!(refused.is_err());
    assert_eq!(indexes(&a), 2);
    assert_eq!(indexes(&b), 2);
    b.write(|tx| {
        assert_eq!(tx.catalog().all_indexes().count(), 2);
        tx.set(users, k("u3"), user("Cy", 50))
    })
    .unwrap();
    assert!(a.read().unwrap().get(users, &k("u3")).unwrap().is_some());
}

/// Meta entries of one transaction's kind: (entries, runs, tables).
fn meta_shape(store: &Store) -> (u64, u64, u64) {
    let report = store.read().unwrap().check_metas().unwrap();
    (report.entries, report.runs, report.tables)
}

/// The id of the record at `users[i]`.
fn record_id(store: &Store, users: TableId, i: i64) -> TableId {
    match store.read().unwrap().get(users, &Key::Int(i)).unwrap() {
        Some(Value::Table(id)) => id,
        other => panic!("users[{i}] is {other:?}"),
    }
}

#[test]
fn records_created_in_order_share_one_meta_entry() {
    let store = Store::memory().unwrap();
    let users = store
        .write(|tx| {
            let users = tx.ensure_path(&[k("users")])?;
            for i in 1..=100 {
                tx.set(users, Key::Int(i), user("u", i))?;
            }
            Ok(users)
        })
        .unwrap();
    // `users` itself, and one run for its 100 records.
    assert_eq!(meta_shape(&store), (2, 1, 101));
    // A later transaction's record joins the run.
    store.set(users, Key::Int(101), user("u", 101)).unwrap();
    assert_eq!(meta_shape(&store), (2, 1, 102));
    let (r10, r50, r60, r101) = (
        record_id(&store, users, 10),
        record_id(&store, users, 50),
        record_id(&store, users, 60),
        record_id(&store, users, 101),
    );

    // A delete splits the run around the record.
    store.set(users, Key::Int(50), Input::Nil).unwrap();
    assert_eq!(meta_shape(&store), (3, 2, 101));
    assert!(!store.read().unwrap().table_exists(r50).unwrap());
    // Unpacking (a nested table) gives the record a meta of its own.
    store.set(r10, k("tags"), Input::table([("a", 1)])).unwrap();
    // users, [1, 9], 10, 10.tags, [11, 49], [51, 101]
    assert_eq!(meta_shape(&store), (6, 3, 102));
    assert_eq!(
        store.read().unwrap().table_name(r10).unwrap(),
        "Memory.users[10]"
    );

    // `table.insert(users, 60, x)`: every record from 60 up moves by one
    // (in descending order), and they form a run again.
    store
        .write(|tx| {
            let moves = (60..=101).rev().map(|i| (Key::Int(i), Key::Int(i + 1)));
            tx.move_entries(users, moves.collect())?;
            tx.set(users, Key::Int(60), user("new", 60))
        })
        .unwrap();
    let snap = store.read().unwrap();
    assert_eq!(snap.table_name(r60).unwrap(), "Memory.users[61]");
    assert_eq!(snap.table_name(r101).unwrap(), "Memory.users[102]");
    assert_eq!(snap.get(r60, &k("age")).unwrap(), Some(Value::Int(60)));
    let report = snap.check_metas().unwrap();
    assert_eq!(report.tables, 103);
    drop(snap);

    // Records of two tables made in turn, and string keys: one meta each.
    store
        .write(|tx| {
            let pets = tx.ensure_path(&[k("pets")])?;
            for i in 200..210 {
                tx.set(users, Key::Int(i), user("u", i))?;
                tx.set(pets, Key::Int(i), user("p", i))?;
                tx.set(pets, Key::from(format!("p{i}").as_str()), user("p", i))?;
            }
            Ok(())
        })
        .unwrap();
    let report = store.read().unwrap().check_metas().unwrap();
    assert_eq!(report.tables, 103 + 1 + 30);

    // Deleting the table deletes every meta it stood for.
    store.set(ROOT, k("users"), Input::Nil).unwrap();
    store.set(ROOT, k("pets"), Input::Nil).unwrap();
    assert_eq!(meta_shape(&store), (0, 0, 0));
}

#[test]
fn a_meta_inside_a_run_or_pointing_elsewhere_is_damage() {
    let store = Store::memory().unwrap();
    let users = store
        .write(|tx| {
            let users = tx.ensure_path(&[k("users")])?;
            for i in 1..=5 {
                tx.set(users, Key::Int(i), user("u", i))?;
            }
            Ok(users)
        })
        .unwrap();
    let r3 = record_id(&store, users, 3);
    let mut tx = store.begin().unwrap();
    let inside = super::keyspace::MetaEntry::single(users, Key::Int(3), true);
    tx.raw_put(&meta_key(r3), &super::keyspace::encode_meta(&inside))
        .unwrap();
    let e = tx.check_metas().unwrap_err();
    assert!(e.to_string().contains("inside the run"), "{e}");
    tx.rollback();

    let mut tx = store.begin().unwrap();
    let elsewhere = super::keyspace::MetaEntry::single(users, Key::Int(4), true);
    tx.raw_put(&meta_key(r3), &super::keyspace::encode_meta(&elsewhere))
        .unwrap();
    tx.raw_delete(&meta_key(r3 - 2)).unwrap();
    let e = tx.check_metas().unwrap_err();
    assert!(e.to_string().contains("not where its meta says"), "{e}");
}

/// The store `mem` holds, opened afresh (nothing cached, no aid yet).
fn reopened(mem: &moonvault_pager::store::memory::MemoryStore) -> Store {
    use crate::kv::{Db, Options};
    let store = moonvault_pager::store::memory::MemoryStore::from_contents(mem.snapshot());
    Store::open(Db::open(Box::new(store), Options::default()).unwrap()).unwrap()
}

/// A packed record's encoding with its first two fields swapped: keys out
/// of order, which only the record check sees.
fn with_fields_swapped(record: &[u8]) -> Vec<u8> {
    assert_eq!(record[0], crate::codec::TAG_RECORD);
    let (_, used) = crate::codec::varint::decode_u64(&record[1..]).unwrap();
    let (head, fields) = record.split_at(1 + used);
    let first = 2 + usize::from(fields[0]) + usize::from(fields[1 + usize::from(fields[0])]);
    [head, &fields[first..], &fields[..first]].concat()
}

#[test]
fn a_hot_leaf_vouches_for_its_records_and_never_for_a_damaged_one() {
    use super::keyspace::entry_key;
    use crate::kv::{Db, Options};
    use moonvault_pager::store::memory::MemoryStore;
    let names: Vec<String> = (0..30).map(|i| format!("u{i:02}")).collect();
    let mem = MemoryStore::new();
    let store = Store::open(Db::open(Box::new(mem.clone()), Options::default()).unwrap()).unwrap();
    let records = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), user("Ann", i as i64)));
    store.set(ROOT, k("users"), Input::table(records)).unwrap();
    let users = table_id(&store, &[k("users")]);
    // Reads of a freshly opened store, as many times as it takes a page
    // to earn its aid: the verdicts seen, and every record's fields.
    let read_all = |store: &Store| {
        let snap = store.read().unwrap();
        let mut vouched = Vec::new();
        let mut seen = BTreeMap::new();
        for _ in 0..2 * moonvault_pager::AID_AFTER_USES {
            for n in &names {
                let ek = entry_key(users, &k(n));
                snap.kv()
                    .get_vouched(&ek, &mut |_, v| {
                        vouched.push(v);
                        Ok(())
                    })
                    .unwrap();
                let fields = snap.with_stored(users, &k(n), |found| match found {
                    Some(StoredView::Record(r)) => Ok(r.to_record().fields),
                    other => Err(format!("{other:?}")),
                });
                seen.insert(n.clone(), fields.map_err(|e| e.to_string()));
            }
        }
        (vouched, seen)
    };

    let (vouched, seen) = read_all(&reopened(&mem));
    assert!(!vouched[0], "a page is not vouched for before its aid");
    assert!(vouched.last().unwrap(), "a hot leaf of good records is");
    for (n, fields) in &seen {
        assert_eq!(fields.as_ref().unwrap().as_ref().unwrap().len(), 2, "{n}");
    }

    // Swap u07's two fields, written raw, as a bad store would hold them.
    let ek = entry_key(users, &k("u07"));
    let good = store.read().unwrap().kv().get(&ek).unwrap().unwrap();
    store
        .write(|tx| tx.raw_put(&ek, &with_fields_swapped(&good)))
        .unwrap();

    let (vouched, seen) = read_all(&reopened(&mem));
    assert!(
        vouched.iter().all(|v| !v),
        "the leaf holding a damaged record is never vouched for"
    );
    for (n, fields) in &seen {
        match fields {
            Err(e) if n == "u07" => assert!(e.contains("out of order"), "{e}"),
            Ok(Ok(f)) if n != "u07" => assert_eq!(f.len(), 2, "{n}"),
            other => panic!("{n}: {other:?}"),
        }
    }
}

#[test]
fn a_record_an_index_entry_carries_is_vouched_for_like_the_table_entry() {
    use crate::kv::{Db, Options};
    use crate::query::Query;
    use moonvault_pager::store::memory::MemoryStore;
    let mem = MemoryStore::new();
    let store = Store::open(Db::open(Box::new(mem.clone()), Options::default()).unwrap()).unwrap();
    let records = (0..30).map(|i| (format!("u{i:02}"), user("Ann", i % 3)));
    store.set(ROOT, k("users"), Input::table(records)).unwrap();
    let users = table_id(&store, &[k("users")]);
    store.create_index(users, "age", false).unwrap();
    // Every query of each age, as many times as it takes the index's
    // leaf to earn its aid: the verdicts of the index entries, and what
    // each query found (or why it failed).
    let run = |store: &Store| {
        let snap = store.read().unwrap();
        let (mut vouched, mut found) = (Vec::new(), Vec::new());
        for _ in 0..2 * moonvault_pager::AID_AFTER_USES {
            let mut cursor = snap.kv().prefix_cursor(&[NS_INDEX]);
            while snap
                .kv()
                .cursor_next_vouched(&mut cursor, &mut |_, _, v| {
                    vouched.push(v);
                    Ok(())
                })
                .unwrap()
            {}
            for age in 0..3 {
                let q = Query::new(users).eq("age", age);
                let mut cursor = snap.query_cursor(&q).unwrap();
                let mut n = 0;
                let outcome = loop {
                    match cursor.next_with(&snap, |_, r| matches!(r, StoredView::Record(_))) {
                        Ok(Some(true)) => n += 1,
                        Ok(Some(false)) => break Err("not a record".to_string()),
                        Ok(None) => break Ok(n),
                        Err(e) => break Err(e.to_string()),
                    }
                };
                found.push((age, outcome));
            }
        }
        (vouched, found)
    };

    let (vouched, found) = run(&reopened(&mem));
    assert!(vouched.last().unwrap(), "a hot index leaf is vouched for");
    assert!(found.iter().all(|(_, n)| n == &Ok(10)), "{found:?}");

    // Damage the record the index entry of u07 (age 1) carries: its
    // fields swapped, keys out of order.
    let snap = store.read().unwrap();
    let mut cursor = snap.kv().prefix_cursor(&[NS_INDEX]);
    let mut target = None;
    let mut u07 = Vec::new();
    crate::codec::encode_key(&k("u07"), &mut u07);
    while let Some((key, value)) = snap.kv().cursor_next(&mut cursor).unwrap() {
        if key.ends_with(&u07) {
            target = Some((key, value));
        }
    }
    drop(snap);
    let (key, good) = target.expect("u07's index entry");
    // The entry carries the record (the helper checks its tag).
    store
        .write(|tx| tx.raw_put(&key, &with_fields_swapped(&good)))
        .unwrap();

    let (vouched, found) = run(&reopened(&mem));
    assert!(vouched.iter().all(|v| !v), "never vouched for");
    for (age, outcome) in found {
        match (age, outcome) {
            (1, Err(e)) => assert!(e.contains("out of order"), "{e}"),
            (0 | 2, Ok(10)) => {}
            other => panic!("{other:?}"),
        }
    }
}
