//! Errors raised through the binding's replacements of `next` and
//! `table.insert/remove/sort` read exactly as plain Lua's, for plain tables
//! and for external tables alike: the script's position, Lua's names.

mod common;

use common::{eval_string, memory_vault};
use moonvault_lua_bind::mlua;

const CASES: &[&str] = &[
    "table.sort(nil)",
    "table.sort({3, 1, 2}, 5)",
    "table.sort({1, 'a'})",
    "table.insert(nil, 1)",
    "table.insert({}, 1, 2, 3)",
    "table.insert({}, 5, 1)",
    "table.insert({}, 1.5, 1)",
    "table.insert({}, nil, 1)",
    "table.remove(nil)",
    "table.remove({}, 7)",
    "next(nil)",
    "next({}, 'nope')",
    "local sort = table.sort sort(nil)",
    "local t = {} t.f = table.insert t.f(nil, 1)",
];

fn plain(code: &str) -> String {
    let lua = moonvault_lua_bind::new_vm(moonvault_lua_bind::DEFAULT_MEMORY_LIMIT).unwrap();
    lua.load(code)
        .set_name("@test.lua")
        .eval::<mlua::LuaString>()
        .unwrap()
        .to_string_lossy()
}

fn wrap(case: &str) -> String {
    format!("local ok, err = pcall(function() {case} end) assert(not ok) return tostring(err)")
}

#[test]
fn errors_on_plain_tables_read_as_plain_luas() {
    let v = memory_vault();
    let mut wrong = Vec::new();
    for case in CASES {
        let code = wrap(case);
        let (want, got) = (plain(&code), eval_string(&v, &code));
        if want != got {
            wrong.push(format!("{case}\n  plain Lua: {want}\n  moonvault: {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn errors_on_external_tables_read_as_plain_luas() {
    // The same calls on a stored list: the proxy versions' own errors.
    let v = memory_vault();
    let mut wrong = Vec::new();
    for case in [
        "table.sort(T, 5)",
        "table.insert(T, 1, 2, 3)",
        "table.insert(T, 9, 1)",
        "table.insert(T, 1.5, 1)",
        "table.remove(T, 7)",
        "table.remove(T, 'x')",
        "table.insert(T, nil, 1)",
        "table.insert(T, '1.5', 1)",
        "local ins = table.insert ins(T, 9, 1)",
        "local _, e = pcall(table.insert, T, 9, 1) error(e, 0)",
        "local _, e = pcall(table.sort, T, 1) error(e, 0)",
    ] {
        let plain_code = wrap(&format!("local T = {{1, 2}} {case}"));
        let stored_code = wrap(&format!("Memory.T = {{1, 2}} local T = Memory.T {case}"));
        let (want, got) = (plain(&plain_code), eval_string(&v, &stored_code));
        if want != got {
            wrong.push(format!("{case}\n  plain Lua: {want}\n  moonvault: {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
