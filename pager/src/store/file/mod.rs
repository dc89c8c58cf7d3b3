//! A log-structured [`BlobStore`] in one directory (native only).
//!
//! # Layout
//! ```text
//! <dir>/LOCK         empty; flock-style exclusive lock held while open
//! <dir>/log          sequence of batches (no file header), then zeros
//! <dir>/log.compact  only during compaction; deleted on open if present
//! ```
//! Each [`BlobStore::write`] writes one batch after the last with a single
//! positioned `write_all`.
//! An in-memory index `(area, key) -> (offset, len)` of every live value is
//! rebuilt by scanning the log on open; `get` reads the value bytes from the
//! file with a positioned read.
//!
//! The batch format is in `batch.rs`, recovery at open in `recovery.rs`,
//! compaction in `compact.rs` (each module's docs describe it).
//!
//! # Durability
//! `write(ops, true)` and `sync()` call `sync_data` on the log. Creating the
//! log also fsyncs the directory. Open fsyncs the log once, so every batch
//! it accepted is durable before a new batch can claim it in `synced_len`.
//!
//! # Preallocation
//! The file is grown ahead of the batches in steps of [`PREALLOCATE_BYTES`]
//! (`set_len`: a hole that reads as zeros), so most batches land inside
//! the file and their `sync_data` need not also commit a new file length
//! (measured on ext4: about a third off a small durable commit). Past the
//! last batch the file holds only zeros: recovery takes an all-zero tail
//! for free space, not a torn batch, and keeps it; a clean close trims it.
//! No format change: a build without preallocation reads the zeros as a
//! torn tail and cuts them off, losing nothing.
//!
//! # Errors
//! A failed append or fsync poisons the store ([`StoreError::Poisoned`]
//! afterwards): reopen it. Out of space while appending (`ENOSPC`, quota,
//! file too large) rolls the file back to its previous length and returns
//! [`StoreError::QuotaExceeded`]; the store stays usable. Out of space
//! reported by an fsync is `Io`, since the kernel may have dropped the data.
//!
//! # Locking
//! `LOCK` is locked with [`File::try_lock`] (an OS lock released when the
//! process dies, even by `kill -9`), so a second opener, in this process or
//! another, gets [`StoreError::Locked`].

use super::{Area, BlobKey, BlobStore, StoreError, StoreResult, WriteOp};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufWriter, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

mod batch;
mod compact;
mod recovery;

use batch::{encode_batch, LoggedOp, OP_HEADER_LEN};

pub use compact::COMPACT_MIN_LOG_BYTES;

const LOG_FILE: &str = "log";
const COMPACT_FILE: &str = "log.compact";
const LOCK_FILE: &str = "LOCK";

/// The step the log file grows by ahead of its batches.
pub const PREALLOCATE_BYTES: u64 = 1 << 20;

/// Where a live value's bytes are in the log.
#[derive(Clone, Copy, Debug)]
struct Loc {
    offset: u64,
    len: u32,
}

/// Where every live value is.
type Index = BTreeMap<(Area, BlobKey), Loc>;

/// The log-structured file store. See the module docs.
pub struct FileStore {
    dir: PathBuf,
    /// The log, opened for reading and appending.
    file: File,
    /// Holds the directory lock for as long as the store lives.
    _lock: File,
    /// Log length: every byte below is part of an accepted batch.
    len: u64,
    /// File length: `len` plus preallocated zeros.
    file_len: u64,
    /// Log bytes known to be fsynced.
    synced_len: u64,
    next_seq: u64,
    index: Index,
    /// Value bytes per area, indexed by `Area::tag`.
    area_bytes: [u64; 3],
    /// What the live blobs occupy as ops (op header + value); the log minus
    /// this is (roughly) what compaction would reclaim.
    live_op_bytes: u64,
    /// Automatic compaction waits until the log reaches this length.
    compact_floor: u64,
    truncated_on_open: u64,
    poisoned: Option<String>,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir)
            .field("log_bytes", &self.len)
            .field("blobs", &self.index.len())
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl FileStore {
    /// Open the store in `dir`, creating the directory and an empty log if
    /// needed, and recover from a torn tail (see the module docs).
    ///
    /// Fails with [`StoreError::Locked`] if the directory is already open,
    /// and [`StoreError::Corrupted`] if durable data is damaged.
    pub fn open(dir: impl AsRef<Path>) -> StoreResult<FileStore> {
        let dir = dir.as_ref().to_path_buf();
        let dir_existed = dir.is_dir();
        fs::create_dir_all(&dir).map_err(io_err("open"))?;
        if !dir_existed {
            if let Some(parent) = dir.parent() {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                sync_dir(parent).map_err(io_err("open"))?;
            }
        }

        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(io_err("open"))?;
        let locked = lock.try_lock();
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    detail: format!(
                        "{} is already open (by another process or another handle in this one); \
                         close it first",
                        dir.display()
                    ),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io_err("lock")(e)),
        }

        // A compaction that never reached its rename: the log is intact.
        match fs::remove_file(dir.join(COMPACT_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("open")(e)),
        }

        let log_path = dir.join(LOG_FILE);
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        let file = match options.clone().create_new(true).open(&log_path) {
            Ok(file) => {
                file.sync_all().map_err(io_err("open"))?;
                sync_dir(&dir).map_err(io_err("open"))?;
                file
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                options.open(&log_path).map_err(io_err("open"))?
            }
            Err(e) => return Err(io_err("open")(e)),
        };

        let mut store = FileStore {
            dir,
            file,
            _lock: lock,
            len: 0,
            file_len: 0,
            synced_len: 0,
            next_seq: 1,
            index: BTreeMap::new(),
            area_bytes: [0; 3],
            live_op_bytes: 0,
            compact_floor: 0,
            truncated_on_open: 0,
            poisoned: None,
        };
        store.recover()?;
        Ok(store)
    }

    /// The directory this store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Current length of the log file in bytes.
    pub fn log_bytes(&self) -> u64 {
        self.len
    }

    /// Bytes of torn tail that open cut off the log (0 after a clean close).
    pub fn truncated_on_open(&self) -> u64 {
        self.truncated_on_open
    }

    /// Update the index and counters for an accepted batch.
    fn apply(&mut self, ops: Vec<LoggedOp>) {
        for op in ops {
            match op {
                LoggedOp::Put { area, key, loc } => {
                    if let Some(old) = self.index.insert((area, key), loc) {
                        self.forget(area, old);
                    }
                    self.area_bytes[area.tag() as usize] += u64::from(loc.len);
                    self.live_op_bytes += (OP_HEADER_LEN as u64) + u64::from(loc.len);
                }
                LoggedOp::Delete { area, key } => {
                    if let Some(old) = self.index.remove(&(area, key)) {
                        self.forget(area, old);
                    }
                }
            }
        }
    }

    fn forget(&mut self, area: Area, old: Loc) {
        let bytes = &mut self.area_bytes[area.tag() as usize];
        *bytes = bytes.saturating_sub(u64::from(old.len));
        self.live_op_bytes = self
            .live_op_bytes
            .saturating_sub((OP_HEADER_LEN as u64) + u64::from(old.len));
    }

    fn check_usable(&self) -> StoreResult<()> {
        match &self.poisoned {
            Some(why) => Err(StoreError::Poisoned {
                detail: why.clone(),
            }),
            None => Ok(()),
        }
    }

    fn poison(&mut self, op: &'static str, e: io::Error) -> StoreError {
        let err = io_err(op)(e);
        self.poisoned = Some(err.to_string());
        err
    }

    /// Grows the file with zeros to hold a batch ending at `end` (one
    /// step of [`PREALLOCATE_BYTES`] or more).
    fn preallocate(&mut self, end: u64) -> io::Result<()> {
        let grown = end.div_ceil(PREALLOCATE_BYTES) * PREALLOCATE_BYTES;
        self.file.set_len(grown)?;
        self.file_len = grown;
        Ok(())
    }

    /// Handle a failed append: roll back if the medium is full, else poison.
    fn failed_append(&mut self, e: io::Error) -> StoreError {
        if is_out_of_space(&e) {
            // Part of the batch may be in the file; cut it off so that
            // "nothing of the refused batch was applied" holds (and the
            // zeros after it, which are no longer zeros).
            match self.file.set_len(self.len) {
                Ok(()) => {
                    self.file_len = self.len;
                    return StoreError::QuotaExceeded {
                        detail: format!("appending to {}: {e}", self.dir.display()),
                    };
                }
                Err(e2) => return self.poison("write", e2),
            }
        }
        self.poison("write", e)
    }
}

impl Drop for FileStore {
    /// A clean close trims the preallocated zeros (best effort: recovery
    /// takes them for free space anyway).
    fn drop(&mut self) {
        if self.file_len > self.len && self.poisoned.is_none() {
            let _ = self.file.set_len(self.len);
        }
    }
}

impl BlobStore for FileStore {
    fn get(&self, area: Area, key: BlobKey) -> StoreResult<Option<Bytes>> {
        self.check_usable()?;
        let Some(loc) = self.index.get(&(area, key)) else {
            return Ok(None);
        };
        let mut value = vec![0; loc.len as usize];
        read_at(&self.file, &mut value, loc.offset).map_err(io_err("get"))?;
        Ok(Some(Bytes::from(value)))
    }

    fn keys_in(&self, area: Area, range: RangeInclusive<BlobKey>) -> StoreResult<Vec<BlobKey>> {
        self.check_usable()?;
        if range.is_empty() {
            // BTreeMap::range panics on a reversed range.
            return Ok(Vec::new());
        }
        Ok(self
            .index
            .range((area, *range.start())..=(area, *range.end()))
            .map(|(&(_, k), _)| k)
            .collect())
    }

    fn write(&mut self, ops: Vec<WriteOp>, durable: bool) -> StoreResult<()> {
        self.check_usable()?;
        let (bytes, logged) = encode_batch(self.next_seq, self.synced_len, &ops, self.len)?;
        let end = self.len + bytes.len() as u64;
        if end > self.file_len {
            if let Err(e) = self.preallocate(end) {
                return Err(self.failed_append(e));
            }
        }
        if let Err(e) = write_at(&self.file, &bytes, self.len) {
            return Err(self.failed_append(e));
        }
        if durable {
            if let Err(e) = self.file.sync_data() {
                return Err(self.poison("write", e));
            }
        }
        self.len += bytes.len() as u64;
        if durable {
            self.synced_len = self.len;
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        self.apply(logged);

        if self.should_compact() && self.compact().is_err() && self.poisoned.is_none() {
            // Failed before its rename: the log is untouched and the batch
            // is in it. Retry once the log has grown by a quarter.
            self.compact_floor = self.len + (self.len / 4).max(COMPACT_MIN_LOG_BYTES);
        }
        // A compaction that failed after its rename poisoned the store; the
        // batch is still safe in the old or the new log.
        self.check_usable()
    }

    fn sync(&mut self) -> StoreResult<()> {
        self.check_usable()?;
        if let Err(e) = self.file.sync_data() {
            return Err(self.poison("sync", e));
        }
        self.synced_len = self.len;
        Ok(())
    }

    fn stored_bytes(&self, area: Area) -> StoreResult<u64> {
        self.check_usable()?;
        Ok(self.area_bytes[area.tag() as usize])
    }
}

// ---- encoding ---------------------------------------------------------

// ---- decoding (untrusted bytes: no panics) ------------------------------

fn corrupted(offset: u64, why: String) -> StoreError {
    StoreError::Corrupted {
        detail: format!("log batch at offset {offset}: {why}"),
    }
}

// ---- platform helpers -------------------------------------------------

fn io_err(op: &'static str) -> impl Fn(io::Error) -> StoreError {
    move |e| StoreError::Io {
        op,
        detail: e.to_string(),
    }
}

/// Out-of-space errors become `QuotaExceeded`; use only where nothing was
/// applied (compaction writes to a scratch file).
fn space_or_io(op: &'static str) -> impl Fn(io::Error) -> StoreError {
    move |e| {
        if is_out_of_space(&e) {
            StoreError::QuotaExceeded {
                detail: format!("{op}: {e}"),
            }
        } else {
            io_err(op)(e)
        }
    }
}

fn is_out_of_space(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge
    )
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.seek_read(&mut buf[done..], offset + done as u64) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Fallback: moves the shared cursor, which is harmless because every
/// read and write seeks first.
#[cfg(not(any(unix, windows)))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(windows)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.seek_write(&buf[done..], offset + done as u64) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.write_all(buf)
}

/// Make a directory's entries (a created or renamed file) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened as files here; renames are durable once
/// the call returns on the platforms this targets.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
