//! The superblock: the root record of a store, written alternately into two
//! slots (`Area::Meta` keys 0 and 1) so a torn write of one slot leaves the
//! other intact.
//!
//! The format is drawn once, in DESIGN.md section 2, "Superblock";
//! this module is its only reader and writer.
//!
//! Every version keeps the magic, the version byte at 4 and the crc32
//! trailer, so an older build can tell a newer superblock (checksum holds,
//! version above [`VERSION`]: refused with [`PagerError::NewerFormat`]) from
//! a damaged one (checksum or magic fails: `Corrupted`, and open falls back
//! to the other slot). A flipped version bit fails the checksum, so it is
//! damage, never "newer".

use crate::error::{PagerError, Result};
use crate::PageId;
use std::collections::BTreeSet;

const MAGIC: [u8; 4] = *b"MVSB";
/// The superblock version this build writes, and the newest it reads.
/// Version 2 added the branch size (byte 5); version 1 had none.
pub const VERSION: u8 = 2;
/// The first version, still read.
const VERSION_1: u8 = 1;
/// Largest branch size, as a power of two times the page size.
pub const MAX_BRANCH_SHIFT: u8 = 4;
const FIXED: usize = 36;
/// Magic, version byte and crc32: what every version has.
const ENVELOPE: usize = 9;
/// The most free page ids a superblock may list (16 GiB of free space at
/// 1 KiB pages, 1 TiB at 64 KiB): the free list is held in memory as a
/// set of ids, so a crafted run of 2^32 ids must not be expanded. The
/// pager trims free ids at the end of the file and reuses the lowest free
/// id first, so a store reaches this only by freeing 16 million pages
/// below one it keeps.
pub const MAX_FREE_PAGES: u64 = 1 << 24;

/// The decoded superblock.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Superblock {
    /// Incremented by every checkpoint.
    pub generation: u64,
    /// Logical page size of the store.
    pub page_size: u32,
    /// Largest logical size of a B-tree branch page: the page size times a
    /// power of two. `None` if written by version 1, which had no branch
    /// size (its branches all fit a page). Encoded as the page size then.
    pub branch_size: Option<u32>,
    /// The lowest never-allocated page id.
    pub next_page_id: PageId,
    /// Page ids below `next_page_id` that hold nothing live.
    pub free: BTreeSet<PageId>,
    /// Opaque bytes owned by the layer above.
    pub app: Vec<u8>,
}

/// Runs of consecutive ids, for a compact free list.
fn runs(ids: &BTreeSet<PageId>) -> Vec<(PageId, u32)> {
    let mut out: Vec<(PageId, u32)> = Vec::new();
    for &id in ids {
        match out.last_mut() {
            Some((start, len)) if *start + u64::from(*len) == id && *len < u32::MAX => *len += 1,
            _ => out.push((id, 1)),
        }
    }
    out
}

impl Superblock {
    /// The slot (Meta key) this generation is written to.
    pub fn slot(&self) -> u64 {
        self.generation % 2
    }

    /// The largest logical page the store's frames may hold: its branch
    /// size, or its page size for version 1 (whose branches all fit a
    /// page).
    pub fn largest_page(&self) -> u32 {
        self.branch_size.unwrap_or(self.page_size)
    }

    /// `branch_size` as a power of two times `page_size` (byte 5).
    fn branch_shift(&self) -> u8 {
        let branch_size = self.largest_page();
        let ratio = (branch_size / self.page_size.max(1)).max(1);
        debug_assert!(ratio.is_power_of_two() && ratio * self.page_size == branch_size);
        ratio.trailing_zeros() as u8
    }

    /// Serialize with a trailing checksum.
    pub fn encode(&self) -> Vec<u8> {
        let runs = runs(&self.free);
        let mut out = Vec::with_capacity(FIXED + runs.len() * 12 + self.app.len() + 4);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.branch_shift());
        out.extend_from_slice(&[0; 2]);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.page_size.to_le_bytes());
        out.extend_from_slice(&(runs.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.next_page_id.to_le_bytes());
        out.extend_from_slice(&(self.app.len() as u32).to_le_bytes());
        for (start, len) in runs {
            out.extend_from_slice(&start.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
        }
        out.extend_from_slice(&self.app);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parse and verify. A superblock whose checksum holds but whose
    /// version is newer than [`VERSION`] is [`PagerError::NewerFormat`];
    /// every other inconsistency is `Corrupted`.
    pub fn decode(bytes: &[u8]) -> Result<Superblock> {
        let bad = |d: String| PagerError::corrupted("superblock", None, d);
        if bytes.len() < ENVELOPE {
            return Err(bad(format!("{} bytes is too short", bytes.len())));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32fast::hash(body) != stored {
            return Err(bad("checksum mismatch".into()));
        }
        if body[..4] != MAGIC {
            return Err(bad("bad magic".into()));
        }
        let version = body[4];
        match version {
            VERSION_1 | VERSION => {}
            0 => return Err(bad("format version 0".into())),
            found => {
                return Err(PagerError::NewerFormat {
                    what: "store's superblock",
                    found,
                    supported: VERSION,
                })
            }
        }
        if body.len() < FIXED {
            return Err(bad(format!("{} bytes is too short", bytes.len())));
        }
        let u32_at =
            |at: usize| u32::from_le_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&body[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let generation = u64_at(8);
        let page_size = u32_at(16);
        // Version 1 wrote zeros at 5..8 and had no branch size.
        let branch_size = match version {
            VERSION_1 => None,
            _ => {
                let shift = body[5];
                if shift > MAX_BRANCH_SHIFT || body[6..8] != [0, 0] {
                    return Err(bad(format!(
                        "branch size byte {shift} or reserved bytes {:?} out of range",
                        &body[6..8]
                    )));
                }
                Some(page_size.checked_shl(u32::from(shift)).unwrap_or(0))
            }
        };
        let run_count = u32_at(20) as usize;
        let next_page_id = u64_at(24);
        let app_len = u32_at(32) as usize;
        let expected = run_count
            .checked_mul(12)
            .and_then(|r| r.checked_add(FIXED))
            .and_then(|r| r.checked_add(app_len));
        if expected != Some(body.len()) {
            return Err(bad("lengths do not add up".into()));
        }
        if next_page_id == 0 {
            return Err(bad("next page id 0 (page ids start at 1)".into()));
        }
        // The next checkpoint writes generation + 1 (found by the
        // open_store fuzz target).
        if generation == u64::MAX {
            return Err(bad("generation u64::MAX".into()));
        }
        // Runs are written in ascending order, disjoint, non-empty and
        // above page 0, and the set they expand to is bounded before it is
        // built: a crafted run of 2^32 ids costs nothing to write.
        let mut free = BTreeSet::new();
        let mut listed = 0u64;
        let mut prev_end = 1u64;
        for i in 0..run_count {
            let at = FIXED + i * 12;
            let start = u64_at(at);
            let len = u64::from(u32_at(at + 8));
            let end = start.checked_add(len).filter(|&e| e <= next_page_id);
            let Some(end) = end else {
                return Err(bad(format!(
                    "free run {start}+{len} lies beyond the allocated pages"
                )));
            };
            if len == 0 || start < prev_end {
                return Err(bad(format!(
                    "free run {i} ({start}+{len}) is empty, overlaps the one before or \
                     names page 0"
                )));
            }
            listed += len;
            if listed > MAX_FREE_PAGES {
                return Err(bad(format!(
                    "the free list names more than {MAX_FREE_PAGES} pages"
                )));
            }
            prev_end = end;
            free.extend(start..end);
        }
        let app_at = FIXED + run_count * 12;
        Ok(Superblock {
            generation,
            page_size,
            branch_size,
            next_page_id,
            free,
            app: body[app_at..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_flips() {
        let sb = Superblock {
            generation: 7,
            page_size: 4096,
            branch_size: Some(16384),
            next_page_id: 100,
            free: [3, 4, 5, 9, 50].into_iter().collect(),
            app: b"engine root".to_vec(),
        };
        let bytes = sb.encode();
        assert_eq!(Superblock::decode(&bytes).unwrap(), sb);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(Superblock::decode(&b).is_err(), "flip at {i}");
        }
        for len in 0..bytes.len() {
            assert!(Superblock::decode(&bytes[..len]).is_err());
        }
    }

    /// `bytes` with byte 4 set to `version` and the crc32 trailer redone.
    fn with_version(bytes: &[u8], version: u8) -> Vec<u8> {
        let mut b = bytes.to_vec();
        b[4] = version;
        let body = b.len() - 4;
        let crc = crc32fast::hash(&b[..body]);
        b[body..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn a_newer_version_is_refused_by_name_and_damage_stays_damage() {
        let bytes = Superblock {
            generation: 3,
            page_size: 4096,
            branch_size: Some(4096),
            next_page_id: 10,
            ..Superblock::default()
        }
        .encode();
        for newer in [VERSION + 1, u8::MAX] {
            let e = Superblock::decode(&with_version(&bytes, newer)).unwrap_err();
            assert!(
                matches!(e, PagerError::NewerFormat { found, supported: VERSION, .. } if found == newer),
                "{e:?}"
            );
            let text = e.to_string();
            assert!(text.contains("newer moonvault") && text.contains(&newer.to_string()));
            assert!(!text.contains("corrupt"), "{text}");
        }
        // Version 0 was never written: damage.
        assert!(matches!(
            Superblock::decode(&with_version(&bytes, 0)),
            Err(PagerError::Corrupted { .. })
        ));
        // A newer version whose checksum fails is damage too (a flipped bit
        // in the version byte, a torn write).
        let mut torn = with_version(&bytes, VERSION + 1);
        torn[12] ^= 1;
        assert!(matches!(
            Superblock::decode(&torn),
            Err(PagerError::Corrupted { .. })
        ));
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[4] ^= 1 << bit;
            assert!(
                matches!(
                    Superblock::decode(&flipped),
                    Err(PagerError::Corrupted { .. })
                ),
                "bit {bit}"
            );
        }
        // A newer version may be laid out otherwise past its envelope (here:
        // shorter than version 1's fixed part): still newer, not damaged.
        let short = with_version(&[b'M', b'V', b'S', b'B', 0, 0, 0, 0, 0], VERSION + 1);
        assert!(matches!(
            Superblock::decode(&short),
            Err(PagerError::NewerFormat { found, .. }) if found == VERSION + 1
        ));
    }

    /// `bytes` with `at` set to `byte` and the crc32 trailer redone.
    fn with_byte(bytes: &[u8], at: usize, byte: u8) -> Vec<u8> {
        let mut b = bytes.to_vec();
        b[at] = byte;
        with_version(&b, b[4])
    }

    #[test]
    fn the_branch_size_is_byte_five_and_version_one_has_none() {
        let sb = Superblock {
            generation: 3,
            page_size: 4096,
            branch_size: Some(16384),
            next_page_id: 10,
            ..Superblock::default()
        };
        let bytes = sb.encode();
        assert_eq!(bytes[4..8], [VERSION, 2, 0, 0]);
        // What version 1 wrote: zeros after the version byte.
        let v1 = with_byte(&with_version(&bytes, VERSION_1), 5, 0);
        let old = Superblock::decode(&v1).unwrap();
        assert_eq!((old.page_size, old.branch_size), (4096, None));
        assert_eq!((old.largest_page(), sb.largest_page()), (4096, 16384));
        // Version 1 never read its reserved bytes; they stay unread.
        let v1_odd = with_byte(&with_version(&bytes, VERSION_1), 5, 9);
        assert_eq!(Superblock::decode(&v1_odd).unwrap().branch_size, None);
        for shift in 0..=MAX_BRANCH_SHIFT {
            let b = Superblock::decode(&with_byte(&bytes, 5, shift)).unwrap();
            assert_eq!(b.branch_size, Some(4096 << shift));
        }
        for (at, byte) in [(5, MAX_BRANCH_SHIFT + 1), (5, u8::MAX), (6, 1), (7, 1)] {
            assert!(
                matches!(
                    Superblock::decode(&with_byte(&bytes, at, byte)),
                    Err(PagerError::Corrupted { .. })
                ),
                "byte {at} = {byte}"
            );
        }
    }

    /// A superblock with `runs` written as given (checksum valid).
    fn with_runs(next_page_id: u64, runs: &[(u64, u32)]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&[VERSION, 0, 0, 0]);
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&1024u32.to_le_bytes());
        b.extend_from_slice(&(runs.len() as u32).to_le_bytes());
        b.extend_from_slice(&next_page_id.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for (start, len) in runs {
            b.extend_from_slice(&start.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn crafted_free_runs_are_refused_before_they_are_expanded() {
        let ok = Superblock::decode(&with_runs(100, &[(2, 3), (10, 1)])).unwrap();
        assert_eq!(ok.free.len(), 4);
        for (next, runs, says) in [
            (
                1u64 << 40,
                vec![(1u64, u32::MAX), (1 << 33, u32::MAX)],
                "more than",
            ),
            (100, vec![(10, 5), (12, 5)], "overlaps"),
            (100, vec![(10, 5), (3, 1)], "overlaps"),
            (100, vec![(0, 5)], "page 0"),
            (100, vec![(5, 0)], "empty"),
            (0, vec![], "next page id 0"),
        ] {
            let e = Superblock::decode(&with_runs(next, &runs)).unwrap_err();
            assert!(
                matches!(e, PagerError::Corrupted { .. }) && e.to_string().contains(says),
                "{runs:?}: {e}"
            );
        }
        // The generation after u64::MAX cannot be written.
        let mut last = with_runs(100, &[]);
        last[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let body = last.len() - 4;
        let crc = crc32fast::hash(&last[..body]);
        last[body..].copy_from_slice(&crc.to_le_bytes());
        let e = Superblock::decode(&last).unwrap_err();
        assert!(e.to_string().contains("generation u64::MAX"), "{e}");
    }
}
