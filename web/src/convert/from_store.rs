//! Stored values to JS, reading nested tables from a snapshot.
//!
//! Depth-first with one detached cursor per level: linear memory holds the
//! current path, never the subtree (a 100K-record table converts into a JS
//! structure on the JS heap while the module stays within its budget).

use moonvault_engine::codec::{Key, Stored, Value};
use moonvault_engine::table::EntryCursor;
use moonvault_engine::{Result as EngineResult, TableId, TableRead};
use wasm_bindgen::JsValue;

use super::container::{Container, KeyClass};
use super::names;
use super::scalar;
use crate::api::error::{ApiError, ApiResult};

/// A key as JS, and how it bears on the container choice.
pub fn key(k: &Key) -> (KeyClass, JsValue) {
    match k {
        Key::Bool(b) => (KeyClass::Other, JsValue::from_bool(*b)),
        Key::Int(n) => (KeyClass::Int(*n), scalar::int(*n)),
        Key::Float(x) => (KeyClass::Other, JsValue::from_f64(*x)),
        Key::Str(s) => match std::str::from_utf8(s) {
            Ok(text) => (KeyClass::Text, names::js_str(text)),
            Err(_) => (KeyClass::Other, scalar::bytes(s)),
        },
    }
}

/// A key for messages: `users[3]`, `users.name`.
pub fn push_path(path: &str, k: &Key) -> String {
    match k {
        Key::Str(s) => match std::str::from_utf8(s) {
            Ok(t) if !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                if path.is_empty() {
                    t.to_string()
                } else {
                    format!("{path}.{t}")
                }
            }
            _ => format!("{path}[{:?}]", String::from_utf8_lossy(s)),
        },
        Key::Int(n) => format!("{path}[{n}]"),
        Key::Float(x) => format!("{path}[{x}]"),
        Key::Bool(b) => format!("{path}[{b}]"),
    }
}

/// A scalar, or `None` for a table. Functions are refused: JS cannot call
/// a Lua function (run it with `compute`). `path` names the value in that
/// error; it is built only then (a read converts many fields).
fn scalar_value(v: &Value, path: impl FnOnce() -> String) -> ApiResult<Option<JsValue>> {
    Ok(Some(match v {
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Int(n) => scalar::int(*n),
        Value::Float(x) => JsValue::from_f64(*x),
        Value::Str(s) => scalar::bytes(s),
        Value::Table(_) => return Ok(None),
        Value::Function(_) | Value::NativeFunction(_) => {
            return Err(ApiError::conversion(
                &path(),
                "is a Lua function, which JS cannot hold; call it with compute(), e.g. \
                 compute('return Memory.f(1, 2)')",
            ))
        }
    }))
}

/// A value as stored (read from `reader`) as JS: a packed record converts
/// from the fields it came with.
pub fn stored<R: TableRead + ?Sized>(
    reader: &R,
    v: Stored,
    path: &dyn Fn() -> String,
) -> ApiResult<JsValue> {
    match v {
        Stored::Record(record) => table_from(reader, EntryCursor::of_record(record), path),
        Stored::Value(v) => value(reader, &v, path),
    }
}

/// `v` (read from `reader`) as JS; `path` names it in errors (built only
/// for an error).
pub fn value<R: TableRead + ?Sized>(
    reader: &R,
    v: &Value,
    path: &dyn Fn() -> String,
) -> ApiResult<JsValue> {
    match v {
        Value::Table(id) => table(reader, *id, path),
        other => Ok(scalar_value(other, path)?.unwrap_or(JsValue::UNDEFINED)),
    }
}

struct Frame {
    table: TableId,
    cursor: EntryCursor,
    out: Container,
    /// The key of this table in its parent (`None` for the root).
    key: Option<Key>,
}

/// The path of `stack`'s top table, or of its entry `last`, for messages.
fn path_of(root: &dyn Fn() -> String, stack: &[Frame], last: Option<&Key>) -> String {
    let keys = stack.iter().filter_map(|f| f.key.as_ref()).chain(last);
    keys.fold(root(), |path, k| push_path(&path, k))
}

/// Table `id` and everything below it as nested JS containers; `path`
/// names it in errors (built only for an error).
pub fn table<R: TableRead + ?Sized>(
    reader: &R,
    id: TableId,
    path: &dyn Fn() -> String,
) -> ApiResult<JsValue> {
    table_from(reader, EntryCursor::new(id), path)
}

/// [`table`] from a cursor over the table's entries.
fn table_from<R: TableRead + ?Sized>(
    reader: &R,
    cursor: EntryCursor,
    path: &dyn Fn() -> String,
) -> ApiResult<JsValue> {
    let engine = |e: moonvault_engine::EngineError| ApiError::engine(&e, None);
    let mut stack = vec![Frame {
        table: cursor.table(),
        cursor,
        out: Container::new(),
        key: None,
    }];
    loop {
        let Some(top) = stack.last_mut() else {
            return Ok(JsValue::UNDEFINED);
        };
        let next: EngineResult<Option<(Key, Stored)>> = top.cursor.next_stored(reader);
        match next.map_err(engine)? {
            Some((k, Stored::Record(record))) => {
                // A packed record came whole with its entry: its fields
                // are scalars, so it is one level with nothing below.
                stack.push(Frame {
                    table: record.id,
                    cursor: EntryCursor::of_record(record),
                    out: Container::new(),
                    key: Some(k),
                });
            }
            Some((k, Stored::Value(Value::Table(child)))) => {
                // Follow only consistent links, so damaged data cannot
                // make the walk loop.
                if reader.parent(child).map_err(engine)?.as_ref() != Some(&(top.table, k.clone())) {
                    return Err(ApiError::new(
                        crate::api::error::Kind::Store,
                        format!(
                            "{}: the table's parent link disagrees; the store is damaged",
                            path_of(path, &stack, Some(&k))
                        ),
                    ));
                }
                stack.push(Frame {
                    table: child,
                    cursor: EntryCursor::new(child),
                    out: Container::new(),
                    key: Some(k),
                });
            }
            Some((k, Stored::Value(v))) => {
                let js = scalar_value(&v, || path_of(path, &stack, Some(&k)))?
                    .unwrap_or(JsValue::UNDEFINED);
                let (class, jk) = key(&k);
                if let Some(top) = stack.last_mut() {
                    top.out.push(class, jk, js);
                }
            }
            None => {
                let Some(done) = stack.pop() else {
                    return Ok(JsValue::UNDEFINED);
                };
                let built = done.out.finish();
                match (stack.last_mut(), done.key) {
                    (Some(parent), Some(k)) => {
                        let (class, jk) = key(&k);
                        parent.out.push(class, jk, built);
                    }
                    _ => return Ok(built),
                }
            }
        }
    }
}
