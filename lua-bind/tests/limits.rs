//! Limits on a chunk: an instruction budget, a time limit and an abort
//! check stop a chunk wherever it loops (pcall, coroutines, metamethods),
//! the stop cannot be caught, the chunk rolls back, and the vault goes on.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{eval_bool, eval_int, memory_vault, run};
use moonvault_lua_bind::{LimitKind, Limits, RunOptions, Vault, VaultError, VaultOptions};

const BUDGET: u64 = 2_000_000;

fn budget(n: u64) -> RunOptions {
    RunOptions {
        limits: Limits {
            max_instructions: Some(n),
            timeout: None,
        },
        abort: None,
    }
}

fn timeout(ms: u64) -> RunOptions {
    RunOptions {
        limits: Limits {
            max_instructions: None,
            timeout: Some(Duration::from_millis(ms)),
        },
        abort: None,
    }
}

/// Runs `code` with `run` and returns the limit that stopped it.
fn stopped(v: &Vault, code: &str, run: RunOptions) -> LimitKind {
    match v.exec_with(code, "limited.lua", run) {
        Err(VaultError::Limit { kind, .. }) => kind,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

/// The least instruction budget `code` runs to its end in.
fn least_budget(v: &Vault, code: &str) -> u64 {
    let (mut fails, mut runs) = (1, 1 << 20);
    assert!(v.exec_with(code, "least.lua", budget(runs)).is_ok());
    while runs - fails > 1 {
        let mid = (fails + runs) / 2;
        match v.exec_with(code, "least.lua", budget(mid)) {
            Ok(_) => runs = mid,
            Err(VaultError::Limit { .. }) => fails = mid,
            Err(e) => panic!("{e}"),
        }
    }
    runs
}

/// After a stop: nothing of the chunk was kept and the next chunk works.
fn assert_rolled_back_and_usable(v: &Vault) {
    assert!(eval_bool(v, "return Memory.n == 1 and Memory.t.x == 1"));
    assert_eq!(eval_int(v, "Memory.n = Memory.n + 1 return Memory.n"), 2);
    run(v, "Memory.n = 1");
}

fn vault_with_data() -> Vault {
    let v = memory_vault();
    run(&v, "Memory.n = 1 Memory.t = {x = 1}");
    v
}

const LOOPS: &[(&str, &str)] = &[
    ("plain", "Memory.n = 99 Memory.t.x = 5 while true do end"),
    (
        "pcall",
        "Memory.n = 99 while true do pcall(function() while true do end end) end",
    ),
    (
        "xpcall with a looping handler",
        "Memory.n = 99 while true do \
           xpcall(function() while true do end end, function() while true do end end) end",
    ),
    (
        "pcall catching and retrying",
        "Memory.n = 99 for i = 1, 1e9 do local ok = pcall(function() for j = 1, 100 do end end) \
           if not ok then Memory.t.x = i end end",
    ),
    (
        "coroutine",
        "Memory.n = 99 local co = coroutine.create(function() Memory.t.x = 7 while true do end end) \
           while true do coroutine.resume(co) end",
    ),
    (
        "coroutine.wrap inside pcall",
        "Memory.n = 99 while true do \
           pcall(coroutine.wrap(function() while true do coroutine.yield() end end)) end",
    ),
    (
        "metamethod",
        "Memory.n = 99 local t = setmetatable({}, {__index = function() while true do end end}) \
           while true do pcall(function() return t.x end) end",
    ),
    (
        "tail calls",
        "Memory.n = 99 local function f(n) return f(n + 1) end return f(0)",
    ),
    (
        "generic for over a Lua iterator",
        "Memory.n = 99 for _ in function() return 1 end do end",
    ),
    ("goto", "Memory.n = 99 ::again:: goto again"),
    ("repeat", "Memory.n = 99 repeat local x = 1 until false"),
    (
        "a hook set inside a coroutine's function",
        "Memory.n = 99 local co = coroutine.wrap(function() \
           pcall(debug.sethook, function() while true do end end, 'l') while true do end end) co()",
    ),
    (
        "a finalizer",
        "Memory.n = 99 setmetatable({}, {__gc = function() while true do end end}) \
           collectgarbage() while true do end",
    ),
    (
        "__close of a coroutine.wrap function's thread",
        "Memory.n = 99 local f = coroutine.wrap(function() \
           local x <close> = setmetatable({}, {__close = function() while true do end end}) \
           while true do end end) f()",
    ),
    (
        "__close",
        "Memory.n = 99 do local x <close> = setmetatable({}, {__close = function() \
           while true do end end}) error('x') end",
    ),
];

#[test]
fn a_budget_stops_every_kind_of_loop() {
    let v = vault_with_data();
    for (what, code) in LOOPS {
        let kind = stopped(&v, code, budget(BUDGET));
        assert_eq!(kind, LimitKind::Instructions, "{what}");
        assert_rolled_back_and_usable(&v);
    }
}

#[test]
fn a_timeout_stops_every_kind_of_loop() {
    let v = vault_with_data();
    for (what, code) in LOOPS {
        let start = Instant::now();
        let kind = stopped(&v, code, timeout(30));
        let took = start.elapsed();
        assert_eq!(kind, LimitKind::Timeout, "{what}");
        assert!(took >= Duration::from_millis(30), "{what}: {took:?}");
        assert!(took < Duration::from_secs(2), "{what}: {took:?}");
        assert_rolled_back_and_usable(&v);
    }
}

/// An instruction budget and a time limit, each with the kind it stops
/// with (the interrupt checks both, counting for one, reading the clock
/// for the other).
const EACH_CHECK: [(fn() -> RunOptions, LimitKind); 2] = [
    (|| budget(BUDGET), LimitKind::Instructions),
    (|| timeout(30), LimitKind::Timeout),
];

#[test]
fn a_coroutine_created_before_the_limited_chunk_is_limited_too() {
    let v = vault_with_data();
    for (limit, kind) in EACH_CHECK {
        run(
            &v,
            "spin = coroutine.create(function() while true do end end) \
             spin_wrapped = coroutine.wrap(function() while true do end end) \
             hooked = coroutine.create(function() while true do end end) \
             debug.sethook(hooked, function() while true do end end, 'l')",
        );
        for code in [
            "Memory.n = 99 coroutine.resume(spin)",
            "Memory.n = 99 pcall(spin_wrapped)",
            // Its own hook, which would run with hooks off, is removed.
            "Memory.n = 99 coroutine.resume(hooked)",
        ] {
            assert_eq!(stopped(&v, code, limit()), kind, "{code}");
            assert_rolled_back_and_usable(&v);
        }
    }
}

#[test]
fn a_script_hook_set_before_the_chunk_cannot_run_past_the_limit() {
    // Lua runs a hook function with hooks off: a looping one would escape
    // both the count hook and the interrupt's raise, so it is set aside.
    // It loops only once the chunk has set `Memory.n`, which the stop
    // rolls back, so the unlimited chunks around it run.
    let v = vault_with_data();
    run(
        &v,
        "debug.sethook(function() if Memory.n == 99 then while true do end end end, 'l')",
    );
    for (limit, kind) in EACH_CHECK {
        assert_eq!(
            stopped(&v, "Memory.n = 99\nlocal x = 1\nwhile true do end", limit()),
            kind
        );
        assert_rolled_back_and_usable(&v);
    }
    // It is put back after each limited chunk.
    assert!(eval_bool(&v, "return debug.gethook() ~= nil"));
    run(&v, "debug.sethook()");
}

#[test]
fn a_limit_sets_no_hook_until_it_trips() {
    // The VM's interrupt counts every thread: no hook is set on the main
    // thread or a new coroutine while the chunk runs within its limits.
    let v = vault_with_data();
    for (limit, _) in EACH_CHECK {
        let hooked = v
            .exec_with(
                "local co = coroutine.create(function() return debug.gethook() end) \
                 return debug.gethook() ~= nil or debug.gethook(co) ~= nil \
                   or select(2, coroutine.resume(co)) ~= nil",
                "nohook.lua",
                limit(),
            )
            .unwrap();
        assert!(matches!(hooked[0], mlua::Value::Boolean(false)));
    }
}

#[test]
fn debug_sethook_cannot_remove_the_limit() {
    let v = vault_with_data();
    for (limit, kind) in EACH_CHECK {
        for code in [
            "Memory.n = 99 pcall(debug.sethook) while true do end",
            "Memory.n = 99 pcall(debug.sethook, function() end, '', 0) while true do end",
            "Memory.n = 99 local co = coroutine.create(function() while true do end end) \
         pcall(debug.sethook, co) coroutine.resume(co)",
        ] {
            assert_eq!(stopped(&v, code, limit()), kind, "{code}");
            assert_rolled_back_and_usable(&v);
        }
    }
    let msg = match v.exec_with(
        "local ok, e = pcall(debug.sethook) error(e, 0)",
        "x",
        budget(BUDGET),
    ) {
        Err(VaultError::Lua { message, .. }) => message,
        other => panic!("{other:?}"),
    };
    assert!(msg.contains("not available while the chunk runs under a limit"));
    // Without a limit, a script's hook works and is put back after a
    // limited chunk.
    run(
        &v,
        "calls = 0 debug.sethook(function() calls = calls + 1 end, '', 100)",
    );
    let _ = stopped(&v, "while true do end", budget(BUDGET));
    assert!(eval_bool(
        &v,
        "local before = calls for i = 1, 10000 do end return calls > before"
    ));
    run(&v, "debug.sethook()");
}

#[test]
fn defaults_per_vault_and_overrides_per_call() {
    let v = Vault::memory(VaultOptions {
        limits: Limits {
            max_instructions: Some(BUDGET),
            timeout: None,
        },
        ..VaultOptions::default()
    })
    .unwrap();
    run(&v, "Memory.n = 1 Memory.t = {x = 1}");
    match v.exec("Memory.n = 2 while true do end", "default.lua") {
        Err(e @ VaultError::Limit { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("instruction budget (2000000"), "{msg}");
            assert!(msg.contains("rolled back"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    assert_rolled_back_and_usable(&v);
    // A bigger budget for one call lets a longer chunk finish.
    let long = "local s = 0 for i = 1, 1500000 do s = s + i end return s";
    assert!(matches!(
        v.exec(long, "long.lua"),
        Err(VaultError::Limit { .. })
    ));
    let out = v.exec_with(long, "long.lua", budget(50_000_000)).unwrap();
    assert!(matches!(out[0], mlua::Value::Integer(1_125_000_750_000)));
    // A time limit for one call joins the default budget.
    assert_eq!(
        stopped(
            &v,
            "while true do end",
            RunOptions {
                limits: Limits {
                    max_instructions: Some(u64::MAX),
                    timeout: Some(Duration::from_millis(20)),
                },
                abort: None,
            }
        ),
        LimitKind::Timeout
    );
}

#[test]
fn small_budgets_are_exact_to_a_few_instructions() {
    let v = memory_vault();
    assert!(v.exec_with("return 1", "x", budget(100)).is_ok());
    assert_eq!(
        stopped(&v, "for i = 1, 1000 do end", budget(100)),
        LimitKind::Instructions
    );
    // The least budget a chunk runs in, against Lua's own count (a count
    // hook firing at every instruction): the same, give or take the
    // chunk's own call and return.
    for body in [
        "",
        " s = s + i",
        " if i > 10 then s = s + 1 end",
        " s = s + (i > 500 and 1 or 2)",
        " local f = function(x) return x end s = f(s)",
        " local t = {1, 2, 3} s = s + #t",
    ] {
        let code = format!("local s = 0 for i = 1, 1000 do{body} end");
        let lua = eval_int(
            &v,
            &format!(
                "local n = 0 debug.sethook(function() n = n + 1 end, '', 1) \
                 do {code} end debug.sethook() return n"
            ),
        ) as f64;
        let least = least_budget(&v, &code) as f64;
        assert!(
            (least - lua).abs() <= 4.0,
            "{body:?}: Lua counts {lua}, the least budget is {least}"
        );
    }
    assert!(matches!(
        v.exec_with("return 1", "x", budget(0)),
        Err(VaultError::Engine(_))
    ));
}

#[test]
fn an_abort_check_stops_the_chunk() {
    let v = vault_with_data();
    // Aborted before the start: nothing runs.
    let kind = stopped(
        &v,
        "Memory.n = 99",
        RunOptions {
            limits: Limits::NONE,
            abort: Some(Box::new(|| true)),
        },
    );
    assert_eq!(kind, LimitKind::Aborted);
    assert_rolled_back_and_usable(&v);
    // Aborted from the host while it runs (here: after the chunk prints).
    let flag = Rc::new(Cell::new(false));
    let set = Rc::clone(&flag);
    v.set_print_sink(Some(Box::new(move |_| set.set(true))));
    let check = Rc::clone(&flag);
    let kind = stopped(
        &v,
        "Memory.n = 99 print('stop me') while true do end",
        RunOptions {
            limits: Limits::NONE,
            abort: Some(Box::new(move || check.get())),
        },
    );
    assert_eq!(kind, LimitKind::Aborted);
    v.set_print_sink(None);
    assert_rolled_back_and_usable(&v);
}

#[test]
fn committed_work_before_the_stop_is_kept() {
    let v = vault_with_data();
    let _ = stopped(
        &v,
        "Memory.kept = true store.commit() Memory.lost = true while true do end",
        budget(BUDGET),
    );
    assert!(eval_bool(
        &v,
        "return Memory.kept == true and Memory.lost == nil"
    ));
}

#[test]
fn finished_chunks_are_untouched_by_their_limit() {
    let v = vault_with_data();
    let out = v
        .exec_with(
            "local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end) \
             local x = co(1) local ok, e = pcall(error, 'caught') \
             Memory.n = x + co(10) return Memory.n, e",
            "ok.lua",
            budget(BUDGET),
        )
        .unwrap();
    assert!(matches!(out[0], mlua::Value::Integer(22)));
    assert_eq!(eval_int(&v, "return Memory.n"), 22);
}
