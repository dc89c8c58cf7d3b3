//! Paths and field paths given by JS.
//!
//! A path names a table or value below `Memory`:
//! - a dotted string, each segment a string key: `"users.u1"`. `""` and
//!   `"Memory"` are `Memory` itself, and a leading `Memory.` is dropped, so
//!   `"Memory.users"` and `"users"` are the same table (a top-level key
//!   literally named `Memory` needs the array form);
//! - an array of keys: `["scores", 2024]` (numbers are integer keys).
//!
//! A field path names a field inside each record: `"profile.city"` or an
//! array of keys.

use js_sys::{Array, JsString};
use moonvault_engine::codec::{fmt_path, Key};
use moonvault_engine::table::FieldPath;
use wasm_bindgen::{JsCast, JsValue};

use super::error::{ApiError, ApiResult};
use crate::convert::to_store;

/// Longest dotted path accepted, in UTF-16 units.
pub const MAX_PATH_UNITS: usize = 16 * 1024;
/// Most keys in an array path.
pub const MAX_PATH_KEYS: usize = 1024;

/// The keys of path `v` (argument `what` in messages).
pub fn keys(v: &JsValue, what: &str) -> ApiResult<Vec<Key>> {
    if let Some(s) = v.dyn_ref::<JsString>() {
        // Checked before the copy into the module (three bytes a unit at
        // most).
        if s.length() as usize > MAX_PATH_UNITS {
            return Err(ApiError::invalid(format!(
                "{what} is {} characters long; a path may have at most {MAX_PATH_UNITS}",
                s.length()
            )));
        }
        return dotted(&String::from(s), what);
    }
    if Array::is_array(v) {
        let a = Array::from(v);
        if a.length() as usize > MAX_PATH_KEYS {
            return Err(ApiError::invalid(format!(
                "{what} has {} keys; a path may have at most {MAX_PATH_KEYS}",
                a.length()
            )));
        }
        return a
            .iter()
            .enumerate()
            .map(|(i, k)| to_store::key_at(&k, || format!("{what}[{i}]")))
            .collect();
    }
    Err(ApiError::invalid(format!(
        "{what} must be a dotted path (\"users.u1\") or an array of keys, got {}",
        v.js_typeof().as_string().unwrap_or_default()
    )))
}

/// [`keys`] for hot paths (every operation of a batch): `what` is built
/// only if the path is refused, which is then checked again to name it
/// (the check is pure).
pub fn keys_named(v: &JsValue, what: impl FnOnce() -> String) -> ApiResult<Vec<Key>> {
    keys(v, "").or_else(|_| keys(v, &what()))
}

fn dotted(s: &str, what: &str) -> ApiResult<Vec<Key>> {
    let rest = if s == "Memory" {
        ""
    } else {
        s.strip_prefix("Memory.").unwrap_or(s)
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    if rest.split('.').any(str::is_empty) {
        return Err(ApiError::invalid(format!(
            "{what} {s:?} has an empty segment; use dotted names like \"users.u1\", or an \
             array of keys"
        )));
    }
    Ok(rest.split('.').map(Key::from).collect())
}

/// A path split into the table that holds the value and its key; the
/// empty path (Memory itself) has no key.
pub fn split(mut keys: Vec<Key>, what: &str) -> ApiResult<(Vec<Key>, Key)> {
    match keys.pop() {
        Some(last) => Ok((keys, last)),
        None => Err(ApiError::invalid(format!(
            "{what} names Memory itself, which cannot be assigned or deleted; name a key \
             below it"
        ))),
    }
}

/// A field path inside records.
pub fn field(v: &JsValue, what: &str) -> ApiResult<FieldPath> {
    let keys = if let Some(s) = v.as_string() {
        if s.is_empty() || s.split('.').any(str::is_empty) {
            return Err(ApiError::invalid(format!(
                "{what} {s:?} must be a dotted field path like \"age\" or \"profile.city\""
            )));
        }
        s.split('.').map(Key::from).collect()
    } else if Array::is_array(v) {
        keys(v, what)?
    } else {
        return Err(ApiError::invalid(format!(
            "{what} must be a dotted field path (\"profile.city\") or an array of keys"
        )));
    };
    FieldPath::new(keys).map_err(|e| ApiError::invalid(format!("{what}: {e}")))
}

/// `Memory.users["u 1"]`: a path for messages.
pub fn display(keys: &[Key]) -> String {
    let mut full = Vec::with_capacity(keys.len() + 1);
    full.push(Key::from("Memory"));
    full.extend_from_slice(keys);
    fmt_path(&full)
}
