//! The global `next`, made to see external tables.
//!
//! `next(t)` is how scripts test a table for emptiness (`next(t) == nil`)
//! and how some iterate it; on a proxy (a raw-empty table) Lua's own
//! `next` would see nothing. This replacement is a C function, like the
//! original, so it is still a standard-library C function (the function
//! codec can store it by name): for a table whose metatable is the proxy
//! metatable it calls the proxies' `next` (upvalue 2); otherwise it does
//! exactly what Lua's `next` does.

use std::os::raw::c_int;

use mlua::{ffi, Function, Lua, Table};

/// `next(t [, k])`. Upvalues: 1 = the proxy metatable, 2 = the proxies'
/// `next`.
///
/// Lua errors (a non-table argument, an invalid key) unwind through this
/// frame with `longjmp`, as through any C function; it owns nothing that
/// needs dropping.
unsafe extern "C-unwind" fn proxy_aware_next(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure with its two upvalues; every
    // index used is an argument slot or an upvalue, and the stack is grown
    // by Lua's guaranteed LUA_MINSTACK slots (we push at most 2).
    unsafe {
        ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
        ffi::lua_settop(l, 2);
        if ffi::lua_getmetatable(l, 1) != 0 {
            let is_proxy = ffi::lua_rawequal(l, -1, ffi::lua_upvalueindex(1)) != 0;
            ffi::lua_settop(l, 2);
            if is_proxy {
                ffi::lua_pushvalue(l, ffi::lua_upvalueindex(2));
                ffi::lua_insert(l, 1);
                ffi::lua_call(l, 2, ffi::LUA_MULTRET);
                return ffi::lua_gettop(l);
            }
        }
        if ffi::lua_next(l, 1) != 0 {
            2
        } else {
            ffi::lua_pushnil(l);
            1
        }
    }
}

/// The replacement `next` for this VM.
pub(crate) fn make(lua: &Lua, metatable: &Table, proxy_next: &Function) -> mlua::Result<Function> {
    // SAFETY: exec_raw pushes the two arguments, runs the closure in
    // protected mode, and reads the one value it leaves (the C closure,
    // which took the two arguments as upvalues).
    unsafe {
        lua.exec_raw((metatable.clone(), proxy_next.clone()), |state| {
            ffi::lua_pushcclosure(state, proxy_aware_next, 2);
        })
    }
}
