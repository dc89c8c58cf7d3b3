//! Upvalue access for the codec: a private copy of Lua's `debug` library.
//!
//! Why this route: mlua 0.12 exposes no upvalue API, and the VM is built
//! without `debug` so scripts cannot break out of the sandbox with it.
//! `luaopen_debug` only *builds* the library table (registration as a
//! global is done by `luaL_requiref`, which we do not call), so calling it
//! directly gives a table that lives only in this struct: it is in no
//! global, in no `package.loaded`, and never handed to a script. The one
//! `unsafe` is that call; every use afterwards goes through mlua's
//! protected calls and Lua's own argument checks (a bad index is an
//! error, never undefined behaviour), so no raw stack handling is needed.
//! The alternative, raw `lua_getupvalue`/`lua_upvaluejoin` through
//! `Lua::exec_raw`, would put stack discipline in our hands for a gain of
//! a few hundred nanoseconds per call.

use mlua::{Function, Lua, Value};

/// A fresh `debug` library table, registered nowhere (the caller decides
/// what of it anyone sees: the codec keeps four functions private, the
/// vault publishes a safe subset, `crate::debug_lib`).
pub(crate) fn open_debug(lua: &Lua) -> mlua::Result<mlua::Table> {
    // SAFETY: `luaopen_debug` is a valid `lua_CFunction` from the Lua
    // library this crate links; called through `Function::call` it runs in
    // a protected call with a fresh stack frame, exactly as
    // `luaL_requiref` would run it.
    let open = unsafe { lua.create_c_function(mlua::ffi::luaopen_debug)? };
    open.call(())
}

/// The four `debug` functions the codec needs.
pub(crate) struct Upvalues {
    get: Function,
    set: Function,
    id: Function,
    join: Function,
}

impl Upvalues {
    /// Builds the private `debug` table and keeps the functions needed.
    pub fn new(lua: &Lua) -> mlua::Result<Upvalues> {
        let debug = open_debug(lua)?;
        Ok(Upvalues {
            get: debug.raw_get("getupvalue")?,
            set: debug.raw_get("setupvalue")?,
            id: debug.raw_get("upvalueid")?,
            join: debug.raw_get("upvaluejoin")?,
        })
    }

    /// Value of upvalue `n` (1-based) of `f`.
    pub fn get(&self, f: &Function, n: u8) -> mlua::Result<Value> {
        let (_name, v): (Value, Value) = self.get.call((f, n))?;
        Ok(v)
    }

    /// Name of upvalue `n` of `f` (`None` past the last upvalue; empty or
    /// `"(no name)"` when stripped).
    pub fn name(&self, f: &Function, n: u8) -> mlua::Result<Option<String>> {
        let (name, _v): (Option<mlua::LuaString>, Value) = self.get.call((f, n))?;
        Ok(name.map(|s| s.to_string_lossy()))
    }

    /// Sets upvalue `n` of `f` to `v`.
    pub fn set(&self, f: &Function, n: u8, v: Value) -> mlua::Result<()> {
        self.set.call::<()>((f, n, v))
    }

    /// Identity of the variable behind upvalue `n` of `f` (an address,
    /// valid while `f` is alive).
    pub fn id(&self, f: &Function, n: u8) -> mlua::Result<usize> {
        match self.id.call::<Value>((f, n))? {
            Value::LightUserData(p) => Ok(p.0 as usize),
            other => Err(mlua::Error::runtime(format!(
                "debug.upvalueid returned a {}",
                other.type_name()
            ))),
        }
    }

    /// Makes upvalue `n1` of `f1` refer to upvalue `n2` of `f2`.
    pub fn join(&self, f1: &Function, n1: u8, f2: &Function, n2: u8) -> mlua::Result<()> {
        self.join.call::<()>((f1, n1, f2, n2))
    }
}
