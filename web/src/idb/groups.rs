//! Page groups: many pages in one IndexedDB record (DESIGN.md section 8,
//! "Page groups").
//!
//! IndexedDB charges per record far more than per byte, so a transaction
//! that writes a run of consecutive page ids (a bulk load, a checkpoint
//! of fresh pages) writes them as *groups*: one record in the `groups`
//! object store per run of at most [`GROUP_MAX_PAGES`] pages and
//! [`GROUP_MAX_BYTES`], keyed by the run's first id. Pages are still
//! rewritten one at a time (copy-on-write), so each group has a *live
//! set* in the `members` object store (same key, a 64-bit mask: bit `i`
//! is page `first + i`). Every other page is a *single*, one record in
//! `pages` under its id, as in layout version 1.
//!
//! This module is the bookkeeping, in plain Rust: the [`Directory`] of
//! live sets (read whole at open: 8 bytes a group) and the [`Plan`] that
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

use wasm_bindgen::{JsCast, JsValue};

/// The object store of group records (layout version 2).
pub const GROUPS_STORE: &str = "groups";

/// The object store of the groups' live sets (layout version 2).
pub const MEMBERS_STORE: &str = "members";

/// Fewest pages a group holds: a shorter run is written as singles.
pub const GROUP_MIN_PAGES: usize = 4;

/// Most pages a group holds (its live set is one 64-bit mask).
pub const GROUP_MAX_PAGES: usize = 64;

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
        at += len;
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
    mask: u64,
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
    if pages.len() < 64 && mask >> pages.len() != 0 {
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
    /// Live sets that changed, `(first, mask)`; a zero mask deletes the
    /// group's record and its live set.
    pub live_sets: Vec<(u64, u64)>,
}

impl Plan {
    /// Whether the plan touches the `groups` and `members` object stores.
    pub fn uses_groups(&self) -> bool {
        !self.groups.is_empty() || !self.live_sets.is_empty()
    }
}

/// The live set of every group (`first` -> mask), as the transactions
/// built so far leave them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    live: BTreeMap<u64, u64>,
}

impl Directory {
    /// No groups (a store of layout version 1, or a new one).
    pub fn new() -> Directory {
        Directory::default()
    }

    /// Adds the live set `mask` of the group at `first`, as read from the
    /// `members` object store. Errors name a set moonvault never writes.
    pub fn load(&mut self, first: u64, mask: u64) -> Result<(), String> {
        if mask == 0 || first > GROUP_MAX_ID {
            return Err(format!(
                "members area: group {first} has an empty or impossible live set"
            ));
        }
        self.live.insert(first, mask);
        Ok(())
    }

    /// Adds a live set as stored: `value` is the mask's 8 bytes, little
    /// endian.
    pub fn load_stored(&mut self, first: u64, value: &[u8]) -> Result<(), String> {
        let mask: [u8; 8] = value.try_into().map_err(|_| {
            format!(
                "members area: the live set of group {first} has {} bytes, not 8",
                value.len()
            )
        })?;
        self.load(first, u64::from_le_bytes(mask))
    }

    /// Number of groups with live pages.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no group has live pages.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The group page `id` is live in, if any.
    pub fn locate(&self, id: u64) -> Option<u64> {
        let low = id.saturating_sub(GROUP_MAX_PAGES as u64 - 1);
        self.live
            .range(low..=id)
            .rev()
            .find(|(&first, &mask)| mask >> (id - first) & 1 == 1)
            .map(|(&first, _)| first)
    }

    /// The key of every group with live pages, ascending.
    pub fn firsts(&self) -> impl Iterator<Item = u64> + '_ {
        self.live.keys().copied()
    }

    /// The live set of the group at `first` (0: no such group).
    pub fn live_set(&self, first: u64) -> u64 {
        self.live.get(&first).copied().unwrap_or(0)
    }

    /// Every page live in some group with an id in `first..=last`,
    /// ascending.
    pub fn live_pages(&self, first: u64, last: u64) -> Vec<u64> {
        let low = first.saturating_sub(GROUP_MAX_PAGES as u64 - 1);
        let mut out: Vec<u64> = self
            .live
            .range(low..=last)
            .flat_map(|(&g, &mask)| {
                (0..GROUP_MAX_PAGES as u64)
                    .filter(move |i| mask >> i & 1 == 1)
                    .map(move |i| g + i)
            })
            .filter(|id| (first..=last).contains(id))
            .collect();
        out.sort_unstable();
        out
    }

    /// The records for one transaction's page writes (`writes` ascending
    /// by id, one per id), and the directory as they leave it.
    pub fn plan(&mut self, writes: &[PageWrite]) -> Plan {
        debug_assert!(writes.windows(2).all(|w| w[0].id < w[1].id));
        let mut plan = Plan::default();
        let mut changed: BTreeMap<u64, u64> = BTreeMap::new();
        // Every written page leaves the group it was live in.
        for w in writes {
            if let Some(first) = self.locate(w.id) {
                let mask = self.live.get_mut(&first).expect("located");
                *mask &= !(1 << (w.id - first));
                changed.insert(first, *mask);
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
                let mask = if count == 64 {
                    u64::MAX
                } else {
                    (1 << count) - 1
                };
                self.live.insert(first, mask);
                changed.insert(first, mask);
                plan.groups.push((first, count));
            } else {
                plan.singles.extend(writes[start..i].iter().map(|w| w.id));
            }
        }
        for (&first, &mask) in &changed {
            if mask == 0 {
                self.live.remove(&first);
            }
            plan.live_sets.push((first, mask));
        }
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
        members: BTreeMap<u64, u64>,
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
            let mut dir = Directory::new();
            for (&first, &mask) in &self.members {
                dir.load(first, mask)?;
            }
            let mut out = BTreeMap::new();
            for (&first, &mask) in &self.members {
                let pages = self
                    .groups
                    .get(&first)
                    .ok_or("a live set without a record")?;
                for i in 0..64u64 {
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
        let mut dir = Directory::new();
        for (n, txn) in txns.iter().enumerate() {
            let version = n as u64 + 1;
            let mut writes: BTreeMap<u64, Option<u32>> = BTreeMap::new();
            for &(op, size) in txn {
                // Runs: an op writes 1..=16 consecutive ids from a base.
                let base = u64::from(size % 300);
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
            let mut reloaded = Directory::new();
            for (&first, &mask) in &records.members {
                reloaded.load(first, mask).unwrap();
            }
            if reloaded != dir {
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
        let mut dir = Directory::new();
        // 105 pages of 1.5 KB: 10 fit 16 KiB, so ten groups of 10, then 5.
        let plan = dir.plan(&puts(1..106, 1500));
        let firsts: Vec<(u64, usize)> = (0..10).map(|g| (1 + 10 * g, 10)).collect();
        assert_eq!(plan.groups[..10], firsts[..]);
        assert_eq!(plan.groups[10], (101, 5));
        assert!(plan.singles.is_empty());
        // 200 small pages: 64 a group.
        let mut dir = Directory::new();
        let plan = dir.plan(&puts(1000..1200, 100));
        assert_eq!(
            plan.groups.iter().map(|g| g.1).collect::<Vec<_>>(),
            [64, 64, 64, 8]
        );
        assert_eq!(dir.live_set(1000), u64::MAX);
        // Short runs and a run cut short by a delete are singles.
        let mut dir = Directory::new();
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
        let mut dir = Directory::new();
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
