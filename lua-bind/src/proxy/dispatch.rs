//! Standard-library functions made to see external tables: `next`,
//! `table.insert`, `table.remove`, `table.sort`.
//!
//! - `next(t)` is how scripts test a table for emptiness; on a proxy (a
//!   raw-empty table) Lua's own `next` would see nothing.
//! - `table.insert/remove/sort` work on proxies through metamethods, but
//!   they shift and swap elements by assignment, and assignment copies
//!   content: sorting a list of records would lose records (a swap reads
//!   `a`, writes `b` over it, then writes `a`, which now shows `b`), and
//!   `table.remove` would return a record whose slot was overwritten. The
//!   proxy versions (meta.lua) move entries instead (`Txn::move_entries`:
//!   records keep their identity, as references do in Lua).
//!
//! Each replacement is a C closure, like the original: it stays a
//! standard-library C function that the function codec can store by name.
//! For a first argument whose metatable is the proxy metatable (or a hot
//! proxy's own metatable, marked `__proxy` = the proxy metatable:
//! proxy/cache.rs) it calls the proxy version (upvalue 2); otherwise the
//! original (upvalue 3), with the same arguments. The original is reached through a one-line Lua wrapper
//! (meta.lua), so its argument errors still name it ("bad argument #2 to
//! 'insert'"): called straight from C, Lua could only call it '?'.

use std::os::raw::c_int;

use mlua::{ffi, Function, Lua, Table};

/// The dispatcher. Upvalues: 1 = the proxy metatable, 2 = the proxy
/// version, 3 = the original (wrapped).
///
/// Lua errors raised by either version unwind through this frame with
/// `longjmp`, as through any C function; it owns nothing that needs
/// dropping.
unsafe extern "C-unwind" fn dispatch(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure with its three upvalues; every
    // index used is an argument slot, an upvalue, or a slot this function
    // pushed (at most 2 beyond the arguments; Lua guarantees LUA_MINSTACK
    // free slots on entry). `lua_rawget` on a table calls no metamethod.
    unsafe {
        let mut target = 3;
        if ffi::lua_getmetatable(l, 1) != 0 {
            if ffi::lua_rawequal(l, -1, ffi::lua_upvalueindex(1)) != 0 {
                target = 2;
            } else {
                ffi::lua_pushstring(l, c"__proxy".as_ptr());
                ffi::lua_rawget(l, -2);
                if ffi::lua_rawequal(l, -1, ffi::lua_upvalueindex(1)) != 0 {
                    target = 2;
                }
                ffi::lua_settop(l, -2);
            }
            ffi::lua_settop(l, -2);
        }
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(target));
        ffi::lua_insert(l, 1);
        let nargs = ffi::lua_gettop(l) - 1;
        ffi::lua_call(l, nargs, ffi::LUA_MULTRET);
        ffi::lua_gettop(l)
    }
}

/// A dispatcher between `proxy_version` and `original`.
pub(crate) fn make(
    lua: &Lua,
    metatable: &Table,
    proxy_version: &Function,
    original: &Function,
) -> mlua::Result<Function> {
    // SAFETY: exec_raw pushes the three arguments, runs the closure in
    // protected mode, and reads the one value it leaves (the C closure,
    // which took the three arguments as upvalues).
    unsafe {
        lua.exec_raw(
            (metatable.clone(), proxy_version.clone(), original.clone()),
            |state| {
                ffi::lua_pushcclosure(state, dispatch, 3);
            },
        )
    }
}
