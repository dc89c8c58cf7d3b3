//! What the codec asks of a function (is it C, how many upvalues), read
//! without copying anything.
//!
//! `Function::info` answers too, but copies the function's `source` on
//! every call: for a function loaded from a string without a chunk name
//! that is the whole chunk text (75 KB for a large one), twice per stored
//! function, inside the browser's 2 MiB module.

use std::ffi::c_int;

use mlua::{ffi, Function, Lua};

/// A function's kind and upvalue count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// A C function (Rust functions made by mlua included).
    pub is_c: bool,
    /// Its number of upvalues (Lua caps them at 255).
    pub upvalues: u8,
}

/// The [`Shape`] of `f`.
pub(crate) fn shape(lua: &Lua, f: &Function) -> mlua::Result<Shape> {
    let mut out = Shape {
        is_c: false,
        upvalues: 0,
    };
    // SAFETY: `exec_raw` pushes `f` and runs the closure with it on top of
    // the stack; `lua_getinfo` with ">u" pops it and fills only numeric
    // fields of `ar`, which lives for the call.
    unsafe {
        lua.exec_raw::<()>(f, |state| {
            out.is_c = ffi::lua_iscfunction(state, -1) != 0;
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            let found: c_int = ffi::lua_getinfo(state, c">u".as_ptr(), &mut ar);
            if found != 0 {
                out.upvalues = ar.nups;
            }
        })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{shape, Shape};

    #[test]
    fn lua_and_c_functions_and_their_upvalues() {
        let lua = crate::new_vm(crate::DEFAULT_MEMORY_LIMIT).unwrap();
        let f: mlua::Function = lua
            .load("local a, b = 1, 2 return function() return a + b end")
            .eval()
            .unwrap();
        assert_eq!(
            shape(&lua, &f).unwrap(),
            Shape {
                is_c: false,
                upvalues: 2
            }
        );
        let sin: mlua::Function = lua.load("return math.sin").eval().unwrap();
        assert!(shape(&lua, &sin).unwrap().is_c);
        let rust = lua.create_function(|_, ()| Ok(())).unwrap();
        assert!(shape(&lua, &rust).unwrap().is_c);
    }
}
