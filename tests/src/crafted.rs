//! Crafted stores: blobs whose checksums are recomputed after they were
//! changed, so they reach the decoders past the crc32 checks, as a hostile
//! writer's would. Used by the attack tests and the fuzz targets.
//!
//! A store is written as a flat byte string (the fuzz targets' input
//! format) so a corpus can be made from real stores:
//!
//! ```text
//! repeated: area u8 (0 meta, 1 pages, 2 wal; taken mod 3)
//!           key u16 LE, length u16 LE, that many bytes (fewer at the end)
//! ```

use moonvault_engine::{Db, KvRead, Options, Store, TableRead, ROOT};
use moonvault_pager::store::memory::MemoryStore;
use moonvault_pager::store::{Area, BlobStore, WriteOp};
use moonvault_pager::PagerConfig;
use std::ops::Bound;

/// Recompute the crc32 trailer (last 4 bytes) over every preceding byte:
/// the superblock's, a WAL record's and an export file's framing.
pub fn fix_trailer(bytes: &mut [u8]) {
    if bytes.len() < 4 {
        return;
    }
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
}

/// Make a page frame consistent for page `id`: page id, stored length and
/// the crc32 over the header and payload.
pub fn fix_frame(bytes: &mut [u8], id: u64) {
    const HEADER: usize = 28;
    if bytes.len() < HEADER {
        return;
    }
    bytes[8..16].copy_from_slice(&id.to_le_bytes());
    let stored = (bytes.len() - HEADER) as u32;
    bytes[16..20].copy_from_slice(&stored.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[..24]);
    crc.update(&bytes[HEADER..]);
    let crc = crc.finalize();
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
}

/// Fix the checksums of one blob as its area frames it.
pub fn fix_blob(area: Area, key: u64, bytes: &mut [u8]) {
    match area {
        Area::Pages => fix_frame(bytes, key),
        Area::Meta | Area::Wal => fix_trailer(bytes),
    }
}

/// Every blob of `store`, in the flat format of the module docs (blobs
/// over 64 KiB or keys over u16 are left out).
pub fn encode_store(store: &MemoryStore) -> Vec<u8> {
    let mut out = Vec::new();
    for area in [Area::Meta, Area::Pages, Area::Wal] {
        for key in store.keys(area).expect("keys") {
            let Some(value) = store.get(area, key).expect("get") else {
                continue;
            };
            let (Ok(k), Ok(len)) = (u16::try_from(key), u16::try_from(value.len())) else {
                continue;
            };
            out.push(area.tag());
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&value);
        }
    }
    out
}

/// A memory store holding the blobs `data` describes, each with its
/// checksums fixed up (the fuzz input format of the module docs).
pub fn decode_store(mut data: &[u8]) -> MemoryStore {
    let mut ops = Vec::new();
    while let [area, k0, k1, l0, l1, rest @ ..] = data {
        let area = Area::from_tag(area % 3).unwrap_or(Area::Pages);
        let key = u64::from(u16::from_le_bytes([*k0, *k1]));
        let len = usize::from(u16::from_le_bytes([*l0, *l1])).min(rest.len());
        let mut value = rest[..len].to_vec();
        fix_blob(area, key, &mut value);
        ops.push(WriteOp::Put {
            area,
            key,
            value: value.into(),
        });
        data = &rest[len..];
    }
    let mut store = MemoryStore::new();
    if !ops.is_empty() {
        store.write(ops, true).expect("memory store write");
    }
    store
}

/// Small pages, a small cache: what the crafted stores are built with.
pub fn small_options() -> Options {
    Options {
        pager: PagerConfig {
            page_size: 1024,
            branch_pages: 1,
            cache_bytes: 16 * 1024,
            ..PagerConfig::default()
        },
        ..Options::default()
    }
}

/// Open `store` and read all of it: every tree entry, the tree check, the
/// catalog and the table walk from the root. The first error, as text.
pub fn read_all(store: Box<dyn BlobStore>) -> Result<usize, String> {
    let db = Db::open(store, small_options()).map_err(|e| e.to_string())?;
    let mut entries = 0;
    {
        let snap = db.read().map_err(|e| e.to_string())?;
        for entry in snap.range(Bound::Unbounded, Bound::Unbounded, false) {
            entry.map_err(|e| e.to_string())?;
            entries += 1;
        }
        let mut back = 0;
        for entry in snap.range(Bound::Unbounded, Bound::Unbounded, true) {
            entry.map_err(|e| e.to_string())?;
            back += 1;
        }
        if back != entries {
            return Err(format!("{entries} entries forward, {back} backward"));
        }
    }
    db.check().map_err(|e| e.to_string())?;
    let store = Store::open(db).map_err(|e| e.to_string())?;
    let snap = store.read().map_err(|e| e.to_string())?;
    snap.table_stats(ROOT).map_err(|e| e.to_string())?;
    Ok(entries)
}
