//! Index maintenance on every entry write, in the writing transaction.
//!
//! An index on collection table `C` with field path `P = [p1..pn]` holds,
//! for each record `r` of `C` (an entry whose value is a table), the scalar
//! at `P` inside `r`. A write to entry `(X, k)` changes that scalar only if
//! the entry lies on the path: with `q` the keys from the record down to
//! `k` (`q = []` when `X == C`: the record itself is written), `q` must be
//! a prefix of `P`. So a write walks up from `X` through the parent links,
//! at most `max_depth` levels (the longest index path or schema nesting in
//! the catalog), and for each level whose table has indexes compares the
//! indexed scalar before and after: `old = resolve(old value, P[|q|..])`,
//! `new = resolve(new value, P[|q|..])`. When they differ the entry
//! `(old, r)` is deleted and `(new, r)` inserted.
//!
//! Every check (unique, key length) runs before the first byte of the step
//! is written, so a refused single-field write leaves nothing behind.
//!
//! An entry of level 0 (the record itself written) whose new value is a
//! small packed record carries that record ([`carried`]), so its value
//! follows every change of the record, not only of the indexed scalar:
//! with the key unchanged, the entry is rewritten in place when the
//! record it carries changes, and written with the id alone when the
//! record stops being carried (unpacked, or grown past the limit).

use super::super::table::keyspace::{
    decode_index_entry, index_entry_key, index_value_prefix, KeyBuf, TableId, MAX_COVERED_RECORD,
};
use crate::codec::{Key, Stored, Value};
use crate::error::{EngineError, Result};
use crate::kv::KvRead;
use crate::table::field::resolve_key;
use crate::table::packed::max_packed_bytes;
use crate::table::{TableRead, Txn};
use smallvec::SmallVec;

/// One ancestor level of a write that has catalog entries.
pub(crate) struct Level {
    /// The collection table.
    pub table: TableId,
    /// The record of `table` containing the written entry.
    pub record: Key,
    /// Keys from the record down to the written key (`[]`: the record itself).
    pub q: SmallVec<[Key; 2]>,
}

/// A level of a write as `index_change` needs it, borrowed.
struct LevelRef<'a> {
    table: TableId,
    record: &'a Key,
    record_id: Option<TableId>,
}

/// The value a write leaves, as [`Txn::index_changes`] takes it.
#[derive(Clone, Copy)]
pub(crate) struct Written<'a> {
    /// `None`: the entry is deleted.
    value: Option<&'a Stored>,
    /// Its encoding, when the caller made it.
    encoded: Option<&'a [u8]>,
    /// A table known to have no entries.
    empty: bool,
}

impl<'a> Written<'a> {
    /// `value` written.
    pub(crate) fn value(value: &'a Stored) -> Written<'a> {
        Written {
            value: Some(value),
            encoded: None,
            empty: false,
        }
    }

    /// `value` written as `encoded`.
    fn encoded(value: &'a Stored, encoded: &'a [u8]) -> Written<'a> {
        Written {
            encoded: Some(encoded),
            ..Written::value(value)
        }
    }

    /// A table created just now, so still empty.
    fn empty_table(value: &'a Stored) -> Written<'a> {
        Written {
            empty: true,
            ..Written::value(value)
        }
    }

    /// The entry deleted.
    fn deleted() -> Written<'a> {
        Written {
            value: None,
            encoded: None,
            empty: false,
        }
    }
}

/// One index entry to move.
pub(crate) struct Change {
    index: u64,
    /// The index is unique: its entries are written at once, because the
    /// unique check of a later write reads them.
    unique: bool,
    record: Key,
    /// The entry to delete (the indexed scalar moved or went).
    old: Option<Key>,
    /// The entry to write: its whole key (made once, for the length check
    /// and the write), with its value (see [`entry_value`]).
    new: Option<(KeyBuf, EntryValue)>,
}

/// An index entry's value as written: the record's id, or the record.
type EntryValue = SmallVec<[u8; 64]>;

/// The index entries one write moves: rarely more than one.
pub(crate) type Changes = SmallVec<[Change; 1]>;

/// The record an index entry of level `lv` carries for a record stored as
/// `value`: a packed record at level 0 (the record itself written) of at
/// most [`MAX_COVERED_RECORD`] bytes. `encoded` is `value`'s encoding
/// when the caller made it (its length is the record's).
fn carried<'a>(
    lv: &LevelRef<'_>,
    value: Option<&'a Stored>,
    encoded: Option<&[u8]>,
) -> Option<&'a Stored> {
    match value {
        Some(stored @ Stored::Record(r)) if lv.record_id.is_none() => {
            let len = encoded.map_or_else(|| r.encoded_len(), <[u8]>::len);
            (len <= MAX_COVERED_RECORD).then_some(stored)
        }
        _ => None,
    }
}

/// The value of an index entry naming record `id`, carrying `record`
/// (whose encoding is `encoded` when the caller made it: copied, not
/// made again).
fn entry_value(id: TableId, record: Option<&Stored>, encoded: Option<&[u8]>) -> EntryValue {
    match (record, encoded) {
        (Some(_), Some(bytes)) => EntryValue::from_slice(bytes),
        (Some(stored), None) => {
            let mut v = EntryValue::new();
            crate::codec::encode_stored_to(stored, &mut v);
            v
        }
        (None, _) => {
            let mut v = EntryValue::new();
            crate::codec::varint::encode_u64_to(id, &mut v);
            v
        }
    }
}

/// Ancestor levels of one write; rarely more than one or two.
pub(crate) type Levels = SmallVec<[Level; 2]>;

impl Txn {
    /// The ancestor levels of a write to `table[key]` whose tables have an
    /// index or a schema, nearest first.
    pub(crate) fn levels(&mut self, table: TableId, key: &Key) -> Result<Levels> {
        let mut out = Levels::new();
        if self.catalog.is_empty() {
            return Ok(out);
        }
        let depth = self.catalog.max_depth();
        // The keys from the current level's table down to the written key,
        // innermost first (reversed when a level is recorded).
        let mut path: SmallVec<[Key; 4]> = SmallVec::new();
        path.push(key.clone());
        let mut cur = table;
        for level in 0..=depth {
            if self.catalog.has(cur) {
                if let Some((record, q)) = path.split_last() {
                    out.push(Level {
                        table: cur,
                        record: record.clone(),
                        q: q.iter().rev().cloned().collect(),
                    });
                }
            }
            if level == depth {
                break;
            }
            match self.parent_link(cur)? {
                None => break,
                Some((parent, k)) => {
                    path.push(k);
                    cur = parent;
                }
            }
        }
        Ok(out)
    }

    /// Store `new` at `table[key]` (entry key `ek`), whose value was `old`,
    /// moving the affected index entries.
    ///
    /// `appended`: the entry is known to be absent and above every entry
    /// of its table (a load in key order; `append.rs`). Its put is then
    /// held back with the index entries (`kv::WriteTxn::put_appended`), so
    /// that a drain builds the table's new leaves in bulk rather than one
    /// splice and a split every few dozen records; but put at once where
    /// the held-back writes share the log's room, and for a value larger
    /// than a packed record's limit (held-back values stay small).
    pub(crate) fn put_entry(
        &mut self,
        table: TableId,
        key: &Key,
        ek: &[u8],
        old: Option<&Stored>,
        new: &Stored,
        appended: bool,
    ) -> Result<()> {
        if let Some((header, body)) = crate::codec::split_encoding(new) {
            self.move_index_entries(table, key, old, Written::value(new))?;
            return self.raw_put_parts(ek, &[header.as_bytes(), body]);
        }
        // Encoded once: an index entry carrying a packed record carries
        // these very bytes.
        let mut bytes = std::mem::take(&mut self.encoded);
        bytes.clear();
        crate::codec::encode_stored_to(new, &mut bytes);
        let held = appended && bytes.len() <= max_packed_bytes(self.page_size);
        // The buffer goes back whatever the outcome.
        let put = self
            .move_index_entries(table, key, old, Written::encoded(new, &bytes))
            .and_then(|()| match held {
                true => self.raw_put_appended(ek, &bytes),
                false => self.raw_put(ek, &bytes),
            });
        self.encoded = bytes;
        put
    }

    /// [`Txn::put_entry`] of a table created just now (so still empty:
    /// nothing inside it can be indexed yet, and resolving index paths into
    /// it needs no lookups).
    pub(crate) fn put_new_table_entry(
        &mut self,
        table: TableId,
        key: &Key,
        ek: &[u8],
        old: Option<&Stored>,
        child: TableId,
    ) -> Result<()> {
        let new = Stored::Value(Value::Table(child));
        self.move_index_entries(table, key, old, Written::empty_table(&new))?;
        self.put_encoded(ek, &new)
    }

    fn put_encoded(&mut self, ek: &[u8], value: &Stored) -> Result<()> {
        if let Some((header, body)) = crate::codec::split_encoding(value) {
            return self.raw_put_parts(ek, &[header.as_bytes(), body]);
        }
        let mut bytes: SmallVec<[u8; 64]> = SmallVec::new();
        crate::codec::encode_stored_to(value, &mut bytes);
        self.raw_put(ek, &bytes)
    }

    /// Delete `table[key]` (entry key `ek`), whose value was `old`: `None`
    /// for a value no index entry can name (a function, or a string longer
    /// than any key; see `Prior::Opaque` in table/write.rs). A table value
    /// must have been emptied first (`drop_table`).
    pub(crate) fn delete_entry(
        &mut self,
        table: TableId,
        key: &Key,
        ek: &[u8],
        old: Option<&Stored>,
    ) -> Result<()> {
        self.move_index_entries(table, key, old, Written::deleted())?;
        self.raw_delete(ek).map(drop)
    }

    /// Move the index entries a write of `table[key]` from `old` to
    /// `written` changes: [`Txn::index_changes`], then
    /// [`Txn::apply_changes`].
    pub(crate) fn move_index_entries(
        &mut self,
        table: TableId,
        key: &Key,
        old: Option<&Stored>,
        written: Written<'_>,
    ) -> Result<()> {
        let mut changes = Changes::new();
        self.index_changes(table, key, old, written, &mut changes)?;
        self.apply_changes(&changes)
    }

    /// Add to `changes` the index entries a write of `written` over `old`
    /// at `table[key]` moves. (Filled, not returned: a change is a few
    /// hundred bytes, which every move would copy.)
    pub(crate) fn index_changes(
        &mut self,
        table: TableId,
        key: &Key,
        old: Option<&Stored>,
        written: Written<'_>,
        changes: &mut Changes,
    ) -> Result<()> {
        if self.catalog.is_empty() {
            return Ok(());
        }
        let catalog = self.catalog.clone();
        // The same walk as `levels`, without materialising the levels: on
        // the hot path of every write. `chain[j]` is table `j` levels above
        // `table` (0 = `table`) with the key it sits under one level up, so
        // the key at level `d` is `key` for 0 and `chain[d - 1].1` above.
        let depth = catalog.max_depth();
        let mut chain: SmallVec<[(TableId, Key); 4]> = SmallVec::new();
        let mut cur = table;
        for d in 0..=depth {
            let defs = catalog.indexes_on(cur);
            if !defs.is_empty() {
                let key_at = |j: usize| if j == 0 { key } else { &chain[j - 1].1 };
                let record = key_at(d);
                let record_id = d.checked_sub(1).map(|j| chain[j].0);
                for def in defs {
                    // q = keys from the record down to `key`, outermost
                    // first: key_{d-1}, ..., key_0. The index path must
                    // start with it.
                    let p = def.field.keys();
                    if p.len() < d || (0..d).any(|i| &p[i] != key_at(d - 1 - i)) {
                        continue;
                    }
                    let rest = &p[d..];
                    let lv = LevelRef {
                        table: cur,
                        record,
                        record_id,
                    };
                    self.index_change(def, &lv, rest, old, written, changes)?;
                }
            }
            if d == depth {
                break;
            }
            // A last level without indexes needs only its table's id, cached
            // with the link: the key is not copied for nothing.
            if d + 1 == depth {
                if let Some((parent, _, _)) = self.cached_link(cur) {
                    if catalog.indexes_on(*parent).is_empty() {
                        break;
                    }
                }
            }
            match self.parent_link(cur)? {
                None => break,
                Some((parent, k)) => {
                    chain.push((cur, k));
                    cur = parent;
                }
            }
        }
        Ok(())
    }

    /// Add to `changes` the move of one index entry for a write seen from
    /// level `lv`, whose remaining index path is `rest`; nothing when the
    /// indexed value stays.
    fn index_change(
        &mut self,
        def: &crate::table::IndexDef,
        lv: &LevelRef<'_>,
        rest: &[Key],
        old: Option<&Stored>,
        written: Written<'_>,
        changes: &mut Changes,
    ) -> Result<()> {
        let Written {
            value: new,
            encoded: new_encoded,
            empty: new_is_empty,
        } = written;
        {
            {
                let old_k = resolve_key(&self.kv, old, rest)?;
                let new_k = if new_is_empty && !rest.is_empty() {
                    None
                } else {
                    resolve_key(&self.kv, new, rest)?
                };
                let carries = carried(lv, new, new_encoded);
                if old_k == new_k {
                    // The entry stays where it is; its value changes only
                    // with the record it carries.
                    if let Some(k) = new_k.filter(|_| carried(lv, old, None) != carries) {
                        changes.push(Change {
                            index: def.id,
                            unique: def.unique,
                            record: lv.record.clone(),
                            old: None,
                            new: Some((
                                index_entry_key(def.id, &k, lv.record),
                                entry_value(record_id(lv, new)?, carries, new_encoded),
                            )),
                        });
                    }
                    return Ok(());
                }
                let new = match new_k {
                    None => None,
                    Some(k) => {
                        let id = record_id(lv, new)?;
                        let ikey = index_entry_key(def.id, &k, lv.record);
                        if ikey.len() > self.max_key_len {
                            return Err(EngineError::KeyTooLong {
                                what: format!(
                                    "the indexed value of {} in {} record {}",
                                    def.field,
                                    self.table_name(lv.table)?,
                                    show_key(lv.record)
                                ),
                                len: ikey.len(),
                                max: self.max_key_len,
                            });
                        }
                        if def.unique {
                            if let Some(holder) = unique_holder(&self.kv, def.id, &k)? {
                                if &holder != lv.record {
                                    return Err(EngineError::UniqueViolation(Box::new(
                                        crate::error::UniqueViolation {
                                            table: self.table_name(lv.table)?,
                                            field: def.field.to_string(),
                                            value: show_key(&k),
                                            key: show_key(lv.record),
                                            existing: show_key(&holder),
                                        },
                                    )));
                                }
                            }
                        }
                        Some((ikey, entry_value(id, carries, new_encoded)))
                    }
                };
                changes.push(Change {
                    index: def.id,
                    unique: def.unique,
                    record: lv.record.clone(),
                    old: old_k,
                    new,
                });
                Ok(())
            }
        }
    }

    /// Write the index entries `changes` move: a non-unique index's held
    /// back to be applied in key order (`kv::WriteTxn::put_deferred`), a
    /// unique index's at once.
    pub(crate) fn apply_changes(&mut self, changes: &[Change]) -> Result<()> {
        for c in changes {
            if let Some(old) = &c.old {
                let key = index_entry_key(c.index, old, &c.record);
                if c.unique {
                    self.raw_delete(&key)?;
                } else {
                    self.raw_delete_deferred(&key)?;
                }
            }
            if let Some((key, value)) = &c.new {
                if c.unique {
                    self.raw_put(key, value)?;
                } else {
                    self.raw_put_deferred(key, value)?;
                }
            }
        }
        Ok(())
    }
}

/// The id of the record an indexed scalar was found in at level `lv`,
/// whose value is now `new`: a scalar under the record means the record is
/// a table, the one below this level, or the value written when the
/// record itself is written.
fn record_id(lv: &LevelRef<'_>, new: Option<&Stored>) -> Result<TableId> {
    match (lv.record_id, new.and_then(Stored::table_id)) {
        (Some(id), _) | (None, Some(id)) => Ok(id),
        (None, None) => Err(EngineError::corrupted(
            "index",
            "an indexed value resolved outside a record",
        )),
    }
}

/// The record holding `value` in index `index`, if any (the first one).
pub(crate) fn unique_holder(kv: &dyn KvRead, index: u64, value: &Key) -> Result<Option<Key>> {
    let prefix = index_value_prefix(index, value);
    let mut range = kv.scan_prefix(&prefix);
    match range.next() {
        Some(entry) => {
            let (k, _) = entry?;
            Ok(Some(decode_index_entry(&k)?.1))
        }
        None => Ok(None),
    }
}

/// A scalar key shown as a Lua value: `42`, `"abc"`, `true`.
pub(crate) fn show_key(k: &Key) -> String {
    match k {
        Key::Str(s) => {
            let text = String::from_utf8_lossy(s);
            let cut: String = text.chars().take(60).collect();
            if cut.len() < text.len() {
                format!("{cut:?}...")
            } else {
                format!("{cut:?}")
            }
        }
        Key::Int(n) => n.to_string(),
        Key::Float(x) => format!("{x:?}"),
        Key::Bool(b) => b.to_string(),
    }
}
