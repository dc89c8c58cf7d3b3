//! The JS-side copy of every blob of an open store.
//!
//! IndexedDB only answers asynchronously, and Lua (and the engine under it)
//! reads pages synchronously. So at open every blob is loaded into one JS
//! `Map` per area (key form: [`super::key`], value: a `Uint8Array`), and
//! `get`/`keys` are served from there. The maps live on the JS heap, outside
//! the module's 2 MiB linear memory: only the blob being read is copied in.
//!
//! Invariant: the mirror is exactly the store as the engine has written it
//! (every accepted batch applied, durable or not). A `Uint8Array` in a map
//! is never modified after it is inserted, so the same object can also sit
//! in the write queue and be handed to IndexedDB.

use bytes::Bytes;
use js_sys::{Map, Uint8Array};
use moonvault_pager::store::{Area, BlobKey};
use wasm_bindgen::{JsCast, JsValue};

use super::key;

/// One `Map` per area, plus the byte totals `stored_bytes` reports.
#[derive(Debug)]
pub struct Mirror {
    maps: [Map; 3],
    bytes: [u64; 3],
}

fn slot(area: Area) -> usize {
    area.tag() as usize
}

impl Default for Mirror {
    fn default() -> Self {
        Mirror::new()
    }
}

impl Mirror {
    /// An empty mirror.
    pub fn new() -> Mirror {
        Mirror {
            maps: [Map::new(), Map::new(), Map::new()],
            bytes: [0; 3],
        }
    }

    /// A copy of the blob at `(area, key)`, copied into linear memory.
    pub fn get(&self, area: Area, key: BlobKey) -> Option<Bytes> {
        let value = self.maps[slot(area)].get(&key::to_js(key));
        if value.is_undefined() {
            return None;
        }
        // Only `put` and `load` insert, and both insert `Uint8Array`s.
        let array: Uint8Array = value.unchecked_into();
        Some(Bytes::from(array.to_vec()))
    }

    /// Every key of `area`, ascending. Errors name a key that is not in
    /// canonical form (only possible for a database written by other code).
    pub fn keys(&self, area: Area) -> Result<Vec<BlobKey>, String> {
        let map = &self.maps[slot(area)];
        let mut out = Vec::with_capacity(map.size() as usize);
        let mut bad = None;
        map.for_each(&mut |_value, k| match key::from_js(&k) {
            Ok(k) => out.push(k),
            Err(e) => {
                bad.get_or_insert(e);
            }
        });
        if let Some(e) = bad {
            return Err(format!("{} area: {e}", area.name()));
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Store `value` at `(area, js_key)` (`js_key` from [`key::to_js`]).
    pub fn put(&mut self, area: Area, js_key: &JsValue, value: &Uint8Array) {
        let map = &self.maps[slot(area)];
        let old = map.get(js_key);
        let total = &mut self.bytes[slot(area)];
        if !old.is_undefined() {
            *total -= u64::from(old.unchecked_into::<Uint8Array>().length());
        }
        *total += u64::from(value.length());
        map.set(js_key, value);
    }

    /// Remove the blob at `(area, js_key)`, if any.
    pub fn delete(&mut self, area: Area, js_key: &JsValue) {
        let map = &self.maps[slot(area)];
        let old = map.get(js_key);
        if !old.is_undefined() {
            self.bytes[slot(area)] -= u64::from(old.unchecked_into::<Uint8Array>().length());
            map.delete(js_key);
        }
    }

    /// Insert a blob read from IndexedDB at open, checking its form.
    pub fn load(&mut self, area: Area, js_key: &JsValue, value: JsValue) -> Result<(), String> {
        key::from_js(js_key).map_err(|e| format!("{} area: {e}", area.name()))?;
        let Some(array) = value.dyn_ref::<Uint8Array>() else {
            return Err(format!(
                "{} area: the value at key {js_key:?} is not a Uint8Array",
                area.name()
            ));
        };
        self.put(area, js_key, array);
        Ok(())
    }

    /// Bytes of blob content in `area`.
    pub fn stored_bytes(&self, area: Area) -> u64 {
        self.bytes[slot(area)]
    }

    /// Number of blobs in `area`.
    pub fn blob_count(&self, area: Area) -> u64 {
        u64::from(self.maps[slot(area)].size())
    }
}
