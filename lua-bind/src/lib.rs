//! # moonvault-lua-bind
//!
//! Owns the Lua 5.4 virtual machine that scripts moonvault, on every target:
//! natively and on `wasm32-unknown-unknown` (the web build).
//!
//! - [`new_vm`]: a sandboxed VM (safe standard libraries, no `os.exit`)
//!   whose allocations are capped by a memory limit. Exceeding it raises a
//!   catchable Lua "not enough memory" error; the VM stays usable.
//! - [`arena::Arena`]: a fixed region a VM's heap can live in instead of
//!   the Rust heap (Lua's real footprint bounded, a full region a Lua
//!   error), for embedders with a hard memory budget.
//! - On wasm32, `wasi_shim` answers the C library's system calls inside
//!   the module (so it imports nothing from WASI) and lets the embedder
//!   route Lua's stdout/stderr and clock; `c_malloc` puts the C
//!   library's `malloc` on Rust's allocator, so the module has one heap.
//!
//! Modules depend one way, from the entry down: `vault` (the [`Vault`]
//! embedders use) -> `store_api` (the `store` global), `proxy` (external
//! tables), `convert` (values into the store), `function` (persisted
//! closures), `limits` -> `state` (the `Shared` state of one vault's
//! callbacks) -> the leaves `options`, `failure` (errors as Lua sees
//! them) and `keys` (table keys both ways).
//!
//! Lua is compiled from source by `build.rs` (`lua/`: lua-src's copy of Lua
//! 5.4.9 plus the interrupt patch the limits use), not by mlua's `vendored`
//! feature, which cannot target wasm32-unknown-unknown.
//!
//! Invariants:
//! - This crate knows nothing of browsers: no `wasm-bindgen`/`web-sys`.
//!   The web crate installs its hooks through plain Rust functions.
//! - Lua errors unwind with `longjmp` (a wasm exception on wasm32) through
//!   Rust frames without running their destructors. Rust code called from
//!   Lua must not hold resources that matter across calls back into Lua.
//! - On wasm32 a failed real allocation aborts the module; only Lua's own
//!   limit, or its arena running full, gives a recoverable error. A VM on
//!   the Rust heap must therefore have a limit that leaves headroom for
//!   the allocator's overhead; one in an arena cannot exhaust that heap.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod wasi_shim;
// The C library's malloc on Rust's allocator: one heap, not two.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod c_malloc;

pub mod arena;
pub mod function;

pub use mlua;

// Engineer T (tables): the vault, external tables, the `store` global.
mod chunk;
mod convert;
mod debug_lib;
mod failure;
mod keys;
pub mod limits;
mod options;
mod plain_libs;
mod print;
mod proxy;
mod resolver;
mod state;
mod store_api;
mod text_only;
mod vault;
pub use limits::{LimitKind, Limits, RunOptions};
pub use options::{
    PrintSink, Progress, ProgressPhase, ProgressSink, VaultOptions, DEFAULT_ASSIGN_LIMIT,
    DEFAULT_MEMORY_LIMIT, DEFAULT_SAVEPOINT_LOG_LIMIT,
};
pub use vault::{Vault, VaultError};

use mlua::{Lua, LuaOptions, StdLib};

/// Creates a Lua 5.4 VM with the safe standard libraries
/// ([`StdLib::ALL_SAFE`]: everything but `debug`; C modules cannot be
/// loaded) and a memory limit of `memory_limit` bytes for everything the VM
/// allocates.
///
/// `os.exit` is removed: a script must not end the host process (natively)
/// or trap the module (on wasm32).
pub fn new_vm(memory_limit: usize) -> mlua::Result<Lua> {
    let lua = Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default())?;
    lua.globals()
        .get::<mlua::Table>("os")?
        .set("exit", mlua::Value::Nil)?;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    plain_libs::install(&lua)?;
    lua.set_memory_limit(memory_limit)?;
    Ok(lua)
}
