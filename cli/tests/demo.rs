//! `moonvault demo` runs examples/demo.lua twice on a temporary store
//! (write, reopen, read back) and checks the store.

mod common;

#[test]
fn demo_runs_and_narrates() {
    let r = common::run(&["demo"]).expect(0);
    let out = &r.stdout;
    for needle in [
        "running examples/demo.lua against a new store",
        "== 1. external tables",
        "Memory.settings.volume =\t8\tinteger",
        "Memory.users.ann.address.city =\tParis",
        "users aged over 80, oldest first",
        "Memory.greet('world') =\tHello, world!",
        "== 5. stats",
        "reopening it",
        "== 6. reopened the store (run 2)",
        "users stored:\t501",
        "restored closure: Memory.greet('again') =\tHello, again!",
        "restored counter: Memory.next_ticket() =\t101",
        "ok: no problems found",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    // Narration and script output stay in order when piped.
    let first = out.find("== 1.").unwrap();
    let reopen = out.find("reopening it").unwrap();
    let sixth = out.find("== 6.").unwrap();
    assert!(first < reopen && reopen < sixth, "{out}");
    assert_eq!(r.stderr, "");
}
