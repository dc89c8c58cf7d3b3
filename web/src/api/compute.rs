//! Lua chunks (`compute`, `computeBatch`) and the calls that go through
//! the Lua `store` API so that JS and Lua share one meaning: schemas,
//! migrations and persisted functions.
//!
//! Each call is one atomic chunk: its changes commit when it returns and
//! roll back on any error, including a result that cannot be converted to
//! JS (so a failed call never leaves half its work behind).

use js_sys::{Array, Object, Reflect};
use moonvault_lua_bind::mlua;
use moonvault_lua_bind::mlua::chunk::ChunkMode;
use moonvault_lua_bind::mlua::{Function, Lua, MultiValue, Value};
use moonvault_lua_bind::{RunOptions, Vault};
use wasm_bindgen::prelude::*;

use super::error::{ApiError, ApiResult};
use super::RawVault;
use crate::convert::{from_lua, to_lua};
use crate::idb::IdbStore;

/// Runs `f` in one atomic chunk; an `Err` from `f` (a conversion failure)
/// rolls the chunk back like a Lua error would.
fn atomic<R>(
    vault: &Vault,
    idb: &IdbStore,
    f: impl FnOnce(&Lua) -> Result<ApiResult<R>, mlua::Error>,
) -> ApiResult<R> {
    atomic_with(vault, idb, RunOptions::default(), f)
}

/// [`atomic`] under per-call limits.
fn atomic_with<R>(
    vault: &Vault,
    idb: &IdbStore,
    run: RunOptions,
    f: impl FnOnce(&Lua) -> Result<ApiResult<R>, mlua::Error>,
) -> ApiResult<R> {
    let mut failed = None;
    let out = vault.atomic_with(run, |lua| match f(lua)? {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            failed = Some(e);
            Err(mlua::Error::runtime("conversion failed"))
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    match out {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(ApiError::invalid("the chunk produced no result")),
        Err(e) => Err(ApiError::vault(&e, idb.failure().as_ref())),
    }
}

/// A chunk's results as JS: none is `undefined`, one is the value, more
/// are an array.
fn results(lua: &Lua, values: MultiValue) -> ApiResult<JsValue> {
    let values = values.into_vec();
    // One budget for all the results.
    let mut walk = from_lua::Walk::new();
    match values.as_slice() {
        [] => Ok(JsValue::UNDEFINED),
        [one] => walk.value(lua, one, "result"),
        many => {
            let out = Array::new();
            for (i, v) in many.iter().enumerate() {
                out.push(&walk.value(lua, v, &format!("result[{}]", i + 1))?);
            }
            Ok(out.into())
        }
    }
}

/// `chunk`, text only if `text_only` (an untrusted store): a binary chunk
/// then fails as Lua's `load` with mode "t" does.
fn mode<'a>(chunk: mlua::chunk::Chunk<'a>, text_only: bool) -> mlua::chunk::Chunk<'a> {
    if text_only {
        chunk.set_mode(ChunkMode::Text)
    } else {
        chunk
    }
}

/// Compiles and runs `code`. The source is freed once compiled: a chunk
/// of 100 KB (a large function defined from source) would otherwise hold
/// its bytes in the Rust heap's large-block region (`heap.rs`) while it
/// runs, where the function's own dump then has to fit.
fn run_chunk(
    vault: &Vault,
    idb: &IdbStore,
    code: String,
    text_only: bool,
    run: RunOptions,
) -> ApiResult<JsValue> {
    atomic_with(vault, idb, run, move |lua| {
        let f = mode(lua.load(code.as_str()).set_name("=compute"), text_only).into_function()?;
        drop(code);
        let values = f.call::<MultiValue>(())?;
        Ok(results(lua, values))
    })
}

/// Calls `store.<name>(args...)` (the prelude's checked version) in one
/// chunk.
fn store_call(
    vault: &Vault,
    idb: &IdbStore,
    name: &str,
    args: impl FnOnce(&Lua) -> ApiResult<Vec<Value>>,
) -> ApiResult<JsValue> {
    atomic(vault, idb, |lua| {
        let args = match args(lua) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let store: mlua::Table = lua.globals().get("store")?;
        let f: Function = store.get(name)?;
        let values = f.call::<MultiValue>(MultiValue::from_vec(args))?;
        Ok(results(lua, values))
    })
}

/// Stores `source` as a function at `path[key]`, creating missing tables;
/// a function expression (`expression`) is made the chunk
/// `return (<source>)(...)` here, in the Lua heap (see
/// [`is_function_expression`]).
const PERSIST: &str = r#"
local path, key, source, expression = ...
if expression then source = "return (" .. source .. ")(...)" end
local t = Memory
for i = 1, #path do
    local k = path[i]
    local nxt = t[k]
    if nxt == nil then t[k] = {} nxt = t[k] end
    t = nxt
end
t[key] = store.fn(source)
"#;

#[wasm_bindgen]
#[cfg_attr(feature = "jspi", allow(deprecated))] // JSPI is marked experimental
impl RawVault {
    /// Runs `code` as one atomic Lua chunk and returns its results
    /// converted to JS (none: `undefined`, one: the value, more: an array).
    /// A Lua error (or an unconvertible result) rolls the chunk back and
    /// is thrown as a `LuaError` (or `ConversionError`).
    ///
    /// `options`: `timeoutMs` and `maxInstructions` override the store's
    /// defaults; `signal` (an `AbortSignal`) stops the chunk when aborted
    /// (already aborted: nothing runs). A chunk stopped so is rolled back
    /// and thrown as a `LimitError` (`limit`: `timeout`, `instructions` or
    /// `aborted`).
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn compute(&self, code: String, options: JsValue) -> Result<JsValue, JsValue> {
        let run = super::options::run_options(&options)?;
        let text_only = self.text_only();
        self.with(move |vault, idb| run_chunk(vault, idb, code, text_only, run))
            .map_err(JsValue::from)
    }

    /// Runs each chunk of `codes` atomically, in order, and returns one
    /// `{success: true, result}` or `{success: false, error}` per chunk
    /// (a failed chunk does not stop the next ones). `options` are
    /// [`RawVault::compute`]'s, applied to each chunk (the time limit per
    /// chunk).
    #[wasm_bindgen(js_name = computeBatch)]
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn compute_batch(&self, codes: Array, options: JsValue) -> Result<Array, JsValue> {
        super::options::run_options(&options)?;
        let out = Array::new();
        let text_only = self.text_only();
        for (i, code) in codes.iter().enumerate() {
            let entry = Object::new();
            let result = match code.as_string() {
                Some(code) => super::options::run_options(&options).and_then(|run| {
                    self.with(move |vault, idb| run_chunk(vault, idb, code, text_only, run))
                }),
                None => Err(ApiError::invalid(format!("codes[{i}] is not a string"))),
            };
            let (ok, key, value) = match result {
                Ok(v) => (true, "result", v),
                Err(e) => (false, "error", e.to_js()),
            };
            let _ = Reflect::set(&entry, &"success".into(), &JsValue::from_bool(ok));
            let _ = Reflect::set(&entry, &key.into(), &value);
            out.push(&entry);
        }
        Ok(out)
    }

    /// Stores the Lua function `source` at `table[key]` as source text
    /// (loadable in untrusted stores), creating missing tables. `source`
    /// is a function expression (`function(x, y) return x + y end`) or a
    /// chunk whose `...` are the arguments.
    #[wasm_bindgen(js_name = persistFunction)]
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn persist_function(
        &self,
        table: JsValue,
        key: JsValue,
        source: String,
    ) -> Result<(), JsValue> {
        let keys = super::path::keys(&table, "table")?;
        let key_js = key;
        let expression = is_function_expression(&source);
        self.with(move |vault, idb| {
            atomic(vault, idb, move |lua| {
                let path = match keys_to_lua(lua, &keys) {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(e)),
                };
                let key = match to_lua::value(lua, &key_js, "key") {
                    Ok(Value::Nil) => return Ok(Err(ApiError::invalid("key must not be null"))),
                    Ok(k) => k,
                    Err(e) => return Ok(Err(e)),
                };
                let f = lua
                    .load(PERSIST)
                    .set_name("=persistFunction")
                    .into_function()?;
                // The Rust copy goes before the source compiles: at 100 KB
                // it is a large block, which the function's payload needs
                // (as `compute` frees its chunk).
                let source_lua = lua.create_string(&source)?;
                drop(source);
                f.call::<()>((path, key, source_lua, expression))?;
                Ok(Ok(()))
            })
        })
        .map_err(JsValue::from)
    }

    /// `store.schema(table, schema)`: sets (`null`: removes) the schema of
    /// the records of `table`, in the Lua schema format.
    #[wasm_bindgen(js_name = setSchema)]
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn set_schema(&self, table: JsValue, schema: JsValue) -> Result<(), JsValue> {
        let keys = super::path::keys(&table, "table")?;
        self.with(|vault, idb| {
            store_call(vault, idb, "schema", |lua| {
                Ok(vec![
                    keys_to_lua(lua, &keys)?,
                    to_lua::value(lua, &schema, "schema")?,
                ])
            })
        })
        .map(drop)
        .map_err(JsValue::from)
    }

    /// `store.migrate(target, steps)`: `steps[v]` (Lua source, run as a
    /// chunk) brings the store from version `v - 1` to `v`, each step
    /// committed with its version; an array's `steps[i]` reaches version
    /// `i + 1`. Returns the version reached. `progress(done, total)`, when
    /// given, follows the steps: before each one (the earlier ones have
    /// committed) and once at the end.
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn migrate(
        &self,
        target: f64,
        steps: JsValue,
        progress: Option<js_sys::Function>,
    ) -> Result<JsValue, JsValue> {
        if !(target.fract() == 0.0 && (0.0..=9.0e15).contains(&target)) {
            return Err(ApiError::invalid("the target version must be a whole number").into());
        }
        let steps = step_sources(&steps)?;
        let text_only = self.text_only();
        self.with(|vault, idb| {
            // The vault's figures (`store.migrate` reports each step),
            // for this call only.
            if let Some(progress) = progress.clone() {
                vault.set_progress_sink(Some(Box::new(move |p: moonvault_lua_bind::Progress| {
                    let _ = progress.call2(
                        &JsValue::NULL,
                        &JsValue::from_f64(p.done as f64),
                        &JsValue::from_f64(p.total as f64),
                    );
                })));
            }
            let reached = store_call(vault, idb, "migrate", |lua| {
                let table = lua.create_table().map_err(lua_err)?;
                // Each step's source is copied out of JS only to compile
                // it (a copy per step, not all of them for the whole
                // migration: `run_chunk` says why large sources matter).
                for (version, source) in &steps {
                    let source = String::from(source);
                    let chunk = lua
                        .load(source.as_str())
                        .set_name(format!("=migration {version}"));
                    let f = mode(chunk, text_only).into_function().map_err(lua_err)?;
                    drop(source);
                    table.raw_set(*version, f).map_err(lua_err)?;
                }
                Ok(vec![Value::Integer(target as i64), Value::Table(table)])
            });
            vault.set_progress_sink(None);
            reached
        })
        .map_err(JsValue::from)
    }
}

fn lua_err(e: mlua::Error) -> ApiError {
    ApiError::vault(&moonvault_lua_bind::VaultError::from_lua(e), None)
}

fn keys_to_lua(lua: &Lua, keys: &[moonvault_engine::codec::Key]) -> ApiResult<Value> {
    let t = lua.create_table().map_err(lua_err)?;
    for (i, k) in keys.iter().enumerate() {
        let v = match k {
            moonvault_engine::codec::Key::Bool(b) => Value::Boolean(*b),
            moonvault_engine::codec::Key::Int(n) => Value::Integer(*n),
            moonvault_engine::codec::Key::Float(x) => Value::Number(*x),
            moonvault_engine::codec::Key::Str(s) => {
                Value::String(lua.create_string(s).map_err(lua_err)?)
            }
        };
        t.raw_set(i + 1, v).map_err(lua_err)?;
    }
    Ok(Value::Table(t))
}

/// Whether `source` is the product's form of a persisted function, a
/// function expression (`function(x, y) return x + y end`): `store.fn`
/// expects a chunk whose `...` are the arguments, so such a source is
/// stored as `return (function(x, y) ... end)(...)`; any other chunk as is.
fn is_function_expression(source: &str) -> bool {
    let trimmed = source.trim_start();
    trimmed.starts_with("function") && trimmed["function".len()..].trim_start().starts_with('(')
}

/// The migration steps by version, each a JS string (left on the JS
/// heap until its step is compiled).
fn step_sources(steps: &JsValue) -> ApiResult<Vec<(i64, js_sys::JsString)>> {
    let entries: Vec<(i64, JsValue)> = if Array::is_array(steps) {
        Array::from(steps)
            .iter()
            .enumerate()
            .map(|(i, s)| (i as i64 + 1, s))
            .collect()
    } else if steps.is_object() {
        let mut out = Vec::new();
        for pair in Object::entries(steps.unchecked_ref()).iter() {
            let pair = Array::from(&pair);
            let k = pair.get(0).as_string().unwrap_or_default();
            let v: i64 = k.parse().map_err(|_| {
                ApiError::invalid(format!("migration step key {k:?} is not a version number"))
            })?;
            out.push((v, pair.get(1)));
        }
        out
    } else {
        return Err(ApiError::invalid(
            "steps must be an array or an object of Lua source strings by version",
        ));
    };
    entries
        .into_iter()
        .filter(|(_, s)| !s.is_undefined() && !s.is_null())
        .map(|(v, s)| {
            s.dyn_into::<js_sys::JsString>()
                .map(|s| (v, s))
                .map_err(|_| {
                    ApiError::invalid(format!(
                        "migration step {v} must be Lua source text (JS functions cannot run \
                     inside the store's transaction)"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::is_function_expression;

    #[test]
    fn function_expressions_are_told_from_chunks() {
        assert!(is_function_expression("function(x, y) return x + y end"));
        assert!(is_function_expression("  function (a) return a end"));
        assert!(!is_function_expression("local a = ... return a"));
        assert!(!is_function_expression("function f(x) end return f(...)"));
        assert!(!is_function_expression("functional = 1"));
    }
}
