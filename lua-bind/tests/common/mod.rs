//! Helpers shared by the binding's scenario tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use moonvault_lua_bind::mlua::Value;
use moonvault_lua_bind::{Vault, VaultError, VaultOptions};

/// A vault over a fresh in-memory store.
pub fn memory_vault() -> Vault {
    Vault::memory(VaultOptions::default()).expect("open an in-memory vault")
}

/// Run `code`, panicking with the Lua message and traceback on error.
pub fn run(vault: &Vault, code: &str) -> Vec<Value> {
    match vault.exec(code, "test.lua") {
        Ok(v) => v,
        Err(e) => panic!("{e}\n{}", e.traceback().unwrap_or("")),
    }
}

/// Run `code` and return its error message.
pub fn run_err(vault: &Vault, code: &str) -> String {
    match vault.exec(code, "test.lua") {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(VaultError::Lua { message, .. }) => message,
        Err(other) => other.to_string(),
    }
}

/// Evaluate `code` (a chunk returning one value) as a string.
pub fn eval_string(vault: &Vault, code: &str) -> String {
    match run(vault, code).into_iter().next() {
        Some(Value::String(s)) => s.to_string_lossy(),
        other => panic!("expected a string, got {other:?}"),
    }
}

/// Evaluate `code` (a chunk returning one value) as an integer.
pub fn eval_int(vault: &Vault, code: &str) -> i64 {
    match run(vault, code).into_iter().next() {
        Some(Value::Integer(n)) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// Evaluate `code` as a boolean.
pub fn eval_bool(vault: &Vault, code: &str) -> bool {
    match run(vault, code).into_iter().next() {
        Some(Value::Boolean(b)) => b,
        other => panic!("expected a boolean, got {other:?}"),
    }
}

/// The crate directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run a Lua file in `vault`, naming it by its path relative to `base`.
pub fn run_file(vault: &Vault, path: &Path, base: &Path) -> Result<Vec<Value>, VaultError> {
    let code = std::fs::read(path).expect("read the Lua file");
    let name = path
        .strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string();
    vault.exec(code, &name)
}
