//! Untrusted mode's loaders: `load`, `loadfile`, `dofile` and `require`'s
//! Lua-file searcher that never load a binary chunk.
//!
//! Lua does not verify bytecode, so a crafted binary chunk can read and
//! write arbitrary memory; in untrusted mode no path may hand one to the
//! VM. Each replacement is a C function, like the original, so the
//! function codec still stores it by name (`load`, `loadfile`, ...):
//! - `load` and `loadfile` run Lua's own implementation *in their own
//!   frame* (its C function pointer, kept as upvalue 1, is called
//!   directly) after removing `b` from the mode argument, so every message
//!   is Lua's, with Lua's names and positions: a binary chunk gives
//!   "attempt to load a binary chunk (mode is 't')";
//! - `dofile` is Lua's `luaB_dofile` with `luaL_loadfilex(.., "t")`;
//! - `package.searchers[2]` is Lua's `searcher_Lua` with mode "t" (the
//!   file is found by `package.searchpath`, upvalue 1, over the current
//!   `package.path`).
//!
//! `string.dump` stays: producing bytecode is harmless, loading it is not.

use std::ffi::CStr;
use std::os::raw::c_int;

use mlua::{ffi, Function, Lua, Table};

/// Removes `b` from the mode at argument `arg`: a missing mode ("bt")
/// becomes "t". Lua reads a mode only for the letters `b` and `t`, so a
/// mode holding `b` becomes "t" or "" (Lua quotes it in its error). A mode
/// that is neither nil nor a string is left for Lua's own argument check.
///
/// # Safety
/// `l` is a running C function's state with `arg` a valid argument slot
/// or beyond the top; uses at most 1 slot beyond the arguments.
unsafe fn text_mode(l: *mut ffi::lua_State, arg: c_int) {
    // SAFETY: per the contract; `lua_settop` only grows the frame to
    // `arg`, filling nil (an absent chunk name or mode reads as nil to
    // Lua's `luaL_opt*`), and never drops an argument past `arg`, so an
    // `env` argument stays present or absent as the caller gave it. The
    // mode's bytes are read (up to a NUL, as Lua's `strchr` does) before
    // anything replaces the string.
    unsafe {
        if ffi::lua_gettop(l) < arg {
            ffi::lua_settop(l, arg);
        }
        let text_only = match ffi::lua_type(l, arg) {
            ffi::LUA_TNIL => c"t",
            ffi::LUA_TSTRING => {
                let mode = CStr::from_ptr(ffi::lua_tostring(l, arg)).to_bytes();
                match (mode.contains(&b'b'), mode.contains(&b't')) {
                    (false, _) => return,
                    (true, true) => c"t",
                    (true, false) => c"",
                }
            }
            _ => return,
        };
        ffi::lua_pushstring(l, text_only.as_ptr());
        ffi::lua_replace(l, arg);
    }
}

/// Calls the original C function in upvalue 1 in this frame.
///
/// # Safety
/// Called by Lua as a C closure whose upvalue 1 is a C function.
unsafe fn original(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: upvalue 1 was set to a C function by `install`; calling it with
    // this frame's state is what Lua would do had it been called directly.
    unsafe {
        match ffi::lua_tocfunction(l, ffi::lua_upvalueindex(1)) {
            Some(f) => f(l),
            None => ffi::luaL_error(l, c"text-only loader without its original".as_ptr()),
        }
    }
}

/// `load(chunk [, chunkname [, mode [, env]]])`, mode without `b`.
unsafe extern "C-unwind" fn load_text(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: a C closure with upvalue 1 = Lua's `load` (see `closure`).
    // Without a chunk, `load` fails before reading anything: left alone so
    // its message still says "got no value".
    unsafe {
        if ffi::lua_gettop(l) > 0 {
            text_mode(l, 3);
        }
        original(l)
    }
}

/// `loadfile([filename [, mode [, env]]])`, mode without `b`.
unsafe extern "C-unwind" fn loadfile_text(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: a C closure with upvalue 1 = Lua's `loadfile` (see `closure`).
    unsafe {
        text_mode(l, 2);
        original(l)
    }
}

unsafe extern "C-unwind" fn dofile_cont(
    l: *mut ffi::lua_State,
    _status: c_int,
    _ctx: ffi::lua_KContext,
) -> c_int {
    // SAFETY: Lua's `dofilecont`: every result above the file name.
    unsafe { ffi::lua_gettop(l) - 1 }
}

/// `dofile([filename])`: Lua's `luaB_dofile`, text chunks only.
unsafe extern "C-unwind" fn dofile_text(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: the body of Lua 5.4's `luaB_dofile`; errors (file, syntax,
    // the chunk's own) unwind through this frame, which owns nothing.
    unsafe {
        let fname = ffi::luaL_optlstring(l, 1, std::ptr::null(), std::ptr::null_mut());
        ffi::lua_settop(l, 1);
        if ffi::luaL_loadfilex(l, fname, c"t".as_ptr()) != ffi::LUA_OK {
            ffi::lua_error(l);
        }
        ffi::lua_callk(l, 0, ffi::LUA_MULTRET, 0, Some(dofile_cont));
        dofile_cont(l, 0, 0)
    }
}

/// `package.searchers[2]`: Lua's `searcher_Lua`, text chunks only.
unsafe extern "C-unwind" fn searcher_text(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: a C closure with upvalue 1 = `package.searchpath` and
    // upvalue 2 = the `package` table (see `install`); at most 4 slots are
    // pushed beyond the argument. Errors unwind through a frame that owns
    // nothing.
    unsafe {
        let name = ffi::luaL_checklstring(l, 1, std::ptr::null_mut());
        ffi::lua_settop(l, 1);
        ffi::lua_getfield(l, ffi::lua_upvalueindex(2), c"path".as_ptr());
        if ffi::lua_type(l, 2) != ffi::LUA_TSTRING {
            return ffi::luaL_error(l, c"'package.path' must be a string".as_ptr());
        }
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        ffi::lua_pushvalue(l, 1);
        ffi::lua_pushvalue(l, 2);
        ffi::lua_call(l, 2, 2);
        // [name, path, filename|nil, nil|message]
        if ffi::lua_type(l, 3) == ffi::LUA_TNIL {
            return 1; // the message: module not found in this path
        }
        ffi::lua_settop(l, 3);
        let filename = ffi::lua_tostring(l, 3);
        if ffi::luaL_loadfilex(l, filename, c"t".as_ptr()) == ffi::LUA_OK {
            ffi::lua_pushvalue(l, 3);
            return 2;
        }
        ffi::luaL_error(
            l,
            c"error loading module '%s' from file '%s':\n\t%s".as_ptr(),
            name,
            filename,
            ffi::lua_tostring(l, -1),
        )
    }
}

/// A C closure of `f` with `upvalues`.
fn closure(
    lua: &Lua,
    f: ffi::lua_CFunction,
    upvalues: impl mlua::IntoLuaMulti,
) -> mlua::Result<Function> {
    // SAFETY: `exec_raw` pushes the upvalues on a fresh stack segment; the
    // closure turns all of them into the C closure's upvalues and leaves
    // it as the one result. `lua_pushcclosure` can only fail by raising
    // a memory error, which the protected call catches.
    unsafe {
        lua.exec_raw(upvalues, |l| {
            let n = ffi::lua_gettop(l);
            ffi::lua_pushcclosure(l, f, n);
        })
    }
}

/// Replaces `load`, `loadfile`, `dofile` and the Lua-file searcher of
/// `require` with text-only versions.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    let load: Function = globals.raw_get("load")?;
    globals.raw_set("load", closure(lua, load_text, load)?)?;
    let loadfile: Function = globals.raw_get("loadfile")?;
    globals.raw_set("loadfile", closure(lua, loadfile_text, loadfile)?)?;
    globals.raw_set("dofile", closure(lua, dofile_text, ())?)?;
    if let Ok(package) = globals.raw_get::<Table>("package") {
        let searchpath: Function = package.raw_get("searchpath")?;
        let searchers: Table = package.raw_get("searchers")?;
        searchers.raw_set(2, closure(lua, searcher_text, (searchpath, &package))?)?;
    }
    Ok(())
}
