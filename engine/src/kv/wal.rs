//! Write-ahead log records: the logical changes of one committed
//! transaction, stored as one blob in `Area::Wal` under its sequence number.
//!
//! The format is drawn once, in DESIGN.md section 4, "WAL record";
//! this module is its only reader and writer.
//!
//! Replay stops at the first record that is missing, short or fails its
//! checksum. If that is the last record, it is a torn tail (never
//! acknowledged) and is dropped; a damaged record *followed by further
//! records* is damage to acknowledged data, and open fails with
//! `Corrupted` (DESIGN.md section 4, "Recovery").
//!
//! Every version keeps the magic, the version byte at 4 and the crc32
//! trailer. The checksum covers the version, so it is checked first: a
//! record whose checksum holds but whose version is newer than [`VERSION`]
//! is [`EngineError::NewerFormat`] (recovery refuses the store rather than
//! take it for a torn write), and a flipped version bit fails the checksum.

use crate::error::{EngineError, Result};

const MAGIC: [u8; 4] = *b"MVWL";
/// The WAL record version this build writes, and the newest it reads.
pub const VERSION: u8 = 1;
const HEADER: usize = 20;
/// Magic, version byte and crc32: what every version has.
const ENVELOPE: usize = 9;
const TAG_PUT: u8 = 1;
const TAG_DELETE: u8 = 2;

/// One logged change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalOp<'a> {
    /// Key set to value.
    Put(&'a [u8], &'a [u8]),
    /// Key removed.
    Delete(&'a [u8]),
}

/// Accumulates the ops of one transaction into a record, in place: the
/// buffer starts with room for the header and keeps room for the crc, so
/// sealing it ([`WalBuffer::into_record`]) fills them in without copying
/// the ops (a second copy would double the log's memory at commit).
#[derive(Debug, Default)]
pub struct WalBuffer {
    /// Empty until the first op; then the header's room, then the ops.
    record: Vec<u8>,
    ops: u32,
}

impl WalBuffer {
    /// Log a put, unless the record would pass `limit` bytes: then nothing
    /// is logged and the answer is false (the transaction commits by
    /// checkpoint). The buffer's capacity never passes `limit` either, so a
    /// transaction's log holds at most `limit` bytes of memory, sealed
    /// record included.
    pub fn put(&mut self, key: &[u8], value: &[u8], limit: usize) -> bool {
        self.put_parts(key, &[value], limit)
    }

    /// [`WalBuffer::put`] of the value made of `parts` one after the other.
    pub fn put_parts(&mut self, key: &[u8], parts: &[&[u8]], limit: usize) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if !self.make_room(9usize.saturating_add(key.len()).saturating_add(len), limit) {
            return false;
        }
        self.record.push(TAG_PUT);
        self.record
            .extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.record.extend_from_slice(key);
        self.record.extend_from_slice(&(len as u32).to_le_bytes());
        for part in parts {
            self.record.extend_from_slice(part);
        }
        self.ops += 1;
        true
    }

    /// Log a delete, unless the record would pass `limit` bytes (as
    /// [`WalBuffer::put`]).
    pub fn delete(&mut self, key: &[u8], limit: usize) -> bool {
        if !self.make_room(5 + key.len(), limit) {
            return false;
        }
        self.record.push(TAG_DELETE);
        self.record
            .extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.record.extend_from_slice(key);
        self.ops += 1;
        true
    }

    /// Room for `op` more bytes, and the crc after them, within `limit`:
    /// doubling, but never past `limit`.
    fn make_room(&mut self, op: usize, limit: usize) -> bool {
        let start = if self.record.is_empty() { HEADER } else { 0 };
        let needed = self
            .record
            .len()
            .saturating_add(start)
            .saturating_add(op)
            .saturating_add(4);
        if needed > limit {
            return false;
        }
        if needed > self.record.capacity() {
            let target = (self.record.capacity() * 2).clamp(needed, limit);
            self.record.reserve_exact(target - self.record.len());
        }
        if start > 0 {
            self.record.resize(HEADER, 0);
        }
        true
    }

    /// Bytes of ops logged so far.
    pub fn len(&self) -> usize {
        self.record.len().saturating_sub(HEADER)
    }

    /// Bytes of memory the log holds (it is built in place).
    pub fn capacity(&self) -> usize {
        self.record.capacity()
    }

    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.ops == 0
    }

    /// Forget everything logged (the transaction commits by checkpoint instead).
    pub fn discard(&mut self) {
        self.record = Vec::new();
        self.ops = 0;
    }

    /// The complete record for sequence number `seq`, sealed in the buffer
    /// itself (its room for the crc was kept by every op).
    pub fn into_record(mut self, seq: u64) -> Vec<u8> {
        if self.record.is_empty() {
            self.record.resize(HEADER, 0);
        }
        let header = &mut self.record[..HEADER];
        header[..4].copy_from_slice(&MAGIC);
        header[4] = VERSION;
        header[5..8].fill(0);
        header[8..16].copy_from_slice(&seq.to_le_bytes());
        header[16..20].copy_from_slice(&self.ops.to_le_bytes());
        let crc = crc32fast::hash(&self.record);
        self.record.extend_from_slice(&crc.to_le_bytes());
        self.record
    }
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Some(head)
}

fn take_u32(bytes: &mut &[u8]) -> Option<usize> {
    take(bytes, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Verify a record stored under `seq` and return its ops.
pub fn decode(seq: u64, record: &[u8]) -> Result<Vec<WalOp<'_>>> {
    let bad = |d: &str| EngineError::corrupted("WAL record", format!("record {seq}: {d}"));
    if record.len() < ENVELOPE {
        return Err(bad("too short"));
    }
    let (body, crc) = record.split_at(record.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(bad("checksum mismatch"));
    }
    if body[..4] != MAGIC {
        return Err(bad("bad magic"));
    }
    match body[4] {
        VERSION => {}
        0 => return Err(bad("format version 0")),
        found => {
            return Err(EngineError::NewerFormat {
                what: "store's WAL record",
                found,
                supported: VERSION,
            })
        }
    }
    if body.len() < HEADER {
        return Err(bad("too short"));
    }
    let mut s = [0u8; 8];
    s.copy_from_slice(&body[8..16]);
    if u64::from_le_bytes(s) != seq {
        return Err(bad("stored under the wrong sequence number"));
    }
    let count = u32::from_le_bytes([body[16], body[17], body[18], body[19]]) as usize;
    let mut rest = &body[HEADER..];
    let mut ops = Vec::with_capacity(count.min(rest.len()));
    for _ in 0..count {
        let tag = take(&mut rest, 1).ok_or_else(|| bad("truncated op"))?[0];
        let klen = take_u32(&mut rest).ok_or_else(|| bad("truncated key length"))?;
        let key = take(&mut rest, klen).ok_or_else(|| bad("truncated key"))?;
        match tag {
            TAG_PUT => {
                let vlen = take_u32(&mut rest).ok_or_else(|| bad("truncated value length"))?;
                let value = take(&mut rest, vlen).ok_or_else(|| bad("truncated value"))?;
                ops.push(WalOp::Put(key, value));
            }
            TAG_DELETE => ops.push(WalOp::Delete(key)),
            _ => return Err(bad("unknown op tag")),
        }
    }
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_corruption_detected() {
        let mut buf = WalBuffer::default();
        assert!(buf.put(b"alpha", b"one", usize::MAX));
        assert!(buf.delete(b"beta", usize::MAX));
        assert!(buf.put(b"", b"", usize::MAX));
        let rec = buf.into_record(7);
        let ops = decode(7, &rec).unwrap();
        assert_eq!(
            ops,
            vec![
                WalOp::Put(b"alpha", b"one"),
                WalOp::Delete(b"beta"),
                WalOp::Put(b"", b"")
            ]
        );
        assert!(decode(8, &rec).is_err());
        for i in 0..rec.len() {
            let mut r = rec.clone();
            r[i] ^= 0x04;
            assert!(decode(7, &r).is_err(), "flip at {i}");
        }
        for len in 0..rec.len() {
            assert!(decode(7, &rec[..len]).is_err(), "truncation at {len}");
        }
    }

    /// `rec` with byte 4 set to `version` and the crc32 trailer redone.
    fn with_version(rec: &[u8], version: u8) -> Vec<u8> {
        let mut r = rec.to_vec();
        r[4] = version;
        let body = r.len() - 4;
        let crc = crc32fast::hash(&r[..body]);
        r[body..].copy_from_slice(&crc.to_le_bytes());
        r
    }

    #[test]
    fn the_record_never_holds_more_than_its_limit() {
        let limit = 1000;
        let mut buf = WalBuffer::default();
        let mut logged = 0;
        while buf.put(b"key", &[7; 40], limit) {
            logged += 1;
            assert!(buf.record.capacity() <= limit, "{}", buf.record.capacity());
        }
        // 52 bytes per op after a 20-byte header, with 4 kept for the
        // crc: 18 fit in 1000, the 19th would pass it.
        assert_eq!((logged, buf.len()), (18, 18 * 52));
        assert!(!buf.delete(&[1; 100], limit));
        assert!(buf.delete(b"k", limit));
        assert_eq!(buf.len(), 18 * 52 + 6);
        // Sealed in place: no second buffer, the capacity still within it.
        let rec = buf.into_record(9);
        assert_eq!(rec.len(), 20 + 18 * 52 + 6 + 4);
        assert!(rec.capacity() <= limit, "{}", rec.capacity());
        assert_eq!(decode(9, &rec).unwrap().len(), 19);
        // One op larger than the limit is refused without a copy.
        let mut empty = WalBuffer::default();
        assert!(!empty.put(b"k", &vec![0; 4096], limit));
        assert_eq!((empty.len(), empty.record.capacity()), (0, 0));
    }

    #[test]
    fn a_value_in_parts_is_logged_as_one() {
        let (mut whole, mut split) = (WalBuffer::default(), WalBuffer::default());
        assert!(whole.put(b"key", b"\x05hello world", usize::MAX));
        assert!(split.put_parts(b"key", &[b"\x05", b"hello", b"", b" world"], usize::MAX));
        // The limit counts every part.
        assert!(!split.put_parts(b"k", &[&[0; 600], &[0; 600]], 1000));
        let rec = split.into_record(1);
        assert_eq!(whole.into_record(1), rec);
        assert_eq!(
            decode(1, &rec).unwrap(),
            vec![WalOp::Put(b"key", b"\x05hello world")]
        );
    }

    #[test]
    fn a_newer_version_is_refused_by_name_and_damage_stays_damage() {
        let mut buf = WalBuffer::default();
        assert!(buf.put(b"k", b"v", usize::MAX));
        let rec = buf.into_record(3);
        for newer in [VERSION + 1, u8::MAX] {
            let e = decode(3, &with_version(&rec, newer)).unwrap_err();
            assert!(
                matches!(e, EngineError::NewerFormat { found, supported: VERSION, .. } if found == newer),
                "{e:?}"
            );
            assert!(e.is_newer_format());
            let text = e.to_string();
            assert!(text.contains("newer moonvault") && text.contains(&newer.to_string()));
            assert!(!text.contains("corrupt"), "{text}");
        }
        assert!(matches!(
            decode(3, &with_version(&rec, 0)),
            Err(EngineError::Corrupted { .. })
        ));
        // The checksum covers the version: a flipped bit is damage, and so
        // is a newer version whose checksum fails (a torn write of it).
        for bit in 0..8 {
            let mut r = rec.clone();
            r[4] ^= 1 << bit;
            assert!(
                matches!(decode(3, &r), Err(EngineError::Corrupted { .. })),
                "bit {bit}"
            );
        }
        let mut torn = with_version(&rec, VERSION + 1);
        torn[10] ^= 1;
        assert!(matches!(
            decode(3, &torn),
            Err(EngineError::Corrupted { .. })
        ));
        // A newer record may be laid out otherwise past its envelope.
        let short = with_version(b"MVWL\0\0\0\0\0", 2);
        assert!(matches!(
            decode(3, &short),
            Err(EngineError::NewerFormat { found: 2, .. })
        ));
    }
}
