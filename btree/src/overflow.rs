//! Overflow chains: values too large to stay inline in a leaf.
//!
//! A value that does not fit inline (see `node::inline_fits`) is cut into
//! chunks of `page_size - 8` bytes, one per page of kind 3, linked in order
//! (each page: the next page id, u64 LE, 0 on the last; then its chunk).
//!
//! The format is drawn once, in DESIGN.md section 3, "The B-tree" (overflow pages);
//! this module is its only reader and writer.
//!
//! The leaf cell holds the first page id and the total length, so a reader
//! knows exactly how many pages and bytes to expect and a damaged or cyclic
//! chain is reported, never followed forever. Chains are immutable: a
//! replaced or removed value frees its whole chain and a new value gets a
//! new one, so copy-on-write never has to copy an overflow page.

use crate::error::{BTreeError, Result};
use crate::node::u64_at;
use moonvault_pager::{Page, PageId, Pager};
use std::rc::Rc;

/// Page kind of an overflow page.
pub const KIND_OVERFLOW: u8 = 3;
/// Bytes before the chunk in an overflow page.
const HEADER: usize = 8;

fn chunk_size(pager: &Pager) -> usize {
    pager.page_size() - HEADER
}

/// Store the concatenation of `parts` in a new chain; returns its first
/// page. Taking the value in parts lets a caller put an encoding header
/// before a large body without first copying both into one buffer.
pub(crate) fn write(pager: &mut Pager, parts: &[&[u8]]) -> Result<PageId> {
    let chunk = chunk_size(pager);
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let pages = len.div_ceil(chunk).max(1);
    let ids = (0..pages)
        .map(|_| pager.allocate())
        .collect::<std::result::Result<Vec<PageId>, _>>()?;
    let mut rest = parts.iter().copied().filter(|p| !p.is_empty());
    let mut current: &[u8] = &[];
    let mut left = len;
    for (i, &id) in ids.iter().enumerate() {
        let want = left.min(chunk);
        let next = ids.get(i + 1).copied().unwrap_or(0);
        let mut data = Vec::with_capacity(HEADER + want);
        data.extend_from_slice(&next.to_le_bytes());
        while data.len() < HEADER + want {
            if current.is_empty() {
                // `want` never passes what the parts still hold.
                match rest.next() {
                    Some(part) => current = part,
                    None => break,
                }
            }
            let take = current.len().min(HEADER + want - data.len());
            data.extend_from_slice(&current[..take]);
            current = &current[take..];
        }
        left -= want;
        pager.write(id, Page::new(KIND_OVERFLOW, data))?;
    }
    Ok(ids[0])
}

/// Follow the chain of a `len`-byte value from `head`, checking every page,
/// and hand each page id and chunk to `each`.
fn walk(
    pager: &Pager,
    head: PageId,
    len: usize,
    mut each: impl FnMut(PageId, &[u8]),
) -> Result<()> {
    let chunk = chunk_size(pager);
    let mut id = head;
    let mut prev = head;
    let mut remaining = len;
    // Every page carries at least one byte, so the walk ends; a damaged
    // length could still make a cyclic chain look endless, so cycles are
    // caught as they close (Brent: compare with a page saved at each power
    // of two steps).
    let (mut saved, mut power, mut steps) = (0, 1usize, 0usize);
    loop {
        if remaining == 0 {
            if id != 0 {
                return Err(BTreeError::corrupted(
                    prev,
                    format!("overflow chain continues past the {len}-byte value"),
                ));
            }
            return Ok(());
        }
        if id == 0 {
            return Err(BTreeError::corrupted(
                prev,
                format!("overflow chain ends {remaining} bytes short of the {len}-byte value"),
            ));
        }
        if id == saved {
            return Err(BTreeError::corrupted(
                id,
                "overflow chain loops back on itself",
            ));
        }
        let want = remaining.min(chunk);
        let (page, next) = chain_page(pager, id, want)?;
        let part = &page.data[HEADER..];
        each(id, part);
        remaining -= want;
        prev = id;
        id = next;
        steps += 1;
        if steps == power {
            saved = prev;
            power *= 2;
            steps = 0;
        }
    }
}

/// Page `id` of a chain, checked to be an overflow page holding exactly
/// `want` bytes; with the id of the page after it (0 after the last).
fn chain_page(pager: &Pager, id: PageId, want: usize) -> Result<(Rc<Page>, PageId)> {
    let page = pager.read(id)?;
    if page.kind != KIND_OVERFLOW {
        return Err(BTreeError::corrupted(
            id,
            format!("page of kind {} in an overflow chain", page.kind),
        ));
    }
    let next = u64_at(&page.data, 0)
        .ok_or_else(|| BTreeError::corrupted(id, "overflow page shorter than its header"))?;
    let held = page.data.len() - HEADER;
    if held != want {
        return Err(BTreeError::corrupted(
            id,
            format!("overflow page holds {held} bytes, expected {want}"),
        ));
    }
    Ok((page, next))
}

/// The first `n` bytes of a `len`-byte value (all of it when shorter),
/// read from the first page of its chain only.
pub(crate) fn prefix(pager: &Pager, head: PageId, len: usize, n: usize) -> Result<Vec<u8>> {
    let want = len.min(chunk_size(pager));
    if len == 0 {
        return Ok(Vec::new());
    }
    let (page, _) = chain_page(pager, head, want)?;
    Ok(page.data[HEADER..HEADER + n.min(want)].to_vec())
}

/// Read a whole value.
pub(crate) fn read(pager: &Pager, head: PageId, len: usize) -> Result<Vec<u8>> {
    // The length comes from storage: do not trust it for a huge allocation
    // up front; the chain itself proves it page by page.
    let mut out = Vec::with_capacity(len.min(1 << 24));
    walk(pager, head, len, |_, part| out.extend_from_slice(part))?;
    Ok(out)
}

/// Every page of a chain, checked.
pub(crate) fn pages(
    pager: &Pager,
    head: PageId,
    len: usize,
    visit: &mut dyn FnMut(PageId),
) -> Result<()> {
    walk(pager, head, len, |id, _| visit(id))
}

/// Release a chain that no tree references any more.
pub(crate) fn free(pager: &mut Pager, head: PageId, len: usize) -> Result<()> {
    let mut ids = Vec::new();
    walk(pager, head, len, |id, _| ids.push(id))?;
    for id in ids {
        pager.free(id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use moonvault_pager::store::memory::MemoryStore;
    use moonvault_pager::PagerConfig;

    fn pager() -> Pager {
        let cfg = PagerConfig {
            page_size: 1024,
            branch_pages: 1,
            cache_bytes: 64 * 1024,
            ..PagerConfig::default()
        };
        Pager::open(Box::new(MemoryStore::new()), cfg).unwrap().0
    }

    #[test]
    fn round_trips_on_chunk_boundaries() {
        let mut p = pager();
        p.begin().unwrap();
        for len in [1, 1015, 1016, 1017, 2032, 5000] {
            let value: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let head = write(&mut p, &[&value]).unwrap();
            assert_eq!(read(&p, head, len).unwrap(), value);
            let mut n = 0;
            pages(&p, head, len, &mut |_| n += 1).unwrap();
            assert_eq!(n, len.div_ceil(1016));
            // Wrong lengths are detected, not followed.
            assert!(read(&p, head, len + 1).is_err());
            assert!(read(&p, head, len - 1).is_err());
            free(&mut p, head, len).unwrap();
        }
    }

    #[test]
    fn cycles_and_wrong_kinds_are_corruption() {
        let mut p = pager();
        p.begin().unwrap();
        let a = p.allocate().unwrap();
        let mut data = a.to_le_bytes().to_vec();
        data.extend_from_slice(&[9; 1016]);
        p.write(a, Page::new(3, data)).unwrap();
        assert!(matches!(
            read(&p, a, 1 << 30),
            Err(BTreeError::Corrupted { .. })
        ));
        let b = p.allocate().unwrap();
        p.write(b, Page::new(1, vec![0; 20])).unwrap();
        assert!(matches!(read(&p, b, 12), Err(BTreeError::Corrupted { .. })));
    }
}
