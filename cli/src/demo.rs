//! `moonvault demo`: `examples/demo.lua` (embedded in the binary) on a
//! store in a temporary directory: a first run writes external tables, a
//! nested record, an index and query, persisted closures and shows stats;
//! the store is closed and reopened, and a second run of the same script
//! reads everything back; finally the store is checked as `moonvault check`
//! would.

use std::io::Write;
use std::path::Path;

use moonvault_lua_bind::Vault;

use crate::open::{CliError, CliResult};
use crate::run::{open_vault, vault_error, VmArgs};

/// The demo script, also runnable as `moonvault run examples/demo.lua`.
pub const DEMO_LUA: &str = include_str!("../../examples/demo.lua");
const DEMO_NAME: &str = "examples/demo.lua";

fn io(source: std::io::Error) -> CliError {
    CliError::Io {
        path: "<stdout>".into(),
        source,
    }
}

/// Open the vault with `print` routed through this process's stdout, so
/// the script's output and the narration stay in order when piped.
fn open(path: &Path) -> CliResult<Vault> {
    let vault = open_vault(path, VmArgs::default())?;
    vault.set_print_sink(Some(Box::new(|line: &[u8]| {
        let mut out = std::io::stdout().lock();
        // A closed stdout only loses the demo's output.
        let _ = out.write_all(line).and_then(|()| out.write_all(b"\n"));
    })));
    vault.set_script_name(Some(DEMO_NAME.into()));
    Ok(vault)
}

fn run_script(path: &Path) -> CliResult<()> {
    let vault = open(path)?;
    let ran = vault.exec(DEMO_LUA, DEMO_NAME);
    let closed = vault.close();
    ran.map_err(|e| vault_error(&e))?;
    closed.map_err(|e| vault_error(&e))
}

/// Run the demo, narrating on `out`.
pub fn run(out: &mut dyn Write) -> CliResult<()> {
    let dir = tempfile::tempdir().map_err(CliError::io(Path::new("a temporary directory")))?;
    let path = dir.path().join("demo.db");
    writeln!(
        out,
        "moonvault demo: running {DEMO_NAME} against a new store in {}",
        path.display()
    )
    .map_err(io)?;
    out.flush().map_err(io)?;
    run_script(&path)?;
    writeln!(
        out,
        "\n-- closed the store; reopening it and running {DEMO_NAME} again --"
    )
    .map_err(io)?;
    out.flush().map_err(io)?;
    run_script(&path)?;
    writeln!(out, "\n== 7. moonvault check on the demo store").map_err(io)?;
    crate::check::run(&path, out)?;
    writeln!(
        out,
        "\nTry it yourself:\n  moonvault run --db my.db {DEMO_NAME}\n  moonvault repl --db my.db\n  \
         moonvault dump --db my.db --path users.ann\n  moonvault stats --db my.db"
    )
    .map_err(io)
}
