//! Scalars to JS: the rules shared by store values and Lua values.

use js_sys::{BigInt, Uint8Array};
use wasm_bindgen::JsValue;

use super::js::MAX_SAFE_INTEGER;

/// An integer: a number when exact (|n| <= 2^53 - 1), a BigInt beyond.
pub fn int(n: i64) -> JsValue {
    if (n as f64).abs() <= MAX_SAFE_INTEGER {
        JsValue::from_f64(n as f64)
    } else {
        BigInt::from(n).into()
    }
}

/// A byte string: a JS string when it is valid UTF-8, a Uint8Array
/// otherwise (so binary data round-trips byte for byte).
pub fn bytes(b: &[u8]) -> JsValue {
    match std::str::from_utf8(b) {
        Ok(s) => JsValue::from_str(s),
        Err(_) => Uint8Array::from(b).into(),
    }
}
