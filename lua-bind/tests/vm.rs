//! The VM's basic contract, natively: evaluation, error handling through
//! `pcall` (longjmp), bytecode round trip, and the memory limit.

use moonvault_lua_bind::{mlua, new_vm};

const LIMIT: usize = 1024 * 1024;

#[test]
fn evaluates_code() {
    let lua = new_vm(LIMIT).unwrap();
    let v: i64 = lua
        .load("local t = {} for i = 1, 10 do t[i] = i * i end return t[10]")
        .eval()
        .unwrap();
    assert_eq!(v, 100);
    let s: String = lua
        .load(r#"return string.format("%.14g|%s", 0.1, tostring(1e300))"#)
        .eval()
        .unwrap();
    assert_eq!(s, "0.1|1e+300");
}

#[test]
fn pcall_catches_errors_and_uncaught_ones_reach_rust() {
    let lua = new_vm(LIMIT).unwrap();
    let (ok, msg): (bool, String) = lua
        .load(r#"return pcall(function() error("boom") end)"#)
        .eval()
        .unwrap();
    assert!(!ok);
    assert!(msg.ends_with("boom"), "{msg}");

    let err = lua.load(r#"error("uncaught")"#).exec().unwrap_err();
    assert!(err.to_string().contains("uncaught"), "{err}");

    // A Rust callback's error is a Lua error too.
    let fail = lua
        .create_function(|_, ()| -> mlua::Result<()> { Err(mlua::Error::runtime("from rust")) })
        .unwrap();
    lua.globals().set("fail", fail).unwrap();
    let (ok, msg): (bool, String) = lua
        .load("local ok, e = pcall(fail) return ok, tostring(e)")
        .eval()
        .unwrap();
    assert!(!ok);
    assert!(msg.contains("from rust"), "{msg}");
}

#[test]
fn string_dump_then_load_round_trips() {
    let lua = new_vm(LIMIT).unwrap();
    let v: i64 = lua
        .load(
            r#"
            local bytes = string.dump(function(a) return a * 2 end)
            assert(type(bytes) == "string" and #bytes > 0)
            return load(bytes, "dumped", "b")(21)
            "#,
        )
        .eval()
        .unwrap();
    assert_eq!(v, 42);
}

#[test]
fn memory_limit_is_a_catchable_error_and_vm_survives() {
    let lua = new_vm(LIMIT).unwrap();
    let (ok, msg): (bool, String) = lua
        .load(
            r#"
            local t = {}
            local ok, err = pcall(function()
                for i = 1, 1e7 do t[i] = { i } end
            end)
            t = nil
            collectgarbage()
            return ok, tostring(err)
            "#,
        )
        .eval()
        .unwrap();
    assert!(!ok);
    assert!(msg.contains("not enough memory"), "{msg}");
    assert!(lua.used_memory() <= LIMIT);

    // Uncaught, it reaches Rust as a memory error.
    let err = lua
        .load("local s = {} for i = 1, 1e7 do s[i] = i end")
        .exec()
        .unwrap_err();
    assert!(matches!(err, mlua::Error::MemoryError(_)), "{err:?}");

    // The VM still works after both.
    lua.gc_collect().unwrap();
    let v: i64 = lua
        .load("local t = {} for i = 1, 1000 do t[i] = i end return #t")
        .eval()
        .unwrap();
    assert_eq!(v, 1000);
}

#[test]
fn os_exit_is_not_available() {
    let lua = new_vm(LIMIT).unwrap();
    let is_nil: bool = lua.load("return os.exit == nil").eval().unwrap();
    assert!(is_nil);
    let err = lua.load("os.exit(1)").exec().unwrap_err();
    assert!(err.to_string().contains("exit"), "{err}");
}

#[test]
fn debug_library_is_not_loaded() {
    let lua = new_vm(LIMIT).unwrap();
    let is_nil: bool = lua.load("return debug == nil").eval().unwrap();
    assert!(is_nil);
}
