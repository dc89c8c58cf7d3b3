//! The `open` options object.

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use super::error::{ApiError, ApiResult};
use crate::budget;
use crate::idb::{IdbOptions, OnLocked, TxnDurability};

/// `Moonvault.open(name, options)`, parsed.
#[derive(Debug)]
pub struct OpenOptions {
    /// Lua heap limit in bytes.
    pub memory_limit: usize,
    /// Never load stored bytecode.
    pub untrusted: bool,
    /// IndexedDB options (durability hint, lock behaviour).
    pub idb: IdbOptions,
    /// Receives each printed line; `None`: `console.log`.
    pub print: Option<Function>,
}

fn field(options: &JsValue, name: &str) -> JsValue {
    if options.is_object() {
        Reflect::get(options, &name.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

const KNOWN: [&str; 6] = [
    "memoryLimit",
    "untrusted",
    "durability",
    "print",
    "onLocked",
    "durableWrites",
];

impl OpenOptions {
    /// Parses `options` (`undefined`, `null` or an object); unknown
    /// properties are errors, so a misspelt option is not silently ignored.
    pub fn parse(options: &JsValue) -> ApiResult<OpenOptions> {
        if !(options.is_undefined() || options.is_null() || options.is_object()) {
            return Err(ApiError::invalid("open options must be an object"));
        }
        if options.is_object() {
            let object: &js_sys::Object = options.unchecked_ref();
            let keys: js_sys::Array = js_sys::Object::keys(object);
            for key in keys.iter() {
                let key = key.as_string().unwrap_or_default();
                if !KNOWN.contains(&key.as_str()) {
                    return Err(ApiError::invalid(format!(
                        "unknown open option `{key}`; the options are {}",
                        KNOWN.join(", ")
                    )));
                }
            }
        }
        let limit = field(options, "memoryLimit");
        let memory_limit = if limit.is_undefined() || limit.is_null() {
            budget::lua_heap_limit(None)
        } else {
            let Some(x) = limit.as_f64() else {
                return Err(ApiError::invalid("memoryLimit must be a number of bytes"));
            };
            budget::lua_heap_limit(Some(x))
        }
        .map_err(ApiError::invalid)?;
        let untrusted = match field(options, "untrusted") {
            v if v.is_undefined() || v.is_null() => false,
            v => v
                .as_bool()
                .ok_or_else(|| ApiError::invalid("untrusted must be a boolean"))?,
        };
        let durability = match field(options, "durability").as_string().as_deref() {
            None if field(options, "durability").is_undefined() => TxnDurability::Strict,
            Some("strict") => TxnDurability::Strict,
            Some("relaxed") => TxnDurability::Relaxed,
            Some("default") => TxnDurability::Default,
            _ => {
                return Err(ApiError::invalid(
                    "durability must be 'strict', 'relaxed' or 'default'",
                ))
            }
        };
        let on_locked = match field(options, "onLocked").as_string().as_deref() {
            None if field(options, "onLocked").is_undefined() => OnLocked::Error,
            Some("error") => OnLocked::Error,
            Some("wait") => OnLocked::Wait,
            _ => return Err(ApiError::invalid("onLocked must be 'error' or 'wait'")),
        };
        let print = match field(options, "print") {
            v if v.is_undefined() || v.is_null() => None,
            v => Some(
                v.dyn_into::<Function>()
                    .map_err(|_| ApiError::invalid("print must be a function"))?,
            ),
        };
        Ok(OpenOptions {
            memory_limit,
            untrusted,
            idb: IdbOptions {
                durability,
                on_locked,
            },
            print,
        })
    }
}
