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

use super::super::table::keyspace::{
    decode_index_entry, encode_record_id, index_entry_key, index_value_prefix, prefix_end, TableId,
};
use crate::codec::{encode_value, Key, Value};
use crate::error::{EngineError, Result};
use crate::kv::KvRead;
use crate::table::field::resolve_key;
use crate::table::{TableRead, Txn};
use std::ops::Bound;

/// One ancestor level of a write that has catalog entries.
pub(crate) struct Level {
    /// The collection table.
    pub table: TableId,
    /// The record of `table` containing the written entry.
    pub record: Key,
    /// Keys from the record down to the written key (`[]`: the record itself).
    pub q: Vec<Key>,
    /// The record's table id when the written entry is inside it.
    pub record_id: Option<TableId>,
}

/// One index entry to move.
struct Change {
    index: u64,
    record: Key,
    old: Option<Key>,
    new: Option<(Key, TableId)>,
}

impl Txn {
    /// The ancestor levels of a write to `table[key]` whose tables have an
    /// index or a schema, nearest first.
    pub(crate) fn levels(&mut self, table: TableId, key: &Key) -> Result<Vec<Level>> {
        let mut out = Vec::new();
        if self.catalog.is_empty() {
            return Ok(out);
        }
        let depth = self.catalog.max_depth();
        // `path` holds the keys from the current level's table down to the
        // written key, innermost last.
        let mut path = vec![key.clone()];
        let mut below: Option<TableId> = None;
        let mut cur = table;
        for level in 0..=depth {
            if self.catalog.has(cur) {
                if let Some((record, q)) = path.split_first() {
                    out.push(Level {
                        table: cur,
                        record: record.clone(),
                        q: q.to_vec(),
                        record_id: below,
                    });
                }
            }
            if level == depth {
                break;
            }
            match self.parent_link(cur)? {
                None => break,
                Some((parent, k)) => {
                    path.insert(0, k);
                    below = Some(cur);
                    cur = parent;
                }
            }
        }
        Ok(out)
    }

    /// Store `new` at `table[key]` (entry key `ek`), whose value was `old`,
    /// moving the affected index entries.
    pub(crate) fn put_entry(
        &mut self,
        table: TableId,
        key: &Key,
        ek: &[u8],
        old: Option<&Value>,
        new: &Value,
    ) -> Result<()> {
        let changes = self.index_changes(table, key, old, Some(new))?;
        self.apply_changes(&changes)?;
        let mut bytes = Vec::with_capacity(new.encoded_len());
        encode_value(new, &mut bytes);
        self.raw_put(ek, &bytes)
    }

    /// Delete `table[key]` (entry key `ek`), whose value was `old`. A table
    /// value must have been emptied first (`drop_table`).
    pub(crate) fn delete_entry(
        &mut self,
        table: TableId,
        key: &Key,
        ek: &[u8],
        old: &Value,
    ) -> Result<()> {
        let changes = self.index_changes(table, key, Some(old), None)?;
        self.apply_changes(&changes)?;
        self.raw_delete(ek).map(drop)
    }

    fn index_changes(
        &mut self,
        table: TableId,
        key: &Key,
        old: Option<&Value>,
        new: Option<&Value>,
    ) -> Result<Vec<Change>> {
        let mut changes = Vec::new();
        let levels = self.levels(table, key)?;
        let catalog = self.catalog.clone();
        for lv in &levels {
            for def in catalog.indexes_on(lv.table) {
                let p = def.field.keys();
                let Some(rest) = p.strip_prefix(lv.q.as_slice()) else {
                    continue;
                };
                let old_k = resolve_key(&self.kv, old, rest)?;
                let new_k = resolve_key(&self.kv, new, rest)?;
                if old_k == new_k {
                    continue;
                }
                let new = match new_k {
                    None => None,
                    Some(k) => {
                        // A scalar under the record means the record is a
                        // table: the one below this level, or the value
                        // written when the record itself is written.
                        let id = match (lv.record_id, new) {
                            (Some(id), _) => id,
                            (None, Some(Value::Table(id))) => *id,
                            _ => {
                                return Err(EngineError::corrupted(
                                    "index",
                                    "an indexed value resolved outside a record",
                                ))
                            }
                        };
                        let ikey = index_entry_key(def.id, &k, &lv.record);
                        if ikey.len() > self.max_key_len {
                            return Err(EngineError::KeyTooLong {
                                what: format!(
                                    "the indexed value of {} in {} record {}",
                                    def.field,
                                    self.table_name(lv.table)?,
                                    show_key(&lv.record)
                                ),
                                len: ikey.len(),
                                max: self.max_key_len,
                            });
                        }
                        if def.unique {
                            if let Some(holder) = unique_holder(&self.kv, def.id, &k)? {
                                if holder != lv.record {
                                    return Err(EngineError::UniqueViolation(Box::new(
                                        crate::error::UniqueViolation {
                                            table: self.table_name(lv.table)?,
                                            field: def.field.to_string(),
                                            value: show_key(&k),
                                            key: show_key(&lv.record),
                                            existing: show_key(&holder),
                                        },
                                    )));
                                }
                            }
                        }
                        Some((k, id))
                    }
                };
                changes.push(Change {
                    index: def.id,
                    record: lv.record.clone(),
                    old: old_k,
                    new,
                });
            }
        }
        Ok(changes)
    }

    fn apply_changes(&mut self, changes: &[Change]) -> Result<()> {
        for c in changes {
            if let Some(old) = &c.old {
                self.raw_delete(&index_entry_key(c.index, old, &c.record))?;
            }
            if let Some((new, id)) = &c.new {
                self.raw_put(
                    &index_entry_key(c.index, new, &c.record),
                    &encode_record_id(*id),
                )?;
            }
        }
        Ok(())
    }
}

/// The record holding `value` in index `index`, if any (the first one).
pub(crate) fn unique_holder(kv: &dyn KvRead, index: u64, value: &Key) -> Result<Option<Key>> {
    let prefix = index_value_prefix(index, value);
    let end = prefix_end(&prefix);
    let mut range = kv.range(
        Bound::Included(&prefix),
        end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        false,
    );
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
