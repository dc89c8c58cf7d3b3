//! Awaiting IndexedDB requests, settling promises from Rust, and ranged
//! reads (lazy paging's page fetches).

use js_sys::Array;
use js_sys::{Function, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Event, IdbDatabase, IdbKeyRange, IdbRequest, IdbTransaction, IdbTransactionMode};

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
/// `DOMException`). The handlers are removed before returning, so the
/// closure is freed with this frame.
pub async fn wait(request: &IdbRequest) -> Result<JsValue, JsValue> {
    let done = Deferred::new();
    let (resolve, reject) = (done.resolve.clone(), done.reject.clone());
    let req = request.clone();
    let handler = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
        if event.type_() == "success" {
            let result = req.result().unwrap_or(JsValue::UNDEFINED);
            let _ = resolve.call1(&JsValue::NULL, &result);
        } else {
            let error = req.error().ok().flatten().map(JsValue::from);
            let _ = reject.call1(
                &JsValue::NULL,
                &error.unwrap_or_else(|| "request failed".into()),
            );
        }
    });
    request.set_onsuccess(Some(handler.as_ref().unchecked_ref()));
    request.set_onerror(Some(handler.as_ref().unchecked_ref()));
    let out = JsFuture::from(done.promise).await;
    request.set_onsuccess(None);
    request.set_onerror(None);
    drop(handler);
    out
}

/// A read in flight: its promise (of `[keys, values]`, or of keys for
/// [`list_keys`]), and the handler that settles it (kept alive with the
/// read).
pub struct RangeRead {
    /// Fulfilled with `[keys, values]`; rejected with the error or abort.
    pub promise: Promise,
    _handler: Closure<dyn FnMut(Event)>,
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
    let scope = Array::of1(&store.into());
    if !records.is_empty() {
        scope.push(&record_store.into());
    }
    let tx = db.transaction_with_str_sequence_and_mode(&scope, IdbTransactionMode::Readonly)?;
    let mut requests = Vec::new();
    if !spans.is_empty() {
        let objects = tx.object_store(store)?;
        for &(first, last) in spans {
            let range = IdbKeyRange::bound(&to_js(first), &to_js(last))?;
            requests.push(objects.get_all_keys_with_key(&range)?);
            requests.push(objects.get_all_with_key(&range)?);
        }
    }
    let span_requests = requests.len();
    if !records.is_empty() {
        let objects = tx.object_store(record_store)?;
        for &k in records {
            requests.push(objects.get(&to_js(k))?);
        }
    }
    Ok(settle_on(
        &tx,
        requests,
        move |all| {
            let (keys, values, found) = (Array::new(), Array::new(), Array::new());
            for (i, r) in all.iter().enumerate() {
                let got = result_of(r);
                if i >= span_requests {
                    found.push(&got);
                    continue;
                }
                let into = if i % 2 == 0 { &keys } else { &values };
                for v in Array::from(&got).iter() {
                    into.push(&v);
                }
            }
            Array::of3(&keys, &values, &found).into()
        },
        "a page read failed or was aborted",
    ))
}

/// Settles a [`RangeRead`] on the requests `requests` of transaction `tx`:
/// fulfilled with `result` of them once the last one succeeds (requests of
/// one transaction succeed in order, so all have), rejected with the error
/// of the latest request that has one, or with `aborted` on an abort.
fn settle_on(
    tx: &IdbTransaction,
    requests: Vec<IdbRequest>,
    result: impl Fn(&[IdbRequest]) -> JsValue + 'static,
    aborted: &'static str,
) -> RangeRead {
    let done = Deferred::new();
    let (resolve, reject) = (done.resolve.clone(), done.reject.clone());
    let watched = requests.clone();
    let handler = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
        if event.type_() == "success" {
            let _ = resolve.call1(&JsValue::NULL, &result(&watched));
        } else {
            let error = watched
                .iter()
                .rev()
                .find_map(|r| r.error().ok().flatten())
                .map(JsValue::from)
                .unwrap_or_else(|| aborted.into());
            let _ = reject.call1(&JsValue::NULL, &error);
        }
    });
    let f: &Function = handler.as_ref().unchecked_ref();
    for r in &requests {
        r.set_onerror(Some(f));
    }
    if let Some(last) = requests.last() {
        last.set_onsuccess(Some(f));
    }
    tx.set_onabort(Some(f));
    RangeRead {
        promise: done.promise,
        _handler: handler,
    }
}

/// The result of a request that succeeded.
fn result_of(request: &IdbRequest) -> JsValue {
    request.result().unwrap_or(JsValue::UNDEFINED)
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
    let tx = db.transaction_with_str_and_mode(store, IdbTransactionMode::Readonly)?;
    let objects = tx.object_store(store)?;
    let range = IdbKeyRange::lower_bound(from)?;
    let keys = objects.get_all_keys_with_key_and_limit(&range, count)?;
    let values = objects.get_all_with_key_and_limit(&range, count)?;
    Ok(settle_on(
        &tx,
        vec![keys, values],
        |r| Array::of2(&result_of(&r[0]), &result_of(&r[1])).into(),
        "the read was aborted",
    ))
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
    let tx = db.transaction_with_str_and_mode(store, IdbTransactionMode::Readonly)?;
    let objects = tx.object_store(store)?;
    let lower = to_js(first.min(MAX_SAFE));
    let range = if last <= MAX_SAFE {
        IdbKeyRange::bound(&lower, &to_js(last))?
    } else {
        IdbKeyRange::lower_bound(&lower)?
    };
    let keys = objects.get_all_keys_with_key(&range)?;
    Ok(settle_on(
        &tx,
        vec![keys],
        |r| result_of(&r[0]),
        "the key listing was aborted",
    ))
}
