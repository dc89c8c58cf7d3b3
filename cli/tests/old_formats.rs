//! The `moonvault` binary on stores written by older code
//! (`tests/fixtures/v1` to `v6`, see their READMEs): `check` finds no
//! problem, and `dump`, `run probe.lua` and `import` of the export give
//! exactly the golden outputs written with the code of that generation.
//! (`tests/tests/old_formats.rs` checks the same fixtures through the
//! library: writes after a reopen, and stores of a newer version.)

mod common;

use std::path::{Path, PathBuf};

use common::{arg, run};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
/// Every committed fixture generation.
const GENERATIONS: [&str; 6] = ["v1", "v2", "v3", "v4", "v5", "v6"];
const STORES: [&str; 2] = ["store-clean", "store-wal"];
/// Stores of some generations only: (first generation, store).
const LATER_STORES: [(&str, &str); 1] = [("v6", "store-small-pages")];

fn fixture(generation: &str, name: &str) -> PathBuf {
    Path::new(FIXTURES).join(generation).join(name)
}

fn golden(generation: &str, name: &str) -> String {
    std::fs::read_to_string(fixture(generation, name))
        .unwrap_or_else(|e| panic!("{generation}/{name}: {e}"))
}

/// A copy of fixture store `name` (opening a store may recover and write).
fn copy_store(generation: &str, name: &str, tmp: &Path) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(fixture(generation, name)).expect("the fixture exists") {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

/// `got` must equal golden file `name`; a failure shows the first
/// differing line.
fn assert_golden(what: &str, got: &str, generation: &str, name: &str) {
    let want = golden(generation, name);
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "{what}: line {} differs from {name}", i + 1);
    }
    assert_eq!(got, want, "{what}: output differs from {name} in length");
}

/// Every fixture store of every generation, as (generation, store).
fn stores() -> impl Iterator<Item = (&'static str, &'static str)> {
    GENERATIONS.into_iter().flat_map(|g| {
        let later = LATER_STORES
            .into_iter()
            .filter(move |(first, _)| g >= *first)
            .map(|(_, s)| s);
        STORES.into_iter().chain(later).map(move |s| (g, s))
    })
}

#[test]
fn check_finds_no_problem() {
    for (generation, name) in stores() {
        let tmp = tempfile::tempdir().unwrap();
        let db = copy_store(generation, name, tmp.path());
        let out = run(&["check", "--db", arg(&db)]).expect(0).stdout;
        assert!(
            out.contains("ok: no problems found"),
            "{generation}/{name}:\n{out}"
        );
    }
}

#[test]
fn dump_matches_the_golden() {
    for (generation, name) in stores() {
        let tmp = tempfile::tempdir().unwrap();
        let db = copy_store(generation, name, tmp.path());
        let out = run(&["dump", "--db", arg(&db)]).expect(0).stdout;
        assert_golden(name, &out, generation, "dump.txt");
    }
}

#[test]
fn probe_script_prints_the_golden() {
    for (generation, name) in stores() {
        let probe = fixture(generation, "probe.lua");
        let tmp = tempfile::tempdir().unwrap();
        let db = copy_store(generation, name, tmp.path());
        let out = run(&["run", "--db", arg(&db), arg(&probe)])
            .expect(0)
            .stdout;
        assert_golden(name, &out, generation, "probe.out");
    }
}

#[test]
fn export_imports_to_the_golden_content() {
    for generation in GENERATIONS {
        export_imports_to_the_golden_content_of(generation);
    }
}

fn export_imports_to_the_golden_content_of(generation: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("imported");
    let export = fixture(generation, "export.mvx");
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
    assert_golden("imported export", &out, generation, "dump.txt");
}
