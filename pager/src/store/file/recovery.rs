//! Recovery at open: which batches of the log are accepted.
//!
//! Open scans from offset 0. Where the rest of the file is all zeros, the
//! log ends: that is preallocated space (see the module docs of `file`),
//! kept as it is. Otherwise, at the first batch that is incomplete, has a
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

use super::batch::*;
use super::*;

impl FileStore {
    /// Rebuild the index by scanning the log; truncate a torn tail.
    pub(super) fn recover(&mut self) -> StoreResult<()> {
        let file_len = self.file.metadata().map_err(io_err("open"))?.len();
        // Set last, with `len`: until then `file_len == len == 0`, so a
        // failed open drops the store without trimming anything.
        let mut physical = file_len;
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
                Err(Bad::Torn(_))
                    if zeros_from(&self.file, pos, file_len).map_err(io_err("open"))? =>
                {
                    // Preallocated space: the log ends here.
                    break;
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
                    physical = pos;
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
        self.file_len = physical;
        self.synced_len = pos;
        self.next_seq = last_seq.map_or(1, |s| s.wrapping_add(1));
        Ok(())
    }
}

/// Whether every byte of `file` from `pos` to `file_len` is zero.
fn zeros_from(file: &File, pos: u64, file_len: u64) -> io::Result<bool> {
    const CHUNK: u64 = 1 << 20;
    let mut at = pos;
    let mut buf = Vec::new();
    while at < file_len {
        let n = CHUNK.min(file_len - at) as usize;
        buf.resize(n, 0);
        read_at(file, &mut buf, at)?;
        if buf.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// What the search after damaged bytes found.
pub(super) enum AfterDamage {
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
pub(super) fn find_synced_batch_after(
    file: &File,
    damaged_at: u64,
    file_len: u64,
) -> io::Result<AfterDamage> {
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
