//! Lazy paging: the `pages` area read from IndexedDB on demand instead of
//! mirrored whole at open (DESIGN.md section 8, "Reads: lazy paging").
//!
//! Open reads nothing of the pages area: not the pages, not their keys. A
//! read that misses the JS-side cache suspends the wasm module through
//! JSPI ([`super::suspend`]) while one readonly IndexedDB transaction
//! fetches the page with the singles from [`READ_BEHIND`] ids below it to
//! [`READ_AHEAD`] - 1 above (one ranged `getAll`; a page in a group comes
//! with its group), so a cold scan costs a request per run of pages, not
//! per page, and a cold descent one for the path a commit wrote together.
//! A key listing (the pager's orphan check at open) asks
//! IndexedDB for the range it needs.
//!
//! Four JS `Map`s, all outside linear memory:
//! - `written`: every page key this session wrote or deleted, with the
//!   blob's size (`null` once deleted) and the batch that did it. Memory
//!   grows with the pages written, never with the store.
//! - `unsynced`: pages written but not yet durable, with the batch that
//!   wrote them. IndexedDB does not have them yet, so they are never
//!   evicted; [`LazyPages::settle`] moves them to the cache once their
//!   transaction completed. Which keys to look at is a Rust-side list in
//!   batch order (`sent`), so settling costs the pages that settle, not
//!   every page held back for a later batch (`NOT_SENT`).
//! - `cache`: clean pages, least recently used first (a `Map` iterates in
//!   insertion order; a hit re-inserts), at most `limit` bytes.
//! - `scanned` (only after [`LazyPages::measured`]): the size of every page
//!   this session has not written, for exact `stats()`.
//!
//! Invariants: a page in `cache` holds what IndexedDB holds for its key,
//! and never older than the newest durable write of it: a fetched page is
//! only inserted where neither the cache nor `unsynced` has the key, and
//! where `written` has no write of the key in a batch that was not durable
//! when the fetch's transaction was created (IndexedDB orders a readonly
//! transaction after the readwrite ones created before it, so the fetch
//! saw every batch durable by then; a later batch may be missing from
//! what it read). So a read can neither resurrect a deleted page nor
//! replace a newer one. Every read answers from `written` (deleted),
//! `unsynced`, then `cache`, then IndexedDB, so reads see every accepted
//! batch.

use std::collections::VecDeque;

use js_sys::{Array, Map, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use super::key;

/// Ids a miss of a single reads from the missed page on (copy-on-write
/// writes a bulk load in ascending ids, so a scan's next pages are usually
/// the next keys).
pub const READ_AHEAD: u32 = 32;

/// Ids a miss of a single also reads below the missed page: a commit
/// copies a leaf before the branches above it and takes free ids lowest
/// first, so the root a descent reads first usually has the highest id
/// of the path it was written with, and the pages below it lie just
/// under it.
pub const READ_BEHIND: u64 = 16;

/// The batch a held page write ([`super::queue::Queue::hold`]) is recorded
/// with until a batch carries it: above any batch number, so it never
/// settles and no fetch replaces it.
pub const NOT_SENT: u64 = 1 << 52;

/// Default bound of the JS-side page cache (`pageCacheBytes`).
pub const DEFAULT_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The pages area of a lazily paged store.
#[derive(Debug)]
pub struct LazyPages {
    written: Map,
    unsynced: Map,
    /// `(batch, key)` of every put into `unsynced` with a batch number,
    /// ascending (batches are accepted in order): where `settle` looks.
    sent: VecDeque<(u64, JsValue)>,
    cache: Map,
    cached_bytes: usize,
    limit: usize,
    /// Pages `written` holds as present, and their bytes.
    written_count: u64,
    written_bytes: u64,
    scanned: Option<Scanned>,
    /// The singles in `pages` when the store was opened, as far as open
    /// read them (see [`LoadEdges`]).
    edges: Option<LoadEdges>,
}

/// What open learned of the `pages` object store's keys besides the rest
/// it reads (two requests in its transaction, not two round trips after
/// it): whether page 0 is there, and the greatest key. The pager's open
/// lists exactly `0..=0` and `next_page_id..` (orphans, `reclaim_orphans`),
/// which these answer for as long as no transaction of this session has
/// written (the caller checks that: one lock holder writes the store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadEdges {
    /// Whether a single of page 0 exists.
    pub has_zero: bool,
    /// The greatest single's key (`None`: no singles).
    pub max: Option<u64>,
}

impl LoadEdges {
    /// The singles in `first..=last` if these edges tell them all.
    pub fn singles_in(&self, first: u64, last: u64) -> Option<Vec<u64>> {
        match self.max {
            None => Some(Vec::new()),
            Some(max) if first > max => Some(Vec::new()),
            Some(_) if first == 0 && last == 0 => {
                Some(if self.has_zero { vec![0] } else { Vec::new() })
            }
            Some(_) => None,
        }
    }
}

/// The sizes of the pages this session has not written, as one scan of
/// IndexedDB found them.
#[derive(Debug)]
struct Scanned {
    sizes: Map,
    bytes: u64,
}

/// What a read found without IndexedDB.
pub enum Lookup {
    /// The store has no such page.
    Absent,
    /// Here it is.
    Found(Uint8Array),
    /// Memory does not have it: fetch it (IndexedDB may not have it either).
    Miss,
}

/// A write of one page key as `written` holds it: `[size | null, batch]`.
fn write_entry(size: Option<u32>, batch: u64) -> Array {
    let size = size.map_or(JsValue::NULL, JsValue::from);
    Array::of2(&size, &JsValue::from_f64(batch as f64))
}

/// The size (`None`: deleted) and batch of a `written` entry.
fn read_entry(entry: &JsValue) -> (Option<u32>, u64) {
    let entry: &Array = entry.unchecked_ref();
    let size = entry.get(0).as_f64().map(|s| s as u32);
    let batch = entry.get(1).as_f64().unwrap_or(0.0) as u64;
    (size, batch)
}

impl LazyPages {
    /// The pages area of an opened store: nothing read, nothing cached, at
    /// most `limit` bytes of clean pages.
    pub fn new(limit: usize) -> LazyPages {
        LazyPages {
            written: Map::new(),
            unsynced: Map::new(),
            sent: VecDeque::new(),
            cache: Map::new(),
            cached_bytes: 0,
            limit,
            written_count: 0,
            written_bytes: 0,
            scanned: None,
            edges: None,
        }
    }

    /// Records what open read of `pages`' keys.
    pub fn set_load_edges(&mut self, edges: LoadEdges) {
        self.edges = Some(edges);
    }

    /// What open read of `pages`' keys, if it read them.
    pub fn load_edges(&self) -> Option<LoadEdges> {
        self.edges
    }

    /// Whether the page at `js_key` would have to be fetched (no effect on
    /// the cache's order).
    pub fn is_miss(&self, js_key: &JsValue) -> bool {
        !self.unsynced.has(js_key) && !self.cache.has(js_key) && !self.deleted(js_key)
    }

    /// Whether this session deleted the page at `js_key` (and did not
    /// write it again).
    fn deleted(&self, js_key: &JsValue) -> bool {
        let entry = self.written.get(js_key);
        !entry.is_undefined() && read_entry(&entry).0.is_none()
    }

    /// Most pages one prefetch asks for: half of what the cache holds at
    /// 4 KiB a page, so that a prefetch does not evict what it fetched.
    pub fn prefetch_room(&self) -> usize {
        (self.limit / 8192).max(8)
    }

    /// The page at `js_key` if memory has it.
    pub fn lookup(&mut self, js_key: &JsValue) -> Lookup {
        if self.deleted(js_key) {
            return Lookup::Absent;
        }
        let pending = self.unsynced.get(js_key);
        if !pending.is_undefined() {
            // [value, batch]
            return Lookup::Found(Array::from(&pending).get(0).unchecked_into());
        }
        let cached = self.cache.get(js_key);
        if cached.is_undefined() {
            return Lookup::Miss;
        }
        // Most recently used goes last.
        self.cache.delete(js_key);
        self.cache.set(js_key, &cached);
        Lookup::Found(cached.unchecked_into())
    }

    /// Pages fetched from IndexedDB (`keys[i]` holds `values[i]`) by a
    /// transaction created when batches up to `durable` were durable, put
    /// in the cache where the invariants allow. Errors name a key or value
    /// IndexedDB returned in a form moonvault never writes.
    pub fn insert_fetched(
        &mut self,
        keys: &Array,
        values: &Array,
        durable: u64,
    ) -> Result<(), String> {
        check_pair(keys, values)?;
        for i in 0..keys.length() {
            let k = keys.get(i);
            let array: Uint8Array = values.get(i).unchecked_into();
            if self.unsynced.has(&k) || self.cache.has(&k) {
                continue;
            }
            let entry = self.written.get(&k);
            if !entry.is_undefined() && read_entry(&entry).1 > durable {
                // Written since the fetch's snapshot: what it read may be older.
                continue;
            }
            self.cache_insert(&k, &array);
        }
        self.evict();
        Ok(())
    }

    /// Whether every page's size is known ([`LazyPages::learn_scan`] ran).
    pub fn measured(&self) -> bool {
        self.scanned.is_some()
    }

    /// Starts learning every page's size: the pages a scan of IndexedDB
    /// will bring are added by [`LazyPages::learn_scan`].
    pub fn begin_scan(&mut self) {
        self.scanned = Some(Scanned {
            sizes: Map::new(),
            bytes: 0,
        });
    }

    /// Forgets a scan that did not finish (its sizes are partial).
    pub fn abandon_scan(&mut self) {
        self.scanned = None;
    }

    /// One run of a scan begun by [`LazyPages::begin_scan`]: the sizes of
    /// the pages this session has not written (`written` knows the
    /// others' sizes, whatever IndexedDB holds for them yet).
    pub fn learn_scan(&mut self, keys: &Array, values: &Array) -> Result<(), String> {
        check_pair(keys, values)?;
        let Some(scanned) = self.scanned.as_mut() else {
            return Ok(());
        };
        for i in 0..keys.length() {
            let k = keys.get(i);
            if self.written.has(&k) || scanned.sizes.has(&k) {
                continue;
            }
            let len = values.get(i).unchecked_into::<Uint8Array>().length();
            scanned.sizes.set(&k, &JsValue::from(len));
            scanned.bytes += u64::from(len);
        }
        Ok(())
    }

    /// Records a write of the page at `js_key` (`size`: `None` deletes it)
    /// in `written`, keeping the counts exact.
    fn record_write(&mut self, js_key: &JsValue, size: Option<u32>, batch: u64) {
        let old = self.written.get(js_key);
        if !old.is_undefined() {
            if let Some(len) = read_entry(&old).0 {
                self.written_count -= 1;
                self.written_bytes -= u64::from(len);
            }
        } else if let Some(scanned) = self.scanned.as_mut() {
            // From now on `written` knows this page's size.
            if let Some(len) = scanned.sizes.get(js_key).as_f64() {
                scanned.bytes -= len as u64;
                scanned.sizes.delete(js_key);
            }
        }
        if let Some(len) = size {
            self.written_count += 1;
            self.written_bytes += u64::from(len);
        }
        self.written.set(js_key, &write_entry(size, batch));
    }

    fn cache_insert(&mut self, k: &JsValue, array: &Uint8Array) {
        self.cache.set(k, array);
        self.cached_bytes += array.length() as usize;
    }

    fn cache_remove(&mut self, k: &JsValue) {
        let old = self.cache.get(k);
        if !old.is_undefined() {
            self.cached_bytes -= old.unchecked_into::<Uint8Array>().length() as usize;
            self.cache.delete(k);
        }
    }

    /// Drops least recently used clean pages until the cache fits.
    fn evict(&mut self) {
        while self.cached_bytes > self.limit {
            let Some(oldest) = self.cache.keys().next().ok().filter(|n| !n.done()) else {
                break;
            };
            self.cache_remove(&oldest.value());
        }
    }

    /// A page written in batch `batch` (not durable until it settles).
    pub fn put(&mut self, js_key: &JsValue, value: &Uint8Array, batch: u64) {
        self.record_write(js_key, Some(value.length()), batch);
        self.cache_remove(js_key);
        let entry = Array::of2(value, &JsValue::from_f64(batch as f64));
        self.unsynced.set(js_key, &entry);
        if batch != NOT_SENT {
            self.sent.push_back((batch, js_key.clone()));
        }
    }

    /// A page deleted in batch `batch` (`written` answers "absent" from
    /// now on, durable or not).
    pub fn delete(&mut self, js_key: &JsValue, batch: u64) {
        self.record_write(js_key, None, batch);
        self.cache_remove(js_key);
        self.unsynced.delete(js_key);
    }

    /// Every batch up to `durable` is in IndexedDB: its pages become clean.
    /// A key written again by a later batch (or held back since) stays in
    /// `unsynced` until that write is durable.
    pub fn settle(&mut self, durable: u64) {
        let mut settled = false;
        while let Some((batch, k)) = self.sent.pop_front() {
            if batch > durable {
                self.sent.push_front((batch, k));
                break;
            }
            let entry = self.unsynced.get(&k);
            if !entry.is_undefined() {
                let entry = Array::from(&entry);
                if entry.get(1).as_f64().is_some_and(|b| b as u64 <= durable) {
                    self.unsynced.delete(&k);
                    self.cache_insert(&k, entry.get(0).unchecked_ref());
                    settled = true;
                }
            }
        }
        if settled {
            self.evict();
        }
    }

    /// `listed` (keys IndexedDB holds in `first..=last`, any order) with
    /// this session's writes in that range applied: the area's keys there,
    /// ascending.
    pub fn overlay_keys(&self, listed: &Array, first: u64, last: u64) -> Result<Vec<u64>, String> {
        let mut out = std::collections::BTreeSet::new();
        for k in listed.iter() {
            let id = key::from_js(&k).map_err(|e| format!("pages area: {e}"))?;
            if (first..=last).contains(&id) && !self.written.has(&k) {
                out.insert(id);
            }
        }
        self.written.for_each(&mut |entry, k| {
            if let (Ok(id), (Some(_), _)) = (key::from_js(&k), read_entry(&entry)) {
                if (first..=last).contains(&id) {
                    out.insert(id);
                }
            }
        });
        Ok(out.into_iter().collect())
    }

    /// Number of pages and their bytes, once [`LazyPages::measured`];
    /// before, those this session wrote.
    pub fn count_and_bytes(&self) -> (u64, u64) {
        let (count, bytes) = self
            .scanned
            .as_ref()
            .map_or((0, 0), |s| (u64::from(s.sizes.size()), s.bytes));
        (count + self.written_count, bytes + self.written_bytes)
    }

    /// Bytes of clean pages held, and of pages not yet durable.
    pub fn held_bytes(&self) -> (usize, usize) {
        let mut unsynced = 0;
        self.unsynced.for_each(&mut |entry, _k| {
            unsynced += Array::from(&entry)
                .get(0)
                .unchecked_into::<Uint8Array>()
                .length() as usize;
        });
        (self.cached_bytes, unsynced)
    }
}

/// Checks a fetch's `keys` and `values`: as many of each, keys in
/// moonvault's form, values `Uint8Array`s.
fn check_pair(keys: &Array, values: &Array) -> Result<(), String> {
    if keys.length() != values.length() {
        return Err(format!(
            "pages area: a read returned {} keys but {} values",
            keys.length(),
            values.length()
        ));
    }
    for i in 0..keys.length() {
        let k = keys.get(i);
        key::from_js(&k).map_err(|e| format!("pages area: {e}"))?;
        if !values.get(i).is_instance_of::<Uint8Array>() {
            return Err(format!(
                "pages area: the value at key {k:?} is not a Uint8Array"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::LoadEdges;

    #[test]
    fn load_edges_answer_only_the_listings_they_cover() {
        let none = LoadEdges {
            has_zero: false,
            max: None,
        };
        assert_eq!(none.singles_in(0, 0), Some(vec![]));
        assert_eq!(none.singles_in(5, u64::MAX), Some(vec![]));
        let some = LoadEdges {
            has_zero: true,
            max: Some(900),
        };
        assert_eq!(some.singles_in(0, 0), Some(vec![0]));
        assert_eq!(some.singles_in(901, u64::MAX), Some(vec![]));
        assert_eq!(some.singles_in(900, u64::MAX), None, "the greatest key");
        assert_eq!(some.singles_in(0, 10), None, "a range it did not read");
        let no_zero = LoadEdges {
            has_zero: false,
            max: Some(7),
        };
        assert_eq!(no_zero.singles_in(0, 0), Some(vec![]));
    }
}
