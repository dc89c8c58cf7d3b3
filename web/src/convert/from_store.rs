//! Stored values to JS, reading nested tables from a snapshot.
//!
//! Depth-first with one detached cursor per level, written to a [`Wire`]
//! that moves to the JS heap chunk by chunk: linear memory holds the
//! current path and one chunk, never the subtree (a 100K-record table
//! converts into a JS structure on the JS heap while the module stays
//! within its budget).

use moonvault_engine::codec::{Key, Stored, Value};
use moonvault_engine::table::EntryCursor;
use moonvault_engine::{Result as EngineResult, TableId, TableRead};
use wasm_bindgen::JsValue;

use super::container::KeyClass;
use super::names;
use super::scalar;
use super::wire::Wire;
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

/// A function refused: JS cannot call a Lua function (run it with
/// `compute`). `path` names the value.
fn function_refused(path: &str) -> ApiError {
    ApiError::conversion(
        path,
        "is a Lua function, which JS cannot hold; call it with compute(), e.g. \
         compute('return Memory.f(1, 2)')",
    )
}

/// A scalar as a JS value (`undefined` for a table); a function is
/// refused, named by `path` (built only then).
pub fn scalar(v: &Value, path: impl FnOnce() -> String) -> ApiResult<JsValue> {
    Ok(match v {
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Int(n) => scalar::int(*n),
        Value::Float(x) => JsValue::from_f64(*x),
        Value::Str(s) => scalar::bytes(s),
        Value::Table(_) => JsValue::UNDEFINED,
        Value::Function(_) | Value::NativeFunction(_) => return Err(function_refused(&path())),
    })
}

/// Writes a scalar to `wire` (nothing for a table, which the caller
/// walks); a function is refused as by [`scalar`].
fn scalar_to(wire: &mut Wire, v: &Value, path: impl FnOnce() -> String) -> ApiResult<()> {
    match v {
        Value::Bool(b) => wire.bool(*b),
        Value::Int(n) => wire.int(*n),
        Value::Float(x) => wire.float(*x),
        Value::Str(s) => wire.bytes(s),
        Value::Table(_) => {}
        Value::Function(_) | Value::NativeFunction(_) => return Err(function_refused(&path())),
    }
    Ok(())
}

/// Writes `v` (read from `reader`) to `wire`; `path` names it in errors
/// (built only for an error).
pub fn value<R: TableRead + ?Sized>(
    wire: &mut Wire,
    reader: &R,
    v: &Value,
    path: &dyn Fn() -> String,
) -> ApiResult<()> {
    match v {
        Value::Table(id) => table(wire, reader, *id, path),
        other => scalar_to(wire, other, path),
    }
}

struct Frame {
    table: TableId,
    cursor: EntryCursor,
    /// The key of this table in its parent (`None` for the root).
    key: Option<Key>,
}

/// The path of `stack`'s top table, or of its entry `last`, for messages.
fn path_of(root: &dyn Fn() -> String, stack: &[Frame], last: Option<&Key>) -> String {
    let keys = stack.iter().filter_map(|f| f.key.as_ref()).chain(last);
    keys.fold(root(), |path, k| push_path(&path, k))
}

/// Writes table `id` and everything below it to `wire`; `path` names it in
/// errors (built only for an error).
pub fn table<R: TableRead + ?Sized>(
    wire: &mut Wire,
    reader: &R,
    id: TableId,
    path: &dyn Fn() -> String,
) -> ApiResult<()> {
    table_from(wire, reader, EntryCursor::new(id), path)
}

/// [`table`] from a cursor over the table's entries.
fn table_from<R: TableRead + ?Sized>(
    wire: &mut Wire,
    reader: &R,
    cursor: EntryCursor,
    path: &dyn Fn() -> String,
) -> ApiResult<()> {
    let engine = |e: moonvault_engine::EngineError| ApiError::engine(&e, None);
    wire.begin_table();
    let mut stack = vec![Frame {
        table: cursor.table(),
        cursor,
        key: None,
    }];
    while let Some(top) = stack.last_mut() {
        let next: EngineResult<Option<(Key, Stored)>> = top.cursor.next_stored(reader);
        match next.map_err(engine)? {
            Some((k, Stored::Record(record))) => {
                // A packed record came whole with its entry: its fields
                // are scalars, so it is one level with nothing below.
                wire.key(&k);
                wire.begin_table();
                stack.push(Frame {
                    table: record.id,
                    cursor: EntryCursor::of_record(record),
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
                wire.key(&k);
                wire.begin_table();
                stack.push(Frame {
                    table: child,
                    cursor: EntryCursor::new(child),
                    key: Some(k),
                });
            }
            Some((k, Stored::Value(v))) => {
                // On an error the stream is dropped whole, key and all.
                wire.key(&k);
                scalar_to(wire, &v, || path_of(path, &stack, Some(&k)))?;
            }
            None => {
                stack.pop();
                wire.end_table();
            }
        }
    }
    Ok(())
}
