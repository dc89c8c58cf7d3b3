//! Transactions: the single writer and snapshot readers.

use super::db::{DbInner, Durability};
use super::prefix::prefix_end;
use super::wal::WalBuffer;
use crate::error::{EngineError, Result};
use moonvault_btree::{BTree, BTreeError, Cursor, InsertHints, Lent};
use std::cell::RefCell;
use std::ops::Bound;
use std::rc::Rc;

/// A callback lent one entry's key and value by
/// [`KvRead::cursor_next_with`].
pub type EntryFn<'a> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'a;

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
/// cannot be read.
pub struct RangeIter<'a> {
    db: &'a RefCell<DbInner>,
    tree: &'a BTree,
    cursor: Cursor,
    failed: bool,
}

impl Iterator for RangeIter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let inner = self.db.borrow();
        match self.cursor.next(self.tree, &inner.pager) {
            Ok(entry) => entry.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e.into()))
            }
        }
    }
}

macro_rules! kv_read_via_tree {
    ($ty:ty) => {
        impl KvRead for $ty {
            fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
                let inner = self.db.borrow();
                Ok(self.tree.get(&inner.pager, key)?)
            }

            fn range<'a>(
                &'a self,
                lower: Bound<&[u8]>,
                upper: Bound<&[u8]>,
                reverse: bool,
            ) -> RangeIter<'a> {
                RangeIter {
                    db: &self.db,
                    tree: &self.tree,
                    cursor: self.tree.range(lower, upper, reverse),
                    failed: false,
                }
            }

            fn count(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Result<u64> {
                let inner = self.db.borrow();
                Ok(self.tree.count(&inner.pager, lower, upper)?)
            }

            fn cursor_next(&self, cursor: &mut Cursor) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
                let inner = self.db.borrow();
                Ok(cursor.next(&self.tree, &inner.pager)?)
            }

            fn cursor(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>, reverse: bool) -> Cursor {
                self.tree.range(lower, upper, reverse)
            }

            fn prefetch_useful(&self) -> bool {
                self.db.borrow().pager.prefetch_useful()
            }

            fn prefetch(&self, keys: &[&[u8]]) -> Result<()> {
                let inner = self.db.borrow();
                Ok(self.tree.prefetch(&inner.pager, keys)?)
            }

            fn get_with(&self, key: &[u8], f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<bool> {
                let inner = self.db.borrow();
                let found = match self.insert_hints() {
                    Some(hints) => self
                        .tree
                        .get_with_hinted(&inner.pager, key, hints, |v| f(v))?,
                    None => self.tree.get_with(&inner.pager, key, |v| f(v))?,
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
                let inner = self.db.borrow();
                let found = self
                    .tree
                    .get_lent(&inner.pager, key, self.insert_hints(), |v| f(v))?;
                match found {
                    Some(r) => r.map(|()| true),
                    None => Ok(false),
                }
            }

            fn cursor_next_with(&self, cursor: &mut Cursor, f: &mut EntryFn<'_>) -> Result<bool> {
                let inner = self.db.borrow();
                match cursor.next_with(&self.tree, &inner.pager, |k, v| f(k, v))? {
                    Some(r) => r.map(|()| true),
                    None => Ok(false),
                }
            }

            fn cursor_next_lent(
                &self,
                cursor: &mut Cursor,
                f: &mut LentEntryFn<'_>,
            ) -> Result<bool> {
                let inner = self.db.borrow();
                match cursor.next_lent(&self.tree, &inner.pager, |k, v| f(k, v))? {
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
                let inner = self.db.borrow();
                // The first error of `f` stops the lending (the cursor may
                // already be past that entry; callers fail on it).
                let mut failed = None;
                let n = cursor.next_run_with(&self.tree, &inner.pager, max, |k, v| {
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
    tree: BTree,
    pin: u64,
}

impl ReadTxn {
    pub(crate) fn new(db: Rc<RefCell<DbInner>>, tree: BTree, pin: u64) -> ReadTxn {
        ReadTxn { db, tree, pin }
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
}

kv_read_via_tree!(ReadTxn);

/// The write transaction. Reads see its own writes. Dropping it without
/// `commit` rolls it back.
pub struct WriteTxn {
    db: Rc<RefCell<DbInner>>,
    tree: BTree,
    /// Leaves recent puts edited in place, for runs of nearby puts.
    hints: InsertHints,
    log: WalBuffer,
    /// The log outgrew `txn_log_limit`: commit by checkpoint instead.
    by_checkpoint: bool,
    /// A write failed midway; only rollback is possible.
    failed: Option<String>,
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
            tree,
            hints: InsertHints::default(),
            log: WalBuffer::default(),
            by_checkpoint: false,
            failed: None,
            durability,
            done: false,
        }
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(why) => Err(EngineError::InvalidArgument(format!(
                "the transaction failed earlier ({why}); roll it back"
            ))),
            None => Ok(()),
        }
    }

    /// Record a tree error; errors that leave the tree untouched do not fail
    /// the transaction.
    fn note(&mut self, result: std::result::Result<(), BTreeError>) -> Result<()> {
        if let Err(e) = result {
            if !matches!(e, BTreeError::KeyTooLarge { .. }) {
                self.failed = Some(e.to_string());
            }
            return Err(e.into());
        }
        Ok(())
    }

    fn log_limit(&self) -> usize {
        self.db.borrow().options.txn_log_limit
    }

    /// The log would pass `txn_log_limit`: drop it and commit by
    /// checkpoint.
    fn by_checkpoint(&mut self) {
        self.by_checkpoint = true;
        self.log.discard();
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
        let result = {
            let mut inner = self.db.borrow_mut();
            self.tree
                .insert_hinted_parts(&mut inner.pager, key, parts, &mut self.hints)
                .map(drop)
        };
        self.note(result)?;
        if !self.by_checkpoint {
            let limit = self.log_limit();
            if !self.log.put_parts(key, parts, limit) {
                self.by_checkpoint();
            }
        }
        Ok(())
    }

    /// Remove `key`; returns whether it existed.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        self.check()?;
        let result = {
            let mut inner = self.db.borrow_mut();
            self.tree.remove(&mut inner.pager, key)
        };
        let existed = match result {
            Ok(existed) => existed,
            Err(e) => {
                self.note(Err(e))?;
                false
            }
        };
        if existed && !self.by_checkpoint {
            let limit = self.log_limit();
            if !self.log.delete(key, limit) {
                self.by_checkpoint();
            }
        }
        Ok(existed)
    }

    /// Choose this transaction's durability.
    pub fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// Make the changes visible (and durable per the durability setting).
    pub fn commit(mut self) -> Result<()> {
        self.check()?;
        self.done = true;
        let tree = std::mem::take(&mut self.tree);
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

impl Drop for WriteTxn {
    fn drop(&mut self) {
        self.abort();
    }
}
