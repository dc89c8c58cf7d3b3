//! Lazy paging: the `pages` area read from IndexedDB on demand instead of
//! mirrored whole at open (DESIGN.md section 8, "Reads: lazy paging").
//!
//! Open loads only the page *keys* (one `getAllKeys`). A read that misses
//! the JS-side cache suspends the wasm module through JSPI
//! ([`super::suspend`]) while one readonly IndexedDB transaction fetches the
//! page and the next [`READ_AHEAD`] - 1 pages in key order (one ranged
//! `getAll`), so a cold scan costs a request per run of pages, not per page.
//!
//! Three JS `Map`s, all outside linear memory:
//! - `known`: every page key the store holds as the engine wrote it, with
//!   the blob's size once known (`undefined` until the page was read or
//!   written). It answers "absent" without a request, `keys`, and
//!   `stored_bytes`.
//! - `unsynced`: pages written but not yet durable, with the batch that
//!   wrote them. IndexedDB does not have them yet, so they are never
//!   evicted; [`LazyPages::settle`] moves them to the cache once their
//!   transaction completed.
//! - `cache`: clean pages, least recently used first (a `Map` iterates in
//!   insertion order; a hit re-inserts), at most `limit` bytes.
//!
//! Invariants: a page in `cache` holds what IndexedDB holds for its key,
//! and never older than the newest durable write of it (a fetched page is
//! only inserted where neither the cache nor `unsynced` has the key, and
//! only for a key still in `known`: a read cannot resurrect a deleted page
//! or overwrite a newer one). Every read answers from `unsynced` first,
//! then `cache`, then IndexedDB, so reads see every accepted batch.

use js_sys::{Array, Map, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use super::key;

/// Pages fetched by one miss: the missed page and those after it in key
/// order (copy-on-write writes a bulk load in ascending ids, so a scan's
/// next pages are usually the next keys).
pub const READ_AHEAD: u32 = 32;

/// Default bound of the JS-side page cache (`pageCacheBytes`).
pub const DEFAULT_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The pages area of a lazily paged store.
#[derive(Debug)]
pub struct LazyPages {
    known: Map,
    unsynced: Map,
    cache: Map,
    cached_bytes: usize,
    limit: usize,
    /// Sum of the sizes `known` holds, and how many keys have none yet.
    known_bytes: u64,
    unknown_sizes: u64,
}

/// What a read found without IndexedDB.
pub enum Lookup {
    /// The store has no such page.
    Absent,
    /// Here it is.
    Found(Uint8Array),
    /// It exists but is not in memory: fetch it.
    Miss,
}

impl LazyPages {
    /// The pages area with `keys` (from `getAllKeys`, checked), nothing
    /// cached, at most `limit` bytes of clean pages.
    pub fn new(keys: &Array, limit: usize) -> Result<LazyPages, String> {
        let known = Map::new();
        for k in keys.iter() {
            key::from_js(&k).map_err(|e| format!("pages area: {e}"))?;
            known.set(&k, &JsValue::UNDEFINED);
        }
        let unknown_sizes = u64::from(known.size());
        Ok(LazyPages {
            known,
            unsynced: Map::new(),
            cache: Map::new(),
            cached_bytes: 0,
            limit,
            known_bytes: 0,
            unknown_sizes,
        })
    }

    /// Whether the page at `js_key` exists but would have to be fetched
    /// (no effect on the cache's order).
    pub fn is_miss(&self, js_key: &JsValue) -> bool {
        self.known.has(js_key) && !self.unsynced.has(js_key) && !self.cache.has(js_key)
    }

    /// Most pages one prefetch asks for: half of what the cache holds at
    /// 4 KiB a page, so that a prefetch does not evict what it fetched.
    pub fn prefetch_room(&self) -> usize {
        (self.limit / 8192).max(8)
    }

    /// The page at `js_key` if memory has it.
    pub fn lookup(&mut self, js_key: &JsValue) -> Lookup {
        if !self.known.has(js_key) {
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

    /// Pages fetched from IndexedDB (`keys[i]` holds `values[i]`): their
    /// sizes learned, and with `keep` put in the cache where the
    /// invariants allow (a measuring read keeps nothing, so `stats()`
    /// leaves the cache as the engine's reads made it). Errors name a key
    /// or value IndexedDB returned in a form moonvault never writes.
    pub fn insert_fetched(
        &mut self,
        keys: &Array,
        values: &Array,
        keep: bool,
    ) -> Result<(), String> {
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
            let value = values.get(i);
            let Some(array) = value.dyn_ref::<Uint8Array>() else {
                return Err(format!(
                    "pages area: the value at key {k:?} is not a Uint8Array"
                ));
            };
            self.learn_size(&k, array.length());
            if !keep || !self.known.has(&k) || self.unsynced.has(&k) || self.cache.has(&k) {
                continue;
            }
            self.cache_insert(&k, array);
        }
        self.evict();
        Ok(())
    }

    /// Records the size of a page read from IndexedDB, if it is still the
    /// page `known` means (a page rewritten since has its size already).
    fn learn_size(&mut self, k: &JsValue, len: u32) {
        if self.known.has(k) && self.known.get(k).is_undefined() {
            self.known.set(k, &JsValue::from(len));
            self.known_bytes += u64::from(len);
            self.unknown_sizes -= 1;
        }
    }

    fn forget_size(&mut self, k: &JsValue) {
        let old = self.known.get(k);
        if let Some(len) = old.as_f64() {
            self.known_bytes -= len as u64;
        } else if self.known.has(k) {
            self.unknown_sizes -= 1;
        }
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
        self.forget_size(js_key);
        self.known.set(js_key, &JsValue::from(value.length()));
        self.known_bytes += u64::from(value.length());
        self.cache_remove(js_key);
        let entry = Array::of2(value, &JsValue::from_f64(batch as f64));
        self.unsynced.set(js_key, &entry);
    }

    /// A page deleted (in any batch: absence needs no pinning, since no
    /// read consults IndexedDB for a key `known` lacks).
    pub fn delete(&mut self, js_key: &JsValue) {
        self.forget_size(js_key);
        self.known.delete(js_key);
        self.cache_remove(js_key);
        self.unsynced.delete(js_key);
    }

    /// Every batch up to `durable` is in IndexedDB: its pages become clean.
    pub fn settle(&mut self, durable: u64) {
        if self.unsynced.size() == 0 {
            return;
        }
        let mut done = Vec::new();
        self.unsynced.for_each(&mut |entry, k| {
            let entry = Array::from(&entry);
            if entry.get(1).as_f64().is_some_and(|b| b as u64 <= durable) {
                done.push((k, entry.get(0)));
            }
        });
        for (k, value) in done {
            self.unsynced.delete(&k);
            self.cache_insert(&k, value.unchecked_ref());
        }
        self.evict();
    }

    /// Every page key, ascending.
    pub fn keys(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.known.size() as usize);
        // Checked when they entered `known`.
        self.known.for_each(&mut |_size, k| {
            if let Ok(k) = key::from_js(&k) {
                out.push(k);
            }
        });
        out.sort_unstable();
        out
    }

    /// Number of pages.
    pub fn count(&self) -> u64 {
        u64::from(self.known.size())
    }

    /// Bytes of the pages whose size is known (all of them once
    /// [`LazyPages::stored_bytes`] is `Some`).
    pub fn known_bytes(&self) -> u64 {
        self.known_bytes
    }

    /// Bytes of all pages, when every size is known.
    pub fn stored_bytes(&self) -> Option<u64> {
        (self.unknown_sizes == 0).then_some(self.known_bytes)
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
