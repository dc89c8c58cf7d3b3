//! Direct data access without Lua: `get`, `set`, `delete`, `batch`,
//! `batchTableOperations`, and `list` (a page of one table, for browsing).
//!
//! These go straight to the engine (between chunks), so they need no Lua
//! heap and convert values one at a time: a batch of 100K operations
//! streams through one transaction within the memory budget.

use js_sys::{Array, Object, Reflect};
use moonvault_engine::batch::BatchOp;
use moonvault_engine::codec::{StoredView, Value};
use moonvault_engine::{Store, TableRead, ROOT};
use wasm_bindgen::prelude::*;

use super::batch_ops::{PathOps, TableOps};
use super::error::{ApiError, ApiResult};
use super::path::{self, display};
use super::RawVault;
use crate::convert::wire::Wire;
use crate::convert::{from_store, to_store};
use crate::idb::{suspend, IdbStore};

fn engine(e: moonvault_engine::EngineError, idb: &IdbStore) -> ApiError {
    ApiError::engine(&e, idb.failure().as_ref())
}

/// Applies `ops` (produced one at a time) in one transaction: all or
/// nothing, the error naming the failing operation.
fn apply_all(
    store: &Store,
    idb: &IdbStore,
    ops: impl Iterator<Item = ApiResult<BatchOp>>,
) -> ApiResult<usize> {
    let mut tx = store.begin().map_err(|e| engine(e, idb))?;
    let mut n = 0;
    for (i, op) in ops.enumerate() {
        let applied = op.and_then(|op| tx.apply(op).map_err(|e| engine(e, idb)));
        if let Err(mut e) = applied {
            tx.rollback();
            e.message = format!(
                "batch operation {i} (counting from 0) failed, nothing was applied: {}",
                e.message
            );
            return Err(e);
        }
        n += 1;
    }
    tx.commit().map_err(|e| engine(e, idb))?;
    Ok(n)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "boolean",
        Value::Int(_) | Value::Float(_) => "number",
        Value::Str(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) | Value::NativeFunction(_) => "function",
    }
}

#[wasm_bindgen]
#[cfg_attr(feature = "jspi", allow(deprecated))] // JSPI is marked experimental
impl RawVault {
    /// The value at `path` (a table with everything below it, `undefined`
    /// when absent), encoded for `wire.js`'s `decodeValue` (see
    /// `convert::wire`).
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn get(&self, path: JsValue) -> Result<JsValue, JsValue> {
        self.with_store(|store, idb| read_value(store, idb, &path))
            .map_err(JsValue::from)
    }

    /// [`RawVault::get`] as a plain call, which never suspends: `undefined`
    /// (not an encoding) when a page it needs is not in memory, and the
    /// caller then makes the `get` call (which may wait for IndexedDB).
    /// Called only while no other call is running or suspended (the
    /// package checks), it spares a read that memory answers the JSPI
    /// call's stack switch and promise (about a fifth of a point read).
    #[wasm_bindgen(js_name = getNow)]
    pub fn get_now(&self, path: JsValue) -> Result<JsValue, JsValue> {
        match suspend::attempt(|| self.with_store_now(|store, idb| read_value(store, idb, &path))) {
            Some(read) => read.map_err(JsValue::from),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Assigns `value` at `path` (a table is copied in whole; `null`
    /// deletes), creating missing tables on the way. One commit.
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn set(&self, path: JsValue, value: JsValue) -> Result<(), JsValue> {
        let (parent, key) = path::split(path::keys(&path, "path")?, "path")?;
        // Errors name the whole path being set (`Memory.a.b[2]`), built
        // only for one.
        let input = to_store::input_named(&value, || {
            let mut keys = parent.clone();
            keys.push(key.clone());
            display(&keys)
        })?;
        self.with_store(|store, idb| {
            store
                .write(|tx| {
                    let t = tx.ensure_path(&parent)?;
                    tx.set(t, key, input)
                })
                .map_err(|e| engine(e, idb))
        })
        .map_err(JsValue::from)
    }

    /// Deletes the value at `path` (a table with everything below it);
    /// nothing happens when it is absent. One commit.
    #[wasm_bindgen(js_name = delete)]
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn delete_path(&self, path: JsValue) -> Result<(), JsValue> {
        let (parent, key) = path::split(path::keys(&path, "path")?, "path")?;
        self.with_store(|store, idb| {
            store
                .write(|tx| match tx.lookup(&parent)? {
                    Some(t) => tx.delete(t, key),
                    None => Ok(()),
                })
                .map_err(|e| engine(e, idb))
        })
        .map_err(JsValue::from)
    }

    /// Applies `ops` (`{op: 'set'|'delete', path, value}`) atomically, in
    /// one commit; returns how many were applied.
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn batch(&self, ops: Array) -> Result<usize, JsValue> {
        let ops = PathOps::read(&ops)?;
        self.with_store(|store, idb| apply_all(store, idb, ops))
            .map_err(JsValue::from)
    }

    /// The product's batch form: `[{type: 'set'|'delete', table, key,
    /// value}]`, atomically, in one commit.
    #[wasm_bindgen(js_name = batchTableOperations)]
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn batch_table_operations(&self, operations: Array) -> Result<usize, JsValue> {
        let ops = TableOps::read(&operations)?;
        self.with_store(|store, idb| apply_all(store, idb, ops))
            .map_err(JsValue::from)
    }

    /// A page of the entries of the table at `path`, for browsing:
    /// `{entries: [{key, type, value?, size?}], more}`. Scalars carry their
    /// value, tables their entry count, functions neither. `after`
    /// continues after that key.
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn list(&self, path: JsValue, after: JsValue, limit: u32) -> Result<JsValue, JsValue> {
        let keys = path::keys(&path, "path")?;
        let after = if after.is_undefined() || after.is_null() {
            None
        } else {
            Some(to_store::key(&after, "after")?)
        };
        let limit = limit.clamp(1, 10_000);
        self.with_store(|store, idb| {
            let snap = store.read().map_err(|e| engine(e, idb))?;
            let table = match snap.lookup(&keys).map_err(|e| engine(e, idb))? {
                Some(t) => t,
                None => {
                    return Err(ApiError::invalid(format!(
                        "{} is not a table",
                        display(&keys)
                    )))
                }
            };
            let entries = Array::new();
            let mut cursor = moonvault_engine::table::EntryCursor::after(table, after.as_ref());
            let mut more = false;
            while let Some((k, v)) = cursor.next(&snap).map_err(|e| engine(e, idb))? {
                if entries.length() >= limit {
                    more = true;
                    break;
                }
                let item = Object::new();
                let (_, jk) = from_store::key(&k);
                let _ = Reflect::set(&item, &"key".into(), &jk);
                let _ = Reflect::set(&item, &"type".into(), &type_name(&v).into());
                match &v {
                    Value::Table(id) => {
                        let n = snap.len(*id).map_err(|e| engine(e, idb))?;
                        let _ = Reflect::set(&item, &"size".into(), &JsValue::from_f64(n as f64));
                    }
                    Value::Function(_) | Value::NativeFunction(_) => {}
                    scalar => {
                        let js = from_store::scalar(scalar, String::new)?;
                        let _ = Reflect::set(&item, &"value".into(), &js);
                    }
                }
                entries.push(&item);
            }
            let out = Object::new();
            let _ = Reflect::set(&out, &"entries".into(), &entries);
            let _ = Reflect::set(&out, &"more".into(), &JsValue::from_bool(more));
            Ok(out.into())
        })
        .map_err(JsValue::from)
    }
}

/// The value at `path`, encoded for the wire (`get` and `getNow`).
fn read_value(store: &Store, idb: &IdbStore, path: &JsValue) -> ApiResult<JsValue> {
    let keys = path::keys(path, "path")?;
    let snap = store.read().map_err(|e| engine(e, idb))?;
    let name = || display(&keys);
    let mut wire = Wire::new();
    let Some((key, parent)) = keys.split_last() else {
        from_store::table(&mut wire, &snap, ROOT, &|| "Memory".to_string())?;
        return Ok(wire.finish());
    };
    let table = snap.lookup(parent).map_err(|e| engine(e, idb))?;
    // A packed record goes to the wire from its bytes in place; anything
    // else is converted after its page is let go.
    let rest = match table {
        Some(table) => snap
            .with_stored(table, key, |found| match found {
                Some(StoredView::Record(r)) => {
                    wire.record(r.fields());
                    None
                }
                Some(StoredView::Value(v)) => Some(Some(v)),
                None => Some(None),
            })
            .map_err(|e| engine(e, idb))?,
        None => Some(None),
    };
    match rest {
        None => {}
        Some(Some(v)) => from_store::value(&mut wire, &snap, &v, &name)?,
        Some(None) => wire.undefined(),
    }
    Ok(wire.finish())
}
