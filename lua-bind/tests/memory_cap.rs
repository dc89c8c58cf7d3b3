//! The Lua heap cap: exceeding it is a catchable error (see also
//! lua-tests/memory_cap.lua); an uncaught one fails only its chunk.

mod common;

use common::{eval_bool, run};
use moonvault_lua_bind::{Vault, VaultError, VaultOptions};

#[test]
fn an_uncaught_memory_error_fails_its_chunk_only() {
    let dir = tempfile::tempdir().unwrap();
    let options = VaultOptions {
        memory_limit: 1024 * 1024,
        ..VaultOptions::default()
    };
    let v = Vault::open_path(dir.path(), options).unwrap();
    run(&v, "Memory.committed = {1, 2, 3}");
    let err = v
        .exec(
            "Memory.pending = 1 store.commit() Memory.lost = 1 local t = {} for i = 1, 1e9 do t[i] = ('y'):rep(100) .. i end",
            "hog.lua",
        )
        .unwrap_err();
    match &err {
        VaultError::Lua { message, .. } => {
            assert!(message.contains("not enough memory"), "{message}")
        }
        other => panic!("{other}"),
    }
    assert!(v.used_memory() <= 1024 * 1024);
    // Usable, and only the uncommitted part is gone.
    assert!(eval_bool(
        &v,
        "collectgarbage() return #Memory.committed == 3 and Memory.pending == 1 and Memory.lost == nil"
    ));
    run(&v, "Memory.after = ('z'):rep(1000)");
    drop(v);
    let v = Vault::open_path(dir.path(), VaultOptions::default()).unwrap();
    assert!(eval_bool(
        &v,
        "return #Memory.committed == 3 and Memory.pending == 1 and #Memory.after == 1000"
    ));
}

#[test]
fn the_limit_is_configurable() {
    let small = Vault::memory(VaultOptions {
        memory_limit: 400 * 1024,
        ..VaultOptions::default()
    })
    .unwrap();
    let big = Vault::memory(VaultOptions {
        memory_limit: 8 * 1024 * 1024,
        ..VaultOptions::default()
    })
    .unwrap();
    let code = "local ok = pcall(function() local s = ('x'):rep(1024 * 1024) end) return ok";
    assert!(!eval_bool(&small, code), "1 MiB does not fit in 400 KiB");
    assert!(eval_bool(&big, code), "1 MiB fits in 8 MiB");
}

#[test]
fn reading_large_stored_data_hits_the_cap_catchably() {
    let v = Vault::memory(VaultOptions {
        memory_limit: 1024 * 1024,
        ..VaultOptions::default()
    })
    .unwrap();
    // Stored in pieces that each fit...
    run(&v, "for i = 1, 40 do Memory[i] = ('s'):rep(64 * 1024) end");
    // ...but not all at once.
    assert!(eval_bool(
        &v,
        r#"
        local ok, err = pcall(function()
          local keep = {}
          for i = 1, 40 do keep[i] = Memory[i] .. "!" end
        end)
        assert(not ok and tostring(err):find("not enough memory"), tostring(err))
        collectgarbage()
        return #Memory[40] == 64 * 1024
        "#
    ));
}
