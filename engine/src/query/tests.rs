//! Queries: plans chosen, ordering, caps, and a property test that results
//! are identical with and without indexes and equal a naive filter.

use std::collections::BTreeMap;

use quickcheck::{Arbitrary, Gen, TestResult};

use super::*;
use crate::codec::{Key, Stored, Value};
use crate::error::EngineError;
use crate::table::keyspace::MAX_COVERED_RECORD;
use crate::table::{Input, Store, TableId, TableRead};
use crate::testutil::{k, quickcheck_cases, Tree, M};

/// The seed's data set: `{name = "User "..i, age = 20 + i % 50, score = i * 10}`.
fn seed_users(n: i64) -> (Store, TableId) {
    let store = Store::memory().unwrap();
    let users = store.ensure_path(&[k("users")]).unwrap();
    let mut tx = store.begin().unwrap();
    for i in 0..n {
        let rec = Input::table([
            ("name", Input::from(format!("User {i}"))),
            ("age", Input::from(20 + i % 50)),
            ("score", Input::from(i * 10)),
        ]);
        tx.set(users, Key::Int(i), rec).unwrap();
    }
    tx.commit().unwrap();
    (store, users)
}

fn keys(store: &Store, q: &Query) -> Vec<Key> {
    let snap = store.read().unwrap();
    snap.query(q).unwrap().map(|r| r.unwrap().0).collect()
}

#[test]
fn plans_use_indexes_when_they_exist() {
    let (store, users) = seed_users(1000);
    let eq = Query::new(users).eq("age", 42);
    let range = Query::new(users).gt("age", 60).limit(10);
    let snap = store.read().unwrap();
    assert_eq!(snap.explain(&eq).unwrap().access, Access::Scan);
    let scanned = keys(&store, &eq);
    assert_eq!(scanned.len(), 20);
    drop(snap);

    store.create_index(users, "age", false).unwrap();
    let snap = store.read().unwrap();
    let plan = snap.explain(&eq).unwrap();
    assert!(plan.uses_index(), "{plan}");
    assert_eq!(plan.filters, 0);
    assert_eq!(
        keys(&store, &eq),
        scanned,
        "same records, here in the same order"
    );
    let plan = snap.explain(&range).unwrap();
    assert_eq!(
        plan.index_field().map(ToString::to_string).as_deref(),
        Some("age")
    );
    let got = keys(&store, &range);
    assert_eq!(got.len(), 10);
    assert_eq!(
        snap.count(&Query::new(users).gt("age", 60)).unwrap(),
        9 * 20
    );
    assert_eq!(snap.count(&range).unwrap(), 10);
    assert_eq!(
        snap.count(&Query::new(users).gt("age", 60).offset(175))
            .unwrap(),
        5
    );
    // Two candidate indexes: the probe picks the selective one.
    drop(snap);
    store.create_index(users, "score", false).unwrap();
    let snap = store.read().unwrap();
    let q = Query::new(users).ge("age", 20).eq("score", 420);
    let plan = snap.explain(&q).unwrap();
    assert_eq!(plan.index_field().unwrap().to_string(), "score", "{plan}");
    assert!(
        matches!(
            plan.access,
            Access::Index {
                estimate: Estimate::Exact(1),
                ..
            }
        ),
        "{plan}"
    );
    assert_eq!(keys(&store, &q), vec![Key::Int(42)]);
    // Contradictions read nothing.
    let none = Query::new(users).gt("age", 30).lt("age", 25);
    assert_eq!(snap.explain(&none).unwrap().access, Access::Nothing);
    assert_eq!(snap.count(&none).unwrap(), 0);
    // Display is readable.
    let text = snap.explain(&range).unwrap().to_string();
    assert!(text.contains("index") && text.contains("age"), "{text}");
}

#[test]
fn order_by_streams_an_index_and_caps_in_memory_sorts() {
    let (store, users) = seed_users(300);
    // A record without an age, and a scalar entry: they sort last.
    store
        .set(users, k("odd"), Input::table([("name", "x")]))
        .unwrap();
    store.set(users, k("scalar"), 5).unwrap();
    let q = Query::new(users).order_by("age", Order::Desc).sort_cap(10);
    // No index, no limit: more than the cap must be sorted.
    let snap = store.read().unwrap();
    let err = snap.query(&q).unwrap().find_map(Result::err).unwrap();
    assert!(
        matches!(err, EngineError::SortTooLarge { cap: 10, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("create an index on age"), "{err}");
    // With a limit: a heap of limit + offset.
    let top = Query::new(users)
        .order_by("age", Order::Desc)
        .limit(3)
        .offset(1)
        .sort_cap(10);
    assert!(matches!(
        snap.explain(&top).unwrap().sort,
        SortPlan::Heap { keep: 4, .. }
    ));
    let heap_rows = keys(&store, &top);
    drop(snap);
    // With an index: streamed in order, no cap involved, tail included.
    store.create_index(users, "age", false).unwrap();
    let snap = store.read().unwrap();
    let plan = snap.explain(&q).unwrap();
    assert!(
        matches!(
            plan.sort,
            SortPlan::IndexOrder {
                tail_scan: true,
                ..
            }
        ),
        "{plan}"
    );
    let all = keys(&store, &q);
    assert_eq!(all.len(), 302);
    assert_eq!(&all[300..], &[k("odd"), k("scalar")]);
    // Ages 69 first; ties by record key descending.
    assert_eq!(all[0], Key::Int(299));
    assert_eq!(all[1], Key::Int(249));
    assert_eq!(keys(&store, &top), heap_rows, "index and heap agree");
    assert_eq!(heap_rows, all[1..4].to_vec());
}

#[test]
fn cursors_are_detached_and_stream() {
    let (store, users) = seed_users(2000);
    store.create_index(users, "age", false).unwrap();
    let mut tx = store.begin().unwrap();
    let q = Query::new(users).eq("age", 25).order_by("age", Order::Asc);
    let mut cursor = tx.query_cursor(&q).unwrap();
    let mut n = 0;
    // Writing between steps: give each visited record a new field.
    while let Some((key, _)) = cursor.next(&tx).unwrap() {
        let rec = tx.lookup(&[k("users"), key.clone()]).unwrap().unwrap();
        tx.set(rec, k("seen"), true).unwrap();
        n += 1;
    }
    assert_eq!(n, 40);
    assert_eq!(tx.count(&Query::new(users).eq("seen", true)).unwrap(), 40);
    tx.commit().unwrap();
}

/// Whether two cursors run the very same kept plan.
fn same_plan(a: &QueryCursor, b: &QueryCursor) -> bool {
    std::rc::Rc::ptr_eq(a.planned(), b.planned())
}

#[test]
fn plans_are_kept_while_the_catalog_stays_the_same() {
    let (store, users) = seed_users(500);
    let range = Query::new(users).gt("age", 60).limit(10);
    let want = keys(&store, &range);
    let snap = store.read().unwrap();
    let first = snap.query_cursor(&range).unwrap();
    let again = snap.query_cursor(&range.clone()).unwrap();
    assert!(same_plan(&first, &again), "an equal query reuses the plan");
    assert_eq!(first.plan().access, Access::Scan);
    let other = snap.query_cursor(&range.clone().limit(11)).unwrap();
    assert!(!same_plan(&first, &other), "a different limit is planned");
    assert_eq!(snap.catalog().plans().len(), 2);
    drop(snap);

    // An index created: the kept scan is forgotten, the index is used,
    // and the results are the same records.
    store.create_index(users, "age", false).unwrap();
    let snap = store.read().unwrap();
    let indexed = snap.query_cursor(&range).unwrap();
    assert!(indexed.plan().uses_index(), "{}", indexed.plan());
    assert_eq!(snap.catalog().plans().len(), 1);
    assert_eq!(keys(&store, &range).len(), want.len());
    drop((snap, indexed));

    // Created and dropped inside a transaction: its own queries follow it,
    // and a rollback leaves the committed catalog's plans as they were.
    store.create_index(users, "score", false).unwrap();
    let mut tx = store.begin().unwrap();
    assert!(tx.query_cursor(&range).unwrap().plan().uses_index());
    tx.drop_index(users, "age").unwrap();
    let unindexed = tx.query_cursor(&range).unwrap();
    assert_eq!(unindexed.plan().access, Access::Scan);
    assert_eq!(
        tx.query(&range).unwrap().count(),
        10,
        "a plan of the dropped index would read nothing"
    );
    // The transaction's catalog is its own now: changed again in place,
    // it forgets the scan it kept.
    tx.create_index(users, "age", false).unwrap();
    assert!(tx.query_cursor(&range).unwrap().plan().uses_index());
    tx.rollback();
    let snap = store.read().unwrap();
    assert!(snap.query_cursor(&range).unwrap().plan().uses_index());

    // Two candidate indexes are probed: that plan depends on the data and
    // is made anew each time.
    let probed = Query::new(users).gt("age", 60).eq("score", 4210);
    let a = snap.query_cursor(&probed).unwrap();
    let b = snap.query_cursor(&probed).unwrap();
    assert!(!same_plan(&a, &b));
    assert!(matches!(
        a.plan().access,
        Access::Index {
            estimate: Estimate::Exact(_),
            ..
        }
    ));

    // A long `in` list is not kept in memory.
    let many = Query::new(users).is_in("age", 0..100i64);
    let a = snap.query_cursor(&many).unwrap();
    let b = snap.query_cursor(&many).unwrap();
    assert!(!same_plan(&a, &b));
    let few = Query::new(users).is_in("age", [30i64, 31]);
    let a = snap.query_cursor(&few).unwrap();
    assert!(same_plan(&a, &snap.query_cursor(&few).unwrap()));
}

#[test]
fn a_snapshot_cursor_ignores_commits_made_while_iterating() {
    let (store, users) = seed_users(500);
    store.create_index(users, "age", false).unwrap();
    let snap = store.read().unwrap();
    let q = Query::new(users).gt("age", 60);
    let mut cursor = snap.query_cursor(&q).unwrap();
    let mut seen = Vec::new();
    while let Some((key, rec)) = cursor.next(&snap).unwrap() {
        let Value::Table(r) = rec else { panic!() };
        let age = snap.get(r, &k("age")).unwrap();
        let Some(Value::Int(age)) = age else { panic!() };
        // Committed at once, moving the record further along the index.
        store.set(r, k("age"), age + 100).unwrap();
        seen.push(key);
    }
    assert_eq!(seen.len(), 90, "each record once");
    drop(snap);
    assert_eq!(
        store
            .read()
            .unwrap()
            .count(&Query::new(users).gt("age", 160))
            .unwrap(),
        90
    );
}

// ---- property test ---------------------------------------------------------

#[derive(Clone, Debug)]
enum Val {
    Int(i64),
    Half(i64),
    Str(u8),
    Bool(bool),
    NaN,
    Table,
}

impl Val {
    fn value(&self) -> Value {
        match self {
            Val::Int(n) => Value::Int(*n),
            Val::Half(n) => Value::Float(*n as f64 + 0.5),
            Val::Str(c) => Value::Str(vec![b'a' + c % 3, b'a' + (c / 3) % 3]),
            Val::Bool(b) => Value::Bool(*b),
            Val::NaN => Value::Float(f64::NAN),
            Val::Table => Value::Table(0),
        }
    }

    fn input(&self) -> Input {
        match self {
            Val::Table => Input::table([("x", 1)]),
            other => Input::Value(other.value()),
        }
    }

    fn model(&self) -> M {
        match self {
            Val::Table => M::T(BTreeMap::from([(k("x"), M::S(Value::Int(1)))])),
            other => M::S(other.value()),
        }
    }
}

impl Arbitrary for Val {
    fn arbitrary(g: &mut Gen) -> Val {
        let n = i64::from(u8::arbitrary(g) % 5);
        match u8::arbitrary(g) % 10 {
            0..=3 => Val::Int(n),
            4 => Val::Half(n),
            5..=7 => Val::Str(u8::arbitrary(g)),
            8 => Val::Bool(bool::arbitrary(g)),
            _ => {
                if bool::arbitrary(g) {
                    Val::NaN
                } else {
                    Val::Table
                }
            }
        }
    }
}

fn operand(g: &mut Gen) -> Key {
    match Val::arbitrary(g) {
        Val::NaN | Val::Table => Key::Int(2),
        v => v.value().as_key().unwrap_or(Key::Int(0)),
    }
}

const FIELDS: [&str; 3] = ["a", "b", "c.d"];

#[derive(Clone, Debug)]
struct Record {
    key: Key,
    /// `None`: the entry is a scalar, not a record.
    fields: Option<[Option<Val>; 3]>,
}

#[derive(Clone, Debug)]
struct Case {
    records: Vec<Record>,
    conds: Vec<(usize, Cond)>,
    order: Option<(usize, bool)>,
    limit: Option<u64>,
    offset: u64,
    indexed: [bool; 3],
}

impl Arbitrary for Case {
    fn arbitrary(g: &mut Gen) -> Case {
        let n = usize::from(u8::arbitrary(g) % 40);
        let records = (0..n)
            .map(|i| Record {
                key: if i % 3 == 0 {
                    Key::Int(i as i64)
                } else {
                    Key::Str(format!("r{i}").into_bytes())
                },
                fields: if u8::arbitrary(g) % 12 == 0 {
                    None
                } else {
                    let f = |g: &mut Gen| {
                        if u8::arbitrary(g) % 4 == 0 {
                            None
                        } else {
                            Some(Val::arbitrary(g))
                        }
                    };
                    Some([f(g), f(g), f(g)])
                },
            })
            .collect();
        let nconds = u8::arbitrary(g) % 4;
        let conds = (0..nconds)
            .map(|_| {
                let field = usize::from(u8::arbitrary(g) % 3);
                let cond = match u8::arbitrary(g) % 14 {
                    0 => Cond::Eq(operand(g)),
                    1 => Cond::Ne(operand(g)),
                    2 => Cond::Lt(operand(g)),
                    3 => Cond::Le(operand(g)),
                    4 => Cond::Gt(operand(g)),
                    5 => Cond::Ge(operand(g)),
                    6 => Cond::Between(operand(g), operand(g)),
                    7 => Cond::In((0..u8::arbitrary(g) % 4).map(|_| operand(g)).collect()),
                    8 => Cond::NotIn((0..u8::arbitrary(g) % 3).map(|_| operand(g)).collect()),
                    9 => Cond::StartsWith(vec![b'a' + u8::arbitrary(g) % 3]),
                    10 => Cond::EndsWith(vec![b'a' + u8::arbitrary(g) % 3]),
                    11 => Cond::Contains(vec![b'a' + u8::arbitrary(g) % 3]),
                    12 => Cond::Exists,
                    _ => Cond::Missing,
                };
                (field, cond)
            })
            .collect();
        Case {
            records,
            conds,
            order: if bool::arbitrary(g) {
                Some((usize::from(u8::arbitrary(g) % 3), bool::arbitrary(g)))
            } else {
                None
            },
            limit: if bool::arbitrary(g) {
                Some(u64::from(u8::arbitrary(g) % 8))
            } else {
                None
            },
            offset: if u8::arbitrary(g) % 3 == 0 {
                u64::from(u8::arbitrary(g) % 5)
            } else {
                0
            },
            indexed: [bool::arbitrary(g), bool::arbitrary(g), bool::arbitrary(g)],
        }
    }
}

fn build(case: &Case, indexed: [bool; 3]) -> (Store, TableId, Tree) {
    let store = Store::memory().unwrap();
    let t = store.ensure_path(&[k("t")]).unwrap();
    for (i, on) in indexed.iter().enumerate() {
        if *on {
            store.create_index(t, FIELDS[i], false).unwrap();
        }
    }
    let mut model = BTreeMap::new();
    let mut tx = store.begin().unwrap();
    for rec in &case.records {
        let Some(fields) = &rec.fields else {
            tx.set(t, rec.key.clone(), 7).unwrap();
            model.insert(rec.key.clone(), M::S(Value::Int(7)));
            continue;
        };
        let mut input = Vec::new();
        let mut m = BTreeMap::new();
        if let Some(a) = &fields[0] {
            input.push((k("a"), a.input()));
            m.insert(k("a"), a.model());
        }
        if let Some(b) = &fields[1] {
            input.push((k("b"), b.input()));
            m.insert(k("b"), b.model());
        }
        if let Some(d) = &fields[2] {
            input.push((k("c"), Input::table([("d", d.input())])));
            m.insert(k("c"), M::T(BTreeMap::from([(k("d"), d.model())])));
        }
        tx.set(t, rec.key.clone(), Input::Table(input)).unwrap();
        model.insert(rec.key.clone(), M::T(m));
    }
    tx.commit().unwrap();
    (store, t, model)
}

/// The value at a dotted field inside a model record.
fn field_of(rec: &M, field: &str) -> Option<Value> {
    let mut cur = rec;
    for part in field.split('.') {
        match cur {
            M::T(t) => cur = t.get(&k(part))?,
            M::S(_) => return None,
        }
    }
    Some(match cur {
        M::S(v) => v.clone(),
        M::T(_) => Value::Table(0),
    })
}

fn query_of(case: &Case, table: TableId) -> Query {
    let mut q = Query::new(table).offset(case.offset);
    for (f, c) in &case.conds {
        q = q.filter(FIELDS[*f], c.clone());
    }
    if let Some((f, desc)) = case.order {
        q = q.order_by(FIELDS[f], if desc { Order::Desc } else { Order::Asc });
    }
    if let Some(l) = case.limit {
        q = q.limit(l);
    }
    q
}

#[test]
fn results_match_a_naive_filter_with_and_without_indexes() {
    fn prop(case: Case) -> TestResult {
        // The naive answer.
        let (_, _, model) = build(&case, [false; 3]);
        let mut matching: Vec<(Key, Option<Key>)> = model
            .iter()
            .filter(|(_, rec)| {
                case.conds
                    .iter()
                    .all(|(f, c)| c.matches(field_of(rec, FIELDS[*f]).as_ref()))
            })
            .map(|(key, rec)| {
                let by = case
                    .order
                    .and_then(|(f, _)| field_of(rec, FIELDS[f]).and_then(|v| v.as_key()));
                (key.clone(), by)
            })
            .collect();
        if let Some((_, desc)) = case.order {
            matching.sort_by(|a, b| result_order((&a.1, &a.0), (&b.1, &b.0), desc));
        }
        let total = matching.len() as u64;
        let expect_len = total
            .saturating_sub(case.offset)
            .min(case.limit.unwrap_or(u64::MAX));
        let naive: Vec<Key> = matching.iter().map(|(k, _)| k.clone()).collect();

        for indexed in [[false; 3], [true; 3], case.indexed] {
            let (store, t, _) = build(&case, indexed);
            let q = query_of(&case, t);
            let snap = store.read().unwrap();
            let plan = snap.explain(&q).unwrap();
            let got: Vec<Key> = match snap.query(&q).unwrap().collect::<crate::Result<Vec<_>>>() {
                Ok(rows) => rows.into_iter().map(|r| r.0).collect(),
                Err(e) => return TestResult::error(format!("{e} with {plan}")),
            };
            let count = snap.count(&q).unwrap();
            if count != expect_len || got.len() as u64 != expect_len {
                return TestResult::error(format!(
                    "indexes {indexed:?} ({plan}): {} rows, count {count}, expected {expect_len}\n got {got:?}\n naive {naive:?}",
                    got.len()
                ));
            }
            let ok = if case.order.is_some() {
                let off = case.offset.min(total) as usize;
                got.as_slice() == &naive[off..off + got.len()]
            } else {
                // Unordered: a duplicate-free subset (all of it without
                // limit/offset).
                let mut sorted = got.clone();
                sorted.sort();
                sorted.dedup();
                sorted.len() == got.len() && got.iter().all(|k| naive.contains(k))
            };
            if !ok {
                return TestResult::error(format!(
                    "indexes {indexed:?} ({plan}):\n got   {got:?}\n naive {naive:?}"
                ));
            }
        }
        TestResult::passed()
    }
    quickcheck_cases(150).quickcheck(prop as fn(Case) -> TestResult);
}

/// A memory store that asks for prefetching and logs it: the pages each
/// prefetch named, and every page read.
#[derive(Clone, Default)]
struct PrefetchLog {
    inner: moonvault_pager::store::memory::MemoryStore,
    prefetched: std::rc::Rc<std::cell::RefCell<Vec<Vec<u64>>>>,
    read: std::rc::Rc<std::cell::RefCell<Vec<u64>>>,
}

impl moonvault_pager::store::BlobStore for PrefetchLog {
    fn get(
        &self,
        area: moonvault_pager::store::Area,
        key: u64,
    ) -> moonvault_pager::store::StoreResult<Option<bytes::Bytes>> {
        if area == moonvault_pager::store::Area::Pages {
            self.read.borrow_mut().push(key);
        }
        self.inner.get(area, key)
    }
    fn keys_in(
        &self,
        area: moonvault_pager::store::Area,
        range: std::ops::RangeInclusive<u64>,
    ) -> moonvault_pager::store::StoreResult<Vec<u64>> {
        self.inner.keys_in(area, range)
    }
    fn write(
        &mut self,
        ops: Vec<moonvault_pager::store::WriteOp>,
        durable: bool,
    ) -> moonvault_pager::store::StoreResult<()> {
        self.inner.write(ops, durable)
    }
    fn sync(&mut self) -> moonvault_pager::store::StoreResult<()> {
        self.inner.sync()
    }
    fn stored_bytes(
        &self,
        area: moonvault_pager::store::Area,
    ) -> moonvault_pager::store::StoreResult<u64> {
        self.inner.stored_bytes(area)
    }
    fn prefetch(
        &self,
        area: moonvault_pager::store::Area,
        keys: &[u64],
    ) -> moonvault_pager::store::StoreResult<()> {
        assert_eq!(area, moonvault_pager::store::Area::Pages);
        self.prefetched.borrow_mut().push(keys.to_vec());
        Ok(())
    }
    fn prefetch_useful(&self) -> bool {
        true
    }
}

/// The rows of `q` with their records read (as the JS API reads them).
fn stored_rows(store: &Store, q: &Query) -> Vec<crate::query::StoredRow> {
    let snap = store.read().unwrap();
    let mut cursor = snap.query_cursor(q).unwrap();
    let mut rows = Vec::new();
    while let Some(row) = cursor.next_stored(&snap).unwrap() {
        rows.push(row);
    }
    rows
}

#[test]
fn index_plans_prefetch_the_leaves_of_the_records_they_will_read() {
    let log = PrefetchLog::default();
    let options = crate::Options {
        pager: moonvault_pager::PagerConfig {
            cache_bytes: 64 * 1024,
            ..moonvault_pager::PagerConfig::default()
        },
        ..crate::Options::default()
    };
    let store = Store::open(crate::Db::open(Box::new(log.clone()), options).unwrap()).unwrap();
    // Records too large for index entries to carry them (packed still), so
    // every match is read from its table.
    let bio = "b".repeat(MAX_COVERED_RECORD);
    let users = write_users(&store, 5000, &bio);
    let plain = Store::memory().unwrap();
    let plain_users = write_users(&plain, 5000, &bio);
    store.create_index(users, "age", false).unwrap();
    plain.create_index(plain_users, "age", false).unwrap();
    store.db().checkpoint().unwrap();
    for q in [
        |t| Query::new(t).eq("age", 42),
        |t| Query::new(t).gt("age", 60).limit(10),
        |t| Query::new(t).lt("age", 25).order_by("age", Order::Desc),
    ] as [fn(TableId) -> Query; 3]
    {
        log.prefetched.borrow_mut().clear();
        let rows = stored_rows(&store, &q(users));
        // A hint only: the results are those of a store without it.
        assert_eq!(rows, stored_rows(&plain, &q(plain_users)));
        assert!(
            !log.prefetched.borrow().is_empty(),
            "an index plan over 5,000 records reads ahead"
        );
    }
    // The hint is accurate: a cold `age = 42` reads what it prefetched.
    let cold = Store::open(crate::Db::open(Box::new(log.clone()), options).unwrap()).unwrap();
    log.prefetched.borrow_mut().clear();
    log.read.borrow_mut().clear();
    // Records: their leaves are fetched ahead, and then read.
    assert_eq!(
        stored_rows(&cold, &Query::new(users).eq("age", 42)).len(),
        100
    );
    let prefetched: std::collections::BTreeSet<u64> =
        log.prefetched.borrow().iter().flatten().copied().collect();
    let read: std::collections::BTreeSet<u64> = log.read.borrow().iter().copied().collect();
    assert!(
        prefetched.len() >= 10,
        "{} pages prefetched",
        prefetched.len()
    );
    let unread: Vec<_> = prefetched.difference(&read).collect();
    assert!(
        unread.is_empty(),
        "prefetched but never read: {unread:?} of {prefetched:?}; read {:?}",
        log.read.borrow()
    );
    // Ids only: no record is read, so none is asked for; only the index's
    // leaves over the range not yet in memory (100 entries: a leaf or two,
    // which the planner's estimate may have read already; not the ~25
    // leaves of their records).
    let cold = Store::open(crate::Db::open(Box::new(log.clone()), options).unwrap()).unwrap();
    log.prefetched.borrow_mut().clear();
    log.read.borrow_mut().clear();
    let snap = cold.read().unwrap();
    let mut cursor = snap.query_cursor(&Query::new(users).eq("age", 42)).unwrap();
    let mut ids = 0;
    while cursor.next(&snap).unwrap().is_some() {
        ids += 1;
    }
    assert_eq!(ids, 100);
    let prefetched: std::collections::BTreeSet<u64> =
        log.prefetched.borrow().iter().flatten().copied().collect();
    let read: std::collections::BTreeSet<u64> = log.read.borrow().iter().copied().collect();
    assert!(
        prefetched.len() <= 2 && prefetched.is_subset(&read),
        "ids only asked for {prefetched:?}, read {read:?}"
    );
    // With an offset, the hits skipped do not take the read-ahead along:
    // the first row returned asks for its own.
    log.prefetched.borrow_mut().clear();
    let rows = stored_rows(&cold, &Query::new(users).eq("age", 42).offset(40));
    assert_eq!(rows.len(), 60);
    assert!(!log.prefetched.borrow().is_empty());
}

/// `store.users[i] = {name, age, score, bio}` for `i` in `0..n` (`bio`
/// left out when empty).
fn write_users(store: &Store, n: i64, bio: &str) -> TableId {
    let users = store.ensure_path(&[k("users")]).unwrap();
    store
        .write(|tx| {
            for i in 0..n {
                let mut fields = vec![
                    ("name", Input::from(format!("User {i}"))),
                    ("age", Input::from(20 + i % 50)),
                    ("score", Input::from(i * 10)),
                ];
                if !bio.is_empty() {
                    fields.push(("bio", Input::from(bio)));
                }
                tx.set(users, Key::Int(i), Input::table(fields))?;
            }
            Ok(())
        })
        .unwrap();
    users
}

#[test]
fn index_entries_carry_small_records_so_a_cold_query_reads_index_pages_only() {
    // Pages a cold `age = 42` reads, with records the index carries and
    // with records too large for it.
    let cold_pages = |bio: &str| {
        let log = PrefetchLog::default();
        let store =
            Store::open(crate::Db::open(Box::new(log.clone()), Default::default()).unwrap())
                .unwrap();
        let users = write_users(&store, 5000, bio);
        store.create_index(users, "age", false).unwrap();
        // Field writes after the build: maintenance keeps the copies.
        store
            .write(|tx| {
                // Records 22, 72, ... have age 42.
                let u22 = tx.ensure_path(&[k("users"), Key::Int(22)])?;
                tx.set(u22, k("score"), -1)?;
                let u72 = tx.ensure_path(&[k("users"), Key::Int(72)])?;
                tx.set(u72, k("name"), "Renamed")
            })
            .unwrap();
        store.db().checkpoint().unwrap();
        let cold = Store::open(crate::Db::open(Box::new(log.clone()), Default::default()).unwrap())
            .unwrap();
        log.read.borrow_mut().clear();
        log.prefetched.borrow_mut().clear();
        let rows = stored_rows(&cold, &Query::new(users).eq("age", 42));
        assert_eq!(rows.len(), 100);
        let read: std::collections::BTreeSet<u64> = log.read.borrow().iter().copied().collect();
        let prefetched: std::collections::BTreeSet<u64> =
            log.prefetched.borrow().iter().flatten().copied().collect();
        let snap = cold.read().unwrap();
        for def in snap.indexes(users) {
            crate::index::verify_index(&snap, &def).unwrap();
        }
        (rows, read, prefetched)
    };
    let (rows, carried_read, carried_prefetched) = cold_pages("");
    let (_, read, _) = cold_pages(&"x".repeat(MAX_COVERED_RECORD));
    // No record is read, so none is asked for: only the index's leaves
    // over the range, fetched together as the cursor opens.
    assert!(
        !carried_prefetched.is_empty() && carried_prefetched.is_subset(&carried_read),
        "prefetched {carried_prefetched:?}, read {carried_read:?}"
    );
    assert!(
        carried_read.len() * 3 < read.len(),
        "{} pages read with carried records, {} without",
        carried_read.len(),
        read.len()
    );
    // The copies are the records as they are now.
    let get = |key: i64| {
        rows.iter()
            .find(|(k, _)| *k == Key::Int(key))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let field = |stored: &Stored, name: &str| match stored {
        Stored::Record(r) => r.get(&k(name)).cloned(),
        other => panic!("a record, not {other:?}"),
    };
    assert_eq!(field(&get(22), "score"), Some(Value::Int(-1)));
    assert_eq!(
        field(&get(72), "name"),
        Some(Value::Str(b"Renamed".to_vec()))
    );
    assert_eq!(
        field(&get(122), "name"),
        Some(Value::Str(b"User 122".to_vec()))
    );
}
