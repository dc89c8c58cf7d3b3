//! The storage boundary: a small synchronous key/blob store.
//!
//! Everything moonvault persists is a blob addressed by `(Area, u64)`. Every
//! backend implements [`BlobStore`] and passes the same conformance suite
//! (`conformance::run_all`, or its checks one by one where a harness needs
//! that; feature `testing`):
//!
//! - [`memory::MemoryStore`]: a shared in-memory map; everything is durable
//!   at once and nothing outlives the process.
//! - `file::FileStore` (native only): an append-only log of crc-checked
//!   batches in one directory, an in-memory index rebuilt on open, torn-tail
//!   truncation, crash-safe compaction and an OS lock against a second
//!   opener. Its module docs hold the byte layout.
//! - `faulty::FaultyStore` (feature `testing`): a test wrapper over a
//!   `MemoryStore` that records what was durable, injects I/O failures, and
//!   builds the store a crash would leave (`faulty::CrashMode`), including
//!   torn batches.
//! - The browser build's IndexedDB backend implements the same trait
//!   outside this crate.

use std::ops::RangeInclusive;

use bytes::Bytes;

use crate::frame::Page;

// Test support, compiled only for this crate's tests and for dependents
// that enable the `testing` feature in their dev-dependencies: the
// production build carries neither.
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
pub mod faulty;
#[cfg(not(target_arch = "wasm32"))]
pub mod file;
pub mod memory;

/// A blob's key inside its area.
pub type BlobKey = u64;

/// The namespaces of a store. Each area is an independent `u64 -> bytes` map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    /// The two superblock slots (keys 0 and 1).
    Meta,
    /// Page frames, keyed by page id.
    Pages,
    /// Write-ahead log records, keyed by sequence number.
    Wal,
}

impl Area {
    /// All areas, in their on-disk tag order.
    pub const ALL: [Area; 3] = [Area::Meta, Area::Pages, Area::Wal];

    /// The stable one-byte tag backends use to persist the area.
    pub fn tag(self) -> u8 {
        match self {
            Area::Meta => 0,
            Area::Pages => 1,
            Area::Wal => 2,
        }
    }

    /// The area for a persisted tag, if it names one.
    pub fn from_tag(tag: u8) -> Option<Area> {
        match tag {
            0 => Some(Area::Meta),
            1 => Some(Area::Pages),
            2 => Some(Area::Wal),
            _ => None,
        }
    }

    /// A short lowercase name, used in messages and by the IndexedDB backend.
    pub fn name(self) -> &'static str {
        match self {
            Area::Meta => "meta",
            Area::Pages => "pages",
            Area::Wal => "wal",
        }
    }
}

/// One change inside a [`BlobStore::write`] batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Create or replace the blob at `(area, key)`.
    Put {
        /// Target area.
        area: Area,
        /// Target key.
        key: BlobKey,
        /// The new content (may be empty).
        value: Bytes,
    },
    /// Remove the blob at `(area, key)`; removing a missing blob is not an error.
    Delete {
        /// Target area.
        area: Area,
        /// Target key.
        key: BlobKey,
    },
}

impl WriteOp {
    /// The `(area, key)` this op touches.
    pub fn target(&self) -> (Area, BlobKey) {
        match self {
            WriteOp::Put { area, key, .. } | WriteOp::Delete { area, key } => (*area, *key),
        }
    }
}

/// What can go wrong inside a backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The medium failed (I/O error, aborted IndexedDB transaction, ...).
    /// The batch being written may or may not have been applied: treat the
    /// store as crashed and reopen it before trusting its contents.
    #[error("storage I/O failed during {op}: {detail}")]
    Io {
        /// The operation that failed (`"write"`, `"sync"`, `"get"`...).
        op: &'static str,
        /// The backend's own description of the failure.
        detail: String,
    },
    /// The medium refused to grow (disk full, browser quota). Nothing of the
    /// refused batch was applied; earlier batches are intact.
    #[error("storage quota exceeded: {detail}; free space or raise the quota, then retry")]
    QuotaExceeded {
        /// The backend's own description of the refusal.
        detail: String,
    },
    /// The backend's own bookkeeping is damaged beyond what recovery repairs.
    #[error("store is corrupted: {detail}")]
    Corrupted {
        /// What was found.
        detail: String,
    },
    /// The backend's own format (the file store's log) is of a version newer
    /// than this build reads. Nothing is damaged and nothing was changed:
    /// open it with a newer moonvault.
    #[error("this {what} was written by a newer moonvault (format {found}); this build reads formats up to {supported}: open it with a newer moonvault")]
    NewerFormat {
        /// What carries the version (`"store's log"`).
        what: &'static str,
        /// The version found.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The store was used after a failure that left its state unknown, or
    /// after it was closed. Reopen it.
    #[error("store is unusable after an earlier failure ({detail}); reopen it")]
    Poisoned {
        /// The earlier failure.
        detail: String,
    },
    /// Another process or tab holds the store.
    #[error("store is locked by another user: {detail}")]
    Locked {
        /// Who holds it, if known.
        detail: String,
    },
}

/// Shorthand for backend results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A synchronous blob store: the only thing moonvault needs from a medium.
///
/// # Contract
/// - **Reads see writes.** After `write` returns `Ok`, `get` and `keys`
///   reflect the whole batch.
/// - **Batches are atomic.** After a crash (process kill, power loss, tab
///   close) each batch is either entirely present or entirely absent.
///   The engine does not depend on this for safety: it survives torn
///   batches by checksums and two superblock slots; see DESIGN.md.
/// - **Batches are ordered.** The batches that survive a crash are a prefix
///   of all batches written, in the order `write` was called, with one
///   exception: a *deferred* batch ([`BlobStore::write_deferred`]) may be
///   overtaken by later batches that write only [`Area::Wal`]. It is
///   ordered before the next batch that writes [`Area::Pages`] or
///   [`Area::Meta`] (it may travel inside it), and before `sync` returns.
/// - **Durability.** A batch written with `durable = true` survives any crash
///   once `write` returns `Ok`, and so does every batch before it (deferred
///   batches it overtook excepted). A batch written with `durable = false`
///   becomes durable at the next `sync` or the next durable write; a
///   deferred one at the next `sync` or the next durable batch that writes
///   pages or meta.
/// - **Errors.** [`StoreError::QuotaExceeded`] means the batch was not
///   applied. Any other error from `write` or `sync` leaves the batch's fate
///   unknown; the caller must stop writing and reopen (the pager poisons
///   itself).
/// - Keys within an area are independent; empty values are allowed.
pub trait BlobStore {
    /// The blob at `(area, key)`, or `None` if absent.
    fn get(&self, area: Area, key: BlobKey) -> StoreResult<Option<Bytes>>;

    /// The keys present in `area` within `range`, ascending. A store whose
    /// key listing is slow (the browser's lazy paging asks IndexedDB) costs
    /// what the range holds, so callers ask for the range they need.
    fn keys_in(&self, area: Area, range: RangeInclusive<BlobKey>) -> StoreResult<Vec<BlobKey>>;

    /// Every key present in `area`, ascending.
    fn keys(&self, area: Area) -> StoreResult<Vec<BlobKey>> {
        self.keys_in(area, 0..=BlobKey::MAX)
    }

    /// Apply `ops` in order as one atomic batch (see the contract).
    fn write(&mut self, ops: Vec<WriteOp>, durable: bool) -> StoreResult<()>;

    /// [`BlobStore::write`] of a batch of page puts nothing durable refers
    /// to yet (the pager's spills: pages only a later superblock will
    /// name), which the store may keep back: reads see it at once, but
    /// batches writing only the WAL may reach the medium before it (see
    /// the contract). A store whose writes are costly per batch (the
    /// browser's: one IndexedDB transaction, whose cost grows with the
    /// stores it spans) then keeps a small commit's WAL record alone. The
    /// default writes it as a non-durable batch.
    fn write_deferred(&mut self, ops: Vec<WriteOp>) -> StoreResult<()> {
        self.write(ops, false)
    }

    /// Make every batch written so far durable.
    fn sync(&mut self) -> StoreResult<()>;

    /// Total bytes of blob content currently stored in `area`.
    fn stored_bytes(&self, area: Area) -> StoreResult<u64>;

    /// A hint that the blobs `keys` of `area` will be read soon. A store
    /// whose reads are slow one at a time (the browser's lazy paging, one
    /// IndexedDB round trip per miss) fetches them together; the others
    /// ignore it. It never changes what a later `get` returns, and an
    /// error here is only that the hint could not be followed.
    fn prefetch(&self, _area: Area, _keys: &[BlobKey]) -> StoreResult<()> {
        Ok(())
    }

    /// Whether [`BlobStore::prefetch`] can pay off: false (the default)
    /// lets callers skip the work of finding what to prefetch.
    fn prefetch_useful(&self) -> bool {
        false
    }

    /// The page kept by [`BlobStore::keep_decoded`] for page `key`, if the
    /// store still holds it: what the page's blob decodes to (crc checked),
    /// marked checked by the layer above if it was when kept. `None` (the
    /// default) sends the reader to the blob.
    fn decoded(&self, _key: BlobKey) -> Option<Page> {
        None
    }

    /// Offered by the pager for every clean page leaving its cache (read
    /// from this store's blob, or written to it): a store whose pages are
    /// costly to load (the browser's, whose page cache in linear memory is
    /// small) may keep the image, and whether the layer above checked it,
    /// outside that cache, and answer [`BlobStore::decoded`] with it until
    /// the page is written or deleted. The default keeps nothing.
    fn keep_decoded(&self, _key: BlobKey, _page: &Page) {}
}

impl<S: BlobStore + ?Sized> BlobStore for Box<S> {
    fn get(&self, area: Area, key: BlobKey) -> StoreResult<Option<Bytes>> {
        (**self).get(area, key)
    }
    fn keys_in(&self, area: Area, range: RangeInclusive<BlobKey>) -> StoreResult<Vec<BlobKey>> {
        (**self).keys_in(area, range)
    }
    fn keys(&self, area: Area) -> StoreResult<Vec<BlobKey>> {
        (**self).keys(area)
    }
    fn write(&mut self, ops: Vec<WriteOp>, durable: bool) -> StoreResult<()> {
        (**self).write(ops, durable)
    }
    fn write_deferred(&mut self, ops: Vec<WriteOp>) -> StoreResult<()> {
        (**self).write_deferred(ops)
    }
    fn sync(&mut self) -> StoreResult<()> {
        (**self).sync()
    }
    fn stored_bytes(&self, area: Area) -> StoreResult<u64> {
        (**self).stored_bytes(area)
    }
    fn prefetch(&self, area: Area, keys: &[BlobKey]) -> StoreResult<()> {
        (**self).prefetch(area, keys)
    }
    fn prefetch_useful(&self) -> bool {
        (**self).prefetch_useful()
    }
    fn decoded(&self, key: BlobKey) -> Option<Page> {
        (**self).decoded(key)
    }
    fn keep_decoded(&self, key: BlobKey, page: &Page) {
        (**self).keep_decoded(key, page)
    }
}
