//! Writes one generation of old-format fixtures: two file stores and an
//! export of the same content, byte-identical on every run.
//!
//! ```text
//! cargo run -p moonvault-tests --example write_fixtures -- OUT_DIR
//! ```
//!
//! `scripts/write-fixtures.sh` runs this and adds the golden outputs (dump,
//! probe). `tests/fixtures/v1/` was written by it at commit f549674 and must
//! never be rewritten: later code writes a new generation into a new folder.
//!
//! OUT_DIR gets:
//! - `store-wal/`: phase A (`phase_a.lua`), checkpointed and compacted,
//!   then phase B (`phase_b.lua` and the closures of `functions.lua`),
//!   closed the way
//!   `Vault::close` and `moonvault run` close, which never checkpoint:
//!   phase B's commits are only in the write-ahead log, as a crash after
//!   them would leave them. Opening it replays them.
//! - `store-clean/`: the same history, then two checkpoints (the second
//!   deletes the WAL records the first one covered), so it opens without
//!   recovery or any write. Its log starts with the bytes of store-wal's.
//! - `export.mvx`: the export of store-clean.
//! - `store-small-pages/` (since generation 6): store-clean's history on
//!   1 KiB pages with branches of four pages, so that some branches are
//!   larger than a page (DESIGN.md section 2, "Branch size").
//!
//! Determinism. Everything the engine writes follows from the operations,
//! but a stored Lua closure carries a *share group*, a random id drawn per
//! assignment (DESIGN.md section 6). So the closures of `functions.lua` are
//! made in a scratch in-memory vault, each share group is replaced by a
//! fixed id (one per group, so functions stored together still share their
//! upvalues) with the payload's crc32 recomputed, and the payloads are
//! written through the engine. The script also keeps Lua's per-VM string
//! hash seed out of the bytes (see `functions.lua`).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use moonvault_engine::codec::{Key, Value};
use moonvault_engine::export::export;
use moonvault_engine::{Input, TableRead, ROOT};
use moonvault_lua_bind::{Vault, VaultOptions};
use moonvault_pager::store::file::FileStore;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const PHASE_A: &str = include_str!("phase_a.lua");
const PHASE_B: &str = include_str!("phase_b.lua");
const FUNCTIONS: &str = include_str!("functions.lua");
/// Separates the chunks of `phase_b.lua`.
const CHUNK_MARK: &str = "\n-- @chunk\n";

/// Share group of the first closure payload; later groups count up.
const FIRST_GROUP: u64 = u64::from_be_bytes(*b"mvfix\0\0\x01");

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("write_fixtures: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let out = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .ok_or("usage: write_fixtures OUT_DIR (a directory that does not exist yet)")?,
    );
    if out.exists() {
        return Err(format!(
            "{} exists; fixtures are never rewritten in place, write to a new directory",
            out.display()
        )
        .into());
    }
    std::fs::create_dir_all(&out)?;
    let closures = closures()?;
    let default = VaultOptions::default;
    write_store(
        &out.join("store-wal"),
        &closures,
        Finish::LeaveWal,
        default(),
    )?;
    let exported = write_store(
        &out.join("store-clean"),
        &closures,
        Finish::Checkpoint,
        default(),
    )?;
    std::fs::write(out.join("export.mvx"), exported)?;
    let mut small = default();
    small.engine.pager.page_size = 1024;
    small.engine.pager.branch_pages = 4;
    write_store(
        &out.join("store-small-pages"),
        &closures,
        Finish::Checkpoint,
        small,
    )?;
    Ok(())
}

fn exec(vault: &Vault, code: &str, name: &str) -> Result<()> {
    match vault.exec(code, name) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{name}: {e}\n{}", e.traceback().unwrap_or_default()).into()),
    }
}

/// How a store is left.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// Closed by `Vault::close`: the last commits stay in the WAL.
    LeaveWal,
    /// Checkpointed twice before closing; returns the export.
    Checkpoint,
}

/// Writes the content into a new store in `dir`, created with `options`;
/// the export for [`Finish::Checkpoint`], else nothing.
fn write_store(
    dir: &Path,
    closures: &[(Key, Input)],
    finish: Finish,
    options: VaultOptions,
) -> Result<Vec<u8>> {
    // Phase A, checkpointed twice (so no WAL record is left), then the log
    // compacted: its history would triple the fixture's size.
    let vault = Vault::open_path(dir, options)?;
    exec(&vault, PHASE_A, "phase_a.lua")?;
    let store = vault.store().ok_or("the vault has no store")?;
    store.db().checkpoint()?;
    store.db().checkpoint()?;
    drop(store);
    vault.close()?;
    FileStore::open(dir)?.compact()?;

    let vault = Vault::open_path(dir, options)?;
    let store = vault.store().ok_or("the vault has no store")?;
    let mut chunks = PHASE_B.split(CHUNK_MARK);
    exec(&vault, chunks.next().unwrap_or_default(), "phase_b.lua")?;
    store.write(|tx| {
        for (key, input) in closures {
            tx.set(ROOT, key.clone(), input.clone())?;
        }
        Ok(())
    })?;
    for chunk in chunks {
        exec(&vault, chunk, "phase_b.lua")?;
    }

    let mut exported = Vec::new();
    if finish == Finish::Checkpoint {
        store.db().checkpoint()?;
        store.db().checkpoint()?;
        export(store.db(), &mut |chunk| {
            exported.extend_from_slice(chunk);
            Ok(())
        })?;
    }
    drop(store);
    vault.close()?;
    Ok(exported)
}

/// The entries `functions.lua` leaves in `Memory`, closure payloads given
/// fixed share groups.
fn closures() -> Result<Vec<(Key, Input)>> {
    let vault = Vault::memory(VaultOptions::default())?;
    exec(&vault, FUNCTIONS, "functions.lua")?;
    let snap = vault.store().ok_or("the vault has no store")?.read()?;
    let mut groups = Vec::new();
    let mut out = Vec::new();
    // Key order, so the groups are numbered the same on every run.
    for entry in snap.entries(ROOT) {
        let (key, value) = entry?;
        let input = match value {
            Value::Table(id) => {
                let mut fields = Vec::new();
                for entry in snap.entries(id) {
                    let (k, v) = entry?;
                    fields.push((k, Input::Value(fix_group(v, &mut groups)?)));
                }
                Input::Table(fields)
            }
            v => Input::Value(fix_group(v, &mut groups)?),
        };
        out.push((key, input));
    }
    Ok(out)
}

/// A closure payload (DESIGN.md section 6: magic, version, crc32 of bytes
/// 9.., share group at 9..17) with its share group replaced by a fixed id.
fn fix_group(value: Value, groups: &mut Vec<u64>) -> Result<Value> {
    let Value::Function(mut p) = value else {
        return Ok(value);
    };
    if p.len() < 17 || &p[..4] != b"MVFN" || p[4] != 1 {
        return Err("a function payload of an unexpected format".into());
    }
    let group = u64::from_le_bytes(p[9..17].try_into()?);
    let n = match groups.iter().position(|&g| g == group) {
        Some(n) => n,
        None => {
            groups.push(group);
            groups.len() - 1
        }
    };
    p[9..17].copy_from_slice(&(FIRST_GROUP + n as u64).to_le_bytes());
    let crc = crc32fast::hash(&p[9..]);
    p[5..9].copy_from_slice(&crc.to_le_bytes());
    Ok(Value::Function(p))
}
