//! JS values to store values: keys ([`key`]) and assignments ([`input`]).

use js_sys::{Array, Object};
use moonvault_engine::codec::{Key, Value};
use moonvault_engine::table::MAX_INPUT_DEPTH;
use moonvault_engine::Input;
use wasm_bindgen::JsValue;

use super::js::{child_path, classify, JsKind};
use crate::api::error::{ApiError, ApiResult};

/// Most linear memory one converted value may take (its `Input` tree).
/// Larger values are refused with advice, instead of exhausting the 2 MiB
/// module: write them in parts (several `set`s, or a `batch`, which
/// converts one operation at a time).
pub const INPUT_LIMIT: usize = 256 * 1024;

/// [`key`] for hot paths: `path` is built only if the conversion fails
/// (the conversion is pure, so it is repeated then to name the place).
pub fn key_at(v: &JsValue, path: impl FnOnce() -> String) -> ApiResult<Key> {
    key(v, "").or_else(|_| key(v, &path()))
}

/// A JS value as a table key: strings, numbers (integral ones are integer
/// keys, as in Lua), BigInts, booleans, Uint8Arrays (binary strings).
pub fn key(v: &JsValue, path: &str) -> ApiResult<Key> {
    match classify(v, path)? {
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

struct Budget {
    used: usize,
}

impl Budget {
    fn take(&mut self, bytes: usize, path: &str) -> ApiResult<()> {
        self.used += bytes;
        if self.used > INPUT_LIMIT {
            return Err(ApiError::conversion(
                path,
                format!(
                    "the value is too large to write at once (over {} KiB in the module's \
                     2 MiB memory); write it in parts: several set() calls on sub-paths, or \
                     batch(), which converts one operation at a time",
                    INPUT_LIMIT / 1024
                ),
            ));
        }
        Ok(())
    }
}

/// A JS value as what an assignment writes (see the conversion table in
/// [`super`]).
pub fn input(v: &JsValue, path: &str) -> ApiResult<Input> {
    let mut budget = Budget { used: 0 };
    input_at(v, path, 1, &mut budget)
}

fn input_at(v: &JsValue, path: &str, depth: usize, budget: &mut Budget) -> ApiResult<Input> {
    const NODE: usize = std::mem::size_of::<(Key, Input)>();
    budget.take(NODE, path)?;
    let kind = classify(v, path)?;
    let entries = match kind {
        JsKind::Nil => return Ok(Input::Nil),
        JsKind::Bool(b) => return Ok(Input::Value(Value::Bool(b))),
        JsKind::Int(n) => return Ok(Input::Value(Value::Int(n))),
        JsKind::Float(x) => return Ok(Input::Value(Value::Float(x))),
        JsKind::Bytes(b) => {
            budget.take(b.len(), path)?;
            return Ok(Input::Value(Value::Str(b)));
        }
        JsKind::Array(a) => {
            let mut out = Vec::with_capacity(a.length() as usize);
            for (i, item) in a.iter().enumerate() {
                let k = JsValue::from_f64((i + 1) as f64);
                if item.is_null() || item.is_undefined() {
                    continue;
                }
                out.push((k, item));
            }
            out
        }
        JsKind::Map(m) => Array::from(&m)
            .iter()
            .map(|pair| {
                let pair = Array::from(&pair);
                (pair.get(0), pair.get(1))
            })
            .collect(),
        JsKind::Object(o) => Object::entries(&o)
            .iter()
            .map(|pair| {
                let pair = Array::from(&pair);
                (pair.get(0), pair.get(1))
            })
            .collect(),
    };
    if depth >= MAX_INPUT_DEPTH {
        return Err(ApiError::conversion(
            path,
            format!("tables nested deeper than {MAX_INPUT_DEPTH} levels (a cyclic object?)"),
        ));
    }
    let mut table = Vec::with_capacity(entries.len());
    for (k, item) in entries {
        let at = child_path(path, &k);
        let k = key(&k, &at)?;
        let item = input_at(&item, &at, depth + 1, budget)?;
        if !item.is_nil() {
            table.push((k, item));
        }
    }
    Ok(Input::Table(table))
}
