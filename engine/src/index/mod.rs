//! Secondary indexes on nested field paths of a table's records.
//!
//! `create_index(users, "profile.address.city")` maps the scalar found at
//! that path inside each record of `users` to the record's key, stored as
//! `02 <index id> <value> <record key> -> <record table id>`, or `-> the
//! record` when it is a small packed record, so a query reads it from the
//! index (see [`crate::table::keyspace`]). Definitions live in the catalog. Entries
//! are kept consistent by every write in the same transaction
//! (`maintain.rs`), built over existing data at creation (`build.rs`), and
//! can be checked against a rebuild from scratch ([`verify_index`]).
//!
//! What is indexed: booleans, integers, floats (not NaN) and strings, with
//! Lua's key equality (`2.0` is `2`). Tables, functions, NaN and missing
//! fields are not indexed; a query still finds such records by scanning.

pub(crate) mod build;
pub(crate) mod maintain;

use crate::codec::{decode_stored_owned, Key, TAG_RECORD};
use crate::error::{EngineError, Result};
use crate::table::catalog::IndexDef;
use crate::table::field::resolve_key;
use crate::table::keyspace::{
    decode_entry_key, decode_index_value, entry_prefix, index_entry_key, index_prefix, TableId,
};
use crate::table::TableRead;

/// Every entry of index `def` as (field value, record key, record table
/// id), in index order. Collects: for checks, tools and tests.
pub fn index_entries<R: TableRead + ?Sized>(
    reader: &R,
    def: &IndexDef,
) -> Result<Vec<(Key, Key, TableId)>> {
    build::index_entries(reader.kv(), def)
}

/// Check index `def` against a rebuild from scratch: every record with a
/// scalar at the field has exactly its entry (with the right record id,
/// and if the entry carries the record, the record exactly as stored),
/// and there are no other entries. Streams; reports the first difference
/// as [`EngineError::Corrupted`].
pub fn verify_index<R: TableRead + ?Sized>(reader: &R, def: &IndexDef) -> Result<()> {
    let kv = reader.kv();
    let mismatch = |detail: String| {
        Err(EngineError::corrupted(
            "index",
            format!(
                "index {} on table {} ({}): {detail}",
                def.id, def.table, def.field
            ),
        ))
    };
    let start = entry_prefix(def.table);
    let mut expected = 0u64;
    for entry in kv.scan_prefix(&start) {
        let (ek, ev) = entry?;
        // What an entry may carry: the record as stored, if packed.
        let packed = (ev.first() == Some(&TAG_RECORD)).then(|| ev.clone());
        let value = decode_stored_owned(ev)?;
        let Some(id) = value.table_id() else { continue };
        let Some(k) = resolve_key(kv, Some(&value), def.field.keys())? else {
            continue;
        };
        let record = decode_entry_key(&ek)?;
        expected += 1;
        let Some(v) = kv.get(&index_entry_key(def.id, &k, &record))? else {
            return mismatch(format!("record {record} with value {k:?} is missing"));
        };
        // An entry may name the record by id alone (written before format
        // 3, or the record is not carried); what it carries must be the
        // record exactly.
        match decode_index_value(&v)? {
            (named, _) if named != id => {
                return mismatch(format!("entry for record {record} names the wrong table"))
            }
            (_, Some(carried)) if Some(carried) != packed.as_deref() => {
                return mismatch(format!(
                    "entry for record {record} carries a record that differs from it"
                ))
            }
            _ => {}
        }
    }
    let start = index_prefix(def.id);
    let actual = kv.count_prefix(&start)?;
    if actual != expected {
        return mismatch(format!("{actual} entries where a rebuild has {expected}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
