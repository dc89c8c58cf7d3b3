//! The global `print`, written so that it also works while the VM closes.
//!
//! When the last handle on the VM goes, mlua calls `lua_close`, which runs
//! the finalizers (`__gc`) of every object still alive. By then mlua's
//! handles (`Function`, `Table`, `LuaString`, ...) can no longer reach the
//! VM: any call through one panics ("Lua instance is destroyed"). A
//! finalizer that prints (`__gc = function() print("bye") end`) is plain
//! Lua, so `print` must not go through a handle: it works on the raw stack
//! through `Lua::exec_raw` (which uses the VM the callback runs in, not a
//! handle), as Lua's own `print` does.
//!
//! Arguments are converted with `luaL_tolstring` (Lua's `print` does the
//! same: `__tostring`, `__name`), joined with tabs, and handed to the
//! vault's sink; without a sink, Lua's original `print` is called with
//! the arguments unchanged.

use std::rc::Rc;

use mlua::{ffi, BString, Function, Lua, MultiValue};

use crate::state::Shared;

/// The global `print` of a vault (see the module comment).
pub(crate) fn make(lua: &Lua, shared: &Rc<Shared>) -> mlua::Result<Function> {
    let shared = Rc::clone(shared);
    lua.create_function(move |lua, args: MultiValue| {
        let has_sink = shared
            .print_sink
            .try_borrow()
            .map(|s| s.is_some())
            .unwrap_or(false);
        if !has_sink {
            // SAFETY: `exec_raw` pushes the original `print` and the
            // arguments on a fresh stack segment and runs the closure in a
            // protected call; the closure calls the function below them
            // with all of them and leaves nothing (R = ()). It owns no Rust
            // value that an error unwinding through it would skip.
            return unsafe {
                lua.exec_raw::<()>((&shared.original_print, args), |l| {
                    let n = ffi::lua_gettop(l);
                    ffi::lua_call(l, n - 1, 0);
                })
            };
        }
        // SAFETY: as above; the closure replaces the n arguments by one
        // string (each converted by `luaL_tolstring`, tab-separated) and
        // that string is the one result read back as bytes. Errors
        // (a `__tostring` that fails) are Lua errors caught by the
        // protected call; nothing of Rust's is held across them.
        let line: BString = unsafe {
            lua.exec_raw(args, |l| {
                let n = ffi::lua_gettop(l);
                if n == 0 {
                    ffi::lua_pushstring(l, c"".as_ptr());
                    return;
                }
                for i in 1..=n {
                    if i > 1 {
                        ffi::lua_pushstring(l, c"\t".as_ptr());
                    }
                    ffi::luaL_tolstring(l, i, std::ptr::null_mut());
                }
                ffi::lua_concat(l, 2 * n - 1);
                ffi::lua_rotate(l, 1, 1);
                ffi::lua_settop(l, 1);
            })?
        };
        // A sink that prints (re-entering) is skipped rather than panicking.
        if let Ok(mut sink) = shared.print_sink.try_borrow_mut() {
            if let Some(sink) = sink.as_mut() {
                sink(&line);
            }
        }
        Ok(())
    })
}
