//! The database handle: open and recovery, commit, checkpoints.

use super::root::{RootRecord, FORMAT};
use super::txn::{ReadTxn, WriteTxn};
use super::wal::{self, WalBuffer, WalOp};
use crate::error::{EngineError, Result};
use bytes::Bytes;
use moonvault_btree::{BTree, TreeReport};
use moonvault_pager::store::{Area, BlobStore, WriteOp};
use moonvault_pager::{Pager, PagerConfig, PagerStats};
use std::cell::RefCell;
use std::rc::Rc;

/// Branches get search aids (`moonvault_btree::search_aid`) only with a
/// page cache of at least this many pages (the native default holds 128,
/// the browser's 8).
const AID_MIN_CACHE_PAGES: usize = 64;

/// When a commit is durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Durable when `commit` returns.
    #[default]
    Immediate,
    /// Durable at the next `flush`, checkpoint or immediate commit. A crash
    /// may lose the latest relaxed commits, never part of one.
    Relaxed,
}

/// How a database is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Page size (for a new store) and cache budget.
    pub pager: PagerConfig,
    /// Default durability of commits.
    pub durability: Durability,
    /// Checkpoint once the WAL holds this many bytes.
    pub wal_checkpoint_bytes: u64,
    /// Checkpoint once this many pages wait to be freed.
    pub checkpoint_freed_pages: usize,
    /// Checkpoint once this many pages were committed since the last one
    /// (bounds the pager's set of them, kept in memory).
    pub checkpoint_unsaved_pages: usize,
    /// A transaction logging more than this commits by checkpoint instead of
    /// a WAL record (bounds memory: the log is held until commit).
    pub txn_log_limit: usize,
    /// Room for the index writes a transaction holds back to apply in key
    /// order (`kv/deferred.rs`), besides the log's `txn_log_limit`; 0: they
    /// share the log's limit (the browser's budget). The more they hold,
    /// the longer the runs each leaf takes at once.
    pub held_back_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pager: PagerConfig::default(),
            durability: Durability::Immediate,
            wal_checkpoint_bytes: 2 * 1024 * 1024,
            checkpoint_freed_pages: 512,
            checkpoint_unsaved_pages: 4096,
            txn_log_limit: 128 * 1024,
            held_back_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Sizes and counters of a database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbStats {
    /// The page layer's figures.
    pub pager: PagerStats,
    /// WAL records not yet covered by a checkpoint.
    pub wal_records: u64,
    /// Bytes of those records.
    pub wal_bytes: u64,
    /// Transactions committed since open.
    pub commits: u64,
    /// WAL records replayed by recovery at open.
    pub recovered_records: u64,
    /// The store's format version (see `kv/root.rs`).
    pub format: u8,
}

pub(crate) struct DbInner {
    pub(crate) pager: Pager,
    /// The committed tree.
    pub(crate) tree: BTree,
    pub(crate) options: Options,
    /// Format version of the durable root record (`FORMAT` once written
    /// by this build).
    format: u8,
    /// Next WAL sequence number to write.
    next_seq: u64,
    /// WAL records up to this one are in the durable checkpoint.
    wal_applied: u64,
    wal_bytes: u64,
    pub(crate) writer_open: bool,
    poisoned: Option<String>,
    commits: u64,
    recovered: u64,
}

impl DbInner {
    pub(crate) fn check_usable(&self) -> Result<()> {
        match &self.poisoned {
            Some(why) => Err(EngineError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    fn poison(&mut self, why: &EngineError) {
        self.poisoned.get_or_insert_with(|| why.to_string());
    }

    /// Replay WAL records after the durable checkpoint.
    fn recover(&mut self) -> Result<()> {
        let keys = self.pager.store().keys(Area::Wal)?;
        let mut seq = self.wal_applied + 1;
        loop {
            let Some(record) = self.pager.store().get(Area::Wal, seq)? else {
                // A gap followed by records means records were lost, not torn.
                if let Some(later) = keys.iter().find(|&&k| k > seq) {
                    return Err(EngineError::corrupted(
                        "WAL",
                        format!("record {seq} is missing but record {later} exists"),
                    ));
                }
                break;
            };
            let ops = match wal::decode(seq, &record) {
                Ok(ops) => ops,
                // A newer build committed it: refuse the store, never drop
                // (and delete) the record as torn.
                Err(e @ EngineError::NewerFormat { .. }) => return Err(e),
                Err(e) => {
                    // Only the newest record can be torn (batches survive in
                    // order); a damaged record with later ones after it is
                    // damage to acknowledged data.
                    if keys.iter().any(|&k| k > seq) {
                        return Err(e);
                    }
                    break;
                }
            };
            self.pager.begin()?;
            for op in ops {
                let applied = match op {
                    WalOp::Put(k, v) => self.tree.insert(&mut self.pager, k, v).map(drop),
                    WalOp::Delete(k) => self.tree.remove(&mut self.pager, k).map(drop),
                };
                if let Err(e) = applied {
                    self.pager.rollback();
                    return Err(e.into());
                }
            }
            self.pager.commit()?;
            self.wal_bytes += record.len() as u64;
            self.recovered += 1;
            seq += 1;
        }
        self.next_seq = seq;
        let had_wal = !keys.is_empty();
        let stale: Vec<WriteOp> = keys
            .into_iter()
            .filter(|&k| k >= seq)
            .map(|key| WriteOp::Delete {
                area: Area::Wal,
                key,
            })
            .collect();
        if !stale.is_empty() {
            self.pager.store_write(stale, false)?;
        }
        if !had_wal {
            // Nothing replayed and no WAL record to delete: the durable
            // superblock already names the committed state, so a checkpoint
            // would only cost a sync (a new store's open, a clean reopen).
            return Ok(());
        }
        // Covered records a crash kept from deletion go with this checkpoint.
        self.checkpoint()
    }

    pub(crate) fn checkpoint(&mut self) -> Result<()> {
        if self.writer_open {
            return Err(EngineError::BusyWithWriter("a checkpoint"));
        }
        let covered = self.next_seq - 1;
        let root = RootRecord {
            format: FORMAT,
            tree_root: self.tree.root,
            wal_applied: covered,
        };
        // Keep the records after the previous checkpoint: the previous
        // superblock slot stays a complete fallback (see DESIGN.md).
        let keep_after = self.wal_applied;
        let deletions = self
            .pager
            .store()
            .keys(Area::Wal)?
            .into_iter()
            .filter(|&k| k <= keep_after)
            .map(|key| WriteOp::Delete {
                area: Area::Wal,
                key,
            })
            .collect();
        if let Err(e) = self.pager.checkpoint(root.encode(), deletions) {
            let e = EngineError::from(e);
            self.poison(&e);
            return Err(e);
        }
        self.wal_applied = covered;
        self.wal_bytes = 0;
        self.format = FORMAT;
        Ok(())
    }

    fn maybe_checkpoint(&mut self) -> Result<()> {
        let o = &self.options;
        if self.wal_bytes >= o.wal_checkpoint_bytes
            || self.pager.pending_free_count() >= o.checkpoint_freed_pages
            || self.pager.unsaved_count() >= o.checkpoint_unsaved_pages
        {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Finish a write transaction. On error nothing of it is visible.
    pub(crate) fn commit(
        &mut self,
        tree: BTree,
        log: WalBuffer,
        by_checkpoint: bool,
        durability: Durability,
    ) -> Result<()> {
        self.writer_open = false;
        if let Err(e) = self.check_usable() {
            self.pager.rollback();
            return Err(e);
        }
        if by_checkpoint {
            self.pager.commit()?;
            self.tree = tree;
            self.commits += 1;
            return self.checkpoint();
        }
        if log.is_empty() {
            self.pager.rollback();
            return Ok(());
        }
        let seq = self.next_seq;
        let record = log.into_record(seq);
        let len = record.len() as u64;
        let put = WriteOp::Put {
            area: Area::Wal,
            key: seq,
            value: Bytes::from(record),
        };
        if let Err(e) = self
            .pager
            .store_write(vec![put], durability == Durability::Immediate)
        {
            self.pager.rollback();
            return Err(e.into());
        }
        self.pager.commit()?;
        self.tree = tree;
        self.next_seq += 1;
        self.wal_bytes += len;
        self.commits += 1;
        // The commit stands; a failed checkpoint poisons the handle so the
        // next call reports it, and recovery redoes it from the WAL.
        let _ = self.maybe_checkpoint();
        Ok(())
    }
}

/// A moonvault database: one writer at a time, any number of snapshot
/// readers. Single-threaded (`!Send`), like the wasm module it serves; open
/// one handle per thread natively.
#[derive(Clone)]
pub struct Db {
    inner: Rc<RefCell<DbInner>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

impl Db {
    /// Open (or create) a database on `store`, recovering committed work.
    pub fn open(store: Box<dyn BlobStore>, options: Options) -> Result<Db> {
        let (mut pager, app) = Pager::open(store, options.pager)?;
        // An aid pays when its branch stays cached and is searched many
        // times per derivation; a cache of a few pages (the browser's)
        // reloads branches, deriving again, and the aid's bytes push out
        // pages.
        if pager.cache_budget() / pager.page_size() >= AID_MIN_CACHE_PAGES {
            pager.derive_aids_with(crate::codec::VALUE_AID);
        }
        let root = RootRecord::decode(&app)?;
        let mut inner = DbInner {
            pager,
            tree: BTree::new(root.tree_root),
            options,
            format: root.format,
            next_seq: root.wal_applied + 1,
            wal_applied: root.wal_applied,
            wal_bytes: 0,
            writer_open: false,
            poisoned: None,
            commits: 0,
            recovered: 0,
        };
        inner.recover()?;
        Ok(Db {
            inner: Rc::new(RefCell::new(inner)),
        })
    }

    /// A new in-memory database with default options.
    pub fn memory() -> Result<Db> {
        let store = moonvault_pager::store::memory::MemoryStore::new();
        Db::open(Box::new(store), Options::default())
    }

    /// Start the write transaction. Only one may be open at a time.
    pub fn begin(&self) -> Result<WriteTxn> {
        let mut inner = self.inner.borrow_mut();
        inner.check_usable()?;
        if inner.writer_open {
            return Err(EngineError::WriterActive);
        }
        if inner.format < FORMAT {
            // An older store: name the new format durably before this
            // transaction can write anything only it can read.
            inner.checkpoint()?;
        }
        inner.pager.begin()?;
        inner.writer_open = true;
        let tree = inner.tree;
        let durability = inner.options.durability;
        drop(inner);
        Ok(WriteTxn::new(self.inner.clone(), tree, durability))
    }

    /// A snapshot of the last committed state; unaffected by later writes.
    pub fn read(&self) -> Result<ReadTxn> {
        let mut inner = self.inner.borrow_mut();
        let pin = inner.pager.pin();
        let tree = inner.tree;
        drop(inner);
        Ok(ReadTxn::new(self.inner.clone(), tree, pin))
    }

    /// Make the committed state durable in the page tree and trim the WAL.
    pub fn checkpoint(&self) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.check_usable()?;
        inner.checkpoint()
    }

    /// Make every commit so far durable (relaxed ones included).
    pub fn flush(&self) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.check_usable()?;
        inner.pager.store_sync()?;
        Ok(())
    }

    /// Checkpoint and release the store.
    pub fn close(self) -> Result<()> {
        self.checkpoint()
    }

    /// The store's logical page size. Cheap, unlike [`Db::stats`], which
    /// asks the blob store for its stored bytes (under the browser's lazy
    /// paging that reads every page once).
    pub fn page_size(&self) -> usize {
        self.inner.borrow().pager.page_size()
    }

    /// Transactions committed since open: changes whenever the committed
    /// state may have (cheap, unlike [`Db::stats`]).
    pub fn commit_count(&self) -> u64 {
        self.inner.borrow().commits
    }

    /// Sizes and counters.
    pub fn stats(&self) -> Result<DbStats> {
        let inner = self.inner.borrow();
        let wal_records = inner.next_seq - 1 - inner.wal_applied;
        Ok(DbStats {
            pager: inner.pager.stats()?,
            wal_records,
            wal_bytes: inner.wal_bytes,
            commits: inner.commits,
            recovered_records: inner.recovered,
            format: inner.format,
        })
    }

    /// Verify the committed tree: every page's checksum and every B-tree
    /// invariant.
    pub fn check(&self) -> Result<TreeReport> {
        let inner = self.inner.borrow();
        Ok(inner.tree.check(&inner.pager)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KvRead;
    use moonvault_pager::store::memory::{Contents, MemoryStore};
    use moonvault_pager::superblock::{self, Superblock};

    /// A store with one checkpointed commit (in both superblock slots) and
    /// three more in the WAL (records 2, 3, 4), closed without a checkpoint.
    fn store_with_wal() -> Contents {
        let store = MemoryStore::new();
        let db = Db::open(Box::new(store.clone()), Options::default()).unwrap();
        for i in 1..=4u8 {
            let mut txn = db.begin().unwrap();
            txn.put(&[i], &[i; 10]).unwrap();
            txn.commit().unwrap();
            if i == 1 {
                // The second checkpoint deletes record 1.
                db.checkpoint().unwrap();
                db.checkpoint().unwrap();
            }
        }
        drop(db);
        let contents = store.snapshot();
        let wal: Vec<u64> = contents
            .keys()
            .filter(|(a, _)| *a == Area::Wal)
            .map(|(_, k)| *k)
            .collect();
        assert_eq!(wal, [2, 3, 4]);
        contents
    }

    /// `bytes` with byte 4 set to `version`; the crc32 trailer redone when
    /// `valid_crc` (superblocks and WAL records share that envelope).
    fn with_version(bytes: &[u8], version: u8, valid_crc: bool) -> bytes::Bytes {
        let mut b = bytes.to_vec();
        b[4] = version;
        if valid_crc {
            let body = b.len() - 4;
            let crc = crc32fast::hash(&b[..body]);
            b[body..].copy_from_slice(&crc.to_le_bytes());
        }
        b.into()
    }

    /// Open `contents`: the keys 1..=4 present, or the error.
    fn open(contents: &Contents) -> std::result::Result<Vec<u8>, EngineError> {
        let db = Db::open(
            Box::new(MemoryStore::from_contents(contents.clone())),
            Options::default(),
        )?;
        let snap = db.read()?;
        let mut present = Vec::new();
        for i in 1..=4u8 {
            if snap.get(&[i])?.is_some() {
                present.push(i);
            }
        }
        Ok(present)
    }

    #[test]
    fn a_newer_wal_record_fails_the_open_and_stays() {
        let pristine = store_with_wal();
        for seq in [4u64, 3] {
            let mut newer = pristine.clone();
            let record = with_version(&pristine[&(Area::Wal, seq)], wal::VERSION + 1, true);
            newer.insert((Area::Wal, seq), record);
            let store = MemoryStore::from_contents(newer.clone());
            match Db::open(Box::new(store.clone()), Options::default()) {
                Err(e) => {
                    assert!(
                        matches!(e, EngineError::NewerFormat { found, .. } if found == wal::VERSION + 1),
                        "record {seq}: {e:?}"
                    );
                    assert!(e.is_newer_format());
                }
                Ok(_) => panic!("record {seq}: opened"),
            }
            assert_eq!(store.snapshot(), newer, "record {seq}: the store changed");
        }
    }

    #[test]
    fn a_damaged_wal_record_is_a_torn_tail_only_at_the_end() {
        let pristine = store_with_wal();
        // The same version byte with a failing checksum: the newest record
        // is taken for a torn write, as before; an earlier one is damage.
        let mut torn = pristine.clone();
        let record = with_version(&pristine[&(Area::Wal, 4)], wal::VERSION + 1, false);
        torn.insert((Area::Wal, 4), record);
        assert_eq!(open(&torn).unwrap(), [1, 2, 3]);

        let mut damaged = pristine.clone();
        let record = with_version(&pristine[&(Area::Wal, 3)], wal::VERSION + 1, false);
        damaged.insert((Area::Wal, 3), record);
        let e = open(&damaged).unwrap_err();
        assert!(matches!(e, EngineError::Corrupted { .. }), "{e:?}");
        assert!(!e.is_newer_format());
    }

    #[test]
    fn a_newer_superblock_reaches_the_caller_by_name() {
        let pristine = store_with_wal();
        let (slot, _) = (0..2u64)
            .filter_map(|s| Some((s, Superblock::decode(pristine.get(&(Area::Meta, s))?).ok()?)))
            .max_by_key(|(_, sb)| sb.generation)
            .unwrap();
        let mut newer = pristine.clone();
        let sb = with_version(
            &pristine[&(Area::Meta, slot)],
            superblock::VERSION + 1,
            true,
        );
        newer.insert((Area::Meta, slot), sb);
        let e = open(&newer).unwrap_err();
        assert!(e.is_newer_format(), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("newer moonvault")
                && text.contains(&(superblock::VERSION + 1).to_string()),
            "{text}"
        );

        // Damaged instead: the older slot and the whole WAL still hold
        // every commit.
        let mut damaged = pristine.clone();
        let sb = with_version(
            &pristine[&(Area::Meta, slot)],
            superblock::VERSION + 1,
            false,
        );
        damaged.insert((Area::Meta, slot), sb);
        assert_eq!(open(&damaged).unwrap(), [1, 2, 3, 4]);
    }
}
