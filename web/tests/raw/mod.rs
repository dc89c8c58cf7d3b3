//! Helpers shared by the wasm test binaries that drive `RawVault` (the
//! JS-facing API) directly: options objects, open/close, error fields.

use js_sys::{Object, Reflect};
use moonvault_web::api::RawVault;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// A JS options object of `pairs`.
pub fn options(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

/// Opens store `name` with `opts`; panics with the error's message.
pub async fn open(name: &str, opts: JsValue) -> RawVault {
    RawVault::open(name.into(), opts)
        .await
        .unwrap_or_else(|e| panic!("open {name}: {}", message(&e)))
}

/// Deletes store `name` if it exists, then opens it with default options.
pub async fn fresh(name: &str) -> RawVault {
    let _ = RawVault::delete_store(name.into()).await;
    open(name, JsValue::UNDEFINED).await
}

/// Closes `v`, waiting for its pending commits.
pub async fn close(v: &RawVault) {
    JsFuture::from(v.close()).await.expect("close");
}

/// Property `name` of an error as a string (`""` when absent).
pub fn prop(e: &JsValue, name: &str) -> String {
    Reflect::get(e, &name.into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_default()
}

/// An error's message, or its debug form when it has none.
pub fn message(e: &JsValue) -> String {
    let m = prop(e, "message");
    if m.is_empty() {
        format!("{e:?}")
    } else {
        m
    }
}

/// Runs `code` as one chunk; panics with the error's message.
pub fn compute(v: &RawVault, code: &str) -> JsValue {
    v.compute(code.into(), JsValue::UNDEFINED)
        .unwrap_or_else(|e| panic!("{code}: {}", message(&e)))
}
