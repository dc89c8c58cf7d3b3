//! The memory budget of the web module: how its 2 MiB of linear memory is
//! shared out (DESIGN.md, "The browser: IndexedDB bridge", has the table).
//!
//! The linker caps the memory (`--max-memory`, .cargo/config.toml), so the
//! module can never take more than [`LINEAR_MEMORY`]. Inside it, every
//! consumer that can grow has its own limit, and the limits add up to less
//! than what is left after the stack and static data, so a limit (which
//! gives an error) is always reached before the allocator runs out (which
//! aborts the module):
//!
//! | consumer | bound |
//! |---|---|
//! | stack | [`STACK`] (linker `-z stack-size`) |
//! | static data | about 200 KiB, measured by the budget test |
//! | Lua heap (per open store) | `memoryLimit`, default [`LUA_HEAP_DEFAULT`], at most [`LUA_HEAP_MAX`] |
//! | page cache (clean + dirty pages) | [`PAGE_CACHE`] ([`IMPORT_PAGE_CACHE`] for an import) |
//! | a transaction's WAL buffer | [`TXN_LOG_LIMIT`] (sealed in place; budgeted twice) |
//! | a Lua transaction's savepoint log | [`SAVEPOINT_LOG_LIMIT`] |
//! | export/import chunks | [`IO_CHUNK`] |
//! | query sorts, conversions, B-tree paths | the rest, about 250 KiB |
//!
//! Open stores and imports reserve their share of [`RESERVABLE`] at open
//! and give it back at close ([`Reservation`]): one store at the largest
//! Lua heap, or one at the default heap plus an import, or two stores with
//! at most 160 KiB of Lua heap each. An open that does not fit fails with a
//! clear error instead of risking the abort.

use std::cell::Cell;

use moonvault_engine::{Durability, Options};
use moonvault_pager::PagerConfig;

/// The module's whole linear memory, enforced by the linker.
pub const LINEAR_MEMORY: usize = 2 * 1024 * 1024;
/// The wasm stack (`-z stack-size` in .cargo/config.toml).
pub const STACK: usize = 128 * 1024;
/// Default Lua heap limit of an open store.
pub const LUA_HEAP_DEFAULT: usize = 512 * 1024;
/// Largest Lua heap limit a store may ask for.
pub const LUA_HEAP_MAX: usize = 768 * 1024;
/// Smallest Lua heap limit accepted (the standard library alone needs
/// about 25 KiB).
pub const LUA_HEAP_MIN: usize = 64 * 1024;
/// The engine's page cache (`Options.pager.cache_bytes`).
pub const PAGE_CACHE: usize = 256 * 1024;
/// The page cache of an import (no Lua, streaming writes).
pub const IMPORT_PAGE_CACHE: usize = 128 * 1024;
/// Largest transaction committed through the WAL
/// (`Options.txn_log_limit`); larger ones commit by checkpoint.
pub const TXN_LOG_LIMIT: usize = 64 * 1024;
/// Operations a Lua transaction keeps to roll back to a savepoint
/// (`VaultOptions.savepoint_log_limit`); past it only a whole rollback is
/// possible.
pub const SAVEPOINT_LOG_LIMIT: usize = 64 * 1024;
/// Size of the pieces `export` hands out and `import` takes in.
pub const IO_CHUNK: usize = 32 * 1024;
/// What one open store reserves besides its Lua heap.
pub const STORE_OVERHEAD: usize = PAGE_CACHE + 2 * TXN_LOG_LIMIT + SAVEPOINT_LOG_LIMIT;
/// What an import reserves.
pub const IMPORT_OVERHEAD: usize = IMPORT_PAGE_CACHE + 2 * TXN_LOG_LIMIT;
/// Everything the open stores may reserve together: one store at the
/// largest Lua heap, or one at the default heap and an import, or two
/// stores of at most 160 KiB of Lua heap each.
pub const RESERVABLE: usize = LUA_HEAP_MAX + STORE_OVERHEAD;

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
            ..PagerConfig::default()
        },
        durability: Durability::Immediate,
        txn_log_limit: TXN_LOG_LIMIT,
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
             has {} KiB of memory in all, shared with the page cache and the engine",
            LINEAR_MEMORY / 1024
        ));
    }
    Ok(bytes as usize)
}

/// Static data of the shipped module, rounded up (measured: 114 KiB
/// above the stack; DESIGN.md section 8).
pub const STATIC_DATA: usize = 160 * 1024;

// The budget adds up, checked at compile time: the stack, static data and
// every reservation leave this much for transient buffers (query sorts,
// conversions, B-tree paths, export chunks) and allocator slack.
const _: () = assert!(STACK + STATIC_DATA + RESERVABLE + 512 * 1024 <= LINEAR_MEMORY);
// The documented combinations fit.
const _: () = assert!(LUA_HEAP_DEFAULT + STORE_OVERHEAD + IMPORT_OVERHEAD <= RESERVABLE);
const _: () = assert!(2 * (160 * 1024 + STORE_OVERHEAD) <= RESERVABLE);

thread_local! {
    static RESERVED: Cell<usize> = const { Cell::new(0) };
}

/// Memory taken from [`RESERVABLE`] for an open store; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    bytes: usize,
}

impl Reservation {
    /// Reserves `bytes`, or explains why they are not available.
    pub fn take(bytes: usize) -> Result<Reservation, String> {
        RESERVED.with(|r| {
            let used = r.get();
            if used + bytes > RESERVABLE {
                return Err(format!(
                    "not enough memory for another open store: it needs {} KiB and {} KiB of \
                     the module's {} KiB are held by open stores; close one first, or open \
                     with a smaller memoryLimit",
                    bytes / 1024,
                    used / 1024,
                    RESERVABLE / 1024
                ));
            }
            r.set(used + bytes);
            Ok(Reservation { bytes })
        })
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        RESERVED.with(|r| r.set(r.get().saturating_sub(self.bytes)));
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
        let a = Reservation::take(LUA_HEAP_MAX + STORE_OVERHEAD).unwrap();
        assert!(Reservation::take(LUA_HEAP_MIN + STORE_OVERHEAD).is_err());
        drop(a);
        let b = Reservation::take(LUA_HEAP_MIN + STORE_OVERHEAD).unwrap();
        assert_eq!(b.bytes(), LUA_HEAP_MIN + STORE_OVERHEAD);
    }
}
