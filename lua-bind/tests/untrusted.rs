//! Untrusted mode loads no binary chunk by any path a script has: `load`,
//! `loadfile`, `dofile`, `require`. Trusted mode keeps plain Lua's "bt".

mod common;

use common::{eval_bool, eval_string, run};
use moonvault_lua_bind::{Vault, VaultOptions};

fn vault(untrusted: bool) -> Vault {
    Vault::memory(VaultOptions {
        untrusted,
        ..VaultOptions::default()
    })
    .unwrap()
}

/// Writes a binary chunk (returning 42) and a text chunk into `dir`, and
/// points `package.path` there.
fn files(v: &Vault, dir: &std::path::Path) {
    let d = dir.display().to_string().replace('\\', "/");
    run(
        v,
        &format!(
            "DIR = {d:?}\n\
             local f = assert(io.open(DIR .. '/bin.lua', 'wb'))\n\
             f:write(string.dump(function() return 42 end)) f:close()\n\
             f = assert(io.open(DIR .. '/txt.lua', 'w')) f:write('return 7') f:close()\n\
             package.path = DIR .. '/?.lua'"
        ),
    );
}

#[test]
fn untrusted_load_is_text_only() {
    let v = vault(true);
    assert_eq!(
        eval_string(
            &v,
            "local f, err = load(string.dump(function() return 1 end)) return tostring(f) .. ' ' .. err"
        ),
        "nil attempt to load a binary chunk (mode is 't')"
    );
    // An explicit "b" or "bt" does not bring binary chunks back.
    assert!(eval_bool(
        &v,
        "local d = string.dump(function() return 1 end)\n\
         return load(d, 'x', 'b') == nil and load(d, 'x', 'bt') == nil\n\
            and select(2, load(d, 'x', 'bt')):match('binary chunk') ~= nil"
    ));
    // Text still loads, with the same arguments as plain Lua's (an env
    // given or not).
    assert!(eval_bool(
        &v,
        "return load('return 1')() == 1 and load('return x', 'c', 't', {x = 5})() == 5\n\
         and load('return print', 'c', 't')() == print\n\
         and select(2, load('return', 'c', 'b')):match('text chunk') ~= nil"
    ));
    // Argument errors read as plain Lua's, at the caller's line.
    assert_eq!(
        eval_string(&v, "return select(2, pcall(load))"),
        "bad argument #1 to 'load' (function expected, got no value)"
    );
    // Stored by name like the original, and the same function back.
    assert!(eval_bool(&v, "Memory.l = load return Memory.l == load"));
}

#[test]
fn untrusted_loadfile_dofile_and_require_are_text_only() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(true);
    files(&v, dir.path());
    assert!(eval_bool(
        &v,
        "local f, err = loadfile(DIR .. '/bin.lua')\n\
         return f == nil and err:match(\"attempt to load a binary chunk %(mode is 't'%)\") ~= nil"
    ));
    assert!(eval_bool(
        &v,
        "return loadfile(DIR .. '/bin.lua', 'b') == nil"
    ));
    assert!(eval_bool(&v, "return loadfile(DIR .. '/txt.lua')() == 7"));
    assert!(eval_bool(
        &v,
        "local ok, err = pcall(dofile, DIR .. '/bin.lua')\n\
         return not ok and err:match('attempt to load a binary chunk') ~= nil"
    ));
    assert!(eval_bool(&v, "return dofile(DIR .. '/txt.lua') == 7"));
    assert!(eval_bool(
        &v,
        "local ok, err = pcall(require, 'bin')\n\
         return not ok and err:match(\"error loading module 'bin' from file\") ~= nil\n\
            and err:match('attempt to load a binary chunk') ~= nil"
    ));
    assert!(eval_bool(&v, "return require('txt') == 7"));
    assert!(eval_bool(
        &v,
        "local ok, err = pcall(require, 'missing') return not ok and err:match(\"no file '\") ~= nil"
    ));
}

#[test]
fn trusted_loads_binary_chunks_as_plain_lua() {
    let dir = tempfile::tempdir().unwrap();
    let v = vault(false);
    files(&v, dir.path());
    assert!(eval_bool(
        &v,
        "return load(string.dump(function() return 1 end))() == 1\n\
         and loadfile(DIR .. '/bin.lua')() == 42 and dofile(DIR .. '/bin.lua') == 42\n\
         and require('bin') == 42"
    ));
}

#[test]
fn untrusted_exec_runs_text_only() {
    let bytecode = {
        let v = vault(false);
        match run(&v, "return string.dump(function() return 5 end)").remove(0) {
            moonvault_lua_bind::mlua::Value::String(s) => s.as_bytes().to_vec(),
            other => panic!("{other:?}"),
        }
    };
    let trusted = vault(false);
    assert!(trusted.exec(&bytecode, "bin").is_ok());
    let untrusted = vault(true);
    let err = untrusted.exec(&bytecode, "bin").unwrap_err().to_string();
    assert!(
        err.contains("attempt to load a binary chunk (mode is 't')"),
        "{err}"
    );
}
