//! # moonvault-web
//!
//! The browser face of moonvault: the wasm-bindgen module behind the
//! `Moonvault` JavaScript API, and the IndexedDB blob store under it.
//!
//! - [`idb`]: [`idb::IdbStore`], the pager's `BlobStore` over IndexedDB:
//!   blobs mirrored on the JS heap for synchronous reads, writes queued as
//!   ordered IndexedDB transactions, durability acknowledged by `flush`,
//!   one opener at a time through the Web Locks API.
//! - [`api`]: the exported `RawVault` (a Lua `Vault` over an `IdbStore`)
//!   and `RawImport`; `js/moonvault.js` wraps them into the documented,
//!   typed `Moonvault` class.
//! - [`convert`]: values between JS and Lua or the store.
//! - [`budget`]: how the 2 MiB of linear memory is shared out; [`heap`]:
//!   the Rust heap's allocator, with a region apart for large blocks.
//! - [`measure`]: sizes of a table tree in bounded memory.
//! - [`console`]: Lua's output as console lines; [`eval_in`]: Lua without a
//!   store (`evalLua`).
//!
//! Invariants: this is the only crate that knows web-sys/wasm-bindgen.
//! The module's linear memory is capped at 2 MiB by the linker
//! (`.cargo/config.toml`), and every consumer inside it has a budget that
//! fails with an error before the cap is reached: a failed real allocation
//! aborts the module. Nothing here may panic on input from JS or storage,
//! or borrow a `RefCell` that a re-entrant call could hold (a panic also
//! aborts). On native targets the crate compiles (so workspace builds and
//! clippy cover it) but only the platform-independent parts run.

pub mod api;
pub mod budget;
pub mod console;
pub mod convert;
pub mod heap;
pub mod idb;
pub mod lua_arena;
pub mod measure;

/// The module's allocator (`heap.rs`); native builds keep the system's.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
pub(crate) static HEAP: heap::Heap = heap::Heap::module();

#[cfg(target_arch = "wasm32")]
mod start;
#[cfg(target_arch = "wasm32")]
pub use start::{eval, init};

/// Native builds have no module to start.
#[cfg(not(target_arch = "wasm32"))]
pub fn init() {}

use moonvault_lua_bind::mlua::{Lua, MultiValue, Result, Value};

/// Runs `code` as a Lua chunk in `lua` and renders what it returns the way
/// the Lua REPL prints it: each value as Lua's `tostring` would (numbers in
/// Lua's own format, `__tostring` honoured, strings decoded lossily),
/// separated by tabs, empty for no values.
pub fn eval_in(lua: &Lua, code: &str) -> Result<String> {
    let values: MultiValue = lua.load(code).set_name("=eval").eval()?;
    let mut out = String::new();
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.push_str(&render(lua, value)?);
    }
    Ok(out)
}

fn render(lua: &Lua, value: Value) -> Result<String> {
    match value {
        // Lua formats numbers itself ("%.14g", "1.0" for float 1); Rust's
        // formatting would differ. Strings may hold any bytes.
        Value::Integer(_) | Value::Number(_) | Value::String(_) => Ok(lua
            .coerce_string(value)?
            .map(|s| s.to_string_lossy())
            .unwrap_or_default()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_renders_values_like_the_repl() {
        let lua = moonvault_lua_bind::new_vm(budget::LUA_HEAP_DEFAULT).unwrap();
        assert_eq!(
            eval_in(&lua, "return 1 + 2, 'x', nil, true").unwrap(),
            "3\tx\tnil\ttrue"
        );
        assert_eq!(eval_in(&lua, "local a = 1").unwrap(), "");
        assert_eq!(
            eval_in(&lua, r#"return 2^53, 1.0, 1e300, "a\xffb""#).unwrap(),
            "9.007199254741e+15\t1.0\t1e+300\ta\u{fffd}b"
        );
        assert_eq!(
            eval_in(
                &lua,
                "return setmetatable({}, {__tostring = function() return 'T' end})"
            )
            .unwrap(),
            "T"
        );
        let err = eval_in(&lua, "error('bad')").unwrap_err().to_string();
        assert!(err.contains("eval:1: bad"), "{err}");
    }
}
