//! JS values to Lua values (arguments of `store` functions: schemas,
//! migration steps), with the same rules as [`super::to_store`].

use js_sys::{Array, Object};
use moonvault_lua::mlua;
use moonvault_lua::mlua::{Lua, Value};
use wasm_bindgen::JsValue;

use super::js::{child_path, classify, JsKind};
use crate::api::error::{ApiError, ApiResult};

/// Deepest nesting converted.
pub const MAX_DEPTH: usize = 100;

fn lua_err(e: mlua::Error) -> ApiError {
    ApiError::vault(&moonvault_lua::VaultError::from_lua(e), None)
}

/// `v` as a Lua value in `lua`.
pub fn value(lua: &Lua, v: &JsValue, path: &str) -> ApiResult<Value> {
    convert(lua, v, path, 0)
}

fn convert(lua: &Lua, v: &JsValue, path: &str, depth: usize) -> ApiResult<Value> {
    let entries: Vec<(JsValue, JsValue)> = match classify(v, path)? {
        JsKind::Nil => return Ok(Value::Nil),
        JsKind::Bool(b) => return Ok(Value::Boolean(b)),
        JsKind::Int(n) => return Ok(Value::Integer(n)),
        JsKind::Float(x) => return Ok(Value::Number(x)),
        JsKind::Bytes(b) => return lua.create_string(b).map(Value::String).map_err(lua_err),
        JsKind::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, item)| (JsValue::from_f64((i + 1) as f64), item))
            .collect(),
        JsKind::Map(m) => Array::from(&m)
            .iter()
            .map(|p| {
                let p = Array::from(&p);
                (p.get(0), p.get(1))
            })
            .collect(),
        JsKind::Object(o) => Object::entries(&o)
            .iter()
            .map(|p| {
                let p = Array::from(&p);
                (p.get(0), p.get(1))
            })
            .collect(),
    };
    if depth >= MAX_DEPTH {
        return Err(ApiError::conversion(
            path,
            format!("tables nested deeper than {MAX_DEPTH} levels (a cyclic object?)"),
        ));
    }
    let t = lua.create_table().map_err(lua_err)?;
    for (k, item) in entries {
        let at = child_path(path, &k);
        if matches!(
            classify(&k, &at)?,
            JsKind::Nil | JsKind::Array(_) | JsKind::Map(_) | JsKind::Object(_)
        ) {
            return Err(ApiError::conversion(&at, "a table key must be a scalar"));
        }
        let k = convert(lua, &k, &at, depth)?;
        let item = convert(lua, &item, &at, depth + 1)?;
        t.raw_set(k, item).map_err(lua_err)?;
    }
    Ok(Value::Table(t))
}
