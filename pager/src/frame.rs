//! The stored form of one page: a checksummed header and a payload that is
//! lz4-compressed when that saves space.
//!
//! The format is drawn once, in DESIGN.md section 2, "Pages";
//! this module is its only reader and writer.
//!
//! The checksum is verified before anything else is trusted, and before the
//! payload is decompressed. It covers the version byte, so the version is
//! read only once the checksum holds: a frame of a newer version is
//! [`PagerError::NewerFormat`], a flipped version bit is `Corrupted`. (A
//! newer frame version keeps bytes 0..28 as they are, so older builds can
//! verify it before reading its version; a frame is only ever read after the
//! superblock and the engine's root record accepted the store's format.)

use crate::error::{PagerError, Result};
use crate::PageId;

/// Size of the frame header.
pub const FRAME_HEADER: usize = 28;
const MAGIC: [u8; 4] = *b"MVPG";
/// The frame version this build writes, and the newest it reads.
pub const VERSION: u8 = 1;
const CODEC_RAW: u8 = 0;
const CODEC_LZ4: u8 = 1;

/// A decoded page: its kind byte and logical bytes.
#[derive(Clone, Debug)]
pub struct Page {
    /// The page kind, owned by the layer above (never 0).
    pub kind: u8,
    /// The logical content, at most the store's page size.
    pub data: Vec<u8>,
    /// Whether the layer above has checked this content's structure (the
    /// B-tree: keys in order), so a check that costs a pass over the page
    /// runs once per load, not once per use. Not part of the content.
    checked: std::cell::Cell<bool>,
    /// Words the layer above derives from `data` to search it faster (the
    /// B-tree: a branch's key heads), once the page can no longer change
    /// (see [`PageAid`]); counted in the page's memory cost from then on.
    aid: Option<LazyAid>,
}

/// Uses of a page (each [`Page::aid`] call: a node parse) before its aid
/// is derived. Deriving costs about as much as a few dozen searches
/// without it, and many pages never earn it back: every write copies the
/// root and the branches on its path, so a run of small transactions
/// commits new branches that the next transaction copies again after one
/// search (deriving at every commit cost small transactions a third of
/// their instructions). Waiting for the sixteenth use spends at most
/// about twice what knowing which pages stay would (the rent-or-buy
/// bound).
pub const AID_AFTER_USES: u16 = 16;

/// A page's aid, from the moment it can no longer change: its size known
/// (and charged) at once, its words derived on the page's
/// [`AID_AFTER_USES`]th use.
#[derive(Clone, Debug)]
struct LazyAid {
    derive: DeriveAid,
    /// Bytes charged for the aid, derived or not (8 per word).
    bytes: usize,
    uses: std::cell::Cell<u16>,
    words: std::cell::OnceCell<Box<[u64]>>,
}

/// A function deriving a page's aid from its kind and bytes.
pub type DeriveAid = fn(kind: u8, data: &[u8]) -> Option<Box<[u64]>>;

/// How the layer above derives a page's search aid from its kind and
/// bytes. Given to [`crate::Pager::derive_aids_with`].
///
/// Invariant: a page's aid is derived from its current `data`. The pager
/// makes a page eligible only when it can no longer change (loaded from
/// the store, spilled, or committed), and drops the aid when a page is
/// written or lent out for an edit, so an aid is never stale.
#[derive(Clone, Copy, Debug)]
pub struct PageAid {
    /// The aid's length in words for a page of `kind` holding `data` (0:
    /// it gets none). Asked when the page becomes eligible, so it must be
    /// cheap; what it says is charged to the page's memory cost.
    pub words: fn(kind: u8, data: &[u8]) -> usize,
    /// The aid, exactly `words` long, or `None` if the page turns out not
    /// to have one (damaged bytes): asked on the page's
    /// [`AID_AFTER_USES`]th use.
    pub derive: DeriveAid,
}

impl Page {
    /// A page of `kind` holding `data`, not yet checked.
    pub fn new(kind: u8, data: Vec<u8>) -> Page {
        Page {
            kind,
            data,
            checked: std::cell::Cell::new(false),
            aid: None,
        }
    }

    /// The search aid derived from this page's content, counting this
    /// call as a use of the page; empty if it has none, or none yet (see
    /// [`AID_AFTER_USES`]).
    #[inline]
    pub fn aid(&self) -> &[u64] {
        let Some(lazy) = &self.aid else {
            return &[];
        };
        if let Some(words) = lazy.words.get() {
            return words;
        }
        let uses = lazy.uses.get() + 1;
        if uses < AID_AFTER_USES {
            lazy.uses.set(uses);
            return &[];
        }
        lazy.words.get_or_init(|| {
            let words = (lazy.derive)(self.kind, &self.data).unwrap_or_default();
            debug_assert!(words.is_empty() || 8 * words.len() == lazy.bytes);
            words
        })
    }

    /// Make this page's aid derivable with `aid` (charging its size now)
    /// unless it has one: the page will not change again.
    pub(crate) fn derive_aid(&mut self, aid: PageAid) {
        if self.aid.is_some() {
            return;
        }
        let words = (aid.words)(self.kind, &self.data);
        if words > 0 {
            self.aid = Some(LazyAid {
                derive: aid.derive,
                bytes: 8 * words,
                uses: std::cell::Cell::new(0),
                words: std::cell::OnceCell::new(),
            });
        }
    }

    /// Derive this page's aid with `aid` at once, for the layer above's
    /// tests of its aids.
    #[doc(hidden)]
    pub fn derive_aid_for_test(&mut self, aid: PageAid) {
        self.derive_aid(aid);
        if let Some(lazy) = &self.aid {
            lazy.uses.set(AID_AFTER_USES);
        }
    }

    /// Forget the aid: the content is about to change.
    pub(crate) fn drop_aid(&mut self) {
        self.aid = None;
    }

    /// Bytes charged for the aid (derived yet or not).
    pub(crate) fn aid_bytes(&self) -> usize {
        self.aid.as_ref().map_or(0, |lazy| lazy.bytes)
    }

    /// Whether [`Page::set_checked`] was called on this copy.
    pub fn is_checked(&self) -> bool {
        self.checked.get()
    }

    /// Record that the layer above checked this content. Only for content
    /// that is not changed afterwards except by code that keeps what was
    /// checked (the B-tree's own edits keep keys in order).
    pub fn set_checked(&self) {
        self.checked.set(true);
    }
}

impl PartialEq for Page {
    fn eq(&self, other: &Page) -> bool {
        self.kind == other.kind && self.data == other.data
    }
}

impl Eq for Page {}

/// Encode a page into its stored frame. Compresses when that saves space.
pub fn encode(id: PageId, page: &Page) -> Vec<u8> {
    encode_content(id, page.kind, &page.data)
}

/// [`encode`] for a page given as its kind and logical bytes (which, unlike
/// a [`Page`], may be shared between threads).
pub fn encode_content(id: PageId, kind: u8, data: &[u8]) -> Vec<u8> {
    let compressed = lz4_flex::block::compress(data);
    let (codec, payload): (u8, &[u8]) = if compressed.len() < data.len() {
        (CODEC_LZ4, &compressed)
    } else {
        (CODEC_RAW, data)
    };
    let mut out = Vec::with_capacity(FRAME_HEADER + payload.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind);
    out.push(codec);
    out.push(0);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out);
    crc.update(payload);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

/// Decode and verify a stored frame expected to hold page `id`, of at most
/// `max_len` logical bytes.
pub fn decode(id: PageId, blob: &[u8], max_len: usize) -> Result<Page> {
    let bad = |detail: String| PagerError::corrupted("page frame", Some(id), detail);
    if blob.len() < FRAME_HEADER {
        return Err(bad(format!(
            "frame of {} bytes is shorter than its header",
            blob.len()
        )));
    }
    let stored_len = u32_at(blob, 16) as usize;
    if blob.len() != FRAME_HEADER + stored_len {
        return Err(bad(format!(
            "frame is {} bytes but its header announces {}",
            blob.len(),
            FRAME_HEADER + stored_len
        )));
    }
    let payload = &blob[FRAME_HEADER..];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&blob[..24]);
    crc.update(payload);
    let expected = u32_at(blob, 24);
    let actual = crc.finalize();
    if actual != expected {
        return Err(bad(format!(
            "checksum mismatch: stored {expected:#010x}, computed {actual:#010x}"
        )));
    }
    if blob[..4] != MAGIC {
        return Err(bad("bad magic".into()));
    }
    match blob[4] {
        VERSION => {}
        0 => return Err(bad("frame version 0".into())),
        found => {
            return Err(PagerError::NewerFormat {
                what: "store's page frame",
                found,
                supported: VERSION,
            })
        }
    }
    let mut stored_id = [0u8; 8];
    stored_id.copy_from_slice(&blob[8..16]);
    let stored_id = u64::from_le_bytes(stored_id);
    if stored_id != id {
        return Err(bad(format!("frame belongs to page {stored_id}")));
    }
    let kind = blob[5];
    if kind == 0 {
        return Err(bad("page kind 0 is reserved".into()));
    }
    let logical_len = u32_at(blob, 20) as usize;
    if logical_len > max_len {
        return Err(bad(format!(
            "logical length {logical_len} exceeds the store's largest page ({max_len} bytes)"
        )));
    }
    let data = match blob[6] {
        CODEC_RAW => {
            if stored_len != logical_len {
                return Err(bad("raw payload length differs from logical length".into()));
            }
            payload.to_vec()
        }
        CODEC_LZ4 => {
            let mut data = vec![0u8; logical_len];
            let n = lz4_flex::block::decompress_into(payload, &mut data)
                .map_err(|e| bad(format!("lz4 payload does not decompress: {e}")))?;
            if n != logical_len {
                return Err(bad(format!(
                    "payload decompressed to {n} bytes, expected {logical_len}"
                )));
            }
            data
        }
        other => return Err(bad(format!("unknown codec {other}"))),
    };
    Ok(Page::new(kind, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_raw_and_compressed() {
        let random: Vec<u8> = (0..500u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for data in [vec![], vec![7u8; 4096], random] {
            let page = Page::new(3, data);
            let blob = encode(42, &page);
            assert_eq!(decode(42, &blob, 4096).unwrap(), page);
        }
        let zeros = Page::new(1, vec![0; 4096]);
        assert!(encode(1, &zeros).len() < 200, "repetitive pages compress");
    }

    #[test]
    fn every_flipped_byte_is_an_error() {
        let page = Page::new(2, b"hello hello hello hello hello".repeat(20));
        let blob = encode(9, &page);
        for i in 0..blob.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = blob.clone();
                b[i] ^= bit;
                assert!(decode(9, &b, 4096).is_err(), "flip at {i} went unnoticed");
            }
        }
        for len in 0..blob.len() {
            assert!(decode(9, &blob[..len], 4096).is_err());
        }
    }

    /// `blob` with its version byte set to `version` and its crc redone.
    fn with_version(blob: &[u8], version: u8) -> Vec<u8> {
        let mut b = blob.to_vec();
        b[4] = version;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&b[..24]);
        crc.update(&b[FRAME_HEADER..]);
        b[24..28].copy_from_slice(&crc.finalize().to_le_bytes());
        b
    }

    #[test]
    fn a_newer_version_is_refused_by_name_and_damage_stays_damage() {
        let blob = encode(4, &Page::new(1, b"abc".repeat(50)));
        for newer in [VERSION + 1, u8::MAX] {
            let e = decode(4, &with_version(&blob, newer), 4096).unwrap_err();
            assert!(
                matches!(e, PagerError::NewerFormat { found, supported: VERSION, .. } if found == newer),
                "{e:?}"
            );
            let text = e.to_string();
            assert!(text.contains("newer moonvault") && text.contains(&newer.to_string()));
            assert!(!text.contains("corrupt"), "{text}");
        }
        assert!(matches!(
            decode(4, &with_version(&blob, 0), 4096),
            Err(PagerError::Corrupted { .. })
        ));
        // The checksum covers the version byte: a flipped bit is damage,
        // and so is a newer version with a failing checksum.
        for bit in 0..8 {
            let mut b = blob.clone();
            b[4] ^= 1 << bit;
            assert!(
                matches!(decode(4, &b, 4096), Err(PagerError::Corrupted { .. })),
                "bit {bit}"
            );
        }
        let mut b = with_version(&blob, VERSION + 1);
        b[FRAME_HEADER] ^= 1;
        assert!(matches!(
            decode(4, &b, 4096),
            Err(PagerError::Corrupted { .. })
        ));
    }

    #[test]
    fn wrong_id_and_oversize_are_rejected() {
        let blob = encode(5, &Page::new(1, vec![1; 100]));
        assert!(decode(6, &blob, 4096).is_err());
        assert!(decode(5, &blob, 64).is_err());
    }
}
