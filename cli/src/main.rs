//! `moonvault`: the command line of the moonvault store.
//!
//! Runs Lua scripts against a store on disk (`run`, `repl`), and inspects
//! or moves stores (`check`, `dump`, `stats`, `export`, `import`); `demo`
//! shows the product on a temporary store. A store is a directory (the
//! native file store); `--db` defaults to `./moonvault.db`.
//!
//! Exit status: 0 on success, 1 on any failure (a Lua error, a problem
//! found by `check`, a damaged store, an I/O error), 2 on a usage error.
//! Damage is reported as a message, never a panic: every byte read from a
//! store goes through the engine's checked decoders.

#![forbid(unsafe_code)]

mod check;
mod demo;
mod dump;
mod open;
mod pretty;
mod progress;
mod repl;
mod run;
mod stats;
mod transfer;
mod units;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::open::{open_existing, CliError, CliResult};

/// moonvault: a Lua store whose tables live on disk.
#[derive(Parser, Debug)]
#[command(name = "moonvault", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the store is.
#[derive(Args, Debug, Clone)]
struct DbArg {
    /// The store's directory.
    #[arg(long, value_name = "PATH", default_value = "moonvault.db")]
    db: PathBuf,
}

/// Limits on a chunk: past one it stops with an error and rolls back.
#[derive(Args, Debug, Clone, Copy)]
struct LimitArgs {
    /// Stop a chunk that runs longer than this (`500ms`, `2s`, `1m`); it
    /// rolls back to its last `store.commit()`. Checked every 4,096 Lua
    /// instructions, so a long call into C (a huge `string.rep`) is not
    /// cut short.
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    timeout: Option<std::time::Duration>,
    /// Stop a chunk after N Lua VM instructions (counted in all its
    /// coroutines, as Lua's count hook counts them); it rolls back like on
    /// --timeout.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_instructions: Option<u64>,
}

impl LimitArgs {
    fn limits(self) -> moonvault_lua_bind::Limits {
        moonvault_lua_bind::Limits {
            max_instructions: self.max_instructions,
            timeout: self.timeout,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a Lua script against the store (created if missing); changes
    /// commit when the script ends without error.
    Run {
        #[command(flatten)]
        db: DbArg,
        /// Cap on the Lua heap in bytes (default 2 MB, as in the browser).
        #[arg(long, value_name = "BYTES")]
        memory_limit: Option<usize>,
        /// Treat the store and the script's inputs as untrusted: never load
        /// a binary chunk (stored bytecode, `load`/`loadfile`/`dofile`/
        /// `require` are text-only), refuse stored metatables holding code.
        #[arg(long)]
        untrusted: bool,
        #[command(flatten)]
        limits: LimitArgs,
        /// The script.
        script: PathBuf,
        /// Arguments for the script, after `--` (`arg[1]`, `arg[2]`, ...).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Interactive Lua prompt on the store; each entered chunk is atomic.
    Repl {
        #[command(flatten)]
        db: DbArg,
        /// Cap on the Lua heap in bytes (default 2 MB).
        #[arg(long, value_name = "BYTES")]
        memory_limit: Option<usize>,
        /// Never load a binary chunk (see `run --untrusted`).
        #[arg(long)]
        untrusted: bool,
        /// Limits on each entered chunk (see `run --help`).
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Verify every page checksum, tree invariant and index entry; exit 1
    /// on any problem.
    Check {
        #[command(flatten)]
        db: DbArg,
    },
    /// Print the content of Memory (Lua syntax, or JSON with --json).
    Dump {
        #[command(flatten)]
        db: DbArg,
        /// JSON instead of Lua syntax (the mapping is in `--help`).
        ///
        /// Integers print as `42`, floats always with a fraction or exponent
        /// (`42.0`, `1e300`), non-finite floats as `{"$float":"inf"}`;
        /// strings that are not UTF-8 as `{"$bytes":"BASE64"}`; functions as
        /// `{"$function":{"bytes":N}}` or `{"$function":"math.sin"}`; tables
        /// with keys 1..n as arrays, tables of string keys as objects, any
        /// other table as `{"$entries":[[key,value],...]}`.
        #[arg(long)]
        json: bool,
        /// Dump only this value: dotted keys below Memory (`users.u1`;
        /// integer components select integer keys).
        #[arg(long, value_name = "PATH")]
        path: Option<String>,
    },
    /// Per-store and per-table figures: pages, WAL, records, sizes,
    /// compression.
    Stats {
        #[command(flatten)]
        db: DbArg,
    },
    /// Write the store to FILE in the portable export format (also read by
    /// the browser build).
    Export {
        #[command(flatten)]
        db: DbArg,
        /// The export file to write.
        file: PathBuf,
    },
    /// Load an export FILE into a new or empty store.
    ///
    /// A file holding a function stored as Lua bytecode is refused (and
    /// nothing imported) unless --trust is given: Lua does not verify
    /// bytecode, so a crafted file could corrupt the VM of whoever runs the
    /// store as trusted (the default). Functions stored as source text
    /// (`store.fn`) import either way.
    Import {
        #[command(flatten)]
        db: DbArg,
        /// Accept functions stored as bytecode: you trust whoever wrote the
        /// file.
        #[arg(long)]
        trust: bool,
        /// The export file to read.
        file: PathBuf,
    },
    /// Show what moonvault does, on a temporary store.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            // `moonvault dump | head`: the reader left; not an error.
            ExitCode::SUCCESS
        }
        Err(CliError::Lua(msg)) => {
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
        Err(CliError::CheckFailed(n)) => {
            eprintln!("moonvault: check found {n} problem(s); see above");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("moonvault: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> CliResult<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        Command::Run {
            db,
            memory_limit,
            untrusted,
            limits,
            script,
            args,
        } => {
            drop(out);
            let vm = run::VmArgs {
                memory_limit,
                untrusted,
                limits: limits.limits(),
            };
            run::run(&db.db, vm, &script, args)
        }
        Command::Repl {
            db,
            memory_limit,
            untrusted,
            limits,
        } => {
            drop(out);
            let vm = run::VmArgs {
                memory_limit,
                untrusted,
                limits: limits.limits(),
            };
            repl::run(&db.db, vm)
        }
        Command::Check { db } => check::run(&db.db, &mut out),
        Command::Dump { db, json, path } => {
            let opened = open_existing(&db.db)?;
            let path = dump::parse_path(path.as_deref().unwrap_or(""))?;
            let format = if json {
                dump::Format::Json
            } else {
                dump::Format::Human
            };
            dump::run(&opened.store.read()?, &path, format, &mut out)
        }
        Command::Stats { db } => {
            writeln!(out, "{}", db.db.display()).map_err(CliError::io(&db.db))?;
            stats::run(&open_existing(&db.db)?, &mut out)
        }
        Command::Export { db, file } => {
            let (entries, written) = transfer::export_to(&db.db, &file)?;
            eprintln!("{}", transfer::describe_export(entries, written, &file));
            Ok(())
        }
        Command::Import { db, trust, file } => {
            let n = transfer::import_from(&db.db, &file, trust)?;
            eprintln!(
                "imported {n} entries from {} into {}",
                file.display(),
                db.db.display()
            );
            Ok(())
        }
        Command::Demo => demo::run(&mut out),
    }
}
