//! Lua values (a chunk's results) to JS.
//!
//! External tables (proxies of `Memory`) are read through their `__pairs`
//! metamethod, plain tables with raw `next`; both become the same JS
//! containers as stored tables. Recursive, with a depth limit and a cycle
//! check (plain Lua tables may contain themselves).

use moonvault_lua::mlua;
use moonvault_lua::mlua::{Function, Lua, Table, Value};
use wasm_bindgen::JsValue;

use super::container::{Container, KeyClass};
use super::scalar;
use crate::api::error::{ApiError, ApiResult};

/// Deepest table nesting converted (the recursion runs on the 128 KiB
/// wasm stack).
pub const MAX_DEPTH: usize = 100;

fn lua_err(e: mlua::Error) -> ApiError {
    let v = moonvault_lua::VaultError::from_lua(e);
    ApiError::vault(&v, None)
}

/// `v` as JS; `path` names it in errors.
pub fn value(lua: &Lua, v: &Value, path: &str) -> ApiResult<JsValue> {
    let mut open = Vec::new();
    convert(lua, v, path, &mut open)
}

fn convert(lua: &Lua, v: &Value, path: &str, open: &mut Vec<usize>) -> ApiResult<JsValue> {
    Ok(match v {
        Value::Nil => JsValue::NULL,
        Value::Boolean(b) => JsValue::from_bool(*b),
        Value::Integer(n) => scalar::int(*n),
        Value::Number(x) => JsValue::from_f64(*x),
        Value::String(s) => scalar::bytes(&s.as_bytes()),
        Value::Table(t) => return table(lua, t, path, open),
        Value::Function(_) => {
            return Err(ApiError::conversion(
                path,
                "is a Lua function, which JS cannot hold; return what it computes instead \
                 (call it inside the chunk)",
            ))
        }
        other => {
            return Err(ApiError::conversion(
                path,
                format!("a Lua {} has no JS equivalent", other.type_name()),
            ))
        }
    })
}

fn key_of(k: &Value, path: &str) -> ApiResult<(KeyClass, JsValue, String)> {
    Ok(match k {
        Value::Integer(n) => (KeyClass::Int(*n), scalar::int(*n), format!("{path}[{n}]")),
        Value::Number(x) => (
            KeyClass::Other,
            JsValue::from_f64(*x),
            format!("{path}[{x}]"),
        ),
        Value::Boolean(b) => (
            KeyClass::Other,
            JsValue::from_bool(*b),
            format!("{path}[{b}]"),
        ),
        Value::String(s) => {
            let bytes = s.as_bytes();
            match std::str::from_utf8(&bytes) {
                Ok(text) => {
                    let p = if path.is_empty() {
                        text.to_string()
                    } else {
                        format!("{path}.{text}")
                    };
                    (KeyClass::Text, JsValue::from_str(text), p)
                }
                Err(_) => (
                    KeyClass::Other,
                    scalar::bytes(&bytes),
                    format!("{path}[<binary>]"),
                ),
            }
        }
        other => {
            return Err(ApiError::conversion(
                path,
                format!(
                    "a table key of type {} has no JS equivalent",
                    other.type_name()
                ),
            ))
        }
    })
}

fn table(lua: &Lua, t: &Table, path: &str, open: &mut Vec<usize>) -> ApiResult<JsValue> {
    let id = t.to_pointer() as usize;
    if open.contains(&id) {
        return Err(ApiError::conversion(
            path,
            "the table contains itself (a cycle)",
        ));
    }
    if open.len() >= MAX_DEPTH {
        return Err(ApiError::conversion(
            path,
            format!("tables nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    open.push(id);
    let mut out = Container::new();
    let mut add = |k: Value, v: Value, out: &mut Container| -> ApiResult<()> {
        let (class, jk, at) = key_of(&k, path)?;
        let jv = convert(lua, &v, &at, open)?;
        out.push(class, jk, jv);
        Ok(())
    };
    // External tables iterate through __pairs (the metatable is protected
    // from scripts, but the raw API reads it).
    let pairs: Option<Function> = t
        .metatable()
        .and_then(|mt| mt.raw_get::<Option<Function>>("__pairs").ok().flatten());
    match pairs {
        Some(pairs) => {
            let (next, state, mut control): (Function, Value, Value) =
                pairs.call(t.clone()).map_err(lua_err)?;
            loop {
                let (k, v): (Value, Value) = next
                    .call((state.clone(), control.clone()))
                    .map_err(lua_err)?;
                if k.is_nil() {
                    break;
                }
                control = k.clone();
                add(k, v, &mut out)?;
            }
        }
        None => {
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair.map_err(lua_err)?;
                add(k, v, &mut out)?;
            }
        }
    }
    open.pop();
    Ok(out.finish())
}
