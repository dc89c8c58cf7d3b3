//! Insert hints: the leaves a run of nearby inserts edited in place, with
//! the key ranges they cover, so the next insert into one of those ranges
//! edits the leaf without descending from the root
//! ([`BTree::insert_hinted`](crate::BTree::insert_hinted)).

use moonvault_pager::PageId;

use crate::node::{cmp_keys, KeyBuf};

/// What an insert tells [`InsertHints`] about the tree's structure.
#[derive(Default)]
pub(crate) struct Learn {
    /// The leaf edited, when nothing else changed (same page, still at
    /// least `min_fill`, so no ancestor is touched).
    pub(crate) finger: Option<Finger>,
    /// A leaf was merged with or refilled from a neighbour (a value
    /// replaced by a shorter one): other leaves' ranges moved. Splits and
    /// copies do not move other leaves' ranges.
    pub(crate) moved: bool,
    /// Given, not learned: the inserts come in ascending key order
    /// ([`InsertHints::ascending`]), so a leaf they split is cut after the
    /// new entry.
    pub(crate) ascending: bool,
}

/// A leaf and the key range `low..high` it covers in the tree.
#[derive(Debug)]
pub(crate) struct Finger {
    pub(crate) leaf: PageId,
    pub(crate) low: Option<KeyBuf>,
    pub(crate) high: Option<KeyBuf>,
    /// When it was last learned or used (for eviction).
    pub(crate) used: u64,
}

impl Finger {
    /// Whether `key` lies in `low..high`.
    fn holds(&self, key: &[u8]) -> bool {
        self.starts_at_or_below(key) && self.ends_above(key)
    }

    /// Whether `low <= key`.
    fn starts_at_or_below(&self, key: &[u8]) -> bool {
        self.low.as_ref().is_none_or(|l| cmp_keys(l, key).is_le())
    }

    /// Whether `key < high`.
    fn ends_above(&self, key: &[u8]) -> bool {
        self.high.as_ref().is_none_or(|h| cmp_keys(key, h).is_lt())
    }
}

/// Fingers for runs of nearby inserts in one write transaction (see
/// [`BTree::insert_hinted`](crate::BTree::insert_hinted)): the leaves recently edited in place, with
/// the key ranges they cover. An insert into one of those ranges edits the
/// leaf directly instead of descending from the root.
///
/// Validity: a finger is trusted only while the tree is exactly as the
/// hints last saw it (same root, same version), and every insert made
/// through them that changed the tree's structure (split, copy, merge)
/// forgets them all; any other mutation (a plain insert, a remove) bumps
/// the version, so the next hinted insert starts afresh. A finger's leaf
/// is used only if the open transaction allocated it (writable in place).
#[derive(Debug, Default)]
pub struct InsertHints {
    /// (root, version) of the tree the fingers describe.
    tree: Option<(Option<PageId>, u64)>,
    /// Sorted by range: the fingers are leaves of one tree, so their
    /// ranges are disjoint and a binary search finds the one for a key.
    fingers: Vec<Finger>,
    /// Use counter for eviction.
    clock: u64,
    /// The inserts come in ascending key order.
    ascending: bool,
    /// Positions of the two fingers last used or learned, most recent
    /// first, as bytes (positions are under [`HINTS`]):
    /// [`InsertHints::find`] tries them before a binary search (a load
    /// alternates between a few leaves, such as its records' and their
    /// metas'). Only a guess: a position that moved names another finger
    /// or none, and its range check fails; a finger whose range holds the
    /// key is the one the search finds, as the ranges are disjoint.
    recent: [u8; 2],
}

/// Fingers kept: enough for a workload appending in many places at once
/// (records, their fields, metas, and one run per indexed value).
const HINTS: usize = 64;

impl InsertHints {
    /// Hints for inserts that come in ascending key order, as a sorted
    /// batch does: a leaf they overfill in the middle of the tree is cut
    /// just after the new entry instead of in halves, so the leaves a run
    /// passes through are left full rather than half full.
    #[inline]
    pub fn ascending() -> InsertHints {
        InsertHints {
            ascending: true,
            ..InsertHints::default()
        }
    }

    /// Whether the inserts come in ascending key order.
    pub(crate) fn is_ascending(&self) -> bool {
        self.ascending
    }

    /// Forget every finger.
    pub fn clear(&mut self) {
        self.tree = None;
        self.fingers.clear();
    }

    /// Whether the fingers describe the tree with this root and version.
    pub(crate) fn describes(&self, root: Option<PageId>, version: u64) -> bool {
        self.tree == Some((root, version))
    }

    /// Record that the fingers now describe this tree.
    pub(crate) fn set_tree(&mut self, root: Option<PageId>, version: u64) {
        self.tree = Some((root, version));
    }

    /// The leaf of finger `at` (a position [`InsertHints::find`] gave).
    pub(crate) fn leaf(&self, at: usize) -> PageId {
        self.fingers[at].leaf
    }

    /// Drop finger `at` (its leaf could not take the insert).
    pub(crate) fn forget(&mut self, at: usize) {
        self.fingers.remove(at);
    }

    /// Drop every finger but keep the tree they describe (leaf ranges moved).
    pub(crate) fn forget_all(&mut self) {
        self.fingers.clear();
    }

    /// Position of the finger whose range holds `key`.
    #[inline]
    pub(crate) fn find(&self, key: &[u8]) -> Option<usize> {
        for at in self.recent.map(usize::from) {
            if self.fingers.get(at).is_some_and(|f| f.holds(key)) {
                return Some(at);
            }
        }
        let after = self.fingers.partition_point(|f| f.starts_at_or_below(key));
        let at = after.checked_sub(1)?;
        self.fingers
            .get(at)
            .filter(|f| f.ends_above(key))
            .map(|_| at)
    }

    pub(crate) fn touch(&mut self, at: usize) {
        self.clock += 1;
        if let Some(f) = self.fingers.get_mut(at) {
            f.used = self.clock;
        }
        self.used_at(at);
    }

    /// Note finger `at` as the most recently used.
    fn used_at(&mut self, at: usize) {
        let at = u8::try_from(at).unwrap_or(u8::MAX);
        if self.recent[0] != at {
            self.recent = [at, self.recent[0]];
        }
    }

    pub(crate) fn learn(&mut self, mut finger: Finger) {
        self.fingers.retain(|f| f.leaf != finger.leaf);
        if self.fingers.len() >= HINTS {
            if let Some(oldest) = (0..self.fingers.len()).min_by_key(|&i| self.fingers[i].used) {
                self.fingers.remove(oldest);
            }
        }
        self.clock += 1;
        finger.used = self.clock;
        let at = match &finger.low {
            None => 0,
            Some(low) => self
                .fingers
                .partition_point(|f| f.low.as_ref().is_none_or(|l| cmp_keys(l, low).is_lt())),
        };
        self.fingers.insert(at, finger);
        self.used_at(at);
    }
}
