//! The `open` options object.

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use moonvault_lua_bind::{Limits, RunOptions};

use super::error::{ApiError, ApiResult};
use crate::budget;
use crate::idb::lazy::DEFAULT_CACHE_BYTES;
use crate::idb::{suspend, IdbOptions, OnLocked, Paging, TxnDurability};

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
    /// Default limits of every chunk (`timeoutMs`, `maxInstructions`).
    pub limits: Limits,
}

fn field(options: &JsValue, name: &str) -> JsValue {
    if options.is_object() {
        Reflect::get(options, &name.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

const KNOWN: [&str; 10] = [
    "paging",
    "pageCacheBytes",
    "timeoutMs",
    "maxInstructions",
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
        let paging = paging(options)?;
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
                paging,
            },
            print,
            limits: limits(options)?,
        })
    }
}

/// Smallest and largest `pageCacheBytes`.
const PAGE_CACHE_RANGE: std::ops::RangeInclusive<f64> = 65536.0..=1073741824.0;

/// `paging` (`'auto'`, `'lazy'` or `'mirror'`) and `pageCacheBytes`.
/// `'auto'` (the default) pages lazily where this build can suspend.
fn paging(options: &JsValue) -> ApiResult<Paging> {
    let bytes = field(options, "pageCacheBytes");
    let cache_bytes = if bytes.is_undefined() || bytes.is_null() {
        DEFAULT_CACHE_BYTES
    } else {
        match bytes.as_f64() {
            Some(x) if x.fract() == 0.0 && PAGE_CACHE_RANGE.contains(&x) => x as usize,
            _ => {
                return Err(ApiError::invalid(format!(
                    "pageCacheBytes must be a whole number of bytes in {}..={}",
                    PAGE_CACHE_RANGE.start(),
                    PAGE_CACHE_RANGE.end()
                )))
            }
        }
    };
    let lazy = Paging::Lazy { cache_bytes };
    let value = field(options, "paging");
    match value.as_string().as_deref() {
        None if value.is_undefined() || value.is_null() => Ok(if suspend::AVAILABLE {
            lazy
        } else {
            Paging::Mirror
        }),
        Some("auto") if suspend::AVAILABLE => Ok(lazy),
        Some("auto") | Some("mirror") => Ok(Paging::Mirror),
        Some("lazy") if suspend::AVAILABLE => Ok(lazy),
        Some("lazy") => Err(ApiError::invalid(
            "paging 'lazy' needs JavaScript Promise Integration (WebAssembly.Suspending): \
             this browser has none, or the package was initialized with the mirror build",
        )),
        _ => Err(ApiError::invalid(
            "paging must be 'auto', 'lazy' or 'mirror'",
        )),
    }
}

/// `timeoutMs` and `maxInstructions` of an options object.
pub fn limits(options: &JsValue) -> ApiResult<Limits> {
    let number = |name: &str| -> ApiResult<Option<f64>> {
        match field(options, name) {
            v if v.is_undefined() || v.is_null() => Ok(None),
            v => match v.as_f64() {
                Some(x) if x > 0.0 && x <= 9.0e15 => Ok(Some(x)),
                _ => Err(ApiError::invalid(format!(
                    "{name} must be a positive number (got {v:?})"
                ))),
            },
        }
    };
    let timeout = number("timeoutMs")?.map(|ms| std::time::Duration::from_secs_f64(ms / 1000.0));
    let max_instructions = match number("maxInstructions")? {
        Some(n) if n.fract() != 0.0 => {
            return Err(ApiError::invalid(
                "maxInstructions must be a whole number of Lua instructions",
            ))
        }
        n => n.map(|n| n as u64),
    };
    Ok(Limits {
        max_instructions,
        timeout,
    })
}

/// The per-call options of `compute` and `computeBatch`: `timeoutMs`,
/// `maxInstructions` (overriding the store's defaults) and `signal` (an
/// `AbortSignal`, read at each of the limits' checks). Other properties
/// (`durable`) belong to the JS wrapper and are ignored here.
pub fn run_options(options: &JsValue) -> ApiResult<RunOptions> {
    if !(options.is_undefined() || options.is_null() || options.is_object()) {
        return Err(ApiError::invalid("compute options must be an object"));
    }
    let signal = field(options, "signal");
    let abort: Option<Box<dyn Fn() -> bool>> = if signal.is_undefined() || signal.is_null() {
        None
    } else if signal.is_object() && Reflect::has(&signal, &"aborted".into()).unwrap_or(false) {
        Some(Box::new(move || {
            Reflect::get(&signal, &"aborted".into()).is_ok_and(|v| v.is_truthy())
        }))
    } else {
        return Err(ApiError::invalid("signal must be an AbortSignal"));
    };
    Ok(RunOptions {
        limits: limits(options)?,
        abort,
    })
}
