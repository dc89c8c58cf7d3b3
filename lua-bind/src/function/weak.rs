//! Weak references from Rust to Lua functions.
//!
//! mlua's handles are strong: holding one keeps the function alive and
//! counts against the VM's memory limit. The cache and the share map must
//! not keep functions alive on their own, so they hold a slot number into
//! one Lua table with weak values; the garbage collector clears a slot
//! when nothing else references its function.

use mlua::{Function, Lua, Table};

/// Slot number in [`WeakSlots`].
pub(crate) type Slot = i64;

/// A weak-valued Lua table owned by Rust (reachable from no script).
pub(crate) struct WeakSlots {
    table: Table,
    next: Slot,
}

impl WeakSlots {
    pub fn new(lua: &Lua) -> mlua::Result<WeakSlots> {
        let table = lua.create_table()?;
        let meta = lua.create_table()?;
        meta.raw_set("__mode", "v")?;
        table.set_metatable(Some(meta))?;
        Ok(WeakSlots { table, next: 1 })
    }

    /// Stores a weak reference to `f` in a new slot.
    pub fn insert(&mut self, f: &Function) -> mlua::Result<Slot> {
        let slot = self.next;
        self.table.raw_set(slot, f)?;
        self.next += 1;
        Ok(slot)
    }

    /// The function in `slot`, if it is still alive.
    pub fn get(&self, slot: Slot) -> mlua::Result<Option<Function>> {
        self.table.raw_get(slot)
    }

    /// Frees `slot`.
    pub fn remove(&self, slot: Slot) -> mlua::Result<()> {
        self.table.raw_set(slot, mlua::Value::Nil)
    }
}
