//! JS values to Lua values (arguments of `store` functions: schemas,
//! migration steps), with the same rules as [`super::to_store`].

use moonvault_lua_bind::mlua;
use moonvault_lua_bind::mlua::{Lua, Value};
use wasm_bindgen::JsValue;

use super::budget::Budget;
use super::js::{child_path, classify, JsKind};
use super::to_store::Entries;
use crate::api::error::{ApiError, ApiResult};

/// Deepest nesting converted.
pub const MAX_DEPTH: usize = 100;

fn lua_err(e: mlua::Error) -> ApiError {
    ApiError::vault(&moonvault_lua_bind::VaultError::from_lua(e), None)
}

/// `v` as a Lua value in `lua`, within the input budget
/// ([`super::budget::INPUT_LIMIT`]; the Lua heap has its own limit too).
pub fn value(lua: &Lua, v: &JsValue, path: &str) -> ApiResult<Value> {
    convert(lua, v, path, 0, &mut Budget::input())
}

fn convert(
    lua: &Lua,
    v: &JsValue,
    path: &str,
    depth: usize,
    budget: &mut Budget,
) -> ApiResult<Value> {
    let kind = match classify(v, path, budget)? {
        JsKind::Nil => return Ok(Value::Nil),
        JsKind::Bool(b) => return Ok(Value::Boolean(b)),
        JsKind::Int(n) => return Ok(Value::Integer(n)),
        JsKind::Float(x) => return Ok(Value::Number(x)),
        JsKind::Bytes(b) => return lua.create_string(b).map(Value::String).map_err(lua_err),
        table => table,
    };
    if depth >= MAX_DEPTH {
        return Err(ApiError::conversion(
            path,
            format!("tables nested deeper than {MAX_DEPTH} levels (a cyclic object?)"),
        ));
    }
    let Some(entries) = Entries::of(kind, path, budget)? else {
        return Ok(Value::Nil);
    };
    let t = lua.create_table().map_err(lua_err)?;
    for i in 0..entries.len() {
        let (k, item) = entries.get(i, path)?;
        let at = child_path(path, &k);
        let k = match classify(&k, &at, budget)? {
            JsKind::Nil => return Err(ApiError::conversion(&at, "a table key must be a scalar")),
            JsKind::Bool(b) => Value::Boolean(b),
            JsKind::Int(n) => Value::Integer(n),
            JsKind::Float(x) => Value::Number(x),
            JsKind::Bytes(b) => Value::String(lua.create_string(b).map_err(lua_err)?),
            JsKind::Array(..) | JsKind::Map(..) | JsKind::Object(_) => {
                return Err(ApiError::conversion(&at, "a table key must be a scalar"))
            }
        };
        let item = convert(lua, &item, &at, depth + 1, budget)?;
        t.raw_set(k, item).map_err(lua_err)?;
    }
    Ok(Value::Table(t))
}
