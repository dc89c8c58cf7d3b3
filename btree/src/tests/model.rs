//! Model-based tests: random operations against a `BTreeMap`, across
//! commits, rollbacks, checkpoints and reopens, with `check()` after every
//! step and a leak check at every checkpoint.

use crate::BTree;
use moonvault_pager::store::memory::MemoryStore;
use moonvault_pager::{Pager, PagerConfig};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use std::collections::BTreeMap;
use std::ops::Bound;

/// Pages of `page_size` bytes and branches of one page: trees of a few
/// hundred entries are several levels deep. (Larger branches:
/// [`Harness::with_branches`].)
pub(super) fn config(page_size: usize) -> PagerConfig {
    PagerConfig {
        page_size,
        branch_pages: 1,
        // Small: forces spills and cache misses.
        cache_bytes: 16 * page_size,
        // Large checkpoints encode on two threads, even on one core.
        encode_threads: 2,
    }
}

fn pick(g: &mut Gen, n: u32) -> u32 {
    u32::arbitrary(g) % n
}

/// A key drawn so that operations collide: numbered keys of short, long
/// and shared-prefix shapes, and tiny keys over bytes that stress ordering.
/// The shapes sort in different regions (`\0..` big-endian numbers, `\x01`
/// long shared prefixes, `\x02` clusters, `k`, `p`, `x`), so a leaf's
/// prefix lengthens and shortens as keys of neighbouring shapes come and go.
#[derive(Clone, Debug)]
pub(super) struct Key(pub(super) Vec<u8>);

/// Shapes of [`numbered`] keys.
pub(super) const STYLES: u32 = 6;

pub(super) fn numbered(n: u32, style: u8) -> Vec<u8> {
    match u32::from(style) % STYLES {
        0 => format!("k{n:05}").into_bytes(),
        // Long keys (near the 232-byte maximum of 1 KiB pages) make narrow
        // branches and deep trees.
        1 => {
            // A long shared prefix: separators stay long too.
            let mut k = vec![b'x'; 150 + (n as usize % 75)];
            k.extend_from_slice(format!("{n:05}").as_bytes());
            k
        }
        2 => format!("p/{}/{n}", n % 7).into_bytes(),
        3 => n.to_be_bytes().to_vec(),
        // Engine-like keys: a 44-byte prefix shared by all, then the
        // number: leaves of these keep most of each key in their prefix.
        4 => {
            let mut k = vec![0x01, 0x01, 0x02, 0x20];
            k.extend_from_slice(&[0x41; 40]);
            k.extend_from_slice(&(n as u16).to_be_bytes());
            k
        }
        // Seven clusters, each with a 30-byte prefix of its own: a leaf
        // spanning two clusters has a 1-byte prefix, one inside a cluster
        // a 31-byte one, so halves of a split shrink unevenly.
        _ => {
            let mut k = vec![0x02];
            k.extend_from_slice(&[b'a' + (n % 7) as u8; 30]);
            k.extend_from_slice(&n.to_be_bytes());
            k
        }
    }
}

impl Arbitrary for Key {
    fn arbitrary(g: &mut Gen) -> Key {
        if pick(g, 5) == 0 {
            let len = pick(g, 4) as usize;
            let bytes = (0..len).map(|_| *g.choose(&[0u8, 1, b'a', b'k', 0xFF]).unwrap_or(&0));
            Key(bytes.collect())
        } else {
            Key(numbered(pick(g, 600), pick(g, STYLES) as u8))
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Key>> {
        Box::new(self.0.shrink().map(Key))
    }
}

/// A value described by length and seed (keeps failure output short).
#[derive(Clone, Copy, Debug)]
pub(super) struct Val(pub(super) u16, pub(super) u8);

impl Val {
    pub(super) fn bytes(self) -> Vec<u8> {
        (0..self.0 as usize)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(self.1))
            .collect()
    }
}

impl Arbitrary for Val {
    fn arbitrary(g: &mut Gen) -> Val {
        let len = match pick(g, 10) {
            0..=6 => pick(g, 30),
            7 | 8 => 100 + pick(g, 300), // around the inline threshold
            _ => 1000 + pick(g, 5000),   // several overflow pages
        };
        Val(len as u16, u8::arbitrary(g))
    }
}

#[derive(Clone, Debug)]
pub(super) enum B {
    In(Key),
    Ex(Key),
    Unbounded,
}

impl Arbitrary for B {
    fn arbitrary(g: &mut Gen) -> B {
        match pick(g, 3) {
            0 => B::In(Key::arbitrary(g)),
            1 => B::Ex(Key::arbitrary(g)),
            _ => B::Unbounded,
        }
    }
}

impl B {
    fn bound(&self) -> Bound<&[u8]> {
        match self {
            B::In(k) => Bound::Included(&k.0),
            B::Ex(k) => Bound::Excluded(&k.0),
            B::Unbounded => Bound::Unbounded,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) enum Op {
    Insert(Key, Val),
    /// Numbered keys `start, start+step, ...` (n of them).
    InsertMany {
        start: u16,
        n: u16,
        step: u8,
        style: u8,
        val: Val,
    },
    Remove(Key),
    RemoveMany {
        start: u16,
        n: u16,
        style: u8,
    },
    Get(Key),
    Range(B, B, bool),
    Prefix(Key, bool),
    Count(B, B),
    /// Iterate while writing every `every` entries.
    ScanWhileWriting {
        reverse: bool,
        every: u8,
        writes: Vec<(Key, Option<Val>)>,
    },
    Commit,
    Checkpoint,
    Rollback,
    Reopen,
    Clear,
    /// Rewrite the leaves as kind 1 (where they fit) or kind 4, as a
    /// store written by an older moonvault holds them (copy-on-write like
    /// any edit).
    Downgrade,
    /// Puts (`Some`) and removes (`None`) applied as one sorted run
    /// (`BTree::apply_sorted`); the last write of a key wins.
    Sorted(Vec<(Key, Option<Val>)>),
    /// Numbered keys `start, start+step, ...` as one sorted run, every
    /// `remove_every`-th a remove (none if 0).
    SortedMany {
        start: u16,
        n: u16,
        step: u8,
        style: u8,
        val: Val,
        remove_every: u8,
    },
}

/// A run of numbered keys: its start, length (a few long ones), step,
/// style and value.
fn numbered_run(g: &mut Gen) -> (u16, u16, u8, u8, Val) {
    let start = pick(g, 600) as u16;
    let n = if pick(g, 4) == 0 {
        pick(g, 1500)
    } else {
        pick(g, 300)
    } as u16;
    let step = 1 + pick(g, 3) as u8;
    let style = pick(g, STYLES) as u8;
    let val = if pick(g, 4) == 0 {
        Val::arbitrary(g)
    } else {
        Val(pick(g, 40) as u16, 7)
    };
    (start, n, step, style, val)
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        match pick(g, 46) {
            0..=9 => Op::Insert(Key::arbitrary(g), Val::arbitrary(g)),
            10..=12 => {
                let (start, n, step, style, val) = numbered_run(g);
                Op::InsertMany {
                    start,
                    n,
                    step,
                    style,
                    val,
                }
            }
            13..=17 => Op::Remove(Key::arbitrary(g)),
            18..=20 => Op::RemoveMany {
                start: pick(g, 1500) as u16,
                n: pick(g, 800) as u16,
                style: pick(g, STYLES) as u8,
            },
            21..=22 => Op::Get(Key::arbitrary(g)),
            23..=25 => Op::Range(B::arbitrary(g), B::arbitrary(g), bool::arbitrary(g)),
            26 => Op::Prefix(Key::arbitrary(g), bool::arbitrary(g)),
            27..=28 => Op::Count(B::arbitrary(g), B::arbitrary(g)),
            29..=30 => Op::ScanWhileWriting {
                reverse: bool::arbitrary(g),
                every: 1 + pick(g, 20) as u8,
                writes: (0..pick(g, 12))
                    .map(|_| {
                        let v = if bool::arbitrary(g) {
                            Some(Val::arbitrary(g))
                        } else {
                            None
                        };
                        (Key::arbitrary(g), v)
                    })
                    .collect(),
            },
            31..=33 => Op::Commit,
            34..=35 => Op::Checkpoint,
            36 => Op::Rollback,
            37..=38 => Op::Reopen,
            39 => Op::Clear,
            40..=41 => Op::Downgrade,
            42..=43 => Op::Sorted(
                (0..pick(g, 40))
                    .map(|_| {
                        let v = (pick(g, 4) != 0).then(|| Val::arbitrary(g));
                        (Key::arbitrary(g), v)
                    })
                    .collect(),
            ),
            _ => {
                let (start, n, step, style, val) = numbered_run(g);
                Op::SortedMany {
                    start,
                    n,
                    step,
                    style,
                    val,
                    remove_every: pick(g, 5) as u8,
                }
            }
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Op>> {
        match self {
            Op::InsertMany {
                start,
                n,
                step,
                style,
                val,
            } => {
                let (start, step, style, val) = (*start, *step, *style, *val);
                Box::new(n.shrink().map(move |n| Op::InsertMany {
                    start,
                    n,
                    step,
                    style,
                    val,
                }))
            }
            Op::Insert(k, v) => {
                let v = *v;
                Box::new(k.shrink().map(move |k| Op::Insert(k, v)))
            }
            _ => Box::new(std::iter::empty()),
        }
    }
}

pub(super) type Model = BTreeMap<Vec<u8>, Vec<u8>>;
pub(super) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn in_bounds(key: &[u8], lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
    let above = match lo {
        Bound::Included(l) => key >= l,
        Bound::Excluded(l) => key > l,
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(h) => key <= h,
        Bound::Excluded(h) => key < h,
        Bound::Unbounded => true,
    };
    above && below
}

pub(super) struct Harness {
    store: MemoryStore,
    page_size: usize,
    pub(super) pager: Pager,
    pub(super) tree: BTree,
    pub(super) model: Model,
    committed: (BTree, Model),
    durable: (BTree, Model),
    /// Inserts go through `insert_hinted` with these when set.
    pub(super) hints: Option<crate::InsertHints>,
}

pub(super) fn root_bytes(tree: &BTree) -> Vec<u8> {
    tree.root.unwrap_or(0).to_le_bytes().to_vec()
}

impl Harness {
    pub(super) fn new(page_size: usize) -> Harness {
        Harness::with_branches(page_size, 1)
    }

    /// A harness whose branches are `branch_pages` pages.
    pub(super) fn with_branches(page_size: usize, branch_pages: usize) -> Harness {
        let store = MemoryStore::new();
        let config = PagerConfig {
            branch_pages,
            ..config(page_size)
        };
        let (mut pager, _) = Pager::open(Box::new(store.clone()), config).unwrap();
        // Branches that stop changing get search aids, as the engine's do.
        pager.derive_aids_with(crate::SEARCH_AID);
        pager.begin().unwrap();
        Harness {
            store,
            page_size,
            pager,
            tree: BTree::default(),
            model: Model::new(),
            committed: Default::default(),
            durable: Default::default(),
            hints: None,
        }
    }

    /// A harness whose inserts use [`crate::InsertHints`].
    pub(super) fn hinted(page_size: usize) -> Harness {
        Harness {
            hints: Some(Default::default()),
            ..Harness::new(page_size)
        }
    }

    /// A new pager transaction: fingers of the last one are void.
    fn reset_hints(&mut self) {
        if let Some(h) = &mut self.hints {
            h.clear();
        }
    }

    pub(super) fn check(&self) -> Result<(), String> {
        let report = self.tree.check(&self.pager).map_err(|e| e.to_string())?;
        if report.entries != self.model.len() as u64 {
            return Err(format!(
                "check counted {} entries, model has {}",
                report.entries,
                self.model.len()
            ));
        }
        Ok(())
    }

    pub(super) fn commit(&mut self) {
        self.pager.commit().unwrap();
        self.committed = (self.tree, self.model.clone());
    }

    pub(super) fn scan(
        &self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<Entries, String> {
        // Alternate the copying, the lending and the run calls on one
        // cursor: they must agree and share positioning.
        let mut cursor = self.tree.range(lo, hi, reverse);
        let mut got = Vec::new();
        loop {
            let entry = match got.len() % 3 {
                0 => cursor.next(&self.tree, &self.pager),
                1 => cursor.next_with(&self.tree, &self.pager, |k, v| (k.to_vec(), v.to_vec())),
                _ => {
                    let before = got.len();
                    let max = 1 + before % 5;
                    let n = cursor
                        .next_run_with(&self.tree, &self.pager, max, |k, v| {
                            got.push((k.to_vec(), v.read().expect("a chain").into_owned()))
                        })
                        .map_err(|e| e.to_string())?;
                    if n != got.len() - before || n > max {
                        return Err(format!(
                            "run reported {n} of {} entries",
                            got.len() - before
                        ));
                    }
                    if n == 0 {
                        break;
                    }
                    continue;
                }
            };
            match entry.map_err(|e| e.to_string())? {
                Some(entry) => got.push(entry),
                None => break,
            }
        }
        Ok(got)
    }

    pub(super) fn expect_scan(
        &self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<(), String> {
        let got = self.scan(lo, hi, reverse)?;
        let mut want: Entries = self
            .model
            .iter()
            .filter(|(k, _)| in_bounds(k, lo, hi))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if reverse {
            want.reverse();
        }
        if got != want {
            let keys = |v: &[(Vec<u8>, Vec<u8>)]| v.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
            return Err(format!(
                "range {lo:?}..{hi:?} rev={reverse}: got {:?}, want {:?}",
                keys(&got),
                keys(&want)
            ));
        }
        Ok(())
    }

    pub(super) fn insert(&mut self, key: &[u8], val: Val) -> Result<(), String> {
        let value = val.bytes();
        // As the engine does: read the old value through the hints first.
        self.expect_hinted_get(key)?;
        let got = match &mut self.hints {
            Some(hints) => self.tree.insert_hinted(&mut self.pager, key, &value, hints),
            None => self.tree.insert(&mut self.pager, key, &value),
        }
        .map_err(|e| e.to_string())?;
        let want = self.model.insert(key.to_vec(), value).map(|v| v.len());
        if got != want {
            return Err(format!("insert {key:?} returned {got:?}, want {want:?}"));
        }
        Ok(())
    }

    /// With hints set, `get_with_hinted` agrees with the model.
    fn expect_hinted_get(&self, key: &[u8]) -> Result<(), String> {
        let Some(hints) = &self.hints else {
            return Ok(());
        };
        let got = self
            .tree
            .get_with_hinted(&self.pager, key, hints, <[u8]>::to_vec)
            .map_err(|e| e.to_string())?;
        if got.as_ref() != self.model.get(key) {
            return Err(format!("get_with_hinted {key:?} disagrees with the model"));
        }
        Ok(())
    }

    pub(super) fn remove(&mut self, key: &[u8]) -> Result<(), String> {
        let got = self
            .tree
            .remove(&mut self.pager, key)
            .map_err(|e| e.to_string())?;
        let want = self.model.remove(key).is_some();
        if got != want {
            return Err(format!("remove {key:?} returned {got}, want {want}"));
        }
        Ok(())
    }

    /// Apply `writes` as one sorted run, and to the model.
    fn apply_sorted(&mut self, writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> Result<(), String> {
        let run: Vec<(&[u8], Option<&[u8]>)> = writes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        self.tree
            .apply_sorted(&mut self.pager, run.as_slice())
            .map_err(|e| e.to_string())?;
        for (k, v) in writes {
            match v {
                Some(v) => self.model.insert(k, v),
                None => self.model.remove(&k),
            };
        }
        Ok(())
    }

    pub(super) fn apply(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Sorted(writes) => {
                let writes = writes
                    .iter()
                    .map(|(k, v)| (k.0.clone(), v.map(Val::bytes)))
                    .collect();
                self.apply_sorted(writes)?;
            }
            Op::SortedMany {
                start,
                n,
                step,
                style,
                val,
                remove_every,
            } => {
                let writes = (0..*n as u32)
                    .map(|i| {
                        let key = numbered(*start as u32 + i * *step as u32, *style);
                        let removed = *remove_every > 0 && i % *remove_every as u32 == 0;
                        let value = Val(val.0, val.1.wrapping_add(i as u8));
                        (key, (!removed).then(|| value.bytes()))
                    })
                    .collect();
                self.apply_sorted(writes)?;
            }
            Op::Insert(k, v) => self.insert(&k.0, *v)?,
            Op::InsertMany {
                start,
                n,
                step,
                style,
                val,
            } => {
                for i in 0..*n as u32 {
                    let key = numbered(*start as u32 + i * *step as u32, *style);
                    self.insert(&key, Val(val.0, val.1.wrapping_add(i as u8)))?;
                }
            }
            Op::Remove(k) => self.remove(&k.0)?,
            Op::RemoveMany { start, n, style } => {
                for i in 0..*n as u32 {
                    self.remove(&numbered(*start as u32 + i, *style))?;
                }
            }
            Op::Get(k) => {
                let got = self
                    .tree
                    .get(&self.pager, &k.0)
                    .map_err(|e| e.to_string())?;
                if got.as_ref() != self.model.get(&k.0) {
                    return Err(format!("get {:?} disagrees with the model", k.0));
                }
                let lent = self
                    .tree
                    .get_with(&self.pager, &k.0, <[u8]>::to_vec)
                    .map_err(|e| e.to_string())?;
                if lent != got {
                    return Err(format!("get_with {:?} disagrees with get", k.0));
                }
                self.expect_hinted_get(&k.0)?;
            }
            Op::Range(lo, hi, rev) => self.expect_scan(lo.bound(), hi.bound(), *rev)?,
            Op::Prefix(p, rev) => {
                let mut cursor = self.tree.prefix(&p.0, *rev);
                let mut got = Vec::new();
                while let Some((k, _)) = cursor
                    .next(&self.tree, &self.pager)
                    .map_err(|e| e.to_string())?
                {
                    got.push(k);
                }
                let mut want: Vec<Vec<u8>> = self
                    .model
                    .keys()
                    .filter(|k| k.starts_with(&p.0))
                    .cloned()
                    .collect();
                if *rev {
                    want.reverse();
                }
                if got != want {
                    return Err(format!("prefix {:?}: got {got:?}, want {want:?}", p.0));
                }
            }
            Op::Count(lo, hi) => {
                let got = self
                    .tree
                    .count(&self.pager, lo.bound(), hi.bound())
                    .map_err(|e| e.to_string())?;
                let want = self
                    .model
                    .keys()
                    .filter(|k| in_bounds(k, lo.bound(), hi.bound()))
                    .count() as u64;
                if got != want {
                    return Err(format!("count {lo:?}..{hi:?}: got {got}, want {want}"));
                }
            }
            Op::ScanWhileWriting {
                reverse,
                every,
                writes,
            } => {
                let mut cursor = self
                    .tree
                    .range(Bound::Unbounded, Bound::Unbounded, *reverse);
                let mut last: Option<Vec<u8>> = None;
                let mut writes = writes.iter();
                let mut seen = 0;
                loop {
                    // The cursor must return the next key of the current
                    // model after the last one it returned.
                    let want = match (&last, reverse) {
                        (None, false) => self.model.iter().next(),
                        (None, true) => self.model.iter().next_back(),
                        (Some(l), false) => self
                            .model
                            .range::<[u8], _>((Bound::Excluded(l.as_slice()), Bound::Unbounded))
                            .next(),
                        (Some(l), true) => self
                            .model
                            .range::<[u8], _>((Bound::Unbounded, Bound::Excluded(l.as_slice())))
                            .next_back(),
                    }
                    .map(|(k, v)| (k.clone(), v.clone()));
                    let got = if seen % 3 == 1 {
                        cursor.next_with(&self.tree, &self.pager, |k, v| (k.to_vec(), v.to_vec()))
                    } else {
                        cursor.next(&self.tree, &self.pager)
                    }
                    .map_err(|e| e.to_string())?;
                    if got != want {
                        return Err(format!(
                            "scan while writing after {last:?}: got {:?}, want {:?}",
                            got.map(|e| e.0),
                            want.map(|e| e.0)
                        ));
                    }
                    let Some((k, _)) = got else { break };
                    last = Some(k);
                    seen += 1;
                    if seen % *every as usize == 0 {
                        match writes.next() {
                            Some((k, Some(v))) => self.insert(&k.0, *v)?,
                            Some((k, None)) => self.remove(&k.0)?,
                            None => {}
                        }
                    }
                }
            }
            Op::Commit => {
                self.reset_hints();
                self.commit();
                self.check()?;
                self.pager.begin().unwrap();
            }
            Op::Checkpoint => {
                self.reset_hints();
                self.commit();
                self.pager
                    .checkpoint(root_bytes(&self.tree), vec![])
                    .unwrap();
                self.durable = (self.tree, self.model.clone());
                // No snapshot is pinned: every page is either reachable or free.
                let mut reachable = 0u64;
                self.tree
                    .pages(&self.pager, &mut |_| reachable += 1)
                    .map_err(|e| e.to_string())?;
                let live = self.pager.stats().unwrap().live_pages;
                if live != reachable {
                    return Err(format!(
                        "{live} live pages but {reachable} reachable: a leak"
                    ));
                }
                self.pager.begin().unwrap();
            }
            Op::Rollback => {
                self.reset_hints();
                self.pager.rollback();
                let version = self.tree.version + 1;
                (self.tree, self.model) = self.committed.clone();
                self.tree.version = version;
                self.pager.begin().unwrap();
            }
            Op::Reopen => {
                self.reset_hints();
                let (mut pager, app) =
                    Pager::open(Box::new(self.store.clone()), config(self.page_size)).unwrap();
                pager.derive_aids_with(crate::SEARCH_AID);
                self.pager = pager;
                if app != root_bytes(&self.durable.0) && !app.is_empty() {
                    return Err("superblock holds a different root".into());
                }
                self.tree = BTree::new(self.durable.0.root);
                self.model = self.durable.1.clone();
                self.committed = (self.tree, self.model.clone());
                self.pager.begin().unwrap();
            }
            Op::Downgrade => {
                if let Some(root) = self.tree.root {
                    let root = super::format_one::downgrade(&mut self.pager, root, 0)
                        .map_err(|e| e.to_string())?;
                    // Like any write: a new root id or in-place edits.
                    self.tree.root = Some(root);
                    self.tree.version += 1;
                }
            }
            Op::Clear => {
                self.tree
                    .clear(&mut self.pager)
                    .map_err(|e| e.to_string())?;
                self.model.clear();
                if self.tree.root.is_some() {
                    return Err("clear left a root".into());
                }
            }
        }
        self.check()
    }
}

fn run(page_size: usize, ops: &[Op]) -> TestResult {
    run_with(Harness::new(page_size), ops)
}

fn run_with(mut h: Harness, ops: &[Op]) -> TestResult {
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = h.apply(op) {
            return TestResult::error(format!("op {i} {op:?}: {e}"));
        }
    }
    // Everything must survive a final checkpoint and reopen.
    for op in [
        Op::Checkpoint,
        Op::Reopen,
        Op::Range(B::Unbounded, B::Unbounded, false),
    ] {
        if let Err(e) = h.apply(&op) {
            return TestResult::error(format!("final {op:?}: {e}"));
        }
    }
    TestResult::passed()
}

#[test]
fn random_ops_match_model_small_pages() {
    fn prop(ops: Vec<Op>) -> TestResult {
        run(1024, &ops)
    }
    QuickCheck::new()
        .tests(300)
        .rng(Gen::new(60))
        .quickcheck(prop as fn(Vec<Op>) -> TestResult);
}

#[test]
fn random_ops_match_model_with_branches_of_two_pages() {
    fn prop(ops: Vec<Op>, hinted: bool) -> TestResult {
        let h = Harness::with_branches(1024, 2);
        let hints = hinted.then(Default::default);
        run_with(Harness { hints, ..h }, &ops)
    }
    QuickCheck::new()
        .tests(200)
        .rng(Gen::new(60))
        .quickcheck(prop as fn(Vec<Op>, bool) -> TestResult);
}

#[test]
fn random_ops_match_model_default_pages() {
    fn prop(ops: Vec<Op>) -> TestResult {
        run(4096, &ops)
    }
    QuickCheck::new()
        .tests(60)
        .rng(Gen::new(60))
        .quickcheck(prop as fn(Vec<Op>) -> TestResult);
}

#[test]
fn random_ops_match_model_with_insert_hints() {
    fn prop(ops: Vec<Op>) -> TestResult {
        run_with(Harness::hinted(1024), &ops)
    }
    QuickCheck::new()
        .tests(300)
        .rng(Gen::new(60))
        .quickcheck(prop as fn(Vec<Op>) -> TestResult);
}

#[test]
fn random_ops_match_model_with_insert_hints_default_pages() {
    fn prop(ops: Vec<Op>) -> TestResult {
        run_with(Harness::hinted(4096), &ops)
    }
    QuickCheck::new()
        .tests(60)
        .rng(Gen::new(60))
        .quickcheck(prop as fn(Vec<Op>) -> TestResult);
}
