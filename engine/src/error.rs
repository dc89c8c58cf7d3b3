//! Errors of the engine layer.

use moonvault_btree::BTreeError;
use moonvault_pager::store::StoreError;
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
    /// The store (or export file) was written in a format newer than this
    /// build reads: opening it would misread it, so it is refused. (The
    /// pager's structures and the file store's log report the same inside
    /// [`EngineError::Pager`], with this wording; see
    /// [`EngineError::is_newer_format`].)
    #[error("this {what} was written by a newer moonvault (format {found}); this build reads formats up to {supported}: open it with a newer moonvault")]
    NewerFormat {
        /// What carries the version (`"store"`, `"export file"`).
        what: &'static str,
        /// The format found.
        found: u8,
        /// The newest format this build reads.
        supported: u8,
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
    /// A key Lua refuses (NaN, nil), with Lua's wording.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A table key, or a value to index, whose encoded key exceeds the
    /// B-tree's key limit.
    #[error("{what} takes {len} bytes as a key, over the limit of {max}; use a shorter key, or do not index values this long")]
    KeyTooLong {
        /// What was too long (names the key or field).
        what: String,
        /// Its encoded length.
        len: usize,
        /// The limit for this page size.
        max: usize,
    },
    /// A table id that does not (or no longer) exist.
    #[error("table {id} does not exist (it was deleted, or replaced by a non-table value); look it up again from Memory")]
    NoSuchTable {
        /// The id.
        id: u64,
    },
    /// A path step holds a value that is not a table.
    #[error(
        "{path} is {}, not a table; assign a table there first",
        with_article(found)
    )]
    NotATable {
        /// The path, in Lua syntax.
        path: String,
        /// The Lua type found there.
        found: &'static str,
    },
    /// A write breaks the schema of a table's records.
    #[error("schema violation in {} record {}, field {}: {} (rule `{}`); fix the value, or change the schema of {} with set_schema", .0.table, .0.key, .0.field, .0.detail, .0.rule, .0.table)]
    SchemaViolation(Box<SchemaViolation>),
    /// A write gives a unique index a value another record has.
    #[error("unique index on {}({}): value {} already belongs to record {}, so record {} cannot have it; use another value or drop the unique index", .0.table, .0.field, .0.value, .0.existing, .0.key)]
    UniqueViolation(Box<UniqueViolation>),
    /// An index on that field exists with other options.
    #[error("an index on {table}({field}) already exists with unique = {unique}; drop it first to change it")]
    IndexExists {
        /// The table.
        table: String,
        /// The field.
        field: String,
        /// The existing index's option.
        unique: bool,
    },
    /// An operation of a batch failed; nothing of the batch was applied.
    #[error("batch operation {position} (counting from 0) failed, nothing was applied: {source}")]
    BatchFailed {
        /// Position of the failing operation.
        position: usize,
        /// Why it failed.
        source: Box<EngineError>,
    },
    /// An `order_by` without a usable index would sort too many records.
    #[error("query on {table} orders by {field} and would sort more than {cap} records in memory; create an index on {field}, add a limit, or raise the query's sort_cap")]
    SortTooLarge {
        /// The queried table.
        table: String,
        /// The order field.
        field: String,
        /// The cap.
        cap: usize,
    },
    /// A migration step failed; the store stays at version `from`.
    #[error("migration step {from} -> {to} failed, the store stays at version {from}: {source}")]
    MigrationFailed {
        /// Version before the step (still current).
        from: u64,
        /// Version the step would have reached.
        to: u64,
        /// Why it failed.
        source: Box<EngineError>,
    },
    /// An error raised by user code run by the engine (a migration step, a
    /// binding callback).
    #[error("{0}")]
    Callback(String),
    /// An import refused an entry (a stored function its
    /// [`crate::export::FunctionCheck`] did not accept); nothing of the
    /// file was imported.
    #[error("refusing to import {path}: {reason}; nothing was imported")]
    ImportRefused {
        /// The entry's path (`Memory.a.f`).
        path: String,
        /// Why.
        reason: String,
    },
    /// An earlier operation of the transaction failed after writing part
    /// of its changes; only rollback is possible.
    #[error(
        "an earlier operation of this transaction failed midway ({0}); roll the transaction back"
    )]
    TxnAborted(String),
}

/// `"an integer"`, `"a string"`: a type name for messages.
pub(crate) fn with_article(word: &str) -> String {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {word}"),
        _ => format!("a {word}"),
    }
}

impl From<crate::codec::CodecError> for EngineError {
    fn from(e: crate::codec::CodecError) -> Self {
        match e {
            crate::codec::CodecError::Corrupted { what, detail } => {
                EngineError::Corrupted { what, detail }
            }
            crate::codec::CodecError::InvalidKey(msg) => EngineError::InvalidKey(msg),
        }
    }
}

impl EngineError {
    /// Whether this refuses a store (or export) written by a newer
    /// moonvault, at whichever layer it was found ([`EngineError::NewerFormat`],
    /// [`PagerError::NewerFormat`], `StoreError::NewerFormat`). Nothing is
    /// damaged then: the answer is a newer build, not a backup.
    pub fn is_newer_format(&self) -> bool {
        matches!(
            self,
            EngineError::NewerFormat { .. }
                | EngineError::Pager(
                    PagerError::NewerFormat { .. }
                        | PagerError::Store(StoreError::NewerFormat { .. })
                )
        )
    }

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

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        EngineError::Pager(e.into())
    }
}

/// Details of [`EngineError::SchemaViolation`] (boxed: keeps `Result` small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// The table whose schema applies (`Memory.users`).
    pub table: String,
    /// The record's key, as a Lua value (`"u1"`, `42`).
    pub key: String,
    /// The field path inside the record.
    pub field: String,
    /// The rule: type, required, min, max, min_len, max_len, enum, strict,
    /// record.
    pub rule: String,
    /// What was wrong, with the offending value.
    pub detail: String,
}

/// Details of [`EngineError::UniqueViolation`] (boxed: keeps `Result` small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueViolation {
    /// The indexed table.
    pub table: String,
    /// The indexed field.
    pub field: String,
    /// The duplicated value.
    pub value: String,
    /// The record being written.
    pub key: String,
    /// The record already holding the value.
    pub existing: String,
}
