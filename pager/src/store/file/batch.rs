//! The file store's batch format: what one `BlobStore::write` appends.
//!
//! All integers are little-endian.
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

use super::*;

pub(super) const MAGIC: [u8; 4] = *b"MVLB";

pub(super) const VERSION: u16 = 1;

pub(super) const HEADER_LEN: usize = 36;

/// What every batch version starts with: magic and version.
pub(super) const ENVELOPE_LEN: usize = 6;

pub(super) const OP_HEADER_LEN: usize = 14;

pub(super) const CRC_LEN: usize = 4;

pub(super) const TAG_PUT: u8 = 1;

pub(super) const TAG_DELETE: u8 = 2;

/// One op as the index sees it: values by location, not content.
#[derive(Debug)]
pub(super) enum LoggedOp {
    Put { area: Area, key: BlobKey, loc: Loc },
    Delete { area: Area, key: BlobKey },
}

/// A batch that decoded and passed its crc.
#[derive(Debug)]
pub(super) struct Batch {
    pub(super) seq: u64,
    pub(super) synced_len: u64,
    pub(super) ops: Vec<LoggedOp>,
    pub(super) end: u64,
}

/// Why the bytes at an offset are not a valid batch.
#[derive(Debug)]
pub(super) enum Bad {
    /// Looks like a torn or never-completed append: truncatable.
    Torn(String),
    /// Passed the crc (or carries a damaged version field) yet is invalid.
    Invalid(String),
    /// A batch of this newer format version.
    Newer(u16),
}

/// Encode `ops` as one batch that will start at log offset `base`.
pub(super) fn encode_batch(
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

pub(super) fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(super) fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(super) fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Read and check the batch at `pos` of a log `file_len` bytes long.
/// I/O failures are the outer error; bad bytes the inner one.
pub(super) fn read_batch(file: &File, pos: u64, file_len: u64) -> io::Result<Result<Batch, Bad>> {
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
pub(super) fn read_v1(
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
pub(super) fn decode_ops(
    payload: &[u8],
    op_count: u32,
    base: u64,
) -> Result<Vec<LoggedOp>, String> {
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
