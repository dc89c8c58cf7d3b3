//! Creating an index over existing records, and dropping one.

use super::maintain::{show_key, unique_holder};
use crate::codec::{decode_stored, decode_stored_owned, TAG_RECORD};
use crate::error::{EngineError, Result};
use crate::table::catalog::IndexDef;
use crate::table::field::{resolve_key, IntoFieldPath};
use crate::table::keyspace::{
    decode_entry_key, decode_record_id, encode_index_def, encode_record_id, entry_prefix,
    index_def_key, index_entry_key, index_prefix, TableId, MAX_COVERED_RECORD,
};
use crate::table::{TableRead, Txn};
use crate::KvRead;

/// An index build reports its progress every this many entries.
const PROGRESS_EVERY: u64 = 1024;

impl Txn {
    /// Create an index on `table`'s records at `field` (`"age"`,
    /// `"profile.address.city"`), built now over the existing records and
    /// maintained by every later write. With `unique`, two records may not
    /// share a value (existing duplicates make this fail).
    ///
    /// Creating an index that exists with the same `unique` returns it; with
    /// a different one is an [`EngineError::IndexExists`].
    pub fn create_index(
        &mut self,
        table: TableId,
        field: impl IntoFieldPath,
        unique: bool,
    ) -> Result<IndexDef> {
        self.create_index_reporting(table, field, unique, None)
    }

    /// [`Txn::create_index`], calling `progress(done, total)` while the
    /// index is built: `total` is the number of entries of `table`, `done`
    /// how many of them were visited (every 1,024 entries, and
    /// once at the end with `done == total`). The JS API's `onProgress`
    /// and any front end's progress bar read these figures.
    pub fn create_index_reporting(
        &mut self,
        table: TableId,
        field: impl IntoFieldPath,
        unique: bool,
        progress: Option<&mut dyn FnMut(u64, u64)>,
    ) -> Result<IndexDef> {
        let field = field.into_field_path()?;
        self.guard(|tx| {
            tx.ensure_exists(table)?;
            if let Some(existing) = tx.catalog.index(table, &field) {
                if existing.unique == unique {
                    return Ok(existing.clone());
                }
                return Err(EngineError::IndexExists {
                    table: tx.table_name(table)?,
                    field: field.to_string(),
                    unique: existing.unique,
                });
            }
            let def_key = index_def_key(table, field.keys());
            if def_key.len() > tx.max_key_len {
                return Err(EngineError::KeyTooLong {
                    what: format!("index field path {field}"),
                    len: def_key.len(),
                    max: tx.max_key_len,
                });
            }
            let id = tx.alloc_index_id()?;
            let def = IndexDef {
                id,
                table,
                field,
                unique,
            };
            // A packed record has no catalog entries (it has no records
            // either, so this writes nothing an error could strand).
            tx.ensure_unpacked(table)?;
            tx.build(&def, progress)?;
            tx.raw_put(&def_key, &encode_index_def(id, unique))?;
            tx.catalog_mut().add_index(def.clone());
            Ok(def)
        })
    }

    /// Fill index `def` from `def.table`'s records.
    fn build(
        &mut self,
        def: &IndexDef,
        mut progress: Option<&mut dyn FnMut(u64, u64)>,
    ) -> Result<()> {
        let start = entry_prefix(def.table);
        // Counting visits the table's leaves once more: only when asked.
        let total = match progress {
            Some(_) => self.len(def.table)?,
            None => 0,
        };
        let mut done = 0u64;
        if let Some(report) = progress.as_mut() {
            report(0, total);
        }
        let mut cursor = self.kv.prefix_cursor(&start);
        while let Some((ek, ev)) = self.kv.cursor_next(&mut cursor)? {
            done += 1;
            if done.is_multiple_of(PROGRESS_EVERY) {
                if let Some(report) = progress.as_mut() {
                    report(done, total.max(done));
                }
            }
            // A small packed record is carried by its entries (see
            // `maintain::carried`): its value as stored is theirs.
            let (value, carried) =
                if ev.first() == Some(&TAG_RECORD) && ev.len() <= MAX_COVERED_RECORD {
                    (decode_stored(&ev)?, Some(ev))
                } else {
                    (decode_stored_owned(ev)?, None)
                };
            let Some(record_id) = value.table_id() else {
                continue;
            };
            let Some(k) = resolve_key(&self.kv, Some(&value), def.field.keys())? else {
                continue;
            };
            let record = decode_entry_key(&ek)?;
            let ikey = index_entry_key(def.id, &k, &record);
            if ikey.len() > self.max_key_len {
                return Err(EngineError::KeyTooLong {
                    what: format!(
                        "the indexed value of {} in {} record {}",
                        def.field,
                        self.table_name(def.table)?,
                        show_key(&record)
                    ),
                    len: ikey.len(),
                    max: self.max_key_len,
                });
            }
            if def.unique {
                if let Some(holder) = unique_holder(&self.kv, def.id, &k)? {
                    return Err(EngineError::UniqueViolation(Box::new(
                        crate::error::UniqueViolation {
                            table: self.table_name(def.table)?,
                            field: def.field.to_string(),
                            value: show_key(&k),
                            key: show_key(&record),
                            existing: show_key(&holder),
                        },
                    )));
                }
            }
            let entry = carried.unwrap_or_else(|| encode_record_id(record_id));
            if def.unique {
                self.raw_put(&ikey, &entry)?;
            } else {
                // Records come in key order, their entries in any: held
                // back, they are applied in theirs.
                self.raw_put_deferred(&ikey, &entry)?;
            }
        }
        if let Some(report) = progress.as_mut() {
            report(done, done);
        }
        Ok(())
    }

    /// Drop the index on `table` at `field`; returns whether one existed.
    pub fn drop_index(&mut self, table: TableId, field: impl IntoFieldPath) -> Result<bool> {
        let field = field.into_field_path()?;
        self.guard(|tx| match tx.catalog.index(table, &field).cloned() {
            Some(def) => tx.drop_index_def(&def).map(|()| true),
            None => Ok(false),
        })
    }

    /// Delete an index's definition and every entry of it.
    pub(crate) fn drop_index_def(&mut self, def: &IndexDef) -> Result<()> {
        let start = index_prefix(def.id);
        let mut cursor = self.kv.prefix_cursor(&start);
        // Values are not decoded: a damaged index must still be droppable.
        while let Some((k, _)) = self.kv.cursor_next(&mut cursor)? {
            self.raw_delete(&k)?;
        }
        self.raw_delete(&index_def_key(def.table, def.field.keys()))?;
        self.catalog_mut().remove_index(def.table, def.id);
        Ok(())
    }
}

/// Every entry of index `def` (see [`super::index_entries`]).
pub(crate) fn index_entries(
    kv: &dyn KvRead,
    def: &IndexDef,
) -> Result<Vec<(crate::codec::Key, crate::codec::Key, TableId)>> {
    let start = index_prefix(def.id);
    let mut out = Vec::new();
    for entry in kv.scan_prefix(&start) {
        let (k, v) = entry?;
        let (value, record) = crate::table::keyspace::decode_index_entry(&k)?;
        out.push((value, record, decode_record_id(&v)?));
    }
    Ok(out)
}
