//! `stats()`: store, engine, Lua and memory figures; `check()`: integrity.

use js_sys::{Object, Reflect};
use moonvault_engine::{TableRead, ROOT};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::error::ApiError;
use super::RawVault;
use crate::budget::LINEAR_MEMORY;

fn set(o: &Object, k: &str, v: impl Into<JsValue>) {
    let _ = Reflect::set(o, &k.into(), &v.into());
}

fn num(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

/// Bytes of the module's linear memory right now.
pub fn linear_memory() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    u64::from(
        memory
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length(),
    )
}

#[wasm_bindgen]
#[cfg_attr(feature = "jspi", allow(deprecated))] // JSPI is marked experimental
impl RawVault {
    /// Figures about the store (see `Stats` in the package's .d.ts).
    /// `deep` also walks every table for entry counts, logical bytes and
    /// the compression ratio (time proportional to the data).
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn stats(&self, deep: bool) -> Result<JsValue, JsValue> {
        let lua_limit = self
            .state
            .try_borrow()
            .map(|s| super::lifecycle::lua_limit(&s))
            .unwrap_or(0);
        // Read without building the VM: a store only used through the
        // data calls has none (`vm.rs`).
        let used_lua = self.lua_memory();
        self.with_store(|store, idb| {
            let engine = |e| ApiError::engine(&e, idb.failure().as_ref());
            let st = store.stats().map_err(engine)?;
            // Under lazy paging, the first call reads the sizes of the
            // pages not read yet; then writes keep them exact.
            idb.measure_pages().map_err(|e| ApiError::store(&e))?;
            let snap = store.read().map_err(engine)?;
            let idb_stats = idb.stats();
            let stored: u64 = idb_stats.bytes.iter().sum();
            let o = Object::new();
            set(&o, "name", idb.name());
            set(&o, "records", num(snap.len(ROOT).map_err(engine)?));
            set(&o, "storedBytes", num(stored));
            set(&o, "pages", num(idb_stats.blobs[1]));
            set(&o, "paging", if idb_stats.lazy { "lazy" } else { "mirror" });
            set(&o, "jsBytes", num(idb_stats.js_bytes));
            set(&o, "pageSize", num(st.db.pager.page_size as u64));
            set(&o, "walRecords", num(st.db.wal_records));
            set(&o, "commits", num(st.db.commits));
            set(&o, "checkpoints", num(st.db.pager.checkpoints));
            set(
                &o,
                "pendingWrites",
                num(idb_stats.batches - idb_stats.durable_batches),
            );
            set(&o, "idbTransactions", num(idb_stats.transactions));
            set(&o, "cacheHitRate", st.cache_hit_rate);
            set(&o, "indexes", num(st.indexes as u64));
            set(&o, "schemas", num(st.schemas as u64));
            set(&o, "version", num(st.user_version));
            set(&o, "luaStarted", used_lua.is_some());
            set(&o, "luaMemory", num(used_lua.unwrap_or(0) as u64));
            set(&o, "luaMemoryLimit", num(lua_limit as u64));
            set(&o, "linearMemory", num(linear_memory()));
            set(&o, "linearMemoryLimit", num(LINEAR_MEMORY as u64));
            if deep {
                let m = crate::measure::measure(&snap, ROOT).map_err(engine)?;
                set(&o, "tables", num(m.tables));
                set(&o, "entries", num(m.entries));
                set(&o, "logicalBytes", num(m.logical_bytes));
                let ratio = if stored == 0 {
                    0.0
                } else {
                    m.logical_bytes as f64 / stored as f64
                };
                set(&o, "compressionRatio", ratio);
            }
            Ok(JsValue::from(o))
        })
        .map_err(JsValue::from)
    }

    /// Verifies every page checksum and B-tree invariant of the committed
    /// state, and every index against its table (what `moonvault check`
    /// does). Returns `{entries, depth, pages, indexes}`; damage throws a
    /// `StoreError` naming it.
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn check(&self) -> Result<JsValue, JsValue> {
        self.with_store(|store, idb| {
            let engine = |e| ApiError::engine(&e, idb.failure().as_ref());
            let report = store.db().check().map_err(engine)?;
            let snap = store.read().map_err(engine)?;
            let defs = store.indexes().map_err(engine)?;
            for def in &defs {
                moonvault_engine::index::verify_index(&snap, def).map_err(engine)?;
            }
            let o = Object::new();
            set(&o, "entries", num(report.entries));
            set(&o, "depth", num(report.depth as u64));
            set(
                &o,
                "pages",
                num(report.leaf_pages + report.branch_pages + report.overflow_pages),
            );
            set(&o, "indexes", num(defs.len() as u64));
            Ok(JsValue::from(o))
        })
        .map_err(JsValue::from)
    }
}
