//! Table keys between Lua and the engine: which Lua values are keys (Lua's
//! rules: an integral float is the integer, NaN and nil are not), stored
//! keys back as Lua values, and key paths for messages. Pure functions:
//! every layer of the binding uses them; they use none of it.

use mlua::{Lua, Value};
use moonvault_engine::codec::{fmt_path, Key};
use moonvault_engine::table::ROOT_NAME;

/// A key path from `Memory` for messages: `Memory.users.u1[3]`.
pub(crate) fn path_name(path: &[Key]) -> String {
    let mut full = Vec::with_capacity(path.len() + 1);
    full.push(Key::from(ROOT_NAME));
    full.extend_from_slice(path);
    fmt_path(&full)
}

/// A Lua value as a key to read: `None` when no entry can have it (nil,
/// NaN, tables, functions...), so the read gives nil as in Lua.
pub(crate) fn read_key(v: &Value) -> Option<Key> {
    match v {
        Value::Boolean(b) => Some(Key::Bool(*b)),
        Value::Integer(n) => Some(Key::Int(*n)),
        Value::Number(x) => Key::from_f64(*x).ok(),
        Value::String(s) => Some(Key::Str(s.as_bytes().to_vec())),
        _ => None,
    }
}

/// A Lua value as a key to write, refused as Lua would (nil, NaN) or
/// because stored tables only have scalar keys.
pub(crate) fn write_key(v: &Value) -> Result<Key, String> {
    match v {
        Value::Nil => Err("index is nil".into()),
        Value::Number(x) if x.is_nan() => Err("index is NaN".into()),
        _ => read_key(v).ok_or_else(|| {
            format!(
                "cannot use {} as a key of an external table (keys are booleans, numbers or strings)",
                with_article(v.type_name())
            )
        }),
    }
}

pub(crate) fn with_article(word: &str) -> String {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {word}"),
        _ => format!("a {word}"),
    }
}

/// A stored key as a Lua value.
pub(crate) fn key_to_lua(lua: &Lua, k: &Key) -> mlua::Result<Value> {
    Ok(match k {
        Key::Bool(b) => Value::Boolean(*b),
        Key::Int(n) => Value::Integer(*n),
        Key::Float(x) => Value::Number(*x),
        Key::Str(s) => Value::String(lua.create_string(s)?),
    })
}
