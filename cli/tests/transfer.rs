//! `moonvault export` and `import`: a round trip keeps every entry; a bad
//! file or a non-empty target changes nothing.

mod common;

use common::{arg, build_store, run};

#[test]
fn export_then_import_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let file = dir.path().join("a.mvexport");
    build_store(&src, 400);
    let r = run(&["export", "--db", arg(&src), arg(&file)]).expect(0);
    assert!(r.stderr.contains("exported"), "{}", r.stderr);
    assert!(std::fs::read(&file).unwrap().starts_with(b"MVEXPORT"));
    let r = run(&["import", "--db", arg(&dst), arg(&file)]).expect(0);
    assert!(r.stderr.contains("imported"), "{}", r.stderr);
    let a = run(&["dump", "--json", "--db", arg(&src)]).expect(0).stdout;
    let b = run(&["dump", "--json", "--db", arg(&dst)]).expect(0).stdout;
    assert_eq!(a, b);
    assert!(a.contains("u400"));
    // The import carries indexes and the catalog: the copy checks clean.
    let r = run(&["check", "--db", arg(&dst)]).expect(0);
    assert!(
        r.stdout.contains("indexes: 1 of 1 verified"),
        "{}",
        r.stdout
    );
}

#[test]
fn import_refuses_a_store_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.db");
    let file = dir.path().join("a.mvexport");
    build_store(&src, 3);
    run(&["export", "--db", arg(&src), arg(&file)]).expect(0);
    let before = run(&["dump", "--json", "--db", arg(&src)]).expect(0).stdout;
    let r = run(&["import", "--db", arg(&src), arg(&file)]).expect(1);
    assert!(r.stderr.contains("empty store"), "{}", r.stderr);
    let after = run(&["dump", "--json", "--db", arg(&src)]).expect(0).stdout;
    assert_eq!(before, after);
}

#[test]
fn damaged_export_imports_nothing_and_leaves_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.db");
    let file = dir.path().join("a.mvexport");
    build_store(&src, 50);
    run(&["export", "--db", arg(&src), arg(&file)]).expect(0);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x08;
    let bad = dir.path().join("bad.mvexport");
    std::fs::write(&bad, &bytes).unwrap();
    let dst = dir.path().join("b.db");
    let r = run(&["import", "--db", arg(&dst), arg(&bad)]).expect(1);
    assert!(r.stderr.contains("nothing was imported"), "{}", r.stderr);
    assert!(!dst.exists(), "a failed import into a new store removes it");
    // Truncated.
    let short = dir.path().join("short.mvexport");
    std::fs::write(&short, &std::fs::read(&file).unwrap()[..100]).unwrap();
    let r = run(&["import", "--db", arg(&dst), arg(&short)]).expect(1);
    assert!(r.stderr.contains("truncated"), "{}", r.stderr);
    // Not a file at all.
    let r = run(&["import", "--db", arg(&dst), arg(&dir.path().join("nope"))]).expect(1);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
}

#[test]
fn export_of_a_missing_store_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.mvexport");
    let r = run(&[
        "export",
        "--db",
        arg(&dir.path().join("none.db")),
        arg(&file),
    ])
    .expect(1);
    assert!(r.stderr.contains("no moonvault store"), "{}", r.stderr);
    assert!(!file.exists());
}

#[test]
fn bytecode_functions_import_only_with_trust() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.db");
    let file = dir.path().join("a.mvexport");
    let script = dir.path().join("fns.lua");
    std::fs::write(
        &script,
        "Memory.n = 1\n\
         Memory.app = {hooks = {on_save = function() return 'saved' end}}\n\
         Memory.src = store.fn('return 1')\n",
    )
    .unwrap();
    run(&["run", "--db", arg(&src), arg(&script)]).expect(0);
    run(&["export", "--db", arg(&src), arg(&file)]).expect(0);

    let dst = dir.path().join("b.db");
    let r = run(&["import", "--db", arg(&dst), arg(&file)]).expect(1);
    assert!(
        r.stderr.contains(
            "refusing to import Memory.app.hooks.on_save: it is a function stored as Lua bytecode"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was imported"), "{}", r.stderr);
    assert!(r.stderr.contains("--trust"), "{}", r.stderr);
    assert!(!dst.exists(), "a refused import left a store behind");

    let r = run(&["import", "--trust", "--db", arg(&dst), arg(&file)]).expect(0);
    assert!(r.stderr.contains("imported"), "{}", r.stderr);
    let a = run(&["dump", "--json", "--db", arg(&src)]).expect(0).stdout;
    let b = run(&["dump", "--json", "--db", arg(&dst)]).expect(0).stdout;
    assert_eq!(a, b);
}

#[test]
fn source_functions_import_without_trust() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.db");
    let file = dir.path().join("a.mvexport");
    let script = dir.path().join("fns.lua");
    std::fs::write(
        &script,
        "Memory.f = store.fn('return 41 + ...') Memory.sin = math.sin",
    )
    .unwrap();
    run(&["run", "--db", arg(&src), arg(&script)]).expect(0);
    run(&["export", "--db", arg(&src), arg(&file)]).expect(0);
    let dst = dir.path().join("b.db");
    run(&["import", "--db", arg(&dst), arg(&file)]).expect(0);
    let check = dir.path().join("check.lua");
    std::fs::write(&check, "print(Memory.f(1), Memory.sin == math.sin)").unwrap();
    let r = run(&["run", "--untrusted", "--db", arg(&dst), arg(&check)]).expect(0);
    assert_eq!(r.stdout, "42\ttrue\n");
}
