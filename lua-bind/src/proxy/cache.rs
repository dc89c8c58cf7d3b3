//! The read cache of external tables: values already read in the open
//! transaction, kept on the Lua side so that a repeated read
//! (`for i = 1, n do s = s + u.age end`) is two table lookups in the
//! `__index` metamethod instead of a call into Rust, a B-tree descent and a
//! decode.
//!
//! Layout: one Lua table, weak-keyed by proxy, of per-proxy tables
//! `{[key] = value}` (`meta.lua` reads it before calling Rust). Reading a
//! packed record fills its proxy's table with every field at once, since
//! the record came whole.
//!
//! Invalidation: every cached value was read at one version of the
//! transaction state (`TxState::version`, bumped by every write, savepoint
//! restore, commit and rollback). Every path that changes the state calls
//! `Shared::sync` right after, which clears the cache when the version
//! moved; a read into Rust checks it as well. So a hit never returns a
//! value older than the last write, rollback or `store.commit()`, and a
//! proxy of a deleted table is never answered from the cache (its deletion
//! was a write).
//!
//! What is cached: booleans, numbers, strings, and external tables (as
//! their proxies). Functions are not (each read loads the stored function
//! anew, as before). Absent keys are not (a miss goes to Rust, which also
//! checks that the table still exists).
//!
//! Memory: at most [`CACHE_VALUES`] values; past it the cache starts over.
//! It lives on the Lua heap, so it counts against the heap limit; an
//! insertion that fails (out of memory) empties the cache instead of
//! failing the read.

use std::cell::Cell;

use mlua::{Lua, Table, Value};
use moonvault_engine::codec::Record;

use crate::convert::key_to_lua;

/// Most values cached at once (a few tens of KiB of Lua heap).
pub(crate) const CACHE_VALUES: usize = 1024;

/// The cache of one VM.
pub(crate) struct ReadCache {
    /// proxy -> {key = value}; weak keys.
    pub(crate) table: Table,
    /// The transaction-state version the cached values were read at.
    version: Cell<u64>,
    /// Values cached.
    count: Cell<usize>,
}

impl ReadCache {
    pub(crate) fn new(lua: &Lua) -> mlua::Result<ReadCache> {
        let table = lua.create_table()?;
        let mt = lua.create_table()?;
        mt.raw_set("__mode", "k")?;
        table.set_metatable(Some(mt))?;
        Ok(ReadCache {
            table,
            version: Cell::new(0),
            count: Cell::new(0),
        })
    }

    /// Forget everything unless it was read at `version`.
    pub(crate) fn check(&self, version: u64) {
        if self.version.get() != version {
            self.clear();
            self.version.set(version);
        }
    }

    fn clear(&self) {
        if self.count.get() > 0 {
            let _ = self.table.clear();
            self.count.set(0);
        }
    }

    /// The per-proxy table of `proxy`, created when missing.
    fn slot(&self, lua: &Lua, proxy: &Table) -> mlua::Result<Table> {
        match self.table.raw_get::<Value>(proxy)? {
            Value::Table(t) => Ok(t),
            _ => {
                let t = lua.create_table()?;
                self.table.raw_set(proxy, &t)?;
                Ok(t)
            }
        }
    }

    /// Make room for `n` more values (starting over when full).
    fn reserve(&self, n: usize) -> bool {
        if n > CACHE_VALUES {
            return false;
        }
        if self.count.get() + n > CACHE_VALUES {
            self.clear();
        }
        self.count.set(self.count.get() + n);
        true
    }

    /// Remember `proxy[key] == value`, read at `version`.
    pub(crate) fn put(&self, lua: &Lua, version: u64, proxy: &Table, key: &Value, value: &Value) {
        self.check(version);
        if !cacheable(value) || !self.reserve(1) {
            return;
        }
        let stored = self
            .slot(lua, proxy)
            .and_then(|slot| slot.raw_set(key.clone(), value.clone()));
        if stored.is_err() {
            self.clear();
        }
    }

    /// Remember every field of packed record `record`, whose proxy is
    /// `proxy`, read at `version`.
    pub(crate) fn put_record(&self, lua: &Lua, version: u64, proxy: &Table, record: &Record) {
        self.check(version);
        if !self.reserve(record.fields.len()) {
            return;
        }
        let stored = (|| -> mlua::Result<()> {
            let slot = self.slot(lua, proxy)?;
            for (k, v) in &record.fields {
                let key = key_to_lua(lua, k)?;
                let value = match v {
                    moonvault_engine::codec::Value::Bool(b) => Value::Boolean(*b),
                    moonvault_engine::codec::Value::Int(n) => Value::Integer(*n),
                    moonvault_engine::codec::Value::Float(x) => Value::Number(*x),
                    moonvault_engine::codec::Value::Str(s) => Value::String(lua.create_string(s)?),
                    // Packed records hold scalars only.
                    _ => continue,
                };
                slot.raw_set(key, value)?;
            }
            Ok(())
        })();
        if stored.is_err() {
            self.clear();
        }
    }
}

/// Whether a read value may be served from the cache.
fn cacheable(v: &Value) -> bool {
    matches!(
        v,
        Value::Boolean(_)
            | Value::Integer(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Table(_)
    )
}
