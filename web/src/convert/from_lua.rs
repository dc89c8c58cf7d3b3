//! Lua values (a chunk's results) to JS.
//!
//! External tables (proxies of `Memory`) are read through their `__pairs`
//! metamethod, plain tables with raw `next`; both become the same JS
//! containers as stored tables. Recursive, with a depth limit, a cycle
//! check (plain Lua tables may contain themselves) and the output budget
//! ([`Budget::output`]): a table reached twice is converted twice (JS gets
//! two objects) and counted twice, so a DAG that doubles at every level
//! stops at the budget instead of walking 2^depth entries.

use moonvault_lua_bind::mlua;
use moonvault_lua_bind::mlua::{Function, Lua, Table, Value};
use wasm_bindgen::JsValue;

use super::budget::Budget;
use super::container::{Container, KeyClass};
use super::scalar;
use crate::api::error::{ApiError, ApiResult};

/// Deepest table nesting converted (the recursion runs on the 128 KiB
/// wasm stack).
pub const MAX_DEPTH: usize = 100;

fn lua_err(e: mlua::Error) -> ApiError {
    let v = moonvault_lua_bind::VaultError::from_lua(e);
    ApiError::vault(&v, None)
}

/// `v` as JS; `path` names it in errors.
pub fn value(lua: &Lua, v: &Value, path: &str) -> ApiResult<JsValue> {
    Walk::new().value(lua, v, path)
}

/// One conversion: several values (a chunk's results) converted through
/// one `Walk` share its budget.
pub struct Walk {
    /// The tables being converted, outermost first (cycle check, depth).
    open: Vec<usize>,
    budget: Budget,
}

impl Default for Walk {
    fn default() -> Self {
        Walk::new()
    }
}

impl Walk {
    /// The whole output budget.
    pub fn new() -> Walk {
        Walk {
            open: Vec::new(),
            budget: Budget::output(),
        }
    }

    /// `v` as JS; `path` names it in errors.
    pub fn value(&mut self, lua: &Lua, v: &Value, path: &str) -> ApiResult<JsValue> {
        self.budget.take_entries(1, path)?;
        convert(lua, v, path, self)
    }
}

fn convert(lua: &Lua, v: &Value, path: &str, walk: &mut Walk) -> ApiResult<JsValue> {
    Ok(match v {
        Value::Nil => JsValue::NULL,
        Value::Boolean(b) => JsValue::from_bool(*b),
        Value::Integer(n) => scalar::int(*n),
        Value::Number(x) => JsValue::from_f64(*x),
        Value::String(s) => {
            let bytes = s.as_bytes();
            walk.budget.take_bytes(bytes.len(), path)?;
            scalar::bytes(&bytes)
        }
        Value::Table(t) => return table(lua, t, path, walk),
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

fn table(lua: &Lua, t: &Table, path: &str, walk: &mut Walk) -> ApiResult<JsValue> {
    let id = t.to_pointer() as usize;
    if walk.open.contains(&id) {
        return Err(ApiError::conversion(
            path,
            "the table contains itself (a cycle)",
        ));
    }
    if walk.open.len() >= MAX_DEPTH {
        return Err(ApiError::conversion(
            path,
            format!("tables nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    walk.open.push(id);
    let mut out = Container::new();
    let mut add = |k: Value, v: Value, out: &mut Container| -> ApiResult<()> {
        walk.budget.take_entries(1, path)?;
        if let Value::String(s) = &k {
            walk.budget.take_bytes(s.as_bytes().len(), path)?;
        }
        let (class, jk, at) = key_of(&k, path)?;
        let jv = convert(lua, &v, &at, walk)?;
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
    walk.open.pop();
    Ok(out.finish())
}
