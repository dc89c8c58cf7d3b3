//! A vault whose Lua heap lives in an `Arena`: the whole binding (external
//! tables, persisted functions, indexes, limits) works on the arena's
//! allocator, the arena running full is a catchable error that rolls the
//! chunk back, and closing the vault gives every block back.

mod common;

use common::{eval_int, run, run_err};
use moonvault_lua_bind::arena::Arena;
use moonvault_lua_bind::{Vault, VaultOptions};
use moonvault_pager::store::memory::MemoryStore;

#[test]
fn a_vault_in_an_arena_works_fails_cleanly_and_gives_its_memory_back() {
    let arena = Arena::leaked(512 * 1024);
    let blobs = MemoryStore::new();
    let options = VaultOptions {
        arena: Some(arena),
        memory_limit: 1 << 30,
        ..VaultOptions::default()
    };
    let v = Vault::open(Box::new(blobs.clone()), options).unwrap();
    assert!(arena.in_use() > 0, "the vault's setup is in the arena");
    run(
        &v,
        "Memory.users = {} for i = 1, 2000 do Memory.users[i] = {name = 'u' .. i, age = i % 90} end \
         local k = 3 Memory.scale = function(x) return x * k end \
         store.index('users', 'age')",
    );
    // The arena runs full: "not enough memory", the chunk rolls back.
    let e = run_err(
        &v,
        "Memory.partial = true local t = {} for i = 1, 1e7 do t[i] = {i} end",
    );
    assert!(e.contains("not enough memory"), "{e}");
    assert!(arena.in_use() <= arena.capacity());
    assert_eq!(
        eval_int(
            &v,
            "collectgarbage() assert(Memory.partial == nil) \
             return store.query('users'):where('age', '=', 42):count() + Memory.scale(2)"
        ),
        22 + 6
    );
    v.close().unwrap();
    assert_eq!(arena.in_use(), 0, "closing gives every block back");
    // Reopened in the same arena: the data and the function came through.
    let v = Vault::open(Box::new(blobs), options).unwrap();
    assert_eq!(eval_int(&v, "return #Memory.users + Memory.scale(5)"), 2015);
    drop(v);
    assert_eq!(arena.in_use(), 0);
}
