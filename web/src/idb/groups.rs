//! Page groups: many pages in one IndexedDB record (DESIGN.md section 8,
//! "Page groups").
//!
//! IndexedDB charges per record far more than per byte, so a transaction
//! that writes a run of consecutive page ids (a bulk load, a checkpoint
//! of fresh pages) writes them as *groups*: one record in the `groups`
//! object store per run of at most [`GROUP_MAX_PAGES`] pages and
//! [`GROUP_MAX_BYTES`], keyed by the run's first id. Pages are still
//! rewritten one at a time (copy-on-write), so each group has a *live
//! set*, a 32-bit mask (bit `i` is page `first + i`), kept in the
//! `members` object store, one record per [`CHUNK_IDS`] page ids. Every
//! other page is a *single*, one record in `pages` under its id, as in
//! layout version 1.
//!
//! This module is the bookkeeping: the [`Directory`] of live sets (read
//! whole at open, kept in a JS `Map`: [`JsLiveSets`]) and the [`Plan`] that
//! turns one transaction's page writes into records. Invariants, kept by
//! every plan:
//!
//! - **One home.** A page is live in at most one group; when it is, no
//!   single of its id exists (a new group deletes the singles of its
//!   run), and the group's record holds its current bytes. When it is
//!   live in none, its single (if any) is current, and a missing single
//!   means the page does not exist.
//! - **Live sets are exact.** A write or delete of a page clears its bit
//!   in the group it was live in, in the same transaction; a live set that
//!   becomes empty deletes the group and its live set.
//! - **Keys are unique.** A new group never takes the key of a group
//!   that still has live pages after the transaction's writes.

use std::collections::BTreeMap;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

/// The object store of group records (layout version 2).
pub const GROUPS_STORE: &str = "groups";

/// The object store of the groups' live sets (layout version 2).
pub const MEMBERS_STORE: &str = "members";

/// Fewest pages a group holds: a shorter run is written as singles.
pub const GROUP_MIN_PAGES: usize = 4;

/// Most pages a group holds (its live set is one 32-bit mask, a number
/// in IndexedDB and on the JS heap).
pub const GROUP_MAX_PAGES: usize = 32;

/// A group closes before its pages pass this many bytes (so pages that
/// compress to more than 4 KiB stay singles: fewer than
/// [`GROUP_MIN_PAGES`] fit). 16 KiB rather than 64: a cold index range
/// reads leaves scattered over many groups, each read whole (DESIGN.md
/// section 8, "Page groups", measured both ways).
pub const GROUP_MAX_BYTES: usize = 16 * 1024;

/// Largest page id a group may hold: its members' single ids must be
/// IndexedDB numbers (keys above 2^53 - 1 are strings, see `key.rs`).
const GROUP_MAX_ID: u64 = super::key::MAX_SAFE;

/// The first byte of a group record.
pub const BODY_MAGIC: u8 = b'G';

/// The version of the group record's format.
pub const BODY_VERSION: u8 = 1;

/// Bytes of a group record before its pages' lengths.
const BODY_FIXED: usize = 4;

/// Bytes of the header of a group of `count` pages.
pub fn header_len(count: usize) -> usize {
    BODY_FIXED + 4 * count
}

/// Most bytes any group header has.
pub const MAX_HEADER_LEN: usize = BODY_FIXED + 4 * GROUP_MAX_PAGES;

/// The header of a group record holding pages of `lens` bytes: magic,
/// version, page count, a zero byte, then each page's length (u32 LE).
/// The pages' bytes follow it, in id order.
pub fn encode_header(lens: &[u32]) -> Vec<u8> {
    debug_assert!((1..=GROUP_MAX_PAGES).contains(&lens.len()));
    let mut out = Vec::with_capacity(header_len(lens.len()));
    out.extend_from_slice(&[BODY_MAGIC, BODY_VERSION, lens.len() as u8, 0]);
    for len in lens {
        out.extend_from_slice(&len.to_le_bytes());
    }
    out
}

/// Where each page of a group record of `total` bytes lies: `(offset,
/// len)` in id order. `head` is the record's first bytes (at least its
/// header, or all of it). Errors say what is wrong: a record moonvault did
/// not write, or a newer version of this format.
pub fn parse_header(head: &[u8], total: usize) -> Result<Vec<(usize, usize)>, String> {
    if head.len() < BODY_FIXED || head[0] != BODY_MAGIC {
        return Err("a page group record does not start with its magic byte".into());
    }
    if head[1] != BODY_VERSION {
        return Err(format!(
            "a page group record has format version {}; this build reads version {} \
             (written by a newer moonvault?)",
            head[1], BODY_VERSION
        ));
    }
    let count = head[2] as usize;
    if !(1..=GROUP_MAX_PAGES).contains(&count) || head[3] != 0 {
        return Err(format!("a page group record claims {count} pages"));
    }
    let fixed = header_len(count);
    if head.len() < fixed {
        return Err("a page group record is shorter than its header".into());
    }
    let mut out = Vec::with_capacity(count);
    let mut at = fixed;
    for i in 0..count {
        let p = BODY_FIXED + 4 * i;
        let len = u32::from_le_bytes([head[p], head[p + 1], head[p + 2], head[p + 3]]) as usize;
        out.push((at, len));
        // Saturating: `usize` is 32 bits in the module and lengths come
        // from IndexedDB; a sum past it cannot equal `total` below.
        at = at.saturating_add(len);
    }
    if at != total {
        return Err(format!(
            "a page group record of {total} bytes lists pages ending at byte {at}"
        ));
    }
    Ok(out)
}

/// The live pages of the group record `record` stored at `first` with live
/// set `mask`: their keys (as [`super::key::to_js`] writes them) and their
/// bytes, as views into the record or (`copy`) copies that do not keep
/// the record's other bytes alive. Errors describe a record that does not
/// match its live set.
pub fn live_pages_of(
    record: &JsValue,
    first: u64,
    mask: u32,
    copy: bool,
) -> Result<(js_sys::Array, js_sys::Array), String> {
    let Some(record) = record.dyn_ref::<js_sys::Uint8Array>() else {
        return Err(format!(
            "groups area: group {first} has a live set but no record"
        ));
    };
    let total = record.length() as usize;
    let head = record
        .subarray(0, total.min(MAX_HEADER_LEN) as u32)
        .to_vec();
    let pages =
        parse_header(&head, total).map_err(|e| format!("groups area: group {first}: {e}"))?;
    if pages.len() < GROUP_MAX_PAGES && mask >> pages.len() != 0 {
        return Err(format!(
            "groups area: group {first} holds {} pages but its live set names more",
            pages.len()
        ));
    }
    let (keys, values) = (js_sys::Array::new(), js_sys::Array::new());
    for (i, &(at, len)) in pages.iter().enumerate() {
        if mask >> i & 1 == 1 {
            keys.push(&super::key::to_js(first + i as u64));
            let (from, to) = (at as u32, (at + len) as u32);
            let bytes = if copy {
                record.slice(from, to)
            } else {
                record.subarray(from, to)
            };
            values.push(&bytes);
        }
    }
    Ok((keys, values))
}

/// Group keys a `members` record covers: the live sets of the groups
/// keyed `chunk * CHUNK_IDS ..= chunk * CHUNK_IDS + CHUNK_IDS - 1` share
/// the record keyed `chunk`, so open reads one record per 4096 page ids
/// (about 16 MiB of store) instead of one per group.
pub const CHUNK_IDS: u64 = 4096;

/// Bytes of one group in a chunk record: its key's offset in the chunk
/// (u16 LE), then its mask (u32 LE).
const CHUNK_ENTRY: usize = 6;

/// The `members` record of chunk `chunk`: its groups `(first, mask)`,
/// ascending, each six bytes (`CHUNK_ENTRY`).
pub fn encode_chunk(chunk: u64, groups: &[(u64, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(groups.len() * CHUNK_ENTRY);
    for &(first, mask) in groups {
        debug_assert_eq!(first / CHUNK_IDS, chunk);
        out.extend_from_slice(&((first % CHUNK_IDS) as u16).to_le_bytes());
        out.extend_from_slice(&mask.to_le_bytes());
    }
    out
}

/// The groups a `members` record of chunk `chunk` holds. Errors name a
/// record moonvault does not write.
pub fn decode_chunk(chunk: u64, record: &[u8]) -> Result<Vec<(u64, u32)>, String> {
    if record.is_empty()
        || !record.len().is_multiple_of(CHUNK_ENTRY)
        || chunk > GROUP_MAX_ID / CHUNK_IDS
    {
        return Err(format!(
            "members area: the record of chunk {chunk} has {} bytes",
            record.len()
        ));
    }
    let mut out: Vec<(u64, u32)> = Vec::with_capacity(record.len() / CHUNK_ENTRY);
    for e in record.chunks_exact(CHUNK_ENTRY) {
        let offset = u64::from(u16::from_le_bytes([e[0], e[1]]));
        let mask = u32::from_le_bytes([e[2], e[3], e[4], e[5]]);
        let first = chunk * CHUNK_IDS + offset;
        if offset >= CHUNK_IDS || out.last().is_some_and(|&(prev, _)| prev >= first) {
            return Err(format!(
                "members area: the record of chunk {chunk} is out of order"
            ));
        }
        out.push((first, mask));
    }
    Ok(out)
}

/// One page write of a transaction: `len` is the new blob's size, `None`
/// deletes the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageWrite {
    /// The page id.
    pub id: u64,
    /// Bytes of the new blob, or `None` for a delete.
    pub len: Option<u32>,
}

/// The records one transaction writes for its page writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Pages put as singles in `pages`.
    pub singles: Vec<u64>,
    /// Singles to delete from `pages`.
    pub single_deletes: Vec<u64>,
    /// New groups `(first, count)`: pages `first..first + count`, every one
    /// a put of this transaction, go in one record at `first` (replacing a
    /// dead group's record there); the singles of those ids are deleted.
    pub groups: Vec<(u64, usize)>,
    /// Live sets that changed, `(first, mask)`, ascending; a zero mask
    /// deletes the group's record (and the chunk records holding them are
    /// rewritten from the directory).
    pub live_sets: Vec<(u64, u32)>,
}

impl Plan {
    /// Whether the plan touches the `groups` and `members` object stores.
    pub fn uses_groups(&self) -> bool {
        !self.groups.is_empty() || !self.live_sets.is_empty()
    }
}

/// Where a [`Directory`] keeps its live sets: `first -> mask`, masks
/// non-zero (storing 0 removes the entry).
pub trait LiveSets {
    /// The live set of the group at `first` (0: no such group).
    fn mask(&self, first: u64) -> u32;
    /// Sets the live set of the group at `first`; 0 removes it.
    fn set_mask(&mut self, first: u64, mask: u32);
    /// Number of groups.
    fn count(&self) -> usize;
    /// Calls `f` with every group's key and live set, in any order.
    fn each(&self, f: &mut dyn FnMut(u64, u32));
    /// The groups of chunk `chunk` (keys `chunk * CHUNK_IDS ..`), by key.
    fn chunk(&self, chunk: u64) -> Vec<(u64, u32)>;
    /// The group page `id` is live in, if any: the nearest of the
    /// [`GROUP_MAX_PAGES`] keys at or below `id` whose live set has it.
    fn locate(&self, id: u64) -> Option<u64> {
        let low = id.saturating_sub(GROUP_MAX_PAGES as u64 - 1);
        (low..=id)
            .rev()
            .find(|&first| self.mask(first) >> (id - first) & 1 == 1)
    }
}

impl LiveSets for BTreeMap<u64, u32> {
    fn mask(&self, first: u64) -> u32 {
        self.get(&first).copied().unwrap_or(0)
    }

    fn set_mask(&mut self, first: u64, mask: u32) {
        if mask == 0 {
            self.remove(&first);
        } else {
            self.insert(first, mask);
        }
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn each(&self, f: &mut dyn FnMut(u64, u32)) {
        for (&first, &mask) in self {
            f(first, mask);
        }
    }

    fn chunk(&self, chunk: u64) -> Vec<(u64, u32)> {
        let low = chunk * CHUNK_IDS;
        self.range(low..low + CHUNK_IDS)
            .map(|(&first, &mask)| (first, mask))
            .collect()
    }
}

/// Live sets on the JS heap, not in the module's Rust heap, whose budget
/// has no room for something that grows with the store (a few hundred
/// groups for 100K users): a `Map` from chunk number to a `Map` from group
/// key to mask (numbers), so that a chunk's record is rebuilt from its
/// own groups.
#[derive(Debug)]
pub struct JsLiveSets {
    chunks: js_sys::Map,
    count: usize,
}

impl Default for JsLiveSets {
    fn default() -> Self {
        JsLiveSets {
            chunks: js_sys::Map::new(),
            count: 0,
        }
    }
}

/// A group key or chunk number as a JS number (exact: at most
/// `GROUP_MAX_ID`).
fn number(x: u64) -> JsValue {
    JsValue::from_f64(x as f64)
}

// The two questions the write queue and the page reads ask for every page
// they touch, answered in one call each: asked through `js_sys::Map`, each
// candidate key costs about ten boundary crossings (numbers boxed as
// `JsValue`s, two `get`s, their results read and dropped), and `locate`
// tries up to GROUP_MAX_PAGES of them for a page that is live in no group.
#[wasm_bindgen(module = "/src/imports.js")]
extern "C" {
    /// The live set of the group at `first` in `chunks` (0: none).
    #[wasm_bindgen(js_name = liveMask)]
    fn live_mask(chunks: &js_sys::Map, first: f64, chunk_ids: f64) -> f64;
    /// [`LiveSets::locate`] over `chunks` (-1: in no group).
    #[wasm_bindgen(js_name = liveLocate)]
    fn live_locate(chunks: &js_sys::Map, id: f64, chunk_ids: f64, max_pages: f64) -> f64;
}

impl JsLiveSets {
    fn chunk_map(&self, first: u64) -> Option<js_sys::Map> {
        let inner = self.chunks.get(&number(first / CHUNK_IDS));
        (!inner.is_undefined()).then(|| inner.unchecked_into())
    }
}

impl LiveSets for JsLiveSets {
    fn mask(&self, first: u64) -> u32 {
        live_mask(&self.chunks, first as f64, CHUNK_IDS as f64) as u32
    }

    fn locate(&self, id: u64) -> Option<u64> {
        // Groups hold only pages up to GROUP_MAX_ID (exact as numbers).
        if id > GROUP_MAX_ID {
            return None;
        }
        let first = live_locate(
            &self.chunks,
            id as f64,
            CHUNK_IDS as f64,
            GROUP_MAX_PAGES as f64,
        );
        (first >= 0.0).then_some(first as u64)
    }

    fn set_mask(&mut self, first: u64, mask: u32) {
        let k = number(first);
        match (self.chunk_map(first), mask) {
            (Some(inner), 0) => {
                if inner.delete(&k) {
                    self.count -= 1;
                }
                if inner.size() == 0 {
                    self.chunks.delete(&number(first / CHUNK_IDS));
                }
            }
            (None, 0) => {}
            (inner, mask) => {
                let inner = inner.unwrap_or_else(|| {
                    let fresh = js_sys::Map::new();
                    self.chunks.set(&number(first / CHUNK_IDS), &fresh);
                    fresh
                });
                if !inner.has(&k) {
                    self.count += 1;
                }
                inner.set(&k, &JsValue::from_f64(f64::from(mask)));
            }
        }
    }

    fn count(&self) -> usize {
        self.count
    }

    fn each(&self, f: &mut dyn FnMut(u64, u32)) {
        self.chunks.for_each(&mut |inner, _| {
            inner
                .unchecked_into::<js_sys::Map>()
                .for_each(&mut |mask, first| {
                    if let (Some(first), Some(mask)) = (first.as_f64(), mask.as_f64()) {
                        f(first as u64, mask as u32);
                    }
                });
        });
    }

    fn chunk(&self, chunk: u64) -> Vec<(u64, u32)> {
        let mut firsts = Vec::new();
        let inner = self.chunks.get(&number(chunk));
        let Some(inner) = inner.dyn_ref::<js_sys::Map>() else {
            return Vec::new();
        };
        inner.for_each(&mut |_, first| {
            if let Some(first) = first.as_f64() {
                firsts.push(first as u64);
            }
        });
        // Keys alone: a sort of pairs would cost the module KiBs.
        firsts.sort_unstable();
        firsts.into_iter().map(|f| (f, self.mask(f))).collect()
    }
}

/// The directory of an open store: live sets on the JS heap.
pub type JsDirectory = Directory<JsLiveSets>;

/// The live set of every group (`first` -> mask), as the transactions
/// built so far leave them.
#[derive(Debug, Default)]
pub struct Directory<S: LiveSets = BTreeMap<u64, u32>> {
    live: S,
}

impl<S: LiveSets + Default> Directory<S> {
    /// No groups (a store of layout version 1, or a new one).
    pub fn new() -> Directory<S> {
        Directory { live: S::default() }
    }
}

impl<S: LiveSets> Directory<S> {
    /// Adds the live set `mask` of the group at `first`, as read from the
    /// `members` object store. Errors name a set moonvault never writes.
    pub fn load(&mut self, first: u64, mask: u32) -> Result<(), String> {
        if mask == 0 || first > GROUP_MAX_ID {
            return Err(format!(
                "members area: group {first} has an empty or impossible live set"
            ));
        }
        self.live.set_mask(first, mask);
        Ok(())
    }

    /// Adds the live sets of chunk `chunk` as its `members` record
    /// holds them ([`encode_chunk`]).
    pub fn load_chunk(&mut self, chunk: u64, record: &[u8]) -> Result<(), String> {
        for (first, mask) in decode_chunk(chunk, record)? {
            self.load(first, mask)?;
        }
        Ok(())
    }

    /// The `members` record of chunk `chunk` as the directory has it now
    /// (`None`: the chunk has no groups, delete its record).
    pub fn chunk_record(&self, chunk: u64) -> Option<Vec<u8>> {
        let groups = self.live.chunk(chunk);
        (!groups.is_empty()).then(|| encode_chunk(chunk, &groups))
    }

    /// Number of groups with live pages.
    pub fn len(&self) -> usize {
        self.live.count()
    }

    /// Whether no group has live pages.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The group page `id` is live in, if any.
    pub fn locate(&self, id: u64) -> Option<u64> {
        self.live.locate(id)
    }

    /// The key of every group with live pages, ascending.
    pub fn firsts(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.len());
        self.live.each(&mut |first, _| out.push(first));
        out.sort_unstable();
        out
    }

    /// The live set of the group at `first` (0: no such group).
    pub fn live_set(&self, first: u64) -> u32 {
        self.live.mask(first)
    }

    /// Every page live in some group with an id in `first..=last`,
    /// ascending.
    pub fn live_pages(&self, first: u64, last: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut add = |g: u64, mask: u32| {
            for i in 0..GROUP_MAX_PAGES as u64 {
                if mask >> i & 1 == 1 && (first..=last).contains(&(g + i)) {
                    out.push(g + i);
                }
            }
        };
        let low = first.saturating_sub(GROUP_MAX_PAGES as u64 - 1);
        if last - low < 4 * GROUP_MAX_PAGES as u64 {
            // A short range: ask for its candidate groups.
            for g in low..=last {
                let mask = self.live.mask(g);
                if mask != 0 {
                    add(g, mask);
                }
            }
        } else {
            self.live.each(&mut |g, mask| {
                if g >= low && g <= last {
                    add(g, mask);
                }
            });
        }
        out.sort_unstable();
        out
    }

    /// The records for one transaction's page writes (`writes` ascending
    /// by id, one per id), and the directory as they leave it.
    pub fn plan(&mut self, writes: &[PageWrite]) -> Plan {
        debug_assert!(writes.windows(2).all(|w| w[0].id < w[1].id));
        let mut plan = Plan::default();
        // Groups whose live set changed; their masks are the directory's
        // once the plan is made.
        let mut changed: Vec<u64> = Vec::new();
        // Every written page leaves the group it was live in.
        for w in writes {
            if let Some(first) = self.locate(w.id) {
                let mask = self.live.mask(first) & !(1 << (w.id - first));
                self.live.set_mask(first, mask);
                changed.push(first);
            } else if w.len.is_none() {
                // A delete of a page live in no group: its single, if any.
                plan.single_deletes.push(w.id);
            }
        }
        // Runs of consecutive puts become groups where they are long enough.
        let mut i = 0;
        while i < writes.len() {
            if writes[i].len.is_none() {
                i += 1;
                continue;
            }
            let start = i;
            let mut bytes = 0usize;
            while i < writes.len() {
                let w = writes[i];
                let Some(len) = w.len else { break };
                let count = i - start;
                let contiguous = count == 0 || w.id == writes[i - 1].id + 1;
                let fits = count < GROUP_MAX_PAGES
                    && (count == 0 || bytes + len as usize <= GROUP_MAX_BYTES)
                    && w.id <= GROUP_MAX_ID;
                if !contiguous || !fits {
                    break;
                }
                bytes += len as usize;
                i += 1;
            }
            if i == start {
                // A page past GROUP_MAX_ID: always a single.
                plan.singles.push(writes[i].id);
                i += 1;
                continue;
            }
            let first = writes[start].id;
            let count = i - start;
            if count >= GROUP_MIN_PAGES && self.live_set(first) == 0 {
                let mask = if count == GROUP_MAX_PAGES {
                    u32::MAX
                } else {
                    (1 << count) - 1
                };
                self.live.set_mask(first, mask);
                changed.push(first);
                plan.groups.push((first, count));
            } else {
                plan.singles.extend(writes[start..i].iter().map(|w| w.id));
            }
        }
        changed.sort_unstable();
        changed.dedup();
        plan.live_sets = changed
            .into_iter()
            .map(|first| (first, self.live.mask(first)))
            .collect();
        plan
    }
}

// Native only: quickcheck does not build for wasm32-unknown-unknown.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use quickcheck::{QuickCheck, TestResult};
    use std::collections::BTreeMap;

    /// IndexedDB as a plan leaves it: singles, group records (the ids and
    /// sizes of their pages, as the stored version they hold), live sets.
    #[derive(Default, Clone)]
    struct Records {
        singles: BTreeMap<u64, (u32, u64)>,
        groups: BTreeMap<u64, Vec<(u32, u64)>>,
        members: BTreeMap<u64, u32>,
    }

    impl Records {
        /// Applies `plan` for `writes`, every put's content named by `version`.
        fn apply(&mut self, plan: &Plan, writes: &[PageWrite], version: u64) {
            let len_of = |id: u64| {
                writes
                    .iter()
                    .find(|w| w.id == id)
                    .and_then(|w| w.len)
                    .expect("a put of the transaction")
            };
            for &id in &plan.single_deletes {
                self.singles.remove(&id);
            }
            for &(first, count) in &plan.groups {
                let ids = first..first + count as u64;
                self.singles.retain(|id, _| !ids.contains(id));
                let pages = ids.map(|id| (len_of(id), version)).collect();
                self.groups.insert(first, pages);
            }
            for &id in &plan.singles {
                self.singles.insert(id, (len_of(id), version));
            }
            for &(first, mask) in &plan.live_sets {
                if mask == 0 {
                    self.groups.remove(&first);
                    self.members.remove(&first);
                } else {
                    self.members.insert(first, mask);
                }
            }
        }

        /// What a reader finds for every page, by the live sets stored.
        fn resolve(&self) -> Result<BTreeMap<u64, (u32, u64)>, String> {
            let mut dir: Directory = Directory::new();
            for (&first, &mask) in &self.members {
                dir.load(first, mask)?;
            }
            let mut out = BTreeMap::new();
            for (&first, &mask) in &self.members {
                let pages = self
                    .groups
                    .get(&first)
                    .ok_or("a live set without a record")?;
                for i in 0..GROUP_MAX_PAGES as u64 {
                    if mask >> i & 1 == 1 {
                        let page = pages.get(i as usize).ok_or("a live bit past the record")?;
                        if dir.locate(first + i) != Some(first) {
                            return Err(format!("page {} live in two groups", first + i));
                        }
                        if self.singles.contains_key(&(first + i)) {
                            return Err(format!("page {} has a single and a group", first + i));
                        }
                        out.insert(first + i, *page);
                    }
                }
            }
            if self.groups.len() != self.members.len() {
                return Err("a group record without a live set".into());
            }
            for (&id, &page) in &self.singles {
                out.insert(id, page);
            }
            Ok(out)
        }
    }

    /// Random transactions over a few hundred ids: whatever the plans, the
    /// pages a reader finds are the model's, the directory equals one
    /// reloaded from the stored live sets, and runs do become groups.
    fn transactions_read_back(txns: Vec<Vec<(u8, u16)>>) -> TestResult {
        let mut model: BTreeMap<u64, (u32, u64)> = BTreeMap::new();
        let mut records = Records::default();
        let mut dir: Directory = Directory::new();
        let mut stored_chunks: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for (n, txn) in txns.iter().enumerate() {
            let version = n as u64 + 1;
            let mut writes: BTreeMap<u64, Option<u32>> = BTreeMap::new();
            for &(op, size) in txn {
                // Runs: an op writes 1..=16 consecutive ids from a base.
                // A few hundred ids, some past a chunk boundary.
                let base = u64::from(size % 300) + if size % 7 == 0 { CHUNK_IDS - 150 } else { 0 };
                let run = u64::from(op % 16) + 1;
                let delete = op >= 200;
                for id in base..base + run {
                    let len = 500 + u32::from(size) % 4000;
                    writes.insert(id, if delete { None } else { Some(len) });
                }
            }
            let writes: Vec<PageWrite> = writes
                .into_iter()
                .map(|(id, len)| PageWrite { id, len })
                .collect();
            let plan = dir.plan(&writes);
            records.apply(&plan, &writes, version);
            for w in &writes {
                match w.len {
                    Some(len) => model.insert(w.id, (len, version)),
                    None => model.remove(&w.id),
                };
            }
            match records.resolve() {
                Ok(found) if found == model => {}
                Ok(_) => return TestResult::error(format!("transaction {n}: pages differ")),
                Err(e) => return TestResult::error(format!("transaction {n}: {e}")),
            }
            // The members records, one per chunk, as the queue writes them.
            let mut reloaded: Directory = Directory::new();
            let chunks: std::collections::BTreeSet<u64> =
                plan.live_sets.iter().map(|g| g.0 / CHUNK_IDS).collect();
            for c in chunks {
                if let Some(record) = dir.chunk_record(c) {
                    stored_chunks.insert(c, record);
                } else {
                    stored_chunks.remove(&c);
                }
            }
            for (&c, record) in &stored_chunks {
                reloaded.load_chunk(c, record).unwrap();
            }
            if reloaded.live != dir.live || reloaded.live != records.members {
                return TestResult::error(format!("transaction {n}: directory != stored sets"));
            }
        }
        TestResult::passed()
    }

    #[test]
    fn plans_keep_every_page_readable_from_one_home() {
        QuickCheck::new()
            .tests(300)
            .quickcheck(transactions_read_back as fn(Vec<Vec<(u8, u16)>>) -> TestResult);
    }

    fn puts(ids: std::ops::Range<u64>, len: u32) -> Vec<PageWrite> {
        ids.map(|id| PageWrite { id, len: Some(len) }).collect()
    }

    #[test]
    fn runs_become_groups_bounded_by_pages_and_bytes() {
        let mut dir: Directory = Directory::new();
        // 105 pages of 1.5 KB: 10 fit 16 KiB, so ten groups of 10, then 5.
        let plan = dir.plan(&puts(1..106, 1500));
        let firsts: Vec<(u64, usize)> = (0..10).map(|g| (1 + 10 * g, 10)).collect();
        assert_eq!(plan.groups[..10], firsts[..]);
        assert_eq!(plan.groups[10], (101, 5));
        assert!(plan.singles.is_empty());
        // 100 small pages: 32 a group.
        let mut dir: Directory = Directory::new();
        let plan = dir.plan(&puts(1000..1100, 100));
        let counts: Vec<usize> = plan.groups.iter().map(|g| g.1).collect();
        assert_eq!(counts, [32, 32, 32, 4]);
        assert_eq!(dir.live_set(1000), u32::MAX);
        assert_eq!(dir.firsts(), [1000, 1032, 1064, 1096]);
        // Short runs and a run cut short by a delete are singles.
        let mut dir: Directory = Directory::new();
        let mut writes = puts(1..4, 100);
        writes.push(PageWrite { id: 4, len: None });
        writes.extend(puts(5..8, 100));
        let plan = dir.plan(&writes);
        assert!(plan.groups.is_empty());
        assert_eq!(plan.singles, [1, 2, 3, 5, 6, 7]);
        assert_eq!(plan.single_deletes, [4]);
    }

    #[test]
    fn a_group_whose_pages_all_go_is_deleted_and_its_key_reused() {
        let mut dir: Directory = Directory::new();
        dir.plan(&puts(10..20, 100));
        assert_eq!(dir.locate(15), Some(10));
        // Rewriting some pages as singles clears their bits.
        let plan = dir.plan(&puts(12..14, 100));
        assert_eq!(plan.singles, [12, 13]);
        assert_eq!(plan.live_sets, [(10, 0b11_1111_0011)]);
        assert_eq!(dir.locate(12), None);
        // A new run at the same key cannot take it while pages remain live.
        let plan = dir.plan(
            &puts(10..12, 100)
                .into_iter()
                .chain(puts(14..16, 100))
                .collect::<Vec<_>>(),
        );
        assert!(plan.groups.is_empty());
        // Deleting the rest empties the set: the group goes, its key frees.
        let deletes: Vec<PageWrite> = (16..20).map(|id| PageWrite { id, len: None }).collect();
        let plan = dir.plan(&deletes);
        assert_eq!(plan.live_sets, [(10, 0)]);
        assert!(
            plan.single_deletes.is_empty(),
            "grouped pages have no single"
        );
        assert!(dir.is_empty());
        let plan = dir.plan(&puts(10..30, 100));
        assert_eq!(plan.groups, [(10, 20)]);
        assert_eq!(dir.live_pages(0, 100), (10..30).collect::<Vec<_>>());
        assert_eq!(dir.live_pages(25, 26), [25, 26]);
        assert_eq!(dir.live_pages(29, u64::MAX), [29]);
    }

    #[test]
    fn chunk_records_round_trip_and_refuse_what_they_do_not_describe() {
        let groups = [(4096 * 3 + 1, 0b1111), (4096 * 3 + 4095, u32::MAX)];
        let record = encode_chunk(3, &groups);
        assert_eq!(record.len(), 12);
        assert_eq!(decode_chunk(3, &record).unwrap(), groups);
        assert!(decode_chunk(3, &record[..7]).is_err());
        assert!(decode_chunk(3, &[]).is_err());
        let mut swapped = record[6..].to_vec();
        swapped.extend_from_slice(&record[..6]);
        assert!(decode_chunk(3, &swapped).unwrap_err().contains("order"));
        let mut dir: Directory = Directory::new();
        dir.load_chunk(3, &record).unwrap();
        assert_eq!(dir.locate(4096 * 3 + 4), Some(4096 * 3 + 1));
        assert_eq!(dir.chunk_record(3), Some(record));
        assert_eq!(dir.chunk_record(2), None);
    }

    #[test]
    fn headers_round_trip_and_refuse_what_they_do_not_describe() {
        let head = encode_header(&[3, 0, 5]);
        assert_eq!(head.len(), header_len(3));
        let total = head.len() + 8;
        assert_eq!(
            parse_header(&head, total).unwrap(),
            [(16, 3), (19, 0), (19, 5)]
        );
        assert!(parse_header(&head, total + 1)
            .unwrap_err()
            .contains("ending at"));
        let mut newer = head.clone();
        newer[1] = 2;
        assert!(parse_header(&newer, total)
            .unwrap_err()
            .contains("version 2"));
        let mut foreign = head.clone();
        foreign[0] = 0;
        assert!(parse_header(&foreign, total).is_err());
        assert!(parse_header(&head[..6], total).is_err());
    }
}
