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
//! A proxy version reports an argument error by returning `mt, arg,
//! message`; the dispatcher raises it with `luaL_argerror` in its own
//! frame, so it reads as the original's would.
//! For a first argument whose metatable is the proxy metatable (or a hot
//! proxy's own metatable, marked `__proxy` = the proxy metatable:
//! proxy/cache.rs) it calls the proxy version (upvalue 2); otherwise the
//! original (upvalue 3), with the same arguments. The original, a C
//! function, runs in the dispatcher's own frame (its function pointer is
//! called directly), so its errors are exactly plain Lua's: the script's
//! position and the name the script called it by ("test.lua:3: bad
//! argument #1 to 'sort'"). Called through `lua_call` it would be named
//! '?' at no position, and through a Lua wrapper it would name the
//! wrapper's chunk.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};

use mlua::{ffi, Function, Lua, Table};

/// Which function a dispatcher stands for: its slot in [`ORIGINALS`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    /// `next`.
    Next = 0,
    /// `table.insert`.
    Insert = 1,
    /// `table.remove`.
    Remove = 2,
    /// `table.sort`.
    Sort = 3,
}

/// The originals' function pointers (0 until a dispatcher is made). They
/// are the Lua library's own C functions, the same in every VM of the
/// process, so a static holds them and the plain-table path reads no
/// upvalue.
static ORIGINALS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// The dispatcher's fast path: a first argument without a metatable (a
/// plain table, or any value the original will judge) goes straight to
/// the original, which then costs one `lua_getmetatable` more than in
/// stock Lua (the dispatch toll, `plain_table_*` benches). Anything with a
/// metatable goes through [`dispatch`].
unsafe extern "C-unwind" fn dispatch_fast<const SLOT: usize>(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as for `dispatch` (same upvalues). A nonzero slot holds a
    // `lua_CFunction` stored by `make` and never changed afterwards (a
    // dispatcher is made fast only when its slot holds its original).
    unsafe {
        let f = ORIGINALS[SLOT].load(Ordering::Relaxed);
        if f != 0 {
            if ffi::lua_getmetatable(l, 1) == 0 {
                let original = std::mem::transmute::<usize, ffi::lua_CFunction>(f);
                return original(l);
            }
            ffi::lua_settop(l, -2);
        }
        dispatch(l)
    }
}

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
    // The original C function called in this frame is a standard-library
    // function without upvalues (`next`, `table.insert/remove/sort`), so
    // it needs nothing of the frame but its arguments.
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
        if target == 3 {
            if let Some(original) = ffi::lua_tocfunction(l, ffi::lua_upvalueindex(3)) {
                // The stack holds exactly the arguments again: the
                // original sees the call as if the script had made it.
                return original(l);
            }
        }
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(target));
        ffi::lua_insert(l, 1);
        let nargs = ffi::lua_gettop(l) - 1;
        ffi::lua_call(l, nargs, ffi::LUA_MULTRET);
        let nres = ffi::lua_gettop(l);
        // `mt, arg, message` from a proxy version: an argument error,
        // raised here as the original would raise it (meta.lua).
        if nres == 3 && ffi::lua_rawequal(l, 1, ffi::lua_upvalueindex(1)) != 0 {
            let arg = ffi::lua_tointeger(l, 2) as c_int;
            let msg = ffi::lua_tostring(l, 3);
            if arg > 0 {
                return ffi::luaL_argerror(l, arg, msg);
            }
            return ffi::luaL_error(l, c"%s".as_ptr(), msg);
        }
        nres
    }
}

/// A dispatcher between `proxy_version` and `original`, for `slot`.
pub(crate) fn make(
    lua: &Lua,
    slot: Slot,
    metatable: &Table,
    proxy_version: &Function,
    original: &Function,
) -> mlua::Result<Function> {
    let fast: ffi::lua_CFunction = match slot {
        Slot::Next => dispatch_fast::<0>,
        Slot::Insert => dispatch_fast::<1>,
        Slot::Remove => dispatch_fast::<2>,
        Slot::Sort => dispatch_fast::<3>,
    };
    let cell = &ORIGINALS[slot as usize];
    // SAFETY: exec_raw pushes the three arguments, runs the closure in
    // protected mode, and reads the one value it leaves (the C closure,
    // which took the three arguments as upvalues). `lua_tocfunction` reads
    // the original (index -1) without changing the stack.
    unsafe {
        lua.exec_raw(
            (metatable.clone(), proxy_version.clone(), original.clone()),
            |state| {
                // The fast path only for a C function that is (or now
                // becomes) the slot's; anything else takes the general one.
                let f = ffi::lua_tocfunction(state, -1).map_or(0, |f| f as usize);
                let ours = f != 0
                    && match cell.compare_exchange(0, f, Ordering::Relaxed, Ordering::Relaxed) {
                        Ok(_) => true,
                        Err(held) => held == f,
                    };
                ffi::lua_pushcclosure(state, if ours { fast } else { dispatch }, 3);
            },
        )
    }
}
