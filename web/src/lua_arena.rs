//! The Lua arena: the static region every Lua heap of the module lives in
//! (`budget.rs`: [`LUA_ARENA`] of the 2 MiB). Static, so it is carved out
//! of linear memory once, at instantiation, whatever the Rust heap has
//! done since: a VM built late (on the first `compute`) never needs a large
//! contiguous block the heap may no longer have.

use std::cell::UnsafeCell;
use std::sync::OnceLock;

use moonvault_lua_bind::arena::Arena;

use crate::budget::LUA_ARENA;

#[repr(C, align(16))]
struct Region(UnsafeCell<[u8; LUA_ARENA]>);

// SAFETY: the bytes are only reached through the one `Arena` below, which
// serializes its allocator behind a mutex.
unsafe impl Sync for Region {}

static REGION: Region = Region(UnsafeCell::new([0; LUA_ARENA]));

/// The module's Lua arena.
pub fn arena() -> &'static Arena {
    static ARENA: OnceLock<Arena> = OnceLock::new();
    // SAFETY: `REGION` is static, 16-aligned, and used by nothing but this
    // arena, created once.
    ARENA.get_or_init(|| unsafe { Arena::over(REGION.0.get().cast(), LUA_ARENA) })
}
