//! Compaction: rewriting the log to hold only live blobs.
//!
//! When the log exceeds [`COMPACT_MIN_LOG_BYTES`] and more than half of it
//! is dead (overwritten or deleted blobs, headers), the live blobs are
//! rewritten into `log.compact`, which is fsynced, renamed over `log`, and
//! the directory fsynced. A crash before the rename leaves `log` intact and
//! a stray `log.compact`, which open deletes; after the rename the new log
//! is complete. An automatic compaction that fails before the rename (say,
//! no room for the copy) is abandoned without error and retried only after
//! the log has grown further; [`FileStore::compact`] reports the error.

use super::batch::{encode_batch, LoggedOp, OP_HEADER_LEN};
use super::*;

/// Log bytes below which compaction never runs automatically.
pub const COMPACT_MIN_LOG_BYTES: u64 = 1 << 20;

/// Target payload size of one batch in a compacted log.
pub(super) const COMPACT_BATCH_BYTES: usize = 4 << 20;

impl FileStore {
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
                .write(true)
                .open(self.dir.join(LOG_FILE))
        };
        match swap() {
            Ok(file) => {
                self.file = file;
                self.index = index;
                self.len = new_len;
                self.file_len = new_len;
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
    pub(super) fn write_compacted(&self, path: &Path) -> StoreResult<(Index, u64, u64)> {
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

    pub(super) fn should_compact(&self) -> bool {
        self.len > COMPACT_MIN_LOG_BYTES
            && self.len >= self.compact_floor
            && self.len.saturating_sub(self.live_op_bytes) > self.len / 2
    }
}
