//! `moonvault run`: one script, one atomic chunk, against a store on disk.
//!
//! Like the standalone `lua` interpreter: `arg[0]` is the script path,
//! `arg[1..]` the arguments after `--` (also the chunk's `...`), a first
//! line starting with `#` (a shebang) is skipped, `print` writes to
//! stdout. The chunk's changes commit when it returns; an error rolls them
//! back to the last `store.commit()` and is reported with its traceback on
//! stderr (exit status 1).

use std::path::Path;

use moonvault_lua_bind::{Limits, Vault, VaultError, VaultOptions, DEFAULT_MEMORY_LIMIT};

use crate::open::{CliError, CliResult};

/// How a vault is opened from the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct VmArgs {
    /// `--memory-limit`.
    pub memory_limit: Option<usize>,
    /// `--untrusted`.
    pub untrusted: bool,
    /// `--timeout`, `--max-instructions`: limits on each chunk.
    pub limits: Limits,
}

/// Open (creating if missing) the store in `dir` as a vault.
pub fn open_vault(dir: &Path, vm: VmArgs) -> CliResult<Vault> {
    let options = VaultOptions {
        memory_limit: vm.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT),
        untrusted: vm.untrusted,
        limits: vm.limits,
        ..VaultOptions::default()
    };
    let vault = Vault::open_path(dir, options).map_err(|e| vault_error(&e))?;
    vault.set_progress_sink(Some(crate::progress::vault_sink()));
    Ok(vault)
}

/// A vault error as the CLI reports it: Lua errors with their traceback.
pub fn vault_error(e: &VaultError) -> CliError {
    match e.traceback() {
        Some(tb) => CliError::Lua(format!("{e}\n{tb}")),
        None if matches!(e, VaultError::Lua { .. } | VaultError::Limit { .. }) => {
            CliError::Lua(e.to_string())
        }
        None => CliError::Usage(e.to_string()),
    }
}

/// Blank out a first line starting with `#` (keeps line numbers right).
pub fn skip_shebang(mut code: Vec<u8>) -> Vec<u8> {
    if code.first() == Some(&b'#') {
        let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
        code.drain(..end);
    }
    code
}

/// Run `script` with `args` against the store in `dir`.
pub fn run(dir: &Path, vm: VmArgs, script: &Path, args: Vec<String>) -> CliResult<()> {
    let code = std::fs::read(script).map_err(CliError::io(script))?;
    let vault = open_vault(dir, vm)?;
    let name = script.display().to_string();
    vault.set_script_name(Some(name.clone()));
    vault.set_args(args);
    let result = vault.exec(skip_shebang(code), &name);
    // Close even after an error: it flushes and releases the store.
    let closed = vault.close();
    result.map_err(|e| vault_error(&e))?;
    closed.map_err(|e| vault_error(&e))
}

#[cfg(test)]
mod tests {
    use super::skip_shebang;

    #[test]
    fn shebang_is_blanked_keeping_lines() {
        assert_eq!(
            skip_shebang(b"#!/usr/bin/env moonvault\nprint(1)".to_vec()),
            b"\nprint(1)"
        );
        assert_eq!(skip_shebang(b"print(1)".to_vec()), b"print(1)");
        assert_eq!(skip_shebang(b"#".to_vec()), b"");
    }
}
