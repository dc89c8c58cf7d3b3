//! Awaiting IndexedDB requests and settling promises from Rust.

use js_sys::{Function, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Event, IdbRequest};

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
