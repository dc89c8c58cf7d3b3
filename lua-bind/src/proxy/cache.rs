//! The read cache of external tables: values already read in the open
//! transaction, kept on the Lua side so that a repeated read
//! (`for i = 1, n do s = s + u.age end`) is two table lookups in the
//! `__index` metamethod instead of a call into Rust, a B-tree descent and a
//! decode.
//!
//! Layout: a proxy whose values are cached is *hot*: it gets a metatable
//! of its own whose `__index` is a table of its cached values, and that
//! table's `__index` is the call into Rust (its owner proxy sits in it
//! under a key no script can name: the shared proxy metatable). So a hit is
//! what a plain table's `__index` chain costs, with no function call. The
//! other metamethods, `__metatable = false` and a `__proxy` mark (for the
//! dispatchers of `next`/`table.*`, proxy/dispatch.rs) are the shared
//! metatable's. Reading a packed record caches every field at once, since
//! the record came whole. At most [`HOT_PROXIES`] proxies are hot; clearing
//! the cache gives them back the shared metatable.
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
//! Memory: at most [`CACHE_VALUES`] values in at most [`HOT_PROXIES`]
//! proxies (a metatable and a value table each, ~400 bytes); past either
//! the cache starts over. It lives on the Lua heap, so it counts against
//! the heap limit; an insertion that fails (out of memory) empties the
//! cache instead of failing the read.

use std::cell::{Cell, RefCell};

use mlua::{Lua, Table, Value};
use moonvault_engine::codec::{Record, Value as EValue};

use crate::keys::key_to_lua;

/// Most values cached at once (a few tens of KiB of Lua heap).
pub(crate) const CACHE_VALUES: usize = 1024;

/// Most proxies with cached values at once.
pub(crate) const HOT_PROXIES: usize = 64;

/// The metamethods a hot proxy's own metatable shares with the shared one.
const SHARED_FIELDS: [&str; 4] = ["__newindex", "__len", "__pairs", "__metatable"];

/// The cache of one VM.
pub(crate) struct ReadCache {
    /// The shared proxy metatable (also the key of a value table's owner).
    shared_mt: Table,
    /// The metatable of value tables: `__index` calls into Rust for the
    /// owner (set by meta.lua).
    values_mt: RefCell<Option<Table>>,
    /// Hot proxies, in the order they became hot.
    hot: RefCell<Vec<Table>>,
    /// The transaction-state version the cached values were read at.
    version: Cell<u64>,
    /// Values cached.
    count: Cell<usize>,
}

impl ReadCache {
    pub(crate) fn new(shared_mt: &Table) -> ReadCache {
        ReadCache {
            shared_mt: shared_mt.clone(),
            values_mt: RefCell::new(None),
            hot: RefCell::new(Vec::new()),
            version: Cell::new(0),
            count: Cell::new(0),
        }
    }

    /// The metatable of value tables (from meta.lua, before any read).
    pub(crate) fn set_values_metatable(&self, mt: Table) {
        *self.values_mt.borrow_mut() = Some(mt);
    }

    /// Forget everything unless it was read at `version`.
    pub(crate) fn check(&self, version: u64) {
        if self.version.get() != version {
            self.clear();
            self.version.set(version);
        }
    }

    /// Give every hot proxy back the shared metatable.
    fn clear(&self) {
        let Ok(mut hot) = self.hot.try_borrow_mut() else {
            return;
        };
        for proxy in hot.drain(..) {
            // Cannot fail: the shared metatable is a table.
            let _ = proxy.set_metatable(Some(self.shared_mt.clone()));
        }
        self.count.set(0);
    }

    /// The value table of `proxy`, making it hot when it is not.
    fn values(&self, lua: &Lua, proxy: &Table) -> mlua::Result<Table> {
        if let Some(mt) = proxy.metatable() {
            if mt != self.shared_mt {
                return mt.raw_get("__index");
            }
        }
        if self.hot.borrow().len() >= HOT_PROXIES {
            self.clear();
        }
        let values = lua.create_table()?;
        values.set_metatable(self.values_mt.borrow().clone())?;
        values.raw_set(&self.shared_mt, proxy)?;
        let own = lua.create_table_with_capacity(0, 6)?;
        for name in SHARED_FIELDS {
            own.raw_set(name, self.shared_mt.raw_get::<Value>(name)?)?;
        }
        own.raw_set("__proxy", &self.shared_mt)?;
        own.raw_set("__index", &values)?;
        proxy.set_metatable(Some(own))?;
        self.hot.borrow_mut().push(proxy.clone());
        Ok(values)
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
        if !cacheable(value) || matches!(key, Value::Nil) || !self.reserve(1) {
            return;
        }
        let stored = self
            .values(lua, proxy)
            .and_then(|values| values.raw_set(key.clone(), value.clone()));
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
            let values = self.values(lua, proxy)?;
            for (k, v) in &record.fields {
                let value = match v {
                    EValue::Bool(b) => Value::Boolean(*b),
                    EValue::Int(n) => Value::Integer(*n),
                    EValue::Float(x) => Value::Number(*x),
                    EValue::Str(s) => Value::String(lua.create_string(s)?),
                    // Packed records hold scalars only.
                    _ => continue,
                };
                values.raw_set(key_to_lua(lua, k)?, value)?;
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
