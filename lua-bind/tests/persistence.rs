//! Data written through a vault on a file store survives dropping and
//! reopening it: values with their subtypes, nested tables, indexes,
//! schemas, the schema version, committed prefixes of failed chunks.

mod common;

use common::{eval_bool, run, run_err};
use moonvault_engine::Durability;
use moonvault_lua_bind::{Vault, VaultOptions};

fn open(dir: &std::path::Path) -> Vault {
    Vault::open_path(dir, VaultOptions::default()).expect("open the file store")
}

#[test]
fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let v = open(dir.path());
        run(
            &v,
            r#"
            Memory.numbers = {i = 7, f = 7.0, min = math.mininteger, max = math.maxinteger,
                              inf = math.huge, ninf = -math.huge, nz = -0.0, half = 0.5}
            Memory.bin = "a\0b\255"
            Memory[2.0] = "two"
            Memory[true] = {nested = {deeper = {list = {1, 2, 3}}}}
            Memory.users = {}
            for i = 1, 50 do Memory.users["u" .. i] = {age = i, name = "n" .. i} end
            store.index("users", "age")
            store.schema("users", {age = {type = "integer", required = true}})
            store.migrate(2, {function() end, function() end})
            Memory.f = string.upper
            "#,
        );
    }
    let v = open(dir.path());
    assert!(eval_bool(
        &v,
        r#"
        local n = Memory.numbers
        assert(math.type(n.i) == "integer" and math.type(n.f) == "float" and n.f == 7)
        assert(n.min == math.mininteger and n.max == math.maxinteger)
        assert(n.inf == math.huge and n.ninf == -math.huge and n.half == 0.5)
        assert(n.nz == 0 and 1 / n.nz < 0, "-0.0 keeps its sign")
        assert(Memory.bin == "a\0b\255" and Memory[2] == "two")
        assert(#Memory[true].nested.deeper.list == 3)
        assert(store.version() == 2)
        local q = store.query("users"):where("age", ">", 45)
        assert(q:count() == 5 and q:explain():find("index"), q:explain())
        assert(not pcall(function() Memory.users.x = {age = "old"} end), "the schema is back")
        assert(Memory.f == string.upper)
        return true
        "#
    ));
}

#[test]
fn a_failed_chunk_keeps_what_it_committed_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let v = open(dir.path());
        let msg = run_err(
            &v,
            "Memory.first = 1 store.commit() Memory.second = 2 error('crash')",
        );
        assert!(msg.contains("crash"));
    }
    let v = open(dir.path());
    assert!(eval_bool(
        &v,
        "return Memory.first == 1 and Memory.second == nil"
    ));
}

#[test]
fn relaxed_commits_are_flushed_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let options = VaultOptions {
        durability: Durability::Relaxed,
        ..VaultOptions::default()
    };
    {
        let v = Vault::open_path(dir.path(), options).unwrap();
        run(&v, "for i = 1, 10 do Memory[i] = i * i end");
        v.close().unwrap();
    }
    let v = open(dir.path());
    assert!(eval_bool(&v, "return #Memory == 10 and Memory[10] == 100"));
}

#[test]
fn store_commit_makes_earlier_relaxed_commits_durable() {
    use moonvault_pager::store::faulty::{CrashMode, FaultyStore};
    let faulty = FaultyStore::new();
    let options = VaultOptions {
        durability: Durability::Relaxed,
        ..VaultOptions::default()
    };
    let v = Vault::open(Box::new(faulty.clone()), options).unwrap();
    run(&v, "Memory.a = 1");
    run(&v, "Memory.b = 2");
    run(&v, "store.commit()"); // nothing pending: still makes a and b durable
    run(&v, "Memory.c = 3"); // relaxed, lost by the crash below
    let image = faulty.crash_image(CrashMode::LoseUnsynced);
    drop(v);
    let v = Vault::open(
        Box::new(FaultyStore::with_inner(image)),
        VaultOptions::default(),
    )
    .unwrap();
    assert!(eval_bool(
        &v,
        "return Memory.a == 1 and Memory.b == 2 and Memory.c == nil"
    ));
}

#[test]
fn a_store_is_locked_while_a_vault_has_it_and_released_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let v = open(dir.path());
    run(&v, "Memory.x = 1");
    assert!(Vault::open_path(dir.path(), VaultOptions::default()).is_err());
    drop(v);
    let again = open(dir.path());
    assert!(eval_bool(&again, "return Memory.x == 1"));
}

#[test]
fn an_untrusted_vault_loads_source_functions_but_not_bytecode() {
    let dir = tempfile::tempdir().unwrap();
    {
        let v = open(dir.path());
        run(
            &v,
            r#"
            local n = 10
            Memory.closure = function() n = n + 1 return n end
            Memory.source = store.fn("local x = ... return x * 2")
            Memory.native = string.rep
            "#,
        );
    }
    let untrusted = VaultOptions {
        untrusted: true,
        ..VaultOptions::default()
    };
    let v = Vault::open_path(dir.path(), untrusted).unwrap();
    assert!(eval_bool(
        &v,
        "return Memory.source(21) == 42 and Memory.native == string.rep"
    ));
    let msg = run_err(&v, "return Memory.closure()");
    assert!(
        msg.contains("Memory.closure") && msg.contains("untrusted"),
        "the error names the path and the reason: {msg}"
    );
    drop(v);
    let v = open(dir.path());
    assert!(
        eval_bool(&v, "return Memory.closure() == 11"),
        "trusted again"
    );
}
