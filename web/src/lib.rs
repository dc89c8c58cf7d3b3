//! # moonvault-web
//!
//! The browser face of moonvault: owns the JS API exported with
//! wasm-bindgen and the glue between the page and the lower layers.
//!
//! - [`eval_in`]: runs a Lua chunk and renders its results as text (the
//!   platform-independent core of the JS `eval` export).
//! - [`console::LineSplitter`]: turns Lua's stdout/stderr byte stream into
//!   console lines.
//! - On wasm32 only: the `#[wasm_bindgen(start)]` initialiser and the
//!   exported `eval(code)` (`evalLua` in JS), running code in one module-wide VM of
//!   [`LUA_MEMORY_LIMIT`] bytes.
//!
//! Invariants: this is the only crate that knows web-sys/wasm-bindgen. The
//! module's linear memory is capped at 2 MiB (`.cargo/config.toml`), and
//! the Lua limit leaves the rest for the stack, static data and Rust
//! allocations: if a real allocation fails, the module aborts, so the Lua
//! limit must always be reached first. On native targets the crate
//! compiles (so `cargo test --workspace` covers it) but exports nothing.

#![warn(missing_docs)]

pub mod console;

#[cfg(target_arch = "wasm32")]
mod bindings;
#[cfg(target_arch = "wasm32")]
pub use bindings::{eval, init};

use moonvault_lua::mlua::{Lua, MultiValue, Result, Value};

/// Bytes the module-wide Lua VM may allocate: half of the 2 MiB linear
/// memory. With a 128 KiB stack this left about 250 KiB spare when Lua hit
/// its limit in the browser.
pub const LUA_MEMORY_LIMIT: usize = 1024 * 1024;

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
        let lua = moonvault_lua::new_vm(LUA_MEMORY_LIMIT).unwrap();
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
