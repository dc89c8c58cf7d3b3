//! What a JS value is, for conversion into Lua or store values.

use js_sys::{Array, ArrayBuffer, BigInt, Map, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

use crate::api::error::{ApiError, ApiResult};

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

/// Sorts `v`; `path` names it in errors.
pub fn classify(v: &JsValue, path: &str) -> ApiResult<JsKind> {
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
    if let Some(s) = v.as_string() {
        return Ok(JsKind::Bytes(s.into_bytes()));
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
        return Ok(JsKind::Bytes(a.to_vec()));
    }
    if let Some(b) = v.dyn_ref::<ArrayBuffer>() {
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
