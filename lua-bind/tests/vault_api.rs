//! The embedder API: print and progress sinks, arguments, error reporting,
//! atomic calls.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{eval_bool, eval_string, memory_vault, run};
use moonvault_lua_bind::mlua::{Function, Value};
use moonvault_lua_bind::{Progress, ProgressPhase, VaultError};

#[test]
fn print_goes_to_the_sink_line_by_line() {
    let v = memory_vault();
    let lines: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let sink = Rc::clone(&lines);
    v.set_print_sink(Some(Box::new(move |line: &[u8]| {
        sink.borrow_mut().push(line.to_vec())
    })));
    run(
        &v,
        "Memory.t = {} print('a', 1, 2.5, nil, true, Memory.t ~= nil) print() print('bin\\0\\255')",
    );
    let got = lines.borrow().clone();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], b"a\t1\t2.5\tnil\ttrue\ttrue");
    assert_eq!(got[1], b"");
    assert_eq!(got[2], b"bin\0\xff");
    // print is stored by name with or without a sink.
    assert!(eval_bool(&v, "Memory.p = print return Memory.p == print"));
    v.set_print_sink(None);
    assert!(eval_bool(&v, "return Memory.p == print"));
    assert_eq!(lines.borrow().len(), 3, "no sink, nothing captured");
}

#[test]
fn index_builds_and_migrations_report_to_the_progress_sink() {
    let v = memory_vault();
    let seen: Rc<RefCell<Vec<Progress>>> = Rc::default();
    let sink = Rc::clone(&seen);
    v.set_progress_sink(Some(Box::new(move |p| sink.borrow_mut().push(p))));
    run(
        &v,
        "Memory.users = {} for i = 1, 2500 do Memory.users[i] = {age = i % 90} end",
    );
    run(&v, "store.index('users', 'age')");
    let got = seen.borrow().clone();
    let index: Vec<(u64, u64)> = got
        .iter()
        .filter(|p| p.phase == ProgressPhase::Index)
        .map(|p| (p.done, p.total))
        .collect();
    assert_eq!(index.first(), Some(&(0, 2500)), "{index:?}");
    assert_eq!(index.last(), Some(&(2500, 2500)), "{index:?}");
    assert!(index.len() >= 3, "{index:?}");
    seen.borrow_mut().clear();
    run(
        &v,
        "store.migrate(3, {function() Memory.a = 1 end, function() end, function() end})",
    );
    let migrate: Vec<(u64, u64)> = seen
        .borrow()
        .iter()
        .map(|p| {
            assert_eq!(p.phase.as_str(), "migrate");
            (p.done, p.total)
        })
        .collect();
    assert_eq!(migrate, [(0, 3), (1, 3), (2, 3), (3, 3)]);
    // No sink, no reports; an existing index is not rebuilt.
    v.set_progress_sink(None);
    run(&v, "store.index('users', 'age') store.migrate(3, {})");
    assert_eq!(seen.borrow().len(), 4);
}

#[test]
fn args_are_arg_and_the_chunk_varargs() {
    let v = memory_vault();
    v.set_script_name(Some("script.lua".into()));
    v.set_args(vec!["one".into(), "two".into()]);
    assert_eq!(
        eval_string(
            &v,
            "local a, b = ... return table.concat({arg[0], arg[1], arg[2], a, b, #arg}, ',')"
        ),
        "script.lua,one,two,one,two,2"
    );
}

#[test]
fn errors_carry_the_chunk_name_line_and_a_traceback() {
    let v = memory_vault();
    let err = v
        .exec("local x = 1\nlocal y = nil\nreturn y.z", "scripts/bad.lua")
        .unwrap_err();
    let VaultError::Lua { message, traceback } = &err else {
        panic!("{err}")
    };
    assert!(
        message.starts_with("scripts/bad.lua:3: attempt to index a nil value"),
        "{message}"
    );
    assert!(traceback
        .as_deref()
        .unwrap_or("")
        .contains("stack traceback"));
    let err = v
        .exec("Memory.x = coroutine.create(print)", "=stdin")
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("stdin:1: Memory.x: cannot store a thread"),
        "{err}"
    );
    let err = v.exec("this is not lua", "syntax.lua").unwrap_err();
    assert!(err.to_string().contains("syntax.lua:1:"), "{err}");
}

#[test]
fn exec_returns_values_and_atomic_wraps_embedder_calls() {
    let v = memory_vault();
    let values = run(
        &v,
        "function bump(n) Memory.n = (Memory.n or 0) + n return Memory.n end return 1, 'two'",
    );
    assert!(matches!(
        values.as_slice(),
        [Value::Integer(1), Value::String(_)]
    ));
    let bump: Function = v.lua().globals().get("bump").unwrap();
    let n: i64 = v.atomic(|_| bump.call(5)).unwrap();
    assert_eq!(n, 5);
    let failed = v.atomic(|lua| -> moonvault_lua_bind::mlua::Result<()> {
        bump.call::<i64>(10)?;
        Err(lua.load("error('no')").exec().unwrap_err())
    });
    assert!(failed.is_err());
    assert_eq!(
        v.atomic(|_| bump.call::<i64>(0)).unwrap(),
        5,
        "the failed call was rolled back"
    );
}

#[test]
fn proxies_keep_their_identity_across_chunks() {
    let v = memory_vault();
    run(&v, "Memory.users = {} users = Memory.users");
    assert!(eval_bool(&v, "return users == Memory.users"));
}

#[test]
fn next_pairs_and_globals_are_in_place() {
    let v = memory_vault();
    assert!(eval_bool(
        &v,
        "return type(Memory) == 'table' and type(store) == 'table' and type(arg) == 'table' \
         and next(Memory) == nil and os.exit == nil"
    ));
}

#[test]
fn finalizers_print_to_the_sink_while_the_vm_closes() {
    let v = memory_vault();
    let lines: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let sink = Rc::clone(&lines);
    v.set_print_sink(Some(Box::new(move |line: &[u8]| {
        sink.borrow_mut().push(line.to_vec())
    })));
    run(
        &v,
        "local obj = setmetatable({}, {__gc = function(o) print('bye', 1, o == nil) end,\n\
                                       __name = 'thing'})\n\
         Memory.f = function() return obj end",
    );
    assert!(lines.borrow().is_empty());
    drop(v);
    assert_eq!(lines.borrow().clone(), vec![b"bye\t1\tfalse".to_vec()]);
}
