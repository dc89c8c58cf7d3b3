//! The memory budget of the web module: how its 2 MiB of linear memory is
//! shared out (DESIGN.md, "The browser: IndexedDB bridge", has the table).
//!
//! The linker caps the memory (`--max-memory`, .cargo/config.toml), so the
//! module can never take more than [`LINEAR_MEMORY`]. It is cut in four:
//!
//! | part | size |
//! |---|---|
//! | stack | [`STACK`] (linker `-z stack-size`) |
//! | static data | [`STATIC_DATA`] budgeted (128 KiB measured), its end rounded up to a 64 KiB page |
//! | the Lua arena: every Lua heap, allocator headers included | [`LUA_ARENA`] (static, `lua_arena.rs`) |
//! | the Rust heap: the engine, conversions, the IndexedDB glue | the rest, [`RUST_HEAP`], from a page boundary |
//!
//! Lua never allocates on the Rust heap and the Rust heap never in the
//! arena, so neither can starve the other: a full arena is a Lua "not
//! enough memory" error. Inside the Rust heap every consumer that can grow
//! has its own limit, and the limits add up to less than the heap, so a
//! limit (which gives an error) is always reached before the allocator runs
//! out (which aborts the module):
//!
//! | Rust heap consumer | bound |
//! |---|---|
//! | page cache (clean + dirty pages) | [`PAGE_CACHE`] ([`IMPORT_PAGE_CACHE`] for an import) |
//! | a transaction's WAL buffer and the index writes it holds back | [`TXN_LOG_LIMIT`] together (the log sealed in place, so counted once) |
//! | a Lua transaction's savepoint log | [`SAVEPOINT_LOG_LIMIT`] |
//! | a transaction's parent-link cache | [`LINK_CACHE`] |
//! | one converted JS value | `INPUT_LIMIT` (`convert/budget.rs`); at the peak of its write about 1.2 times that for a string, twice for many small records (see [`ASSIGN_LIMIT`]) |
//! | one Lua assignment's copy | [`ASSIGN_LIMIT`], the same |
//! | export/import chunks | [`IO_CHUNK`] |
//! | query sorts, B-tree paths, glue, allocator slack | the rest |
//!
//! Blocks of [`LARGE_BLOCK`] bytes or more (a value at its limit, a large
//! collection being copied) come from [`LARGE_REGION`] of the Rust heap,
//! set apart at start (`heap.rs`; small blocks go there only when the rest
//! is full): the rest of the heap fragments as small blocks come and go,
//! and a value needs its bytes in one piece.
//!
//! Open stores and imports reserve their share at open and give it back at
//! close ([`Reservation`]): a store its `memoryLimit` of the arena and
//! [`STORE_OVERHEAD`] of the Rust heap, an import [`IMPORT_OVERHEAD`]. Two
//! stores (their Lua heaps sharing the arena), or a store and an import,
//! fit; a third does not (open it in a Worker: each has a module of its
//! own). An open that does not fit fails with a clear error instead of
//! risking the abort.

use std::cell::Cell;

use moonvault_engine::{Durability, Options};
use moonvault_pager::PagerConfig;

/// The module's whole linear memory, enforced by the linker.
pub const LINEAR_MEMORY: usize = 2 * 1024 * 1024;
/// The wasm stack (`-z stack-size` in .cargo/config.toml).
pub const STACK: usize = 128 * 1024;
/// Static data besides the Lua arena: the shipped module's (measured
/// 128.1 KiB above the stack, `__heap_base` checked by
/// `scripts/build-web.sh` and `web/tests/budget.rs`), with room to grow,
/// plus, in the wasm-bindgen test binaries (feature `test-harness`), what
/// their harness adds (measured 56-63 KiB), taken from the arena so that
/// the tests run with the shipped module's Rust heap (their static data
/// then lands between the same page boundaries as the module's does).
///
/// Why the room is not given to the Rust heap: Rust's allocator on wasm32
/// takes memory only by `memory.grow`, i.e. from the first page boundary
/// after the static data; the bytes between them are lost. The stack,
/// static data and the arena therefore end on a page boundary by
/// construction, and what static data does not use of its budget is
/// the margin that keeps them there.
pub const STATIC_DATA: usize = 192 * 1024 + HARNESS_STATIC;
const HARNESS_STATIC: usize = if cfg!(feature = "test-harness") {
    32 * 1024
} else {
    0
};
/// A page of linear memory.
pub const WASM_PAGE: usize = 64 * 1024;
/// The Rust heap: the engine, conversions, the IndexedDB glue.
pub const RUST_HEAP: usize = 448 * 1024;
/// The region every Lua heap lives in (`lua_arena.rs`): what the rest
/// leaves, 1.25 MiB in the shipped module.
pub const LUA_ARENA: usize = LINEAR_MEMORY - STACK - STATIC_DATA - RUST_HEAP;
/// Default Lua heap limit of an open store: the whole arena.
pub const LUA_HEAP_DEFAULT: usize = LUA_ARENA;
/// Largest Lua heap limit a store may ask for.
pub const LUA_HEAP_MAX: usize = LUA_ARENA;
/// Smallest Lua heap limit accepted (the standard library alone needs
/// about 25 KiB).
pub const LUA_HEAP_MIN: usize = 64 * 1024;
/// The engine's page cache (`Options.pager.cache_bytes`): small, since
/// the IndexedDB store keeps pages outside linear memory (a JS page cache
/// in lazy paging, the mirror otherwise), where a miss is a copy.
pub const PAGE_CACHE: usize = 32 * 1024;
/// The page cache of an import (no Lua, streaming writes).
pub const IMPORT_PAGE_CACHE: usize = 32 * 1024;
/// Largest transaction committed through the WAL
/// (`Options.txn_log_limit`); larger ones commit by checkpoint. The index
/// writes a transaction holds back to apply in key order share it with the
/// log (engine `kv/deferred.rs`; `Options.held_back_bytes` is 0 here).
pub const TXN_LOG_LIMIT: usize = 32 * 1024;
/// Operations a Lua transaction keeps to roll back to a savepoint
/// (`VaultOptions.savepoint_log_limit`); past it only a whole rollback is
/// possible.
pub const SAVEPOINT_LOG_LIMIT: usize = 32 * 1024;
/// The engine's per-transaction cache of parent links (448 links of about
/// 41 bytes in a 512-bucket table on wasm32, `table/write.rs`).
pub const LINK_CACHE: usize = 24 * 1024;
/// Bytes one Lua assignment's copy may hold (`VaultOptions.assign_limit`,
/// counted as lua-bind counts it: each entry at its `(Key, Input)` slot,
/// plus its key's and value's bytes, each once). Measured peaks above the
/// heap in use, with the chunk's transaction buffers
/// (`web/tests/vault.rs`): a 128 KiB string 146 KiB; 1,000 two-field
/// records, charged ~120 KiB, 222 KiB (a `Vec` and a key string per
/// record that the charge does not see).
pub const ASSIGN_LIMIT: usize = 128 * 1024;
/// Blocks this large or larger come from [`LARGE_REGION`] (`heap.rs`).
pub const LARGE_BLOCK: usize = 64 * 1024;
/// The part of [`RUST_HEAP`] kept for large blocks: a value at the
/// assignment or input limit (128 KiB and a little) with room to spare.
pub const LARGE_REGION: usize = 160 * 1024;
/// Size of the pieces `export` hands out and `import` takes in.
pub const IO_CHUNK: usize = 32 * 1024;
/// What one open store reserves of the Rust heap.
pub const STORE_OVERHEAD: usize = PAGE_CACHE + TXN_LOG_LIMIT + SAVEPOINT_LOG_LIMIT + LINK_CACHE;
/// What an import reserves of the Rust heap.
pub const IMPORT_OVERHEAD: usize = IMPORT_PAGE_CACHE + TXN_LOG_LIMIT + LINK_CACHE;
/// Everything the open stores and imports may reserve of the Rust heap
/// together: two stores, or a store and an import.
pub const RESERVABLE: usize = 2 * STORE_OVERHEAD;

/// Engine options for a store in the browser: the budgeted cache and log
/// limit; default durability (in the browser a commit is acknowledged by
/// the store's flush, see `IdbStore`).
pub fn engine_options() -> Options {
    engine_options_with_cache(PAGE_CACHE)
}

/// [`engine_options`] with another page cache size.
pub fn engine_options_with_cache(cache_bytes: usize) -> Options {
    Options {
        pager: PagerConfig {
            cache_bytes,
            // Branches of one page: the cache holds 8 pages, and a lazy
            // store's miss copies and decodes a whole page.
            branch_pages: 1,
            ..PagerConfig::default()
        },
        durability: Durability::Immediate,
        txn_log_limit: TXN_LOG_LIMIT,
        held_back_bytes: 0,
        ..Options::default()
    }
}

/// The Lua heap limit for a requested `memoryLimit` (bytes; `None` for
/// the default), or why it cannot be granted.
pub fn lua_heap_limit(requested: Option<f64>) -> Result<usize, String> {
    let Some(bytes) = requested else {
        return Ok(LUA_HEAP_DEFAULT);
    };
    if !(bytes.is_finite() && bytes.fract() == 0.0) {
        return Err(format!(
            "memoryLimit must be a whole number of bytes, not {bytes}"
        ));
    }
    if bytes < LUA_HEAP_MIN as f64 || bytes > LUA_HEAP_MAX as f64 {
        return Err(format!(
            "memoryLimit {bytes} is outside {LUA_HEAP_MIN}..={LUA_HEAP_MAX} bytes: the module \
             has {} KiB of memory in all, of which its Lua arena is {} KiB",
            LINEAR_MEMORY / 1024,
            LUA_ARENA / 1024
        ));
    }
    Ok(bytes as usize)
}

// The budget adds up, checked at compile time: the reservations leave room
// in the Rust heap for one value at its peak and 64 KiB for query sorts,
// B-tree paths, the IndexedDB glue and allocator slack.
const _: () = assert!(STACK + STATIC_DATA + LUA_ARENA + RUST_HEAP == LINEAR_MEMORY);
const _: () = assert!((STACK + STATIC_DATA + LUA_ARENA).is_multiple_of(WASM_PAGE));
const _: () = assert!(cfg!(feature = "test-harness") || LUA_ARENA >= 1280 * 1024);
const _: () = assert!(crate::convert::budget::INPUT_LIMIT <= ASSIGN_LIMIT);
const _: () = assert!(IMPORT_OVERHEAD <= STORE_OVERHEAD);
const _: () = assert!(RESERVABLE + ASSIGN_LIMIT + 64 * 1024 <= RUST_HEAP);

thread_local! {
    /// (arena bytes, Rust heap bytes) held by open stores and imports.
    static RESERVED: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Memory taken for an open store or import: `lua` bytes of the arena
/// (its `memoryLimit`) and `rust` bytes of [`RESERVABLE`]; given back on
/// drop.
#[derive(Debug)]
pub struct Reservation {
    lua: usize,
    rust: usize,
}

impl Reservation {
    /// Reserves `lua` bytes of the Lua arena and `rust` bytes of the Rust
    /// heap, or explains why they are not available.
    pub fn take(lua: usize, rust: usize) -> Result<Reservation, String> {
        RESERVED.with(|r| {
            let (held_lua, held_rust) = r.get();
            if held_lua + lua > LUA_ARENA {
                return Err(format!(
                    "not enough memory for another Lua heap: it needs {} KiB and {} KiB of the \
                     module's {} KiB Lua arena are held by open stores; close one first, or \
                     open with a smaller memoryLimit",
                    lua / 1024,
                    held_lua / 1024,
                    LUA_ARENA / 1024
                ));
            }
            if held_rust + rust > RESERVABLE {
                return Err(format!(
                    "not enough memory for another open store: the module's 2 MiB hold two \
                     stores, or a store and an import, at a time ({} KiB of its {} KiB for \
                     them are held); close one first, or open this one in a Worker (each \
                     Worker has a module of its own)",
                    held_rust / 1024,
                    RESERVABLE / 1024
                ));
            }
            r.set((held_lua + lua, held_rust + rust));
            Ok(Reservation { lua, rust })
        })
    }

    /// Bytes held: (of the arena, of the Rust heap).
    pub fn bytes(&self) -> (usize, usize) {
        (self.lua, self.rust)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        RESERVED.with(|r| {
            let (lua, rust) = r.get();
            r.set((lua.saturating_sub(self.lua), rust.saturating_sub(self.rust)));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limit_is_checked() {
        assert_eq!(lua_heap_limit(None), Ok(LUA_HEAP_DEFAULT));
        assert_eq!(lua_heap_limit(Some(500_000.0)), Ok(500_000));
        assert!(lua_heap_limit(Some(4e6)).is_err());
        assert!(lua_heap_limit(Some(1000.0)).is_err());
        assert!(lua_heap_limit(Some(1.5e5 + 0.5)).is_err());
        assert!(lua_heap_limit(Some(f64::NAN)).is_err());
    }

    #[test]
    fn reservations_add_up_and_return() {
        let a = Reservation::take(LUA_HEAP_MAX, STORE_OVERHEAD).unwrap();
        // The arena is full: no other Lua heap, however small.
        assert!(Reservation::take(LUA_HEAP_MIN, 0).is_err());
        // An import (no Lua) fits beside the store; then no other store,
        // even without a Lua heap.
        let import = Reservation::take(0, IMPORT_OVERHEAD).unwrap();
        assert!(Reservation::take(0, STORE_OVERHEAD).is_err());
        drop(import);
        // A second store without a Lua heap of its own fits; a third not.
        let second = Reservation::take(0, STORE_OVERHEAD).unwrap();
        assert!(Reservation::take(0, STORE_OVERHEAD).is_err());
        drop((a, second));
        let b = Reservation::take(LUA_HEAP_MIN, STORE_OVERHEAD).unwrap();
        assert_eq!(b.bytes(), (LUA_HEAP_MIN, STORE_OVERHEAD));
        // Two small Lua heaps share the arena.
        let c = Reservation::take(LUA_HEAP_MAX - LUA_HEAP_MIN, 0).unwrap();
        drop((b, c));
    }
}
