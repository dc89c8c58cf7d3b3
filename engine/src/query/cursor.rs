//! Running a plan: a detached, streaming cursor.
//!
//! Memory: streaming plans hold one B-tree cursor. Only an in-memory
//! ordering buffers rows: at most `offset + limit` for the heap, at most
//! `sort_cap` for a full sort (past it the query fails with
//! [`EngineError::SortTooLarge`]); both are bounded by `sort_cap`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Bound;
use std::rc::Rc;

use moonvault_btree::Cursor;

use super::plan::{shared, upper, Part, Plan, Planned};
use super::Query;
use crate::codec::{
    decode_stored_view, decode_stored_view_vouched, Key, Stored, StoredView, Value,
};
use crate::error::{EngineError, Result};
use crate::kv::KvRead;
use crate::table::catalog::Catalog;
use crate::table::field::decode_lent;
use crate::table::field::{resolve, resolve_key};
use crate::table::keyspace::{
    decode_entry_key, decode_index_record, decode_index_value, entry_key, entry_prefix, TableId,
};
use crate::table::lineage::name_for_messages as table_name;
use crate::table::packed::packed_record;

/// An index entry names a record the table does not have (as indexed).
fn missing_record(key: &Key) -> EngineError {
    EngineError::corrupted(
        "index",
        format!("an index entry names record {key} that is not there"),
    )
}

/// A result row: the record's key and its value (a [`Value::Table`] for
/// records).
pub type Row = (Key, Value);

/// A result row with the record as stored: a packed record comes whole,
/// so reading its fields needs no further lookup.
pub type StoredRow = (Key, Stored);

/// Asks the store to fetch together the records of the next `count`
/// index entries of `peek` (a hint: see [`KvRead::prefetch`]).
fn read_records_ahead(
    kv: &dyn KvRead,
    table: TableId,
    mut peek: Cursor,
    count: usize,
) -> Result<()> {
    let mut keys = Vec::with_capacity(count);
    for _ in 0..count {
        let more = kv.cursor_next_with(&mut peek, &mut |k, v| {
            // A carried record needs no read.
            if decode_index_value(v)?.1.is_none() {
                keys.push(entry_key(table, &decode_index_record(k)?));
            }
            Ok(())
        })?;
        if !more {
            break;
        }
    }
    let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
    kv.prefetch(&keys)
}

/// A row on its way: a row from an index names the record by id until
/// something needs its content (a filter, a sort, the caller) and it is
/// fetched from the table (one lookup), or decoded from the copy the index
/// entry carries (no lookup).
pub(crate) struct Hit {
    key: Key,
    value: Stored,
    fetched: bool,
    /// The index entry that found it carries the record: its bytes are
    /// the cursor's `carried` until the next hit is read.
    carried: bool,
    /// Due when this hit's record is first read, not before: a caller that
    /// takes ids only reads no record and asks for none.
    read_ahead: Option<Box<ReadAhead>>,
}

/// A read-ahead of the records of the index hits from one hit on.
struct ReadAhead {
    /// The index range from the hit on, in the cursor's direction.
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    reverse: bool,
    /// Hits whose records to ask for.
    count: usize,
}

impl ReadAhead {
    fn run(&self, kv: &dyn KvRead, table: TableId) -> Result<()> {
        let lo = self.lo.as_ref().map(Vec::as_slice);
        let hi = self.hi.as_ref().map(Vec::as_slice);
        let cursor = kv.cursor(lo, hi, self.reverse);
        read_records_ahead(kv, table, cursor, self.count)
    }
}

/// A running query. Holds no borrow of the transaction: advance it with
/// [`QueryCursor::next`], passing the snapshot or transaction it was opened
/// on (a binding can keep it between calls).
///
/// Writing while iterating: on a [`Snapshot`](crate::table::Snapshot) the
/// results are those of the snapshot, whatever is committed meanwhile, so
/// the safe pattern is to iterate a snapshot and write through the store.
/// A cursor on the write transaction itself resumes after its last
/// position and sees writes ahead of it: changing the field an index plan
/// reads (`age = age + 100` while iterating `age > 60`) can bring a record
/// back later in the same iteration.
pub struct QueryCursor {
    /// What to run: shared with the catalog's plan cache when the plan is
    /// kept for reuse (`plan_cache.rs`).
    planned: Rc<Planned>,
    /// Index of the current part, and its position.
    part: usize,
    range: usize,
    cursor: Option<Cursor>,
    /// A scan found an entry (so the table is not a packed record).
    scanned_any: bool,
    /// A scanned packed record's fields not yet returned, last first.
    packed_rest: Option<Vec<(Key, Value)>>,
    sorted: Option<std::vec::IntoIter<Hit>>,
    skip: u64,
    left: Option<u64>,
    done: bool,
    /// Read-ahead of an index plan's records, where the store pays per
    /// page read ([`KvRead::prefetch_useful`]; decided at the first hit).
    prefetch: Option<bool>,
    /// Index hits already covered by the last read-ahead (noted on a hit,
    /// run when that hit's record is read).
    covered: usize,
    /// Hits the next read-ahead covers: doubles from
    /// [`FIRST_READ_AHEAD`] to [`MAX_READ_AHEAD`], so a `limit 10` reads
    /// little ahead and a long result few times.
    window: usize,
    /// The record the latest hit's index entry carries, as stored. One
    /// buffer for every hit, never a copy each: a hit is consumed (lent,
    /// fetched or dropped) before the next is read, and a hit kept longer
    /// (a sort's) was fetched first.
    carried: Vec<u8>,
    /// Whether `carried`'s bytes were vouched for where they were read
    /// (`KvRead::cursor_next_vouched`): its record is then not checked
    /// again.
    carried_vouched: bool,
}

/// Index hits whose records the first read-ahead fetches.
const FIRST_READ_AHEAD: usize = 16;
/// Most index hits one read-ahead covers.
const MAX_READ_AHEAD: usize = 256;
/// Most leaves of an index range fetched ahead when its cursor opens (1
/// MiB at 4 KiB pages; the browser's store takes at most half its cache
/// of pages for one hint).
const MAX_RANGE_READ_AHEAD: usize = 256;
/// Index entries a leaf holds at the least, for sizing a range's
/// read-ahead to a limit (an entry carrying a record takes up to ~300
/// bytes of a 4 KiB page, most far fewer).
const MIN_ENTRIES_PER_LEAF: usize = 16;

impl std::fmt::Debug for QueryCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryCursor")
            .field("plan", &self.planned.plan)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl QueryCursor {
    pub(crate) fn open(kv: &dyn KvRead, catalog: &Catalog, query: &Query) -> Result<QueryCursor> {
        Ok(QueryCursor::from_planned(shared(kv, catalog, query)?))
    }

    pub(crate) fn from_planned(p: Rc<Planned>) -> QueryCursor {
        QueryCursor {
            skip: p.offset,
            left: p.limit,
            planned: p,
            part: 0,
            range: 0,
            cursor: None,
            scanned_any: false,
            packed_rest: None,
            sorted: None,
            done: false,
            prefetch: None,
            covered: 0,
            window: FIRST_READ_AHEAD,
            carried: Vec::new(),
            carried_vouched: false,
        }
    }

    /// The plan this cursor runs.
    pub fn plan(&self) -> &Plan {
        &self.planned.plan
    }

    /// What it runs, as shared with the plan cache.
    #[cfg(test)]
    pub(crate) fn planned(&self) -> &Rc<Planned> {
        &self.planned
    }

    /// [`QueryCursor::next`] on the raw key/value view.
    pub(crate) fn next_in(&mut self, kv: &dyn KvRead) -> Result<Option<Row>> {
        let result = self.advance(kv);
        if result.is_err() {
            self.done = true;
        }
        Ok(result?.map(|hit| (hit.key, hit.value.into_value())))
    }

    /// [`QueryCursor::next_stored`] on the raw key/value view.
    pub(crate) fn next_stored_in(&mut self, kv: &dyn KvRead) -> Result<Option<StoredRow>> {
        let result = self.advance(kv).and_then(|hit| match hit {
            Some(mut hit) => {
                self.fetch(kv, &mut hit)?;
                Ok(Some((hit.key, hit.value)))
            }
            None => Ok(None),
        });
        if result.is_err() {
            self.done = true;
        }
        result
    }

    /// [`QueryCursor::next_with`] on the raw key/value view.
    pub(crate) fn next_with_in<T>(
        &mut self,
        kv: &dyn KvRead,
        f: impl FnOnce(&Key, StoredView<'_>) -> T,
    ) -> Result<Option<T>> {
        let result = self.advance(kv).and_then(|hit| match hit {
            None => Ok(None),
            // A filter or a sort read it already.
            Some(hit) if hit.fetched => Ok(Some(f(&hit.key, hit.value.view()))),
            Some(hit) => self.lend(kv, &hit, f).map(Some),
        });
        if result.is_err() {
            self.done = true;
        }
        result
    }

    /// `f` of an index hit's record, read in place from the table or from
    /// the copy its index entry carries.
    fn lend<T>(
        &self,
        kv: &dyn KvRead,
        hit: &Hit,
        f: impl FnOnce(&Key, StoredView<'_>) -> T,
    ) -> Result<T> {
        if hit.carried {
            let view = decode_stored_view_vouched(&self.carried, self.carried_vouched)?;
            return Ok(f(&hit.key, view));
        }
        if let Some(ahead) = &hit.read_ahead {
            ahead.run(kv, self.planned.table)?;
        }
        let id = hit.value.table_id();
        let mut f = Some(f);
        let mut out = None;
        // Checked on every read, even on a vouched leaf: reading the
        // verdict here too changed how this function inlines into
        // `next_with` and cost the carried path (above) 1.4% on `age = 42`.
        kv.get_with(&entry_key(self.planned.table, &hit.key), &mut |b| {
            let view = decode_stored_view(b)?;
            if view.table_id() == id {
                out = f.take().map(|f| f(&hit.key, view));
            }
            Ok(())
        })?;
        out.ok_or_else(|| missing_record(&hit.key))
    }

    /// Read an index hit's record from the table, once.
    fn fetch(&self, kv: &dyn KvRead, hit: &mut Hit) -> Result<()> {
        if hit.fetched {
            return Ok(());
        }
        hit.value = self.lend(kv, hit, |_, view| view.to_stored())?;
        hit.fetched = true;
        hit.carried = false;
        Ok(())
    }

    fn advance(&mut self, kv: &dyn KvRead) -> Result<Option<Hit>> {
        loop {
            if self.done || self.left == Some(0) {
                self.done = true;
                return Ok(None);
            }
            let row = if self.planned.sort.is_some() {
                if self.sorted.is_none() {
                    let rows = self.sort_all(kv)?;
                    self.sorted = Some(rows.into_iter());
                }
                self.sorted.as_mut().and_then(Iterator::next)
            } else {
                self.next_hit(kv)?
            };
            let Some(row) = row else {
                self.done = true;
                return Ok(None);
            };
            if self.skip > 0 {
                self.skip -= 1;
                if let Some(ahead) = row.read_ahead {
                    // Its record is not read: the next hit asks again.
                    self.covered = 0;
                    self.window = ahead.count;
                }
                continue;
            }
            if let Some(left) = &mut self.left {
                *left -= 1;
            }
            return Ok(Some(row));
        }
    }

    /// The next record passing the filters, in source order.
    pub(crate) fn next_hit(&mut self, kv: &dyn KvRead) -> Result<Option<Hit>> {
        while let Some(mut hit) = self.next_source(kv)? {
            if self.passes(kv, &mut hit)? {
                return Ok(Some(hit));
            }
        }
        Ok(None)
    }

    fn passes(&self, kv: &dyn KvRead, hit: &mut Hit) -> Result<bool> {
        if self.planned.residual.is_empty() {
            return Ok(true);
        }
        self.fetch(kv, hit)?;
        for (field, cond) in &self.planned.residual {
            let v = resolve(kv, Some(&hit.value), field.keys())?;
            if !cond.matches(v.as_ref()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The next row of the source parts (before filtering).
    fn next_source(&mut self, kv: &dyn KvRead) -> Result<Option<Hit>> {
        loop {
            let Some(part) = self.planned.parts.get(self.part) else {
                return Ok(None);
            };
            match part {
                Part::Ranges { ranges, reverse } => {
                    // Descending reads the ranges last to first.
                    let idx = if *reverse {
                        ranges.len().checked_sub(self.range + 1)
                    } else {
                        Some(self.range)
                    };
                    let Some(r) = idx.and_then(|i| ranges.get(i)) else {
                        self.part += 1;
                        self.range = 0;
                        continue;
                    };
                    let useful = *self.prefetch.get_or_insert_with(|| kv.prefetch_useful());
                    if self.cursor.is_none() && useful {
                        // The index's own leaves, before the first miss.
                        let leaves = self.range_leaves(*reverse);
                        kv.prefetch_range(&r.lo, upper(&r.hi), leaves)?;
                    }
                    let cursor = self.cursor.get_or_insert_with(|| {
                        kv.cursor(Bound::Included(&r.lo), upper(&r.hi), *reverse)
                    });
                    let read_ahead = self.covered == 0 && useful;
                    let mut row = None;
                    let mut from = None;
                    let carried_record = &mut self.carried;
                    let carried_vouched = &mut self.carried_vouched;
                    kv.cursor_next_vouched(cursor, &mut |k, v, vouched| {
                        let (id, carried) = decode_index_value(v)?;
                        if let Some(record) = carried {
                            *carried_vouched = vouched;
                            carried_record.clear();
                            // Room for twice the record: the next ones,
                            // about as long, reuse it without regrowing.
                            if carried_record.capacity() < record.len() {
                                carried_record.reserve(2 * record.len());
                            }
                            carried_record.extend_from_slice(record);
                        }
                        // Read ahead from the first hit whose record is read.
                        if read_ahead && carried.is_none() {
                            from = Some(k.to_vec());
                        }
                        row = Some(Hit {
                            key: decode_index_record(k)?,
                            value: Stored::Value(Value::Table(id)),
                            fetched: false,
                            carried: carried.is_some(),
                            read_ahead: None,
                        });
                        Ok(())
                    })?;
                    match row {
                        Some(mut row) => {
                            if let Some(from) = from {
                                let (lo, hi) = if *reverse {
                                    (Bound::Included(r.lo.clone()), Bound::Included(from))
                                } else {
                                    (Bound::Included(from), upper(&r.hi).map(<[u8]>::to_vec))
                                };
                                row.read_ahead = Some(Box::new(ReadAhead {
                                    lo,
                                    hi,
                                    reverse: *reverse,
                                    count: self.window,
                                }));
                                self.covered = self.window;
                                self.window = (self.window * 2).min(MAX_READ_AHEAD);
                            }
                            if !row.carried {
                                self.covered = self.covered.saturating_sub(1);
                            }
                            return Ok(Some(row));
                        }
                        None => {
                            self.cursor = None;
                            self.range += 1;
                            self.covered = 0;
                        }
                    }
                }
                Part::Scan { unorderable } => {
                    if let Some(rest) = &mut self.packed_rest {
                        match rest.pop() {
                            Some((key, v)) => {
                                return Ok(Some(Hit {
                                    key,
                                    value: Stored::Value(v),
                                    fetched: true,
                                    carried: false,
                                    read_ahead: None,
                                }))
                            }
                            None => {
                                self.packed_rest = None;
                                self.cursor = None;
                                self.part += 1;
                                continue;
                            }
                        }
                    }
                    let table = self.planned.table;
                    let cursor = self
                        .cursor
                        .get_or_insert_with(|| kv.prefix_cursor(&entry_prefix(table)));
                    let mut entry = None;
                    kv.cursor_next_lent(cursor, &mut |k, v| {
                        entry = Some((decode_entry_key(k)?, decode_lent(v)?));
                        Ok(())
                    })?;
                    match entry {
                        Some((key, value)) => {
                            self.scanned_any = true;
                            if let Some(field) = unorderable {
                                // The index part already yielded these.
                                if resolve_key(kv, Some(&value), field.keys())?.is_some() {
                                    continue;
                                }
                            }
                            return Ok(Some(Hit {
                                key,
                                value,
                                fetched: true,
                                carried: false,
                                read_ahead: None,
                            }));
                        }
                        None if !self.scanned_any => {
                            // An empty range: the table may be a packed
                            // record, whose fields are its entries (all
                            // scalars, so none has an indexable field).
                            self.scanned_any = true;
                            let mut fields = packed_record(kv, table)?
                                .map(|r| r.fields)
                                .unwrap_or_default();
                            fields.reverse();
                            self.packed_rest = Some(fields);
                        }
                        None => {
                            self.cursor = None;
                            self.part += 1;
                        }
                    }
                }
            }
        }
    }

    /// How many leaves of an index range to fetch ahead as its cursor
    /// opens: the whole range (up to [`MAX_RANGE_READ_AHEAD`]) when every
    /// entry will be read, else enough for the rows still wanted; none
    /// for a descending range with a limit (its leaves come from the far
    /// end).
    fn range_leaves(&self, reverse: bool) -> usize {
        let wanted = match self.left {
            Some(n) if self.planned.sort.is_none() => self.skip.saturating_add(n),
            _ => return MAX_RANGE_READ_AHEAD,
        };
        if reverse {
            return 0;
        }
        // Filters drop some of the entries read.
        let per_leaf = if self.planned.residual.is_empty() {
            MIN_ENTRIES_PER_LEAF
        } else {
            MIN_ENTRIES_PER_LEAF / 4
        };
        usize::try_from(wanted / per_leaf as u64 + 1)
            .unwrap_or(usize::MAX)
            .min(MAX_RANGE_READ_AHEAD)
    }

    /// Drain the filtered source into order (heap or capped sort).
    fn sort_all(&mut self, kv: &dyn KvRead) -> Result<Vec<Hit>> {
        let Some(spec) = self.planned.sort.clone() else {
            return Ok(Vec::new());
        };
        let cap = self.planned.sort_cap;
        let table = self.planned.table;
        let too_large = |kv: &dyn KvRead| EngineError::SortTooLarge {
            table: table_name(kv, table),
            field: spec.field.to_string(),
            cap,
        };
        let mut heap: BinaryHeap<Sorted> = BinaryHeap::new();
        while let Some(mut hit) = self.next_hit(kv)? {
            self.fetch(kv, &mut hit)?;
            let by = resolve_key(kv, Some(&hit.value), spec.field.keys())?;
            let row = Sorted {
                by,
                key: hit.key,
                value: hit.value,
                descending: spec.descending,
            };
            match spec.keep {
                Some(keep) => {
                    if keep == 0 {
                        continue;
                    }
                    heap.push(row);
                    if heap.len() as u64 > keep {
                        heap.pop();
                    }
                }
                None => heap.push(row),
            }
            if heap.len() > cap {
                return Err(too_large(kv));
            }
        }
        Ok(heap
            .into_sorted_vec()
            .into_iter()
            .map(|s| Hit {
                key: s.key,
                value: s.value,
                fetched: true,
                carried: false,
                read_ahead: None,
            })
            .collect())
    }
}

/// A row with its sort key, ordered as the query's order defines.
struct Sorted {
    by: Option<Key>,
    key: Key,
    value: Stored,
    descending: bool,
}

/// The result order (see the module docs of [`crate::query`]): values
/// ascending (or descending), ties by record key in the same direction;
/// rows without a value last, by record key ascending.
fn row_order(
    a_by: &Option<Key>,
    a_key: &Key,
    b_by: &Option<Key>,
    b_key: &Key,
    descending: bool,
) -> Ordering {
    match (a_by, b_by) {
        (Some(x), Some(y)) => {
            let o = x.cmp(y).then_with(|| a_key.cmp(b_key));
            if descending {
                o.reverse()
            } else {
                o
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a_key.cmp(b_key),
    }
}

impl Ord for Sorted {
    fn cmp(&self, other: &Self) -> Ordering {
        row_order(&self.by, &self.key, &other.by, &other.key, self.descending)
    }
}

impl PartialOrd for Sorted {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Sorted {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Sorted {}

/// The order of query results with `order_by` (for tests and bindings that
/// need to merge or compare results): `(field value, record key)` pairs.
pub fn result_order(
    a: (&Option<Key>, &Key),
    b: (&Option<Key>, &Key),
    descending: bool,
) -> Ordering {
    row_order(a.0, a.1, b.0, b.1, descending)
}
