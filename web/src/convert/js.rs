//! What a JS value is, for conversion into Lua or store values.

use js_sys::{Array, BigInt, JsString, Map, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::budget::Budget;
use crate::api::error::{ApiError, ApiResult};

#[wasm_bindgen]
extern "C" {
    /// The host's `TextEncoder`: measures a string's UTF-8 on the JS heap.
    #[wasm_bindgen(js_name = TextEncoder)]
    type Utf8Encoder;
    #[wasm_bindgen(constructor, js_class = "TextEncoder")]
    fn new() -> Utf8Encoder;
    #[wasm_bindgen(method, js_class = "TextEncoder")]
    fn encode(this: &Utf8Encoder, s: &JsString) -> Uint8Array;
}

/// Largest integer a JS number holds exactly.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A JS value sorted by how it converts.
pub enum JsKind {
    /// `null` or `undefined`: nil.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integral number within +-(2^53 - 1), or a BigInt within i64.
    Int(i64),
    /// Any other number (fractional, huge, NaN, infinite).
    Float(f64),
    /// A string, as UTF-8; or the bytes of a `Uint8Array`/`ArrayBuffer`.
    Bytes(Vec<u8>),
    /// An `Array` of that length: keys 1..n.
    Array(Array, u32),
    /// A `Map` of that size: keys converted too.
    Map(Map, u32),
    /// A plain object (prototype `Object.prototype` or `null`): string keys.
    Object(Object),
}

#[wasm_bindgen(module = "/src/imports.js")]
extern "C" {
    /// What `v` is, in one call across the boundary (asking wasm-bindgen's
    /// `is_null`, `as_bool`, `as_f64`, ... in turn took one call each):
    /// the codes [`classify`] matches, tested in its order, in the low four
    /// bits; the length of a string (in UTF-16 units), byte array, array or
    /// Map above them (read in JS, where a Proxy's throwing `length` is
    /// caught). Throws what a hostile value's Proxy trap throws.
    #[wasm_bindgen(catch, js_name = jsKind)]
    fn js_kind(v: &JsValue) -> Result<f64, JsValue>;
}

/// Sorts `v`; `path` names it in errors. A string or byte array is
/// charged to `budget` before it is copied into the module.
pub fn classify(v: &JsValue, path: &str, budget: &mut Budget) -> ApiResult<JsKind> {
    // Lengths are below 2^32, so the code is an exact integer.
    let code = js_kind(v).map_err(|e| threw(path, "inspecting it", &e))? as u64;
    let len = (code >> 4) as u32;
    match code & 15 {
        0 => Ok(JsKind::Nil),
        1 => Ok(JsKind::Bool(false)),
        2 => Ok(JsKind::Bool(true)),
        3 => {
            let x = v.as_f64().unwrap_or(f64::NAN);
            // Integral JS numbers are Lua integers (JS has no other way to
            // say "integer"); beyond 2^53 a number may already have lost
            // digits, so it stays a float (use a BigInt for exact large
            // integers).
            if x.fract() == 0.0 && x.abs() <= MAX_SAFE_INTEGER {
                Ok(JsKind::Int(x as i64))
            } else {
                Ok(JsKind::Float(x))
            }
        }
        4 => string_bytes(v.unchecked_ref(), len as usize, path, budget).map(JsKind::Bytes),
        5 => {
            let b: &BigInt = v.unchecked_ref();
            i64::try_from(b.clone()).map(JsKind::Int).map_err(|_| {
                ApiError::conversion(
                    path,
                    format!(
                        "BigInt {} is outside the 64-bit integer range of Lua",
                        b.to_string(10).map(String::from).unwrap_or_default()
                    ),
                )
            })
        }
        6 => Err(ApiError::conversion(
            path,
            "a JS function cannot be stored or passed to Lua; store Lua functions with \
             persistFunction(table, key, source) or from compute()",
        )),
        7 => Err(ApiError::conversion(path, "a Symbol has no Lua equivalent")),
        8 => {
            budget.take_bytes(len as usize, path)?;
            Ok(JsKind::Bytes(v.unchecked_ref::<Uint8Array>().to_vec()))
        }
        9 => {
            budget.take_bytes(len as usize, path)?;
            Ok(JsKind::Bytes(Uint8Array::new(v).to_vec()))
        }
        10 => Ok(JsKind::Array(v.clone().unchecked_into(), len)),
        11 => Ok(JsKind::Map(v.clone().unchecked_into(), len)),
        12 => Ok(JsKind::Object(v.clone().unchecked_into())),
        _ => Err(not_convertible(v, path)),
    }
}

/// The error for a value whose inspection (`doing`) threw `e` (a Proxy's
/// trap, a getter): the module is unharmed, nothing was written.
#[cold]
pub(crate) fn threw(path: &str, doing: &str, e: &JsValue) -> ApiError {
    ApiError::conversion(
        path,
        format!(
            "{doing} threw {}; nothing was stored",
            crate::idb::describe(e)
        ),
    )
}

/// The error for an object [`classify`] cannot convert, naming its class.
#[cold]
fn not_convertible(v: &JsValue, path: &str) -> ApiError {
    let ctor = Reflect::get(v, &"constructor".into())
        .ok()
        .and_then(|c| Reflect::get(&c, &"name".into()).ok())
        .and_then(|n| n.as_string())
        .unwrap_or_else(|| "object".into());
    ApiError::conversion(
        path,
        format!(
            "a {ctor} cannot be converted: use plain objects, arrays, Maps, strings, numbers, \
             BigInts, booleans, Uint8Arrays, or null"
        ),
    )
}

/// The UTF-8 bytes of `s`, a string of `units` UTF-16 units, charged to
/// `budget` before the copy.
///
/// UTF-8 takes at least one byte per UTF-16 unit and at most three, and
/// wasm-bindgen's copy reserves three per unit when the string is not
/// ASCII. So a string whose three-per-unit size fits is copied at once; one
/// that cannot fit even at one per unit is refused at once; one in between
/// is encoded on the JS heap first, to learn its exact size.
fn string_bytes(s: &JsString, units: usize, path: &str, budget: &mut Budget) -> ApiResult<Vec<u8>> {
    if units > budget.bytes_left() {
        return Err(budget.bytes_refused(units, path));
    }
    if units.saturating_mul(3) <= budget.bytes_left() {
        let bytes = String::from(s).into_bytes();
        budget.take_bytes(bytes.len(), path)?;
        return Ok(bytes);
    }
    let encoded = Utf8Encoder::new().encode(s);
    budget.take_bytes(encoded.length() as usize, path)?;
    Ok(encoded.to_vec())
}

/// `path` extended by key `k` for messages: `a.b`, `a[3]`.
pub fn child_path(path: &str, k: &JsValue) -> String {
    if let Some(s) = k.as_string() {
        let ident = !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit());
        if ident {
            return if path.is_empty() {
                s
            } else {
                format!("{path}.{s}")
            };
        }
        return format!("{path}[{s:?}]");
    }
    if let Some(x) = k.as_f64() {
        return format!("{path}[{x}]");
    }
    format!("{path}[{k:?}]")
}
