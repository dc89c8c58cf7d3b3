//! Sizes: per table (records, logical vs stored bytes, index sizes) and
//! per store (pages, WAL, cache hit rate).
//!
//! Stored bytes of a table are an estimate. The B-tree's pages are shared
//! by neighbouring tables, so the real figure has no owner; instead the
//! table's entries (and each index's) are packed into page-sized leaves in
//! key order by the B-tree's own [`LeafPacker`] (so the estimate follows
//! the leaf format, shared key prefixes included), and each leaf is framed
//! by the pager's own encoder ([`moonvault_pager::frame::encode`], lz4 and
//! header included). That is what the pager would store for these entries
//! in full leaves: it tracks the real compression closely, is independent
//! of other tables, and costs one pass over the table. Real leaves are
//! between a quarter and completely full, so actual usage is somewhat
//! higher; the store-wide `pager.stored_page_bytes` is exact.

use moonvault_btree::{LeafPacker, KIND_LEAF, KIND_OVERFLOW};
use moonvault_pager::frame::{encode, FRAME_HEADER};
use moonvault_pager::Page;

use crate::codec::{Key, Value};
use crate::error::{EngineError, Result};
use crate::kv::DbStats;
use crate::kv::KvRead;
use crate::table::catalog::Catalog;
use crate::table::catalog::IndexDef;
use crate::table::field::FieldPath;
use crate::table::keyspace::{decode_entry_key, entry_prefix, index_prefix, TableId};
use crate::table::lineage::parent_of;

/// Sizes of one table and everything below it.
#[derive(Clone, Debug, PartialEq)]
pub struct TableStats {
    /// The table.
    pub table: TableId,
    /// Its path (`Memory.users`).
    pub name: String,
    /// Entries of the table itself (its records).
    pub records: u64,
    /// Entries of the table and all tables below it.
    pub entries: u64,
    /// Tables below it, itself included.
    pub tables: u64,
    /// Bytes a user would count: per entry, the key (8 per number, 1 per
    /// boolean, the bytes of a string) plus [`Value::logical_size`].
    pub logical_bytes: u64,
    /// Bytes of the entries as B-tree leaves (cells, slots, leaf headers
    /// and shared key prefixes) and overflow values, before compression.
    pub encoded_bytes: u64,
    /// Estimated bytes in the store after page compression (see the module
    /// docs).
    pub stored_bytes: u64,
    /// Indexes defined on the table and the tables below it.
    pub indexes: Vec<IndexStats>,
}

impl TableStats {
    /// Stored bytes per logical byte (0.25 means 4:1 compression).
    pub fn stored_per_logical(&self) -> f64 {
        ratio(self.stored_bytes, self.logical_bytes)
    }

    /// Stored bytes of the data plus its indexes.
    pub fn stored_with_indexes(&self) -> u64 {
        self.stored_bytes + self.indexes.iter().map(|i| i.stored_bytes).sum::<u64>()
    }
}

/// Sizes of one index.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexStats {
    /// The index id.
    pub id: u64,
    /// The indexed table.
    pub table: TableId,
    /// The indexed field.
    pub field: FieldPath,
    /// Whether it is unique.
    pub unique: bool,
    /// Number of entries (records with an indexable value).
    pub entries: u64,
    /// Bytes of its leaves before compression.
    pub encoded_bytes: u64,
    /// Estimated stored bytes.
    pub stored_bytes: u64,
}

/// Store-wide figures.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreStats {
    /// Pages, WAL, commits (from the transactional core).
    pub db: DbStats,
    /// Page reads served from the cache, as a fraction of all page reads
    /// (1.0 when nothing was read yet).
    pub cache_hit_rate: f64,
    /// Number of indexes.
    pub indexes: usize,
    /// Number of tables with a schema.
    pub schemas: usize,
    /// The user schema version.
    pub user_version: u64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Cache hit rate from the pager's counters.
pub(crate) fn hit_rate(db: &DbStats) -> f64 {
    let total = db.pager.cache_hits + db.pager.cache_misses;
    if total == 0 {
        1.0
    } else {
        db.pager.cache_hits as f64 / total as f64
    }
}

/// Bytes a user would count for a key.
fn key_logical_size(k: &Key) -> u64 {
    match k {
        Key::Bool(_) => 1,
        Key::Int(_) | Key::Float(_) => 8,
        Key::Str(s) => s.len() as u64,
    }
}

/// Packs entries into page-sized leaves and frames each as the pager would.
struct PageEstimate {
    page_size: usize,
    packer: LeafPacker,
    encoded: u64,
    stored: u64,
}

impl PageEstimate {
    fn new(page_size: usize) -> PageEstimate {
        PageEstimate {
            page_size,
            packer: LeafPacker::new(page_size),
            encoded: 0,
            stored: 0,
        }
    }

    fn add(&mut self, key: &[u8], value: &[u8]) {
        // Values too large for a quarter page live in overflow pages.
        if !LeafPacker::stays_inline(self.page_size, key.len(), value.len()) {
            for chunk in value.chunks(self.page_size.saturating_sub(16).max(1)) {
                self.stored += frame_len(chunk.to_vec(), KIND_OVERFLOW);
            }
            self.encoded += value.len() as u64;
        }
        if let Some(leaf) = self.packer.push(key, value) {
            self.leaf(leaf);
        }
    }

    fn leaf(&mut self, data: Vec<u8>) {
        self.encoded += data.len() as u64;
        self.stored += frame_len(data, KIND_LEAF);
    }

    fn finish(mut self) -> (u64, u64) {
        if let Some(leaf) = self.packer.finish() {
            self.leaf(leaf);
        }
        (self.encoded, self.stored)
    }
}

fn frame_len(data: Vec<u8>, kind: u8) -> u64 {
    let len = data.len();
    let framed = encode(1, &Page::new(kind, data)).len();
    debug_assert!(framed <= len + FRAME_HEADER);
    framed as u64
}

/// See [`TableRead::table_stats`].
pub(crate) fn table_stats(
    kv: &dyn KvRead,
    catalog: &Catalog,
    page_size: usize,
    name: String,
    table: TableId,
) -> Result<TableStats> {
    let mut stats = TableStats {
        table,
        name,
        records: 0,
        entries: 0,
        tables: 0,
        logical_bytes: 0,
        encoded_bytes: 0,
        stored_bytes: 0,
        indexes: Vec::new(),
    };
    let mut estimate = PageEstimate::new(page_size);
    let mut defs: Vec<IndexDef> = Vec::new();
    // Depth-first over the tables below, with an explicit stack.
    let mut stack = vec![table];
    while let Some(t) = stack.pop() {
        stats.tables += 1;
        defs.extend(catalog.indexes_on(t).iter().cloned());
        let lo = entry_prefix(t);
        for entry in kv.scan_prefix(&lo) {
            let (k, v) = entry?;
            let key = decode_entry_key(&k)?;
            let value = crate::codec::decode_stored(&v)?;
            if t == table {
                stats.records += 1;
            }
            stats.entries += 1;
            stats.logical_bytes += key_logical_size(&key) + value.to_value().logical_size() as u64;
            estimate.add(&k, &v);
            if let crate::codec::Stored::Record(record) = &value {
                // A packed record counts as the table of entries it stands
                // for: one table, its fields as entries.
                let linked = crate::table::packed::packed_record(kv, record.id)?;
                if linked.as_ref() != Some(record) || parent_of(kv, record.id)? != Some((t, key)) {
                    return Err(EngineError::corrupted(
                        "table meta",
                        format!(
                            "packed record {} is stored under table {t} but its meta disagrees",
                            record.id
                        ),
                    ));
                }
                stats.tables += 1;
                stats.entries += record.fields.len() as u64;
                for (fk, fv) in &record.fields {
                    stats.logical_bytes += key_logical_size(fk) + fv.logical_size() as u64;
                }
            } else if let crate::codec::Stored::Value(Value::Table(child)) = value {
                // Follow only consistent links: damaged data cannot loop.
                if parent_of(kv, child)? != Some((t, key)) {
                    return Err(EngineError::corrupted(
                        "table meta",
                        format!(
                            "table {child} is stored under table {t} but its parent link disagrees"
                        ),
                    ));
                }
                stack.push(child);
            }
        }
    }
    (stats.encoded_bytes, stats.stored_bytes) = estimate.finish();
    for def in defs {
        let mut est = PageEstimate::new(page_size);
        let mut entries = 0;
        let lo = index_prefix(def.id);
        for entry in kv.scan_prefix(&lo) {
            let (k, v) = entry?;
            entries += 1;
            est.add(&k, &v);
        }
        let (encoded_bytes, stored_bytes) = est.finish();
        stats.indexes.push(IndexStats {
            id: def.id,
            table: def.table,
            field: def.field,
            unique: def.unique,
            entries,
            encoded_bytes,
            stored_bytes,
        });
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Input, Store, TableRead};
    use crate::testutil::k;

    #[test]
    fn sizes_add_up_and_compress() {
        let store = Store::memory().unwrap();
        let users = store.ensure_path(&[k("users")]).unwrap();
        let mut tx = store.begin().unwrap();
        for i in 0..2000i64 {
            let rec = Input::table([
                ("name", Input::from(format!("User {i}"))),
                ("age", Input::from(20 + i % 50)),
                ("score", Input::from(i * 10)),
            ]);
            tx.set(users, Key::Int(i), rec).unwrap();
        }
        tx.commit().unwrap();
        store.create_index(users, "age", false).unwrap();
        let st = store.read().unwrap().table_stats(users).unwrap();
        assert_eq!(st.name, "Memory.users");
        assert_eq!(st.records, 2000);
        assert_eq!(st.entries, 2000 * 4);
        assert_eq!(st.tables, 2001);
        // Per record: key 8 + table ref 8; name 4 + ~9, age 3 + 8, score 5 + 8.
        assert!(
            (90_000..110_000).contains(&st.logical_bytes),
            "{}",
            st.logical_bytes
        );
        // Packed records and shared key prefixes: the leaves take fewer
        // bytes than a user counts, and lz4 takes off more.
        assert!(
            st.encoded_bytes < st.logical_bytes,
            "{} encoded for {} logical",
            st.encoded_bytes,
            st.logical_bytes
        );
        assert!(st.stored_bytes < st.encoded_bytes, "pages compress");
        assert!(st.stored_per_logical() > 0.0);
        assert_eq!(st.indexes.len(), 1);
        assert_eq!(st.indexes[0].entries, 2000);
        assert!(st.stored_with_indexes() > st.stored_bytes);
        let stats = store.stats().unwrap();
        assert_eq!(stats.indexes, 1);
        assert!((0.0..=1.0).contains(&stats.cache_hit_rate));
        assert!(stats.db.pager.page_size > 0);
    }
}
