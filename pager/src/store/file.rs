//! A log-structured [`BlobStore`] in one directory (native only).
//!
//! # Layout
//! ```text
//! <dir>/LOCK         empty; flock-style exclusive lock held while open
//! <dir>/log          append-only sequence of batches (no file header)
//! <dir>/log.compact  only during compaction; deleted on open if present
//! ```
//! Each [`BlobStore::write`] appends one batch with a single `write_all`.
//! An in-memory index `(area, key) -> (offset, len)` of every live value is
//! rebuilt by scanning the log on open; `get` reads the value bytes from the
//! file with a positioned read.
//!
//! # Batch format (all integers little-endian)
//! ```text
//!  0       4     6     8            16             24        28              36        36+P
//!  +-------+-----+-----+------------+--------------+---------+---------------+---------+-------+
//!  | magic | ver | rsv | sequence   | synced_len   | op count| payload len P | ops ... | crc32 |
//!  | MVLB  | u16 | 0   | u64        | u64          | u32     | u64           | P bytes | u32   |
//!  +-------+-----+-----+------------+--------------+---------+---------------+---------+-------+
//!  crc32 (IEEE) covers bytes [0, 36+P): the header and every op.
//!
//!  op:
//!  0     1      2          10          14
//!  +-----+------+----------+-----------+-----------+
//!  | tag | area | key      | value len | value     |
//!  | u8  | u8   | u64      | u32 V     | V bytes   |
//!  +-----+------+----------+-----------+-----------+
//!  tag 1 = put, 2 = delete (a delete has V = 0 and no value bytes);
//!  area is Area::tag().
//! ```
//! - `magic` and `ver` are where every version has them; `ver` changes with
//!   the format. A batch of another version is never truncated away, so an
//!   old build cannot destroy a newer log. Since a newer version may frame
//!   its batches otherwise (length, crc), `ver` is read before the crc:
//!   a version above this build's is [`StoreError::NewerFormat`], unless the
//!   batch passes version 1's crc once `ver` is put back to 1 (then only the
//!   version field is damaged: [`StoreError::Corrupted`]). Version 0 is
//!   `Corrupted`.
//! - `sequence` is the previous batch's plus one (a gap is corruption).
//! - `synced_len` is how many log bytes had been fsynced when the batch was
//!   written. Recovery uses it to tell a torn tail from damage to durable
//!   data (below). It is one field more than a bare batch log needs.
//!
//! # Recovery
//! Open scans from offset 0. At the first batch that is incomplete, has a
//! wrong magic or fails its crc, the scan stops and the file is truncated
//! there (a torn tail from a crash), so the surviving batches are always a
//! prefix of those written. One exception: if an intact batch further on
//! records a `synced_len` beyond the damaged offset, the damaged bytes had
//! been fsynced, so this is not a torn write but damage to durable data.
//! Open then fails with [`StoreError::Corrupted`] and leaves the file as it
//! is rather than silently dropping committed batches. A batch whose crc
//! matches but whose contents do not decode is likewise `Corrupted`. That
//! search reads a bounded number of bytes (four times the tail after the
//! damage plus 64 MiB); a log with more candidate batches than that is
//! `Corrupted` too, never truncated.
//!
//! Values are checked by the crc on open only; `get` returns the bytes on
//! disk (the pager checks its own frame crc on every page load).
//!
//! # Durability
//! `write(ops, true)` and `sync()` call `sync_data` on the log. Creating the
//! log also fsyncs the directory. Open fsyncs the log once, so every batch
//! it accepted is durable before a new batch can claim it in `synced_len`.
//!
//! # Compaction
//! When the log exceeds [`COMPACT_MIN_LOG_BYTES`] and more than half of it
//! is dead (overwritten or deleted blobs, headers), the live blobs are
//! rewritten into `log.compact`, which is fsynced, renamed over `log`, and
//! the directory fsynced. A crash before the rename leaves `log` intact and
//! a stray `log.compact`, which open deletes; after the rename the new log
//! is complete. An automatic compaction that fails before the rename (say,
//! no room for the copy) is abandoned without error and retried only after
//! the log has grown further; [`FileStore::compact`] reports the error.
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
use std::path::{Path, PathBuf};

/// Log bytes below which compaction never runs automatically.
pub const COMPACT_MIN_LOG_BYTES: u64 = 1 << 20;

const LOG_FILE: &str = "log";
const COMPACT_FILE: &str = "log.compact";
const LOCK_FILE: &str = "LOCK";

const MAGIC: [u8; 4] = *b"MVLB";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 36;
/// What every batch version starts with: magic and version.
const ENVELOPE_LEN: usize = 6;
const OP_HEADER_LEN: usize = 14;
const CRC_LEN: usize = 4;
const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;
/// Target payload size of one batch in a compacted log.
const COMPACT_BATCH_BYTES: usize = 4 << 20;

/// Where a live value's bytes are in the log.
#[derive(Clone, Copy, Debug)]
struct Loc {
    offset: u64,
    len: u32,
}

/// Where every live value is.
type Index = BTreeMap<(Area, BlobKey), Loc>;

/// One op as the index sees it: values by location, not content.
#[derive(Debug)]
enum LoggedOp {
    Put { area: Area, key: BlobKey, loc: Loc },
    Delete { area: Area, key: BlobKey },
}

/// A batch that decoded and passed its crc.
#[derive(Debug)]
struct Batch {
    seq: u64,
    synced_len: u64,
    ops: Vec<LoggedOp>,
    end: u64,
}

/// Why the bytes at an offset are not a valid batch.
#[derive(Debug)]
enum Bad {
    /// Looks like a torn or never-completed append: truncatable.
    Torn(String),
    /// Passed the crc (or carries a damaged version field) yet is invalid.
    Invalid(String),
    /// A batch of this newer format version.
    Newer(u16),
}

/// The log-structured file store. See the module docs.
pub struct FileStore {
    dir: PathBuf,
    /// The log, opened for reading and appending.
    file: File,
    /// Holds the directory lock for as long as the store lives.
    _lock: File,
    /// Log length: every byte below is part of an accepted batch.
    len: u64,
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
        options.read(true).append(true);
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

    /// Rewrite the log to hold only live blobs, crash-safely (see the module
    /// docs). Leaves every batch written so far durable.
    pub fn compact(&mut self) -> StoreResult<()> {
        self.check_usable()?;
        let tmp = self.dir.join(COMPACT_FILE);
        let (index, new_len, next_seq) = match self.write_compacted(&tmp) {
            Ok(built) => built,
            Err(e) => {
                // Best effort: open deletes a leftover anyway.
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        // From here on the in-memory state may not match the directory if
        // something fails: poison, and let reopen sort it out.
        let swap = || -> io::Result<File> {
            fs::rename(&tmp, self.dir.join(LOG_FILE))?;
            sync_dir(&self.dir)?;
            OpenOptions::new()
                .read(true)
                .append(true)
                .open(self.dir.join(LOG_FILE))
        };
        match swap() {
            Ok(file) => {
                self.file = file;
                self.index = index;
                self.len = new_len;
                self.synced_len = new_len;
                self.next_seq = next_seq;
                self.compact_floor = 0;
                Ok(())
            }
            Err(e) => Err(self.poison("compact", e)),
        }
    }

    /// Write every live blob into a new file at `path`, fsynced. Returns the
    /// index of the new file, its length and the next sequence number.
    fn write_compacted(&self, path: &Path) -> StoreResult<(Index, u64, u64)> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(space_or_io("compact"))?;
        let mut out = BufWriter::new(file);
        let mut index = BTreeMap::new();
        let mut len = 0u64;
        let mut seq = self.next_seq;
        let mut ops = Vec::new();
        let mut payload = 0usize;
        let mut entries = self.index.iter().peekable();
        while let Some((&(area, key), loc)) = entries.next() {
            let mut value = vec![0; loc.len as usize];
            read_at(&self.file, &mut value, loc.offset).map_err(io_err("compact"))?;
            payload += OP_HEADER_LEN + value.len();
            ops.push(WriteOp::Put {
                area,
                key,
                value: Bytes::from(value),
            });
            if payload >= COMPACT_BATCH_BYTES || entries.peek().is_none() {
                // Everything in this file is durable before it becomes the
                // log, so each batch may claim all bytes before it as synced.
                let (bytes, logged) = encode_batch(seq, len, &ops, len)?;
                out.write_all(&bytes).map_err(space_or_io("compact"))?;
                for op in logged {
                    if let LoggedOp::Put { area, key, loc } = op {
                        index.insert((area, key), loc);
                    }
                }
                len += bytes.len() as u64;
                seq += 1;
                ops.clear();
                payload = 0;
            }
        }
        let file = out
            .into_inner()
            .map_err(|e| space_or_io("compact")(e.into_error()))?;
        file.sync_all().map_err(space_or_io("compact"))?;
        Ok((index, len, seq))
    }

    /// Rebuild the index by scanning the log; truncate a torn tail.
    fn recover(&mut self) -> StoreResult<()> {
        let file_len = self.file.metadata().map_err(io_err("open"))?.len();
        let mut pos = 0u64;
        let mut last_seq: Option<u64> = None;
        while pos < file_len {
            match read_batch(&self.file, pos, file_len).map_err(io_err("open"))? {
                Ok(batch) => {
                    if let Some(prev) = last_seq {
                        if Some(batch.seq) != prev.checked_add(1) {
                            return Err(corrupted(
                                pos,
                                format!("batch sequence {} follows {prev}", batch.seq),
                            ));
                        }
                    }
                    last_seq = Some(batch.seq);
                    pos = batch.end;
                    self.apply(batch.ops);
                }
                Err(Bad::Invalid(why)) => return Err(corrupted(pos, why)),
                Err(Bad::Newer(found)) => {
                    return Err(StoreError::NewerFormat {
                        what: "store's log",
                        found,
                        supported: VERSION,
                    })
                }
                Err(Bad::Torn(why)) => {
                    match find_synced_batch_after(&self.file, pos, file_len)
                        .map_err(io_err("open"))?
                    {
                        AfterDamage::Synced(at) => {
                            return Err(corrupted(
                                pos,
                                format!(
                                    "{why}, but the intact batch at offset {at} shows these \
                                     bytes had been synced; refusing to drop committed data \
                                     (restore from a backup or export)"
                                ),
                            ))
                        }
                        AfterDamage::Undecided { candidates } => {
                            return Err(corrupted(
                                pos,
                                format!(
                                    "{why}, and the {candidates} batch headers after it are too \
                                     many to check whether these bytes had been synced; \
                                     refusing to drop what may be committed data (restore \
                                     from a backup or export)"
                                ),
                            ))
                        }
                        AfterDamage::Torn => {}
                    }
                    self.file.set_len(pos).map_err(io_err("open"))?;
                    self.truncated_on_open = file_len - pos;
                    break;
                }
            }
        }
        // Make what was accepted durable before any new batch can claim so
        // in its `synced_len` (it may be only in the page cache after a
        // process crash), and make the truncation durable before appending.
        // An empty log has neither (its creation was synced by `open`).
        if file_len > 0 {
            self.file.sync_all().map_err(io_err("open"))?;
        }
        self.len = pos;
        self.synced_len = pos;
        self.next_seq = last_seq.map_or(1, |s| s.wrapping_add(1));
        Ok(())
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

    /// Handle a failed append: roll back if the medium is full, else poison.
    fn failed_append(&mut self, e: io::Error) -> StoreError {
        if is_out_of_space(&e) {
            // Part of the batch may be in the file; cut it off so that
            // "nothing of the refused batch was applied" holds.
            match self.file.set_len(self.len) {
                Ok(()) => {
                    return StoreError::QuotaExceeded {
                        detail: format!("appending to {}: {e}", self.dir.display()),
                    }
                }
                Err(e2) => return self.poison("write", e2),
            }
        }
        self.poison("write", e)
    }

    fn should_compact(&self) -> bool {
        self.len > COMPACT_MIN_LOG_BYTES
            && self.len >= self.compact_floor
            && self.len.saturating_sub(self.live_op_bytes) > self.len / 2
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

    fn keys(&self, area: Area) -> StoreResult<Vec<BlobKey>> {
        self.check_usable()?;
        Ok(self
            .index
            .range((area, 0)..=(area, u64::MAX))
            .map(|(&(_, k), _)| k)
            .collect())
    }

    fn write(&mut self, ops: Vec<WriteOp>, durable: bool) -> StoreResult<()> {
        self.check_usable()?;
        let (bytes, logged) = encode_batch(self.next_seq, self.synced_len, &ops, self.len)?;
        // The file is in append mode: this lands at `self.len`.
        if let Err(e) = (&self.file).write_all(&bytes) {
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

/// Encode `ops` as one batch that will start at log offset `base`.
fn encode_batch(
    seq: u64,
    synced_len: u64,
    ops: &[WriteOp],
    base: u64,
) -> StoreResult<(Vec<u8>, Vec<LoggedOp>)> {
    let too_big = |what: String| StoreError::Io {
        op: "write",
        detail: format!("{what}; nothing was written"),
    };
    let op_count = u32::try_from(ops.len()).map_err(|_| {
        too_big(format!(
            "a batch of {} ops exceeds the format's limit",
            ops.len()
        ))
    })?;
    let payload_len: usize = ops
        .iter()
        .map(|op| {
            OP_HEADER_LEN
                + match op {
                    WriteOp::Put { value, .. } => value.len(),
                    WriteOp::Delete { .. } => 0,
                }
        })
        .sum();
    let mut buf = Vec::with_capacity(HEADER_LEN + payload_len + CRC_LEN);
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&VERSION.to_le_bytes());
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&synced_len.to_le_bytes());
    buf.extend_from_slice(&op_count.to_le_bytes());
    buf.extend_from_slice(&(payload_len as u64).to_le_bytes());
    let mut logged = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            WriteOp::Put { area, key, value } => {
                let len = u32::try_from(value.len()).map_err(|_| {
                    too_big(format!(
                        "a blob of {} bytes exceeds the 4 GiB limit",
                        value.len()
                    ))
                })?;
                buf.push(TAG_PUT);
                buf.push(area.tag());
                buf.extend_from_slice(&key.to_le_bytes());
                buf.extend_from_slice(&len.to_le_bytes());
                logged.push(LoggedOp::Put {
                    area: *area,
                    key: *key,
                    loc: Loc {
                        offset: base + buf.len() as u64,
                        len,
                    },
                });
                buf.extend_from_slice(value);
            }
            WriteOp::Delete { area, key } => {
                buf.push(TAG_DELETE);
                buf.push(area.tag());
                buf.extend_from_slice(&key.to_le_bytes());
                buf.extend_from_slice(&0u32.to_le_bytes());
                logged.push(LoggedOp::Delete {
                    area: *area,
                    key: *key,
                });
            }
        }
    }
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    Ok((buf, logged))
}

// ---- decoding (untrusted bytes: no panics) ------------------------------

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Read and check the batch at `pos` of a log `file_len` bytes long.
/// I/O failures are the outer error; bad bytes the inner one.
fn read_batch(file: &File, pos: u64, file_len: u64) -> io::Result<Result<Batch, Bad>> {
    let remaining = file_len.saturating_sub(pos);
    let mut header = [0u8; HEADER_LEN];
    let have = remaining.min(HEADER_LEN as u64) as usize;
    read_at(file, &mut header[..have], pos)?;
    if have < ENVELOPE_LEN {
        return Ok(Err(Bad::Torn(format!(
            "{remaining} bytes at the end are too short for a batch"
        ))));
    }
    if header.get(0..4) != Some(&MAGIC[..]) {
        return Ok(Err(Bad::Torn("no batch magic".into())));
    }
    let version = le_u16(&header, 4).unwrap_or(0);
    if version == VERSION {
        return read_v1(file, pos, file_len, &header);
    }
    // Another version: it may frame its batches otherwise, so its crc
    // cannot be checked first. If the batch passes version 1's crc once the
    // field is put back, only the field is damaged.
    header[4..6].copy_from_slice(&VERSION.to_le_bytes());
    if let Ok(_) | Err(Bad::Invalid(_)) = read_v1(file, pos, file_len, &header)? {
        return Ok(Err(Bad::Invalid(format!(
            "the format version field reads {version}, but the batch checks out as version \
             {VERSION} with it restored: the field is damaged"
        ))));
    }
    if version == 0 {
        return Ok(Err(Bad::Invalid("batch format version 0".into())));
    }
    Ok(Err(Bad::Newer(version)))
}

/// [`read_batch`] for a batch of version 1 whose first `HEADER_LEN` bytes
/// (those present) are `header`.
fn read_v1(
    file: &File,
    pos: u64,
    file_len: u64,
    header: &[u8; HEADER_LEN],
) -> io::Result<Result<Batch, Bad>> {
    let remaining = file_len.saturating_sub(pos);
    if remaining < (HEADER_LEN + CRC_LEN) as u64 {
        return Ok(Err(Bad::Torn(format!(
            "{remaining} bytes at the end are too short for a batch"
        ))));
    }
    let field = |v: Option<u64>| v.unwrap_or(0);
    let reserved = le_u16(header, 6).unwrap_or(0);
    let seq = field(le_u64(header, 8));
    let synced_len = field(le_u64(header, 16));
    let op_count = le_u32(header, 24).unwrap_or(0);
    let payload_len = field(le_u64(header, 28));

    let available = remaining - HEADER_LEN as u64;
    let body_len = match payload_len.checked_add(CRC_LEN as u64) {
        Some(n) if n <= available => n,
        _ => {
            return Ok(Err(Bad::Torn(format!(
                "batch claims {payload_len} payload bytes but only {available} follow"
            ))))
        }
    };
    // body_len <= file length, so it fits in memory terms of the file itself.
    let Ok(body_len) = usize::try_from(body_len) else {
        return Ok(Err(Bad::Torn("batch larger than the address space".into())));
    };
    let mut body = vec![0u8; body_len];
    read_at(file, &mut body, pos + HEADER_LEN as u64)?;
    let payload_end = body_len - CRC_LEN;
    let (Some(payload), Some(stored_crc)) = (body.get(..payload_end), le_u32(&body, payload_end))
    else {
        return Ok(Err(Bad::Torn("batch body cut short".into())));
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(payload);
    if hasher.finalize() != stored_crc {
        return Ok(Err(Bad::Torn("batch checksum mismatch".into())));
    }

    // The crc matched: anything wrong from here on is not a torn write.
    if reserved != 0 {
        return Ok(Err(Bad::Invalid(format!(
            "reserved header field is {reserved:#x}"
        ))));
    }
    if synced_len > pos {
        return Ok(Err(Bad::Invalid(format!(
            "batch claims {synced_len} synced bytes before its own offset"
        ))));
    }
    let ops = match decode_ops(payload, op_count, pos + HEADER_LEN as u64) {
        Ok(ops) => ops,
        Err(why) => return Ok(Err(Bad::Invalid(why))),
    };
    Ok(Ok(Batch {
        seq,
        synced_len,
        ops,
        end: pos + HEADER_LEN as u64 + body_len as u64,
    }))
}

/// Decode the ops of a crc-checked payload starting at log offset `base`.
fn decode_ops(payload: &[u8], op_count: u32, base: u64) -> Result<Vec<LoggedOp>, String> {
    // Do not trust op_count for the allocation: an op takes >= 14 bytes.
    let mut ops = Vec::with_capacity((op_count as usize).min(payload.len() / OP_HEADER_LEN));
    let mut at = 0usize;
    for i in 0..op_count {
        let head = payload
            .get(at..at.saturating_add(OP_HEADER_LEN))
            .ok_or_else(|| format!("op {i} of {op_count} runs past the payload"))?;
        let tag = head.first().copied().unwrap_or(0);
        let area_tag = head.get(1).copied().unwrap_or(u8::MAX);
        let area = Area::from_tag(area_tag)
            .ok_or_else(|| format!("op {i} names unknown area tag {area_tag}"))?;
        let key = le_u64(head, 2).unwrap_or(0);
        let len = le_u32(head, 10).unwrap_or(0);
        at += OP_HEADER_LEN;
        match tag {
            TAG_PUT => {
                let end = at
                    .checked_add(len as usize)
                    .filter(|&end| end <= payload.len())
                    .ok_or_else(|| format!("op {i}'s {len}-byte value runs past the payload"))?;
                ops.push(LoggedOp::Put {
                    area,
                    key,
                    loc: Loc {
                        offset: base + at as u64,
                        len,
                    },
                });
                at = end;
            }
            TAG_DELETE if len == 0 => ops.push(LoggedOp::Delete { area, key }),
            TAG_DELETE => return Err(format!("delete op {i} carries a {len}-byte value")),
            other => return Err(format!("op {i} has unknown tag {other}")),
        }
    }
    if at != payload.len() {
        return Err(format!(
            "{} bytes follow the last of {op_count} ops",
            payload.len() - at
        ));
    }
    Ok(ops)
}

/// What the search after damaged bytes found.
enum AfterDamage {
    /// An intact batch at this offset shows the bytes had been synced.
    Synced(u64),
    /// No intact batch further on says so: a torn tail.
    Torn,
    /// Candidates cost more reading than the budget allows (a log crafted
    /// with many batch headers): whether the bytes were synced is unknown.
    Undecided { candidates: u64 },
}

/// After damage at `damaged_at`, look for an intact batch further on whose
/// `synced_len` shows the damaged bytes had been fsynced.
///
/// Each candidate (a magic) costs a read up to the end of the file to
/// check its crc, so many headers could make this quadratic. Two bounds:
/// a candidate's header must already claim `damaged_at < synced_len <=
/// its offset` (what an intact batch says, checked before its payload is
/// read), and all candidates together may read at most four times the
/// bytes after the damage plus 64 MiB; past that the answer is
/// `Undecided`, which open reports as damage rather than truncate.
fn find_synced_batch_after(file: &File, damaged_at: u64, file_len: u64) -> io::Result<AfterDamage> {
    const CHUNK: u64 = 1 << 20;
    let mut budget = (file_len - damaged_at)
        .saturating_mul(4)
        .saturating_add(64 << 20);
    let mut candidates = 0u64;
    let mut start = damaged_at + 1;
    while start + MAGIC.len() as u64 <= file_len {
        let n = CHUNK.min(file_len - start) as usize;
        let mut buf = vec![0u8; n];
        read_at(file, &mut buf, start)?;
        for (i, window) in buf.windows(MAGIC.len()).enumerate() {
            if window != MAGIC {
                continue;
            }
            let candidate = start + i as u64;
            let mut header = [0u8; HEADER_LEN];
            let have = (file_len - candidate).min(HEADER_LEN as u64) as usize;
            read_at(file, &mut header[..have], candidate)?;
            let synced = le_u64(&header, 16).unwrap_or(0);
            if have < HEADER_LEN || synced <= damaged_at || synced > candidate {
                continue;
            }
            candidates += 1;
            let cost = file_len - candidate;
            if cost > budget {
                return Ok(AfterDamage::Undecided { candidates });
            }
            budget -= cost;
            if let Ok(batch) = read_batch(file, candidate, file_len)? {
                if batch.synced_len > damaged_at {
                    return Ok(AfterDamage::Synced(candidate));
                }
            }
        }
        // Overlap chunks so a magic straddling the boundary is seen.
        start += (n - (MAGIC.len() - 1)) as u64;
    }
    Ok(AfterDamage::Torn)
}

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

/// Fallback: moves the shared cursor, which is harmless because the log is
/// opened in append mode (writes ignore the cursor).
#[cfg(not(any(unix, windows)))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
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
