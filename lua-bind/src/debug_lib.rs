//! The scripts' `debug` library: the part of Lua's that cannot break the
//! binding's or mlua's invariants (DESIGN.md section 7, "The debug
//! library", gives the reason for each function).
//!
//! Trusted vaults get [`TRUSTED`]; untrusted ones only `traceback`. The
//! functions are Lua's own C functions (from a fresh `luaopen_debug`
//! table, not the codec's private copy), published as the global `debug`
//! and `package.loaded.debug` before the function codec is built, so they
//! are stored by name (`debug.traceback`) like the rest of the standard
//! library.

use mlua::{Lua, Table, Value};

/// Published in trusted vaults.
pub(crate) const TRUSTED: &[&str] = &[
    "gethook",
    "getinfo",
    "getlocal",
    "getupvalue",
    "sethook",
    "traceback",
    "upvalueid",
];

/// Published in untrusted vaults.
pub(crate) const UNTRUSTED: &[&str] = &["traceback"];

/// Sets the global `debug` (and `package.loaded.debug`) to a table of the
/// functions `names` of Lua's debug library.
pub(crate) fn install(lua: &Lua, names: &[&str]) -> mlua::Result<()> {
    let full = crate::function::upvalue::open_debug(lua)?;
    let debug = lua.create_table()?;
    for &name in names {
        debug.raw_set(name, full.raw_get::<Value>(name)?)?;
    }
    let globals = lua.globals();
    globals.raw_set("debug", &debug)?;
    if let Ok(package) = globals.raw_get::<Table>("package") {
        if let Ok(loaded) = package.raw_get::<Table>("loaded") {
            loaded.raw_set("debug", &debug)?;
        }
    }
    Ok(())
}
