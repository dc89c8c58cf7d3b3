//! External tables: `Memory` and every table reachable from it, as Lua
//! proxies over the engine's tables.
//!
//! A proxy is a real, empty Lua table with a shared, protected metatable
//! (`__index`, `__newindex`, `__len`, `__pairs`), so `type(t) == "table"`
//! and every library function that goes through metamethods
//! (`ipairs`, `table.insert/remove/concat/sort/unpack/move`, `#`) works on
//! it. Userdata would have been smaller, but `type(t)` would say
//! `"userdata"`, which breaks scripts written for plain tables (serialisers,
//! argument checks), the product's compatibility promise.
//!
//! Identity: one proxy per table id while it is reachable, from a cache of
//! weak values (`by_id`), so `Memory.users == Memory.users`. The id of a
//! proxy is in a weak-keyed side table (`ids`), keeping the proxy itself
//! raw-empty so that every access reaches a metamethod.
//!
//! After a rollback the ids allocated since the restore point may be
//! handed out again; [`Proxies::revalidate`] marks the proxies of such
//! tables that no longer exist as dead (id 0) so they can never alias a new
//! table.

pub(crate) mod cache;
pub(crate) mod dispatch;
pub(crate) mod meta;

use std::cell::Cell;

use mlua::{Lua, Table, Value};
use moonvault_engine::TableId;

/// What a Lua value is to the proxy layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProxyRef {
    /// Not an external table.
    NotProxy,
    /// The proxy of a live table.
    Live(TableId),
    /// The proxy of a table that was deleted or rolled back.
    Dead,
}

/// Id marking a dead proxy in `ids` (0 is never a table id; `Memory` is 1).
const DEAD: i64 = 0;

/// The proxy registry of one VM.
pub(crate) struct Proxies {
    /// The shared metatable (filled by `meta.lua`).
    pub(crate) metatable: Table,
    /// id -> proxy, weak values.
    by_id: Table,
    /// proxy -> id, weak keys.
    ids: Table,
    /// Set when the vault is dropped, before its VM closes: the VM's
    /// finalizers may still reach a proxy, and then no mlua handle may be
    /// used (`print.rs`), so every proxy reads as dead.
    closed: Cell<bool>,
}

fn weak_table(lua: &Lua, mode: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.raw_set("__mode", mode)?;
    t.set_metatable(Some(mt))?;
    Ok(t)
}

impl Proxies {
    /// Empty caches and an empty metatable.
    pub(crate) fn new(lua: &Lua) -> mlua::Result<Proxies> {
        Ok(Proxies {
            metatable: lua.create_table()?,
            by_id: weak_table(lua, "v")?,
            ids: weak_table(lua, "k")?,
            closed: Cell::new(false),
        })
    }

    /// The proxy of table `id` (the cached one while it lives).
    pub(crate) fn get(&self, lua: &Lua, id: TableId) -> mlua::Result<Table> {
        let key = id as i64;
        if let Value::Table(t) = self.by_id.raw_get::<Value>(key)? {
            return Ok(t);
        }
        let t = lua.create_table_with_capacity(0, 0)?;
        t.set_metatable(Some(self.metatable.clone()))?;
        self.ids.raw_set(&t, key)?;
        self.by_id.raw_set(key, &t)?;
        Ok(t)
    }

    /// Classify `v`.
    pub(crate) fn lookup(&self, v: &Value) -> ProxyRef {
        let Value::Table(t) = v else {
            return ProxyRef::NotProxy;
        };
        self.lookup_table(t)
    }

    /// Classify a table.
    pub(crate) fn lookup_table(&self, t: &Table) -> ProxyRef {
        if self.closed.get() {
            return ProxyRef::Dead;
        }
        match self.ids.raw_get::<Option<i64>>(t) {
            Ok(Some(DEAD)) => ProxyRef::Dead,
            Ok(Some(id)) if id > 0 => ProxyRef::Live(id as TableId),
            _ => ProxyRef::NotProxy,
        }
    }

    /// The vault is going away: from now on every proxy is dead, without
    /// a look at the caches (see `closed`).
    pub(crate) fn close(&self) {
        self.closed.set(true);
    }

    /// Whether [`Proxies::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Mark dead every cached proxy whose table `exists` denies.
    pub(crate) fn revalidate(&self, mut exists: impl FnMut(TableId) -> bool) -> mlua::Result<()> {
        let mut gone = Vec::new();
        self.by_id.for_each(|id: i64, proxy: Table| {
            if id > 0 && !exists(id as TableId) {
                gone.push((id, proxy));
            }
            Ok(())
        })?;
        for (id, proxy) in gone {
            self.by_id.raw_set(id, Value::Nil)?;
            self.ids.raw_set(proxy, DEAD)?;
        }
        Ok(())
    }
}

/// The message for a proxy whose table is gone.
pub(crate) const DEAD_MESSAGE: &str = "this external table no longer exists (it was deleted, \
     or created by changes that were rolled back); read it again from Memory";
