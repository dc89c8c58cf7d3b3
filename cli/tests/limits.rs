//! `moonvault run` and `moonvault repl` with `--timeout` and
//! `--max-instructions`: a runaway chunk stops with a clear error, rolls
//! back, and (in the REPL) the session goes on.

mod common;

use std::time::{Duration, Instant};

use common::{arg, run, run_with_stdin};

#[test]
fn run_stops_a_runaway_script_and_rolls_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let spin = dir.path().join("spin.lua");
    std::fs::write(
        &spin,
        "Memory.n = (Memory.n or 0) + 1 while true do pcall(function() while true do end end) end",
    )
    .unwrap();

    let r = run(&[
        "run",
        "--db",
        arg(&db),
        "--max-instructions",
        "1000000",
        arg(&spin),
    ])
    .expect(1);
    assert!(
        r.stderr
            .contains("instruction budget (1000000 instructions)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("rolled back"), "{}", r.stderr);

    let start = Instant::now();
    let r = run(&["run", "--db", arg(&db), "--timeout", "200ms", arg(&spin)]).expect(1);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(r.stderr.contains("time limit (200 ms)"), "{}", r.stderr);

    // Nothing of either run was kept; a script within its limits commits.
    let ok = dir.path().join("ok.lua");
    std::fs::write(&ok, "Memory.n = (Memory.n or 0) + 1 print(Memory.n)").unwrap();
    let r = run(&[
        "run",
        "--db",
        arg(&db),
        "--timeout",
        "5s",
        "--max-instructions",
        "100000",
        arg(&ok),
    ])
    .expect(0);
    assert_eq!(r.stdout, "1\n");
}

#[test]
fn bad_limit_values_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let s = dir.path().join("s.lua");
    std::fs::write(&s, "").unwrap();
    let r = run(&["run", "--db", arg(&db), "--timeout", "5 parsecs", arg(&s)]).expect(2);
    assert!(r.stderr.contains("unknown unit"), "{}", r.stderr);
    let r = run(&["run", "--db", arg(&db), "--max-instructions", "0", arg(&s)]).expect(2);
    assert!(r.stderr.contains("--max-instructions"), "{}", r.stderr);
}

#[test]
fn repl_entries_are_limited_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let input = "\
Memory.n = 1
Memory.n = 2 while true do end
Memory.n
";
    let r = run_with_stdin(
        &["repl", "--db", arg(&db), "--max-instructions", "100000"],
        input,
    )
    .expect(0);
    assert_eq!(r.stdout, "1\n");
    assert!(r.stderr.contains("instruction budget"), "{}", r.stderr);
}
