//! Writes applied as a run in key order: each leaf the run reaches is
//! written once with every write of the run that falls in it, instead of
//! one descent and one splice per write.
//!
//! A round takes the next write, descends to its leaf (learning the
//! leaf's upper bound from the separators on the way), and merges the
//! leaf's entries with the writes that follow while they stay below that
//! bound and the merged run stays within `page + page / 4` bytes (its size
//! with its own common prefix, counted high). The merged run is then laid
//! out as any leaf edit is ([`leaf::plan`]): one leaf, or two cut where
//! both fit and both reach the minimum fill. DESIGN.md section 3 ("Sorted
//! runs") shows such a cut exists for every run within that bound; the
//! first write is always taken, so a round is never empty, and with one
//! write it is exactly an insert or a remove. The change then goes up the
//! path as an insert's does (split, copy, rebalance). A leaf that fewer
//! than [`SHORT_RUN`] writes reach takes them one a round, as inserts and
//! removes: a splice each is cheaper than rebuilding the leaf for one or
//! two.

use std::rc::Rc;

use crate::error::{BTreeError, Result};
use crate::leaf;
use crate::node::{
    self, min_fill, stored_entry_size, KeyParts, LeafEntry, Node, KIND_LEAF, LEAF_HEADER, MAX_DEPTH,
};
use crate::tree::{
    apply_to_branch, make_value, stays_inline, stored_value, too_deep, write_new, Bias, Change, Old,
};
use crate::BTree;
use moonvault_pager::{Page, PageId, Pager};

/// Writes in strictly increasing key order, read by position: a key and
/// its new value, or `None` to remove the key.
pub trait SortedWrites {
    /// Write `i`, or `None` past the last.
    fn write(&self, i: usize) -> Option<(&[u8], Option<&[u8]>)>;
}

impl SortedWrites for [(&[u8], Option<&[u8]>)] {
    fn write(&self, i: usize) -> Option<(&[u8], Option<&[u8]>)> {
        self.get(i).copied()
    }
}

impl BTree {
    /// Apply `writes` (keys strictly increasing): the tree then holds what
    /// inserting and removing them one at a time would leave, in about one
    /// leaf write per leaf they reach.
    pub fn apply_sorted<W>(&mut self, pager: &mut Pager, writes: &W) -> Result<()>
    where
        W: SortedWrites + ?Sized,
    {
        let mut i = 0;
        let mut olds = Vec::new();
        while let Some((key, value)) = writes.write(i) {
            let Some(root) = self.root else {
                // An empty tree: its first put makes the root leaf.
                if let Some(value) = value {
                    self.insert(pager, key, value)?;
                }
                i += 1;
                continue;
            };
            let (change, next) = merge_at(pager, root, writes, i, 0, None, &mut olds)?;
            self.set_root(pager, change)?;
            for old in olds.drain(..) {
                old.release(pager)?;
            }
            i = next;
        }
        Ok(())
    }
}

/// Fewer writes than this for one leaf are put in one at a time: a splice
/// each costs less than the leaf's rebuild (a small transaction's one or
/// two index entries).
const SHORT_RUN: usize = 4;

/// Merge the writes from `i` on into the subtree of page `id`, whose keys
/// lie below `high`: the change, and the first write not taken.
fn merge_at<W: SortedWrites + ?Sized>(
    pager: &mut Pager,
    id: PageId,
    writes: &W,
    i: usize,
    depth: usize,
    high: Option<&[u8]>,
    olds: &mut Vec<Old>,
) -> Result<(Change, usize)> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(id));
    }
    let page = pager.read(id)?;
    if node::is_leaf_kind(page.kind) {
        return merge_leaf(pager, id, page, writes, i, high, olds);
    }
    let node = Node::of_page(id, &page)?;
    let (key, _) = writes
        .write(i)
        .ok_or_else(|| BTreeError::corrupted(id, "a merge past its last write"))?;
    let idx = node.child_index(key)?;
    let child = node.child(idx)?;
    let child_high = if idx < node.count() {
        Some(node.separator(idx)?)
    } else {
        high
    };
    let (change, next) = merge_at(pager, child, writes, i, depth + 1, child_high, olds)?;
    Ok((apply_to_branch(pager, id, page, idx, child, change)?, next))
}

/// Merge the writes from `i` on that sort below `high` into leaf `id`
/// (page `page`), as many as keep the merged run within the bound; or,
/// if fewer than [`SHORT_RUN`] sort below `high`, put the first of them
/// in as an insert or a remove does.
fn merge_leaf<W: SortedWrites + ?Sized>(
    pager: &mut Pager,
    id: PageId,
    page: Rc<Page>,
    writes: &W,
    i: usize,
    high: Option<&[u8]>,
    olds: &mut Vec<Old>,
) -> Result<(Change, usize)> {
    let below_high = (i..i + SHORT_RUN)
        .take_while(|&j| {
            writes
                .write(j)
                .is_some_and(|(k, _)| high.is_none_or(|h| k < h))
        })
        .count();
    if below_high < SHORT_RUN {
        return put_one(pager, id, page, writes, i, below_high, olds);
    }
    let page_size = pager.page_size();
    let node = Node::of_page(id, &page)?;
    let appends = match (node.count(), writes.write(i)) {
        (0, _) | (_, None) => false,
        (n, Some((key, _))) => node.key(n - 1)?.cmp_bytes(key).is_lt(),
    };
    let bound = if !appends {
        page_size + min_fill(page_size)
    } else if leaf_is_full(&node, writes, i, page_size)? {
        if let Some(done) = fresh_leaf(pager, id, &node, writes, i, high)? {
            return Ok(done);
        }
        // Too few writes left for a leaf of their own: they go in with
        // the leaf's entries, cut as any round's are.
        page_size + min_fill(page_size)
    } else {
        // The round fills the leaf up to a page and no further: the
        // writes after it then start leaves of their own (`fresh_leaf`)
        // instead of each round rebuilding the last one's right half.
        page_size
    };
    let mut existing = Vec::with_capacity(node.count());
    leaf::entries(&node, &mut existing)?;
    let mut fill = LEAF_HEADER + existing.iter().map(LeafEntry::size).sum::<usize>();
    let mut count = existing.len();
    let mut merged: Vec<LeafEntry<'_>> = Vec::with_capacity(existing.len() + 16);
    // The merged run's first and last keys so far, for its prefix (keys
    // removed still count: the prefix is then shorter, the size higher).
    let mut first = existing.first().map(|e| e.key);
    let last_existing = existing.last().map(|e| e.key);
    let mut changed = false;
    let mut appends_only = true;
    let mut last_new = 0;
    // Whether the run stopped at the bound rather than at `high` or the
    // writes' end: the next round then goes on in this leaf's right half.
    let mut full = false;
    let (mut e, mut j) = (0, i);
    while let Some((key, value)) = writes.write(j) {
        if high.is_some_and(|h| key >= h) {
            break;
        }
        while e < existing.len() && existing[e].key.cmp_bytes(key).is_lt() {
            merged.push(existing[e]);
            e += 1;
        }
        let replaces = e < existing.len() && existing[e].key.cmp_bytes(key).is_eq();
        let old_size = if replaces { existing[e].size() } else { 0 };
        let inline = match value {
            Some(v) => stays_inline(page_size, key, v.len())?,
            None => true,
        };
        let new_size = value.map_or(0, |v| stored_entry_size(key.len(), v.len(), inline));
        let new_fill = fill - old_size + new_size;
        let new_count = count - usize::from(replaces) + usize::from(value.is_some());
        let run_first = match first {
            Some(f) if f.cmp_bytes(key).is_lt() => f,
            _ => KeyParts::whole(key),
        };
        // The size is at most the fill: the prefix is needed only past it.
        if j > i && new_fill > bound {
            let run_last = match last_existing {
                Some(l) if l.cmp_bytes(key).is_gt() => l,
                _ => KeyParts::whole(key),
            };
            let prefix = run_first.common_prefix(&run_last);
            if new_fill.saturating_sub(new_count.saturating_sub(1) * prefix) > bound {
                full = true;
                break;
            }
        }
        fill = new_fill;
        count = new_count;
        first = Some(run_first);
        if replaces {
            olds.push(Old::of(existing[e].value));
            e += 1;
            changed = true;
            appends_only = false;
        }
        if let Some(v) = value {
            let value = stored_value(pager, inline, v)?;
            last_new = merged.len();
            merged.push(LeafEntry::new(KeyParts::whole(key), value));
            changed = true;
            appends_only &= e == existing.len();
        }
        j += 1;
    }
    merged.extend_from_slice(&existing[e..]);
    if !changed {
        // Only removals of absent keys: the leaf stays as it is.
        let change = Change::Node {
            id,
            fill: node.fill(),
        };
        return Ok((change, j));
    }
    if merged.is_empty() {
        drop(page);
        pager.free(id)?;
        return Ok((Change::Empty, j));
    }
    // As an ascending run of inserts cuts (DESIGN.md section 4, "Deferred
    // index writes"): after the last new entry, so the run's next round
    // goes on filling the left leaf and the right keeps its fill; packed
    // left when the run only appends.
    let bias = if appends_only {
        Bias::PackLeft
    } else {
        Bias::After(last_new)
    };
    let change = leaf::write(pager, id, &merged, bias)?;
    // This round's writes are in: the leaves it leaves behind are done
    // with until the next drain.
    match &change {
        Change::Split { left, right, .. } => {
            pager.done_with(*left);
            if !full {
                pager.done_with(*right);
            }
        }
        Change::Node { id, .. } if !full => pager.done_with(*id),
        _ => {}
    }
    Ok((change, j))
}

/// Whether leaf `node`'s cells and the cell of write `i`, appended to
/// them, would pass a page (counting the write's key after the leaf's
/// prefix; a delete counts nothing).
fn leaf_is_full<W: SortedWrites + ?Sized>(
    node: &Node<'_>,
    writes: &W,
    i: usize,
    page_size: usize,
) -> Result<bool> {
    let Some((key, Some(value))) = writes.write(i) else {
        return Ok(false);
    };
    let inline = stays_inline(page_size, key, value.len())?;
    let suffix = key.len().saturating_sub(node.prefix().len());
    Ok(node.len() + stored_entry_size(suffix, value.len(), inline) > page_size)
}

/// A round of writes from `i` on that all sort above every entry of leaf
/// `id` (`node`), which is full ([`leaf_is_full`]): they go into a new leaf
/// to its right, up to a page of them, and the leaf stays as it is (a load
/// in key order then writes each leaf once, none of them rebuilt). `None`,
/// having written nothing, when the writes below `high` are too few to
/// give the new leaf the minimum fill.
fn fresh_leaf<W: SortedWrites + ?Sized>(
    pager: &mut Pager,
    id: PageId,
    node: &Node<'_>,
    writes: &W,
    i: usize,
    high: Option<&[u8]>,
) -> Result<Option<(Change, usize)>> {
    let page_size = pager.page_size();
    // First how many writes fit, from their sizes alone: nothing (an
    // overflow value) is written unless the leaf is made.
    let (mut fill, mut count, mut j) = (LEAF_HEADER, 0, i);
    let mut first: Option<&[u8]> = None;
    let mut full = false;
    while let Some((key, value)) = writes.write(j) {
        if high.is_some_and(|h| key >= h) {
            break;
        }
        // A delete of a key above every entry removes nothing.
        if let Some(v) = value {
            let inline = stays_inline(page_size, key, v.len())?;
            let new_fill = fill + stored_entry_size(key.len(), v.len(), inline);
            let prefix = first.map_or(0, |f| node::common_prefix(f, key));
            if new_fill.saturating_sub(count * prefix) > page_size {
                full = true;
                break;
            }
            fill = new_fill;
            count += 1;
            first.get_or_insert(key);
        }
        j += 1;
    }
    if count == 0 || (!full && fill < min_fill(page_size)) {
        return Ok(None);
    }
    let mut entries = Vec::with_capacity(count);
    for k in i..j {
        if let Some((key, Some(v))) = writes.write(k) {
            let inline = stays_inline(page_size, key, v.len())?;
            entries.push(LeafEntry::new(
                KeyParts::whole(key),
                stored_value(pager, inline, v)?,
            ));
        }
    }
    let last = node.key(node.count() - 1)?.to_buf();
    let sep = node::shortest_separator(&last, entries[0].key.suffix);
    // A load goes on in the new leaf if it is not full: it takes a page's
    // room at once.
    let data = node::build_leaf_within(&entries, if full { 0 } else { page_size });
    // The sizes above count each key whole but the run's prefix once, as
    // a leaf stores them: never less than the leaf takes.
    debug_assert!(data.len() <= page_size, "{} bytes", data.len());
    let right = write_new(pager, KIND_LEAF, data)?;
    pager.done_with(id);
    if !full {
        pager.done_with(right);
    }
    Ok(Some((
        Change::Split {
            left: id,
            sep,
            right,
        },
        j,
    )))
}

/// Write `i` put into leaf `id` (page `page`) as [`BTree::insert`] or
/// [`BTree::remove`] would (a splice when it can), for the `below_high`
/// (fewer than [`SHORT_RUN`]) writes that reach this leaf.
fn put_one<W: SortedWrites + ?Sized>(
    pager: &mut Pager,
    id: PageId,
    page: Rc<Page>,
    writes: &W,
    i: usize,
    below_high: usize,
    olds: &mut Vec<Old>,
) -> Result<(Change, usize)> {
    let write = writes.write(i).filter(|_| below_high > 0);
    let Some((key, value)) = write else {
        // The descent's separators put the write here, the leaf's bound
        // does not: damaged order, and no progress to make.
        return Err(BTreeError::corrupted(
            id,
            "a write sorts outside the leaf its descent reached",
        ));
    };
    let change = match value {
        Some(v) => {
            let mut joined = Vec::new();
            let value = make_value(pager, key, &[v], &mut joined)?;
            let (change, old) = leaf::put(pager, id, page, key, value, true)?;
            olds.extend(old);
            change
        }
        None => {
            let fill = Node::of_page(id, &page)?.fill();
            match leaf::remove(pager, id, page, key)? {
                Some((change, old)) => {
                    olds.push(old);
                    change
                }
                None => Change::Node { id, fill },
            }
        }
    };
    Ok((change, i + 1))
}
