//! Every `examples/*.lua` of the repository runs without error against a
//! fresh file store (as `moonvault run` would run it), and a second run on
//! the same store works too (examples must be re-runnable).

mod common;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use common::{crate_dir, run_file};
use moonvault_lua_bind::{Vault, VaultOptions};

fn examples() -> Vec<PathBuf> {
    let dir = crate_dir().join("..").join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    files.sort();
    files
}

fn run_example(store: &std::path::Path, path: &std::path::Path, args: &[&str]) -> String {
    let vault = Vault::open_path(store, VaultOptions::default()).unwrap();
    let out = Rc::new(RefCell::new(Vec::<u8>::new()));
    let sink = Rc::clone(&out);
    vault.set_print_sink(Some(Box::new(move |line: &[u8]| {
        let mut o = sink.borrow_mut();
        o.extend_from_slice(line);
        o.push(b'\n');
    })));
    let base = crate_dir().join("..");
    let name = path
        .strip_prefix(&base)
        .unwrap_or(path)
        .display()
        .to_string();
    vault.set_script_name(Some(name));
    vault.set_args(args.iter().map(|s| s.to_string()).collect());
    if let Err(e) = run_file(&vault, path, &base) {
        panic!(
            "{} failed: {e}\n{}\noutput so far:\n{}",
            path.display(),
            e.traceback().unwrap_or(""),
            String::from_utf8_lossy(&out.borrow())
        );
    }
    let text = String::from_utf8_lossy(&out.borrow()).to_string();
    text
}

#[test]
fn every_example_runs_twice_on_a_fresh_store() {
    let files = examples();
    assert!(
        files.len() >= 10,
        "at least 10 examples, found {}",
        files.len()
    );
    for path in &files {
        let store = tempfile::tempdir().unwrap();
        let first = run_example(store.path(), path, &[]);
        assert!(!first.is_empty(), "{} prints nothing", path.display());
        run_example(store.path(), path, &[]);
    }
}

#[test]
fn the_counter_remembers_and_takes_arguments() {
    let path = crate_dir().join("../examples/01_counter.lua");
    let store = tempfile::tempdir().unwrap();
    assert!(run_example(store.path(), &path, &[]).starts_with("counter = 1 "));
    assert!(run_example(store.path(), &path, &["10"]).starts_with("counter = 11 "));
}

#[test]
fn the_todo_app_takes_commands() {
    let path = crate_dir().join("../examples/12_todo_app.lua");
    let store = tempfile::tempdir().unwrap();
    run_example(store.path(), &path, &["add", "buy milk"]);
    run_example(store.path(), &path, &["add", "call mum"]);
    run_example(store.path(), &path, &["done", "1"]);
    let out = run_example(store.path(), &path, &["list"]);
    assert!(
        out.contains("1 open, 1 done") && out.contains("#2 call mum"),
        "{out}"
    );
}
