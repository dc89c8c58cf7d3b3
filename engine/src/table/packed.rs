//! Packed records: a small table of scalars kept as one value in its
//! parent's entry instead of a key range of entries (format 2).
//!
//! When a table packs: a table literal is assigned (`users[7] = {name =
//! "Ann", age = 31}`) whose entries are 1 to [`MAX_PACKED_FIELDS`] scalars
//! (booleans, numbers, strings) and whose packed encoding takes at most an
//! eighth of a page ([`max_packed_bytes`]: 512 bytes at 4 KiB pages, so the
//! record stays inline in its leaf). An empty literal does not pack: it is
//! usually a collection about to be filled.
//!
//! When it unpacks: a write into the record that it cannot hold (a nested
//! table, a function, a large string, one field too many), an index or a
//! schema defined on it, or a table created inside it. Unpacking writes
//! the fields as entries, the meta without its packed flag and the parent's
//! entry as a table reference, all raw: the logical content does not
//! change, so no index entry or schema is affected. A table of entries
//! never packs again, even when a packable literal replaces its content
//! (it keeps its id and entries; indexes and schemas may hang on it): a
//! record packs at creation and unpacks at most once.
//!
//! Identity: a packed record has a table id and a meta (`00 't' <id>`,
//! with the packed flag) like any table, so proxies, index entries (which
//! carry the record's id), moves and parent walks treat it as a table. Its
//! id is kept when it unpacks and when a literal replaces its content.

use super::input::Input;
use super::keyspace::{entry_key, TableId, ROOT};
use super::meta::read_link;
use super::write::Txn;
use crate::codec::{
    decode_stored, is_packable_value, packed_field_len, packed_header_len, Key, Record, Stored,
    Value,
};
use crate::error::{EngineError, Result};
use crate::index::maintain::{Changes, Written};
use crate::kv::KvRead;

/// Most fields a packed record holds.
pub const MAX_PACKED_FIELDS: usize = 64;

/// Largest packed record, encoded, for a page size: an eighth of a page.
pub fn max_packed_bytes(page_size: usize) -> usize {
    page_size / 8
}

/// The packed record `table` is, or `None` when it is a table of entries
/// (or does not exist). Reads the meta, then the parent's entry.
pub(crate) fn packed_record(kv: &dyn KvRead, table: TableId) -> Result<Option<Record>> {
    match packed_location(kv, table)? {
        Some((parent, key)) => load_record(kv, table, parent, &key).map(Some),
        None => Ok(None),
    }
}

/// Where the packed record `table` is stored (`parent`, `key`), from its
/// meta; `None` for a table of entries (or none at all).
pub(crate) fn packed_location(kv: &dyn KvRead, table: TableId) -> Result<Option<(TableId, Key)>> {
    if table == ROOT {
        return Ok(None);
    }
    Ok(match read_link(kv, table)? {
        Some((parent, key, true)) => Some((parent, key)),
        _ => None,
    })
}

/// The packed record `table` stored at `parent[key]`; anything else there
/// is damage (the meta says the record is there).
pub(crate) fn load_record(
    kv: &dyn KvRead,
    table: TableId,
    parent: TableId,
    key: &Key,
) -> Result<Record> {
    let mut found = None;
    kv.get_with(&entry_key(parent, key), &mut |bytes| {
        found = Some(decode_stored(bytes)?);
        Ok(())
    })?;
    match found {
        Some(Stored::Record(r)) if r.id == table => Ok(r),
        _ => Err(EngineError::corrupted(
            "table meta",
            format!("packed record {table} is not where its meta says (table {parent}, key {key})"),
        )),
    }
}

/// Whether a normalised literal packs, as a record with id `id` (pass
/// `u64::MAX` for one whose id is not allocated yet: the longest id).
pub(crate) fn packs(id: TableId, entries: &[(Key, Input)], page_size: usize) -> bool {
    if entries.is_empty() || entries.len() > MAX_PACKED_FIELDS {
        return false;
    }
    let mut len = packed_header_len(id);
    for (k, input) in entries {
        match input {
            Input::Value(v) if is_packable_value(v) => len += packed_field_len(k, v),
            _ => return false,
        }
    }
    len <= max_packed_bytes(page_size)
}

/// The record of a literal that [`packs`], its keys and values moved in.
pub(crate) fn into_record(id: TableId, entries: Vec<(Key, Input)>) -> Record {
    let fields = entries
        .into_iter()
        .filter_map(|(k, input)| match input {
            Input::Value(v) => Some((k, v)),
            Input::Nil | Input::Table(_) => None,
        })
        .collect();
    Record { id, fields }
}

/// The record a normalised literal packs into (with id `id`), or `None`
/// when it must be a table of entries.
#[cfg(test)]
fn pack_literal(id: TableId, entries: &[(Key, Input)], page_size: usize) -> Option<Record> {
    packs(id, entries, page_size).then(|| into_record(id, entries.to_vec()))
}

/// `record` with `record[key] = input`, or `None` when the result cannot
/// stay packed.
pub(crate) fn with_field(
    record: &Record,
    key: &Key,
    input: &Input,
    page_size: usize,
) -> Option<Record> {
    let mut next = record.clone();
    match (input, record.position(key)) {
        (Input::Nil, Ok(i)) => {
            next.fields.remove(i);
        }
        (Input::Nil, Err(_)) => {}
        (Input::Value(v), at) if is_packable_value(v) => match at {
            Ok(i) => {
                if let Some(slot) = next.fields.get_mut(i) {
                    slot.1 = v.clone();
                }
            }
            Err(i) => {
                if next.fields.len() >= MAX_PACKED_FIELDS {
                    return None;
                }
                next.fields.insert(i, (key.clone(), v.clone()));
            }
        },
        _ => return None,
    }
    (next.encoded_len() <= max_packed_bytes(page_size)).then_some(next)
}

impl Txn {
    /// Where packed record `table` is stored and its content; `None` for a
    /// table of entries. The packed flag is cached with the parent link.
    pub(crate) fn read_packed(&mut self, table: TableId) -> Result<Option<(TableId, Key, Record)>> {
        if !self.is_packed(table)? {
            return Ok(None);
        }
        let Some((parent, key, _)) = self.link(table)? else {
            return Ok(None);
        };
        let record = load_record(&self.kv, table, parent, &key)?;
        Ok(Some((parent, key, record)))
    }

    /// Allocate the id and meta of a packed record about to be written at
    /// `parent[key]`.
    pub(crate) fn new_packed(&mut self, parent: TableId, key: &Key) -> Result<TableId> {
        let id = self.alloc_table_id()?;
        self.put_new_meta(id, parent, key, true)?;
        self.remember_link(id, (parent, key.clone(), true));
        Ok(id)
    }

    /// Turn packed record `record` (at `parent[key]`) into a table of
    /// entries with the same id and content. Raw writes: nothing logical
    /// changes, so no index entry moves and schemas are unaffected; only
    /// the index entries that carried the record are rewritten to name it
    /// by id (the field writes of a table of entries do not keep a carried
    /// copy up to date).
    pub(crate) fn unpack(&mut self, parent: TableId, key: &Key, record: Record) -> Result<()> {
        let id = record.id;
        for (k, v) in &record.fields {
            let mut bytes = Vec::with_capacity(v.encoded_len());
            crate::codec::encode_value(v, &mut bytes);
            self.raw_put(&entry_key(id, k), &bytes)?;
        }
        self.set_meta(id, parent, key, false)?;
        let mut bytes = Vec::with_capacity(10);
        crate::codec::encode_value(&Value::Table(id), &mut bytes);
        self.raw_put(&entry_key(parent, key), &bytes)?;
        self.remember_link(id, (parent, key.clone(), false));
        let (was, now) = (Stored::Record(record), Stored::Value(Value::Table(id)));
        self.move_index_entries(parent, key, Some(&was), Written::value(&now))
    }

    /// Make `table` a table of entries if it is a packed record (before an
    /// index, a schema or a child table is defined on it).
    pub(crate) fn ensure_unpacked(&mut self, table: TableId) -> Result<()> {
        if let Some((parent, key, record)) = self.read_packed(table)? {
            self.unpack(parent, &key, record)?;
        }
        Ok(())
    }

    /// `table[key] = input` when `table` is a packed record: rewrite the
    /// record in its parent's entry (index maintenance included) if it
    /// stays packed and return true; otherwise unpack it and return false
    /// (the caller then writes the entry).
    pub(crate) fn assign_into_packed(
        &mut self,
        table: TableId,
        key: &Key,
        input: &Input,
    ) -> Result<bool> {
        let Some((parent, pkey, record)) = self.read_packed(table)? else {
            return Ok(false);
        };
        match with_field(&record, key, input, self.page_size) {
            Some(next) => {
                if next != record {
                    let ek = entry_key(parent, &pkey);
                    self.put_entry(
                        parent,
                        &pkey,
                        &ek,
                        Some(&Stored::Record(record)),
                        &Stored::Record(next),
                        false,
                    )?;
                }
                Ok(true)
            }
            None => {
                if let Input::Value(v) = input {
                    // The index checks of the field write (key length,
                    // unique) run before unpacking writes anything, so a
                    // refused write leaves the transaction usable.
                    let old = record.get(key).cloned().map(Stored::Value);
                    let new = Stored::Value(v.clone());
                    self.index_changes(
                        table,
                        key,
                        old.as_ref(),
                        Written::value(&new),
                        &mut Changes::new(),
                    )?;
                }
                self.unpack(parent, &pkey, record)?;
                Ok(false)
            }
        }
    }

    /// Forget packed record `record` stored at `table[key]` (its entry is
    /// deleted or replaced by the caller): its meta goes.
    pub(crate) fn drop_packed(&mut self, record: &Record, table: TableId, key: &Key) -> Result<()> {
        match self.link(record.id)? {
            Some((p, k, true)) if p == table && &k == key => {}
            _ => {
                return Err(EngineError::corrupted(
                    "table meta",
                    format!(
                        "packed record {} is stored under table {table} but its meta disagrees",
                        record.id
                    ),
                ))
            }
        }
        self.delete_meta(record.id)?;
        self.forget_link(record.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(n: usize, s: usize) -> Vec<(Key, Input)> {
        (0..n)
            .map(|i| (Key::Int(i as i64), Input::from("x".repeat(s))))
            .collect()
    }

    #[test]
    fn what_packs() {
        assert!(pack_literal(5, &lit(3, 4), 4096).is_some());
        assert!(pack_literal(5, &[], 4096).is_none());
        assert!(pack_literal(5, &lit(MAX_PACKED_FIELDS + 1, 0), 65536).is_none());
        assert!(pack_literal(5, &lit(1, 600), 4096).is_none());
        let nested = vec![(Key::from("t"), Input::table([("a", 1)]))];
        assert!(pack_literal(5, &nested, 4096).is_none());
        let f = vec![(
            Key::from("f"),
            Input::Value(Value::NativeFunction("print".into())),
        )];
        assert!(pack_literal(5, &f, 4096).is_none());
    }

    #[test]
    fn field_writes_keep_order_and_limits() {
        let r = pack_literal(5, &lit(2, 1), 4096).unwrap();
        let r2 = with_field(&r, &Key::from("a"), &Input::from(1), 4096).unwrap();
        assert_eq!(r2.fields.last().unwrap().0, Key::from("a"));
        let r3 = with_field(&r2, &Key::Int(0), &Input::Nil, 4096).unwrap();
        assert_eq!(r3.fields.len(), 2);
        assert!(with_field(&r3, &Key::from("big"), &Input::from("y".repeat(600)), 4096).is_none());
        assert!(with_field(&r3, &Key::from("t"), &Input::empty_table(), 4096).is_none());
    }
}
