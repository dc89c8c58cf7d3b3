//! Writes held back (`WriteTxn::put_deferred`, `WriteTxn::put_latest`)
//! against a model: every read of the transaction, every commit and every
//! recovery sees exactly what plain writes would have left.

use super::{Db, KvRead, Options, WriteTxn};
use crate::testutil::quickcheck_cases;
use moonvault_pager::store::faulty::{CrashMode, FaultyStore};
use moonvault_pager::PagerConfig;
use quickcheck::{Arbitrary, Gen, TestResult};
use std::collections::BTreeMap;
use std::ops::Bound;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Clone, Debug)]
enum Op {
    PutDeferred(Vec<u8>, Vec<u8>),
    DeleteDeferred(Vec<u8>),
    Put(Vec<u8>, Vec<u8>),
    /// `WriteTxn::put_latest`: held in memory as the key's latest value.
    PutLatest(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Get(Vec<u8>),
    /// The last entry in `lower ..= key` (`KvRead::floor_with`).
    Floor(Vec<u8>, Vec<u8>),
    Range(Vec<u8>, Vec<u8>, bool),
    Count(Vec<u8>, Vec<u8>),
    /// A run read through a detached cursor from the first key on.
    Run,
    Commit,
    Rollback,
    /// Commit, crash (keeping what is durable) and reopen.
    Crash(u64),
}

/// Keys from a small alphabet, so that writes meet: the same key written
/// plainly and held back, and ranges that hold some of them.
fn key(g: &mut Gen) -> Vec<u8> {
    let len = 1 + usize::arbitrary(g) % 3;
    (0..len).map(|_| u8::arbitrary(g) % 4).collect()
}

fn value(g: &mut Gen) -> Vec<u8> {
    let len = usize::arbitrary(g) % 40;
    vec![u8::arbitrary(g); len]
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        match u8::arbitrary(g) % 20 {
            0..=3 => Op::PutDeferred(key(g), value(g)),
            // Two keys, so that runs of puts of one key meet.
            4..=5 => Op::PutLatest(vec![u8::arbitrary(g) % 2], value(g)),
            6..=7 => Op::DeleteDeferred(key(g)),
            8..=9 => Op::Put(key(g), value(g)),
            10 => Op::Delete(key(g)),
            11 => Op::Get(key(g)),
            12 => Op::Floor(key(g), key(g)),
            13 => Op::Range(key(g), key(g), bool::arbitrary(g)),
            14 => Op::Count(key(g), key(g)),
            15 => Op::Run,
            16..=17 => Op::Commit,
            18 => Op::Rollback,
            _ => Op::Crash(u64::arbitrary(g) % 8),
        }
    }
}

/// A log limit small enough that held-back writes are applied for lack
/// of room and transactions turn to commit by checkpoint; a cache small
/// enough to spill. Held-back writes share the log's limit, or, with
/// `own_room`, have a small room of their own.
fn options(own_room: bool) -> Options {
    Options {
        pager: PagerConfig {
            cache_bytes: 16 * 1024,
            page_size: 1024,
            // Branches larger than a page, as by default, in trees that
            // are still several levels deep.
            branch_pages: 2,
            // A large checkpoint encodes on two threads, even on one core.
            encode_threads: 2,
        },
        txn_log_limit: 1024,
        held_back_bytes: if own_room { 768 } else { 0 },
        ..Options::default()
    }
}

fn open(faulty: &FaultyStore, own_room: bool) -> Db {
    Db::open(Box::new(faulty.clone()), options(own_room)).expect("open")
}

fn bounds<'a>(a: &'a [u8], b: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn entries(txn: &WriteTxn, lower: &[u8], upper: &[u8], reverse: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut range = txn.range(Bound::Included(lower), Bound::Excluded(upper), reverse);
    let mut out = Vec::new();
    // Owned and lent steps alternate: both read the same entries.
    loop {
        let step = if out.len() % 2 == 0 {
            range.next()
        } else {
            range.next_with(|k, v| (k.to_vec(), v.to_vec()))
        };
        match step {
            Some(entry) => out.push(entry.expect("range")),
            None => return out,
        }
    }
}

fn all(txn: &WriteTxn) -> Model {
    txn.range(Bound::Unbounded, Bound::Unbounded, false)
        .collect::<crate::Result<_>>()
        .expect("scan")
}

fn step(txn: &mut WriteTxn, model: &mut Model, op: &Op) -> Result<(), String> {
    match op {
        Op::PutDeferred(k, v) => {
            txn.put_deferred(k, v).map_err(|e| e.to_string())?;
            model.insert(k.clone(), v.clone());
        }
        Op::DeleteDeferred(k) => {
            txn.delete_deferred(k).map_err(|e| e.to_string())?;
            model.remove(k);
        }
        Op::Put(k, v) => {
            txn.put(k, v).map_err(|e| e.to_string())?;
            model.insert(k.clone(), v.clone());
        }
        Op::PutLatest(k, v) => {
            txn.put_latest(k, v).map_err(|e| e.to_string())?;
            model.insert(k.clone(), v.clone());
        }
        Op::Delete(k) => {
            let existed = txn.delete(k).map_err(|e| e.to_string())?;
            if existed != model.remove(k).is_some() {
                return Err(format!("delete of {k:?} reported existed = {existed}"));
            }
        }
        Op::Get(k) => {
            let got = txn.get(k).map_err(|e| e.to_string())?;
            let mut lent = None;
            txn.get_lent(k, &mut |v| {
                lent = Some(v.read()?.into_owned());
                Ok(())
            })
            .map_err(|e| e.to_string())?;
            if got.as_ref() != model.get(k) || lent != got {
                return Err(format!(
                    "get {k:?}: {got:?} / lent {lent:?}, model {:?}",
                    model.get(k)
                ));
            }
        }
        Op::Range(a, b, reverse) => {
            let (lo, hi) = bounds(a, b);
            let got = entries(txn, lo, hi, *reverse);
            let mut want: Vec<_> = model
                .range::<[u8], _>((Bound::Included(lo), Bound::Excluded(hi)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if *reverse {
                want.reverse();
            }
            if got != want {
                return Err(format!("range {lo:?}..{hi:?}: {got:?}, model {want:?}"));
            }
        }
        Op::Floor(a, b) => {
            let (lo, hi) = bounds(a, b);
            let mut got = None;
            txn.floor_with(lo, hi, &mut |k, v| {
                got = Some((k.to_vec(), v.to_vec()));
                Ok(())
            })
            .map_err(|e| e.to_string())?;
            let want = model
                .range::<[u8], _>((Bound::Included(lo), Bound::Included(hi)))
                .next_back()
                .map(|(k, v)| (k.clone(), v.clone()));
            if got != want {
                return Err(format!("floor {lo:?}..={hi:?}: {got:?}, model {want:?}"));
            }
        }
        Op::Count(a, b) => {
            let (lo, hi) = bounds(a, b);
            let got = txn
                .count(Bound::Included(lo), Bound::Excluded(hi))
                .map_err(|e| e.to_string())?;
            let want = model
                .range::<[u8], _>((Bound::Included(lo), Bound::Excluded(hi)))
                .count() as u64;
            if got != want {
                return Err(format!("count {lo:?}..{hi:?}: {got}, model {want}"));
            }
        }
        Op::Run => {
            let mut cursor = txn.cursor(Bound::Unbounded, Bound::Unbounded, false);
            let mut got = Vec::new();
            txn.cursor_next_run(&mut cursor, 4, &mut |k, v| {
                got.push((k.to_vec(), v.read()?.into_owned()));
                Ok(())
            })
            .map_err(|e| e.to_string())?;
            let want: Vec<_> = model
                .iter()
                .take(4)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if got != want {
                return Err(format!("run: {got:?}, model {want:?}"));
            }
        }
        Op::Commit | Op::Rollback | Op::Crash(_) => unreachable!("handled by the caller"),
    }
    Ok(())
}

#[test]
fn held_back_writes_read_commit_and_recover_as_plain_writes() {
    fn prop(ops: Vec<Op>, own_room: bool) -> TestResult {
        let mut faulty = FaultyStore::new();
        let mut db = open(&faulty, own_room);
        let mut committed = Model::new();
        let mut model = committed.clone();
        let mut txn = db.begin().expect("begin");
        for op in &ops {
            match op {
                Op::Commit | Op::Crash(_) => {
                    if let Err(e) = txn.commit() {
                        return TestResult::error(format!("commit: {e}"));
                    }
                    committed = model.clone();
                    if let Op::Crash(seed) = op {
                        let image = faulty.crash_image(CrashMode::Random(*seed));
                        faulty = FaultyStore::with_inner(image);
                        db = open(&faulty, own_room);
                    }
                    txn = db.begin().expect("begin");
                    let seen = all(&txn);
                    if seen != committed {
                        return TestResult::error(format!(
                            "after {op:?}: {seen:?}, committed {committed:?}"
                        ));
                    }
                }
                Op::Rollback => {
                    txn.rollback();
                    model = committed.clone();
                    txn = db.begin().expect("begin");
                }
                op => {
                    if let Err(e) = step(&mut txn, &mut model, op) {
                        return TestResult::error(format!("{op:?}: {e}"));
                    }
                }
            }
        }
        let seen = all(&txn);
        if seen != model {
            return TestResult::error(format!("at the end: {seen:?}, model {model:?}"));
        }
        TestResult::passed()
    }
    quickcheck_cases(200).quickcheck(prop as fn(Vec<Op>, bool) -> TestResult);
}

#[test]
fn a_read_inside_a_lending_read_that_needs_held_back_writes_is_an_error() {
    let db = Db::memory().expect("db");
    let mut txn = db.begin().expect("begin");
    txn.put(b"a", b"1").expect("put");
    txn.put_deferred(b"z", b"2").expect("put");
    let mut inner = None;
    let outer = txn.get_lent(b"a", &mut |_| {
        inner = Some(txn.get(b"z").map_err(|e| e.to_string()));
        Ok(())
    });
    assert!(outer.expect("outer read"));
    let err = inner
        .expect("ran")
        .expect_err("nested read of a held-back key");
    assert!(err.contains("inside another read's callback"), "{err}");
    // Outside the callback the write is applied and read.
    assert_eq!(txn.get(b"z").expect("get"), Some(b"2".to_vec()));
    txn.commit().expect("commit");
    assert_eq!(
        db.read().expect("read").get(b"z").expect("get"),
        Some(b"2".to_vec())
    );
}

#[test]
fn a_key_too_long_to_hold_back_is_refused_before_it_is_logged() {
    let db = Db::memory().expect("db");
    let mut txn = db.begin().expect("begin");
    let long = vec![7u8; 5000];
    let err = txn.put_deferred(&long, b"v").expect_err("too long");
    assert!(err.to_string().contains("key"), "{err}");
    assert!(txn.delete_deferred(&long).is_err());
    // The transaction goes on: the refusal wrote nothing.
    txn.put_deferred(b"k", b"v").expect("put");
    txn.commit().expect("commit");
    assert_eq!(
        db.read().expect("read").get(b"k").expect("get"),
        Some(b"v".to_vec())
    );
}

#[test]
fn a_range_lends_entries_inline_and_overflowing_alike() {
    let faulty = FaultyStore::new();
    let db = open(&faulty, true);
    let big = vec![7u8; 20_000];
    let mut txn = db.begin().unwrap();
    for i in 0..50u8 {
        let value = if i % 10 == 3 { big.clone() } else { vec![i; 5] };
        txn.put(&[1, i], &value).unwrap();
    }
    txn.commit().unwrap();
    let snap = db.read().unwrap();
    let owned: Vec<(Vec<u8>, Vec<u8>)> = snap
        .range(Bound::Included(&[1, 2]), Bound::Excluded(&[1, 40]), false)
        .collect::<crate::Result<_>>()
        .unwrap();
    let mut lent = Vec::new();
    let mut range = snap.range(Bound::Included(&[1, 2]), Bound::Excluded(&[1, 40]), false);
    while let Some(entry) = range.next_with(|k, v| (k.to_vec(), v.to_vec())) {
        lent.push(entry.unwrap());
    }
    assert_eq!(owned.len(), 38);
    assert_eq!(lent, owned);
    assert_eq!(owned[1].1, big, "an overflow value lent whole");
    assert!(range.next().is_none() && range.next_with(|_, _| ()).is_none());
}
