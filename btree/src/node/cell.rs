//! Cells: the varints and value words of leaf cells, the size rules every
//! cell obeys, and the encoders.

use moonvault_pager::PageId;

/// Bytes of a leaf's fixed header (count, prefix length or reserved).
pub(crate) const LEAF_HEADER: usize = 4;
/// Bytes of a branch's header (count, reserved, child 0).
pub(crate) const BRANCH_HEADER: usize = 12;
/// Bytes of one slot directory entry.
pub(crate) const SLOT: usize = 2;
/// Bytes of a format-1 leaf cell before its key (key length u16, value
/// length u32, value kind u8). Also the most a format-2 cell spends on its
/// two varints, which is why the size rules below hold for both formats.
pub(crate) const LEAF_V1_CELL_HEADER: usize = 7;
/// Bytes of a branch cell before its key.
pub(crate) const BRANCH_CELL_HEADER: usize = 10;
/// Bytes an overflow reference takes in a leaf cell.
pub(crate) const OVERFLOW_REF: usize = 8;
/// Format-1 value kinds.
pub(crate) const V1_INLINE: u8 = 0;
pub(crate) const V1_OVERFLOW: u8 = 1;
/// Longest varint accepted: 5 bytes carry the 33 bits of a value word.
const VARINT_MAX: usize = 5;

/// The longest key for `page_size`.
pub(crate) fn max_key_len(page_size: usize) -> usize {
    (page_size / 4).saturating_sub(24)
}

/// Nodes whose fill ([`super::Node::fill`]) is below this get merged with
/// or refilled from a sibling; no non-root node's fill is lower.
pub(crate) fn min_fill(page_size: usize) -> usize {
    page_size / 4
}

/// Whether a value of `value_len` bytes stays inline next to a key of
/// `key_len` bytes. The rule of format 1, kept as is so that both formats
/// agree on every value (a format-2 cell is never larger than the format-1
/// cell of the same entry).
pub(crate) fn inline_fits(page_size: usize, key_len: usize, value_len: usize) -> bool {
    SLOT + LEAF_V1_CELL_HEADER + key_len + value_len <= page_size / 4
}

/// Bytes of `v` as a varint.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// The varint at `at` and its length: `None` if it is truncated, longer
/// than 5 bytes, or not in its shortest form (the encoding is canonical).
#[inline]
pub(crate) fn varint_at(data: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *data.get(at)?;
    if first < 0x80 {
        return Some((u64::from(first), 1));
    }
    varint_slow(data, at)
}

#[cold]
fn varint_slow(data: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..VARINT_MAX {
        let b = *data.get(at + i)?;
        v |= u64::from(b & 0x7F) << (7 * i);
        if b < 0x80 {
            // A last byte of 0 would have been left out.
            return (b != 0).then_some((v, i + 1));
        }
    }
    None
}

/// A leaf entry's value as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueRef<'a> {
    /// The bytes are in the cell.
    Inline(&'a [u8]),
    /// The bytes are in an overflow chain starting at `head`.
    Overflow {
        /// First page of the chain.
        head: PageId,
        /// Total value length.
        len: usize,
    },
}

impl ValueRef<'_> {
    /// The value's length in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            ValueRef::Inline(v) => v.len(),
            ValueRef::Overflow { len, .. } => *len,
        }
    }

    /// The format-2 value word: length times two, plus one for a chain.
    pub(crate) fn word(&self) -> u64 {
        match self {
            ValueRef::Inline(v) => (v.len() as u64) << 1,
            ValueRef::Overflow { len, .. } => ((*len as u64) << 1) | 1,
        }
    }

    /// Bytes the value takes in a cell.
    pub(crate) fn stored_len(&self) -> usize {
        match self {
            ValueRef::Inline(v) => v.len(),
            ValueRef::Overflow { .. } => OVERFLOW_REF,
        }
    }
}

/// Decode a format-2 value word and the bytes after it (at `at` in
/// `data`): the value and the end of the cell. `None` if anything is out
/// of range (the caller names the problem).
#[inline(always)]
pub(crate) fn value_at(data: &[u8], at: usize) -> Option<(ValueRef<'_>, usize)> {
    // Words of one and two bytes (values under 8 KiB) decoded inline.
    let first = *data.get(at)?;
    let (word, start) = if first < 0x80 {
        (usize::from(first), at + 1)
    } else {
        match data.get(at + 1) {
            Some(&second) if second < 0x80 && second != 0 => {
                (usize::from(first & 0x7F) | usize::from(second) << 7, at + 2)
            }
            _ => return long_value_at(data, at),
        }
    };
    let len = word >> 1;
    if word & 1 == 0 {
        let end = start + len;
        Some((ValueRef::Inline(data.get(start..end)?), end))
    } else {
        chained_value(data, start, len)
    }
}

/// [`value_at`] for words of three bytes or more.
#[cold]
fn long_value_at(data: &[u8], at: usize) -> Option<(ValueRef<'_>, usize)> {
    let (word, n) = varint_at(data, at)?;
    let len = u32::try_from(word >> 1).ok()? as usize;
    let start = at + n;
    if word & 1 == 0 {
        let end = start.checked_add(len)?;
        Some((ValueRef::Inline(data.get(start..end)?), end))
    } else {
        chained_value(data, start, len)
    }
}

/// The overflow reference at `start` of a value of `len` bytes.
#[inline]
fn chained_value(data: &[u8], start: usize, len: usize) -> Option<(ValueRef<'_>, usize)> {
    let b = data.get(start..start + OVERFLOW_REF)?;
    let head = u64::from_le_bytes(<[u8; 8]>::try_from(b).ok()?);
    (head != 0).then_some((ValueRef::Overflow { head, len }, start + OVERFLOW_REF))
}

/// Bytes an entry takes in a format-2 leaf with an empty prefix, its slot
/// included: the entry's share of a node's fill. A node with prefix `p`
/// stores `entry_size - p` bytes for it (the prefix is not repeated), so
/// a node's size is `LEAF_HEADER + p + sum(entry_size - p)`.
///
/// At most a quarter page for any entry a tree accepts: the key length
/// varint takes at most 2 bytes (keys are under 16384 bytes), the value
/// word at most 3 for an inline value (under a quarter page) and 5 for a
/// chain, so never more than format 1's 7-byte header, and
/// [`inline_fits`] and [`max_key_len`] bound format 1's cells.
#[inline]
pub(crate) fn entry_size(key_len: usize, value: ValueRef<'_>) -> usize {
    SLOT + varint_len(key_len as u64) + key_len + varint_len(value.word()) + value.stored_len()
}

/// [`entry_size`] of a value of `len` bytes stored inline or, if not
/// `inline`, as an overflow chain (before the chain is written).
pub(crate) fn stored_entry_size(key_len: usize, len: usize, inline: bool) -> usize {
    let (word, stored) = if inline {
        ((len as u64) << 1, len)
    } else {
        (((len as u64) << 1) | 1, OVERFLOW_REF)
    };
    SLOT + varint_len(key_len as u64) + key_len + varint_len(word) + stored
}

/// A cell to put into a node: bytes as they are, or a format-2 leaf cell
/// written straight into the node from its parts (no buffer in between).
#[derive(Clone, Copy, Debug)]
pub(crate) enum NewCell<'a> {
    /// A whole cell.
    #[cfg_attr(not(test), allow(dead_code))]
    Raw(&'a [u8]),
    /// A leaf cell for a key of `key_len` bytes whose bytes after the
    /// node's prefix are `suffix`.
    Leaf {
        key_len: usize,
        suffix: &'a [u8],
        value: ValueRef<'a>,
    },
    /// A branch cell: separator `key` and the child holding the keys from
    /// it on.
    Branch { key: &'a [u8], child: PageId },
}

impl NewCell<'_> {
    /// The cell's bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            NewCell::Raw(cell) => cell.len(),
            NewCell::Leaf {
                key_len,
                suffix,
                value,
            } => leaf_cell_len(*key_len, suffix.len(), *value),
            NewCell::Branch { key, .. } => BRANCH_CELL_HEADER + key.len(),
        }
    }

    /// Write the cell to `out`, [`NewCell::len`] bytes long.
    #[inline]
    pub(crate) fn write(&self, out: &mut [u8]) {
        match self {
            NewCell::Raw(cell) => {
                if let Some(dst) = out.get_mut(..cell.len()) {
                    dst.copy_from_slice(cell);
                }
            }
            NewCell::Leaf {
                key_len,
                suffix,
                value,
            } => {
                write_leaf_cell(out, *key_len, (suffix, &[]), *value);
            }
            NewCell::Branch { key, child } => {
                if let Some(dst) = out.get_mut(..BRANCH_CELL_HEADER + key.len()) {
                    let (header, rest) = dst.split_at_mut(BRANCH_CELL_HEADER);
                    header[..2].copy_from_slice(&(key.len() as u16).to_le_bytes());
                    header[2..].copy_from_slice(&child.to_le_bytes());
                    rest.copy_from_slice(key);
                }
            }
        }
    }
}

/// A format-2 leaf cell (tests build nodes byte by byte with it).
#[cfg(test)]
pub(crate) fn leaf_cell(key_len: usize, suffix: (&[u8], &[u8]), value: ValueRef<'_>) -> Vec<u8> {
    let mut cell = vec![0; leaf_cell_len(key_len, suffix.0.len() + suffix.1.len(), value)];
    write_leaf_cell(&mut cell, key_len, suffix, value);
    cell
}

/// Bytes of the format-2 cell [`write_leaf_cell`] writes.
#[inline]
pub(crate) fn leaf_cell_len(key_len: usize, suffix_len: usize, value: ValueRef<'_>) -> usize {
    varint_len(key_len as u64) + suffix_len + varint_len(value.word()) + value.stored_len()
}

/// Write a format-2 leaf cell for a key of `key_len` bytes whose bytes
/// after the node's prefix are `suffix` (up to two slices) at the start of
/// `out`, which is at least [`leaf_cell_len`] bytes long (the builders
/// size their buffers so; a shorter `out` gets a truncated cell, never a
/// panic). Returns the bytes written.
#[inline]
pub(crate) fn write_leaf_cell(
    out: &mut [u8],
    key_len: usize,
    suffix: (&[u8], &[u8]),
    value: ValueRef<'_>,
) -> usize {
    let mut at = put_varint(out, 0, key_len as u64);
    at = put_bytes(out, at, suffix.0);
    at = put_bytes(out, at, suffix.1);
    at = put_varint(out, at, value.word());
    match value {
        ValueRef::Inline(v) => put_bytes(out, at, v),
        ValueRef::Overflow { head, .. } => put_bytes(out, at, &head.to_le_bytes()),
    }
}

/// Write `v` as a varint at `at` in `out`: little-endian groups of 7 bits,
/// the high bit set on every byte but the last. Returns the offset after it.
#[inline(always)]
fn put_varint(out: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        if let Some(b) = out.get_mut(at) {
            *b = v as u8 | 0x80;
        }
        at += 1;
        v >>= 7;
    }
    if let Some(b) = out.get_mut(at) {
        *b = v as u8;
    }
    at + 1
}

/// Copy `part` to `at` in `out`; the offset after it.
#[inline(always)]
fn put_bytes(out: &mut [u8], at: usize, part: &[u8]) -> usize {
    let end = at + part.len();
    if !part.is_empty() {
        if let Some(dst) = out.get_mut(at..end) {
            dst.copy_from_slice(part);
        }
    }
    end
}

/// Bytes a branch cell for a key of `key_len` bytes adds, slot included.
pub(crate) fn branch_entry_size(key_len: usize) -> usize {
    SLOT + BRANCH_CELL_HEADER + key_len
}

/// A format-1 leaf cell (tests build old-format nodes with it; moonvault
/// no longer writes them).
#[cfg(test)]
pub(crate) fn leaf_cell_v1(key: &[u8], value: ValueRef<'_>) -> Vec<u8> {
    let (kind, payload) = match value {
        ValueRef::Inline(v) => (V1_INLINE, v.to_vec()),
        ValueRef::Overflow { head, .. } => (V1_OVERFLOW, head.to_le_bytes().to_vec()),
    };
    let mut cell = Vec::new();
    cell.extend_from_slice(&(key.len() as u16).to_le_bytes());
    cell.extend_from_slice(&(value.len() as u32).to_le_bytes());
    cell.push(kind);
    cell.extend_from_slice(key);
    cell.extend_from_slice(&payload);
    cell
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_are_canonical() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            (1 << 21) - 1,
            1 << 21,
            u64::from(u32::MAX) << 1 | 1,
        ] {
            let mut bytes = [0u8; VARINT_MAX];
            let n = put_varint(&mut bytes, 0, v);
            let buf = &bytes[..n];
            assert_eq!(buf.len(), varint_len(v), "{v}");
            assert_eq!(varint_at(buf, 0), Some((v, buf.len())));
            assert_eq!(varint_at(&buf[..buf.len() - 1], 0), None, "truncated");
        }
        // Non-minimal forms and overlong varints are rejected.
        assert_eq!(varint_at(&[0x80, 0x00], 0), None);
        assert_eq!(varint_at(&[0x81, 0x80, 0x00], 0), None);
        assert_eq!(varint_at(&[0xFF; 6], 0), None);
        assert_eq!(
            varint_at(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F], 0),
            Some((u64::from(u32::MAX), 5))
        );
    }

    #[test]
    fn cells_are_never_larger_than_format_one_cells() {
        for page in [1024usize, 4096, 65536] {
            let max_key = max_key_len(page);
            for key_len in [0, 1, 127, 128, max_key] {
                for value_len in [0usize, 1, 63, 64, 200, page / 4, page, 1 << 31] {
                    let zeros = vec![0u8; value_len.min(page)];
                    let value = if inline_fits(page, key_len, value_len) {
                        ValueRef::Inline(&zeros[..value_len])
                    } else {
                        ValueRef::Overflow {
                            head: 1,
                            len: value_len,
                        }
                    };
                    let v2 = entry_size(key_len, value);
                    let stored = value.stored_len();
                    let v1 = SLOT + LEAF_V1_CELL_HEADER + key_len + stored;
                    assert!(v2 <= v1 && v1 <= page / 4, "{page} {key_len} {value_len}");
                }
            }
        }
    }

    #[test]
    fn value_words_decode() {
        let cell = leaf_cell(3, (b"a", b"bc"), ValueRef::Inline(b"xyz"));
        assert_eq!(cell.as_slice(), [3, b'a', b'b', b'c', 6, b'x', b'y', b'z']);
        assert_eq!(
            value_at(&cell, 4),
            Some((ValueRef::Inline(&b"xyz"[..]), cell.len()))
        );
        let chain = ValueRef::Overflow { head: 9, len: 5000 };
        let cell = leaf_cell(1, (b"", b"k"), chain);
        assert_eq!(value_at(&cell, 2), Some((chain, cell.len())));
        assert_eq!(entry_size(1, chain), SLOT + cell.len());
        // A null chain head is not a value.
        let null = leaf_cell(1, (b"", b"k"), ValueRef::Overflow { head: 0, len: 5 });
        assert_eq!(value_at(&null, 2), None);
    }
}
