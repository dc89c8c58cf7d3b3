//! Edits of a node's bytes: replacing, inserting or removing one cell
//! (copying, or in place in a page the transaction owns), and repointing a
//! branch's child.
//!
//! An edit keeps the header as it is, so it may only insert cells encoded
//! for the node's format and prefix, and must leave a format-2 leaf's
//! prefix the longest common prefix of its keys (the tree checks both and
//! rebuilds the node when the prefix changes).
//!
//! A leaf edit always leaves a leaf of kind 5 (slot directory last): a
//! copy of a kind-4 leaf is laid out anew, and only kind 5 is edited in
//! place. There an edit moves the cells after it and the slot directory,
//! so an append writes one cell and moves `2n` bytes; with the slot
//! directory first (kind 4, branches) every edit moves every cell.

use super::{Format, NewCell, Node, KIND_BRANCH, KIND_LEAF, LEAF_HEADER, SLOT};
use crate::error::{BTreeError, Result};
use moonvault_pager::PageId;
use smallvec::SmallVec;

impl Node<'_> {
    /// The bytes an edit of `remove` cells at `at` replaces: `start..end`
    /// in the cell area (empty for an insert), checked against the layout.
    /// Cells lie in slot order, so a run of them is one block.
    fn edit_range(&self, at: usize, remove: usize) -> Result<(usize, usize)> {
        let n = self.count();
        if at > n || remove > n - at {
            return Err(self.corrupt(format!("edit at {at} of a node with {n} cells")));
        }
        let start = if at < n {
            self.offset(at)?
        } else {
            self.cells_end()
        };
        let end = match remove {
            0 => start,
            1 => self.cell_at(start)?.end,
            _ if at + remove == n => self.cells_end(),
            _ => self.offset(at + remove)?,
        };
        if start < self.cells_start() || end > self.cells_end() || end < start {
            return Err(self.corrupt("cell offsets out of order"));
        }
        Ok((start, end))
    }
}

/// A copy of format-2 leaf `node` with `remove` cells at `at` replaced by
/// `insert`: the edit behind every leaf insert and delete of a page the
/// transaction does not own (and, removing the cells from `at` on, the
/// left half of a split that keeps them). The copy is laid out as kind 5
/// ([`KIND_LEAF`]) whatever the leaf's kind: the cells before the edit,
/// the new cell, the cells after it, then the slot directory. Branches and
/// format-1 leaves are never spliced (a branch's separator goes in place
/// or into a rebuilt branch; a format-1 leaf is rebuilt). On a damaged
/// layout the result is damaged too but nothing panics.
pub(crate) fn splice(
    node: &Node<'_>,
    at: usize,
    remove: usize,
    insert: Option<NewCell<'_>>,
) -> Result<Vec<u8>> {
    if node.format() != Format::LeafV2 {
        return Err(node.corrupt("only a format-2 leaf is spliced"));
    }
    let n = node.count();
    let data = node.data;
    let (start, end) = node.edit_range(at, remove)?;
    let (cells, cells_end) = (node.cells_start(), node.cells_end());
    let head = LEAF_HEADER + node.plen();
    let ins_len = insert.map_or(0, |c| c.len());
    let new_n = n - remove + usize::from(insert.is_some());
    let new_cells_end = head + (start - cells) + ins_len + (cells_end - end);
    let new_len = new_cells_end + SLOT * new_n;
    if new_len > usize::from(u16::MAX) + 1 {
        return Err(node.corrupt("edited node overflows 16-bit offsets"));
    }
    // Parsing checked that the header, prefix and slot directory fit, and
    // `edit_range` that `cells <= start <= end <= cells_end`.
    let mut out = Vec::with_capacity(new_len);
    out.extend_from_slice(&data[..head]);
    out[0..2].copy_from_slice(&(new_n as u16).to_le_bytes());
    out.extend_from_slice(&data[cells..start]);
    if let Some(cell) = insert {
        let at = out.len();
        out.resize(at + ins_len, 0);
        cell.write(&mut out[at..]);
    }
    out.extend_from_slice(&data[end..cells_end]);
    out.resize(new_len, 0);
    // Cells before `at` move by where the cells start; cells after it also
    // by the size change of the edited cell.
    let shift_before = head as isize - cells as isize;
    let shift_after = shift_before + ins_len as isize - (end - start) as isize;
    let slots = &data[node.slots_start()..node.slot(n)];
    let (old_before, old_after) = slots.split_at(SLOT * at);
    let old_after = old_after.get(SLOT * remove..).unwrap_or_default();
    let (new_before, rest) = out[new_cells_end..].split_at_mut(SLOT * at);
    let mut bad = shifted_slots(new_before, old_before, shift_before);
    let rest = match insert {
        Some(_) => {
            let (slot, rest) = rest.split_at_mut(SLOT);
            slot.copy_from_slice(&((start as isize + shift_before) as u16).to_le_bytes());
            rest
        }
        None => rest,
    };
    bad |= shifted_slots(rest, old_after, shift_after);
    if bad {
        return Err(node.corrupt("cell offset out of range"));
    }
    Ok(out)
}

/// [`splice`] done to the node's own bytes: the edit of a page this
/// transaction already owns, without allocating or copying a page. The
/// result is byte-for-byte what `splice` returns (tests compare them).
/// Returns the new size. Only for branches and leaves of kind 5 (a kind-4
/// leaf is copied into kind 5 by [`splice`]). On a damaged layout the
/// data may be left damaged (the caller's transaction is then failed and
/// rolled back), but nothing panics.
pub(crate) fn splice_in_place(
    id: PageId,
    kind: u8,
    data: &mut Vec<u8>,
    at: usize,
    remove: usize,
    insert: Option<NewCell<'_>>,
) -> Result<usize> {
    match kind {
        KIND_LEAF => return splice_leaf_in_place(id, data, at, remove, insert),
        KIND_BRANCH => {}
        _ => {
            return Err(BTreeError::corrupted(
                id,
                format!("a page of kind {kind} is not edited in place"),
            ))
        }
    }
    let (n, header, start, end) = {
        let node = Node::parse(id, kind, data)?;
        let (start, end) = node.edit_range(at, remove)?;
        (node.count(), node.slots_start(), start, end)
    };
    let corrupt = |detail: &str| BTreeError::corrupted(id, detail);
    let ins_len = insert.map_or(0, |c| c.len());
    let new_n = n - remove + usize::from(insert.is_some());
    let slots_end = header + SLOT * n;
    let new_slots_end = header + SLOT * new_n;
    let old_len = data.len();
    // Both terms are non-negative: start >= slots_end and end <= old_len.
    let new_len = new_slots_end + (start - slots_end) + ins_len + (old_len - end);
    if new_len > usize::from(u16::MAX) + 1 {
        return Err(corrupt("edited node overflows 16-bit offsets"));
    }
    // Cells before `at` move by the slot directory's growth `sd`; the
    // edited cell lands at `start + sd`, the cells after it at `tail_to`.
    let sd = new_slots_end as isize - slots_end as isize;
    let new_start = new_slots_end + (start - slots_end);
    let tail_to = new_start + ins_len;
    let shift_after = tail_to as isize - end as isize;
    // Slot entries from `at + remove` on move to index `at + inserted`.
    let moved_from = header + SLOT * (at + remove);
    let moved_to = header + SLOT * (at + usize::from(insert.is_some()));
    if new_len >= old_len {
        // Growing (sd is 0 or +2): make room at the end, move the tail
        // right, then the cells before `at`, then the slot entries into the
        // bytes the cells vacated.
        data.resize(new_len, 0);
        data.copy_within(end..old_len, tail_to);
        data.copy_within(slots_end..start, new_slots_end);
        data.copy_within(moved_from..slots_end, moved_to);
    } else {
        // Shrinking (sd <= 0): the slot entries first (the cells then move
        // left over the vacated entries), then the cells.
        data.copy_within(moved_from..slots_end, moved_to);
        data.copy_within(slots_end..start, new_slots_end);
        data.copy_within(end..old_len, tail_to);
    }
    let dst = data
        .get_mut(new_start..tail_to)
        .ok_or_else(|| corrupt("edited cell overruns the node"))?;
    if let Some(cell) = insert {
        cell.write(dst);
    }
    data.truncate(new_len);
    data.get_mut(0..2)
        .ok_or_else(|| corrupt("node shorter than its header"))?
        .copy_from_slice(&(new_n as u16).to_le_bytes());
    let slots = data
        .get_mut(header..new_slots_end)
        .ok_or_else(|| corrupt("slot directory overruns the node"))?;
    let (before, rest) = slots.split_at_mut(SLOT * at);
    let mut bad = shift_slots(before, sd);
    let rest = if insert.is_some() {
        let (slot, rest) = rest.split_at_mut(SLOT);
        slot.copy_from_slice(&(new_start as u16).to_le_bytes());
        rest
    } else {
        rest
    };
    bad |= shift_slots(rest, shift_after);
    if bad {
        return Err(corrupt("cell offset out of range"));
    }
    Ok(new_len)
}

/// [`splice_in_place`] of a leaf of kind 5. Three blocks move: the cells
/// after the edit and the slot entries before it by the size change of
/// the cells, the slot entries after it also by the change of the slot
/// count. When all three move the same way they are moved in place, the
/// farthest first (an append moves only the slot directory); otherwise
/// (an edit that removes more cells than it inserts yet grows) the slot
/// directory is kept aside first.
fn splice_leaf_in_place(
    id: PageId,
    data: &mut Vec<u8>,
    at: usize,
    remove: usize,
    insert: Option<NewCell<'_>>,
) -> Result<usize> {
    let corrupt = |detail: &str| BTreeError::corrupted(id, detail);
    let ins_len = insert.map_or(0, |c| c.len());
    let inserted = usize::from(insert.is_some());
    let (n, start, end, cells_end) = {
        let node = Node::parse(id, KIND_LEAF, data)?;
        let (start, end) = node.edit_range(at, remove)?;
        (node.count(), start, end, node.cells_end())
    };
    let new_n = n - remove + inserted;
    let new_cells_end = cells_end - (end - start) + ins_len;
    let new_len = new_cells_end + SLOT * new_n;
    if new_len > usize::from(u16::MAX) + 1 {
        return Err(corrupt("edited node overflows 16-bit offsets"));
    }
    let old_len = data.len();
    // Sources and destinations: the tail cells, the slots before `at`, the
    // slots after the removed ones.
    let cells_to = start + ins_len;
    let before_from = cells_end..cells_end + SLOT * at;
    let after_from = cells_end + SLOT * (at + remove)..old_len;
    let after_to = new_cells_end + SLOT * (at + inserted);
    let delta = new_cells_end as isize - cells_end as isize;
    let after_delta = after_to as isize - after_from.start as isize;
    if delta >= 0 && after_delta >= 0 {
        // All move right: the farthest first, into room made at the end.
        data.resize(new_len.max(old_len), 0);
        data.copy_within(after_from, after_to);
        data.copy_within(before_from, new_cells_end);
        data.copy_within(end..cells_end, cells_to);
    } else if delta <= 0 && after_delta <= 0 {
        // All move left: the nearest first.
        data.copy_within(end..cells_end, cells_to);
        data.copy_within(before_from, new_cells_end);
        data.copy_within(after_from, after_to);
    } else {
        let after: SmallVec<[u8; 512]> = SmallVec::from_slice(&data[after_from]);
        let before: SmallVec<[u8; 512]> = SmallVec::from_slice(&data[before_from]);
        data.resize(new_len.max(old_len), 0);
        data.copy_within(end..cells_end, cells_to);
        data[new_cells_end..new_cells_end + before.len()].copy_from_slice(&before);
        data[after_to..after_to + after.len()].copy_from_slice(&after);
    }
    data.truncate(new_len);
    if let Some(cell) = insert {
        cell.write(&mut data[start..cells_to]);
        let slot = new_cells_end + SLOT * at;
        data[slot..slot + SLOT].copy_from_slice(&(start as u16).to_le_bytes());
    }
    data[0..2].copy_from_slice(&(new_n as u16).to_le_bytes());
    // Cells before the edit stay where they are; the ones after it moved.
    if shift_slots(&mut data[after_to..], delta) {
        return Err(corrupt("cell offset out of range"));
    }
    Ok(new_len)
}

/// Write into `dst` each 16-bit slot offset of `src` plus `by`; true if
/// any result falls outside `0..=u16::MAX` (written for the vectoriser:
/// plain loads, adds and stores, one accumulated flag, no early exit).
fn shifted_slots(dst: &mut [u8], src: &[u8], by: isize) -> bool {
    let by = by as i32;
    let mut out_of_range = 0u32;
    for (d, s) in dst.chunks_exact_mut(SLOT).zip(src.chunks_exact(SLOT)) {
        let off = (i32::from(s[0]) | (i32::from(s[1]) << 8)) + by;
        out_of_range |= (off as u32) >> 16;
        d[0] = off as u8;
        d[1] = (off >> 8) as u8;
    }
    out_of_range != 0
}

/// Add `by` to every 16-bit slot offset in `slots`; true if any result
/// falls outside `0..=u16::MAX` (written for the vectoriser: no early exit).
fn shift_slots(slots: &mut [u8], by: isize) -> bool {
    if by == 0 {
        return false;
    }
    let by = by as i32;
    let mut out_of_range = 0u32;
    for d in slots.chunks_exact_mut(SLOT) {
        let off = (i32::from(d[0]) | (i32::from(d[1]) << 8)) + by;
        out_of_range |= (off as u32) >> 16;
        d[0] = off as u8;
        d[1] = (off >> 8) as u8;
    }
    out_of_range != 0
}

/// A copy of branch `node` with child `i` pointing at `child`.
pub(crate) fn set_child(node: &Node<'_>, i: usize, child: PageId) -> Result<Vec<u8>> {
    if node.is_leaf() {
        return Err(node.corrupt("child set in a leaf"));
    }
    let at = if i == 0 { 4 } else { node.offset(i - 1)? + 2 };
    let mut out = node.data.to_vec();
    out.get_mut(at..at + 8)
        .ok_or_else(|| node.corrupt(format!("child {i} overruns the node")))?
        .copy_from_slice(&child.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{leaf_cell, ValueRef, KIND_LEAF};
    use super::*;

    use super::super::tests::leaf;

    #[test]
    fn splice_equals_rebuild() {
        // Keys share the prefix "k" before and after every edit.
        let base = [(&b"kb"[..], &b"1"[..]), (b"kd", b"22"), (b"kf", b"333")];
        let data = leaf(&base);
        let node = Node::parse(1, KIND_LEAF, &data).unwrap();
        assert_eq!(node.prefix(), b"k");
        let new = leaf_cell(2, (b"", b"c"), ValueRef::Inline(b"4444"));
        for at in 0..=3 {
            let mut expect = base.to_vec();
            expect.insert(at, (b"kc", b"4444"));
            assert_eq!(
                splice(&node, at, 0, Some(NewCell::Raw(&new))).unwrap(),
                leaf(&expect)
            );
        }
        let middle = splice(&node, 1, 1, None).unwrap();
        assert_eq!(middle, leaf(&[base[0], base[2]]));
        let replaced = splice(&node, 1, 1, Some(NewCell::Raw(&new))).unwrap();
        assert_eq!(replaced, leaf(&[base[0], (b"kc", b"4444"), base[2]]));
    }

    /// A leaf of kind 4 (store formats 2 to 4) comes out of any splice as
    /// the kind-5 leaf of its new entries, and is never edited in place.
    #[test]
    fn a_kind_four_leaf_is_spliced_into_kind_five() {
        use super::super::{tests::leaf_v2, KIND_LEAF_V2};
        let base = [(&b"kb"[..], &b"1"[..]), (b"kd", b"22"), (b"kf", b"333")];
        let data = leaf_v2(&base);
        let node = Node::parse(1, KIND_LEAF_V2, &data).unwrap();
        let new = leaf_cell(2, (b"", b"c"), ValueRef::Inline(b"4444"));
        for at in 0..=3 {
            for remove in 0..=usize::from(at < 3) {
                for insert in [None, Some(NewCell::Raw(&new))] {
                    let mut expect = base.to_vec();
                    expect.drain(at..at + remove);
                    if insert.is_some() {
                        expect.insert(at, (b"kc", b"4444"));
                    }
                    let got = splice(&node, at, remove, insert).unwrap();
                    assert_eq!(got, leaf(&expect), "at {at} remove {remove}");
                    Node::parse(1, KIND_LEAF, &got).unwrap().validate().unwrap();
                }
            }
        }
        let mut bytes = data.clone();
        assert!(splice_in_place(1, KIND_LEAF_V2, &mut bytes, 0, 1, None).is_err());
    }

    #[test]
    fn branch_separator_splice_equals_rebuild() {
        use super::super::{build_branch, KIND_BRANCH};
        let keys: [&[u8]; 4] = [b"b", b"dd", b"f", b"hhh"];
        let cells: Vec<(&[u8], PageId)> = keys.iter().zip(10..).map(|(k, c)| (*k, c)).collect();
        let data = build_branch(9, &cells);
        for at in 0..=cells.len() {
            let mut expect = cells.clone();
            expect.insert(at, (b"sep", 99));
            let mut got = data.clone();
            let cell = NewCell::Branch {
                key: b"sep",
                child: 99,
            };
            let len = splice_in_place(1, KIND_BRANCH, &mut got, at, 0, Some(cell)).unwrap();
            assert_eq!(got, build_branch(9, &expect), "at {at}");
            assert_eq!(len, got.len());
        }
    }

    #[test]
    fn splice_in_place_equals_splice() {
        let mut seed = 0x9E37_79B9u64;
        let mut rand = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let count = 2 + rand(12) as usize;
            let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..count)
                .map(|i| {
                    let last = if i == 0 {
                        b'a'
                    } else if i == count - 1 {
                        b'z'
                    } else {
                        b'c' + i as u8
                    };
                    (vec![b'p', b'q', last], vec![7; rand(40) as usize])
                })
                .collect();
            let refs: Vec<(&[u8], &[u8])> = entries
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_slice()))
                .collect();
            let data = leaf(&refs);
            let node = Node::parse(1, KIND_LEAF, &data).unwrap();
            assert_eq!(node.prefix(), b"pq");
            let cell = leaf_cell(
                3,
                (b"", b"x"),
                ValueRef::Inline(&vec![9; rand(50) as usize]),
            );
            for at in 0..=count {
                for remove in 0..=(count - at).min(3) {
                    for insert in [None, Some(NewCell::Raw(&cell))] {
                        let want = splice(&node, at, remove, insert).unwrap();
                        let mut got = data.clone();
                        let len =
                            splice_in_place(1, KIND_LEAF, &mut got, at, remove, insert).unwrap();
                        assert_eq!(got, want, "at {at} remove {remove} insert {insert:?}");
                        assert_eq!(len, want.len());
                    }
                }
            }
        }
    }
}
