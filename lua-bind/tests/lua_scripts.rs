//! Runs the Lua test scripts of `lua-tests/` (except `functions*.lua`,
//! which tests/functions*.rs run), each in a fresh vault. A script fails
//! by raising an error (usually a failed `assert`).

mod common;

use common::{crate_dir, memory_vault, run_file};

fn script(name: &str) {
    let vault = memory_vault();
    let dir = crate_dir();
    let path = dir.join("lua-tests").join(name);
    if let Err(e) = run_file(&vault, &path, &dir) {
        panic!("{name} failed: {e}\n{}", e.traceback().unwrap_or(""));
    }
}

#[test]
fn side_by_side() {
    script("side_by_side.lua");
}

#[test]
fn assignment() {
    script("assignment.lua");
}

#[test]
fn store_api() {
    script("store_api.lua");
}

#[test]
fn queries() {
    script("queries.lua");
}

#[test]
fn schema_migration() {
    script("schema_migration.lua");
}

#[test]
fn memory_cap() {
    script("memory_cap.lua");
}

/// Every script of lua-tests/ is run by a test above (or by F's tests).
#[test]
fn every_script_is_run() {
    let listed = [
        "side_by_side.lua",
        "assignment.lua",
        "store_api.lua",
        "queries.lua",
        "schema_migration.lua",
        "memory_cap.lua",
    ];
    for entry in std::fs::read_dir(crate_dir().join("lua-tests")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.ends_with(".lua") && !name.starts_with("functions") {
            assert!(
                listed.contains(&name.as_str()),
                "{name} is not run by any test"
            );
        }
    }
}
