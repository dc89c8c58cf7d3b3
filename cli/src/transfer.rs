//! `moonvault export` and `moonvault import`: the portable export format of
//! [`moonvault_engine::export`], shared with the browser build.
//!
//! Export writes to a temporary file beside the target and renames it into
//! place once complete, so a failed export never leaves a truncated file
//! under the target name. Import runs in one transaction that commits only
//! after the file's trailer and checksum verify (the engine's guarantee);
//! a store this command created is removed again when the import fails.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use moonvault_engine::export::{export, Importer};
use moonvault_engine::EngineError;

use crate::open::{open_existing, open_file, open_on, store_exists, CliError, CliResult};
use crate::progress;
use crate::units::bytes;

/// Export the store in `dir` to `file`; returns (entries, bytes).
pub fn export_to(dir: &Path, file: &Path) -> CliResult<(u64, u64)> {
    let opened = open_existing(dir)?;
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(parent).map_err(CliError::io(parent))?;
    let mut w = BufWriter::new(tmp.as_file());
    let pb = progress::byte_spinner("exporting");
    let mut written = 0u64;
    let mut io_error = None;
    let result = export(opened.store.db(), &mut |chunk| {
        if let Err(e) = w.write_all(chunk) {
            io_error = Some(e);
            return Err(EngineError::Callback(
                "writing the export file failed".into(),
            ));
        }
        written += chunk.len() as u64;
        pb.set_position(written);
        Ok(())
    });
    pb.finish_and_clear();
    if let Some(e) = io_error {
        return Err(CliError::io(file)(e));
    }
    let entries = result?;
    w.flush().map_err(CliError::io(file))?;
    drop(w);
    tmp.as_file().sync_all().map_err(CliError::io(file))?;
    tmp.persist(file).map_err(|e| CliError::io(file)(e.error))?;
    Ok((entries, written))
}

/// Import `file` into the store in `dir`, which must be new or empty;
/// returns the number of entries. Unless `trust`, a file holding a
/// function stored as bytecode is refused whole (Lua does not verify
/// bytecode: a crafted file could corrupt the VM of whoever opens the
/// store as trusted, the default); functions stored as source text import
/// either way.
pub fn import_from(dir: &Path, file: &Path, trust: bool) -> CliResult<u64> {
    let mut input = File::open(file).map_err(CliError::io(file))?;
    let len = input.metadata().map_err(CliError::io(file))?.len();
    let created = !dir.exists();
    let result = (|| {
        let opened = open_on(open_file(dir)?)?;
        let mut importer = Importer::new(opened.store.db())?;
        importer.expect_len(len);
        if !trust {
            importer.check_functions(moonvault_lua_bind::function::source_only_import());
        }
        let pb = progress::byte_bar(len, "importing");
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = input.read(&mut buf).map_err(CliError::io(file))?;
            if n == 0 {
                break;
            }
            let fed = buf.get(..n).unwrap_or(&buf);
            importer.feed(fed).map_err(|e| in_file(file, e))?;
            pb.inc(n as u64);
        }
        pb.finish_and_clear();
        let count = importer.finish().map_err(|e| in_file(file, e))?;
        opened.store.db().checkpoint()?;
        Ok(count)
    })();
    if result.is_err() && created && store_exists(dir) {
        // Nothing was committed; do not leave an empty store behind. The
        // store was closed when the closure returned.
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

fn in_file(file: &Path, e: EngineError) -> CliError {
    match e {
        e @ EngineError::Corrupted { .. } => {
            CliError::Usage(format!("{}: {e}; nothing was imported", file.display()))
        }
        e @ EngineError::ImportRefused { .. } => CliError::Usage(format!(
            "{}: {e}. Import it with --trust only if you trust whoever wrote the file",
            file.display()
        )),
        other => other.into(),
    }
}

/// One line saying what an export did.
pub fn describe_export(entries: u64, written: u64, file: &Path) -> String {
    format!(
        "exported {entries} entries ({}) to {}",
        bytes(written),
        file.display()
    )
}
