//! Table metas: where each table hangs (its parent and its key there) and
//! whether it is a packed record. One meta entry stands for one table, or
//! for a run of packed records created in order (format 4).
//!
//! The layout and its invariant are drawn in DESIGN.md section 5, "Meta
//! runs"; the byte encoding is [`keyspace`](super::keyspace)'s. This module
//! is the only one that reads or writes meta entries: every table but
//! `Memory` is covered by exactly one of them, its own or a run starting
//! below it, and no entry starts inside a run.

use super::field::get_stored;
use super::keyspace::{
    decode_meta, decode_meta_key, encode_meta, meta_key, KeyBuf, MetaEntry, META_PREFIX,
};
use super::keyspace::{TableId, ROOT};
use super::write::Txn;
use crate::codec::{varint, Key, Stored, Value};
use crate::error::{EngineError, Result};
use crate::kv::KvRead;
use smallvec::SmallVec;

/// A table's parent link: its parent, its key there, and whether it is a
/// packed record.
pub(crate) type Link = (TableId, Key, bool);

/// The meta entry covering `table` and the id it starts at: the last
/// entry at or below `table`'s meta key, if `table` lies within it.
fn covering(kv: &dyn KvRead, table: TableId) -> Result<Option<(TableId, MetaEntry)>> {
    let key = meta_key(table);
    let mut found = None;
    kv.floor_with(&META_PREFIX, &key, &mut |k, v| {
        let first = decode_meta_key(k)?;
        found = Some((first, decode_meta(first, v)?));
        Ok(())
    })?;
    // The entry starts at or below `table` (the bound).
    Ok(found.filter(|(first, meta)| table - first < meta.count))
}

/// The parent link of `table` from its meta; `None` for `Memory` and for
/// a table that does not exist.
pub(crate) fn read_link(kv: &dyn KvRead, table: TableId) -> Result<Option<Link>> {
    if table == ROOT {
        return Ok(None);
    }
    Ok(covering(kv, table)?.map(|(first, meta)| meta.member(table - first)))
}

impl Txn {
    /// Give existing table `id` the link `parent[key]` (it was moved,
    /// or unpacked): it leaves the entry that covered it, then gets its
    /// own (or joins the run just below it).
    pub(crate) fn set_meta(
        &mut self,
        id: TableId,
        parent: TableId,
        key: &Key,
        packed: bool,
    ) -> Result<()> {
        if !packed {
            // A table of entries never joins a run: an entry of its own is
            // rewritten in place (a move of a list of tables writes one
            // entry per table, as before runs).
            if let Some((first, meta)) = covering(&self.kv, id)? {
                if first == id && meta.count == 1 {
                    self.meta_tail = None;
                    let own = MetaEntry::single(parent, key.clone(), false);
                    return self.put_single_meta(id, own);
                }
            }
        }
        self.detach_meta(id)?;
        self.put_new_meta(id, parent, key, packed)
    }

    /// Remove the meta of table `id` (it is deleted), splitting a run
    /// that covered it.
    pub(crate) fn delete_meta(&mut self, id: TableId) -> Result<()> {
        self.detach_meta(id)
    }

    /// Take `id` out of the entry covering it: a single entry is deleted,
    /// a run is split into the part below `id` and the part above it.
    fn detach_meta(&mut self, id: TableId) -> Result<()> {
        // The memo names an entry this may rewrite.
        self.meta_tail = None;
        let Some((first, meta)) = covering(&self.kv, id)? else {
            return Ok(());
        };
        let offset = id - first;
        if offset == 0 {
            self.raw_delete(&meta_key(first))?;
        } else {
            self.raw_put(&meta_key(first), &encode_meta(&meta.head(offset)))?;
        }
        if offset + 1 < meta.count {
            let above = meta.tail(offset + 1);
            self.raw_put(&meta_key(id + 1), &encode_meta(&above))?;
        }
        Ok(())
    }

    /// Write the meta of table `id` at `parent[key]`, where no entry covers
    /// `id` (it was just allocated, or detached): a packed record at an
    /// integer key extends the run (or single packed meta) ending at
    /// `id - 1` if it is that run's next record; anything else gets an
    /// entry of its own.
    pub(crate) fn put_new_meta(
        &mut self,
        id: TableId,
        parent: TableId,
        key: &Key,
        packed: bool,
    ) -> Result<()> {
        // Only a packed record at an integer key can be part of a run.
        let (true, &Key::Int(k)) = (packed, key) else {
            return self.put_single_meta(id, MetaEntry::single(parent, key.clone(), packed));
        };
        // The load's usual step: the run this transaction wrote last takes
        // the next record, in place. Such a run grows in memory until
        // something reads it (a load writes its entry once, not once a
        // record); its first write went to the tree at once (below), so
        // the metas' leaf is copied where the load starts (its page id then
        // lies near the root's, which lazy paging reads ahead together:
        // DESIGN.md section 8).
        if let Some(tail) = &mut self.meta_tail {
            if tail.takes(id, parent, k) {
                tail.grow();
                // Held as the key's latest value (`kv::WriteTxn::put_latest`),
                // counted as a raw write.
                self.mutations += 1;
                let written = self.kv.put_latest(&tail.key, &tail.value);
                if written.is_err() {
                    self.meta_tail = None;
                }
                return written;
            }
        }
        // Otherwise the entry covering `id - 1`, as the store has it, may
        // take it.
        self.meta_tail = None;
        let below = match id.checked_sub(1) {
            Some(prev) if prev != ROOT => {
                covering(&self.kv, prev)?.map(|(f, m)| MetaTail::new(f, m))
            }
            _ => None,
        };
        if let Some(mut tail) = below.filter(|t| t.takes(id, parent, k)) {
            tail.grow();
            self.raw_put(&tail.key, &tail.value)?;
            self.meta_tail = Some(tail);
            return Ok(());
        }
        let tail = MetaTail::new(id, MetaEntry::single(parent, key.clone(), true));
        self.raw_put(&tail.key, &tail.value)?;
        self.meta_tail = Some(tail);
        Ok(())
    }

    fn put_single_meta(&mut self, id: TableId, meta: MetaEntry) -> Result<()> {
        self.raw_put(&meta_key(id), &encode_meta(&meta))
    }
}

/// The packed records' meta entry a transaction wrote last
/// (`Txn::meta_tail`), with its key and value as written, so that a load
/// growing it by one record re-encodes only the count.
pub(crate) struct MetaTail {
    /// The first table the entry stands for.
    first: TableId,
    meta: MetaEntry,
    /// `meta_key(first)`.
    key: KeyBuf,
    /// `encode_meta(&meta)`.
    value: SmallVec<[u8; 32]>,
}

impl MetaTail {
    fn new(first: TableId, meta: MetaEntry) -> MetaTail {
        MetaTail {
            first,
            key: meta_key(first),
            value: SmallVec::from_vec(encode_meta(&meta)),
            meta,
        }
    }

    /// Whether table `id` at `parent[k]` is the entry's next record.
    fn takes(&self, id: TableId, parent: TableId, k: i64) -> bool {
        self.meta.parent == parent
            && self.meta.next_key() == Some(k)
            && self.first.checked_add(self.meta.count) == Some(id)
    }

    /// Stand for one more record: a run's count, which its encoding ends
    /// with, is the only part rewritten.
    fn grow(&mut self) {
        let count = self.meta.count;
        self.meta.count += 1;
        if count == 1 {
            self.value = SmallVec::from_vec(encode_meta(&self.meta));
        } else {
            let head = self.value.len() - varint::encoded_len_u64(count);
            self.value.truncate(head);
            varint::encode_u64_to(self.meta.count, &mut self.value);
        }
        debug_assert_eq!(self.value.as_slice(), encode_meta(&self.meta).as_slice());
    }
}

/// What [`TableRead::check_metas`](super::TableRead::check_metas) found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetaReport {
    /// Tables the meta entries stand for (every table but `Memory`).
    pub tables: u64,
    /// Meta entries.
    pub entries: u64,
    /// Entries that stand for a run of packed records.
    pub runs: u64,
}

/// See [`TableRead::check_metas`](super::TableRead::check_metas).
pub(crate) fn check_metas(kv: &dyn KvRead) -> Result<MetaReport> {
    let bad = |detail: String| EngineError::corrupted("table meta", detail);
    let mut report = MetaReport::default();
    // The first id the next entry may start at.
    let mut free_from = ROOT + 1;
    for entry in kv.scan_prefix(&META_PREFIX) {
        let (k, v) = entry?;
        let first = decode_meta_key(&k)?;
        let meta = decode_meta(first, &v)?;
        if first < free_from {
            return Err(bad(format!(
                "the meta of table {first} lies inside the run before it"
            )));
        }
        report.entries += 1;
        report.runs += u64::from(meta.count > 1);
        for offset in 0..meta.count {
            let table = first + offset;
            let (parent, key, packed) = meta.member(offset);
            let named = match get_stored(kv, parent, &key)? {
                Some(Stored::Record(r)) => packed && r.id == table,
                Some(Stored::Value(Value::Table(id))) => !packed && id == table,
                _ => false,
            };
            if !named {
                return Err(bad(format!(
                    "table {table} is not where its meta says (table {parent}, key {key}{})",
                    if packed { ", packed" } else { "" }
                )));
            }
            report.tables += 1;
        }
        // `first + count - 1` does not overflow (the decoder checks it).
        free_from = (first + (meta.count - 1)).saturating_add(1);
    }
    Ok(report)
}
