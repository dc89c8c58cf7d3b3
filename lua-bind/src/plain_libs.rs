//! The browser build's standard library, made to behave as the native one.
//!
//! Lua is compiled for WASI there (lua-src's `__wasi__` paths) on a 32-bit
//! target, which changes what plain code sees:
//!
//! - `os.clock` raises "not supported on WASI": replaced by a C function
//!   reading the host's monotonic clock (`wasi_shim::monotonic_ns`), in
//!   seconds as a float, as plain Lua's processor time is;
//! - `io.popen`, `io.tmpfile` and `os.tmpname` raise "not supported on
//!   WASI": replaced by plain Lua's own failures on a system without them
//!   (`'popen' not supported`, `nil, "Read-only file system", errno`,
//!   `unable to generate a unique filename`);
//! - `string.pack`/`unpack`/`packsize` size `l`, `L` and `T` (C `long`
//!   and `size_t`) and a bare `s` length prefix at 4 bytes, where the
//!   native build writes 8, so one store's packed strings would differ
//!   between the two builds. Wrappers rewrite those options to the
//!   native sizes (`i8`, `I8`, `s8`) before calling Lua's own function.
//!
//! Every replacement is a C function or C closure, like the original, so
//! the function codec stores it by name (`Memory.f = os.clock`), and the
//! original runs in the wrapper's own frame (its function pointer called
//! directly), so its errors name the function the script called, as in
//! plain Lua. The wrappers own nothing across calls into Lua: a Lua error
//! unwinds through them with `longjmp`.

// Natively only the tests install the pack wrappers.
#![cfg_attr(
    not(all(target_arch = "wasm32", target_os = "unknown")),
    allow(dead_code)
)]

use std::os::raw::c_int;

use mlua::{ffi, Function, Lua, Table};

/// `fmt` with the options whose size differs on 32-bit targets spelled at
/// the native (64-bit) size: `l` as `i8`, `L` and `T` as `I8`, a bare `s`
/// as `s8`; `None` when nothing changes. The rewritten `l`, `L`, `T` end
/// with a space (a no-op option), so digits after them still read as the
/// invalid option they were.
pub(crate) fn native_sizes(fmt: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (i, &c) in fmt.iter().enumerate() {
        let with: &[u8] = match c {
            b'l' => b"i8 ",
            b'L' | b'T' => b"I8 ",
            b's' if !fmt.get(i + 1).is_some_and(u8::is_ascii_digit) => b"s8",
            _ => {
                if !out.is_empty() {
                    out.push(c);
                }
                continue;
            }
        };
        if out.is_empty() {
            out.extend_from_slice(&fmt[..i]);
        }
        out.extend_from_slice(with);
    }
    (!out.is_empty()).then_some(out)
}

/// `string.pack`, `unpack` or `packsize` with [`native_sizes`]. Upvalue 1:
/// the original.
unsafe extern "C-unwind" fn pack_wrapper(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure with one upvalue (the original
    // C function, which has no upvalues of its own and so needs nothing
    // of this frame but its arguments). The rewritten format is pushed and
    // its Rust buffer dropped before the original runs (it may longjmp).
    unsafe {
        if ffi::lua_type(l, 1) == ffi::LUA_TSTRING {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, 1, &mut len);
            if !p.is_null() {
                let fmt = std::slice::from_raw_parts(p.cast::<u8>(), len);
                if let Some(native) = native_sizes(fmt) {
                    ffi::lua_pushlstring(l, native.as_ptr().cast(), native.len());
                    drop(native);
                    ffi::lua_replace(l, 1);
                }
            }
        }
        match ffi::lua_tocfunction(l, ffi::lua_upvalueindex(1)) {
            Some(original) => original(l),
            None => ffi::luaL_error(l, c"string.pack: the original function is missing".as_ptr()),
        }
    }
}

/// Replaces `string.pack`, `unpack` and `packsize` with [`pack_wrapper`]s.
pub(crate) fn native_pack_sizes(lua: &Lua) -> mlua::Result<()> {
    let string: Table = lua.globals().get("string")?;
    for name in ["pack", "unpack", "packsize"] {
        let original: Function = string.get(name)?;
        // SAFETY: exec_raw pushes the argument, runs the closure in
        // protected mode and reads the one value it leaves (the C closure,
        // which took the argument as its upvalue).
        let wrapped: Function = unsafe {
            lua.exec_raw(original, |state| {
                ffi::lua_pushcclosure(state, pack_wrapper, 1);
            })
        }?;
        string.set(name, wrapped)?;
    }
    Ok(())
}

/// `os.clock()`: seconds on the host's monotonic clock.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
unsafe extern "C-unwind" fn os_clock(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: a C function: pushes one value (LUA_MINSTACK slots are
    // free), or raises an error owning nothing.
    unsafe {
        match crate::wasi_shim::monotonic_ns() {
            Some(ns) => {
                ffi::lua_pushnumber(l, ns as f64 / 1e9);
                1
            }
            None => ffi::luaL_error(l, c"os.clock: the host set no clock".as_ptr()),
        }
    }
}

/// `io.popen`: plain Lua's error where `popen` does not exist.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
unsafe extern "C-unwind" fn io_popen(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: checks its argument as plain Lua's does, then raises; owns
    // nothing.
    unsafe {
        ffi::luaL_checklstring(l, 1, std::ptr::null_mut());
        ffi::luaL_error(l, c"'popen' not supported".as_ptr())
    }
}

/// `io.tmpfile`: plain Lua's failure result where no file can be created.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
unsafe extern "C-unwind" fn io_tmpfile(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: pushes three values (LUA_MINSTACK slots are free).
    unsafe {
        ffi::lua_pushnil(l);
        ffi::lua_pushstring(l, c"Read-only file system".as_ptr());
        // WASI's EROFS, the errno Lua would report.
        ffi::lua_pushinteger(l, 69);
        3
    }
}

/// `os.tmpname`: plain Lua's error when no name can be made.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
unsafe extern "C-unwind" fn os_tmpname(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: raises; owns nothing.
    unsafe { ffi::luaL_error(l, c"unable to generate a unique filename".as_ptr()) }
}

/// Installs the browser build's replacements (see the module docs).
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    native_pack_sizes(lua)?;
    let globals = lua.globals();
    let os: Table = globals.get("os")?;
    let io: Table = globals.get("io")?;
    // SAFETY: each is a C function following the Lua C API's rules.
    unsafe {
        os.set("clock", lua.create_c_function(os_clock)?)?;
        os.set("tmpname", lua.create_c_function(os_tmpname)?)?;
        io.set("popen", lua.create_c_function(io_popen)?)?;
        io.set("tmpfile", lua.create_c_function(io_tmpfile)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(fmt: &str) -> Option<String> {
        native_sizes(fmt.as_bytes()).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn only_the_32_bit_sizes_change() {
        assert_eq!(rewrite("<i4jJdnfhbBz"), None);
        assert_eq!(rewrite("s4c10"), None);
        assert_eq!(rewrite("l"), Some("i8 ".into()));
        assert_eq!(rewrite(">LT"), Some(">I8 I8 ".into()));
        assert_eq!(rewrite("s"), Some("s8".into()));
        assert_eq!(rewrite("!Xlsz"), Some("!Xi8 s8z".into()));
        assert_eq!(rewrite("l4"), Some("i8 4".into()));
    }

    /// The wrappers on a native VM (where `l` is 8 bytes already): the
    /// results are the originals', and errors still name the function the
    /// script called.
    #[test]
    fn wrappers_agree_with_the_originals() {
        let lua = crate::new_vm(1 << 20).unwrap();
        let code = "local hex = string.pack('<lLTjs', -2, 3, 4, 5, 'ab'):gsub('.', function(c)
                        return string.format('%02x', c:byte())
                    end)
                    return hex, string.packsize('lLT')";
        let before: (String, usize) = lua.load(code).eval().unwrap();
        native_pack_sizes(&lua).unwrap();
        let after: (String, usize) = lua.load(code).eval().unwrap();
        assert_eq!(before, after);
        assert_eq!(after.1, 24);
        let back: (i64, i64, i64, String) = lua
            .load("return string.unpack('<lTjs', string.pack('<lTjs', -7, 8, 9, 'xyz'))")
            .eval()
            .unwrap();
        assert_eq!(back, (-7, 8, 9, "xyz".into()));
        let err = lua
            .load("string.pack('l4', 1)")
            .set_name("=t")
            .exec()
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid format option '4'"), "{err}");
        let err = lua
            .load("string.pack('i', 'x')")
            .set_name("=t")
            .exec()
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad argument #2 to 'pack'"), "{err}");
    }
}
