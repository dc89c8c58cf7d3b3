//! Edits of a node's bytes: replacing, inserting or removing one cell
//! (copying, or in place in a page the transaction owns), and repointing a
//! branch's child.
//!
//! An edit keeps the header as it is, so it may only insert cells encoded
//! for the node's format and prefix, and must leave a format-2 leaf's
//! prefix the longest common prefix of its keys (the tree checks both and
//! rebuilds the node when the prefix changes).

use super::{NewCell, Node, SLOT};
use crate::error::{BTreeError, Result};
use moonvault_pager::PageId;

impl Node<'_> {
    /// The bytes an edit of `remove` cells at `at` replaces: `start..end`
    /// in the cell area (empty for an insert), checked against the layout.
    /// Cells lie in slot order, so a run of them is one block.
    fn edit_range(&self, at: usize, remove: usize) -> Result<(usize, usize)> {
        let n = self.meta.count;
        if at > n || remove > n - at {
            return Err(self.corrupt(format!("edit at {at} of a node with {n} cells")));
        }
        let start = if at < n {
            self.offset(at)?
        } else {
            self.data.len()
        };
        let end = match remove {
            0 => start,
            1 => self.cell_at(start)?.end,
            _ if at + remove == n => self.data.len(),
            _ => self.offset(at + remove)?,
        };
        if start < self.slots_end() || end > self.data.len() || end < start {
            return Err(self.corrupt("cell offsets out of order"));
        }
        Ok((start, end))
    }
}

/// A copy of `node` with `remove` cells at `at` replaced by `insert`: the
/// O(page size) edit behind every leaf insert and delete (and, removing
/// the cells from `at` on, the left half of a split that keeps them).
/// Two block copies plus an offset fix-up per slot; on a damaged layout the
/// result is damaged too but nothing panics.
pub(crate) fn splice(
    node: &Node<'_>,
    at: usize,
    remove: usize,
    insert: Option<NewCell<'_>>,
) -> Result<Vec<u8>> {
    let n = node.meta.count;
    let data = node.data;
    let (start, end) = node.edit_range(at, remove)?;
    let slots_end = node.slots_end();
    let ins_len = insert.map_or(0, |c| c.len());
    let new_n = n - remove + usize::from(insert.is_some());
    let header = node.meta.header;
    let new_slots_end = header + SLOT * new_n;
    let new_len = data.len() - (end - start) + ins_len + SLOT * new_n - SLOT * n;
    // Cells before `at` move by the slot directory's growth; cells after it
    // also by the size change of the edited cell. Offsets are computed in
    // isize and range-checked once (every new offset lies below new_len).
    if new_len > usize::from(u16::MAX) + 1 {
        return Err(node.corrupt("edited node overflows 16-bit offsets"));
    }
    let shift_before = (SLOT * new_n) as isize - (SLOT * n) as isize;
    let shift_after = shift_before + ins_len as isize - (end - start) as isize;
    // Only the header and slot directory are written in place; the cells
    // are appended (no zeroing of a page-sized buffer).
    let mut out = Vec::with_capacity(new_len);
    out.extend_from_slice(&data[..header]);
    out[0..2].copy_from_slice(&(new_n as u16).to_le_bytes());
    out.resize(new_slots_end, 0);
    let slots = &data[header..slots_end];
    let mut bad = false;
    {
        let (old_before, old_after) = slots.split_at(SLOT * at);
        let old_after = old_after.get(SLOT * remove..).unwrap_or_default();
        let new_slots = &mut out[header..new_slots_end];
        let (new_before, rest) = new_slots.split_at_mut(SLOT * at);
        let shift = |dst: &mut [u8], src: &[u8], by: isize, bad: &mut bool| {
            // Written for the vectoriser: plain loads, adds and stores, and
            // one accumulated range flag instead of an early return.
            let by = by as i32;
            let mut out_of_range = 0u32;
            for (d, s) in dst.chunks_exact_mut(SLOT).zip(src.chunks_exact(SLOT)) {
                let off = (i32::from(s[0]) | (i32::from(s[1]) << 8)) + by;
                out_of_range |= (off as u32) >> 16;
                d[0] = off as u8;
                d[1] = (off >> 8) as u8;
            }
            *bad |= out_of_range != 0;
        };
        shift(new_before, old_before, shift_before, &mut bad);
        let rest = if insert.is_some() {
            let (slot, rest) = rest.split_at_mut(SLOT);
            slot.copy_from_slice(&((start as isize + shift_before) as u16).to_le_bytes());
            rest
        } else {
            rest
        };
        shift(rest, old_after, shift_after, &mut bad);
    }
    if bad {
        return Err(node.corrupt("cell offset out of range"));
    }
    out.extend_from_slice(&data[slots_end..start]);
    if let Some(cell) = insert {
        let at = out.len();
        out.resize(at + ins_len, 0);
        cell.write(&mut out[at..]);
    }
    out.extend_from_slice(&data[end..]);
    Ok(out)
}

/// [`splice`] done to the node's own bytes: the edit of a page this
/// transaction already owns, without allocating or copying a page. The
/// result is byte-for-byte what `splice` returns (tests compare them).
/// Returns the new size. On a damaged layout the data may be left damaged
/// (the caller's transaction is then failed and rolled back), but nothing
/// panics.
pub(crate) fn splice_in_place(
    id: PageId,
    kind: u8,
    data: &mut Vec<u8>,
    at: usize,
    remove: usize,
    insert: Option<NewCell<'_>>,
) -> Result<usize> {
    let (n, header, start, end) = {
        let node = Node::parse(id, kind, data)?;
        let (start, end) = node.edit_range(at, remove)?;
        (node.meta.count, node.meta.header, start, end)
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
    use super::super::{leaf_cell, ValueRef, KIND_LEAF_V2};
    use super::*;

    use super::super::tests::leaf;

    #[test]
    fn splice_equals_rebuild() {
        // Keys share the prefix "k" before and after every edit.
        let base = [(&b"kb"[..], &b"1"[..]), (b"kd", b"22"), (b"kf", b"333")];
        let data = leaf(&base);
        let node = Node::parse(1, KIND_LEAF_V2, &data).unwrap();
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
            let node = Node::parse(1, KIND_LEAF_V2, &data).unwrap();
            assert_eq!(node.prefix(), b"pq");
            let cell = leaf_cell(
                3,
                (b"", b"x"),
                ValueRef::Inline(&vec![9; rand(50) as usize]),
            );
            for at in 0..=count {
                for remove in 0..=usize::from(at < count) {
                    for insert in [None, Some(NewCell::Raw(&cell))] {
                        let want = splice(&node, at, remove, insert).unwrap();
                        let mut got = data.clone();
                        let len =
                            splice_in_place(1, KIND_LEAF_V2, &mut got, at, remove, insert).unwrap();
                        assert_eq!(got, want, "at {at} remove {remove} insert {insert:?}");
                        assert_eq!(len, want.len());
                    }
                }
            }
        }
    }
}
