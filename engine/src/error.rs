//! Errors of the engine layer.

use moonvault_btree::BTreeError;
use moonvault_pager::PagerError;

/// What went wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The page layer failed (store I/O, a corrupted page...).
    #[error(transparent)]
    Pager(#[from] PagerError),
    /// The B-tree failed (a corrupted node, an oversized key...).
    #[error(transparent)]
    Tree(#[from] BTreeError),
    /// A stored engine structure (WAL record, root record) is damaged.
    #[error("corrupted {what}: {detail}")]
    Corrupted {
        /// Which structure.
        what: &'static str,
        /// What did not check out.
        detail: String,
    },
    /// A second write transaction was requested while one is open.
    #[error("a write transaction is already open; commit or roll it back first")]
    WriterActive,
    /// The operation needs no open write transaction (e.g. a checkpoint).
    #[error("{0} is not allowed while a write transaction is open")]
    BusyWithWriter(&'static str),
    /// An earlier commit failed in a way that leaves the stored state
    /// unknown; reopen the store to recover its last durable state.
    #[error("the store must be reopened after an earlier failure: {0}")]
    Poisoned(String),
    /// The caller passed something the engine cannot accept.
    #[error("{0}")]
    InvalidArgument(String),
}

impl EngineError {
    /// Shorthand for a [`EngineError::Corrupted`] error.
    pub fn corrupted(what: &'static str, detail: impl Into<String>) -> Self {
        EngineError::Corrupted {
            what,
            detail: detail.into(),
        }
    }
}

/// Shorthand for engine results.
pub type Result<T> = std::result::Result<T, EngineError>;

impl From<moonvault_pager::store::StoreError> for EngineError {
    fn from(e: moonvault_pager::store::StoreError) -> Self {
        EngineError::Pager(e.into())
    }
}
