//! Lazy range iteration, forward and backward, and range counting.
//!
//! A [`Cursor`] keeps the path from the root to its current leaf as
//! `Rc<Page>`s, so stepping to the next entry touches no pager state; only
//! moving to a neighbouring leaf reads a page. The pages on the path are
//! immutable snapshots (the pager replaces, never mutates, a page it holds),
//! so a cursor never observes a half-written node. If the tree was written
//! since the cursor last moved (its root or version differ), the path may
//! name freed or reused pages: the cursor then drops it and seeks again from
//! the new root, just past the last key it returned (which it reads from the
//! old leaf it still holds in memory).

use crate::error::{BTreeError, Result};
use crate::lent::Lent;
use crate::node::{cmp_keys, KeyBuf, Node, NodeMeta, ValueRef, MAX_DEPTH};
use crate::overflow;
use crate::tree::load_value;
use crate::BTree;
use moonvault_pager::{Page, PageId, Pager};
use smallvec::SmallVec;
use std::ops::Bound;
use std::rc::Rc;

/// Where to land in the tree.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Seek<'k> {
    First,
    Last,
    AtLeast(&'k [u8]),
    After(&'k [u8]),
    AtMost(&'k [u8]),
    Before(&'k [u8]),
}

impl Seek<'_> {
    fn forward(&self) -> bool {
        matches!(self, Seek::First | Seek::AtLeast(_) | Seek::After(_))
    }
}

/// One node on the path: its page, what `Node::parse` found in it (kept so
/// that a step does not re-parse the page), and the child (branch) or entry
/// (leaf) the path goes through.
struct Frame {
    id: PageId,
    page: Rc<Page>,
    idx: usize,
    count: usize,
    meta: NodeMeta,
    /// A leaf's aid verdict when the frame was made (`Node::values_vouched`).
    vouched: bool,
}

impl Frame {
    /// Parse `page` and make it a frame at `idx`.
    fn new(
        id: PageId,
        page: Rc<Page>,
        idx: impl FnOnce(&Node<'_>) -> Result<usize>,
    ) -> Result<(Frame, Option<PageId>)> {
        let node = Node::of_page(id, &page)?;
        let idx = idx(&node)?;
        let child = if node.is_leaf() {
            None
        } else {
            Some(node.child(idx)?)
        };
        let (count, meta, vouched) = (node.count(), node.meta(), node.values_vouched());
        Ok((
            Frame {
                id,
                page,
                idx,
                count,
                meta,
                vouched,
            },
            child,
        ))
    }

    #[inline]
    fn node(&self) -> Node<'_> {
        Node::from_meta(self.id, &self.page.data, self.meta)
    }

    /// A leaf a walk leaves: its first key must not lie above its last;
    /// returns its last key (first, walking backward) for the leaf the
    /// walk enters next to lie beyond. `None` for an empty leaf.
    fn edge_key(&self, last: bool) -> Result<Option<KeyBuf>> {
        if self.count == 0 {
            return Ok(None);
        }
        let node = self.node();
        let (first, end) = (node.key(0)?, node.key(self.count - 1)?.to_buf());
        if first.cmp_bytes(&end).is_gt() {
            return Err(node.corrupt("leaf keys out of order (its first key lies above its last)"));
        }
        Ok(Some(if last { end } else { first.to_buf() }))
    }
}

/// A root-to-leaf path whose leaf frame points at an existing entry.
/// Inline up to six levels (a 4 KiB-page tree of millions of entries is
/// four deep), so positioning allocates nothing.
#[derive(Default)]
pub(crate) struct Path {
    frames: SmallVec<[Frame; 6]>,
    /// Counts the frames pushed: while it stays the same, the leaf frame is
    /// the same page (see [`JoinedKey`]).
    moves: u64,
}

impl Path {
    /// Position at the first entry `target` admits, in its direction.
    /// Returns false if there is none.
    pub(crate) fn seek(&mut self, pager: &Pager, root: PageId, target: Seek<'_>) -> Result<bool> {
        self.frames.clear();
        let mut id = root;
        loop {
            self.check_descent(id)?;
            let page = pager.read(id)?;
            let (frame, next) = Frame::new(id, page, |node| {
                Ok(if node.is_leaf() {
                    match target {
                        Seek::First => 0,
                        Seek::Last => node.count(),
                        Seek::AtLeast(k) | Seek::Before(k) => node.lower_bound(k)?,
                        Seek::After(k) | Seek::AtMost(k) => node.upper_bound(k)?,
                    }
                } else {
                    match target {
                        Seek::First => 0,
                        Seek::Last => node.count(),
                        Seek::AtLeast(k) | Seek::After(k) | Seek::AtMost(k) | Seek::Before(k) => {
                            node.child_index(k)?
                        }
                    }
                })
            })?;
            let (idx, count) = (frame.idx, frame.count);
            self.frames.push(frame);
            self.moves = self.moves.wrapping_add(1);
            match next {
                Some(child) => id = child,
                None if count == 0 && self.frames.len() > 1 => {
                    return Err(BTreeError::corrupted(id, "empty leaf below a branch"))
                }
                None if target.forward() => {
                    // idx is the first candidate; past the end means the
                    // next leaf's first entry.
                    return if idx < count {
                        Ok(true)
                    } else {
                        self.next_leaf(pager)
                    };
                }
                None => {
                    // idx counts the entries admitted; the last of them is
                    // the candidate.
                    return if idx > 0 {
                        self.leaf_mut()?.idx = idx - 1;
                        Ok(true)
                    } else {
                        self.prev_leaf(pager)
                    };
                }
            }
        }
    }

    /// Before reading page `id` one level further down: the path stays
    /// within `MAX_DEPTH` and never holds a page twice (a child pointer
    /// back up the path is a cycle).
    #[inline]
    fn check_descent(&self, id: PageId) -> Result<()> {
        if self.frames.len() >= MAX_DEPTH {
            return Err(BTreeError::corrupted(id, "tree too deep (cycle?)"));
        }
        if self.frames.iter().any(|f| f.id == id) {
            return Err(BTreeError::corrupted(
                id,
                "the page appears twice on one root-to-leaf path (a cycle of child pointers)",
            ));
        }
        Ok(())
    }

    fn leaf_mut(&mut self) -> Result<&mut Frame> {
        self.frames
            .last_mut()
            .ok_or_else(|| BTreeError::corrupted(0, "cursor has no position"))
    }

    /// The leaf and the entry index the path points at.
    #[inline]
    pub(crate) fn leaf(&self) -> Result<(Node<'_>, usize)> {
        let frame = self
            .frames
            .last()
            .ok_or_else(|| BTreeError::corrupted(0, "cursor has no position"))?;
        Ok((frame.node(), frame.idx))
    }

    /// Whether the leaf frame's page vouches for its inline values (see
    /// `Node::values_vouched`; the frame keeps its page, so the verdict
    /// stays that page's).
    fn leaf_vouched(&self) -> bool {
        self.frames.last().is_some_and(|frame| frame.vouched)
    }

    /// Descend from `id` along the first (or last) edge to a leaf,
    /// pointing at its first (or last) entry. False if that leaf is empty.
    fn descend_edge(&mut self, pager: &Pager, mut id: PageId, first: bool) -> Result<bool> {
        loop {
            self.check_descent(id)?;
            let page = pager.read(id)?;
            let (frame, child) = Frame::new(id, page, |node| {
                let count = node.count();
                Ok(match (node.is_leaf(), first) {
                    (_, true) => 0,
                    (false, false) => count,
                    (true, false) => count.saturating_sub(1),
                })
            })?;
            let count = frame.count;
            self.frames.push(frame);
            self.moves = self.moves.wrapping_add(1);
            match child {
                Some(child) => id = child,
                // Only a root may be empty: an empty leaf below a branch
                // would let a walk visit any number of pages emitting
                // nothing (branches whose children all lead to it).
                None if count == 0 && self.frames.len() > 1 => {
                    return Err(BTreeError::corrupted(id, "empty leaf below a branch"))
                }
                None => return Ok(count > 0),
            }
        }
    }

    /// Move to the first entry of the next leaf. False at the end.
    pub(crate) fn next_leaf(&mut self, pager: &Pager) -> Result<bool> {
        let edge = match self.frames.pop() {
            Some(leaf) => leaf.edge_key(true)?,
            None => None,
        };
        while let Some(top) = self.frames.last_mut() {
            if top.idx < top.count {
                top.idx += 1;
                let child = top.node().child(top.idx)?;
                if self.descend_edge(pager, child, true)? {
                    self.check_edge(edge.as_deref(), false)?;
                    return Ok(true);
                }
                // An empty root leaf cannot be below a branch (an error
                // above), so this is not reached; keep going regardless.
                self.frames.pop();
            } else {
                self.frames.pop();
            }
        }
        Ok(false)
    }

    /// Move to the last entry of the previous leaf. False at the start.
    fn prev_leaf(&mut self, pager: &Pager) -> Result<bool> {
        let edge = match self.frames.pop() {
            Some(leaf) => leaf.edge_key(false)?,
            None => None,
        };
        while let Some(top) = self.frames.last_mut() {
            if top.idx > 0 {
                top.idx -= 1;
                let child = top.node().child(top.idx)?;
                if self.descend_edge(pager, child, false)? {
                    self.check_edge(edge.as_deref(), true)?;
                    return Ok(true);
                }
                self.frames.pop();
            } else {
                self.frames.pop();
            }
        }
        Ok(false)
    }

    /// The leaf just entered against the leaf left (`edge`: its last key,
    /// or its first when walking backward). With every leaf left having
    /// first <= last, the leaves of a walk cover strictly increasing (or
    /// decreasing) key ranges, so a leaf reached twice (a branch naming one
    /// child twice, at any distance) is an error, not its entries again;
    /// O(1) per leaf, nothing per entry.
    fn check_edge(&self, edge: Option<&[u8]>, reverse: bool) -> Result<()> {
        let (Some(edge), Some(leaf)) = (edge, self.frames.last()) else {
            return Ok(());
        };
        let key = leaf.node().key(leaf.idx)?;
        let ordered = if reverse {
            key.cmp_bytes(edge).is_lt()
        } else {
            key.cmp_bytes(edge).is_gt()
        };
        if ordered {
            Ok(())
        } else {
            Err(BTreeError::corrupted(
                leaf.id,
                "keys out of order across leaves (a page reached twice, or misplaced keys)",
            ))
        }
    }

    /// Step to the neighbouring entry. False past the end.
    #[inline]
    fn advance(&mut self, pager: &Pager, reverse: bool) -> Result<bool> {
        let leaf = self.leaf_mut()?;
        if reverse {
            if leaf.idx > 0 {
                leaf.idx -= 1;
                return Ok(true);
            }
            self.prev_leaf(pager)
        } else {
            if leaf.idx + 1 < leaf.count {
                leaf.idx += 1;
                return Ok(true);
            }
            self.next_leaf(pager)
        }
    }
}

#[inline]
fn admits_upper<B: AsRef<[u8]>>(upper: &Bound<B>, key: &[u8]) -> bool {
    match upper {
        Bound::Included(u) => cmp_keys(key, u.as_ref()).is_le(),
        Bound::Excluded(u) => cmp_keys(key, u.as_ref()).is_lt(),
        Bound::Unbounded => true,
    }
}

#[inline]
fn admits_lower<B: AsRef<[u8]>>(lower: &Bound<B>, key: &[u8]) -> bool {
    match lower {
        Bound::Included(l) => cmp_keys(key, l.as_ref()).is_ge(),
        Bound::Excluded(l) => cmp_keys(key, l.as_ref()).is_gt(),
        Bound::Unbounded => true,
    }
}

fn start_of(bound: &Bound<KeyBuf>, forward: bool) -> Seek<'_> {
    match (bound, forward) {
        (Bound::Included(k), true) => Seek::AtLeast(k),
        (Bound::Excluded(k), true) => Seek::After(k),
        (Bound::Unbounded, true) => Seek::First,
        (Bound::Included(k), false) => Seek::AtMost(k),
        (Bound::Excluded(k), false) => Seek::Before(k),
        (Bound::Unbounded, false) => Seek::Last,
    }
}

/// The keys a cursor lends from leaves with a prefix, joined: the leaf's
/// prefix stays at the start of the buffer while the path's leaf is the
/// same page, so a step copies only the bytes after it.
#[derive(Default)]
struct JoinedKey {
    buf: Vec<u8>,
    /// The path's `moves` when the prefix was copied.
    moves: Option<u64>,
}

impl JoinedKey {
    /// Key `suffix` of the leaf the path (at `moves`) stands on, whose
    /// prefix is `prefix`; lent from the page when there is no prefix.
    #[inline]
    fn join<'k>(&'k mut self, moves: u64, prefix: &'k [u8], suffix: &'k [u8]) -> &'k [u8] {
        if prefix.is_empty() {
            return suffix;
        }
        if self.moves == Some(moves) && self.buf.len() >= prefix.len() {
            self.buf.truncate(prefix.len());
        } else {
            self.buf.clear();
            // Room for the whole key at once (its neighbours' suffixes are
            // about as long).
            self.buf.reserve(prefix.len() + suffix.len());
            self.buf.extend_from_slice(prefix);
            self.moves = Some(moves);
        }
        self.buf.extend_from_slice(suffix);
        &self.buf
    }
}

/// The smallest key above every key starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<KeyBuf> {
    let keep = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut end = KeyBuf::from_slice(&prefix[..=keep]);
    end[keep] += 1;
    Some(end)
}

enum State {
    /// Not positioned yet.
    Fresh,
    /// `path` is at the entry returned last, in the tree as it was then.
    At { root: PageId, version: u64 },
    /// Exhausted (or failed).
    Done,
}

/// A lazy iterator over a key range of a [`BTree`], in either direction.
/// Made by [`BTree::range`] or [`BTree::prefix`]; does no I/O until
/// [`Cursor::next`]. Holds no borrow of the tree or pager between calls.
pub struct Cursor {
    lower: Bound<KeyBuf>,
    upper: Bound<KeyBuf>,
    reverse: bool,
    state: State,
    /// The position while `state` is `At` (kept outside the enum so that
    /// a step moves no frames around).
    path: Path,
    /// Overflow values handed out by [`Cursor::next_with`] are read here.
    scratch: Vec<u8>,
    /// Keys of leaves with a prefix are joined here to be lent.
    key: JoinedKey,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("lower", &self.lower)
            .field("upper", &self.upper)
            .field("reverse", &self.reverse)
            .finish_non_exhaustive()
    }
}

impl Cursor {
    fn new(lower: Bound<KeyBuf>, upper: Bound<KeyBuf>, reverse: bool) -> Cursor {
        Cursor {
            lower,
            upper,
            reverse,
            state: State::Fresh,
            path: Path::default(),
            scratch: Vec::new(),
            key: JoinedKey::default(),
        }
    }

    /// The range the cursor was made for (not where it stands in it).
    pub fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (
            self.lower.as_ref().map(|k| k.as_slice()),
            self.upper.as_ref().map(|k| k.as_slice()),
        )
    }

    /// Next entry in order. `tree` is the tree the cursor iterates: if its
    /// root or version changed since the cursor last moved (writes
    /// happened), the cursor re-seeks from the new root just past the last
    /// key it returned, so it never reads freed/reused pages. After an error
    /// or the end of the range the cursor stays finished.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self, tree: &BTree, pager: &Pager) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.visit(tree, pager, |pager, key, value, _| {
            Ok((key.to_vec(), load_value(pager, value)?))
        })
    }

    /// Like [`Cursor::next`], but lends the entry to `f` instead of copying
    /// it out: `f(key, value)` runs on the page's bytes (an overflow value
    /// is first read into a buffer the cursor reuses). Same positioning and
    /// error rules as `next`.
    pub fn next_with<T>(
        &mut self,
        tree: &BTree,
        pager: &Pager,
        f: impl FnOnce(&[u8], &[u8]) -> T,
    ) -> Result<Option<T>> {
        self.next_vouched(tree, pager, |key, value, _| f(key, value))
    }

    /// [`Cursor::next_with`] also telling `f` whether the value is vouched
    /// for, as [`BTree::get_vouched`] does: an inline value on a leaf whose
    /// aid's verdict is [`crate::VOUCHED`].
    pub fn next_vouched<T>(
        &mut self,
        tree: &BTree,
        pager: &Pager,
        f: impl FnOnce(&[u8], &[u8], bool) -> T,
    ) -> Result<Option<T>> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let out = self.visit(tree, pager, |pager, key, value, vouched| {
            Ok(match value {
                ValueRef::Inline(v) => f(key, v, vouched),
                ValueRef::Overflow { head, len } => {
                    scratch = overflow::read(pager, head, len)?;
                    f(key, &scratch, false)
                }
            })
        });
        self.scratch = scratch;
        out
    }

    /// Like [`Cursor::next_with`], but lends the value as a [`Lent`]: an
    /// overflow value is not read until `f` asks, and then into a buffer
    /// `f` owns (not the cursor's reused one), so a decoder can take a
    /// large value over instead of copying it out. Same positioning and
    /// error rules as `next`.
    pub fn next_lent<T>(
        &mut self,
        tree: &BTree,
        pager: &Pager,
        f: impl FnOnce(&[u8], Lent<'_>) -> T,
    ) -> Result<Option<T>> {
        self.visit(tree, pager, |pager, key, value, _| {
            Ok(f(key, Lent::of(pager, value)))
        })
    }

    /// [`Cursor::next_lent`] for a run of entries: lends the next entry and
    /// then the entries after it *on the same leaf* (so no further page is
    /// read), at most `max` in all, to `f`; returns how many (0 at the
    /// end). The cursor is then at the last one lent, as if `next` had been
    /// called that many times. Amortises the per-call work of iterating
    /// when the caller buffers what it decodes; a caller that only counts
    /// reads no overflow chain.
    pub fn next_run_with(
        &mut self,
        tree: &BTree,
        pager: &Pager,
        max: usize,
        mut f: impl FnMut(&[u8], Lent<'_>),
    ) -> Result<usize> {
        if max == 0 {
            return Ok(0);
        }
        self.run(tree, pager, max, |pager, key, value| {
            f(key, Lent::of(pager, value));
            Ok(())
        })
    }

    fn run(
        &mut self,
        tree: &BTree,
        pager: &Pager,
        max: usize,
        mut read: impl FnMut(&Pager, &[u8], ValueRef<'_>) -> Result<()>,
    ) -> Result<usize> {
        if self
            .visit(tree, pager, |pager, key, value, _| read(pager, key, value))?
            .is_none()
        {
            return Ok(0);
        }
        let mut n = 1;
        let moves = self.path.moves;
        let (reverse, lower, upper, joined) =
            (self.reverse, &self.lower, &self.upper, &mut self.key);
        let mut past_bound = false;
        // The run stays on the leaf (the next call moves on), so the node
        // is viewed once and only its index moves.
        let result = match self.path.frames.last_mut() {
            None => Ok(()),
            Some(leaf) => {
                let node = Node::from_meta(leaf.id, &leaf.page.data, leaf.meta);
                let (prefix, count) = (node.prefix(), leaf.count);
                let mut idx = leaf.idx;
                let result = (|| {
                    while n < max {
                        let next = if reverse {
                            idx.checked_sub(1)
                        } else {
                            Some(idx + 1).filter(|&i| i < count)
                        };
                        let Some(next) = next else {
                            break;
                        };
                        let (suffix, value) = node.entry(next)?;
                        let key = joined.join(moves, prefix, suffix);
                        let inside = if reverse {
                            admits_lower(lower, key)
                        } else {
                            admits_upper(upper, key)
                        };
                        if !inside {
                            past_bound = true;
                            break;
                        }
                        read(pager, key, value)?;
                        idx = next;
                        n += 1;
                    }
                    Ok(())
                })();
                leaf.idx = idx;
                result
            }
        };
        if past_bound {
            self.state = State::Done;
        }
        if let Err(e) = result {
            self.state = State::Done;
            self.path.frames.clear();
            return Err(e);
        }
        if matches!(self.state, State::Done) {
            self.path.frames.clear();
        }
        Ok(n)
    }

    /// Move to the next entry and hand it to `read` if it lies within the
    /// bounds; finish the cursor on the end of the range or any error.
    #[inline]
    fn visit<T>(
        &mut self,
        tree: &BTree,
        pager: &Pager,
        read: impl FnOnce(&Pager, &[u8], ValueRef<'_>, bool) -> Result<T>,
    ) -> Result<Option<T>> {
        let out = match self.step(tree, pager) {
            Ok(true) => match self.path.leaf().and_then(|(node, idx)| {
                let (suffix, value) = node.entry(idx)?;
                let vouched = self.path.leaf_vouched() && matches!(value, ValueRef::Inline(_));
                Ok((
                    self.key.join(self.path.moves, node.prefix(), suffix),
                    value,
                    vouched,
                ))
            }) {
                Ok((key, value, vouched)) => {
                    let inside = if self.reverse {
                        admits_lower(&self.lower, key)
                    } else {
                        admits_upper(&self.upper, key)
                    };
                    if inside {
                        read(pager, key, value, vouched).map(Some)
                    } else {
                        Ok(None)
                    }
                }
                Err(e) => Err(e),
            },
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        };
        if !matches!(out, Ok(Some(_))) {
            self.state = State::Done;
            // Release the pages it holds.
            self.path.frames.clear();
        }
        out
    }

    /// Move to the next entry (bounds not yet checked); false at the end
    /// of the tree.
    #[inline]
    fn step(&mut self, tree: &BTree, pager: &Pager) -> Result<bool> {
        let forward = !self.reverse;
        let Some(root) = tree.root else {
            return Ok(false);
        };
        let path = &mut self.path;
        match &mut self.state {
            State::Done => return Ok(false),
            State::Fresh => {
                let bound = if forward { &self.lower } else { &self.upper };
                if !path.seek(pager, root, start_of(bound, forward))? {
                    return Ok(false);
                }
                self.state = State::At {
                    root,
                    version: tree.version,
                };
            }
            State::At {
                root: old_root,
                version,
            } => {
                if *old_root != root || *version != tree.version {
                    let last = {
                        let (node, idx) = path.leaf()?;
                        node.key(idx)?.to_buf()
                    };
                    let target = if forward {
                        Seek::After(&last)
                    } else {
                        Seek::Before(&last)
                    };
                    if !path.seek(pager, root, target)? {
                        return Ok(false);
                    }
                    *old_root = root;
                    *version = tree.version;
                } else if !path.advance(pager, self.reverse)? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

impl BTree {
    /// A cursor over keys within `lower..upper`, ascending, or descending
    /// if `reverse`. Lazy: no I/O until [`Cursor::next`].
    pub fn range(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>, reverse: bool) -> Cursor {
        Cursor::new(
            lower.map(KeyBuf::from_slice),
            upper.map(KeyBuf::from_slice),
            reverse,
        )
    }

    /// A cursor over keys starting with `prefix`.
    pub fn prefix(&self, prefix: &[u8], reverse: bool) -> Cursor {
        let upper = match prefix_end(prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        Cursor::new(Bound::Included(KeyBuf::from_slice(prefix)), upper, reverse)
    }

    /// Number of keys within `lower..upper`. Visits the leaves of the range
    /// but decodes only the keys at its two ends.
    pub fn count(&self, pager: &Pager, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Result<u64> {
        let Some(root) = self.root else {
            return Ok(0);
        };
        let start = match lower {
            Bound::Included(k) => Seek::AtLeast(k),
            Bound::Excluded(k) => Seek::After(k),
            Bound::Unbounded => Seek::First,
        };
        let mut path = Path::default();
        if !path.seek(pager, root, start)? {
            return Ok(0);
        }
        let mut total = 0u64;
        loop {
            let (done, n) = {
                let (node, idx) = path.leaf()?;
                let count = node.count();
                let last = node.key(count.saturating_sub(1))?;
                let below = match upper {
                    Bound::Included(u) => last.cmp_bytes(u).is_le(),
                    Bound::Excluded(u) => last.cmp_bytes(u).is_lt(),
                    Bound::Unbounded => true,
                };
                if below {
                    (false, count - idx)
                } else {
                    let end = match upper {
                        Bound::Included(u) => node.upper_bound(u)?,
                        Bound::Excluded(u) => node.lower_bound(u)?,
                        Bound::Unbounded => count,
                    };
                    (true, end.saturating_sub(idx))
                }
            };
            total += n as u64;
            if done || !path.next_leaf(pager)? {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"ab").as_deref(), Some(&b"ac"[..]));
        assert_eq!(prefix_end(b"a\xff\xff").as_deref(), Some(&b"b"[..]));
        assert_eq!(prefix_end(b"\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
