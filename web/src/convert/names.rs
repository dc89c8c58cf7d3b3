//! Short string keys (field names) as JS strings, from a small cache.
//!
//! Reading records converts the same few field names over and over
//! (`name`, `age`, `score` for every record). A new JS string costs a
//! `TextDecoder.decode` on the JS side (about 0.8 µs in Chromium); handing
//! out a cached one costs a reference clone. The cache is direct-mapped
//! and fixed-size, so it stays bounded whatever keys a store holds (a
//! colliding key replaces the entry and the old JS string is released).

use std::cell::RefCell;

use wasm_bindgen::JsValue;

/// Longest key cached, in bytes; longer keys are rarely field names.
const MAX_LEN: usize = 24;
/// Number of entries (a power of two).
const SLOTS: usize = 64;

struct Entry {
    len: u8,
    bytes: [u8; MAX_LEN],
    js: JsValue,
}

thread_local! {
    static CACHE: RefCell<Vec<Option<Entry>>> =
        RefCell::new((0..SLOTS).map(|_| None).collect());
}

/// FNV-1a: a cheap, well-spread hash of short byte strings.
fn slot(s: &[u8]) -> usize {
    let h = s.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (h as usize) & (SLOTS - 1)
}

/// `s` (valid UTF-8) as a JS string; short ones come from the cache.
pub fn js_str(s: &str) -> JsValue {
    let b = s.as_bytes();
    if b.len() > MAX_LEN {
        return JsValue::from_str(s);
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let entry = &mut cache[slot(b)];
        if let Some(e) = entry {
            if &e.bytes[..usize::from(e.len)] == b {
                return e.js.clone();
            }
        }
        let js = JsValue::from_str(s);
        let mut bytes = [0u8; MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        *entry = Some(Entry {
            len: b.len() as u8,
            bytes,
            js: js.clone(),
        });
        js
    })
}
