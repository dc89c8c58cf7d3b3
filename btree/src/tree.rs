//! Lookup, insert and remove: descent, copy-on-write, splits, merges and
//! redistribution.
//!
//! Mutations recurse from the root to a leaf and report back up what each
//! subtree became (a [`Change`]); each parent folds its child's change into
//! itself and reports its own. A parent whose child kept its page id (it
//! was writable and edited in place) and stayed big enough is not touched at
//! all, which is what makes long transactions cheap.
//!
//! Rebalancing rule: after a change, a child whose fill is under `min_fill`
//! is merged with a neighbour when both fit one page, else the two share
//! their entries: branches evenly (which always leaves both at least 3/8
//! full), leaves at a cut `leaf::plan` finds (both fit and reach
//! `min_fill`). A parent may grow when a child splits or a separator
//! lengthens; it then splits in turn. Leaves are written by `leaf`.

use crate::error::{BTreeError, Result};
use crate::hints::{Finger, InsertHints, Learn};
use crate::leaf::{self, LeafPlan};
use crate::lent::Lent;
use crate::node::{
    self, branch_entry_size, build_branch, build_leaf, min_fill, Format, KeyBuf, KeyParts,
    LeafEntry, Node, ValueRef, BRANCH_HEADER, KIND_BRANCH, KIND_LEAF, MAX_DEPTH,
};
use crate::overflow;
use crate::BTree;
use moonvault_pager::{Page, PageId, Pager};
use smallvec::SmallVec;
use std::rc::Rc;

/// What a subtree became after a mutation, as its parent sees it.
pub(crate) enum Change {
    /// The subtree is rooted at `id` (possibly its old id), whose fill
    /// (see `Node::fill`) is `fill` bytes.
    Node { id: PageId, fill: usize },
    /// The subtree split: keys below `sep` are under `left`, the rest
    /// under `right`.
    Split {
        left: PageId,
        sep: Vec<u8>,
        right: PageId,
    },
    /// The subtree lost its last entry; its pages are freed.
    Empty,
}

/// The entry an insert replaced or a remove deleted.
pub(crate) struct Old {
    len: usize,
    /// Its overflow chain, to free once nothing references it.
    chain: Option<(PageId, usize)>,
}

impl Old {
    pub(crate) fn of(value: ValueRef<'_>) -> Old {
        Old {
            len: value.len(),
            chain: match value {
                ValueRef::Inline(_) => None,
                ValueRef::Overflow { head, len } => Some((head, len)),
            },
        }
    }

    pub(crate) fn release(self, pager: &mut Pager) -> Result<()> {
        match self.chain {
            Some((head, len)) => overflow::free(pager, head, len),
            None => Ok(()),
        }
    }
}

/// Read a value, following its overflow chain.
pub(crate) fn load_value(pager: &Pager, value: ValueRef<'_>) -> Result<Vec<u8>> {
    Ok(Lent::of(pager, value).read()?.into_owned())
}

/// Lends `value` to `f`: an inline value as it lies in the page, an
/// overflow value read into a buffer first.
#[inline]
fn lend_value<T>(pager: &Pager, value: ValueRef<'_>, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
    match value {
        ValueRef::Inline(v) => Ok(f(v)),
        ValueRef::Overflow { .. } => Ok(f(&Lent::of(pager, value).read()?)),
    }
}

/// [`lend_value`] with the leaf's verdict on its inline values: an
/// overflow value is read from other pages, so it is never vouched for.
fn lend_vouched<T>(
    pager: &Pager,
    value: ValueRef<'_>,
    vouched: bool,
    f: impl FnOnce(&[u8], bool) -> T,
) -> Result<T> {
    let vouched = vouched && matches!(value, ValueRef::Inline(_));
    lend_value(pager, value, |v| f(v, vouched))
}

/// Store `data` as the new content of page `id`: in place if the open
/// transaction allocated it, else in a fresh page (freeing `id`). Returns
/// the page now holding it.
pub(crate) fn write_node(pager: &mut Pager, id: PageId, kind: u8, data: Vec<u8>) -> Result<PageId> {
    if pager.is_writable(id) {
        pager.write(id, built(kind, data))?;
        return Ok(id);
    }
    let new = write_new(pager, kind, data)?;
    pager.free(id)?;
    Ok(new)
}

/// Store `data` in a page allocated for it; returns its id.
pub(crate) fn write_new(pager: &mut Pager, kind: u8, data: Vec<u8>) -> Result<PageId> {
    let id = pager.allocate()?;
    pager.write(id, built(kind, data))?;
    Ok(id)
}

/// A page this crate built: its keys are in order by construction (the
/// builders and edits take sorted entries), so it counts as checked
/// ([`Node::of_page`] checks pages loaded from the store).
fn built(kind: u8, data: Vec<u8>) -> Page {
    let page = Page::new(kind, data);
    page.set_checked();
    page
}

/// Store the merge of pages `a` and `b` in one of them and free the other,
/// preferring one that is writable in place.
fn write_merged(
    pager: &mut Pager,
    a: PageId,
    b: PageId,
    kind: u8,
    data: Vec<u8>,
) -> Result<PageId> {
    let (keep, drop) = if !pager.is_writable(a) && pager.is_writable(b) {
        (b, a)
    } else {
        (a, b)
    };
    let id = write_node(pager, keep, kind, data)?;
    pager.free(drop)?;
    Ok(id)
}

/// Where to cut an overfull node.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bias {
    /// Halves as equal as possible.
    Even,
    /// The edit was at the right end (ascending loads): fill the left node
    /// and leave the right one just comfortably above `min_fill`.
    PackLeft,
    /// The mirror image, for descending loads.
    PackRight,
    /// The entry at this slot was added by a run of ascending inserts in
    /// the middle of the tree (a sorted batch of index entries): cut just
    /// after it, or as near as both halves allow, so that the left node,
    /// which the run goes on filling, is full and the right one keeps the
    /// fill it had.
    After(usize),
}

impl Bias {
    /// The bias for an entry added at slot `at` of a node of `count`.
    pub(crate) fn of(at: usize, count: usize) -> Bias {
        if at >= count {
            Bias::PackLeft
        } else if at == 0 {
            Bias::PackRight
        } else {
            Bias::Even
        }
    }
}

/// Choose where to cut a branch's entries of the given sizes (cell plus
/// slot) into two branches of at most `branch_size` bytes: the left node
/// gets `..m`, entry `m` moves up as the separator, the right node gets
/// `m + 1..`. Returns `None` if no cut fits (damaged input). (Leaves are
/// cut by `leaf::plan`.)
fn split_point(sizes: &[usize], branch_size: usize, bias: Bias) -> Option<usize> {
    let n = sizes.len();
    let total: usize = sizes.iter().sum();
    let target = branch_size * 5 / 16;
    let (mut best, mut best_score) = (None, usize::MAX);
    let mut packed = None;
    let mut before = 0;
    // Each side keeps at least one entry.
    for (m, size) in sizes.iter().enumerate() {
        if (1..n.saturating_sub(1)).contains(&m) {
            let left = BRANCH_HEADER + before;
            let right = BRANCH_HEADER + total - before - size;
            if left <= branch_size && right <= branch_size {
                let score = left.max(right);
                if score < best_score {
                    best = Some(m);
                    best_score = score;
                }
                match bias {
                    Bias::PackLeft if right >= target => packed = Some(m),
                    Bias::PackRight if left >= target && packed.is_none() => packed = Some(m),
                    Bias::Even | Bias::PackLeft | Bias::PackRight | Bias::After(_) => {}
                }
            }
        }
        before += size;
    }
    packed.or(best)
}

/// A branch being edited: child 0 and (key, right child) pairs.
struct BranchEdit<'a> {
    child0: PageId,
    cells: Vec<(&'a [u8], PageId)>,
}

impl<'a> BranchEdit<'a> {
    fn of(node: &Node<'a>) -> Result<BranchEdit<'a>> {
        let mut cells = Vec::with_capacity(node.count() + 1);
        for i in 0..node.count() {
            cells.push((node.separator(i)?, node.child(i + 1)?));
        }
        Ok(BranchEdit {
            child0: node.child(0)?,
            cells,
        })
    }

    fn child_mut(&mut self, i: usize) -> &mut PageId {
        match i {
            0 => &mut self.child0,
            _ => &mut self.cells[i - 1].1,
        }
    }

    /// Drop child `i` (`i > 0`, or `i == 0` with at least one key) and the
    /// key beside it.
    fn remove_child(&mut self, i: usize) {
        if i == 0 {
            self.child0 = self.cells.remove(0).1;
        } else {
            self.cells.remove(i - 1);
        }
    }

    fn sizes(&self) -> Vec<usize> {
        self.cells
            .iter()
            .map(|(k, _)| branch_entry_size(k.len()))
            .collect()
    }

    /// Write the edited branch to page `id` (copy-on-write), splitting it
    /// if it outgrew the branch size.
    fn finish(self, pager: &mut Pager, id: PageId, bias: Bias) -> Result<Change> {
        let branch_size = pager.branch_size();
        let sizes = self.sizes();
        let size = BRANCH_HEADER + sizes.iter().sum::<usize>();
        if size <= branch_size {
            let data = build_branch(self.child0, &self.cells);
            let id = write_node(pager, id, KIND_BRANCH, data)?;
            return Ok(Change::Node { id, fill: size });
        }
        let m = split_point(&sizes, branch_size, bias)
            .ok_or_else(|| BTreeError::corrupted(id, "branch entries too large to split"))?;
        let left = build_branch(self.child0, &self.cells[..m]);
        let (sep, right_child0) = self.cells[m];
        let right = build_branch(right_child0, &self.cells[m + 1..]);
        let left = write_node(pager, id, KIND_BRANCH, left)?;
        let right = write_new(pager, KIND_BRANCH, right)?;
        Ok(Change::Split {
            left,
            sep: sep.to_vec(),
            right,
        })
    }
}

/// Edit leaf `id` (whose current content is `page`) in place when the
/// pager allows it (see [`Pager::update`]); `None` if it must be copied.
pub(crate) fn splice_owned(
    pager: &mut Pager,
    id: PageId,
    page: Rc<Page>,
    at: usize,
    remove: usize,
    insert: Option<node::NewCell<'_>>,
) -> Result<Option<usize>> {
    if !pager.is_writable(id) || page.kind != KIND_LEAF {
        return Ok(None);
    }
    // The pager edits only a page nobody else holds: let go of ours.
    drop(page);
    match pager.update(id, |p| {
        node::splice_in_place(id, p.kind, &mut p.data, at, remove, insert)
    })? {
        Some(size) => Ok(Some(size?)),
        None => Ok(None),
    }
}

/// Fold the change of child `idx` (formerly page `old_child`) into branch
/// `parent`.
fn apply(
    pager: &mut Pager,
    parent: &Node<'_>,
    idx: usize,
    old_child: PageId,
    change: Change,
) -> Result<Change> {
    match change {
        Change::Node { id, fill } => {
            if fill < min_fill(pager.page_size()) && parent.count() > 0 {
                return rebalance(pager, parent, idx, id);
            }
            if id == old_child {
                return Ok(Change::Node {
                    id: parent.id,
                    fill: parent.fill(),
                });
            }
            let data = node::set_child(parent, idx, id)?;
            let fill = data.len();
            let id = write_node(pager, parent.id, KIND_BRANCH, data)?;
            Ok(Change::Node { id, fill })
        }
        Change::Split { left, sep, right } => {
            let mut edit = BranchEdit::of(parent)?;
            *edit.child_mut(idx) = left;
            edit.cells.insert(idx, (&sep, right));
            edit.finish(pager, parent.id, Bias::of(idx, parent.count()))
        }
        Change::Empty => {
            if parent.count() == 0 {
                pager.free(parent.id)?;
                return Ok(Change::Empty);
            }
            let mut edit = BranchEdit::of(parent)?;
            edit.remove_child(idx);
            edit.finish(pager, parent.id, Bias::Even)
        }
    }
}

/// Child `idx` of `parent`, now page `child`, is under `min_fill`: merge it
/// with a neighbour or share the neighbour's entries.
fn rebalance(pager: &mut Pager, parent: &Node<'_>, idx: usize, child: PageId) -> Result<Change> {
    let page_size = pager.page_size();
    let (li, ri) = if idx > 0 { (idx - 1, idx) } else { (0, 1) };
    let l_id = if li == idx { child } else { parent.child(li)? };
    let r_id = if ri == idx { child } else { parent.child(ri)? };
    let (l_page, r_page) = (pager.read(l_id)?, pager.read(r_id)?);
    let l = Node::of_page(l_id, &l_page)?;
    let r = Node::of_page(r_id, &r_page)?;
    if l.is_leaf() != r.is_leaf() {
        return Err(parent.corrupt("children at different depths"));
    }
    let mut edit = BranchEdit::of(parent)?;
    *edit.child_mut(idx) = child;
    let new_sep: Vec<u8>;
    if l.is_leaf() {
        let mut all = Vec::with_capacity(l.count() + r.count());
        leaf::entries(&l, &mut all)?;
        leaf::entries(&r, &mut all)?;
        match leaf::plan(&all, page_size, Bias::Even) {
            Some(LeafPlan::One { data, .. }) => {
                let merged = write_merged(pager, l_id, r_id, KIND_LEAF, data)?;
                edit.remove_child(ri);
                *edit.child_mut(li) = merged;
            }
            Some(LeafPlan::Two { left, sep, right }) => {
                new_sep = sep;
                let nl = write_node(pager, l_id, KIND_LEAF, left)?;
                let nr = write_node(pager, r_id, KIND_LEAF, right)?;
                edit.cells[li] = (&new_sep, nr);
                *edit.child_mut(li) = nl;
            }
            None => return Err(l.corrupt("leaf entries too large to split")),
        }
    } else {
        // The parent's separator comes down between the two halves.
        let l_edit = BranchEdit::of(&l)?;
        let r_edit = BranchEdit::of(&r)?;
        let mut cells = l_edit.cells;
        cells.push((parent.separator(li)?, r_edit.child0));
        cells.extend(r_edit.cells);
        let joined = BranchEdit {
            child0: l_edit.child0,
            cells,
        };
        let sizes = joined.sizes();
        let branch_size = pager.branch_size();
        if BRANCH_HEADER + sizes.iter().sum::<usize>() <= branch_size {
            let data = build_branch(joined.child0, &joined.cells);
            let merged = write_merged(pager, l_id, r_id, KIND_BRANCH, data)?;
            edit.remove_child(ri);
            *edit.child_mut(li) = merged;
        } else {
            let m = split_point(&sizes, branch_size, Bias::Even)
                .ok_or_else(|| l.corrupt("branch entries too large to split"))?;
            let (sep, right_child0) = joined.cells[m];
            let left = build_branch(joined.child0, &joined.cells[..m]);
            let right = build_branch(right_child0, &joined.cells[m + 1..]);
            let nl = write_node(pager, l_id, KIND_BRANCH, left)?;
            let nr = write_node(pager, r_id, KIND_BRANCH, right)?;
            edit.cells[li] = (sep, nr);
            *edit.child_mut(li) = nl;
        }
    }
    edit.finish(pager, parent.id, Bias::Even)
}

/// Check `key` and the value (the concatenation of `parts`) and decide how
/// the value is stored, writing its overflow chain if it does not stay
/// inline. An inline value given in several parts is joined in `joined`;
/// a chained one is never joined.
pub(crate) fn make_value<'v>(
    pager: &mut Pager,
    key: &[u8],
    parts: &[&'v [u8]],
    joined: &'v mut Vec<u8>,
) -> Result<ValueRef<'v>> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if !stays_inline(pager.page_size(), key, len)? {
        return Ok(ValueRef::Overflow {
            head: overflow::write(pager, parts)?,
            len,
        });
    }
    Ok(ValueRef::Inline(match parts {
        [] => &[],
        [whole] => whole,
        _ => {
            for part in parts {
                joined.extend_from_slice(part);
            }
            joined
        }
    }))
}

/// How `value` is stored, [`stays_inline`] having said `inline`: as it
/// is, or in an overflow chain written now.
pub(crate) fn stored_value<'v>(
    pager: &mut Pager,
    inline: bool,
    value: &'v [u8],
) -> Result<ValueRef<'v>> {
    if inline {
        return Ok(ValueRef::Inline(value));
    }
    Ok(ValueRef::Overflow {
        head: overflow::write(pager, &[value])?,
        len: value.len(),
    })
}

/// Check `key` and the length of its value: whether the value stays
/// inline (else it goes to an overflow chain).
pub(crate) fn stays_inline(page_size: usize, key: &[u8], len: usize) -> Result<bool> {
    BTree::check_key(key, page_size)?;
    if len > u32::MAX as usize {
        return Err(BTreeError::ValueTooLarge {
            len,
            max: u32::MAX as usize,
        });
    }
    Ok(node::inline_fits(page_size, key.len(), len))
}

/// A tree's first leaf, holding one entry.
fn new_root(pager: &mut Pager, key: &[u8], value: ValueRef<'_>) -> Result<Change> {
    let entry = LeafEntry::new(KeyParts::whole(key), value);
    let data = build_leaf(&[entry]);
    let fill = Node::parse(0, KIND_LEAF, &data)?.fill();
    let id = write_new(pager, KIND_LEAF, data)?;
    Ok(Change::Node { id, fill })
}

pub(crate) fn too_deep(id: PageId) -> BTreeError {
    BTreeError::corrupted(
        id,
        format!("tree deeper than {MAX_DEPTH} levels (a cycle of child pointers?)"),
    )
}

/// Insert `key` with `value` below page `id`. `low..high` is the key range the page
/// covers (from the separators on the way down); `learn` is filled for
/// [`InsertHints`].
fn insert_at(
    pager: &mut Pager,
    id: PageId,
    key: &[u8],
    value: ValueRef<'_>,
    depth: usize,
    (low, high): (Option<&[u8]>, Option<&[u8]>),
    learn: &mut Learn,
) -> Result<(Change, Option<Old>)> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(id));
    }
    let page = pager.read(id)?;
    if node::is_leaf_kind(page.kind) {
        let (change, old) = leaf::put(pager, id, page, key, value, learn.ascending)?;
        if let Change::Node { id: same, fill } = change {
            if same == id && (depth == 0 || fill >= min_fill(pager.page_size())) {
                learn.finger = Some(Finger {
                    leaf: id,
                    low: low.map(KeyBuf::from_slice),
                    high: high.map(KeyBuf::from_slice),
                    used: 0,
                });
            }
        }
        return Ok((change, old));
    }
    let node = Node::of_page(id, &page)?;
    let idx = node.child_index(key)?;
    let child = node.child(idx)?;
    let bounds = (
        if idx > 0 {
            Some(node.separator(idx - 1)?)
        } else {
            low
        },
        if idx < node.count() {
            Some(node.separator(idx)?)
        } else {
            high
        },
    );
    let (change, old) = insert_at(pager, child, key, value, depth + 1, bounds, learn)?;
    // A finger stays only if this level is left untouched (the first
    // early return of `apply`). Rebalancing (the child is under min_fill)
    // or dropping a child moves the ranges of neighbouring leaves.
    let min = min_fill(pager.page_size());
    match &change {
        Change::Node { fill, .. } if *fill < min && node.count() > 0 => {
            learn.moved = true;
            learn.finger = None;
        }
        Change::Node { id, .. } if *id == child => {}
        Change::Empty => {
            learn.moved = true;
            learn.finger = None;
        }
        _ => learn.finger = None,
    }
    Ok((apply_to_branch(pager, id, page, idx, child, change)?, old))
}

/// [`apply`] the change of child `idx` (formerly page `child`) to branch
/// `id`, whose content is `page`: a split whose left half kept the
/// child's page adds its separator in place when the transaction wrote
/// this branch and it still fits.
pub(crate) fn apply_to_branch(
    pager: &mut Pager,
    id: PageId,
    page: Rc<Page>,
    idx: usize,
    child: PageId,
    change: Change,
) -> Result<Change> {
    if let Change::Split { left, sep, right } = &change {
        let size = Node::of_page(id, &page)?.len() + branch_entry_size(sep.len());
        // Only a page this transaction wrote can be edited in place: any
        // other keeps its node for `apply`'s copy below, not read again.
        let in_place = pager.is_writable(id) && page.kind == KIND_BRANCH;
        if *left == child && size <= pager.branch_size() && in_place {
            if let Some(id) = insert_separator_owned(pager, id, page, idx, sep, *right)? {
                return Ok(Change::Node { id, fill: size });
            }
            let page = pager.read(id)?;
            return apply(pager, &Node::of_page(id, &page)?, idx, child, change);
        }
    }
    apply(pager, &Node::of_page(id, &page)?, idx, child, change)
}

/// Child `idx` of branch `id` (whose content is `page`) split and kept its
/// page as the left half: put the separator `sep` and the right half
/// `right` after it, in place when the pager allows it (see
/// [`Pager::update`]). The caller has checked that the branch still fits
/// its page and that the open transaction wrote it. The result is byte for
/// byte the branch [`apply`] builds: cells stay packed in key order right
/// after the slots. `None`, having done nothing, if the page must be
/// copied after all (another holder of it, or it left memory).
fn insert_separator_owned(
    pager: &mut Pager,
    id: PageId,
    page: Rc<Page>,
    idx: usize,
    sep: &[u8],
    right: PageId,
) -> Result<Option<PageId>> {
    // The pager edits only a page nobody else holds: let go of ours.
    drop(page);
    let cell = node::NewCell::Branch {
        key: sep,
        child: right,
    };
    match pager.update(id, |p| {
        node::splice_in_place(id, p.kind, &mut p.data, idx, 0, Some(cell))
    })? {
        Some(size) => size.map(|_| Some(id)),
        None => Ok(None),
    }
}

fn remove_at(
    pager: &mut Pager,
    id: PageId,
    key: &[u8],
    depth: usize,
) -> Result<Option<(Change, Old)>> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(id));
    }
    let page = pager.read(id)?;
    if node::is_leaf_kind(page.kind) {
        return leaf::remove(pager, id, page, key);
    }
    let node = Node::of_page(id, &page)?;
    let idx = node.child_index(key)?;
    let child = node.child(idx)?;
    match remove_at(pager, child, key, depth + 1)? {
        None => Ok(None),
        Some((change, old)) => Ok(Some((apply(pager, &node, idx, child, change)?, old))),
    }
}

impl BTree {
    /// The value stored under `key`.
    pub fn get(&self, pager: &Pager, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.lookup(pager, key, |pager, value, _| load_value(pager, value))
    }

    /// Lend the value stored under `key` to `f` (no copy for an inline
    /// value; an overflow value is read into a buffer first); `None` when
    /// the key is absent.
    pub fn get_with<T>(
        &self,
        pager: &Pager,
        key: &[u8],
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>> {
        self.lookup(pager, key, |pager, value, _| lend_value(pager, value, f))
    }

    /// Lend the value stored under `key` to `f` without reading an
    /// overflow chain first ([`Lent`]): `f` reads as much of it as it
    /// needs, or takes it whole into a buffer it owns. With `hints`, a
    /// finger's leaf is searched first, as in [`BTree::get_with_hinted`].
    pub fn get_lent<T>(
        &self,
        pager: &Pager,
        key: &[u8],
        hints: Option<&InsertHints>,
        f: impl FnOnce(Lent<'_>) -> T,
    ) -> Result<Option<T>> {
        let read = |pager: &Pager, value: ValueRef<'_>, _| Ok(f(Lent::of(pager, value)));
        match hints {
            Some(hints) => self.hinted_lookup(pager, key, hints, read),
            None => self.lookup(pager, key, read),
        }
    }

    /// [`BTree::get_with`] that first asks `hints`: when they describe
    /// this tree and a finger's range holds `key`, that leaf is the only
    /// place the key can be (the invariant [`BTree::insert_hinted`] relies
    /// on), so it is searched without descending from the root. A write
    /// transaction that reads an entry before writing it (the engine looks
    /// up the old value of every assignment) then pays one leaf search,
    /// not a descent. Same result as `get_with`.
    pub fn get_with_hinted<T>(
        &self,
        pager: &Pager,
        key: &[u8],
        hints: &InsertHints,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>> {
        let read = |pager: &Pager, value: ValueRef<'_>, _| lend_value(pager, value, f);
        self.hinted_lookup(pager, key, hints, read)
    }

    /// [`BTree::get_with`] also telling `f` whether the value is vouched
    /// for: an inline value on a leaf whose search aid records that the
    /// layer above's value check passed every inline value of the leaf
    /// (see [`search_aid_vouching`](crate::search_aid_vouching)). The page
    /// cannot have changed since: an aid is dropped with any edit.
    pub fn get_vouched<T>(
        &self,
        pager: &Pager,
        key: &[u8],
        f: impl FnOnce(&[u8], bool) -> T,
    ) -> Result<Option<T>> {
        self.lookup(pager, key, |pager, value, vouched| {
            lend_vouched(pager, value, vouched, f)
        })
    }

    /// [`BTree::get_vouched`] searching a finger's leaf first, as
    /// [`BTree::get_with_hinted`] does.
    pub fn get_vouched_hinted<T>(
        &self,
        pager: &Pager,
        key: &[u8],
        hints: &InsertHints,
        f: impl FnOnce(&[u8], bool) -> T,
    ) -> Result<Option<T>> {
        self.hinted_lookup(pager, key, hints, |pager, value, vouched| {
            lend_vouched(pager, value, vouched, f)
        })
    }

    /// [`BTree::lookup`] that searches a finger's leaf first when `hints`
    /// describe this tree and a finger's range holds `key`.
    fn hinted_lookup<T>(
        &self,
        pager: &Pager,
        key: &[u8],
        hints: &InsertHints,
        read: impl FnOnce(&Pager, ValueRef<'_>, bool) -> Result<T>,
    ) -> Result<Option<T>> {
        let finger = hints
            .describes(self.root, self.version)
            .then(|| hints.find(key).map(|at| hints.leaf(at)))
            .flatten();
        let Some(leaf) = finger else {
            return self.lookup(pager, key, read);
        };
        let page = pager.read(leaf)?;
        let node = Node::of_page(leaf, &page)?;
        if !node.is_leaf() {
            return Err(BTreeError::corrupted(
                leaf,
                "an insert hint names a page that is not a leaf",
            ));
        }
        // Mostly the lookup of what the next key of an ascending run of
        // inserts replaces (see `put_in_finger`).
        match node.search_append(key)? {
            Ok(i) => Ok(Some(read(pager, node.entry(i)?.1, node.values_vouched())?)),
            Err(_) => Ok(None),
        }
    }

    /// A hint that the entries under `keys` will be read soon: descends
    /// the branch pages to each key's leaf (reading the branches, which
    /// are few and stay cached) and asks the pager to fetch the leaves not
    /// in memory together ([`Pager::prefetch`]: one round trip where the
    /// store reads slowly one page at a time). Does nothing where that
    /// cannot pay ([`Pager::prefetch_useful`]).
    pub fn prefetch(&self, pager: &Pager, keys: &[&[u8]]) -> Result<()> {
        let (Some(root), Some(first)) = (self.root, keys.first()) else {
            return Ok(());
        };
        if !pager.prefetch_useful() {
            return Ok(());
        }
        // Every leaf is at the same depth: the first key's descent finds it.
        let mut height = None;
        let mut id = root;
        for depth in 0..MAX_DEPTH {
            let page = pager.read(id)?;
            if node::is_leaf_kind(page.kind) {
                height = Some(depth);
                break;
            }
            let node = Node::of_page(id, &page)?;
            id = node.child_for(first)?;
        }
        let Some(height) = height.filter(|&h| h > 0) else {
            return Ok(());
        };
        let mut leaves = Vec::with_capacity(keys.len());
        for key in keys {
            let mut id = root;
            for _ in 0..height {
                let page = pager.read(id)?;
                if node::is_leaf_kind(page.kind) {
                    return Err(BTreeError::corrupted(
                        id,
                        "a leaf above the leaf level (leaves at different depths)",
                    ));
                }
                let node = Node::of_page(id, &page)?;
                id = node.child_for(key)?;
            }
            if !pager.is_loaded(id) {
                leaves.push(id);
            }
        }
        leaves.sort_unstable();
        leaves.dedup();
        Ok(pager.prefetch(&leaves)?)
    }

    /// A hint that the entries from `lo` up to `hi` (exclusive; `None`:
    /// to the end) will be read soon, in key order: walks the branch pages
    /// over the range level by level (reading them, as the scan will) and
    /// asks the pager to fetch together the leaves not in memory, at most
    /// `max_leaves` of them from `lo` on. Does nothing where that cannot
    /// pay ([`Pager::prefetch_useful`]).
    pub fn prefetch_range(
        &self,
        pager: &Pager,
        lo: &[u8],
        hi: Option<&[u8]>,
        max_leaves: usize,
    ) -> Result<()> {
        let Some(root) = self.root else {
            return Ok(());
        };
        if max_leaves == 0 || !pager.prefetch_useful() {
            return Ok(());
        }
        // The pages of one level that overlap the range, in key order.
        let mut level = vec![root];
        for depth in 0..MAX_DEPTH {
            let mut below = Vec::new();
            for &id in &level {
                let page = pager.read(id)?;
                if node::is_leaf_kind(page.kind) {
                    // Every leaf is at the same depth: this level is leaves.
                    if depth == 0 {
                        return Ok(()); // the root, in memory now
                    }
                    let missing: Vec<PageId> = level
                        .into_iter()
                        .filter(|&id| !pager.is_loaded(id))
                        .collect();
                    return Ok(pager.prefetch(&missing)?);
                }
                let node = Node::of_page(id, &page)?;
                let first = node.child_index(lo)?;
                let last = match hi {
                    Some(hi) => node.child_index(hi)?.max(first),
                    None => node.count(),
                };
                for i in first..=last {
                    if below.len() == max_leaves {
                        break;
                    }
                    below.push(node.child(i)?);
                }
            }
            level = below;
        }
        Ok(())
    }

    /// The value under `key`, handed to `read`; `None` when absent.
    fn lookup<T>(
        &self,
        pager: &Pager,
        key: &[u8],
        read: impl FnOnce(&Pager, ValueRef<'_>, bool) -> Result<T>,
    ) -> Result<Option<T>> {
        self.at_leaf(pager, key, |node| match node.find(key)? {
            Some(value) => Ok(Some(read(pager, value, node.values_vouched())?)),
            None => Ok(None),
        })
    }

    /// Descend to the leaf `key` belongs in and hand it to `at`; `None`
    /// for an empty tree.
    #[inline(always)]
    fn at_leaf<T>(
        &self,
        pager: &Pager,
        key: &[u8],
        at: impl FnOnce(&Node<'_>) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let Some(mut id) = self.root else {
            return Ok(None);
        };
        // The last pages of this descent: a child naming one of them is a
        // cycle (a longer cycle ends at MAX_DEPTH). Only the `depth` slots
        // written so far are searched.
        let mut recent = [0 as PageId; 8];
        for depth in 0..MAX_DEPTH {
            if recent[..depth.min(8)].contains(&id) {
                return Err(BTreeError::corrupted(
                    id,
                    "the page appears twice on one root-to-leaf path (a cycle of child pointers)",
                ));
            }
            recent[depth % 8] = id;
            let page = pager.read(id)?;
            let node = Node::of_page(id, &page)?;
            if node.is_leaf() {
                return at(&node);
            }
            id = node.child_for(key)?;
        }
        Err(too_deep(id))
    }

    /// The last entry whose key is at most `key`, if the leaf `key`
    /// descends to holds one: lent to `f(key, value)` as `Some`. `None`
    /// when that leaf's keys are all above `key` (or the tree is empty):
    /// the entry, if any, is then in an earlier leaf, where a reverse
    /// [`Cursor`](crate::Cursor) finds it. One descent, like `get`: for
    /// lookups of the entry that covers a key (a run of ids stored under
    /// its first one).
    pub fn floor_in_leaf<T>(
        &self,
        pager: &Pager,
        key: &[u8],
        f: impl FnOnce(&[u8], &[u8]) -> T,
    ) -> Result<Option<T>> {
        self.at_leaf(pager, key, |node| {
            let at = match node.search(key)? {
                Ok(i) => i,
                Err(0) => return Ok(None),
                Err(i) => i - 1,
            };
            let (suffix, value) = node.entry(at)?;
            let mut full: SmallVec<[u8; 64]> = SmallVec::from_slice(node.prefix());
            full.extend_from_slice(suffix);
            lend_value(pager, value, |v| f(&full, v)).map(Some)
        })
    }

    /// Store `value` under `key`, replacing any old value; returns the old
    /// value's length if there was one. Needs an open pager transaction.
    pub fn insert(&mut self, pager: &mut Pager, key: &[u8], value: &[u8]) -> Result<Option<usize>> {
        let mut joined = Vec::new();
        let value = make_value(pager, key, &[value], &mut joined)?;
        let (change, old) = match self.root {
            None => (new_root(pager, key, value)?, None),
            Some(root) => insert_at(
                pager,
                root,
                key,
                value,
                0,
                (None, None),
                &mut Learn::default(),
            )?,
        };
        self.set_root(pager, change)?;
        let len = old.as_ref().map(|o| o.len);
        if let Some(old) = old {
            old.release(pager)?;
        }
        Ok(len)
    }

    /// [`BTree::insert`] that uses and updates `hints`: when the key falls
    /// in the range of a leaf a recent insert edited in place, that leaf is
    /// edited directly (no descent, no ancestor touched); otherwise this is
    /// `insert`, remembering the leaf it edits. Same result as `insert`.
    /// Use one `InsertHints` per tree and pager transaction.
    pub fn insert_hinted(
        &mut self,
        pager: &mut Pager,
        key: &[u8],
        value: &[u8],
        hints: &mut InsertHints,
    ) -> Result<Option<usize>> {
        self.insert_hinted_parts(pager, key, &[value], hints)
    }

    /// [`BTree::insert_hinted`] of the value made of `parts` one after the
    /// other. A value too large to stay inline goes into its overflow pages
    /// straight from the parts, never joined: a caller holding a large body
    /// and a small encoding header writes them without a copy of the body.
    pub fn insert_hinted_parts(
        &mut self,
        pager: &mut Pager,
        key: &[u8],
        parts: &[&[u8]],
        hints: &mut InsertHints,
    ) -> Result<Option<usize>> {
        let mut joined = Vec::new();
        let value = make_value(pager, key, parts, &mut joined)?;
        if !hints.describes(self.root, self.version) {
            hints.clear();
        }
        let old = match hints.find(key) {
            Some(pos) => {
                let leaf = hints.leaf(pos);
                match self.put_in_finger(pager, leaf, key, value)? {
                    Some(old) => {
                        hints.touch(pos);
                        Some(old)
                    }
                    None => {
                        hints.forget(pos);
                        None
                    }
                }
            }
            None => None,
        };
        let old = match old {
            Some(old) => {
                self.version = self.version.wrapping_add(1);
                old
            }
            None => {
                let mut learned = Learn {
                    ascending: hints.is_ascending(),
                    ..Learn::default()
                };
                let (change, old) = match self.root {
                    None => (new_root(pager, key, value)?, None),
                    Some(root) => {
                        insert_at(pager, root, key, value, 0, (None, None), &mut learned)?
                    }
                };
                self.set_root(pager, change)?;
                // A split or a copy leaves the other leaves' ranges as they
                // are (the split leaf holds no finger: it was just tried
                // and dropped, or never held), and new pages never take the
                // id of a leaf in the tree. A merge or refill moves ranges.
                if learned.moved {
                    hints.forget_all();
                }
                if let Some(finger) = learned.finger {
                    hints.learn(finger);
                }
                old
            }
        };
        hints.set_tree(self.root, self.version);
        let len = old.as_ref().map(|o| o.len);
        if let Some(old) = old {
            old.release(pager)?;
        }
        Ok(len)
    }

    /// Put `key` and `value` into leaf `leaf` (a finger) if that needs no
    /// change of structure or prefix and the page can be edited in place;
    /// `None` (nothing done) otherwise. The inner option is the replaced
    /// entry.
    fn put_in_finger(
        &self,
        pager: &mut Pager,
        leaf: PageId,
        key: &[u8],
        value: ValueRef<'_>,
    ) -> Result<Option<Option<Old>>> {
        if !pager.is_writable(leaf) {
            return Ok(None);
        }
        let page = pager.read(leaf)?;
        let page_size = pager.page_size();
        let (edit, old) = {
            let node = Node::of_page(leaf, &page)?;
            if node.format() != Format::LeafV2 {
                return Ok(None);
            }
            // A finger's inserts are mostly runs of ascending keys.
            let found = node.search_append(key)?;
            let Some(edit) = leaf::put_splice(&node, found, key, value)? else {
                return Ok(None);
            };
            if edit.size > page_size || (edit.fill < min_fill(page_size) && self.root != Some(leaf))
            {
                return Ok(None);
            }
            let old = match found {
                Ok(i) => Some(Old::of(node.value(i)?)),
                Err(_) => None,
            };
            (edit, old)
        };
        Ok(splice_owned(pager, leaf, page, edit.at, edit.remove, Some(edit.cell))?.map(|_| old))
    }

    /// Remove `key`; returns whether it was present. Needs an open pager
    /// transaction.
    pub fn remove(&mut self, pager: &mut Pager, key: &[u8]) -> Result<bool> {
        let Some(root) = self.root else {
            return Ok(false);
        };
        let Some((change, old)) = remove_at(pager, root, key, 0)? else {
            return Ok(false);
        };
        self.set_root(pager, change)?;
        old.release(pager)?;
        Ok(true)
    }

    /// Free every page of the tree and make it empty.
    pub fn clear(&mut self, pager: &mut Pager) -> Result<()> {
        let mut ids = Vec::new();
        self.pages(pager, &mut |id| ids.push(id))?;
        for id in ids {
            pager.free(id)?;
        }
        self.root = None;
        self.version = self.version.wrapping_add(1);
        Ok(())
    }

    /// Install the root's change: grow a level on a split, drop levels of
    /// single-child branches, and bump the version.
    pub(crate) fn set_root(&mut self, pager: &mut Pager, change: Change) -> Result<()> {
        self.version = self.version.wrapping_add(1);
        self.root = match change {
            Change::Empty => None,
            Change::Split { left, sep, right } => {
                let data = build_branch(left, &[(&sep, right)]);
                Some(write_new(pager, KIND_BRANCH, data)?)
            }
            Change::Node { mut id, fill } => {
                // Only a branch without keys is this small (a leaf holds at
                // least one cell), and only the root can be one for long.
                if fill <= BRANCH_HEADER {
                    for level in 0.. {
                        if level == MAX_DEPTH {
                            return Err(too_deep(id));
                        }
                        let page = pager.read(id)?;
                        let node = Node::of_page(id, &page)?;
                        if node.is_leaf() || node.count() > 0 {
                            break;
                        }
                        let child = node.child(0)?;
                        pager.free(id)?;
                        id = child;
                    }
                }
                Some(id)
            }
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_split_points_respect_bias_and_page() {
        let sizes = vec![40; 31]; // 1240 bytes of entries, 1 KiB pages
        let even = split_point(&sizes, 1024, Bias::Even).unwrap();
        assert_eq!(even, 15, "entry 15 moves up, 15 stay on each side");
        let packed = split_point(&sizes, 1024, Bias::PackLeft).unwrap();
        assert!(packed > 20, "append loads keep left pages full: {packed}");
        assert!(BRANCH_HEADER + 40 * (30 - packed) >= min_fill(1024));
        let packed = split_point(&sizes, 1024, Bias::PackRight).unwrap();
        assert!(packed < 10 && BRANCH_HEADER + 40 * packed >= min_fill(1024));
        assert_eq!(split_point(&[2000, 10, 10], 1024, Bias::Even), None);
    }
}
