//! The scripts' `debug` library: plain Lua's safe part when trusted,
//! `traceback` only when untrusted.

mod common;

use common::{eval_bool, eval_string, memory_vault, run};
use moonvault_lua_bind::{Vault, VaultOptions};

#[test]
fn xpcall_with_traceback_and_getinfo_work() {
    let v = memory_vault();
    let msg = eval_string(
        &v,
        "local ok, msg = xpcall(function() error('boom') end, debug.traceback)\n\
         assert(not ok) return msg",
    );
    assert!(
        msg.starts_with("test.lua:1: boom\nstack traceback:"),
        "{msg}"
    );
    assert!(eval_bool(
        &v,
        "local i = debug.getinfo(1) return i.currentline == 1 and i.short_src == 'test.lua'\n\
         and i.what == 'main' and debug.getinfo(print).what == 'C'"
    ));
    assert!(eval_bool(
        &v,
        "local a, b = 10, 20\n\
         local name, value = debug.getlocal(1, 2)\n\
         local function f() return a end\n\
         local up, upv = debug.getupvalue(f, 1)\n\
         return name == 'b' and value == 20 and up == 'a' and upv == 10\n\
         and type(debug.upvalueid(f, 1)) == 'userdata' and require('debug') == debug"
    ));
}

#[test]
fn hooks_run_and_are_removed() {
    let v = memory_vault();
    assert!(eval_bool(
        &v,
        "local n = 0\n\
         debug.sethook(function() n = n + 1 end, '', 100)\n\
         for i = 1, 10000 do end\n\
         local f, mask, count = debug.gethook()\n\
         debug.sethook()\n\
         return n > 10 and mask == '' and count == 100 and debug.gethook() == nil"
    ));
    // A count hook as a timeout, the usual use.
    let err = eval_string(
        &v,
        "debug.sethook(function() error('timeout') end, '', 1000)\n\
         local ok, err = pcall(function() while true do end end)\n\
         debug.sethook() return err",
    );
    assert!(err.ends_with("timeout"), "{err}");
}

#[test]
fn unsafe_functions_are_absent() {
    let v = memory_vault();
    for name in [
        "setmetatable",
        "getmetatable",
        "setupvalue",
        "upvaluejoin",
        "setlocal",
        "getregistry",
        "setuservalue",
        "getuservalue",
        "setcstacklimit",
        "debug",
    ] {
        assert!(
            eval_bool(&v, &format!("return debug.{name} == nil")),
            "debug.{name} is there"
        );
    }
    // The proxies' metatable stays protected.
    assert!(eval_bool(&v, "return getmetatable(Memory) == false"));
}

#[test]
fn debug_functions_are_stored_by_name() {
    let v = memory_vault();
    run(&v, "Memory.tb = debug.traceback Memory.gi = debug.getinfo");
    assert!(eval_bool(
        &v,
        "return Memory.tb == debug.traceback and Memory.gi == debug.getinfo"
    ));
}

#[test]
fn untrusted_has_only_traceback() {
    let v = Vault::memory(VaultOptions {
        untrusted: true,
        ..VaultOptions::default()
    })
    .unwrap();
    assert!(eval_bool(
        &v,
        "local n = 0 for _ in pairs(debug) do n = n + 1 end\n\
         return n == 1 and select(2, xpcall(error, debug.traceback, 'x')):match('^x\\nstack traceback:') ~= nil"
    ));
}
