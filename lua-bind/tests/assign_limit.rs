//! One assignment's copy is bounded (`VaultOptions::assign_limit`): it is
//! built outside the Lua heap's cap, and in the browser's 2 MiB module an
//! unbounded copy aborted the module. Self-assignment copies nothing.

mod common;

use common::{eval_bool, eval_int, run, run_err};
use moonvault_lua_bind::{Vault, VaultOptions};

/// A vault whose assignments may copy about `limit` bytes.
fn vault_with_limit(limit: usize) -> Vault {
    Vault::memory(VaultOptions {
        assign_limit: limit,
        ..VaultOptions::default()
    })
    .unwrap()
}

/// Writes 2,000 user records one by one (each assignment is small).
const FILL: &str = r#"
    Memory.users = Memory.users or {}
    for i = 1, 2000 do Memory.users[i] = {name = "user" .. i, age = i % 90} end
"#;

#[test]
fn self_assignment_of_a_large_table_copies_nothing_and_changes_nothing() {
    // 2,000 records are far more than 16 KiB of copy: a copy would fail.
    let v = vault_with_limit(16 * 1024);
    run(&v, FILL);
    run(&v, "store.index('users', 'age')");
    let before = eval_int(
        &v,
        "local n = 0 for _ in pairs(Memory.users) do n = n + 1 end return n",
    );
    assert_eq!(before, 2000);
    // The idiom of every script's first line, run again and again.
    for _ in 0..3 {
        run(&v, FILL);
        run(&v, "Memory.users = Memory.users");
    }
    assert!(eval_bool(
        &v,
        r#"
        local u = Memory.users
        local same = Memory.users == u
        Memory.users = u
        local n = 0
        for _ in pairs(Memory.users) do n = n + 1 end
        local hits = 0
        for _ in store.query("users"):where("age", "=", 42) do hits = hits + 1 end
        return same and rawequal(Memory.users, u) and n == 2000
           and Memory.users[42].name == "user42" and hits == 22
        "#
    ));
    // A record assigned to itself too (a packed record keeps its proxy).
    run(&v, "Memory.users[7] = Memory.users[7]");
    assert!(eval_bool(&v, "return Memory.users[7].age == 7"));
}

#[test]
fn copying_a_stored_table_past_the_limit_fails_cleanly() {
    let v = vault_with_limit(16 * 1024);
    run(&v, FILL);
    let msg = run_err(&v, "Memory.other = 1; Memory.copy = Memory.users");
    assert!(
        msg.contains("too large to copy in one assignment") && msg.contains("copy"),
        "{msg}"
    );
    // The chunk rolled back whole; everything committed is there.
    assert!(eval_bool(
        &v,
        "return Memory.copy == nil and Memory.other == nil and Memory.users[2000].name == 'user2000'"
    ));
    // A copy within the limit still works.
    run(
        &v,
        "Memory.small = {a = 1, b = {c = 2}}; Memory.small2 = Memory.small",
    );
    assert!(eval_bool(
        &v,
        "return Memory.small2.b.c == 2 and Memory.small2 ~= Memory.small"
    ));
}

#[test]
fn a_plain_table_past_the_limit_fails_with_advice_and_a_pcall_can_catch_it() {
    let v = vault_with_limit(16 * 1024);
    assert!(eval_bool(
        &v,
        r#"
        local t = {}
        for i = 1, 2000 do t[i] = {name = "user" .. i, age = i} end
        local ok, err = pcall(function() Memory.big = t end)
        -- Record by record is the way that fits.
        Memory.big = {}
        for i, r in ipairs(t) do Memory.big[i] = r end
        return not ok and err:find("assign it in parts", 1, true) ~= nil
           and #Memory.big == 2000
        "#
    ));
    // One long string alone is refused the same way.
    let msg = run_err(&v, "Memory.s = string.rep('x', 20000)");
    assert!(msg.contains("too large to copy"), "{msg}");
}

#[test]
fn the_default_limit_lets_large_assignments_through_natively() {
    let v = Vault::memory(VaultOptions::default()).unwrap();
    run(
        &v,
        r#"
        local t = {}
        for i = 1, 5000 do t[i] = {name = "user" .. i, age = i} end
        Memory.big = t
        Memory.copy = Memory.big
        "#,
    );
    assert_eq!(eval_int(&v, "return #Memory.copy"), 5000);
}
