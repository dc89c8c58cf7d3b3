//! The write transaction over tables: assignments (deep copies of table
//! literals, identity-preserving replacement, recursive deletion), table
//! creation, counters, and commit.
//!
//! Every change to an entry goes through [`Txn::put_entry`] or
//! [`Txn::delete_entry`] (index/maintain.rs), which keep the indexes of the
//! ancestor tables consistent with the entry *at each step*; so any sequence
//! of steps leaves them consistent, whatever the order.
//!
//! Atomicity inside a transaction: an operation that fails before its first
//! write (bad key, schema violation on the assigned value, unique
//! violation of a single field write...) leaves the transaction as it was.
//! One that fails after writing part of its changes marks the transaction
//! failed: further calls and `commit` report [`EngineError::TxnAborted`];
//! only rollback remains. Batches, migrations and the autocommit calls of
//! [`Store`](super::Store) roll back on any error.

use std::rc::Rc;

use moonvault_pager::cache::IdMap;

use super::catalog::Catalog;
use super::field::decode_lent;
use super::field::normalize_key;
use super::input::{check_key_len, normalize, Input};
use super::keyspace::{
    decode_entry_key, decode_u64, entry_key, entry_prefix, TableId, FIRST_INDEX_ID, FIRST_TABLE_ID,
    KEY_CATALOG_GEN, KEY_NEXT_INDEX, KEY_NEXT_TABLE, KEY_USER_VERSION, ROOT,
};
use super::meta::read_link;
use super::packed::{into_record, packs};
use super::read::{TableRead, MAX_TABLE_DEPTH};
use super::store::CatalogCache;
use crate::codec::{self, decode_stored_owned, Key, Stored, Value};
use crate::error::{EngineError, Result};
use crate::kv::{Db, Durability, KvRead, Lent, WriteTxn};
use moonvault_btree::Cursor;

/// The value an assignment replaces, as far as the assignment needs it.
enum Prior {
    /// No entry.
    Absent,
    /// The entry's value, decoded.
    Known(Stored),
    /// A large string or function (`Txn::prior`): it refers to no table,
    /// and no index entry can name it (an index key is at most
    /// `max_key_len` bytes, and functions are never indexed), so replacing
    /// or deleting it moves no index entry and drops nothing. It is not
    /// read: a value at the assignment limit is not held twice, once as
    /// the old value and once as the new. Hence an assignment equal to
    /// such a value rewrites it (telling would mean reading it).
    Opaque,
}

impl Prior {
    /// The old value as index maintenance takes it: `None` when absent or
    /// opaque (no index entry names either).
    fn known(&self) -> Option<&Stored> {
        match self {
            Prior::Known(v) => Some(v),
            Prior::Absent | Prior::Opaque => None,
        }
    }
}

/// Parent links cached per transaction before the cache is cleared: as
/// many as fill a power-of-two hash table (7/8 of its buckets), so the
/// table never doubles past it. ~40 bytes a link: 168 KiB natively; 21 KiB
/// in the 2 MiB web module.
#[cfg(not(target_arch = "wasm32"))]
const PARENT_CACHE_LIMIT: usize = 4096 / 8 * 7;
/// Parent links cached per transaction (see the native value).
#[cfg(target_arch = "wasm32")]
const PARENT_CACHE_LIMIT: usize = 512 / 8 * 7;

/// A write transaction over tables. Reads (through [`TableRead`]) see its
/// own writes. Dropping it without [`Txn::commit`] rolls it back.
pub struct Txn {
    pub(crate) kv: WriteTxn,
    pub(crate) catalog: Rc<Catalog>,
    catalog_changed: bool,
    /// The store's committed-catalog cache, updated on commit.
    catalog_cache: CatalogCache,
    /// The database, and its commit count when this transaction began.
    db: Db,
    begun_at: u64,
    /// Parent links (with the packed flag) read or created in this
    /// transaction (table ids are not attacker-chosen: the pager's id
    /// hasher, not SipHash).
    parents: IdMap<(TableId, Key, bool)>,
    /// The packed records' meta entry this transaction wrote last and
    /// where it starts, while nothing else touched it: a load extends it
    /// without a lookup (see `meta.rs`).
    pub(super) meta_tail: Option<super::meta::MetaTail>,
    /// The end of the table this transaction appends to, as far as it
    /// knows it (see `append.rs`).
    pub(super) append: super::append::AppendTrack,
    /// The buffer an entry's value is encoded into (`put_entry`), kept
    /// between entries: a plain vector, which writes a byte cheaper than a
    /// small-buffer one and is allocated once.
    pub(crate) encoded: Vec<u8>,
    next_table: Option<u64>,
    next_table_dirty: bool,
    next_index: Option<u64>,
    next_index_dirty: bool,
    failed: Option<String>,
    /// Raw writes so far; tells whether a failed operation wrote anything.
    pub(crate) mutations: u64,
    pub(crate) max_key_len: usize,
    pub(crate) page_size: usize,
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn")
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl TableRead for Txn {
    fn kv(&self) -> &dyn KvRead {
        &self.kv
    }

    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn page_size(&self) -> usize {
        self.page_size
    }
}

impl Txn {
    pub(crate) fn new(
        kv: WriteTxn,
        catalog: Rc<Catalog>,
        catalog_cache: CatalogCache,
        db: Db,
        begun_at: u64,
        max_key_len: usize,
        page_size: usize,
    ) -> Txn {
        Txn {
            kv,
            catalog,
            catalog_changed: false,
            catalog_cache,
            db,
            begun_at,
            parents: IdMap::default(),
            meta_tail: None,
            append: Default::default(),
            encoded: Vec::new(),
            next_table: None,
            next_table_dirty: false,
            next_index: None,
            next_index_dirty: false,
            failed: None,
            mutations: 0,
            max_key_len,
            page_size,
        }
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(why) => Err(EngineError::TxnAborted(why.clone())),
            None => Ok(()),
        }
    }

    /// Whether an earlier operation failed midway (only rollback remains).
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Run one operation: refuse it on a failed transaction, and mark the
    /// transaction failed when the operation errs after writing.
    pub(crate) fn guard<T>(&mut self, op: impl FnOnce(&mut Txn) -> Result<T>) -> Result<T> {
        self.check()?;
        let before = self.mutations;
        let result = op(self);
        if let Err(e) = &result {
            if self.mutations != before {
                self.failed = Some(e.to_string());
            }
        }
        result
    }

    /// Every write of a table entry goes through this,
    /// [`Txn::raw_put_parts`] or [`Txn::raw_put_appended`] (the append
    /// tracking relies on it).
    pub(crate) fn raw_put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.mutations += 1;
        self.note_entry_put(key);
        self.kv.put(key, value)
    }

    /// [`Txn::raw_put`] of an entry known to be absent, held back to be
    /// applied in key order (see [`Txn::put_entry`] and
    /// `kv::WriteTxn::put_appended`).
    pub(crate) fn raw_put_appended(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.mutations += 1;
        self.note_entry_put(key);
        self.kv.put_appended(key, value)
    }

    /// [`Txn::raw_put`] of a value given in parts (see
    /// `kv::WriteTxn::put_parts`).
    pub(crate) fn raw_put_parts(&mut self, key: &[u8], parts: &[&[u8]]) -> Result<()> {
        self.mutations += 1;
        self.note_entry_put(key);
        self.kv.put_parts(key, parts)
    }

    pub(crate) fn raw_delete(&mut self, key: &[u8]) -> Result<bool> {
        self.mutations += 1;
        self.kv.delete(key)
    }

    /// [`Txn::raw_put`] held back to be applied in key order (see
    /// `kv::WriteTxn::put_deferred`): for the entries of non-unique
    /// indexes, which no check of a later write reads.
    pub(crate) fn raw_put_deferred(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.mutations += 1;
        self.kv.put_deferred(key, value)
    }

    /// [`Txn::raw_delete`] held back as [`Txn::raw_put_deferred`].
    pub(crate) fn raw_delete_deferred(&mut self, key: &[u8]) -> Result<()> {
        self.mutations += 1;
        self.kv.delete_deferred(key)
    }

    /// The catalog for modification (copy-on-write), marked changed.
    pub(crate) fn catalog_mut(&mut self) -> &mut Catalog {
        self.catalog_changed = true;
        Rc::make_mut(&mut self.catalog)
    }

    /// `table[key] = input` (see [`Input`] for the semantics).
    pub fn set(&mut self, table: TableId, key: Key, input: impl Into<Input>) -> Result<()> {
        let mut input = input.into();
        self.guard(|tx| {
            let key = normalize_key(key)?;
            check_key_len(&key, tx.max_key_len)?;
            normalize(&mut input, tx.max_key_len)?;
            tx.ensure_exists(table)?;
            tx.check_schemas_above(table, &key, &input)?;
            tx.assign(table, key, input)
        })
    }

    /// `table[key] = nil`: delete the entry (a child table recursively).
    pub fn delete(&mut self, table: TableId, key: Key) -> Result<()> {
        self.set(table, key, Input::Nil)
    }

    /// The child table at `table[key]`, created empty when absent; an
    /// error when a non-table value is there.
    pub fn ensure_table(&mut self, table: TableId, key: Key) -> Result<TableId> {
        self.guard(|tx| tx.ensure_table_inner(table, key))
    }

    /// The table at `path` below `Memory`, creating missing tables on the
    /// way (`Memory.a.b` for `["a", "b"]`).
    pub fn ensure_path(&mut self, path: &[Key]) -> Result<TableId> {
        self.guard(|tx| {
            let mut table = ROOT;
            for key in path {
                table = tx.ensure_table_inner(table, key.clone())?;
            }
            Ok(table)
        })
    }

    fn ensure_table_inner(&mut self, table: TableId, key: Key) -> Result<TableId> {
        let key = normalize_key(key)?;
        check_key_len(&key, self.max_key_len)?;
        match self.get(table, &key)? {
            Some(Value::Table(t)) => Ok(t),
            Some(other) => {
                let mut path = self.table_path(table)?;
                path.push(key);
                Err(EngineError::NotATable {
                    path: super::lineage::name_of_path(&path),
                    found: other.type_name(),
                })
            }
            None => {
                self.ensure_exists(table)?;
                let input = Input::empty_table();
                self.check_schemas_above(table, &key, &input)?;
                self.assign(table, key.clone(), input)?;
                match self.get(table, &key)? {
                    Some(Value::Table(t)) => Ok(t),
                    _ => Err(EngineError::corrupted("table", "a created table vanished")),
                }
            }
        }
    }

    /// Set the user schema version (migrations do this for you).
    pub fn set_user_version(&mut self, version: u64) -> Result<()> {
        self.guard(|tx| tx.raw_put(&KEY_USER_VERSION, &version.to_le_bytes()))
    }

    /// Choose when this transaction's commit is durable.
    pub fn set_durability(&mut self, durability: Durability) {
        self.kv.set_durability(durability);
    }

    /// Commit: make every change visible (and durable per the durability).
    pub fn commit(mut self) -> Result<()> {
        self.check()?;
        if self.next_table_dirty {
            if let Some(n) = self.next_table {
                self.kv.put(&KEY_NEXT_TABLE, &n.to_le_bytes())?;
            }
        }
        if self.next_index_dirty {
            if let Some(n) = self.next_index {
                self.kv.put(&KEY_NEXT_INDEX, &n.to_le_bytes())?;
            }
        }
        if self.catalog_changed {
            let generation = self.catalog.generation + 1;
            self.kv.put(&KEY_CATALOG_GEN, &generation.to_le_bytes())?;
            Rc::make_mut(&mut self.catalog).generation = generation;
        }
        let Txn {
            kv,
            catalog,
            catalog_changed,
            catalog_cache: cache,
            db,
            begun_at,
            ..
        } = self;
        kv.commit()?;
        cache.own_commit(
            catalog_changed.then_some(catalog),
            begun_at,
            db.commit_count(),
        );
        Ok(())
    }

    /// Discard every change.
    pub fn rollback(self) {
        self.kv.rollback();
    }

    /// Error unless `table` exists (a cached link is not copied: this runs
    /// before every assignment).
    pub(crate) fn ensure_exists(&mut self, table: TableId) -> Result<()> {
        if table == ROOT || self.parents.contains_key(&table) {
            return Ok(());
        }
        self.link(table).map(drop)
    }

    /// Parent link of `table` (cached); `None` for the root.
    pub(crate) fn parent_link(&mut self, table: TableId) -> Result<Option<(TableId, Key)>> {
        Ok(self.link(table)?.map(|(p, k, _)| (p, k)))
    }

    /// Parent link of `table` and whether it is a packed record (cached);
    /// `None` for the root; an error for a table that does not exist.
    pub(crate) fn link(&mut self, table: TableId) -> Result<Option<(TableId, Key, bool)>> {
        if table == ROOT {
            return Ok(None);
        }
        if let Some(link) = self.parents.get(&table) {
            return Ok(Some(link.clone()));
        }
        match read_link(&self.kv, table)? {
            Some(link) => {
                self.remember_link(table, link.clone());
                Ok(Some(link))
            }
            None => Err(EngineError::NoSuchTable { id: table }),
        }
    }

    /// Whether `table` is a packed record, from the cached link when there
    /// is one (no copy of its key: this runs before every assignment).
    pub(crate) fn is_packed(&mut self, table: TableId) -> Result<bool> {
        if table == ROOT {
            return Ok(false);
        }
        if let Some((_, _, packed)) = self.parents.get(&table) {
            return Ok(*packed);
        }
        Ok(self.link(table)?.is_some_and(|(_, _, packed)| packed))
    }

    /// The parent link of `table` if cached (the root has none).
    pub(crate) fn cached_link(&self, table: TableId) -> Option<&(TableId, Key, bool)> {
        self.parents.get(&table)
    }

    pub(crate) fn remember_link(&mut self, table: TableId, link: (TableId, Key, bool)) {
        if self.parents.len() >= PARENT_CACHE_LIMIT {
            self.parents.clear();
        }
        self.parents.insert(table, link);
    }

    pub(crate) fn forget_link(&mut self, table: TableId) {
        self.parents.remove(&table);
    }

    /// Check that `child`'s parent link is `parent[key]` (the value there
    /// names it): a mismatch is damage, and following it could loop.
    fn check_child(&mut self, child: TableId, parent: TableId, key: &Key) -> Result<()> {
        match self.parent_link(child) {
            Ok(Some((p, k))) if p == parent && &k == key => Ok(()),
            Ok(_) | Err(EngineError::NoSuchTable { .. }) => Err(EngineError::corrupted(
                "table meta",
                format!(
                    "table {child} is stored under table {parent} but its parent link disagrees"
                ),
            )),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn alloc_table_id(&mut self) -> Result<TableId> {
        let next = match self.next_table {
            Some(n) => n,
            None => match self.kv.get(&KEY_NEXT_TABLE)? {
                Some(b) => decode_u64("table counter", &b)?,
                None => FIRST_TABLE_ID,
            },
        };
        let after = next
            .checked_add(1)
            .ok_or_else(|| EngineError::corrupted("table counter", "exhausted"))?;
        self.next_table = Some(after);
        self.next_table_dirty = true;
        Ok(next)
    }

    pub(crate) fn alloc_index_id(&mut self) -> Result<u64> {
        let next = match self.next_index {
            Some(n) => n,
            None => match self.kv.get(&KEY_NEXT_INDEX)? {
                Some(b) => decode_u64("index counter", &b)?,
                None => FIRST_INDEX_ID,
            },
        };
        let after = next
            .checked_add(1)
            .ok_or_else(|| EngineError::corrupted("index counter", "exhausted"))?;
        self.next_index = Some(after);
        self.next_index_dirty = true;
        Ok(next)
    }

    fn new_table(&mut self, parent: TableId, key: &Key) -> Result<TableId> {
        let id = self.alloc_table_id()?;
        self.put_new_meta(id, parent, key, false)?;
        self.remember_link(id, (parent, key.clone(), false));
        Ok(id)
    }

    /// Apply a normalised assignment. Iterative: a work stack of
    /// `(table, key, input)`, so deep literals cost heap, not stack.
    ///
    /// Entries of a table this assignment created are known to be absent
    /// (table ids come from a counter and are never reused), so writing
    /// them skips the lookup of an old value.
    pub(crate) fn assign(&mut self, table: TableId, key: Key, input: Input) -> Result<()> {
        // Only the target itself can be a packed record: everything below
        // is either created here or a table of entries reached through one.
        if self.assign_into_packed(table, &key, &input)? {
            return Ok(());
        }
        // (table, key, input, whether `table` was created by this call)
        let mut work: smallvec::SmallVec<[(TableId, Key, Input, bool); 8]> =
            smallvec::smallvec![(table, key, input, false)];
        while let Some((t, k, input, fresh)) = work.pop() {
            let ek = entry_key(t, &k);
            // Above the known end of its table: nothing to read (a load
            // in key order; see `append.rs`).
            let known = !fresh && self.known_absent(&ek);
            let old = if fresh || known {
                Prior::Absent
            } else {
                self.prior(&ek)?
            };
            if !fresh && matches!(old, Prior::Absent) {
                self.note_absent(&ek, known)?;
            }
            match input {
                Input::Nil => match old {
                    Prior::Absent => {}
                    Prior::Opaque => self.delete_entry(t, &k, &ek, None)?,
                    Prior::Known(old) => {
                        self.drop_child(&old, t, &k)?;
                        self.delete_entry(t, &k, &ek, Some(&old))?;
                    }
                },
                Input::Value(v) => {
                    if matches!(&old, Prior::Known(Stored::Value(o)) if *o == v) {
                        continue;
                    }
                    if let Prior::Known(old) = &old {
                        self.drop_child(old, t, &k)?;
                    }
                    self.put_entry(t, &k, &ek, old.known(), &Stored::Value(v), known)?;
                }
                Input::Table(entries) => {
                    let (child, created) = match old {
                        Prior::Known(Stored::Value(Value::Table(child))) => {
                            self.check_child(child, t, &k)?;
                            self.check_replacement(child, &entries)?;
                            self.clear_except(child, &entries)?;
                            (child, false)
                        }
                        Prior::Known(Stored::Record(record)) => {
                            let id = record.id;
                            self.check_child(id, t, &k)?;
                            if packs(id, &entries, self.page_size) {
                                let next = into_record(id, entries);
                                if next != record {
                                    let old = Stored::Record(record);
                                    let next = Stored::Record(next);
                                    self.put_entry(t, &k, &ek, Some(&old), &next, false)?;
                                }
                                continue;
                            }
                            self.unpack(t, &k, record)?;
                            self.check_replacement(id, &entries)?;
                            self.clear_except(id, &entries)?;
                            (id, false)
                        }
                        other => {
                            if packs(u64::MAX, &entries, self.page_size) {
                                let id = self.new_packed(t, &k)?;
                                let record = Stored::Record(into_record(id, entries));
                                self.put_entry(t, &k, &ek, other.known(), &record, known)?;
                                continue;
                            }
                            let child = self.new_table(t, &k)?;
                            self.put_new_table_entry(t, &k, &ek, other.known(), child)?;
                            (child, true)
                        }
                    };
                    // Reversed so that entries are written in key order.
                    for (ck, cv) in entries.into_iter().rev() {
                        work.push((child, ck, cv, created));
                    }
                }
            }
        }
        Ok(())
    }

    /// What entry `ek` holds, as an assignment replacing it needs to know
    /// it: a string too long to be an index key, or a function, that lies
    /// in an overflow chain is [`Prior::Opaque`] (only its first byte is
    /// read); anything else is decoded.
    fn prior(&self, ek: &[u8]) -> Result<Prior> {
        let mut prior = Prior::Absent;
        let max_key_len = self.max_key_len;
        self.kv.get_lent(ek, &mut |lent| {
            if let Lent::Overflow(_) = lent {
                let len = lent.len();
                if let Some(&tag) = lent.prefix(1)?.first() {
                    if codec::never_indexed(tag, len, max_key_len) {
                        prior = Prior::Opaque;
                        return Ok(());
                    }
                }
            }
            prior = Prior::Known(decode_lent(lent)?);
            Ok(())
        })?;
        Ok(prior)
    }

    /// Before the entry `table[key]` holding `old` is deleted or replaced:
    /// delete the table it refers to, or forget the packed record it is.
    pub(crate) fn drop_child(&mut self, old: &Stored, table: TableId, key: &Key) -> Result<()> {
        match old {
            Stored::Value(Value::Table(child)) => self.drop_table(*child, table, key),
            Stored::Record(record) => self.drop_packed(record, table, key),
            Stored::Value(_) => Ok(()),
        }
    }

    fn table_cursor(&self, table: TableId) -> Cursor {
        let start = entry_prefix(table);
        self.kv.prefix_cursor(&start)
    }

    /// Delete the entries of `table` whose keys the (sorted) literal lacks.
    fn clear_except(&mut self, table: TableId, keep: &[(Key, Input)]) -> Result<()> {
        let mut cursor = self.table_cursor(table);
        while let Some((ek, ev)) = self.kv.cursor_next(&mut cursor)? {
            let k = decode_entry_key(&ek)?;
            if Input::lookup(keep, &k).is_some() {
                continue;
            }
            let old = decode_stored_owned(ev)?;
            self.drop_child(&old, table, &k)?;
            // The cursor re-seeks after writes, so deleting behind it is safe.
            self.delete_entry(table, &k, &ek, Some(&old))?;
        }
        Ok(())
    }

    /// Delete table `table` (stored at `parent[key]`) with everything below
    /// it: entries (keeping ancestor indexes consistent), sub-tables, their
    /// meta, and the indexes and schemas defined on them. The entry
    /// `parent[key]` itself is left to the caller. Iterative, depth-first.
    pub(crate) fn drop_table(&mut self, table: TableId, parent: TableId, key: &Key) -> Result<()> {
        struct Frame {
            table: TableId,
            key: Key,
            cursor: Cursor,
        }
        self.check_child(table, parent, key)?;
        self.drop_catalog_of(table)?;
        let mut stack = vec![Frame {
            table,
            key: key.clone(),
            cursor: self.table_cursor(table),
        }];
        while let Some(frame) = stack.last_mut() {
            let t = frame.table;
            match self.kv.cursor_next(&mut frame.cursor)? {
                Some((ek, ev)) => {
                    let k = decode_entry_key(&ek)?;
                    match decode_stored_owned(ev)? {
                        Stored::Value(Value::Table(child)) => {
                            if stack.len() >= MAX_TABLE_DEPTH {
                                return Err(EngineError::corrupted(
                                    "table",
                                    format!("tables nest deeper than {MAX_TABLE_DEPTH} levels below table {table}"),
                                ));
                            }
                            self.check_child(child, t, &k)?;
                            self.drop_catalog_of(child)?;
                            let cursor = self.table_cursor(child);
                            // Its entry in `t` goes when its frame is done.
                            stack.push(Frame {
                                table: child,
                                key: k,
                                cursor,
                            });
                        }
                        v => {
                            if let Stored::Record(record) = &v {
                                self.drop_packed(record, t, &k)?;
                            }
                            self.delete_entry(t, &k, &ek, Some(&v))?
                        }
                    }
                }
                None => {
                    let done = stack.pop();
                    self.delete_meta(t)?;
                    self.forget_link(t);
                    if let (Some(done), Some(up)) = (done, stack.last()) {
                        let pt = up.table;
                        let ek = entry_key(pt, &done.key);
                        self.delete_entry(
                            pt,
                            &done.key,
                            &ek,
                            Some(&Stored::Value(Value::Table(t))),
                        )?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Remove the indexes and schema defined on `table` (being deleted).
    fn drop_catalog_of(&mut self, table: TableId) -> Result<()> {
        if !self.catalog.has(table) {
            return Ok(());
        }
        for def in self.catalog.indexes_on(table).to_vec() {
            self.drop_index_def(&def)?;
        }
        if self.catalog.schema(table).is_some() {
            self.raw_delete(&super::keyspace::schema_key(table))?;
            self.catalog_mut().set_schema(table, None);
        }
        Ok(())
    }
}
