//! `moonvault repl`: an interactive prompt on a store.
//!
//! As in `lua`'s own REPL, a line is first tried as an expression
//! (`return <line>`) and its values are printed readably (tables, external
//! ones too, as their bounded contents: `pretty.rs`); otherwise it runs as a
//! statement, and an incomplete statement (an unfinished `function`, an
//! open string) asks for more lines. Each entered chunk is atomic: it
//! commits when it finishes and rolls back on an error, which is printed
//! with its traceback while the session goes on.
//!
//! Line editing and history come from rustyline; the history is kept in
//! `$MOONVAULT_HISTORY` or `~/.moonvault_history` when stdin is a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use moonvault_lua_bind::{mlua, Vault, VaultError};
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::open::{CliError, CliResult};
use crate::run::{open_vault, vault_error, VmArgs};

const PROMPT: &str = "> ";
const MORE: &str = ">> ";

fn history_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOONVAULT_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".moonvault_history"))
}

/// What to do with the text entered so far.
enum Parsed {
    /// Run this chunk.
    Run(String),
    /// The statement is unfinished: read another line.
    More,
}

/// Decide how to run `text`: as `return <text>` when that compiles, else
/// as it is; ask for more when Lua reports an unfinished chunk.
fn parse(lua: &mlua::Lua, text: &str) -> Parsed {
    let expr = format!("return {text}");
    // Typed input is text: nothing here may load a binary chunk.
    let text_mode = mlua::chunk::ChunkMode::Text;
    let compiles = |code: &str| {
        lua.load(code)
            .set_name("=stdin")
            .set_mode(text_mode)
            .into_function()
    };
    if compiles(&expr).is_ok() {
        return Parsed::Run(expr);
    }
    match compiles(text) {
        Err(mlua::Error::SyntaxError {
            incomplete_input: true,
            ..
        }) => Parsed::More,
        // Run it even if it does not compile: exec reports the error.
        _ => Parsed::Run(text.to_string()),
    }
}

/// Print returned values readably (`pretty.rs`), after the chunk's own
/// output. Reading external tables is a chunk of its own (read-only, under
/// the same limits).
fn show(vault: &Vault, values: Vec<mlua::Value>) -> Result<(), VaultError> {
    let lua = vault.lua();
    flush_lua_stdout(lua).map_err(VaultError::from_lua)?;
    if !values.is_empty() {
        let text = vault.atomic(|lua| crate::pretty::show(lua, &values))?;
        println!("{text}");
    }
    Ok(())
}

fn flush_lua_stdout(lua: &mlua::Lua) -> mlua::Result<()> {
    lua.load("if io and io.stdout then io.stdout:flush() end")
        .set_name("=flush")
        .exec()
}

/// Run the prompt until end of input.
pub fn run(dir: &Path, vm: VmArgs) -> CliResult<()> {
    let vault = open_vault(dir, vm)?;
    let interactive = std::io::stdin().is_terminal();
    let mut editor = DefaultEditor::new()
        .map_err(|e| CliError::Usage(format!("cannot start the line editor: {e}")))?;
    let history = history_file().filter(|_| interactive);
    if let Some(h) = &history {
        // A missing or unreadable history is not worth failing for.
        let _ = editor.load_history(h);
    }
    if interactive {
        println!(
            "moonvault {} on {} (Ctrl-D to quit; each entry commits atomically)",
            env!("CARGO_PKG_VERSION"),
            dir.display()
        );
    }
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() { PROMPT } else { MORE };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C abandons the entry being typed.
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::Usage(format!("reading input failed: {e}"))),
        };
        if pending.is_empty() && line.trim().is_empty() {
            continue;
        }
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
        let code = match parse(vault.lua(), &pending) {
            Parsed::More => continue,
            Parsed::Run(code) => code,
        };
        let _ = editor.add_history_entry(pending.as_str());
        pending.clear();
        match vault.exec(code.as_bytes(), "=stdin") {
            Ok(values) => {
                if let Err(e) = show(&vault, values) {
                    eprintln!("{}", vault_error(&e));
                }
            }
            Err(e) => {
                let _ = flush_lua_stdout(vault.lua());
                eprintln!("{}", vault_error(&e));
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    vault.close().map_err(|e| vault_error(&e))
}
