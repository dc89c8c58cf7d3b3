//! A fault-injecting [`BlobStore`] for crash tests.
//!
//! [`FaultyStore`] wraps a [`MemoryStore`] (the *live* contents, what reads
//! see) and separately records what a real medium would have made durable:
//!
//! - the **durable image**: the contents every crash preserves;
//! - the **pending batches**: batches written since the last `sync` or
//!   durable write, in order. A crash keeps some prefix of them.
//! - the **deferred ops** ([`BlobStore::write_deferred`]): held back as the
//!   browser's store holds them, until the next batch that writes pages or
//!   meta (they become a pending batch just before it) or `sync`. Batches
//!   writing only the WAL overtake them, durable ones included, so a crash
//!   may keep a later WAL record and lose an earlier spill: the relaxed
//!   order the contract allows, and the one crash tests must survive.
//!
//! A successful durable write or `sync` folds every pending batch into the
//! durable image (the contract: a durable write also makes every earlier
//! batch durable). [`FaultyStore::crash_image`] then builds the store a crash
//! would leave, under a chosen [`CrashMode`], as a fresh [`MemoryStore`] to
//! reopen the engine on.
//!
//! Faults: [`FaultyStore::fail_after`] makes the n-th following `write` or
//! `sync` fail with [`StoreError::Io`] without applying it;
//! [`FaultyStore::fail_after_applying`] applies it and still reports `Io`
//! (a medium can lose the acknowledgement of a write that happened). An
//! applied-but-failed operation is *not* made durable: its fate is unknown,
//! so crash images may or may not include it.
//!
//! Clones share all state, so a test keeps a handle while the engine owns
//! another.

use super::memory::{Contents, MemoryStore};
use super::{Area, BlobKey, BlobStore, StoreError, StoreResult, WriteOp};
use bytes::Bytes;
use std::cell::RefCell;
use std::ops::RangeInclusive;
use std::rc::Rc;

/// Which state a simulated crash leaves behind (see [`FaultyStore::crash_image`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Only the durable image: every pending batch is lost.
    LoseUnsynced,
    /// The durable image plus the first `k` pending batches (clamped to the
    /// number pending), each whole.
    KeepPrefix(usize),
    /// The durable image, the first `keep_batches` pending batches whole,
    /// then the next pending batch torn, as by a backend that does not
    /// promise atomic batches: its ops before its last `Put` are applied,
    /// that `Put` keeps only the first `keep_bytes` bytes of its value, and
    /// ops after it are lost. A batch without a `Put` loses its last op.
    /// If no batch follows the kept ones this is `KeepPrefix(keep_batches)`.
    TearLast {
        /// Pending batches kept whole.
        keep_batches: usize,
        /// Bytes kept of the torn batch's last `Put` value.
        keep_bytes: usize,
    },
    /// One of the modes above, chosen deterministically from the seed and
    /// the pending batches (see [`FaultyStore::resolve_crash_mode`]).
    Random(u64),
}

/// Which kind of fault is armed.
#[derive(Clone, Copy, Debug)]
struct Armed {
    /// Operations (writes and syncs) still to pass before the faulty one;
    /// the fault fires when this is 0.
    remaining: u64,
    /// Whether the faulty operation is applied before reporting the error.
    apply: bool,
}

#[derive(Debug, Default)]
struct State {
    live: MemoryStore,
    durable: Contents,
    pending: Vec<Vec<WriteOp>>,
    deferred: Vec<WriteOp>,
    armed: Option<Armed>,
    writes: u64,
    syncs: u64,
    faults: u64,
}

impl State {
    /// Count one write/sync attempt against the armed fault. Returns the
    /// fault to inject now, if any.
    fn tick(&mut self) -> Option<Armed> {
        let armed = self.armed.as_mut()?;
        if armed.remaining > 0 {
            armed.remaining -= 1;
            return None;
        }
        let fired = *armed;
        self.armed = None;
        self.faults += 1;
        Some(fired)
    }

    /// Count a write and apply it to the live contents, unless a fault
    /// fires before applying it (`Io`); returns a fault that fires after.
    fn apply_live(&mut self, ops: &[WriteOp], durable: bool) -> StoreResult<Option<Armed>> {
        self.writes += 1;
        let fault = self.tick();
        if matches!(fault, Some(Armed { apply: false, .. })) {
            return Err(injected("write"));
        }
        self.live.write(ops.to_vec(), durable)?;
        Ok(fault)
    }

    /// The deferred ops become the next pending batch.
    fn release_deferred(&mut self) {
        if !self.deferred.is_empty() {
            let batch = std::mem::take(&mut self.deferred);
            self.pending.push(batch);
        }
    }

    fn make_durable(&mut self) {
        for batch in self.pending.drain(..) {
            MemoryStore::apply(&mut self.durable, batch);
        }
    }
}

/// A [`MemoryStore`] wrapper that records durability and injects faults.
/// See the module docs.
#[derive(Clone, Debug, Default)]
pub struct FaultyStore {
    state: Rc<RefCell<State>>,
}

impl FaultyStore {
    /// An empty store with no faults armed.
    pub fn new() -> FaultyStore {
        FaultyStore::default()
    }

    /// Wrap `inner`; its current contents count as durable. Do not write to
    /// `inner` through other handles afterwards: the durable image would not
    /// see those writes.
    pub fn with_inner(inner: MemoryStore) -> FaultyStore {
        let durable = inner.snapshot();
        FaultyStore {
            state: Rc::new(RefCell::new(State {
                live: inner,
                durable,
                ..State::default()
            })),
        }
    }

    /// Make the `n`-th following `write` or `sync` (1 = the next one) fail
    /// with [`StoreError::Io`] without being applied. Replaces any armed fault.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn fail_after(&self, n: u64) {
        self.arm(n, false);
    }

    /// Like [`FaultyStore::fail_after`], but the failing `write` or `sync` is
    /// carried out before the error is reported. The applied batch stays
    /// pending (not durable) even if the write asked for durability.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn fail_after_applying(&self, n: u64) {
        self.arm(n, true);
    }

    fn arm(&self, n: u64, apply: bool) {
        assert!(
            n > 0,
            "FaultyStore: n is 1-based (1 = the next write or sync)"
        );
        self.state.borrow_mut().armed = Some(Armed {
            remaining: n - 1,
            apply,
        });
    }

    /// Disarm any pending fault.
    pub fn clear_faults(&self) {
        self.state.borrow_mut().armed = None;
    }

    /// `write` calls so far, including failed ones.
    pub fn writes(&self) -> u64 {
        self.state.borrow().writes
    }

    /// `sync` calls so far, including failed ones.
    pub fn syncs(&self) -> u64 {
        self.state.borrow().syncs
    }

    /// Faults injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.state.borrow().faults
    }

    /// Batches written since the last successful `sync` or durable write.
    pub fn pending_batches(&self) -> usize {
        self.state.borrow().pending.len()
    }

    /// A copy of the durable image (what [`CrashMode::LoseUnsynced`] keeps).
    pub fn durable_snapshot(&self) -> Contents {
        self.state.borrow().durable.clone()
    }

    /// A copy of the live contents (what reads currently see).
    pub fn live_snapshot(&self) -> Contents {
        self.state.borrow().live.snapshot()
    }

    /// The concrete mode `mode` stands for: [`CrashMode::Random`] resolved
    /// against the current pending batches, every other mode unchanged.
    /// Useful to name the chosen mode in a failing test's message.
    pub fn resolve_crash_mode(&self, mode: CrashMode) -> CrashMode {
        let CrashMode::Random(seed) = mode else {
            return mode;
        };
        let state = self.state.borrow();
        let pending = state.pending.len();
        let mut rng = XorShift::new(seed);
        match rng.below(3) {
            0 => CrashMode::LoseUnsynced,
            1 => CrashMode::KeepPrefix(rng.below(pending as u64 + 1) as usize),
            _ if pending == 0 => CrashMode::LoseUnsynced,
            _ => {
                let keep_batches = rng.below(pending as u64) as usize;
                let torn_len = last_put_len(&state.pending[keep_batches]);
                let keep_bytes = rng.below(torn_len as u64 + 1) as usize;
                CrashMode::TearLast {
                    keep_batches,
                    keep_bytes,
                }
            }
        }
    }

    /// The store a crash now would leave behind, under `mode`: the durable
    /// image plus what `mode` keeps of the pending batches. The result is a
    /// new, independent [`MemoryStore`]; wrap it with
    /// [`FaultyStore::with_inner`] to keep injecting faults after "reboot".
    pub fn crash_image(&self, mode: CrashMode) -> MemoryStore {
        let mode = self.resolve_crash_mode(mode);
        let state = self.state.borrow();
        let mut image = state.durable.clone();
        let pending = &state.pending;
        let (whole, torn) = match mode {
            CrashMode::LoseUnsynced => (0, None),
            CrashMode::KeepPrefix(k) => (k.min(pending.len()), None),
            CrashMode::TearLast {
                keep_batches,
                keep_bytes,
            } => {
                let whole = keep_batches.min(pending.len());
                (whole, pending.get(whole).map(|b| (b, keep_bytes)))
            }
            CrashMode::Random(_) => unreachable!("resolved above"),
        };
        for batch in &pending[..whole] {
            MemoryStore::apply(&mut image, batch.clone());
        }
        if let Some((batch, keep_bytes)) = torn {
            MemoryStore::apply(&mut image, tear(batch, keep_bytes));
        }
        MemoryStore::from_contents(image)
    }
}

/// The ops of `batch` that survive tearing it (see [`CrashMode::TearLast`]).
fn tear(batch: &[WriteOp], keep_bytes: usize) -> Vec<WriteOp> {
    let last_put = batch
        .iter()
        .rposition(|op| matches!(op, WriteOp::Put { .. }));
    match last_put {
        Some(i) => {
            let mut ops = batch[..i].to_vec();
            if let WriteOp::Put { area, key, value } = &batch[i] {
                ops.push(WriteOp::Put {
                    area: *area,
                    key: *key,
                    value: value.slice(..keep_bytes.min(value.len())),
                });
            }
            ops
        }
        None => batch[..batch.len().saturating_sub(1)].to_vec(),
    }
}

fn last_put_len(batch: &[WriteOp]) -> usize {
    batch
        .iter()
        .rev()
        .find_map(|op| match op {
            WriteOp::Put { value, .. } => Some(value.len()),
            WriteOp::Delete { .. } => None,
        })
        .unwrap_or(0)
}

/// A tiny deterministic generator (xorshift64); quality is irrelevant here.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // Mix the seed so nearby seeds diverge; xorshift must not start at 0.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if n == 0 {
            0
        } else {
            self.0 % n
        }
    }
}

fn injected(op: &'static str) -> StoreError {
    StoreError::Io {
        op,
        detail: "injected fault (FaultyStore)".to_string(),
    }
}

impl BlobStore for FaultyStore {
    fn get(&self, area: Area, key: BlobKey) -> StoreResult<Option<Bytes>> {
        self.state.borrow().live.get(area, key)
    }

    fn keys_in(&self, area: Area, range: RangeInclusive<BlobKey>) -> StoreResult<Vec<BlobKey>> {
        self.state.borrow().live.keys_in(area, range)
    }

    fn write(&mut self, ops: Vec<WriteOp>, durable: bool) -> StoreResult<()> {
        let mut state = self.state.borrow_mut();
        let fault = state.apply_live(&ops, durable)?;
        let wal_only = ops.iter().all(|op| op.target().0 == Area::Wal);
        if !wal_only {
            state.release_deferred();
        }
        state.pending.push(ops);
        if fault.is_some() {
            // Applied, but the outcome is reported unknown: leave it pending.
            return Err(injected("write"));
        }
        if durable {
            state.make_durable();
        }
        Ok(())
    }

    fn write_deferred(&mut self, ops: Vec<WriteOp>) -> StoreResult<()> {
        let mut state = self.state.borrow_mut();
        let fault = state.apply_live(&ops, false)?;
        state.deferred.extend(ops);
        if fault.is_some() {
            return Err(injected("write"));
        }
        Ok(())
    }

    fn sync(&mut self) -> StoreResult<()> {
        let mut state = self.state.borrow_mut();
        state.syncs += 1;
        state.release_deferred();
        match state.tick() {
            Some(Armed { apply: false, .. }) => Err(injected("sync")),
            Some(Armed { apply: true, .. }) => {
                state.make_durable();
                Err(injected("sync"))
            }
            None => {
                state.make_durable();
                Ok(())
            }
        }
    }

    fn stored_bytes(&self, area: Area) -> StoreResult<u64> {
        self.state.borrow().live.stored_bytes(area)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;

    fn put(key: BlobKey, value: &'static [u8]) -> WriteOp {
        WriteOp::Put {
            area: Area::Pages,
            key,
            value: Bytes::from_static(value),
        }
    }

    fn del(key: BlobKey) -> WriteOp {
        WriteOp::Delete {
            area: Area::Pages,
            key,
        }
    }

    fn contents(pairs: &[(BlobKey, &'static [u8])]) -> Contents {
        pairs
            .iter()
            .map(|&(k, v)| ((Area::Pages, k), Bytes::from_static(v)))
            .collect()
    }

    #[test]
    fn passes_conformance_reopening_as_crash() {
        // Reopen = crash losing everything not durable: the suite only relies
        // on durable data across reopen, so this must pass.
        conformance::run_all(&mut |_| FaultyStore::new(), &mut |s| {
            FaultyStore::with_inner(s.crash_image(CrashMode::LoseUnsynced))
        });
    }

    #[test]
    fn passes_conformance_reopening_in_place() {
        conformance::run_all(&mut |_| FaultyStore::new(), &mut |s| s);
    }

    /// Three batches: durable, then two pending.
    fn three_batches() -> FaultyStore {
        let mut s = FaultyStore::new();
        s.write(vec![put(1, b"a1"), put(2, b"b1")], true).unwrap();
        s.write(vec![put(1, b"a2"), del(2)], false).unwrap();
        s.write(vec![put(3, b"c3")], false).unwrap();
        s
    }

    #[test]
    fn crash_images_keep_durable_plus_prefix() {
        let s = three_batches();
        assert_eq!(s.pending_batches(), 2);
        let image = |m| s.crash_image(m).snapshot();
        let b1 = contents(&[(1, b"a1"), (2, b"b1")]);
        let b2 = contents(&[(1, b"a2")]);
        let b3 = contents(&[(1, b"a2"), (3, b"c3")]);
        assert_eq!(image(CrashMode::LoseUnsynced), b1);
        assert_eq!(image(CrashMode::KeepPrefix(0)), b1);
        assert_eq!(image(CrashMode::KeepPrefix(1)), b2);
        assert_eq!(image(CrashMode::KeepPrefix(2)), b3);
        assert_eq!(image(CrashMode::KeepPrefix(99)), b3);
        assert_eq!(s.live_snapshot(), b3);
        // A crash image is independent of the store it came from.
        let img = s.crash_image(CrashMode::LoseUnsynced);
        s.clone().write(vec![put(9, b"z")], true).unwrap();
        assert_eq!(img.snapshot(), b1);
    }

    #[test]
    fn sync_and_durable_write_make_everything_durable() {
        let mut s = three_batches();
        s.sync().unwrap();
        assert_eq!(s.pending_batches(), 0);
        let all = contents(&[(1, b"a2"), (3, b"c3")]);
        assert_eq!(s.crash_image(CrashMode::LoseUnsynced).snapshot(), all);

        let mut s = three_batches();
        s.write(vec![del(3)], true).unwrap();
        assert_eq!(
            s.crash_image(CrashMode::LoseUnsynced).snapshot(),
            contents(&[(1, b"a2")])
        );
    }

    #[test]
    fn deferred_ops_wait_for_a_page_or_meta_write_and_wal_records_overtake_them() {
        let mut s = FaultyStore::new();
        s.write_deferred(vec![put(1, b"spill")]).unwrap();
        let wal = WriteOp::Put {
            area: Area::Wal,
            key: 7,
            value: Bytes::from_static(b"w"),
        };
        s.write(vec![wal], true).unwrap();
        // Durable: the WAL record; the spill is readable but lost by any crash.
        assert_eq!(s.live_snapshot().len(), 2);
        let crashed = s.crash_image(CrashMode::LoseUnsynced).snapshot();
        assert_eq!(crashed.len(), 1);
        assert!(crashed.keys().all(|(area, _)| *area == Area::Wal));
        // A page write carries the spill before it: a prefix keeps it alone.
        s.write(vec![put(2, b"page")], false).unwrap();
        assert_eq!(s.pending_batches(), 2);
        let first = s.crash_image(CrashMode::KeepPrefix(1)).snapshot();
        assert_eq!(
            first.get(&(Area::Pages, 1)).map(|v| &v[..]),
            Some(&b"spill"[..])
        );
        assert_eq!(first.get(&(Area::Pages, 2)), None);
        // `sync` makes deferred ops durable too.
        s.write_deferred(vec![put(3, b"late")]).unwrap();
        s.sync().unwrap();
        let synced = s.crash_image(CrashMode::LoseUnsynced).snapshot();
        assert_eq!(
            synced.get(&(Area::Pages, 3)).map(|v| &v[..]),
            Some(&b"late"[..])
        );
    }

    #[test]
    fn tear_last_applies_ops_before_last_put_and_truncates_it() {
        let mut s = three_batches();
        s.write(
            vec![put(4, b"dddd"), del(1), put(5, b"abcdef"), del(4)],
            false,
        )
        .unwrap();
        let image = |keep_batches, keep_bytes| {
            s.crash_image(CrashMode::TearLast {
                keep_batches,
                keep_bytes,
            })
            .snapshot()
        };
        // Torn batch is the 4th write (index 2 of pending): put 4, del 1,
        // put 5 truncated, del 4 lost.
        assert_eq!(
            image(2, 2),
            contents(&[(3, b"c3"), (4, b"dddd"), (5, b"ab")])
        );
        assert_eq!(image(2, 0), contents(&[(3, b"c3"), (4, b"dddd"), (5, b"")]));
        assert_eq!(
            image(2, 100),
            contents(&[(3, b"c3"), (4, b"dddd"), (5, b"abcdef")])
        );
        // Torn first pending batch [put 1 a2, del 2]: last put is op 0, the
        // delete after it is lost.
        assert_eq!(image(0, 1), contents(&[(1, b"a"), (2, b"b1")]));
        // Nothing after the kept batches: same as KeepPrefix.
        assert_eq!(image(3, 1), s.live_snapshot());
        assert_eq!(image(7, 1), s.live_snapshot());
    }

    #[test]
    fn tear_of_delete_only_batch_drops_its_last_op() {
        let mut s = FaultyStore::new();
        s.write(vec![put(1, b"x"), put(2, b"y")], true).unwrap();
        s.write(vec![del(1), del(2)], false).unwrap();
        let img = s.crash_image(CrashMode::TearLast {
            keep_batches: 0,
            keep_bytes: 0,
        });
        assert_eq!(img.snapshot(), contents(&[(2, b"y")]));
    }

    #[test]
    fn random_mode_is_deterministic_and_one_of_the_defined_images() {
        let mut s = three_batches();
        s.write(vec![put(5, b"abcdef")], false).unwrap();
        let mut seen = std::collections::HashSet::new();
        for seed in 0..200 {
            let mode = s.resolve_crash_mode(CrashMode::Random(seed));
            assert!(!matches!(mode, CrashMode::Random(_)));
            assert_eq!(mode, s.resolve_crash_mode(CrashMode::Random(seed)));
            assert_eq!(
                s.crash_image(CrashMode::Random(seed)).snapshot(),
                s.crash_image(mode).snapshot(),
                "seed {seed} resolved to {mode:?}"
            );
            if let CrashMode::TearLast {
                keep_batches,
                keep_bytes,
            } = mode
            {
                assert!(keep_batches < s.pending_batches());
                assert!(keep_bytes <= 6);
            }
            seen.insert(std::mem::discriminant(&mode));
        }
        assert_eq!(seen.len(), 3, "200 seeds should reach all three modes");
    }

    #[test]
    fn fail_after_fails_the_nth_operation_without_applying_it() {
        let mut s = FaultyStore::new();
        let handle = s.clone();
        handle.fail_after(2);
        s.write(vec![put(1, b"a")], false).unwrap();
        let err = s.write(vec![put(2, b"b")], true).unwrap_err();
        assert!(matches!(err, StoreError::Io { op: "write", .. }), "{err}");
        assert_eq!(handle.live_snapshot(), contents(&[(1, b"a")]));
        assert_eq!(handle.pending_batches(), 1);
        // The fault is one-shot.
        s.write(vec![put(3, b"c")], false).unwrap();
        // Syncs count towards n as well.
        handle.fail_after(1);
        assert!(matches!(s.sync(), Err(StoreError::Io { op: "sync", .. })));
        assert_eq!(
            handle.pending_batches(),
            2,
            "failed sync made nothing durable"
        );
        assert!(handle
            .crash_image(CrashMode::LoseUnsynced)
            .snapshot()
            .is_empty());
        assert_eq!((handle.writes(), handle.syncs()), (3, 1));
        assert_eq!(handle.faults_injected(), 2);
        handle.fail_after(5);
        handle.clear_faults();
        for _ in 0..6 {
            s.sync().unwrap();
        }
    }

    #[test]
    fn fail_after_applying_applies_but_does_not_make_durable() {
        let mut s = FaultyStore::new();
        s.write(vec![put(1, b"a")], true).unwrap();
        s.fail_after_applying(1);
        assert!(s.write(vec![put(2, b"b")], true).is_err());
        assert_eq!(s.live_snapshot(), contents(&[(1, b"a"), (2, b"b")]));
        assert_eq!(
            s.crash_image(CrashMode::LoseUnsynced).snapshot(),
            contents(&[(1, b"a")])
        );
        assert_eq!(
            s.crash_image(CrashMode::KeepPrefix(1)).snapshot(),
            contents(&[(1, b"a"), (2, b"b")])
        );
        // An applied-but-failed sync did make everything durable.
        s.fail_after_applying(1);
        assert!(s.sync().is_err());
        assert_eq!(s.pending_batches(), 0);
        assert_eq!(
            s.crash_image(CrashMode::LoseUnsynced).snapshot(),
            contents(&[(1, b"a"), (2, b"b")])
        );
    }

    #[test]
    fn with_inner_treats_existing_contents_as_durable() {
        let inner = MemoryStore::from_contents(contents(&[(1, b"a")]));
        let mut s = FaultyStore::with_inner(inner);
        s.write(vec![del(1)], false).unwrap();
        assert_eq!(s.get(Area::Pages, 1).unwrap(), None);
        assert_eq!(
            s.crash_image(CrashMode::LoseUnsynced).snapshot(),
            contents(&[(1, b"a")])
        );
    }

    #[test]
    #[should_panic(expected = "1-based")]
    fn fail_after_zero_is_rejected() {
        FaultyStore::new().fail_after(0);
    }
}
