//! `moonvault check`: verify everything stored, layer by layer.
//!
//! Order matters: opening the database recovers it (replays the WAL and
//! writes a checkpoint, which can overwrite a damaged superblock slot and
//! delete old WAL records and page blobs), so the raw pass over the file
//! store runs first, on the bytes exactly as found:
//!
//! 1. the file store's log (batch checksums; a torn tail cut off at open is
//!    reported, since the last commit before it is lost);
//! 2. both superblock slots;
//! 3. every stored page blob: frame checksum, header and decompression,
//!    reachable or not;
//! 4. every WAL record (checksum and op layout);
//!
//! then, through the engine:
//!
//! 5. recovery itself (opening the database);
//! 6. the B-tree: every reachable page and every tree invariant
//!    ([`Db::check`](moonvault_engine::Db::check));
//! 7. tables: every entry of every table reachable from `Memory` decodes
//!    and every parent link agrees;
//! 8. every index against a rebuild from scratch
//!    ([`moonvault_engine::index::verify_index`]).
//!
//! Each problem is printed as it is found and the check goes on where the
//! layers below still work; any problem makes the command exit with 1.

use std::io::Write;
use std::path::Path;

use moonvault_engine::index::verify_index;
use moonvault_engine::kv::{wal, RootRecord};
use moonvault_engine::{TableRead, ROOT};
use moonvault_pager::frame;
use moonvault_pager::store::file::FileStore;
use moonvault_pager::store::{Area, BlobStore, StoreError};
use moonvault_pager::superblock::Superblock;

use crate::open::{open_on, require_store, CliError, CliResult, SharedStore};
use crate::progress;
use crate::units::bytes;

/// Collects findings; problems are printed at once (a later layer may
/// fail in a way that hides them).
struct Report<'w> {
    out: &'w mut dyn Write,
    problems: usize,
}

impl Report<'_> {
    fn line(&mut self, text: impl AsRef<str>) -> CliResult<()> {
        writeln!(self.out, "  {}", text.as_ref()).map_err(stdout_err)
    }

    fn problem(&mut self, text: impl AsRef<str>) -> CliResult<()> {
        self.problems += 1;
        writeln!(self.out, "  PROBLEM: {}", text.as_ref()).map_err(stdout_err)
    }
}

fn stdout_err(source: std::io::Error) -> CliError {
    CliError::Io {
        path: "<stdout>".into(),
        source,
    }
}

/// Check the store in `dir`, writing the report to `out`. Returns an error
/// ([`CliError::CheckFailed`]) when anything is wrong.
pub fn run(dir: &Path, out: &mut dyn Write) -> CliResult<()> {
    require_store(dir)?;
    writeln!(out, "checking {}", dir.display()).map_err(stdout_err)?;
    let mut r = Report { out, problems: 0 };
    check_all(dir, &mut r)?;
    if r.problems == 0 {
        writeln!(r.out, "ok: no problems found").map_err(stdout_err)?;
        Ok(())
    } else {
        Err(CliError::CheckFailed(r.problems))
    }
}

fn check_all(dir: &Path, r: &mut Report<'_>) -> CliResult<()> {
    // 1. The log. A failure here leaves nothing else to read.
    let file = match FileStore::open(dir) {
        Ok(f) => f,
        // In use elsewhere: nothing is known to be wrong with it.
        Err(e @ StoreError::Locked { .. }) => return Err(e.into()),
        Err(e) => return r.problem(format!("the store's log cannot be opened: {e}")),
    };
    r.line(format!(
        "log: {}, batch checksums verified",
        bytes(file.log_bytes())
    ))?;
    if file.truncated_on_open() > 0 {
        r.problem(format!(
            "the log ended in {} of damaged or incomplete batch, cut off at open: \
             the last write before a crash (or damage to the end of the file) is lost",
            bytes(file.truncated_on_open())
        ))?;
    }
    let file = SharedStore(std::rc::Rc::new(std::cell::RefCell::new(file)));

    // 2. Superblocks.
    let mut best: Option<Superblock> = None;
    for slot in 0..2u64 {
        match file.get(Area::Meta, slot)? {
            None => {}
            Some(b) => match Superblock::decode(&b) {
                Ok(sb) => {
                    if best.as_ref().is_none_or(|x| sb.generation > x.generation) {
                        best = Some(sb);
                    }
                }
                Err(e) => r.problem(format!("superblock slot {slot}: {e}"))?,
            },
        }
    }
    let Some(sb) = best else {
        return r.problem("no valid superblock: the store cannot be opened");
    };
    let page_size = sb.page_size as usize;
    // Branches may be larger than a page.
    let branch_size = sb.largest_page() as usize;
    r.line(format!(
        "superblock: generation {}, page size {}, branch size {}, {} pages allocated, {} free",
        sb.generation,
        page_size,
        branch_size,
        sb.next_page_id.saturating_sub(1),
        sb.free.len()
    ))?;

    // 3. Every stored page blob.
    let ids = file.keys(Area::Pages)?;
    let pb = progress::bar(ids.len() as u64, "pages");
    let (mut frames, mut orphans, mut logical, mut stored) = (0u64, 0u64, 0u64, 0u64);
    for id in ids {
        pb.inc(1);
        // Blobs past the allocation mark were spilled by a transaction
        // that never checkpointed; open deletes them unread.
        if id == 0 || id >= sb.next_page_id {
            orphans += 1;
            continue;
        }
        let Some(blob) = file.get(Area::Pages, id)? else {
            continue;
        };
        match frame::decode(id, &blob, branch_size) {
            Ok(page) => {
                frames += 1;
                logical += page.data.len() as u64;
                stored += blob.len() as u64;
            }
            Err(e) => {
                let state = if sb.free.contains(&id) {
                    "a free page"
                } else {
                    "a page in use"
                };
                pb.suspend(|| r.problem(format!("page blob {id} ({state}): {e}")))?;
            }
        }
    }
    pb.finish_and_clear();
    r.line(format!(
        "pages: {frames} frames verified, {} of pages stored in {}{}",
        bytes(logical),
        bytes(stored),
        if orphans > 0 {
            format!(", {orphans} unreferenced (deleted at open)")
        } else {
            String::new()
        }
    ))?;

    // 4. WAL records.
    let applied = match RootRecord::decode(&sb.app) {
        Ok(root) => root.wal_applied,
        Err(e) => {
            r.problem(format!("superblock generation {}: {e}", sb.generation))?;
            0
        }
    };
    let (mut records, mut pending) = (0u64, 0u64);
    for seq in file.keys(Area::Wal)? {
        let Some(rec) = file.get(Area::Wal, seq)? else {
            continue;
        };
        match wal::decode(seq, &rec) {
            Ok(_) => {
                records += 1;
                pending += u64::from(seq > applied);
            }
            Err(e) => r.problem(e.to_string())?,
        }
    }
    r.line(format!(
        "WAL: {records} records verified, {pending} newer than the checkpoint"
    ))?;

    // 5. Recovery.
    let sp = progress::spinner("opening the store");
    let opened = open_on(file);
    sp.finish_and_clear();
    let opened = match opened {
        Ok(o) => o,
        Err(e) => return r.problem(format!("opening the store (recovery) failed: {e}")),
    };
    let db = opened.store.db();

    // 6. The tree.
    let sp = progress::spinner("checking the tree");
    let tree = db.check();
    sp.finish_and_clear();
    match tree {
        Ok(t) => r.line(format!(
            "tree: {} entries, depth {}, {} leaf + {} branch + {} overflow pages",
            t.entries, t.depth, t.leaf_pages, t.branch_pages, t.overflow_pages
        ))?,
        Err(e) => r.problem(format!("tree: {e}"))?,
    }

    // 7. Tables.
    let snap = match opened.store.read() {
        Ok(s) => s,
        Err(e) => return r.problem(format!("reading the catalog: {e}")),
    };
    let sp = progress::spinner("checking tables");
    let tables = snap.table_stats(ROOT);
    sp.finish_and_clear();
    match tables {
        Ok(t) => r.line(format!(
            "tables: {} tables, {} entries decode and link up",
            t.tables, t.entries
        ))?,
        Err(e) => r.problem(format!("tables: {e}"))?,
    }
    let sp = progress::spinner("checking table metas");
    let metas = snap.check_metas();
    sp.finish_and_clear();
    match metas {
        Ok(m) => r.line(format!(
            "metas: {} entries ({} runs of records) link {} tables",
            m.entries, m.runs, m.tables
        ))?,
        Err(e) => r.problem(format!("metas: {e}"))?,
    }

    // 8. Indexes.
    let defs: Vec<_> = snap.catalog().all_indexes().cloned().collect();
    let pb = progress::bar(defs.len() as u64, "indexes");
    let mut good = 0;
    for def in &defs {
        let name = snap
            .table_name(def.table)
            .unwrap_or_else(|_| format!("table {}", def.table));
        match verify_index(&snap, def) {
            Ok(()) => good += 1,
            Err(e) => pb.suspend(|| r.problem(format!("index on {name}({}): {e}", def.field)))?,
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    r.line(format!("indexes: {good} of {} verified", defs.len()))
}
