//! JS values to store values: keys ([`key`]) and assignments ([`input_named`]).

use js_sys::{Array, Reflect};
use moonvault_engine::codec::{Key, Value};
use moonvault_engine::table::MAX_INPUT_DEPTH;
use moonvault_engine::Input;
use wasm_bindgen::prelude::*;

use super::budget::Budget;
pub use super::budget::INPUT_LIMIT;
use super::js::{child_path, classify, threw, JsKind};
use crate::api::error::{ApiError, ApiResult};

/// [`key`] for hot paths: `path` is built only if the conversion fails
/// (the conversion is pure, so it is repeated then to name the place).
pub fn key_at(v: &JsValue, path: impl FnOnce() -> String) -> ApiResult<Key> {
    key(v, "").or_else(|_| key(v, &path()))
}

/// A JS value as a table key: strings, numbers (integral ones are integer
/// keys, as in Lua), BigInts, booleans, Uint8Arrays (binary strings).
pub fn key(v: &JsValue, path: &str) -> ApiResult<Key> {
    key_within(v, path, &mut Budget::key())
}

fn key_within(v: &JsValue, path: &str, budget: &mut Budget) -> ApiResult<Key> {
    match classify(v, path, budget)? {
        JsKind::Bool(b) => Ok(Key::Bool(b)),
        JsKind::Int(n) => Ok(Key::Int(n)),
        JsKind::Float(x) => {
            Key::from_f64(x).map_err(|e| ApiError::conversion(path, format!("invalid key: {e}")))
        }
        JsKind::Bytes(b) => Ok(Key::Str(b)),
        JsKind::Nil => Err(ApiError::conversion(
            path,
            "a table key cannot be null or undefined",
        )),
        _ => Err(ApiError::conversion(
            path,
            "a table key must be a string, number, BigInt, boolean or Uint8Array",
        )),
    }
}

/// A JS value as what an assignment writes (see the conversion table in
/// [`super`]), within [`INPUT_LIMIT`] (`MemoryBudgetError` beyond it).
/// Errors name the value's place: `path` is built only if the conversion
/// fails, which is then repeated with it to name the place (it is pure: a
/// fresh budget each time), so a hot path (a batch converts thousands of
/// values, a small commit one) builds no path strings.
pub fn input_named(v: &JsValue, path: impl FnOnce() -> String) -> ApiResult<Input> {
    input_at(v, None, 1, &mut Budget::input())
        .or_else(|_| input_at(v, Some(&path()), 1, &mut Budget::input()))
}

#[wasm_bindgen(module = "/src/imports.js")]
extern "C" {
    /// A Map's entries, or a plain object's (`Object.entries`), as one
    /// flat array `[k0, v0, k1, v1, ...]`: an entry is then two calls
    /// across the boundary, where a `[key, value]` pair took three. Throws
    /// what a getter or a Proxy's trap throws.
    #[wasm_bindgen(catch, js_name = flatEntries)]
    fn flat_entries(v: &JsValue) -> Result<Array, JsValue>;
}

/// The entries of a table-like JS value as a JS array of pairs, their
/// number charged to `budget` before the module holds any of them (the
/// pairs themselves stay on the JS heap).
pub(crate) enum Entries {
    /// An array of that length: keys 1..=len, read by index.
    Array(Array, u32),
    /// Keys and values, alternating ([`flat_entries`] of a Map or a plain
    /// object).
    Flat(Array),
}

impl Entries {
    pub(crate) fn of(kind: JsKind, path: &str, budget: &mut Budget) -> ApiResult<Option<Entries>> {
        let entries = match kind {
            JsKind::Array(a, len) => Entries::Array(a, len),
            JsKind::Map(m, size) => {
                budget.take_entries(size as usize, path)?;
                let flat = flat_entries(&m).map_err(|e| threw(path, "reading its entries", &e))?;
                return Ok(Some(Entries::Flat(flat)));
            }
            JsKind::Object(o) => {
                Entries::Flat(flat_entries(&o).map_err(|e| threw(path, "reading its entries", &e))?)
            }
            _ => return Ok(None),
        };
        budget.take_entries(entries.len() as usize, path)?;
        Ok(Some(entries))
    }

    pub(crate) fn len(&self) -> u32 {
        match self {
            Entries::Array(_, len) => *len,
            Entries::Flat(f) => f.length() / 2,
        }
    }

    /// Entry `i` (`i < len`) of the value at `path`; an array element
    /// whose getter throws is an error, as an object's is.
    pub(crate) fn get(&self, i: u32, path: &str) -> ApiResult<(JsValue, JsValue)> {
        match self {
            Entries::Array(a, _) => Ok((
                JsValue::from_f64(f64::from(i) + 1.0),
                Reflect::get_u32(a, i).map_err(|e| threw(path, "reading its elements", &e))?,
            )),
            Entries::Flat(f) => Ok((f.get(2 * i), f.get(2 * i + 1))),
        }
    }
}

/// `path`: where `v` is, for messages; `None` when no message will be
/// read (see [`input_named`]), so that no path is built.
fn input_at(
    v: &JsValue,
    path: Option<&str>,
    depth: usize,
    budget: &mut Budget,
) -> ApiResult<Input> {
    let named = path.unwrap_or_default();
    let kind = classify(v, named, budget)?;
    let kind = match kind {
        JsKind::Nil => return Ok(Input::Nil),
        JsKind::Bool(b) => return Ok(Input::Value(Value::Bool(b))),
        JsKind::Int(n) => return Ok(Input::Value(Value::Int(n))),
        JsKind::Float(x) => return Ok(Input::Value(Value::Float(x))),
        JsKind::Bytes(b) => return Ok(Input::Value(Value::Str(b))),
        table => table,
    };
    if depth >= MAX_INPUT_DEPTH {
        return Err(ApiError::conversion(
            named,
            format!("tables nested deeper than {MAX_INPUT_DEPTH} levels (a cyclic object?)"),
        ));
    }
    let Some(entries) = Entries::of(kind, named, budget)? else {
        return Ok(Input::Nil);
    };
    // Charged above: the capacity is within the budget.
    let mut table = Vec::with_capacity(entries.len() as usize);
    for i in 0..entries.len() {
        let (k, item) = entries.get(i, named)?;
        if item.is_null() || item.is_undefined() {
            continue;
        }
        let at = path.map(|p| child_path(p, &k));
        let k = key_within(&k, at.as_deref().unwrap_or_default(), budget)?;
        let item = input_at(&item, at.as_deref(), depth + 1, budget)?;
        if !item.is_nil() {
            table.push((k, item));
        }
    }
    Ok(Input::Table(table))
}
