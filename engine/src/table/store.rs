//! The table store handle and read snapshots.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use moonvault_btree::BTree;

use super::catalog::{stored_generation, Catalog, IndexDef};
use super::field::IntoFieldPath;
use super::input::Input;
use super::keyspace::TableId;
use super::read::{lookup_path, TableRead};
use super::write::Txn;
use crate::codec::{Key, Value};
use crate::error::Result;
use crate::kv::{Db, KvRead, ReadTxn};
use crate::schema::Schema;
use crate::stats::{hit_rate, StoreStats};

/// Tables, indexes, queries, schemas and migrations over one [`Db`].
///
/// Cheap to clone (the clones share the database and the catalog cache).
/// Like `Db` it is single-threaded.
#[derive(Clone)]
pub struct Store {
    db: Db,
    catalog: CatalogCache,
    /// The last table a snapshot resolved by path (see [`PathMemo`]).
    path_memo: Rc<RefCell<Option<PathMemo>>>,
    max_key_len: usize,
    page_size: usize,
}

/// A store's cache of the committed catalog, shared by its clones and
/// its write transactions.
#[derive(Clone)]
pub(crate) struct CatalogCache {
    /// The catalog of the last commit this handle saw (checked against the
    /// stored generation at a transaction start after any other commit).
    pub(crate) current: Rc<RefCell<Rc<Catalog>>>,
    /// [`Db::commit_count`] when `current` was last known to be the stored
    /// catalog: until the next commit it still is, and a transaction
    /// starts without reading the stored generation. A write transaction
    /// of this store moves it past its own commit (it leaves `current` as
    /// what it committed), so a run of commits reads the generation once.
    pub(crate) verified_at: Rc<Cell<Option<u64>>>,
}

impl CatalogCache {
    /// A write transaction begun at commit count `begun_at` committed,
    /// changing the catalog to `changed` (if it did); the count is now
    /// `commits`. The catalog was current at `begun_at` if `begin` found it
    /// so, and no other commit comes between (one writer): then `current`
    /// is the stored catalog at `commits` too.
    pub(crate) fn own_commit(&self, changed: Option<Rc<Catalog>>, begun_at: u64, commits: u64) {
        if let Some(catalog) = changed {
            *self.current.borrow_mut() = catalog;
        }
        if self.verified_at.get() == Some(begun_at) {
            self.verified_at.set(Some(commits));
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Tables over `db` (a new or existing database).
    pub fn open(db: Db) -> Result<Store> {
        let page_size = db.page_size();
        let catalog = {
            let snap = db.read()?;
            Catalog::load(&snap)?
        };
        Ok(Store {
            db,
            catalog: CatalogCache {
                current: Rc::new(RefCell::new(Rc::new(catalog))),
                verified_at: Rc::new(Cell::new(None)),
            },
            path_memo: Rc::default(),
            max_key_len: BTree::max_key_len(page_size),
            page_size,
        })
    }

    /// A new in-memory store.
    pub fn memory() -> Result<Store> {
        Store::open(Db::memory()?)
    }

    /// The underlying database (checkpoints, flush, raw statistics).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The longest key (entry key, index key) the tree accepts, in bytes.
    pub fn max_key_len(&self) -> usize {
        self.max_key_len
    }

    /// The catalog of `kv`, a transaction or snapshot begun after commit
    /// number `commits` ([`Db::commit_count`]).
    fn catalog_for(&self, kv: &dyn KvRead, commits: u64) -> Result<Rc<Catalog>> {
        let cache = &self.catalog;
        if cache.verified_at.get() == Some(commits) {
            return Ok(cache.current.borrow().clone());
        }
        let generation = stored_generation(kv)?;
        let cached = cache.current.borrow().clone();
        let catalog = if cached.generation == generation {
            cached
        } else {
            let fresh = Rc::new(Catalog::load(kv)?);
            *cache.current.borrow_mut() = fresh.clone();
            fresh
        };
        cache.verified_at.set(Some(commits));
        Ok(catalog)
    }

    /// Begin the write transaction (one at a time).
    pub fn begin(&self) -> Result<Txn> {
        let kv = self.db.begin()?;
        let commits = self.db.commit_count();
        let catalog = self.catalog_for(&kv, commits)?;
        Ok(Txn::new(
            kv,
            catalog,
            self.catalog.clone(),
            self.db.clone(),
            commits,
            self.max_key_len,
            self.page_size,
        ))
    }

    /// A snapshot of the last commit.
    pub fn read(&self) -> Result<Snapshot> {
        let kv = self.db.read()?;
        let commits = self.db.commit_count();
        let catalog = self.catalog_for(&kv, commits)?;
        Ok(Snapshot {
            kv,
            catalog,
            page_size: self.page_size,
            commits,
            path_memo: self.path_memo.clone(),
        })
    }

    /// Run `f` in a write transaction: commit when it returns `Ok`, roll
    /// back when it returns `Err`.
    pub fn write<T>(&self, f: impl FnOnce(&mut Txn) -> Result<T>) -> Result<T> {
        let mut tx = self.begin()?;
        match f(&mut tx) {
            Ok(v) => {
                tx.commit()?;
                Ok(v)
            }
            Err(e) => {
                tx.rollback();
                Err(e)
            }
        }
    }

    /// `table[key]` in the last commit.
    pub fn get(&self, table: TableId, key: &Key) -> Result<Option<Value>> {
        self.read()?.get(table, key)
    }

    /// `table[key] = input`, committed.
    pub fn set(&self, table: TableId, key: Key, input: impl Into<Input>) -> Result<()> {
        let input = input.into();
        self.write(|tx| tx.set(table, key, input))
    }

    /// `table[key] = nil`, committed.
    pub fn delete(&self, table: TableId, key: Key) -> Result<()> {
        self.write(|tx| tx.delete(table, key))
    }

    /// The table at `path` below `Memory`, created with missing tables on
    /// the way, committed.
    pub fn ensure_path(&self, path: &[Key]) -> Result<TableId> {
        self.write(|tx| tx.ensure_path(path))
    }

    /// Create an index, committed (see [`Txn::create_index`]).
    pub fn create_index(
        &self,
        table: TableId,
        field: impl IntoFieldPath,
        unique: bool,
    ) -> Result<IndexDef> {
        self.write(|tx| tx.create_index(table, field, unique))
    }

    /// Drop an index, committed (see [`Txn::drop_index`]).
    pub fn drop_index(&self, table: TableId, field: impl IntoFieldPath) -> Result<bool> {
        self.write(|tx| tx.drop_index(table, field))
    }

    /// Every index of the store.
    pub fn indexes(&self) -> Result<Vec<IndexDef>> {
        Ok(self.read()?.catalog().all_indexes().cloned().collect())
    }

    /// Set or remove a table's schema, committed (see [`Txn::set_schema`]).
    pub fn set_schema(&self, table: TableId, schema: Option<Schema>) -> Result<()> {
        self.write(|tx| tx.set_schema(table, schema))
    }

    /// Store-wide figures.
    pub fn stats(&self) -> Result<StoreStats> {
        let snap = self.read()?;
        let db = self.db.stats()?;
        Ok(StoreStats {
            cache_hit_rate: hit_rate(&db),
            db,
            indexes: snap.catalog().all_indexes().count(),
            schemas: snap.catalog().schema_count(),
            user_version: snap.user_version()?,
        })
    }
}

/// A read-only view of the last commit at the time it was taken. Holding
/// it pins its pages; drop it when done.
pub struct Snapshot {
    kv: ReadTxn,
    catalog: Rc<Catalog>,
    page_size: usize,
    /// [`Db::commit_count`] when the snapshot was taken: it reads that
    /// commit's state.
    commits: u64,
    path_memo: Rc<RefCell<Option<PathMemo>>>,
}

/// A table found by path in the state after commit number `commits`.
///
/// Point reads by path (`get(['users', 7])` in the browser) resolve the
/// same parent path once per call: a descent of `Memory` per read. The
/// table a path names changes only with a commit, so a snapshot taken at
/// the same commit count may reuse what an earlier one found. One path is
/// kept, the last one resolved (only found tables).
struct PathMemo {
    commits: u64,
    path: Vec<Key>,
    table: TableId,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl TableRead for Snapshot {
    fn kv(&self) -> &dyn KvRead {
        &self.kv
    }

    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn page_size(&self) -> usize {
        self.page_size
    }

    fn lookup(&self, path: &[Key]) -> Result<Option<TableId>> {
        if let Some(memo) = self.path_memo.borrow().as_ref() {
            if memo.commits == self.commits && memo.path == path {
                return Ok(Some(memo.table));
            }
        }
        let found = lookup_path(self, path)?;
        if let Some(table) = found {
            *self.path_memo.borrow_mut() = Some(PathMemo {
                commits: self.commits,
                path: path.to_vec(),
                table,
            });
        }
        Ok(found)
    }
}
