//! Reading tables: the [`TableRead`] trait shared by snapshots
//! ([`Snapshot`](super::Snapshot)) and the write transaction
//! ([`Txn`](super::Txn)), and detached entry cursors.

use std::ops::Bound;

use moonvault_btree::Cursor;
use smallvec::SmallVec;

use super::catalog::{Catalog, IndexDef};
use super::field::{decode_lent, get_stored, get_value, resolve, FieldRead};
use super::keyspace::{
    decode_entry_key, decode_key_exact, decode_u64, entry_prefix, prefix_end, KeyBuf, TableId,
    FIRST_TABLE_ID, KEY_NEXT_TABLE, KEY_USER_VERSION, ROOT,
};
use super::lineage::{name_of_path, parent_of};
use super::meta::{check_metas, read_link, MetaReport};
use super::packed::packed_record;
use crate::codec::{Key, Record, Stored, Value};
use crate::error::{EngineError, Result};
use crate::kv::KvRead;
use crate::query::{Plan, Query, QueryCursor};
use crate::schema::Schema;
use crate::stats::TableStats;

/// Longest chain of parent links followed before the data is declared
/// damaged (a cycle would otherwise loop forever).
pub(crate) const MAX_TABLE_DEPTH: usize = 100_000;

/// Read access to tables, indexes and queries. Implemented by
/// [`Snapshot`](super::Snapshot) (a committed state) and by
/// [`Txn`](super::Txn) (which sees its own writes).
pub trait TableRead {
    /// The raw key/value view of this transaction (tools and tests).
    fn kv(&self) -> &dyn KvRead;

    /// The catalog (indexes, schemas) as this transaction sees it.
    fn catalog(&self) -> &Catalog;

    /// Page size of the store (for size estimates).
    fn page_size(&self) -> usize {
        moonvault_pager::DEFAULT_PAGE_SIZE
    }

    /// `table[key]`, or `None` when absent. A child table reads as
    /// [`Value::Table`] with its id.
    fn get(&self, table: TableId, key: &Key) -> Result<Option<Value>> {
        get_value(self.kv(), table, key)
    }

    /// `table[key]` as stored: a packed record comes whole (its fields
    /// need no further lookup); otherwise as [`TableRead::get`].
    fn get_stored(&self, table: TableId, key: &Key) -> Result<Option<Stored>> {
        get_stored(self.kv(), table, key)
    }

    /// `f` of `table[key]` as stored, lent in place: a packed record comes
    /// as a [`StoredView`](crate::codec::StoredView) borrowing the page, so
    /// reading its fields allocates nothing. As [`TableRead::get_stored`]
    /// otherwise; `f` runs once, `None` when there is no such entry.
    fn with_stored<R>(
        &self,
        table: TableId,
        key: &Key,
        f: impl FnOnce(Option<crate::codec::StoredView<'_>>) -> R,
    ) -> Result<R>
    where
        Self: Sized,
    {
        super::field::with_stored(self.kv(), table, key, f)
    }

    /// `table[key]`, or the whole packed record `table` is (for a caller
    /// that keeps the record's other fields too).
    fn read_field(&self, table: TableId, key: &Key) -> Result<FieldRead> {
        super::field::read_field(self.kv(), table, key)
    }

    /// The packed record `table` is, read in full; `None` for a table of
    /// entries (or none at all).
    fn packed(&self, table: TableId) -> Result<Option<Record>> {
        packed_record(self.kv(), table)
    }

    /// The value at `path` below `table` (`get_path(users, ["u1", "age"])`);
    /// `None` when any step is missing or not a table.
    fn get_path(&self, table: TableId, path: &[Key]) -> Result<Option<Value>> {
        resolve(self.kv(), Some(&Stored::Value(Value::Table(table))), path)
    }

    /// Lua's `next`: the first entry after `after` (the first entry for
    /// `None`) in key order. Stateless, so it stays valid while the table is
    /// written: it continues after `after` whether or not `after` still
    /// exists.
    fn next(&self, table: TableId, after: Option<&Key>) -> Result<Option<(Key, Value)>> {
        let mut cursor = EntryCursor::after(table, after);
        cursor.next(self)
    }

    /// Entries of `table` in key order, streaming.
    fn entries(&self, table: TableId) -> Entries<'_, Self>
    where
        Self: Sized,
    {
        Entries {
            reader: self,
            cursor: EntryCursor::new(table),
            failed: false,
            ahead: Ahead::new(),
        }
    }

    /// Number of entries of `table` (not counting sub-tables' entries).
    fn len(&self, table: TableId) -> Result<u64> {
        let start = entry_prefix(table);
        let n = self.kv().count_prefix(&start)?;
        if n > 0 {
            return Ok(n);
        }
        Ok(self.packed(table)?.map_or(0, |r| r.fields.len() as u64))
    }

    /// A border of `table`, as Lua's `#` defines it: `n >= 0` with
    /// `t[n] ~= nil` (or `n == 0`) and `t[n + 1] == nil`. Found with
    /// O(log n) lookups by doubling then bisecting, like Lua's own.
    fn border(&self, table: TableId) -> Result<i64> {
        let present = |n: i64| -> Result<bool> {
            Ok(self
                .kv()
                .get(&super::keyspace::entry_key(table, &Key::Int(n)))?
                .is_some())
        };
        if !present(1)? {
            // Empty, a table without t[1], or a packed record: the border
            // of its fields.
            return Ok(match self.packed(table)? {
                Some(r) => {
                    let mut n = 0;
                    while r.get(&Key::Int(n + 1)).is_some() {
                        n += 1;
                    }
                    n
                }
                None => 0,
            });
        }
        // Invariant: t[lo] present; t[hi] absent (or hi is past i64::MAX).
        let mut lo: i64 = 1;
        let mut hi: i64;
        loop {
            match lo.checked_mul(2) {
                Some(next) if present(next)? => lo = next,
                Some(next) => {
                    hi = next;
                    break;
                }
                None => {
                    if present(i64::MAX)? {
                        return Ok(i64::MAX);
                    }
                    hi = i64::MAX;
                    break;
                }
            }
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if present(mid)? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The table at `path` below `Memory` (`[]` is `Memory` itself).
    /// `None` when a step is missing; an error when a step holds a
    /// non-table value.
    fn lookup(&self, path: &[Key]) -> Result<Option<TableId>> {
        lookup_path(self, path)
    }

    /// Whether `table` exists (is `Memory` or reachable by its parent link).
    fn table_exists(&self, table: TableId) -> Result<bool> {
        Ok(table == ROOT || read_link(self.kv(), table)?.is_some())
    }

    /// Parent of `table` and its key there; `None` for `Memory`.
    fn parent(&self, table: TableId) -> Result<Option<(TableId, Key)>> {
        parent_of(self.kv(), table)
    }

    /// The keys leading from `Memory` to `table`.
    fn table_path(&self, table: TableId) -> Result<Vec<Key>> {
        let mut path = Vec::new();
        let mut cur = table;
        while let Some((parent, key)) = parent_of(self.kv(), cur)? {
            path.push(key);
            if path.len() > MAX_TABLE_DEPTH {
                return Err(EngineError::corrupted(
                    "table meta",
                    format!("parent links of table {table} form a cycle"),
                ));
            }
            cur = parent;
        }
        path.reverse();
        Ok(path)
    }

    /// `table` named for messages: `Memory.users["u 1"]`.
    fn table_name(&self, table: TableId) -> Result<String> {
        Ok(name_of_path(&self.table_path(table)?))
    }

    /// Indexes defined on `table`.
    fn indexes(&self, table: TableId) -> Vec<IndexDef> {
        self.catalog().indexes_on(table).to_vec()
    }

    /// The schema of `table`'s records.
    fn schema(&self, table: TableId) -> Option<Schema> {
        self.catalog().schema(table).cloned()
    }

    /// The user schema version (0 until a migration ran).
    fn user_version(&self) -> Result<u64> {
        match self.kv().get(&KEY_USER_VERSION)? {
            Some(b) => decode_u64("user version", &b),
            None => Ok(0),
        }
    }

    /// Run `query`: a streaming iterator over the matching records.
    fn query(&self, query: &Query) -> Result<QueryIter<'_, Self>>
    where
        Self: Sized,
    {
        Ok(QueryIter {
            reader: self,
            cursor: self.query_cursor(query)?,
        })
    }

    /// Run `query` with a detached cursor (holds no borrow; advance it with
    /// [`QueryCursor::next`]).
    fn query_cursor(&self, query: &Query) -> Result<QueryCursor> {
        QueryCursor::open(self.kv(), self.catalog(), query)
    }

    /// Number of records `query` yields (limit and offset applied).
    fn count(&self, query: &Query) -> Result<u64> {
        crate::query::count(self.kv(), self.catalog(), query)
    }

    /// The plan `query` would run with.
    fn explain(&self, query: &Query) -> Result<Plan> {
        crate::query::plan(self.kv(), self.catalog(), query)
    }

    /// The end of the table ids that are never handed out again: every id
    /// below it was allocated by a committed transaction (or by this one
    /// before its last commit). Ids from here on may be allocated again
    /// after a rollback, so a holder of one must check that it still
    /// names the table it held.
    fn committed_table_ids_end(&self) -> Result<TableId> {
        match self.kv().get(&KEY_NEXT_TABLE)? {
            Some(b) => decode_u64("table counter", &b),
            None => Ok(FIRST_TABLE_ID),
        }
    }

    /// Check every table meta (DESIGN.md section 5, "Meta runs"): the
    /// entries do not overlap, and each table they stand for is where its
    /// link says (`parent[key]` names it). `Corrupted` otherwise. Reads
    /// one entry per table: for `moonvault check` and tests.
    fn check_metas(&self) -> Result<MetaReport> {
        check_metas(self.kv())
    }

    /// Sizes of `table` and everything below it.
    fn table_stats(&self, table: TableId) -> Result<TableStats> {
        crate::stats::table_stats(
            self.kv(),
            self.catalog(),
            self.page_size(),
            self.table_name(table)?,
            table,
        )
    }
}

/// A detached iterator over one table's entries: holds no borrow, so a
/// binding can keep it between calls and interleave writes (it resumes
/// after the last key it returned).
#[derive(Debug)]
pub struct EntryCursor {
    cursor: Option<Cursor>,
    table: TableId,
    /// Where to start; `None`: at the table's first entry.
    after: Option<KeyBuf>,
    /// The same, as a key (to continue in a packed record).
    after_key: Option<Key>,
    state: Source,
}

/// Where an [`EntryCursor`] reads: unknown until the key range answers.
#[derive(Debug)]
enum Source {
    /// Nothing read yet.
    Unknown,
    /// The table is a key range (it had an entry).
    Range,
    /// The table is a packed record: its fields not yet returned, last
    /// first.
    Packed(Vec<(Key, Value)>),
}

impl EntryCursor {
    /// From the first entry of `table`.
    pub fn new(table: TableId) -> EntryCursor {
        EntryCursor::after(table, None)
    }

    /// From the first entry after `after`.
    pub fn after(table: TableId, after: Option<&Key>) -> EntryCursor {
        EntryCursor {
            cursor: None,
            table,
            after: after.map(|k| super::keyspace::entry_key(table, k)),
            after_key: after.cloned(),
            state: Source::Unknown,
        }
    }

    /// The table this cursor reads.
    pub fn table(&self) -> TableId {
        self.table
    }

    /// Over the fields of a packed record already read (a reader walking
    /// a tree that found it in its parent's entry).
    pub fn of_record(record: Record) -> EntryCursor {
        let mut fields = record.fields;
        fields.reverse();
        EntryCursor {
            cursor: None,
            table: record.id,
            after: None,
            after_key: None,
            state: Source::Packed(fields),
        }
    }

    /// [`EntryCursor::next`], with a packed record as stored (whole).
    pub fn next_stored<R: TableRead + ?Sized>(
        &mut self,
        reader: &R,
    ) -> Result<Option<(Key, Stored)>> {
        if let Some(field) = self.pop_packed() {
            return Ok(field.map(|(k, v)| (k, Stored::Value(v))));
        }
        let kv = reader.kv();
        let cursor = self.cursor(kv);
        let mut entry = None;
        kv.cursor_next_lent(cursor, &mut |k, v| {
            entry = Some((decode_entry_key(k)?, decode_lent(v)?));
            Ok(())
        })?;
        match (&entry, &self.state) {
            (Some(_), _) => self.state = Source::Range,
            (None, Source::Unknown) => {
                self.packed_rest(reader)?;
                return Ok(self
                    .pop_packed()
                    .flatten()
                    .map(|(k, v)| (k, Stored::Value(v))));
            }
            (None, _) => {}
        }
        Ok(entry)
    }

    /// Once the key range came back empty on the first read: the packed
    /// record's fields after `after`, if the table is one.
    fn packed_rest<R: TableRead + ?Sized>(&mut self, reader: &R) -> Result<()> {
        let mut fields = match reader.packed(self.table)? {
            Some(r) => r.fields,
            None => Vec::new(),
        };
        if let Some(after) = &self.after_key {
            fields.retain(|(k, _)| k > after);
        }
        fields.reverse();
        self.state = Source::Packed(fields);
        Ok(())
    }

    /// The next packed field, when reading a packed record.
    fn pop_packed(&mut self) -> Option<Option<(Key, Value)>> {
        match &mut self.state {
            Source::Packed(rest) => Some(rest.pop()),
            _ => None,
        }
    }

    /// The next entry, or `None` at the end.
    pub fn next<R: TableRead + ?Sized>(&mut self, reader: &R) -> Result<Option<(Key, Value)>> {
        Ok(self.next_stored(reader)?.map(|(k, v)| (k, v.into_value())))
    }

    /// The next entries (at most `max`, those of one B-tree leaf) into
    /// the empty `out`, last first; nothing at the end. Only for a reader
    /// nothing writes to until they are consumed (they are read ahead).
    pub(crate) fn next_run<R: TableRead + ?Sized>(
        &mut self,
        reader: &R,
        max: usize,
        out: &mut Ahead,
    ) -> Result<()> {
        if let Source::Packed(rest) = &mut self.state {
            while out.len() < max {
                match rest.pop() {
                    Some(field) => out.push(field),
                    None => break,
                }
            }
            out.reverse();
            return Ok(());
        }
        let kv = reader.kv();
        let prefix = entry_prefix(self.table);
        let cursor = self.cursor(kv);
        kv.cursor_next_run(cursor, max, &mut |k, v| {
            // Every key in the cursor's range starts with the table's
            // prefix: check it rather than re-decode the id.
            let key = match k.strip_prefix(&prefix[..]) {
                Some(rest) => decode_key_exact(rest)?,
                None => decode_entry_key(k)?,
            };
            out.push((key, decode_lent(v)?.into_value()));
            Ok(())
        })?;
        match (out.is_empty(), &self.state) {
            (false, _) => self.state = Source::Range,
            (true, Source::Unknown) => {
                self.packed_rest(reader)?;
                return self.next_run(reader, max, out);
            }
            (true, _) => {}
        }
        out.reverse();
        Ok(())
    }

    fn cursor(&mut self, kv: &dyn KvRead) -> &mut Cursor {
        let (table, after) = (self.table, &self.after);
        self.cursor.get_or_insert_with(|| {
            let start = entry_prefix(table);
            let end = prefix_end(&start);
            let lower = match after {
                Some(k) => Bound::Excluded(&k[..]),
                None => Bound::Included(&start[..]),
            };
            let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            kv.cursor(lower, upper, false)
        })
    }
}

/// Entries of a table in key order (see [`TableRead::entries`]). Yields an
/// error at most once, then ends.
///
/// It decodes a leaf's run of entries at a time into a small buffer: it
/// borrows the reader, so nothing can write the table while it lives.
pub struct Entries<'a, R: TableRead + ?Sized> {
    reader: &'a R,
    cursor: EntryCursor,
    failed: bool,
    /// Decoded entries not yet returned (at most one leaf's run), last
    /// first.
    ahead: Ahead,
}

/// Entries decoded ahead, in reverse order (popped from the end); inline
/// for the few fields of a typical record.
pub(crate) type Ahead = SmallVec<[(Key, Value); 4]>;

/// Most entries decoded ahead by [`Entries`] (bounds its buffer when
/// pages are large).
const ENTRIES_AHEAD: usize = 64;

impl<R: TableRead + ?Sized> Iterator for Entries<'_, R> {
    type Item = Result<(Key, Value)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(entry) = self.ahead.pop() {
            return Some(Ok(entry));
        }
        if self.failed {
            return None;
        }
        match self
            .cursor
            .next_run(self.reader, ENTRIES_AHEAD, &mut self.ahead)
        {
            Ok(()) => self.ahead.pop().map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Records of a query, streaming (see [`TableRead::query`]).
pub struct QueryIter<'a, R: TableRead + ?Sized> {
    reader: &'a R,
    cursor: QueryCursor,
}

impl<R: TableRead + ?Sized> QueryIter<'_, R> {
    /// The plan the query runs with.
    pub fn plan(&self) -> &Plan {
        self.cursor.plan()
    }
}

impl<R: TableRead + ?Sized> Iterator for QueryIter<'_, R> {
    type Item = Result<(Key, Value)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next(self.reader).transpose()
    }
}

/// [`TableRead::lookup`]: walks `path` from `Memory`, one entry a step.
pub(crate) fn lookup_path<R: TableRead + ?Sized>(
    reader: &R,
    path: &[Key],
) -> Result<Option<TableId>> {
    let mut table = ROOT;
    for (i, key) in path.iter().enumerate() {
        match reader.get(table, key)? {
            Some(Value::Table(t)) => table = t,
            None => return Ok(None),
            Some(other) => {
                return Err(EngineError::NotATable {
                    path: name_of_path(path.get(..=i).unwrap_or(path)),
                    found: other.type_name(),
                })
            }
        }
    }
    Ok(Some(table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Store;

    #[test]
    fn entries_read_ahead_match_stepping_across_leaves() {
        let store = Store::memory().unwrap();
        let t = store.ensure_path(&[Key::from("t")]).unwrap();
        store
            .write(|tx| {
                for i in 0..3000 {
                    let key = if i % 3 == 0 {
                        Key::from(format!("k{i}"))
                    } else {
                        Key::Int(i)
                    };
                    // Some values in overflow chains, read ahead whole.
                    let value = match i % 97 {
                        5 => Value::Str(vec![b'a' + (i % 26) as u8; 5000 + i as usize]),
                        6 => Value::Function(vec![i as u8; 3000]),
                        _ => Value::Str(format!("value {i}").into_bytes()),
                    };
                    tx.set(t, key, value)?;
                }
                Ok(())
            })
            .unwrap();
        let snap = store.read().unwrap();
        let ahead: Vec<(Key, Value)> = snap.entries(t).map(|e| e.unwrap()).collect();
        let mut stepped = Vec::new();
        let mut cursor = EntryCursor::new(t);
        while let Some(e) = cursor.next(&snap).unwrap() {
            stepped.push(e);
        }
        assert_eq!(ahead.len(), 3000);
        assert_eq!(ahead, stepped);
        // Both agree with the write transaction's view as well.
        let mut tx = store.begin().unwrap();
        tx.set(t, Key::Int(1), "changed").unwrap();
        let in_tx: Vec<(Key, Value)> = tx.entries(t).map(|e| e.unwrap()).collect();
        assert_eq!(in_tx.len(), 3000);
        assert_eq!(in_tx[0], (Key::Int(1), Value::Str(b"changed".to_vec())));
        assert_eq!(in_tx[1..], ahead[1..]);
        let large = ahead
            .iter()
            .filter(|(_, v)| v.logical_size() >= 3000)
            .count();
        assert_eq!(large, 2 * 3000 / 97 + 1, "values from chains");
    }
}
