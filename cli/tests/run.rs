//! `moonvault run`: arguments, output, exit statuses, atomicity, the
//! memory cap and untrusted mode, through the built binary.

mod common;

use std::path::{Path, PathBuf};

use common::{arg, moonvault, run};

fn script(dir: &Path, name: &str, code: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, code).unwrap();
    p
}

#[test]
fn script_gets_args_like_the_lua_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let s = script(
        dir.path(),
        "args.lua",
        "print(#arg, arg[1], arg[2], select('#', ...), ...)\nprint(arg[0]:match('args%.lua$'))\n",
    );
    let r = run(&["run", "--db", arg(&db), arg(&s), "--", "one", "two words"]).expect(0);
    assert_eq!(r.stdout, "2\tone\ttwo words\t2\tone\ttwo words\nargs.lua\n");
    assert_eq!(r.stderr, "");
    let r = run(&["run", "--db", arg(&db), arg(&s)]).expect(0);
    assert_eq!(r.stdout, "0\tnil\tnil\t0\nargs.lua\n");
}

#[test]
fn changes_persist_across_runs_and_default_db_is_in_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        "count.lua",
        "Memory.n = (Memory.n or 0) + 1\nMemory.t = {x = 1.0}\nprint(Memory.n, math.type(Memory.t.x))\n",
    );
    for want in ["1\tfloat\n", "2\tfloat\n", "3\tfloat\n"] {
        let out = moonvault()
            .current_dir(dir.path())
            .args(["run", arg(&s)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }
    assert!(dir.path().join("moonvault.db").join("log").is_file());
}

#[test]
fn lua_error_exits_1_with_traceback_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let s = script(
        dir.path(),
        "bad.lua",
        "Memory.kept = 1\nstore.commit()\nMemory.lost = 2\nlocal function f() error('boom') end\nf()\n",
    );
    let r = run(&["run", "--db", arg(&db), arg(&s)]).expect(1);
    assert!(r.stderr.contains("bad.lua:4: boom"), "{}", r.stderr);
    assert!(r.stderr.contains("stack traceback:"), "{}", r.stderr);
    assert!(r.stderr.contains("in local 'f'"), "{}", r.stderr);
    let dump = run(&["dump", "--db", arg(&db)]).expect(0).stdout;
    assert_eq!(
        dump, "Memory = {\n  kept = 1,\n}\n",
        "committed part kept, the rest rolled back"
    );
}

#[test]
fn syntax_error_and_missing_script_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let s = script(dir.path(), "syn.lua", "x = = 1\n");
    let r = run(&["run", "--db", arg(&db), arg(&s)]).expect(1);
    assert!(r.stderr.contains("syn.lua:1:"), "{}", r.stderr);
    let missing = dir.path().join("nope.lua");
    let r = run(&["run", "--db", arg(&db), arg(&missing)]).expect(1);
    assert!(r.stderr.contains("nope.lua"), "{}", r.stderr);
    // Usage errors are clap's: status 2.
    run(&["run", "--db", arg(&db)]).expect(2);
}

#[test]
fn shebang_line_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let s = script(
        dir.path(),
        "sb.lua",
        "#!/usr/bin/env moonvault run\nprint('ok')\nerror('line 3')\n",
    );
    let r = run(&["run", "--db", arg(&db), arg(&s)]).expect(1);
    assert_eq!(r.stdout, "ok\n");
    assert!(r.stderr.contains("sb.lua:3: line 3"), "{}", r.stderr);
}

#[test]
fn memory_limit_is_enforced_and_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let s = script(
        dir.path(),
        "big.lua",
        "local t = {}\nfor i = 1, 100000 do t[i] = ('x'):rep(100) .. i end\nprint(#t)\n",
    );
    let r = run(&["run", "--db", arg(&db), arg(&s)]).expect(1);
    assert!(r.stderr.contains("not enough memory"), "{}", r.stderr);
    let r = run(&[
        "run",
        "--db",
        arg(&db),
        "--memory-limit",
        "64000000",
        arg(&s),
    ])
    .expect(0);
    assert_eq!(r.stdout, "100000\n");
}

#[test]
fn untrusted_refuses_stored_bytecode() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let store = script(
        dir.path(),
        "store.lua",
        "local k = 3\nMemory.f = function(x) return x * k end\nprint(Memory.f(2))\n",
    );
    assert_eq!(
        run(&["run", "--db", arg(&db), arg(&store)])
            .expect(0)
            .stdout,
        "6\n"
    );
    let call = script(dir.path(), "call.lua", "print(Memory.f(5))\n");
    assert_eq!(
        run(&["run", "--db", arg(&db), arg(&call)]).expect(0).stdout,
        "15\n"
    );
    let r = run(&["run", "--db", arg(&db), "--untrusted", arg(&call)]).expect(1);
    assert!(r.stderr.contains("untrusted"), "{}", r.stderr);
}

#[test]
fn damaged_store_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let s = script(
        dir.path(),
        "w.lua",
        "for i = 1, 50 do Memory[i] = ('v'):rep(50) end\n",
    );
    run(&["run", "--db", arg(&db), arg(&s)]).expect(0);
    run(&["run", "--db", arg(&db), arg(&s)]).expect(0);
    let log = db.join("log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[50] ^= 0x21;
    std::fs::write(&log, &bytes).unwrap();
    let r = run(&["run", "--db", arg(&db), arg(&s)]).expect(1);
    assert!(r.stderr.contains("corrupted"), "{}", r.stderr);
}

#[test]
fn every_example_runs() {
    // Each example script runs on a fresh store (the contract:
    // every example is runnable with `moonvault run`).
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut ran = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("lua") {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("e.db");
        let r = run(&["run", "--db", arg(&db), arg(&path)]);
        assert_eq!(r.code, 0, "{}:\n{}", path.display(), r.stderr);
        ran += 1;
    }
    assert!(ran >= 1, "examples/demo.lua at least");
}

#[test]
fn finalizers_run_at_close_without_panicking() {
    // `obj` stays alive in the cached stored function until the VM
    // closes, so its finalizers run from `lua_close`.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let s = script(
        dir.path(),
        "gc.lua",
        "local obj = setmetatable({}, {__gc = function() print(\"bye\") end})\n\
         local uses_store = setmetatable({}, {__gc = function()\n\
           print(\"store\", (pcall(function() return Memory.n end)), (pcall(store.version)))\n\
         end})\n\
         Memory.f = function() return obj, uses_store end\n",
    );
    let r = run(&["run", "--db", arg(&db), arg(&s)]).expect(0);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(r.stderr, "");
    assert_eq!(r.stdout, "store\tfalse\tfalse\nbye\n");
}

#[test]
fn untrusted_scripts_load_no_binary_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let s = script(
        dir.path(),
        "bin.lua",
        "local f, err = load(string.dump(function() return 1 end))\n\
         print(f, err)\n\
         print(debug.traceback ~= nil, debug.getinfo)\n",
    );
    let r = run(&["run", "--untrusted", "--db", arg(&db), arg(&s)]).expect(0);
    assert_eq!(
        r.stdout,
        "nil\tattempt to load a binary chunk (mode is 't')\ntrue\tnil\n"
    );
    let r = run(&["run", "--db", arg(&db), arg(&s)]).expect(0);
    assert!(r.stdout.starts_with("function: "), "{}", r.stdout);
}
