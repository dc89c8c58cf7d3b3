//! Awaiting IndexedDB requests, settling promises from Rust, and ranged
//! reads (lazy paging's page fetches).

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbRequest};

use super::key::{to_js, MAX_SAFE};

/// A promise with its `resolve` and `reject` functions.
pub struct Deferred {
    /// The promise.
    pub promise: Promise,
    /// Fulfils it with its argument.
    pub resolve: Function,
    /// Rejects it with its argument.
    pub reject: Function,
}

impl Deferred {
    /// A pending promise.
    pub fn new() -> Deferred {
        let mut parts = None;
        let promise = Promise::new(&mut |resolve, reject| parts = Some((resolve, reject)));
        // The executor runs synchronously inside `new Promise`.
        let (resolve, reject) =
            parts.unwrap_or_else(|| (Function::new_no_args(""), Function::new_no_args("")));
        Deferred {
            promise,
            resolve,
            reject,
        }
    }
}

impl Default for Deferred {
    fn default() -> Self {
        Deferred::new()
    }
}

/// Waits for `request` to succeed (its `result`) or fail (its `error`, a
/// `DOMException`). The handlers are JS (`requestDone` in
/// `web/src/imports.js`), so no Rust closure is made for it.
pub async fn wait(request: &IdbRequest) -> Result<JsValue, JsValue> {
    JsFuture::from(request_done(request)).await
}

/// A read in flight: its promise, fulfilled with `[keys, values]`,
/// `[keys, values, records]` or the keys (per function below), rejected
/// with the error of the latest request that has one, or with a
/// description of the abort.
pub struct RangeRead {
    /// The read's promise.
    pub promise: Promise,
}

// IndexedDB reads made and settled in JS: the transaction, its requests,
// their handlers and the arrays of results, one boundary crossing each
// (built through web-sys they took a crossing per request, per key range
// and per handler, plus a Rust closure per read, all code a fresh page
// compiled on its first page misses; DESIGN.md section 8, "A fresh page").
// The requests of one transaction succeed in order, so the last one's
// success means all have.
#[wasm_bindgen(module = "/src/imports.js")]
extern "C" {
    #[wasm_bindgen(js_name = requestDone)]
    fn request_done(request: &IdbRequest) -> Promise;
    #[wasm_bindgen(js_name = readSpans, catch)]
    fn read_spans_js(
        db: &IdbDatabase,
        store: &str,
        spans: &Array,
        record_store: &str,
        records: &Array,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = readRange, catch)]
    fn read_range_js(
        db: &IdbDatabase,
        store: &str,
        from: &JsValue,
        count: u32,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = readAreas, catch)]
    fn read_areas_js(
        db: &IdbDatabase,
        scope: &Array,
        areas: &Array,
        edges: bool,
        pages_store: &str,
    ) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = listKeys, catch)]
    fn list_keys_js(
        db: &IdbDatabase,
        store: &str,
        lower: &JsValue,
        upper: &JsValue,
    ) -> Result<Promise, JsValue>;
}

/// Starts one readonly transaction reading every entry in each key span
/// `spans` (`(first, last)`, inclusive) of object store `store` (one
/// `getAllKeys` and one `getAll` per span) and the records at `records`
/// of object store `record_store` (one `get` each), all in flight at once.
/// The promise is fulfilled with `[keys, values, records]`: the spans'
/// entries in order, then the records (`undefined` where none is).
pub fn read_spans(
    db: &IdbDatabase,
    store: &str,
    spans: &[(u64, u64)],
    record_store: &str,
    records: &[u64],
) -> Result<RangeRead, JsValue> {
    let bounds = Array::new();
    for &(first, last) in spans {
        bounds.push(&to_js(first));
        bounds.push(&to_js(last));
    }
    let keys: Array = records.iter().map(|&k| to_js(k)).collect();
    let promise = read_spans_js(db, store, &bounds, record_store, &keys)?;
    Ok(RangeRead { promise })
}

/// Starts a readonly transaction on object store `store` reading the first
/// `count` entries from key `from` on (one `getAllKeys` and one `getAll`
/// over the same range: a consistent pair).
pub fn read_range(
    db: &IdbDatabase,
    store: &str,
    from: &JsValue,
    count: u32,
) -> Result<RangeRead, JsValue> {
    let promise = read_range_js(db, store, from, count)?;
    Ok(RangeRead { promise })
}

/// Starts open's readonly transaction over the object stores `scope`,
/// reading each of `areas` whole (keys, then values) and, with `edges`,
/// also counting key `0` of `pages_store` and finding its greatest key.
/// The promise is fulfilled with the results in that order (the greatest
/// key `null` when there is none).
pub fn read_areas(
    db: &IdbDatabase,
    scope: &Array,
    areas: &Array,
    edges: bool,
    pages_store: &str,
) -> Result<RangeRead, JsValue> {
    let promise = read_areas_js(db, scope, areas, edges, pages_store)?;
    Ok(RangeRead { promise })
}

/// Starts a readonly transaction on object store `store` listing its keys
/// in `first..=last` (one `getAllKeys`). The promise is fulfilled with the
/// keys. Keys above [`MAX_SAFE`] are strings, which IndexedDB orders
/// after every number but by text: a range reaching past `MAX_SAFE` lists
/// every string key, for the caller to filter by value.
pub fn list_keys(
    db: &IdbDatabase,
    store: &str,
    first: u64,
    last: u64,
) -> Result<RangeRead, JsValue> {
    let lower = to_js(first.min(MAX_SAFE));
    let upper = if last <= MAX_SAFE {
        to_js(last)
    } else {
        JsValue::UNDEFINED
    };
    let promise = list_keys_js(db, store, &lower, &upper)?;
    Ok(RangeRead { promise })
}
