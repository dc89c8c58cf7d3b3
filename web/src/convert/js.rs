//! What a JS value is, for conversion into Lua or store values.

use js_sys::{Array, ArrayBuffer, BigInt, JsString, Map, Object, Reflect, Uint8Array};
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
    /// An `Array`: keys 1..n.
    Array(Array),
    /// A `Map`: keys converted too.
    Map(Map),
    /// A plain object (prototype `Object.prototype` or `null`): string keys.
    Object(Object),
}

/// Sorts `v`; `path` names it in errors. A string or byte array is
/// charged to `budget` before it is copied into the module.
pub fn classify(v: &JsValue, path: &str, budget: &mut Budget) -> ApiResult<JsKind> {
    if v.is_null() || v.is_undefined() {
        return Ok(JsKind::Nil);
    }
    if let Some(b) = v.as_bool() {
        return Ok(JsKind::Bool(b));
    }
    if let Some(x) = v.as_f64() {
        // Integral JS numbers are Lua integers (JS has no other way to say
        // "integer"); beyond 2^53 a number may already have lost digits,
        // so it stays a float (use a BigInt for exact large integers).
        if x.fract() == 0.0 && x.abs() <= MAX_SAFE_INTEGER {
            return Ok(JsKind::Int(x as i64));
        }
        return Ok(JsKind::Float(x));
    }
    if v.is_string() {
        return string_bytes(v.unchecked_ref(), path, budget).map(JsKind::Bytes);
    }
    if v.is_bigint() {
        let b: &BigInt = v.unchecked_ref();
        return i64::try_from(b.clone()).map(JsKind::Int).map_err(|_| {
            ApiError::conversion(
                path,
                format!(
                    "BigInt {} is outside the 64-bit integer range of Lua",
                    b.to_string(10).map(String::from).unwrap_or_default()
                ),
            )
        });
    }
    if v.is_function() {
        return Err(ApiError::conversion(
            path,
            "a JS function cannot be stored or passed to Lua; store Lua functions with \
             persistFunction(table, key, source) or from compute()",
        ));
    }
    if v.is_symbol() {
        return Err(ApiError::conversion(path, "a Symbol has no Lua equivalent"));
    }
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        budget.take_bytes(a.length() as usize, path)?;
        return Ok(JsKind::Bytes(a.to_vec()));
    }
    if let Some(b) = v.dyn_ref::<ArrayBuffer>() {
        budget.take_bytes(b.byte_length() as usize, path)?;
        return Ok(JsKind::Bytes(Uint8Array::new(b).to_vec()));
    }
    if Array::is_array(v) {
        return Ok(JsKind::Array(v.clone().unchecked_into()));
    }
    if let Some(m) = v.dyn_ref::<Map>() {
        return Ok(JsKind::Map(m.clone()));
    }
    let proto = Object::get_prototype_of(v);
    let plain = proto.is_null() || Object::is(&proto, &Object::get_prototype_of(&Object::new()));
    if plain {
        return Ok(JsKind::Object(v.clone().unchecked_into()));
    }
    let ctor = Reflect::get(v, &"constructor".into())
        .ok()
        .and_then(|c| Reflect::get(&c, &"name".into()).ok())
        .and_then(|n| n.as_string())
        .unwrap_or_else(|| "object".into());
    Err(ApiError::conversion(
        path,
        format!(
            "a {ctor} cannot be converted: use plain objects, arrays, Maps, strings, numbers, \
             BigInts, booleans, Uint8Arrays, or null"
        ),
    ))
}

/// The UTF-8 bytes of `s`, charged to `budget` before the copy.
///
/// UTF-8 takes at least one byte per UTF-16 unit and at most three, and
/// wasm-bindgen's copy reserves three per unit when the string is not
/// ASCII. So a string whose three-per-unit size fits is copied at once; one
/// that cannot fit even at one per unit is refused at once; one in between
/// is encoded on the JS heap first, to learn its exact size.
fn string_bytes(s: &JsString, path: &str, budget: &mut Budget) -> ApiResult<Vec<u8>> {
    let units = s.length() as usize;
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
