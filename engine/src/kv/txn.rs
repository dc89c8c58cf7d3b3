//! Transactions: the single writer and snapshot readers.

use super::db::{DbInner, Durability};
use super::deferred::Deferred;
use super::prefix::prefix_end;
use super::wal::WalBuffer;
use crate::error::{EngineError, Result};
use moonvault_btree::{BTree, BTreeError, Cursor, InsertHints, Lent};
use moonvault_pager::Pager;
use std::cell::{Cell, RefCell};
use std::ops::Bound;
use std::rc::Rc;

/// A callback lent one entry's key and value by
/// [`KvRead::cursor_next_with`].
pub type EntryFn<'a> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'a;

/// A reader of entries lent with whether their values are vouched for
/// ([`KvRead::cursor_next_vouched`]).
pub type VouchedEntryFn<'a> = dyn FnMut(&[u8], &[u8], bool) -> Result<()> + 'a;

/// A callback lent one entry's key and its value unread (a [`Lent`]) by
/// [`KvRead::cursor_next_lent`] and [`KvRead::cursor_next_run`].
pub type LentEntryFn<'a> = dyn FnMut(&[u8], Lent<'_>) -> Result<()> + 'a;

/// Read access shared by [`ReadTxn`] and [`WriteTxn`].
pub trait KvRead {
    /// The value stored under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Entries with keys between the bounds, ascending or (`reverse`) descending.
    fn range<'a>(
        &'a self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
    ) -> RangeIter<'a>;
    /// Number of keys between the bounds.
    fn count(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Result<u64>;
    /// Advance a detached cursor (see [`KvRead::cursor`]). Safe across writes
    /// to the same transaction: the cursor re-seeks after its last key.
    fn cursor_next(&self, cursor: &mut Cursor) -> Result<Option<(Vec<u8>, Vec<u8>)>>;
    /// A cursor that borrows nothing, for iterations interleaved with writes.
    fn cursor(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>, reverse: bool) -> Cursor;

    /// Entries whose keys start with `prefix`, in key order: one table's,
    /// one index's, one catalog area's.
    fn scan_prefix(&self, prefix: &[u8]) -> RangeIter<'_> {
        let end = prefix_end(prefix);
        self.range(Bound::Included(prefix), upper(&end), false)
    }

    /// [`KvRead::scan_prefix`] as a detached cursor (see [`KvRead::cursor`]).
    fn prefix_cursor(&self, prefix: &[u8]) -> Cursor {
        let end = prefix_end(prefix);
        self.cursor(Bound::Included(prefix), upper(&end), false)
    }

    /// Number of keys that start with `prefix`.
    fn count_prefix(&self, prefix: &[u8]) -> Result<u64> {
        let end = prefix_end(prefix);
        self.count(Bound::Included(prefix), upper(&end))
    }

    /// Lend the value under `key` to `f` instead of copying it out (the
    /// decoders of the layers above need only a slice); returns whether
    /// the key exists. `f` must not write through this transaction.
    fn get_with(&self, key: &[u8], f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<bool> {
        match self.get(key)? {
            Some(v) => f(&v).map(|()| true),
            None => Ok(false),
        }
    }

    /// [`KvRead::get_with`] also telling `f` whether the value's bytes were
    /// vouched for by the engine's value check when their page's search
    /// aid was derived (`moonvault_btree::BTree::get_vouched`; see
    /// [`crate::codec::VALUE_AID`]): a decoder may then skip the checks
    /// that check already made. Values read from anywhere else are not.
    fn get_vouched(&self, key: &[u8], f: &mut dyn FnMut(&[u8], bool) -> Result<()>)
        -> Result<bool>;

    /// Lend the last entry whose key lies in `lower ..= key` to
    /// `f(key, value)`; returns whether there is one. One descent when
    /// the entry is on the leaf `key` leads to, a reverse cursor step
    /// otherwise. `f` must not write through this transaction.
    fn floor_with(&self, lower: &[u8], key: &[u8], f: &mut EntryFn<'_>) -> Result<bool>;

    /// Lend the value under `key` to `f` as a [`Lent`]: an overflow value
    /// is not read until `f` asks (`Lent::prefix`, `Lent::read`), so a
    /// reader can learn a large value's kind from its first bytes, or take
    /// it whole into a buffer it owns, without a second copy. Returns
    /// whether the key exists. `f` must not write through this transaction.
    fn get_lent(&self, key: &[u8], f: &mut dyn FnMut(Lent<'_>) -> Result<()>) -> Result<bool>;

    /// [`KvRead::cursor_next`] lending the entry to `f(key, value)` instead
    /// of copying it out; returns false at the end. Same positioning rules;
    /// `f` must not write through this transaction.
    fn cursor_next_with(&self, cursor: &mut Cursor, f: &mut EntryFn<'_>) -> Result<bool> {
        match self.cursor_next(cursor)? {
            Some((k, v)) => f(&k, &v).map(|()| true),
            None => Ok(false),
        }
    }

    /// [`KvRead::cursor_next_with`] also telling `f` whether the value is
    /// vouched for, as [`KvRead::get_vouched`] does.
    fn cursor_next_vouched(&self, cursor: &mut Cursor, f: &mut VouchedEntryFn<'_>) -> Result<bool>;

    /// [`KvRead::cursor_next_with`] lending the value as a [`Lent`] (see
    /// [`KvRead::get_lent`]): an overflow value is read only if `f` asks,
    /// into a buffer `f` then owns. Same positioning rules; `f` must not
    /// write through this transaction.
    fn cursor_next_lent(&self, cursor: &mut Cursor, f: &mut LentEntryFn<'_>) -> Result<bool>;

    /// Whether [`KvRead::prefetch`] can pay off (the store reads slowly
    /// one page at a time, as the browser's lazy paging does); when false,
    /// callers skip finding what to prefetch.
    fn prefetch_useful(&self) -> bool {
        false
    }

    /// A hint that the entries under `keys` will be read soon (see
    /// `BTree::prefetch`). Changes nothing a read returns.
    fn prefetch(&self, _keys: &[&[u8]]) -> Result<()> {
        Ok(())
    }

    /// A hint that the entries from `lo` below `hi` will be read soon, in
    /// key order, at most `max_leaves` leaves of them (see
    /// `BTree::prefetch_range`). Changes nothing a read returns.
    fn prefetch_range(&self, _lo: &[u8], _hi: Bound<&[u8]>, _max_leaves: usize) -> Result<()> {
        Ok(())
    }

    /// [`KvRead::cursor_next_lent`] for a run: the next entry and those
    /// after it on the same B-tree leaf, at most `max`, each lent to `f`;
    /// returns how many (0 at the end). For iterators that decode ahead
    /// into a buffer while nothing can write (they borrow the
    /// transaction). `f` must not write through this transaction.
    fn cursor_next_run(
        &self,
        cursor: &mut Cursor,
        max: usize,
        f: &mut LentEntryFn<'_>,
    ) -> Result<usize> {
        if max == 0 {
            return Ok(0);
        }
        Ok(usize::from(self.cursor_next_lent(cursor, f)?))
    }
}

/// The upper bound of a prefix range whose end is `end`.
fn upper(end: &Option<smallvec::SmallVec<[u8; 64]>>) -> Bound<&[u8]> {
    end.as_deref().map_or(Bound::Unbounded, Bound::Excluded)
}

/// Entries of a range, in order. Yields `Err` once and then ends if a page
/// cannot be read (or the writes held back for the range could not be
/// applied first).
pub struct RangeIter<'a> {
    db: &'a RefCell<DbInner>,
    /// Read at every step: the cursor re-seeks if the tree changed.
    tree: &'a Cell<BTree>,
    cursor: Cursor,
    failed: bool,
    unsettled: Option<EngineError>,
}

impl RangeIter<'_> {
    /// The next entry lent to `f(key, value)` instead of copied out, as
    /// `next` would yield it: no allocation for an inline value (an
    /// overflow value is read into a buffer the iterator reuses). `None` at
    /// the end; an error is yielded once, then the iteration ends, as with
    /// `next`. Steps of `next` and `next_with` may be mixed.
    pub fn next_with<T>(&mut self, f: impl FnOnce(&[u8], &[u8]) -> T) -> Option<Result<T>> {
        self.step(|cursor, tree, pager| cursor.next_with(tree, pager, f))
    }

    /// One step of the cursor, with the iterator's error rules.
    fn step<T>(
        &mut self,
        next: impl FnOnce(&mut Cursor, &BTree, &Pager) -> moonvault_btree::Result<Option<T>>,
    ) -> Option<Result<T>> {
        if self.failed {
            return None;
        }
        if let Some(e) = self.unsettled.take() {
            self.failed = true;
            return Some(Err(e));
        }
        let inner = self.db.borrow();
        match next(&mut self.cursor, &self.tree.get(), &inner.pager) {
            Ok(entry) => entry.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e.into()))
            }
        }
    }
}

impl Iterator for RangeIter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        // An overflow value is read straight into the vector yielded.
        self.step(|cursor, tree, pager| cursor.next(tree, pager))
    }
}

macro_rules! kv_read_via_tree {
    ($ty:ty) => {
        impl KvRead for $ty {
            fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
                self.settle_key(key)?;
                let inner = self.db.borrow();
                Ok(self.tree.get().get(&inner.pager, key)?)
            }

            fn range<'a>(
                &'a self,
                lower: Bound<&[u8]>,
                upper: Bound<&[u8]>,
                reverse: bool,
            ) -> RangeIter<'a> {
                // Writes held back for the range are applied first; the
                // cursor reads the tree as it is at each step.
                let unsettled = self.settle(lower, upper).err();
                RangeIter {
                    db: &self.db,
                    tree: &self.tree,
                    cursor: self.tree.get().range(lower, upper, reverse),
                    failed: false,
                    unsettled,
                }
            }

            fn count(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Result<u64> {
                self.settle(lower, upper)?;
                let inner = self.db.borrow();
                Ok(self.tree.get().count(&inner.pager, lower, upper)?)
            }

            fn cursor_next(&self, cursor: &mut Cursor) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
                self.settle_cursor(cursor)?;
                let inner = self.db.borrow();
                Ok(cursor.next(&self.tree.get(), &inner.pager)?)
            }

            fn cursor(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>, reverse: bool) -> Cursor {
                self.tree.get().range(lower, upper, reverse)
            }

            fn prefetch_useful(&self) -> bool {
                self.db.borrow().pager.prefetch_useful()
            }

            fn prefetch(&self, keys: &[&[u8]]) -> Result<()> {
                let inner = self.db.borrow();
                Ok(self.tree.get().prefetch(&inner.pager, keys)?)
            }

            fn prefetch_range(&self, lo: &[u8], hi: Bound<&[u8]>, max_leaves: usize) -> Result<()> {
                let hi = match hi {
                    Bound::Included(h) | Bound::Excluded(h) => Some(h),
                    Bound::Unbounded => None,
                };
                let inner = self.db.borrow();
                Ok(self
                    .tree
                    .get()
                    .prefetch_range(&inner.pager, lo, hi, max_leaves)?)
            }

            fn get_with(&self, key: &[u8], f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<bool> {
                self.get_vouched(key, &mut |v, _| f(v))
            }

            fn get_vouched(
                &self,
                key: &[u8],
                f: &mut dyn FnMut(&[u8], bool) -> Result<()>,
            ) -> Result<bool> {
                self.settle_key(key)?;
                let inner = self.db.borrow();
                let tree = self.tree.get();
                let found = match self.insert_hints() {
                    Some(hints) => {
                        tree.get_vouched_hinted(&inner.pager, key, hints, |v, vouched| {
                            f(v, vouched)
                        })?
                    }
                    None => tree.get_vouched(&inner.pager, key, |v, vouched| f(v, vouched))?,
                };
                match found {
                    Some(r) => r.map(|()| true),
                    None => Ok(false),
                }
            }

            fn get_lent(
                &self,
                key: &[u8],
                f: &mut dyn FnMut(Lent<'_>) -> Result<()>,
            ) -> Result<bool> {
                self.settle_key(key)?;
                let inner = self.db.borrow();
                let found =
                    self.tree
                        .get()
                        .get_lent(&inner.pager, key, self.insert_hints(), |v| f(v))?;
                match found {
                    Some(r) => r.map(|()| true),
                    None => Ok(false),
                }
            }

            fn floor_with(&self, lower: &[u8], key: &[u8], f: &mut EntryFn<'_>) -> Result<bool> {
                self.settle_held_back(Bound::Included(lower), Bound::Included(key))?;
                // A put held as the latest of its key is read from memory,
                // not applied (this read may run inside another's callback,
                // where nothing can be written): it is the answer unless
                // the tree has a greater key within the bounds.
                let latest = self.latest_within(lower, key);
                let inner = self.db.borrow();
                let tree = self.tree.get();
                let above_latest =
                    |k: &[u8]| latest.as_ref().is_none_or(|(lk, _)| k > lk.as_slice());
                // Lend only an entry within the bounds; `None` asks the
                // cursor (the entry is on an earlier leaf, or none is).
                let found = tree.floor_in_leaf(&inner.pager, key, |k, v| {
                    (k >= lower && above_latest(k)).then(|| f(k, v))
                })?;
                let found = match found {
                    Some(found) => found,
                    None => {
                        let mut cursor =
                            tree.range(Bound::Included(lower), Bound::Included(key), true);
                        cursor
                            .next_with(&tree, &inner.pager, |k, v| {
                                above_latest(k).then(|| f(k, v))
                            })?
                            .flatten()
                    }
                };
                drop(inner);
                match (found, latest) {
                    (Some(r), _) => r.map(|()| true),
                    (None, Some((k, v))) => f(&k, &v).map(|()| true),
                    (None, None) => Ok(false),
                }
            }

            fn cursor_next_with(&self, cursor: &mut Cursor, f: &mut EntryFn<'_>) -> Result<bool> {
                self.cursor_next_vouched(cursor, &mut |k, v, _| f(k, v))
            }

            fn cursor_next_vouched(
                &self,
                cursor: &mut Cursor,
                f: &mut VouchedEntryFn<'_>,
            ) -> Result<bool> {
                self.settle_cursor(cursor)?;
                let inner = self.db.borrow();
                match cursor.next_vouched(&self.tree.get(), &inner.pager, |k, v, vouched| {
                    f(k, v, vouched)
                })? {
                    Some(r) => r.map(|()| true),
                    None => Ok(false),
                }
            }

            fn cursor_next_lent(
                &self,
                cursor: &mut Cursor,
                f: &mut LentEntryFn<'_>,
            ) -> Result<bool> {
                self.settle_cursor(cursor)?;
                let inner = self.db.borrow();
                match cursor.next_lent(&self.tree.get(), &inner.pager, |k, v| f(k, v))? {
                    Some(r) => r.map(|()| true),
                    None => Ok(false),
                }
            }

            fn cursor_next_run(
                &self,
                cursor: &mut Cursor,
                max: usize,
                f: &mut LentEntryFn<'_>,
            ) -> Result<usize> {
                self.settle_cursor(cursor)?;
                let inner = self.db.borrow();
                // The first error of `f` stops the lending (the cursor may
                // already be past that entry; callers fail on it).
                let mut failed = None;
                let n = cursor.next_run_with(&self.tree.get(), &inner.pager, max, |k, v| {
                    if failed.is_none() {
                        if let Err(e) = f(k, v) {
                            failed = Some(e);
                        }
                    }
                })?;
                match failed {
                    Some(e) => Err(e),
                    None => Ok(n),
                }
            }
        }
    };
}

/// A consistent snapshot of the last commit at the time it was taken.
/// Holding it keeps its pages from being reused; drop it when done.
pub struct ReadTxn {
    db: Rc<RefCell<DbInner>>,
    /// Never changes (a `Cell` as [`WriteTxn::tree`], for the shared reads).
    tree: Cell<BTree>,
    pin: u64,
}

impl ReadTxn {
    pub(crate) fn new(db: Rc<RefCell<DbInner>>, tree: BTree, pin: u64) -> ReadTxn {
        ReadTxn {
            db,
            tree: Cell::new(tree),
            pin,
        }
    }
}

impl Drop for ReadTxn {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.db.try_borrow_mut() {
            inner.pager.unpin(self.pin);
        }
    }
}

impl ReadTxn {
    /// A snapshot has no writes to learn leaves from.
    fn insert_hints(&self) -> Option<&InsertHints> {
        None
    }

    /// A snapshot holds no writes back.
    #[inline(always)]
    fn settle(&self, _lower: Bound<&[u8]>, _upper: Bound<&[u8]>) -> Result<()> {
        Ok(())
    }

    #[inline(always)]
    fn settle_held_back(&self, _lower: Bound<&[u8]>, _upper: Bound<&[u8]>) -> Result<()> {
        Ok(())
    }

    #[inline(always)]
    fn latest_within(&self, _lower: &[u8], _key: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        None
    }

    #[inline(always)]
    fn settle_key(&self, _key: &[u8]) -> Result<()> {
        Ok(())
    }

    #[inline(always)]
    fn settle_cursor(&self, _cursor: &Cursor) -> Result<()> {
        Ok(())
    }
}

kv_read_via_tree!(ReadTxn);

/// The write transaction. Reads see its own writes, including the ones
/// it holds back ([`WriteTxn::put_deferred`]). Dropping it without
/// `commit` rolls it back.
pub struct WriteTxn {
    db: Rc<RefCell<DbInner>>,
    /// Changed by writes (`&mut self`) and by reads that apply the writes
    /// held back (`&self`, see [`WriteTxn::settle`]).
    tree: Cell<BTree>,
    /// Leaves recent puts edited in place, for runs of nearby puts.
    hints: InsertHints,
    log: WalBuffer,
    /// Writes held back to be applied in key order, already logged.
    deferred: RefCell<Deferred>,
    /// The latest put of one key, already logged, held until a read of a
    /// range holding the key, a write of it, a `put_latest` of another
    /// key, or the commit (see [`WriteTxn::put_latest`]).
    latest: RefCell<Option<(Vec<u8>, Vec<u8>)>>,
    /// The log outgrew `txn_log_limit`: commit by checkpoint instead.
    by_checkpoint: bool,
    /// A write failed midway; only rollback is possible.
    failed: RefCell<Option<String>>,
    durability: Durability,
    done: bool,
}

kv_read_via_tree!(WriteTxn);

impl WriteTxn {
    /// The leaves this transaction's puts edited: a read of a key in one
    /// of their ranges searches that leaf without a descent.
    fn insert_hints(&self) -> Option<&InsertHints> {
        Some(&self.hints)
    }

    pub(crate) fn new(db: Rc<RefCell<DbInner>>, tree: BTree, durability: Durability) -> WriteTxn {
        WriteTxn {
            db,
            tree: Cell::new(tree),
            hints: InsertHints::default(),
            log: WalBuffer::default(),
            deferred: RefCell::default(),
            latest: RefCell::new(None),
            by_checkpoint: false,
            failed: RefCell::new(None),
            durability,
            done: false,
        }
    }

    fn check(&self) -> Result<()> {
        match &*self.failed.borrow() {
            Some(why) => Err(EngineError::InvalidArgument(format!(
                "the transaction failed earlier ({why}); roll it back"
            ))),
            None => Ok(()),
        }
    }

    /// Record a tree error; errors that leave the tree untouched do not fail
    /// the transaction.
    fn note(&self, result: std::result::Result<(), BTreeError>) -> Result<()> {
        if let Err(e) = result {
            if !matches!(e, BTreeError::KeyTooLarge { .. }) {
                *self.failed.borrow_mut() = Some(e.to_string());
            }
            return Err(e.into());
        }
        Ok(())
    }

    fn log_limit(&self) -> usize {
        self.db.borrow().options.txn_log_limit
    }

    /// Bytes the writes held back may take: their own room, or what the
    /// log leaves of `txn_log_limit` when they share it (`None`).
    fn held_back_room(&self) -> Option<usize> {
        match self.db.borrow().options.held_back_bytes {
            0 => None,
            own => Some(own),
        }
    }

    /// The log would pass `txn_log_limit`: drop it and commit by
    /// checkpoint.
    fn by_checkpoint(&mut self) {
        self.by_checkpoint = true;
        self.log.discard();
    }

    /// Log a put (`Some(parts)`) or a delete of `key`. Where the log and
    /// the writes held back share `txn_log_limit`, the log comes first:
    /// when the held-back writes leave it no room they are applied and
    /// their buffers freed before the log gives up and the transaction
    /// turns to commit by checkpoint.
    fn log_op(&mut self, key: &[u8], parts: Option<&[&[u8]]>) -> Result<()> {
        if self.by_checkpoint {
            return Ok(());
        }
        let limit = self.log_limit();
        let logged = |log: &mut WalBuffer, limit: usize| match parts {
            Some(parts) => log.put_parts(key, parts, limit),
            None => log.delete(key, limit),
        };
        let held = match self.held_back_room() {
            Some(_) => 0,
            None => self.deferred.get_mut().memory(),
        };
        if logged(&mut self.log, limit.saturating_sub(held)) {
            return Ok(());
        }
        if held > 0 {
            self.apply_deferred()?;
            *self.deferred.get_mut() = Deferred::default();
            if logged(&mut self.log, limit) {
                return Ok(());
            }
        }
        self.by_checkpoint();
        Ok(())
    }

    /// Set `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_parts(key, &[value])
    }

    /// Set `key` to the value made of `parts` one after the other, without
    /// joining them first when the value goes to overflow pages (a large
    /// value is then held once, by the caller, plus the pages being
    /// written).
    pub fn put_parts(&mut self, key: &[u8], parts: &[&[u8]]) -> Result<()> {
        self.check()?;
        // A write held back for this key must not land after this one.
        self.settle_key(key)?;
        let result = {
            let mut inner = self.db.borrow_mut();
            self.tree
                .get_mut()
                .insert_hinted_parts(&mut inner.pager, key, parts, &mut self.hints)
                .map(drop)
        };
        self.note(result)?;
        self.log_op(key, Some(parts))
    }

    /// Remove `key`; returns whether it existed.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        self.check()?;
        self.settle_key(key)?;
        let result = {
            let mut inner = self.db.borrow_mut();
            self.tree.get_mut().remove(&mut inner.pager, key)
        };
        let existed = match result {
            Ok(existed) => existed,
            Err(e) => {
                self.note(Err(e))?;
                false
            }
        };
        if existed {
            self.log_op(key, None)?;
        }
        Ok(existed)
    }

    /// Set `key` to `value` at the latest before the next read of a range
    /// holding `key` or the commit, whichever comes first: writes held back
    /// are applied together in key order, so that a run of them touching
    /// one leaf edits it once (see `deferred.rs`). Reads never see the
    /// difference. For index entries, whose order of writing follows the
    /// records rather than their own keys, and a load's appended records;
    /// a value must stay small (it is held in memory until applied).
    pub fn put_deferred(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check()?;
        self.check_key_len(key)?;
        self.apply_latest_of(key)?;
        self.log_op(key, Some(&[value]))?;
        self.defer(key, Some(value))
    }

    /// Set `key`, which the caller knows to be absent and above the keys
    /// of the writes before it (a load in key order), to `value`: held back
    /// as [`WriteTxn::put_deferred`] where the held-back writes have a room
    /// of their own (`Options::held_back_bytes`), put at once where they
    /// share the log's. A shared room is small (the browser's 32 KiB): a
    /// load's records would take most of it from the index entries, whose
    /// drains then come several times as often, each rewriting every index
    /// leaf it reaches for fewer entries (browser bulk insert of 10K users
    /// 99 -> 140 ms when they did).
    pub fn put_appended(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        match self.held_back_room() {
            Some(_) => self.put_deferred(key, value),
            None => self.put(key, value),
        }
    }

    /// Remove `key` as [`WriteTxn::put_deferred`] sets one (whether it
    /// existed is not known until the delete is applied).
    pub fn delete_deferred(&mut self, key: &[u8]) -> Result<()> {
        self.check()?;
        self.check_key_len(key)?;
        self.apply_latest_of(key)?;
        self.log_op(key, None)?;
        self.defer(key, None)
    }

    /// Set `key` to `value`, holding the put in memory as the key's latest
    /// value: a run of `put_latest` of one key (a meta run's count, grown
    /// by every record of a load) reaches the tree once. The put is
    /// applied before a read of a range holding `key` (a floor read of it
    /// is answered from memory instead), before any other write of `key`,
    /// when a `put_latest` of another key takes its place, and at the
    /// commit. Logged at once, as [`WriteTxn::put_deferred`] is.
    pub fn put_latest(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check()?;
        self.check_key_len(key)?;
        // A write of `key` held back in key order must land before this.
        self.settle_held_back(Bound::Included(key), Bound::Included(key))?;
        self.log_op(key, Some(&[value]))?;
        if let Some((k, v)) = self.latest.get_mut() {
            if k.as_slice() == key {
                v.clear();
                v.extend_from_slice(value);
                return Ok(());
            }
        }
        self.apply_latest()?;
        *self.latest.get_mut() = Some((key.to_vec(), value.to_vec()));
        Ok(())
    }

    /// Write the put held by [`WriteTxn::put_latest`] into the tree. A
    /// failure fails the transaction (the put is logged).
    fn apply_latest(&self) -> Result<()> {
        let Ok(mut latest) = self.latest.try_borrow_mut() else {
            return Err(nested_read());
        };
        if latest.is_none() {
            return Ok(());
        }
        // A read lending an entry to its caller holds the store.
        let Ok(mut inner) = self.db.try_borrow_mut() else {
            return Err(nested_read());
        };
        let Some((key, value)) = latest.take() else {
            return Ok(());
        };
        let mut tree = self.tree.get();
        let result = write_entry(
            &mut tree,
            &mut inner.pager,
            &mut InsertHints::default(),
            &key,
            Some(&value),
        );
        self.tree.set(tree);
        drop(inner);
        self.fail_logged(result)
    }

    /// The put held by [`WriteTxn::put_latest`], copied, if its key lies in
    /// `lower ..= key`.
    fn latest_within(&self, lower: &[u8], key: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        match &*self.latest.borrow() {
            Some((k, v)) if k.as_slice() >= lower && k.as_slice() <= key => {
                Some((k.clone(), v.clone()))
            }
            _ => None,
        }
    }

    /// The tree's refusal of a key too long, before a held-back write of
    /// it is logged: once logged, a write must reach the tree.
    fn check_key_len(&self, key: &[u8]) -> Result<()> {
        Ok(BTree::check_key(key, self.db.borrow().pager.page_size())?)
    }

    /// Record that a write already logged did not reach the tree: the
    /// transaction can only be rolled back.
    fn fail_logged(&self, result: std::result::Result<(), BTreeError>) -> Result<()> {
        result.map_err(|e| {
            *self.failed.borrow_mut() = Some(e.to_string());
            e.into()
        })
    }

    /// Hold back a write already logged, within what the log leaves of
    /// `txn_log_limit`; applies the writes held so far when they would
    /// pass it, and the write itself at once if it alone would.
    fn defer(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let room = self
            .held_back_room()
            .unwrap_or_else(|| self.log_limit().saturating_sub(self.log.capacity()));
        if self.deferred.get_mut().try_push(key, value, room) {
            return Ok(());
        }
        self.apply_deferred()?;
        if self.deferred.get_mut().try_push(key, value, room) {
            return Ok(());
        }
        let result = {
            let mut inner = self.db.borrow_mut();
            write_entry(
                self.tree.get_mut(),
                &mut inner.pager,
                &mut self.hints,
                key,
                value,
            )
        };
        self.fail_logged(result)
    }

    /// Apply the writes held back whose keys a read between `lower` and
    /// `upper` could see: all of them, in key order. Every read of this
    /// transaction calls this first, so none sees the tree without them.
    fn settle(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Result<()> {
        let latest_within = match &*self.latest.borrow() {
            Some((k, _)) => {
                use std::ops::RangeBounds;
                RangeBounds::<[u8]>::contains(&(lower, upper), k.as_slice())
            }
            None => false,
        };
        if latest_within {
            self.apply_latest()?;
        }
        self.settle_held_back(lower, upper)
    }

    /// [`WriteTxn::settle`] for the writes held back in key order only
    /// (a floor read answers the put held as latest from memory).
    fn settle_held_back(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Result<()> {
        if !self.deferred.borrow().overlaps(lower, upper) {
            return Ok(());
        }
        self.apply_held_back(lower, upper)
    }

    /// Apply the put held as latest if it is of `key` (a write of `key`
    /// comes after it).
    fn apply_latest_of(&self, key: &[u8]) -> Result<()> {
        let held = matches!(&*self.latest.borrow(), Some((k, _)) if k.as_slice() == key);
        if held {
            self.apply_latest()?;
        }
        Ok(())
    }

    /// [`WriteTxn::settle`] for a read of `key`.
    fn settle_key(&self, key: &[u8]) -> Result<()> {
        self.settle(Bound::Included(key), Bound::Included(key))
    }

    /// [`WriteTxn::settle`] for a step of `cursor`.
    fn settle_cursor(&self, cursor: &Cursor) -> Result<()> {
        let (lower, upper) = cursor.bounds();
        self.settle(lower, upper)
    }

    /// Apply every write held back, in key order. A failure fails the
    /// transaction (part of the writes may be applied).
    fn apply_deferred(&self) -> Result<()> {
        self.apply_held_back(Bound::Unbounded, Bound::Unbounded)
    }

    /// Apply the writes held back that a read between `lower` and `upper`
    /// could see (`Deferred::drain_overlapping`), in key order. A failure
    /// fails the transaction.
    fn apply_held_back(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Result<()> {
        let Ok(mut deferred) = self.deferred.try_borrow_mut() else {
            return Err(nested_read());
        };
        if deferred.is_empty() {
            return Ok(());
        }
        // A read lending an entry to its caller holds the store; a read
        // made from inside that caller cannot apply writes under it.
        let Ok(mut inner) = self.db.try_borrow_mut() else {
            return Err(nested_read());
        };
        let mut tree = self.tree.get();
        // One run: each leaf it reaches is written once (`apply_sorted`).
        let result = deferred
            .drain_overlapping(lower, upper, |run| tree.apply_sorted(&mut inner.pager, run));
        self.tree.set(tree);
        drop(inner);
        self.fail_logged(result)
    }

    /// Choose this transaction's durability.
    pub fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// Make the changes visible (and durable per the durability setting).
    pub fn commit(mut self) -> Result<()> {
        self.check()?;
        self.apply_latest()?;
        self.apply_deferred()?;
        self.done = true;
        let tree = self.tree.take();
        let log = std::mem::take(&mut self.log);
        self.db
            .borrow_mut()
            .commit(tree, log, self.by_checkpoint, self.durability)
    }

    /// Discard the changes.
    pub fn rollback(mut self) {
        self.abort();
    }

    fn abort(&mut self) {
        if !self.done {
            self.done = true;
            if let Ok(mut inner) = self.db.try_borrow_mut() {
                inner.pager.rollback();
                inner.writer_open = false;
            }
        }
    }
}

/// Put `key = value` into `tree`, or delete `key` (`None`): one held-back
/// write reaching the tree.
fn write_entry(
    tree: &mut BTree,
    pager: &mut Pager,
    hints: &mut InsertHints,
    key: &[u8],
    value: Option<&[u8]>,
) -> std::result::Result<(), BTreeError> {
    match value {
        Some(v) => tree.insert_hinted(pager, key, v, hints).map(drop),
        None => tree.remove(pager, key).map(drop),
    }
}

/// A read of keys with writes held back, made while another read of the
/// same transaction was lending it an entry.
#[cold]
fn nested_read() -> EngineError {
    EngineError::InvalidArgument(
        "a read inside another read's callback reached index entries written earlier in \
         this transaction and not yet applied; read them before or after that callback"
            .into(),
    )
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        self.abort();
    }
}
