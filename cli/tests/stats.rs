//! `moonvault stats`: store and per-table figures.

mod common;

use common::{arg, build_store, run};

#[test]
fn stats_show_store_and_table_figures() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    build_store(&db, 500);
    let out = run(&["stats", "--db", arg(&db)]).expect(0).stdout;
    for needle in [
        "page size         4096",
        "branch size       16384",
        "page compression",
        "catalog           1 indexes, 0 schemas, user version 0",
        "Memory.users",
        "index age",
        "Memory.list",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let users = out
        .lines()
        .find(|l| l.trim_start().starts_with("Memory.users"))
        .unwrap();
    let cols: Vec<&str> = users.split_whitespace().collect();
    // name, records, entries, tables, logical (2 words), stored (2), ratio
    assert_eq!(cols[1], "500", "{users}");
    assert_eq!(cols[2], "2500", "{users}");
    assert_eq!(cols[3], "1001", "{users}");
    assert!(cols.last().unwrap().ends_with('x'), "{users}");
    // Pages compress: the store-wide ratio is above 1.
    let line = out
        .lines()
        .find(|l| l.contains("page compression"))
        .unwrap();
    let ratio: f64 = line
        .rsplit('(')
        .next()
        .unwrap()
        .trim_end_matches(")")
        .trim_end_matches('x')
        .parse()
        .unwrap();
    assert!(ratio > 1.0, "{line}");
}
