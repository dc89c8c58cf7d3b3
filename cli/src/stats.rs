//! `moonvault stats`: store-wide figures and per-table sizes.
//!
//! Compression is shown two ways: for the whole store, exactly, as the
//! logical bytes of every stored page against the bytes of their stored
//! (lz4) frames; per table, as the engine's estimate of stored bytes
//! against the bytes a user would count (see
//! [`moonvault_engine::stats`]).

use std::io::Write;

use moonvault_engine::codec::Value;
use moonvault_engine::stats::TableStats;
use moonvault_engine::{TableRead, ROOT};
use moonvault_pager::frame;
use moonvault_pager::store::{Area, BlobStore};

use crate::open::{CliError, CliResult, Opened};
use crate::units::{bytes, ratio};

fn io(source: std::io::Error) -> CliError {
    CliError::Io {
        path: "<stdout>".into(),
        source,
    }
}

/// Logical and stored bytes of every page frame in the store.
fn page_compression(o: &Opened, branch_size: usize) -> CliResult<(u64, u64, u64)> {
    let (mut frames, mut logical, mut stored) = (0u64, 0u64, 0u64);
    for id in o.file.keys(Area::Pages)? {
        let Some(blob) = o.file.get(Area::Pages, id)? else {
            continue;
        };
        let page =
            frame::decode(id, &blob, branch_size).map_err(moonvault_engine::EngineError::from)?;
        frames += 1;
        logical += page.data.len() as u64;
        stored += blob.len() as u64;
    }
    Ok((frames, logical, stored))
}

fn table_line(out: &mut dyn Write, t: &TableStats, with_indexes: bool) -> CliResult<()> {
    writeln!(
        out,
        "  {:<24} {:>9} {:>10} {:>8} {:>11} {:>11} {:>8}",
        t.name,
        t.records,
        t.entries,
        t.tables,
        bytes(t.logical_bytes),
        bytes(t.stored_bytes),
        ratio(t.logical_bytes, t.stored_bytes),
    )
    .map_err(io)?;
    for i in t.indexes.iter().filter(|_| with_indexes) {
        writeln!(
            out,
            "  {:<24} {:>9} {:>10} {:>8} {:>11} {:>11}",
            format!(
                "  index {}{}",
                i.field,
                if i.unique { " (unique)" } else { "" }
            ),
            "",
            i.entries,
            "",
            "",
            bytes(i.stored_bytes),
        )
        .map_err(io)?;
    }
    Ok(())
}

/// Print the figures of the opened store.
pub fn run(o: &Opened, out: &mut dyn Write) -> CliResult<()> {
    let st = o.store.stats()?;
    let p = &st.db.pager;
    let (frames, logical, stored) = page_compression(o, p.branch_size)?;
    let log = o.file.0.borrow().log_bytes();
    writeln!(out, "store").map_err(io)?;
    writeln!(out, "  page size         {}", p.page_size).map_err(io)?;
    writeln!(out, "  branch size       {}", p.branch_size).map_err(io)?;
    writeln!(
        out,
        "  pages             {} live, {} free or pending",
        p.live_pages, p.free_pages
    )
    .map_err(io)?;
    writeln!(
        out,
        "  page compression  {frames} frames: {} of pages stored in {} ({})",
        bytes(logical),
        bytes(stored),
        ratio(logical, stored)
    )
    .map_err(io)?;
    writeln!(
        out,
        "  WAL               {} records, {} since the last checkpoint",
        st.db.wal_records,
        bytes(st.db.wal_bytes)
    )
    .map_err(io)?;
    writeln!(out, "  log file          {}", bytes(log)).map_err(io)?;
    writeln!(
        out,
        "  catalog           {} indexes, {} schemas, user version {}",
        st.indexes, st.schemas, st.user_version
    )
    .map_err(io)?;

    let snap = o.store.read()?;
    writeln!(
        out,
        "tables (stored sizes are estimates; ratio = logical / stored)"
    )
    .map_err(io)?;
    writeln!(
        out,
        "  {:<24} {:>9} {:>10} {:>8} {:>11} {:>11} {:>8}",
        "table", "records", "entries", "tables", "logical", "stored", "ratio"
    )
    .map_err(io)?;
    // Memory's own line totals everything; indexes are listed per table.
    table_line(out, &snap.table_stats(ROOT)?, false)?;
    for entry in snap.entries(ROOT) {
        if let (_, Value::Table(child)) = entry? {
            table_line(out, &snap.table_stats(child)?, true)?;
        }
    }
    Ok(())
}
