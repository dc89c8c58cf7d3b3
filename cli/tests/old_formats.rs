//! The `moonvault` binary on stores written by older code
//! (`tests/fixtures/v1`, see its README): `check` finds no problem, and
//! `dump`, `run probe.lua` and `import` of the export give exactly the
//! golden outputs written with the code of commit f549674.
//! (`tests/tests/old_formats.rs` checks the same fixtures through the
//! library: writes after a reopen, and stores of a newer version.)

mod common;

use std::path::{Path, PathBuf};

use common::{arg, run};

const V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/v1");
const STORES: [&str; 2] = ["store-clean", "store-wal"];

fn fixture(name: &str) -> PathBuf {
    Path::new(V1).join(name)
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A copy of fixture store `name` (opening a store may recover and write).
fn copy_store(name: &str, tmp: &Path) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(fixture(name)).expect("the fixture exists") {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

/// `got` must equal golden file `name`; a failure shows the first
/// differing line.
fn assert_golden(what: &str, got: &str, name: &str) {
    let want = golden(name);
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "{what}: line {} differs from {name}", i + 1);
    }
    assert_eq!(got, want, "{what}: output differs from {name} in length");
}

#[test]
fn check_finds_no_problem() {
    for name in STORES {
        let tmp = tempfile::tempdir().unwrap();
        let db = copy_store(name, tmp.path());
        let out = run(&["check", "--db", arg(&db)]).expect(0).stdout;
        assert!(out.contains("ok: no problems found"), "{name}:\n{out}");
    }
}

#[test]
fn dump_matches_the_golden() {
    for name in STORES {
        let tmp = tempfile::tempdir().unwrap();
        let db = copy_store(name, tmp.path());
        let out = run(&["dump", "--db", arg(&db)]).expect(0).stdout;
        assert_golden(name, &out, "dump.txt");
    }
}

#[test]
fn probe_script_prints_the_golden() {
    let probe = fixture("probe.lua");
    for name in STORES {
        let tmp = tempfile::tempdir().unwrap();
        let db = copy_store(name, tmp.path());
        let out = run(&["run", "--db", arg(&db), arg(&probe)])
            .expect(0)
            .stdout;
        assert_golden(name, &out, "probe.out");
    }
}

#[test]
fn export_imports_to_the_golden_content() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("imported");
    let export = fixture("export.mvx");
    // It holds bytecode functions (`Memory.fact`): imported only by choice.
    let r = run(&["import", "--db", arg(&db), arg(&export)]).expect(1);
    assert!(
        r.stderr.contains("refusing to import Memory.fact"),
        "{}",
        r.stderr
    );
    run(&["import", "--trust", "--db", arg(&db), arg(&export)]).expect(0);
    let out = run(&["check", "--db", arg(&db)]).expect(0).stdout;
    assert!(out.contains("ok: no problems found"), "{out}");
    let out = run(&["dump", "--db", arg(&db)]).expect(0).stdout;
    assert_golden("imported export", &out, "dump.txt");
}
