//! Pages as the pager decoded them, kept on the JS heap.
//!
//! Linear memory holds a 32 KiB page cache (section 8 of DESIGN.md,
//! "Memory budget"), so a read of a store larger than that loads most of
//! its leaves from the store: a copy of the stored blob into the module,
//! its crc and its decompression, every time. The pager hands each page it
//! decoded and checked back to the store ([`BlobStore::keep_decoded`]);
//! this cache keeps the images, least recently used first, outside linear
//! memory, so the next load of the page is one copy.
//!
//! Invariant: an image is what the page's blob decodes to now. Images
//! enter only from the pager, right after it decoded the blob the store
//! returned (no write can come between: the call holds the store), and
//! every write of a page through the store forgets its image first.
//!
//! [`BlobStore::keep_decoded`]: moonvault_pager::store::BlobStore::keep_decoded

use js_sys::{Map, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// Bookkeeping charged per image besides its bytes (the `Map` entry and
/// the typed array).
const IMAGE_OVERHEAD: usize = 64;

/// Decoded pages by key (`[kind, data...]`), in `Map` insertion order =
/// least recently used first. Invariant: `bytes` is the charge of the
/// images held, at most `limit` after every call.
pub(super) struct DecodedPages {
    images: Map,
    bytes: usize,
    limit: usize,
}

/// What an image of `len` bytes (the kind byte included) counts.
fn charge(len: usize) -> usize {
    len + IMAGE_OVERHEAD
}

impl DecodedPages {
    pub(super) fn new(limit: usize) -> DecodedPages {
        DecodedPages {
            images: Map::new(),
            bytes: 0,
            limit,
        }
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The image of page `key` (its kind and data), now the most recently
    /// used.
    pub(super) fn get(&mut self, key: &JsValue) -> Option<(u8, Vec<u8>)> {
        let image = self.images.get(key);
        let image: Uint8Array = image.dyn_into().ok()?;
        // Move it to the end of the insertion order.
        self.images.delete(key);
        self.images.set(key, &image);
        let mut data = image.to_vec();
        // Never empty (`keep` writes the kind first); checked all the same,
        // since nothing read here may panic the module.
        if data.is_empty() {
            return None;
        }
        let kind = data.remove(0);
        Some((kind, data))
    }

    /// Keep the image of page `key`, evicting the least recently used
    /// images past the limit (an image larger than the limit is not kept).
    pub(super) fn keep(&mut self, key: &JsValue, kind: u8, data: &[u8]) {
        self.forget(key);
        let cost = charge(data.len() + 1);
        if cost > self.limit {
            return;
        }
        while self.bytes + cost > self.limit {
            match self.images.keys().next() {
                Ok(first) if !first.done() => self.forget(&first.value()),
                _ => break,
            }
        }
        // Built whole in linear memory (briefly: a page's worth), then
        // copied out in one call.
        let mut image = Vec::with_capacity(data.len() + 1);
        image.push(kind);
        image.extend_from_slice(data);
        self.images.set(key, &Uint8Array::from(&image[..]));
        self.bytes += cost;
    }

    /// Drop the image of page `key`, if held.
    pub(super) fn forget(&mut self, key: &JsValue) {
        if let Ok(image) = self.images.get(key).dyn_into::<Uint8Array>() {
            self.bytes -= charge(image.length() as usize);
            self.images.delete(key);
        }
    }
}
