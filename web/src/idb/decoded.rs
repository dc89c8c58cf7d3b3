//! Pages as the pager decoded them, kept on the JS heap.
//!
//! Linear memory holds a 32 KiB page cache (section 8 of DESIGN.md,
//! "Memory budget"), so a read of a store larger than that loads most of
//! its leaves from the store: a copy of the stored blob into the module,
//! its crc and its decompression, and the B-tree's check of the node's key
//! order, every time. The pager hands each clean page leaving its cache
//! back to the store ([`BlobStore::keep_decoded`]); this cache keeps the
//! images, with whether the B-tree checked them, least recently used
//! first, outside linear memory, so the next load of the page is one copy.
//!
//! Invariant: an image is what the page's blob decodes to now. Images
//! enter only from the pager's cache of clean pages (each equal to its
//! blob: read from it, or written to it before it was cached), and every
//! write of a page through the store forgets its image.
//!
//! [`BlobStore::keep_decoded`]: moonvault_pager::store::BlobStore::keep_decoded

use js_sys::{Map, Uint8Array};
use moonvault_pager::Page;
use wasm_bindgen::{JsCast, JsValue};

/// Bookkeeping charged per image besides its bytes (the `Map` entry and
/// the typed array).
const IMAGE_OVERHEAD: usize = 64;

/// Decoded pages by key (`[kind, checked, data...]`), in `Map` insertion order =
/// least recently used first. Invariant: `bytes` is the charge of the
/// images held, at most `limit` after every call.
pub(super) struct DecodedPages {
    images: Map,
    bytes: usize,
    limit: usize,
}

/// Bytes an image has before the page's data: the page's kind, then 1 if
/// the B-tree had checked the page, else 0.
const IMAGE_HEADER: usize = 2;

/// What an image of `len` bytes (its header included) counts.
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

    /// The page kept for `key`, now the most recently used image.
    pub(super) fn get(&mut self, key: &JsValue) -> Option<Page> {
        let image = self.images.get(key);
        let image: Uint8Array = image.dyn_into().ok()?;
        // Move it to the end of the insertion order.
        self.images.delete(key);
        self.images.set(key, &image);
        // Never shorter than its header (`keep` writes it); checked all
        // the same, since nothing read here may panic the module.
        if (image.length() as usize) < IMAGE_HEADER {
            return None;
        }
        let page = Page::new(
            image.get_index(0),
            image.subarray(IMAGE_HEADER as u32, image.length()).to_vec(),
        );
        if image.get_index(1) == 1 {
            page.set_checked();
        }
        Some(page)
    }

    /// Keep the image of page `key`, evicting the least recently used
    /// images past the limit (an image larger than the limit is not kept).
    /// An image already held stays as it is (its place in the order too),
    /// unless `page` was checked and it was not.
    pub(super) fn keep(&mut self, key: &JsValue, page: &Page) {
        if let Ok(held) = self.images.get(key).dyn_into::<Uint8Array>() {
            // The same content (the invariant): keep it unless this copy
            // adds the check.
            if held.get_index(1) == 1 || !page.is_checked() {
                return;
            }
        }
        self.forget(key);
        let cost = charge(IMAGE_HEADER + page.data.len());
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
        let mut image = Vec::with_capacity(IMAGE_HEADER + page.data.len());
        image.extend_from_slice(&[page.kind, u8::from(page.is_checked())]);
        image.extend_from_slice(&page.data);
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
