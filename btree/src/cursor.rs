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
use crate::node::{Node, MAX_DEPTH};
use crate::tree::load_value;
use crate::BTree;
use moonvault_pager::{Page, PageId, Pager};
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

/// One node on the path: its page and the child (branch) or entry (leaf)
/// the path goes through.
struct Frame {
    id: PageId,
    page: Rc<Page>,
    idx: usize,
}

impl Frame {
    fn node(&self) -> Result<Node<'_>> {
        Node::parse(self.id, self.page.kind, &self.page.data)
    }
}

/// A root-to-leaf path whose leaf frame points at an existing entry.
#[derive(Default)]
pub(crate) struct Path {
    frames: Vec<Frame>,
}

impl Path {
    /// Position at the first entry `target` admits, in its direction.
    /// Returns false if there is none.
    pub(crate) fn seek(&mut self, pager: &Pager, root: PageId, target: Seek<'_>) -> Result<bool> {
        self.frames.clear();
        let mut id = root;
        loop {
            if self.frames.len() >= MAX_DEPTH {
                return Err(BTreeError::corrupted(id, "tree too deep (cycle?)"));
            }
            let page = pager.read(id)?;
            let node = Node::parse(id, page.kind, &page.data)?;
            let (idx, next) = if node.is_leaf() {
                let idx = match target {
                    Seek::First => 0,
                    Seek::Last => node.count(),
                    Seek::AtLeast(k) | Seek::Before(k) => node.lower_bound(k)?,
                    Seek::After(k) | Seek::AtMost(k) => node.upper_bound(k)?,
                };
                (idx, None)
            } else {
                let idx = match target {
                    Seek::First => 0,
                    Seek::Last => node.count(),
                    Seek::AtLeast(k) | Seek::After(k) | Seek::AtMost(k) | Seek::Before(k) => {
                        node.child_index(k)?
                    }
                };
                (idx, Some(node.child(idx)?))
            };
            let count = node.count();
            self.frames.push(Frame { id, page, idx });
            match next {
                Some(child) => id = child,
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
                        self.leaf_mut().idx = idx - 1;
                        Ok(true)
                    } else {
                        self.prev_leaf(pager)
                    };
                }
            }
        }
    }

    fn leaf_mut(&mut self) -> &mut Frame {
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    /// The leaf and the entry index the path points at.
    pub(crate) fn leaf(&self) -> Result<(Node<'_>, usize)> {
        let frame = self
            .frames
            .last()
            .ok_or_else(|| BTreeError::corrupted(0, "cursor has no position"))?;
        Ok((frame.node()?, frame.idx))
    }

    /// Descend from `id` along the first (or last) edge to a leaf,
    /// pointing at its first (or last) entry. False if that leaf is empty.
    fn descend_edge(&mut self, pager: &Pager, mut id: PageId, first: bool) -> Result<bool> {
        loop {
            if self.frames.len() >= MAX_DEPTH {
                return Err(BTreeError::corrupted(id, "tree too deep (cycle?)"));
            }
            let page = pager.read(id)?;
            let node = Node::parse(id, page.kind, &page.data)?;
            let count = node.count();
            let leaf = node.is_leaf();
            let idx = match (leaf, first) {
                (_, true) => 0,
                (false, false) => count,
                (true, false) => count.saturating_sub(1),
            };
            let child = if leaf { None } else { Some(node.child(idx)?) };
            self.frames.push(Frame { id, page, idx });
            match child {
                Some(child) => id = child,
                None => return Ok(count > 0),
            }
        }
    }

    /// Move to the first entry of the next leaf. False at the end.
    pub(crate) fn next_leaf(&mut self, pager: &Pager) -> Result<bool> {
        self.frames.pop();
        while let Some(top) = self.frames.last_mut() {
            let count = Node::parse(top.id, top.page.kind, &top.page.data)?.count();
            if top.idx < count {
                top.idx += 1;
                let child = top.node()?.child(top.idx)?;
                if self.descend_edge(pager, child, true)? {
                    return Ok(true);
                }
                // An empty leaf (only in a damaged tree): keep going.
                self.frames.pop();
            } else {
                self.frames.pop();
            }
        }
        Ok(false)
    }

    /// Move to the last entry of the previous leaf. False at the start.
    fn prev_leaf(&mut self, pager: &Pager) -> Result<bool> {
        self.frames.pop();
        while let Some(top) = self.frames.last_mut() {
            if top.idx > 0 {
                top.idx -= 1;
                let child = top.node()?.child(top.idx)?;
                if self.descend_edge(pager, child, false)? {
                    return Ok(true);
                }
                self.frames.pop();
            } else {
                self.frames.pop();
            }
        }
        Ok(false)
    }

    /// Step to the neighbouring entry. False past the end.
    fn advance(&mut self, pager: &Pager, reverse: bool) -> Result<bool> {
        let (count, idx) = {
            let (node, idx) = self.leaf()?;
            (node.count(), idx)
        };
        if reverse {
            if idx > 0 {
                self.leaf_mut().idx = idx - 1;
                return Ok(true);
            }
            self.prev_leaf(pager)
        } else {
            if idx + 1 < count {
                self.leaf_mut().idx = idx + 1;
                return Ok(true);
            }
            self.next_leaf(pager)
        }
    }
}

fn admits_upper(upper: &Bound<Vec<u8>>, key: &[u8]) -> bool {
    match upper {
        Bound::Included(u) => key <= u.as_slice(),
        Bound::Excluded(u) => key < u.as_slice(),
        Bound::Unbounded => true,
    }
}

fn admits_lower(lower: &Bound<Vec<u8>>, key: &[u8]) -> bool {
    match lower {
        Bound::Included(l) => key >= l.as_slice(),
        Bound::Excluded(l) => key > l.as_slice(),
        Bound::Unbounded => true,
    }
}

fn start_of<'k>(bound: &'k Bound<Vec<u8>>, forward: bool) -> Seek<'k> {
    match (bound, forward) {
        (Bound::Included(k), true) => Seek::AtLeast(k),
        (Bound::Excluded(k), true) => Seek::After(k),
        (Bound::Unbounded, true) => Seek::First,
        (Bound::Included(k), false) => Seek::AtMost(k),
        (Bound::Excluded(k), false) => Seek::Before(k),
        (Bound::Unbounded, false) => Seek::Last,
    }
}

/// The smallest key above every key starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let keep = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut end = prefix[..=keep].to_vec();
    end[keep] += 1;
    Some(end)
}

enum State {
    /// Not positioned yet.
    Fresh,
    /// At the entry returned last, in the tree as it was then.
    At {
        root: PageId,
        version: u64,
        path: Path,
    },
    /// Exhausted (or failed).
    Done,
}

/// A lazy iterator over a key range of a [`BTree`], in either direction.
/// Made by [`BTree::range`] or [`BTree::prefix`]; does no I/O until
/// [`Cursor::next`]. Holds no borrow of the tree or pager between calls.
pub struct Cursor {
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    state: State,
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
    fn new(lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>, reverse: bool) -> Cursor {
        Cursor {
            lower,
            upper,
            reverse,
            state: State::Fresh,
        }
    }

    /// Next entry in order. `tree` is the tree the cursor iterates: if its
    /// root or version changed since the cursor last moved (writes
    /// happened), the cursor re-seeks from the new root just past the last
    /// key it returned, so it never reads freed/reused pages. After an error
    /// or the end of the range the cursor stays finished.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self, tree: &BTree, pager: &Pager) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let forward = !self.reverse;
        let Some(root) = tree.root else {
            self.state = State::Done;
            return Ok(None);
        };
        let path = match std::mem::replace(&mut self.state, State::Done) {
            State::Done => return Ok(None),
            State::Fresh => {
                let mut path = Path::default();
                let bound = if forward { &self.lower } else { &self.upper };
                if !path.seek(pager, root, start_of(bound, forward))? {
                    return Ok(None);
                }
                path
            }
            State::At {
                root: old_root,
                version,
                mut path,
            } => {
                if old_root != root || version != tree.version {
                    let last = {
                        let (node, idx) = path.leaf()?;
                        node.key(idx)?.to_vec()
                    };
                    let target = if forward {
                        Seek::After(&last)
                    } else {
                        Seek::Before(&last)
                    };
                    if !path.seek(pager, root, target)? {
                        return Ok(None);
                    }
                } else if !path.advance(pager, self.reverse)? {
                    return Ok(None);
                }
                path
            }
        };
        let (key, value) = {
            let (node, idx) = path.leaf()?;
            let key = node.key(idx)?;
            let inside = if forward {
                admits_upper(&self.upper, key)
            } else {
                admits_lower(&self.lower, key)
            };
            if !inside {
                return Ok(None);
            }
            (key.to_vec(), load_value(pager, node.value(idx)?)?)
        };
        self.state = State::At {
            root,
            version: tree.version,
            path,
        };
        Ok(Some((key, value)))
    }
}

impl BTree {
    /// A cursor over keys within `lower..upper`, ascending, or descending
    /// if `reverse`. Lazy: no I/O until [`Cursor::next`].
    pub fn range(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>, reverse: bool) -> Cursor {
        Cursor::new(
            lower.map(<[u8]>::to_vec),
            upper.map(<[u8]>::to_vec),
            reverse,
        )
    }

    /// A cursor over keys starting with `prefix`.
    pub fn prefix(&self, prefix: &[u8], reverse: bool) -> Cursor {
        let upper = match prefix_end(prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        Cursor::new(Bound::Included(prefix.to_vec()), upper, reverse)
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
        let upper = upper.map(<[u8]>::to_vec);
        let mut total = 0u64;
        loop {
            let (done, n) = {
                let (node, idx) = path.leaf()?;
                let count = node.count();
                if admits_upper(&upper, node.key(count.saturating_sub(1))?) {
                    (false, count - idx)
                } else {
                    let end = match &upper {
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
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
