//! Blob keys as JavaScript values, for the mirror's `Map`s and as
//! IndexedDB keys.
//!
//! A `u64` does not fit a JS number exactly, and BigInt is not a valid
//! IndexedDB key. Keys up to 2^53 - 1 (every page id and WAL sequence a
//! store reaches in practice) are numbers; larger ones are their decimal
//! string. The two forms never collide (a number and a string are different
//! `Map` and IndexedDB keys), and each key has exactly one form, so reading
//! back a non-canonical form means the database was written by something
//! else: an error, never a guess.

use wasm_bindgen::JsValue;

/// Largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE: u64 = (1 << 53) - 1;

/// The JS form of `key`.
pub fn to_js(key: u64) -> JsValue {
    if key <= MAX_SAFE {
        JsValue::from_f64(key as f64)
    } else {
        JsValue::from_str(&key.to_string())
    }
}

/// The key a JS value names, or a description of why it names none.
pub fn from_js(value: &JsValue) -> Result<u64, String> {
    if let Some(x) = value.as_f64() {
        // `x as u64` saturates, so check integrality and range first.
        if x >= 0.0 && x <= MAX_SAFE as f64 && x.fract() == 0.0 {
            return Ok(x as u64);
        }
        return Err(format!("key {x} is not an integer in 0..=2^53-1"));
    }
    if let Some(s) = value.as_string() {
        return match s.parse::<u64>() {
            Ok(k) if k > MAX_SAFE && k.to_string() == s => Ok(k),
            _ => Err(format!(
                "key {s:?} is not the canonical form of a key above 2^53-1"
            )),
        };
    }
    Err(format!("key {value:?} is neither a number nor a string"))
}
