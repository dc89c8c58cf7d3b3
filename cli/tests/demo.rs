//! `moonvault demo` runs to the end on a temporary store.

mod common;

#[test]
fn demo_runs_and_narrates() {
    let r = common::run(&["demo"]).expect(0);
    for needle in ["moonvault demo", "index", "reopen"] {
        assert!(r.stdout.contains(needle), "missing {needle:?} in\n{}", r.stdout);
    }
}
