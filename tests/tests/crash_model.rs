//! Model-based crash test: random Put/Delete/Commit/Rollback/Crash/Reopen/
//! RangeScan sequences, with injected store failures and torn writes,
//! checked against a `BTreeMap` model of the committed state.
//!
//! After a crash the recovered state must be one of the states the
//! protocol allows: the last state acknowledged as durable, or a later
//! committed one (relaxed commits and writes whose outcome was unknown).
//!
//! `MOONVAULT_QC_CASES=100000 cargo test -p moonvault-tests --release --test crash_model`
//! runs a long campaign.

use moonvault_engine::{Db, Durability, KvRead, Options, ReadTxn, WriteTxn};
use moonvault_pager::store::faulty::{CrashMode, FaultyStore};
use moonvault_pager::store::file::FileStore;
use moonvault_pager::store::BlobStore;
use moonvault_pager::PagerConfig;
use moonvault_tests::{contents, quickcheck_cases, Model};
use quickcheck::{Arbitrary, Gen};
use std::ops::Bound;

#[derive(Clone, Debug)]
enum Op {
    Put(u8, u16),
    Delete(u8),
    Commit,
    Rollback,
    Crash(CrashKind),
    FailNext {
        after: u8,
        applying: bool,
    },
    Reopen,
    Range {
        lo: u8,
        hi: u8,
        lo_incl: bool,
        hi_incl: bool,
        reverse: bool,
    },
    Snapshot,
    Checkpoint,
    Flush,
}

#[derive(Clone, Copy, Debug)]
enum CrashKind {
    LoseUnsynced,
    KeepPrefix(u8),
    Torn { keep: u8, bytes: u16 },
    Random(u64),
}

impl CrashKind {
    fn mode(self) -> CrashMode {
        match self {
            CrashKind::LoseUnsynced => CrashMode::LoseUnsynced,
            CrashKind::KeepPrefix(k) => CrashMode::KeepPrefix(k as usize),
            CrashKind::Torn { keep, bytes } => CrashMode::TearLast {
                keep_batches: keep as usize,
                keep_bytes: bytes as usize,
            },
            CrashKind::Random(seed) => CrashMode::Random(seed),
        }
    }
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        let key = |g: &mut Gen| u8::arbitrary(g) % 64;
        match u8::arbitrary(g) % 100 {
            0..=39 => Op::Put(key(g), u16::arbitrary(g)),
            40..=51 => Op::Delete(key(g)),
            52..=65 => Op::Commit,
            66..=68 => Op::Rollback,
            69..=74 => Op::Crash(match u8::arbitrary(g) % 4 {
                0 => CrashKind::LoseUnsynced,
                1 => CrashKind::KeepPrefix(u8::arbitrary(g) % 8),
                2 => CrashKind::Torn {
                    keep: u8::arbitrary(g) % 8,
                    bytes: u16::arbitrary(g),
                },
                _ => CrashKind::Random(u64::arbitrary(g)),
            }),
            75..=78 => Op::FailNext {
                after: u8::arbitrary(g) % 6,
                applying: bool::arbitrary(g),
            },
            79..=82 => Op::Reopen,
            83..=90 => Op::Range {
                lo: key(g),
                hi: key(g),
                lo_incl: bool::arbitrary(g),
                hi_incl: bool::arbitrary(g),
                reverse: bool::arbitrary(g),
            },
            91..=93 => Op::Snapshot,
            94..=96 => Op::Checkpoint,
            _ => Op::Flush,
        }
    }
}

fn key(k: u8) -> Vec<u8> {
    format!("key-{k:03}").into_bytes()
}

/// Values from empty to several pages (overflow chains with 1 KiB pages).
fn value(k: u8, sel: u16) -> Vec<u8> {
    let len = match sel % 10 {
        0 => 0,
        1 => 3000 + (sel as usize % 5000),
        _ => (sel as usize) % 200,
    };
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(k ^ (sel as u8)))
        .collect()
}

fn options(durability: Durability) -> Options {
    Options {
        pager: PagerConfig {
            page_size: 1024,
            // Branches larger than a page, in trees still several deep.
            branch_pages: 2,
            cache_bytes: 16 * 1024,
            // Checkpoints of many pages encode them on two threads, even
            // on one core.
            encode_threads: 2,
        },
        durability,
        wal_checkpoint_bytes: 16 * 1024,
        checkpoint_freed_pages: 48,
        checkpoint_unsaved_pages: 96,
        txn_log_limit: 6 * 1024,
        // Their own small room: held-back writes are applied for lack of
        // it many times, apart from the log's limit.
        held_back_bytes: 2 * 1024,
    }
}

fn range_of(
    model: &Model,
    lo: &[u8],
    hi: &[u8],
    lo_incl: bool,
    hi_incl: bool,
    reverse: bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let lo_b = if lo_incl {
        Bound::Included(lo.to_vec())
    } else {
        Bound::Excluded(lo.to_vec())
    };
    let hi_b = if hi_incl {
        Bound::Included(hi.to_vec())
    } else {
        Bound::Excluded(hi.to_vec())
    };
    if lo > hi || (lo == hi && !(lo_incl && hi_incl)) {
        return Vec::new();
    }
    let mut v: Vec<_> = model
        .range((lo_b, hi_b))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if reverse {
        v.reverse();
    }
    v
}

/// One test run's state: the database under test and what it must hold.
struct Run<S: Medium> {
    medium: S,
    db: Option<Db>,
    txn: Option<WriteTxn>,
    durability: Durability,
    /// The last committed state (what reads outside the transaction see).
    committed: Model,
    /// Committed plus the open transaction's changes.
    working: Model,
    /// States a crash may recover to, oldest first.
    acceptable: Vec<Model>,
    snapshots: Vec<(ReadTxn, Model)>,
    fault_armed: bool,
}

/// Where a run's store lives, and how it crashes.
trait Medium {
    fn open(&mut self, options: Options) -> Db;
    /// Replace the medium with what a crash leaves; returns false if this
    /// medium cannot lose unsynced writes (then recovery must be exact).
    fn crash(&mut self, kind: CrashKind) -> bool;
    fn arm(&mut self, after: u8, applying: bool) -> bool;
    fn faults(&self) -> u64;
}

struct Faulty(FaultyStore);

impl Medium for Faulty {
    fn open(&mut self, options: Options) -> Db {
        Db::open(Box::new(self.0.clone()), options).expect("open")
    }
    fn crash(&mut self, kind: CrashKind) -> bool {
        let image = self.0.crash_image(kind.mode());
        self.0 = FaultyStore::with_inner(image);
        true
    }
    fn arm(&mut self, after: u8, applying: bool) -> bool {
        let n = after as u64 + 1;
        if applying {
            self.0.fail_after_applying(n);
        } else {
            self.0.fail_after(n);
        }
        true
    }
    fn faults(&self) -> u64 {
        self.0.faults_injected()
    }
}

struct Files(tempfile::TempDir);

impl Medium for Files {
    fn open(&mut self, options: Options) -> Db {
        let store = FileStore::open(self.0.path().join("db")).expect("open file store");
        Db::open(Box::new(store) as Box<dyn BlobStore>, options).expect("open")
    }
    /// A process kill: the OS keeps every completed write.
    fn crash(&mut self, _kind: CrashKind) -> bool {
        false
    }
    fn arm(&mut self, _after: u8, _applying: bool) -> bool {
        false
    }
    fn faults(&self) -> u64 {
        0
    }
}

impl<S: Medium> Run<S> {
    fn new(mut medium: S, durability: Durability) -> Run<S> {
        let db = medium.open(options(durability));
        Run {
            medium,
            db: Some(db),
            txn: None,
            durability,
            committed: Model::new(),
            working: Model::new(),
            acceptable: vec![Model::new()],
            snapshots: Vec::new(),
            fault_armed: false,
        }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("db open")
    }

    /// An operation failed: legitimate only if a fault was injected. Crash
    /// and recover as a process would.
    fn failed(&mut self, what: &str, err: impl std::fmt::Display) {
        assert!(
            self.fault_armed && self.medium.faults() > 0,
            "{what} failed with no fault injected: {err}"
        );
        self.crash_and_recover(CrashKind::Random(self.medium.faults() * 7919));
    }

    fn crash_and_recover(&mut self, kind: CrashKind) {
        self.snapshots.clear();
        self.txn = None;
        self.db = None;
        let lossy = self.medium.crash(kind);
        self.fault_armed = false;
        let db = self.medium.open(options(self.durability));
        let got = contents(&db);
        if lossy {
            assert!(
                self.acceptable.contains(&got),
                "recovered state ({} keys) is none of the {} acceptable states after {kind:?}",
                got.len(),
                self.acceptable.len()
            );
        } else {
            assert_eq!(got, self.committed, "a process kill lost or invented data");
        }
        db.check().expect("tree invariants after recovery");
        self.committed = got.clone();
        self.working = got.clone();
        self.acceptable = vec![got];
        self.db = Some(db);
    }

    fn ensure_txn(&mut self) -> bool {
        if self.txn.is_none() {
            match self.db().begin() {
                Ok(t) => self.txn = Some(t),
                Err(e) => {
                    self.failed("begin", e);
                    return false;
                }
            }
        }
        true
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Put(k, sel) => {
                if !self.ensure_txn() {
                    return;
                }
                let (key, val) = (key(k), value(k, sel));
                let r = self.txn.as_mut().expect("txn").put(&key, &val);
                match r {
                    Ok(()) => {
                        self.working.insert(key.clone(), val.clone());
                        let got = self.txn.as_ref().expect("txn").get(&key);
                        match got {
                            Ok(got) => assert_eq!(got, Some(val), "read-your-writes"),
                            Err(e) => self.failed("get", e),
                        }
                    }
                    Err(e) => self.failed("put", e),
                }
            }
            Op::Delete(k) => {
                if !self.ensure_txn() {
                    return;
                }
                let key = key(k);
                match self.txn.as_mut().expect("txn").delete(&key) {
                    Ok(existed) => {
                        assert_eq!(
                            existed,
                            self.working.remove(&key).is_some(),
                            "delete's existed flag"
                        );
                    }
                    Err(e) => self.failed("delete", e),
                }
            }
            Op::Commit => {
                let Some(txn) = self.txn.take() else { return };
                let attempted = self.working.clone();
                match txn.commit() {
                    Ok(()) => {
                        self.committed = attempted.clone();
                        if self.durability == Durability::Immediate {
                            self.acceptable.clear();
                        }
                        self.acceptable.push(attempted);
                        for (snap, model) in &self.snapshots {
                            let seen: Model = snap
                                .range(Bound::Unbounded, Bound::Unbounded, false)
                                .map(|e| e.expect("snapshot scan"))
                                .collect();
                            assert_eq!(&seen, model, "snapshot changed under a commit");
                        }
                    }
                    Err(e) => {
                        self.acceptable.push(attempted);
                        self.working = self.committed.clone();
                        self.failed("commit", e);
                    }
                }
            }
            Op::Rollback => {
                if let Some(txn) = self.txn.take() {
                    txn.rollback();
                }
                self.working = self.committed.clone();
            }
            Op::Crash(kind) => self.crash_and_recover(kind),
            Op::FailNext { after, applying } => {
                if !self.fault_armed {
                    self.fault_armed = self.medium.arm(after, applying);
                }
            }
            Op::Reopen => {
                if let Some(txn) = self.txn.take() {
                    txn.rollback();
                }
                self.working = self.committed.clone();
                self.snapshots.clear();
                let db = self.db.take().expect("db");
                if let Err(e) = db.close() {
                    self.db = Some(self.medium.open(options(self.durability)));
                    self.failed("close", e);
                    return;
                }
                if self.fault_armed {
                    // A fault may still fire during open's recovery writes.
                    self.crash_and_recover(CrashKind::LoseUnsynced);
                    return;
                }
                let db = self.medium.open(options(self.durability));
                assert_eq!(contents(&db), self.committed, "clean reopen");
                self.acceptable = vec![self.committed.clone()];
                self.db = Some(db);
            }
            Op::Range {
                lo,
                hi,
                lo_incl,
                hi_incl,
                reverse,
            } => {
                let (lo, hi) = (key(lo), key(hi));
                let lo_b = if lo_incl {
                    Bound::Included(&lo[..])
                } else {
                    Bound::Excluded(&lo[..])
                };
                let hi_b = if hi_incl {
                    Bound::Included(&hi[..])
                } else {
                    Bound::Excluded(&hi[..])
                };
                let (got, expected): (Result<Vec<_>, _>, _) = match &self.txn {
                    Some(txn) => (
                        txn.range(lo_b, hi_b, reverse).collect(),
                        range_of(&self.working, &lo, &hi, lo_incl, hi_incl, reverse),
                    ),
                    None => {
                        let snap = self.db().read().expect("snapshot");
                        let got = snap.range(lo_b, hi_b, reverse).collect();
                        (
                            got,
                            range_of(&self.committed, &lo, &hi, lo_incl, hi_incl, reverse),
                        )
                    }
                };
                match got {
                    Ok(got) => assert_eq!(got, expected, "range scan"),
                    Err(e) => self.failed("range", e),
                }
            }
            Op::Snapshot => {
                if self.snapshots.len() < 3 {
                    let snap = self.db().read().expect("snapshot");
                    self.snapshots.push((snap, self.committed.clone()));
                }
            }
            Op::Checkpoint => {
                if self.txn.is_none() {
                    if let Err(e) = self.db().checkpoint() {
                        self.failed("checkpoint", e);
                    } else {
                        self.acceptable = vec![self.committed.clone()];
                    }
                }
            }
            Op::Flush => {
                if let Err(e) = self.db().flush() {
                    self.failed("flush", e);
                } else {
                    self.acceptable = vec![self.committed.clone()];
                }
            }
        }
    }
}

fn run_faulty(ops: Vec<Op>, relaxed: bool) -> bool {
    let durability = if relaxed {
        Durability::Relaxed
    } else {
        Durability::Immediate
    };
    let mut run = Run::new(Faulty(FaultyStore::new()), durability);
    for op in &ops {
        run.apply(op);
    }
    run.crash_and_recover(CrashKind::LoseUnsynced);
    true
}

fn run_files(ops: Vec<Op>, relaxed: bool) -> bool {
    let durability = if relaxed {
        Durability::Relaxed
    } else {
        Durability::Immediate
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut run = Run::new(Files(dir), durability);
    for op in &ops {
        run.apply(op);
    }
    run.crash_and_recover(CrashKind::LoseUnsynced);
    true
}

#[test]
fn model_over_faulty_memory_store() {
    quickcheck_cases(300)
        .rng(Gen::new(120))
        .quickcheck(run_faulty as fn(Vec<Op>, bool) -> bool);
}

#[test]
fn model_over_file_store() {
    quickcheck_cases(30)
        .rng(Gen::new(80))
        .quickcheck(run_files as fn(Vec<Op>, bool) -> bool);
}
