//! The engine's root record, carried as the application bytes of every
//! superblock.
//!
//! The format is drawn once, in DESIGN.md section 4, "Root record";
//! this module is its only reader and writer.
//!
//! (The superblock's own crc32 covers these bytes.)

use crate::error::{EngineError, Result};
use moonvault_pager::PageId;

const MAGIC: [u8; 4] = *b"MVRT";
/// The store format this build writes (and the newest it reads). Format 2
/// adds packed records (engine) and may hold B-tree nodes of the newer
/// leaf format; format 3 adds index entries that carry their record;
/// format 4 adds meta entries that stand for a run of packed records;
/// format 5 adds B-tree leaves with their slot directory after their cells
/// (page kind 5); format 6 adds B-tree branches larger than a page (the
/// superblock's branch size, version 2). Everything of an older format is
/// valid in a newer one, so an older store is read as it is and its root
/// record is rewritten as the current format before its first write
/// transaction (`Db::begin`).
pub const FORMAT: u8 = 6;
const LEN: usize = 24;

/// The durable root of the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RootRecord {
    /// The store's format version (`FORMAT` for a new store).
    pub format: u8,
    /// Root page of the single B-tree holding every key.
    pub tree_root: Option<PageId>,
    /// WAL records up to and including this one are in the tree.
    pub wal_applied: u64,
}

impl RootRecord {
    /// Serialize.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEN);
        out.extend_from_slice(&MAGIC);
        out.push(self.format);
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&self.tree_root.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.wal_applied.to_le_bytes());
        out
    }

    /// Parse; an empty slice is a new store.
    pub fn decode(bytes: &[u8]) -> Result<RootRecord> {
        if bytes.is_empty() {
            return Ok(RootRecord {
                format: FORMAT,
                ..RootRecord::default()
            });
        }
        if bytes.len() != LEN || bytes[..4] != MAGIC {
            return Err(EngineError::corrupted("root record", "bad length or magic"));
        }
        let format = bytes[4];
        if format > FORMAT {
            return Err(EngineError::NewerFormat {
                what: "store",
                found: format,
                supported: FORMAT,
            });
        }
        if format == 0 {
            return Err(EngineError::corrupted("root record", "format version 0"));
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let root = u64_at(8);
        let wal_applied = u64_at(16);
        // The next WAL sequence is wal_applied + 1 (found by the open_store
        // fuzz target: a crafted u64::MAX overflowed it).
        if wal_applied == u64::MAX {
            return Err(EngineError::corrupted(
                "root record",
                "last applied WAL sequence is u64::MAX",
            ));
        }
        Ok(RootRecord {
            format,
            tree_root: (root != 0).then_some(root),
            wal_applied,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for r in [
            RootRecord {
                format: 1,
                ..RootRecord::default()
            },
            RootRecord {
                format: FORMAT,
                tree_root: Some(9),
                wal_applied: 44,
            },
        ] {
            assert_eq!(RootRecord::decode(&r.encode()).unwrap(), r);
        }
        assert!(RootRecord::decode(b"short").is_err());
        assert_eq!(RootRecord::decode(&[]).unwrap().format, FORMAT);
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let mut bytes = RootRecord {
            format: FORMAT,
            ..RootRecord::default()
        }
        .encode();
        bytes[4] = FORMAT + 1;
        let e = RootRecord::decode(&bytes).unwrap_err();
        assert!(matches!(e, EngineError::NewerFormat { found, .. } if found == FORMAT + 1));
        assert!(e.to_string().contains("newer moonvault"), "{e}");
        assert!(e.is_newer_format());
        bytes[4] = 0;
        assert!(matches!(
            RootRecord::decode(&bytes),
            Err(EngineError::Corrupted { .. })
        ));
    }
}
