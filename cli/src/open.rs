//! Opening stores on disk and the CLI's error type.
//!
//! A store is a directory holding a [`FileStore`] log. Commands that only
//! read (`check`, `dump`, `stats`, `export`) refuse a path holding no store
//! instead of creating an empty one there; `run`, `repl` and `import` create
//! it.

use std::cell::RefCell;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use moonvault_engine::{Db, EngineError, Options, Store};
use moonvault_pager::store::file::FileStore;
use moonvault_pager::store::{Area, BlobKey, BlobStore, StoreError, StoreResult, WriteOp};

/// What a command can fail with. `Display` is the message the user sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The engine failed (damage, a refused write...).
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The file store failed to open or read.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A file of the user's could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something the user asked for cannot be done as asked.
    #[error("{0}")]
    Usage(String),
    /// A Lua script failed: message and traceback, printed as they are.
    #[error("{0}")]
    Lua(String),
    /// `check` found problems (already printed).
    #[error("{0} problem(s) found")]
    CheckFailed(usize),
}

impl CliError {
    /// Wrap an I/O error with the path it concerns.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
        move |source| CliError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Shorthand for CLI results.
pub type CliResult<T> = Result<T, CliError>;

/// A [`FileStore`] shared between the database and the CLI, so `check` and
/// `stats` can read raw page blobs and log figures of the store the database
/// has open (the store's lock allows only one opener).
#[derive(Clone)]
pub struct SharedStore(pub Rc<RefCell<FileStore>>);

impl BlobStore for SharedStore {
    fn get(&self, area: Area, key: BlobKey) -> StoreResult<Option<Bytes>> {
        self.0.borrow().get(area, key)
    }
    fn keys_in(&self, area: Area, range: RangeInclusive<BlobKey>) -> StoreResult<Vec<BlobKey>> {
        self.0.borrow().keys_in(area, range)
    }
    fn write(&mut self, ops: Vec<WriteOp>, durable: bool) -> StoreResult<()> {
        self.0.borrow_mut().write(ops, durable)
    }
    fn sync(&mut self) -> StoreResult<()> {
        self.0.borrow_mut().sync()
    }
    fn stored_bytes(&self, area: Area) -> StoreResult<u64> {
        self.0.borrow().stored_bytes(area)
    }
}

/// Whether `dir` holds a store (a directory with a log).
pub fn store_exists(dir: &Path) -> bool {
    dir.join("log").is_file()
}

/// Fail with a helpful message unless `dir` holds a store.
pub fn require_store(dir: &Path) -> CliResult<()> {
    if store_exists(dir) {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "no moonvault store at {} (a store is a directory with a `log` file); \
             pass --db with the right path, or create one with `moonvault run`",
            dir.display()
        )))
    }
}

/// An open store: the table layer plus the file store under it.
pub struct Opened {
    /// Tables over the database.
    pub store: Store,
    /// The file store the database runs on.
    pub file: SharedStore,
}

/// Open the file store in `dir` (creating it when missing).
pub fn open_file(dir: &Path) -> CliResult<SharedStore> {
    Ok(SharedStore(Rc::new(RefCell::new(FileStore::open(dir)?))))
}

/// Open the database over an already opened file store.
pub fn open_on(file: SharedStore) -> CliResult<Opened> {
    let db = Db::open(Box::new(file.clone()), Options::default())?;
    let store = Store::open(db)?;
    Ok(Opened { store, file })
}

/// Open the store in `dir`, which must exist.
pub fn open_existing(dir: &Path) -> CliResult<Opened> {
    require_store(dir)?;
    open_on(open_file(dir)?)
}
