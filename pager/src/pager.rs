//! The pager: page allocation, the bounded cache, dirty-page spilling and the
//! shadow-paging checkpoint.
//!
//! # Invariants
//! - Pages reachable from the durable superblock's root are never
//!   overwritten. A write transaction writes only pages it allocated itself
//!   (`TxnPages::fresh`); the B-tree copies any other page before changing it.
//! - A freed page is reused (or its blob deleted) only after (a) TWO
//!   checkpoints made superblocks durable that no longer reference it and
//!   (b) no pinned reader snapshot is older than the transaction that freed
//!   it. Two, not one: the older superblock slot stays a complete fallback,
//!   so damage to the newest slot loses nothing (see DESIGN.md).
//!   Exception: a page committed after the last checkpoint (`unsaved`) is
//!   named by neither superblock, so when a later transaction frees it and
//!   no snapshot is pinned it is reusable at once.
//! - After open, every id in the durable free list is quarantined until the
//!   first checkpoint: it may still be reachable from the other slot.
//! - Every id below `next_page_id` is exactly one of: live (reachable from the
//!   current root or a pinned snapshot), free, or pending free.
//! - The durable free list holds every id unreachable from the durable root,
//!   so a crash leaks nothing; stray blobs (spilled pages of a transaction
//!   that never checkpointed) are deleted on open.

use crate::cache::PageCache;
use crate::dirty::{DirtyPages, Taken};
use crate::encode_ahead::EncodeAhead;
use crate::encode_batch::{default_threads, encode_batch, PageContent};
use crate::error::{PagerError, Result};
use crate::frame::{self, Page, PageAid};
use crate::store::{Area, BlobStore, WriteOp};
use crate::superblock::{Superblock, MAX_BRANCH_SHIFT};
use crate::PageId;
use bytes::Bytes;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::hash::BuildHasherDefault;

type IdSet = HashSet<PageId, BuildHasherDefault<crate::cache::IdHasher>>;
use std::rc::Rc;

/// Smallest allowed logical page size.
pub const MIN_PAGE_SIZE: usize = 1024;
/// Largest allowed logical page size.
pub const MAX_PAGE_SIZE: usize = 64 * 1024;
/// Default logical page size of a new store (why not 8 KiB: DESIGN.md
/// section 2).
pub const DEFAULT_PAGE_SIZE: usize = 4096;
/// Default largest B-tree branch page of a new store, in pages: a branch
/// of 16 KiB holds about 680 children, so 10K records and their index sit
/// under one root (DESIGN.md section 2, "Branch size").
pub const DEFAULT_BRANCH_PAGES: usize = 4;
/// Default page-cache budget (clean plus dirty pages) of a native store:
/// enough to keep 100K users and their index's hot pages decoded (DESIGN.md
/// section 2, "Cache and memory"). The browser build sets its own, inside
/// its 2 MiB module.
pub const DEFAULT_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// How a pager is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagerConfig {
    /// Logical page size for a new store (1 KiB to 64 KiB, a power of two).
    /// An existing store keeps the size it was created with.
    pub page_size: usize,
    /// Largest B-tree branch page of a new store, in pages (1, 2, 4, 8 or
    /// 16; capped at [`MAX_PAGE_SIZE`] bytes). Every other page fits
    /// `page_size`. An existing store keeps the size it was created with.
    pub branch_pages: usize,
    /// Bytes of pages held in memory, clean and dirty together.
    pub cache_bytes: usize,
    /// Threads that compress a large batch of pages written together (a
    /// checkpoint after a bulk load), the caller's included: 0 for all
    /// the machine's cores, at most four; 1 for the caller's alone. wasm32
    /// always uses one. Above one, a worker thread also frames the pages
    /// the writer is done with while the transaction goes on
    /// ([`Pager::done_with`]).
    pub encode_threads: usize,
}

impl Default for PagerConfig {
    fn default() -> Self {
        PagerConfig {
            page_size: DEFAULT_PAGE_SIZE,
            branch_pages: DEFAULT_BRANCH_PAGES,
            cache_bytes: DEFAULT_CACHE_BYTES,
            encode_threads: 0,
        }
    }
}

/// Page bookkeeping of the write transaction in progress.
#[derive(Debug, Default)]
struct TxnPages {
    /// Allocated by this transaction: writable in place, freed on rollback.
    fresh: IdSet,
    /// Older pages this transaction released (restored on rollback).
    freed: Vec<PageId>,
}

/// Counters and sizes for `stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PagerStats {
    /// Logical page size.
    pub page_size: usize,
    /// Largest logical size of a B-tree branch page.
    pub branch_size: usize,
    /// Pages in use (allocated and not free).
    pub live_pages: u64,
    /// Pages free or waiting to become free.
    pub free_pages: u64,
    /// Page reads answered from memory.
    pub cache_hits: u64,
    /// Page reads that went to the store.
    pub cache_misses: u64,
    /// Page reads answered from the modified pages (neither a hit nor a
    /// miss of the cache).
    pub dirty_hits: u64,
    /// Clean pages in the cache.
    pub cached_pages: usize,
    /// Modified pages not yet written to the store.
    pub dirty_pages: usize,
    /// Bytes charged to the cache budget (clean plus dirty).
    pub memory_bytes: usize,
    /// Bytes of page frames in the store.
    pub stored_page_bytes: u64,
    /// Pages written to the store before their checkpoint (memory pressure).
    pub spilled_pages: u64,
    /// Pages written with a frame made ahead on another core
    /// ([`Pager::done_with`]).
    pub frames_made_ahead: u64,
    /// Checkpoints completed since open.
    pub checkpoints: u64,
    /// Generation of the durable superblock.
    pub generation: u64,
}

/// Pages over a [`BlobStore`]. See the module docs for the invariants.
pub struct Pager {
    store: Box<dyn BlobStore>,
    page_size: usize,
    /// The largest page held: a B-tree branch may use it, any other page
    /// fits `page_size` (the B-tree keeps to that; `check` verifies it).
    branch_size: usize,
    cache_budget: usize,
    /// Threads that encode a batch of pages ([`PagerConfig::encode_threads`],
    /// resolved).
    encode_threads: usize,
    /// Frames made ahead for pages the writer is done with (none on one
    /// encode thread, and on wasm32).
    ahead: Option<EncodeAhead>,
    cache: RefCell<PageCache>,
    dirty: DirtyPages,
    durable: Superblock,
    next_page_id: PageId,
    free: BTreeSet<PageId>,
    /// (epoch of the freeing transaction, page)
    pending_free: Vec<(u64, PageId)>,
    /// Unreachable from the durable superblock but perhaps reachable from
    /// the other slot: free after the next checkpoint.
    quarantine: Vec<PageId>,
    /// Ids that may hold a stale blob; deleted at the next checkpoint.
    garbage: BTreeSet<PageId>,
    /// Pages committed since the last checkpoint: neither superblock slot
    /// names them (they were free or new when it was written).
    unsaved: IdSet,
    txn: Option<TxnPages>,
    /// Epoch of the last committed transaction.
    epoch: u64,
    /// Pinned snapshots: (epoch, count), epochs ascending. A `Vec`, which
    /// keeps its buffer: a snapshot per call (the browser API's reads)
    /// allocates nothing, where a map allocated a node per pin.
    readers: Vec<(u64, usize)>,
    poisoned: Option<String>,
    spilled_pages: u64,
    frames_made_ahead: u64,
    checkpoints: u64,
    /// How pages that stop changing get their search aid (none if unset).
    aid: Option<PageAid>,
}

impl std::fmt::Debug for Pager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager")
            .field("page_size", &self.page_size)
            .field("generation", &self.durable.generation)
            .field("next_page_id", &self.next_page_id)
            .finish_non_exhaustive()
    }
}

fn check_page_size(ps: usize) -> Result<()> {
    if !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&ps) || !ps.is_power_of_two() {
        return Err(PagerError::InvalidConfig(format!(
            "page size {ps} must be a power of two between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}"
        )));
    }
    Ok(())
}

/// The config's branch pages, checked.
fn check_branch_pages(config: &PagerConfig) -> Result<()> {
    let pages = config.branch_pages;
    if !pages.is_power_of_two() || pages > 1 << MAX_BRANCH_SHIFT {
        return Err(PagerError::InvalidConfig(format!(
            "branch pages {pages} must be 1, 2, 4, 8 or 16"
        )));
    }
    Ok(())
}

/// The branch size the config asks for pages of `page_size` bytes: at most
/// [`MAX_PAGE_SIZE`] (a branch's slots are 16-bit offsets).
fn branch_size_for(config: &PagerConfig, page_size: usize) -> usize {
    (page_size * config.branch_pages).min(MAX_PAGE_SIZE)
}

/// A stored branch size must be the page size times a power of two and
/// at most [`MAX_PAGE_SIZE`].
fn check_branch_size(page_size: usize, branch_size: usize) -> Result<()> {
    let ratio = branch_size / page_size;
    if branch_size > MAX_PAGE_SIZE || ratio * page_size != branch_size || !ratio.is_power_of_two() {
        return Err(PagerError::corrupted(
            "superblock",
            None,
            format!("branch size {branch_size} does not suit pages of {page_size} bytes"),
        ));
    }
    Ok(())
}

/// The cache must hold 8 pages of the store's size (a new store's is the
/// config's; an existing one keeps its own, so a cache sized for 4 KiB
/// pages opens a 4 KiB store whatever the config's page size).
fn check_cache(cache_bytes: usize, ps: usize) -> Result<()> {
    if cache_bytes < 8 * ps {
        return Err(PagerError::InvalidConfig(format!(
            "cache of {cache_bytes} bytes must hold at least 8 pages of {ps} bytes"
        )));
    }
    Ok(())
}

impl Pager {
    /// Open the store, creating an empty one if it holds nothing.
    ///
    /// Returns the pager and the application bytes of the durable superblock
    /// (empty for a new store). Deletes blobs that a crash left unreferenced.
    ///
    /// A damaged slot is skipped (the other one is a complete fallback), but
    /// a slot of a newer superblock version fails the open with
    /// [`PagerError::NewerFormat`], whichever its generation: a newer build
    /// has written the store, and falling back would open an older state
    /// and let the next checkpoint overwrite the newer one.
    pub fn open(store: Box<dyn BlobStore>, config: PagerConfig) -> Result<(Pager, Vec<u8>)> {
        check_page_size(config.page_size)?;
        check_branch_pages(&config)?;
        let mut best: Option<Superblock> = None;
        let mut damage = None;
        for slot in 0..2 {
            if let Some(bytes) = store.get(Area::Meta, slot)? {
                match Superblock::decode(&bytes) {
                    Ok(sb) if best.as_ref().is_none_or(|b| sb.generation > b.generation) => {
                        best = Some(sb)
                    }
                    Ok(_) => {}
                    Err(e @ PagerError::NewerFormat { .. }) => return Err(e),
                    Err(e) => damage = Some(e),
                }
            }
        }
        let fresh = best.is_none();
        let durable = match best {
            Some(sb) => sb,
            None => {
                let holds_data =
                    !store.keys(Area::Pages)?.is_empty() || !store.keys(Area::Wal)?.is_empty();
                if let Some(e) = damage.filter(|_| holds_data) {
                    return Err(e);
                }
                if holds_data {
                    return Err(PagerError::corrupted(
                        "superblock",
                        None,
                        "the store holds pages but no superblock",
                    ));
                }
                Superblock {
                    generation: 0,
                    page_size: config.page_size as u32,
                    branch_size: Some(branch_size_for(&config, config.page_size) as u32),
                    next_page_id: 1,
                    free: BTreeSet::new(),
                    app: Vec::new(),
                }
            }
        };
        let page_size = durable.page_size as usize;
        check_page_size(page_size)
            .map_err(|e| PagerError::corrupted("superblock", None, e.to_string()))?;
        // A store from before branch sizes (superblock version 1) has
        // only page-sized branches, within any branch size: it takes the
        // config's, recorded by its next checkpoint.
        let branch_size = match durable.branch_size {
            Some(size) => size as usize,
            None => branch_size_for(&config, page_size),
        };
        check_branch_size(page_size, branch_size)?;
        check_cache(config.cache_bytes, page_size)?;
        let encode_threads = match config.encode_threads {
            0 => default_threads(),
            n => n,
        };
        let ahead = (encode_threads > 1 && !cfg!(target_arch = "wasm32"))
            .then(|| EncodeAhead::new(config.cache_bytes / 2));
        let mut pager = Pager {
            store,
            page_size,
            branch_size,
            cache_budget: config.cache_bytes,
            encode_threads,
            ahead,
            cache: RefCell::new(PageCache::default()),
            dirty: DirtyPages::default(),
            next_page_id: durable.next_page_id,
            free: BTreeSet::new(),
            quarantine: durable.free.iter().copied().collect(),
            durable,
            pending_free: Vec::new(),
            garbage: BTreeSet::new(),
            unsaved: IdSet::default(),
            txn: None,
            epoch: 0,
            readers: Vec::new(),
            poisoned: None,
            aid: None,
            spilled_pages: 0,
            frames_made_ahead: 0,
            checkpoints: 0,
        };
        if fresh {
            // Not synced here: batches survive in order, so the first
            // durable write (a commit's WAL record, a checkpoint) makes
            // this superblock durable before anything that needs it; a
            // crash before that leaves a store that opens as new.
            let sb = pager.durable.encode();
            pager.store_write(vec![put(Area::Meta, 0, sb)], false)?;
        } else {
            pager.reclaim_orphans()?;
        }
        let app = pager.durable.app.clone();
        Ok((pager, app))
    }

    /// Delete page blobs the durable superblock does not reference: id 0
    /// (never allocated) and ids from `next_page_id` on (written by a
    /// commit that never became durable). Only those two ranges are
    /// listed, so open costs what the orphans hold, not what the store
    /// holds (under lazy paging a listing is an IndexedDB request).
    fn reclaim_orphans(&mut self) -> Result<()> {
        let mut orphans = self.store.keys_in(Area::Pages, 0..=0)?;
        orphans.extend(
            self.store
                .keys_in(Area::Pages, self.next_page_id.max(1)..=PageId::MAX)?,
        );
        let ops: Vec<WriteOp> = orphans
            .into_iter()
            .map(|key| WriteOp::Delete {
                area: Area::Pages,
                key,
            })
            .collect();
        if !ops.is_empty() {
            self.store_write(ops, false)?;
        }
        Ok(())
    }

    /// Give every page from now on that can no longer change (loaded,
    /// spilled or committed) a search aid, derived with `derive` on the
    /// page's [`crate::AID_AFTER_USES`]th use (see [`PageAid`]). The aid
    /// counts against the cache budget like the page's bytes from the
    /// moment the page is eligible.
    pub fn derive_aids_with(&mut self, derive: PageAid) {
        self.aid = Some(derive);
    }

    /// Give `page`, which no one else holds and which will not change
    /// again, its search aid.
    fn give_aid(&self, page: &mut Page) {
        if let Some(derive) = self.aid {
            page.derive_aid(derive);
        }
    }

    /// The logical page size.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// The largest logical size of a B-tree branch page, and of any page
    /// this pager holds.
    pub fn branch_size(&self) -> usize {
        self.branch_size
    }

    /// The underlying store, for reading non-page areas (the WAL).
    pub fn store(&self) -> &dyn BlobStore {
        &*self.store
    }

    /// Write a batch to the store, poisoning the pager if the outcome is unknown.
    pub fn store_write(&mut self, ops: Vec<WriteOp>, durable: bool) -> Result<()> {
        self.check_usable()?;
        let written = self.store.write(ops, durable);
        self.written(written)
    }

    /// [`Pager::store_write`] of a deferred batch
    /// ([`BlobStore::write_deferred`]).
    fn store_write_deferred(&mut self, ops: Vec<WriteOp>) -> Result<()> {
        self.check_usable()?;
        let written = self.store.write_deferred(ops);
        self.written(written)
    }

    /// A write's outcome: a refused batch (quota) was not applied and the
    /// pager goes on; any other failure leaves it unknown, which poisons.
    fn written(&mut self, outcome: crate::store::StoreResult<()>) -> Result<()> {
        match outcome {
            Ok(()) => Ok(()),
            Err(e @ crate::store::StoreError::QuotaExceeded { .. }) => Err(e.into()),
            Err(e) => {
                self.poisoned = Some(e.to_string());
                Err(e.into())
            }
        }
    }

    /// Make everything written so far durable.
    pub fn store_sync(&mut self) -> Result<()> {
        self.check_usable()?;
        if let Err(e) = self.store.sync() {
            self.poisoned = Some(e.to_string());
            return Err(e.into());
        }
        Ok(())
    }

    fn check_usable(&self) -> Result<()> {
        match &self.poisoned {
            Some(why) => Err(PagerError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    /// Whether [`Pager::prefetch`] can pay off (the store says so); when
    /// false, callers skip finding what to prefetch.
    pub fn prefetch_useful(&self) -> bool {
        self.store.prefetch_useful()
    }

    /// Whether page `id` is in memory (dirty or cached): reading it costs
    /// no store access.
    pub fn is_loaded(&self, id: PageId) -> bool {
        self.dirty.contains(id) || self.cache.borrow().contains(id)
    }

    /// A hint that pages `ids` will be read soon: those not in memory are
    /// passed to the store's [`BlobStore::prefetch`] (one round trip for
    /// all of them where reads are slow one at a time). Ids outside the
    /// allocated pages are left out (a read of one reports it). Changes
    /// nothing a read returns.
    pub fn prefetch(&self, ids: &[PageId]) -> Result<()> {
        if !self.store.prefetch_useful() {
            return Ok(());
        }
        let wanted: Vec<PageId> = ids
            .iter()
            .copied()
            .filter(|&id| id != 0 && id < self.next_page_id && !self.is_loaded(id))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        Ok(self.store.prefetch(Area::Pages, &wanted)?)
    }

    /// Read a page (verified) through the cache.
    #[inline]
    pub fn read(&self, id: PageId) -> Result<Rc<Page>> {
        if let Some(page) = self.dirty.get(id) {
            return Ok(page.clone());
        }
        if let Some(page) = self.cache.borrow_mut().get(id) {
            return Ok(page);
        }
        self.read_missed(id)
    }

    /// [`Pager::read`] of a page in neither the dirty set nor the cache:
    /// loaded from the store (or its decoded copy) and cached.
    #[inline(never)]
    fn read_missed(&self, id: PageId) -> Result<Rc<Page>> {
        if id == 0 || id >= self.next_page_id {
            return Err(PagerError::corrupted(
                "page reference",
                Some(id),
                format!(
                    "points outside the allocated pages (next id {})",
                    self.next_page_id
                ),
            ));
        }
        let mut page = match self.store.decoded(id) {
            // Kept by the store when it left the cache earlier (see
            // `BlobStore::keep_decoded`).
            Some(page) if page.kind != 0 && page.data.len() <= self.branch_size => page,
            _ => {
                let blob = self
                    .store
                    .get(Area::Pages, id)?
                    .ok_or(PagerError::MissingPage(id))?;
                frame::decode(id, &blob, self.branch_size)?
            }
        };
        self.give_aid(&mut page);
        let page = Rc::new(page);
        let budget = self.cache_budget.saturating_sub(self.dirty.bytes());
        let mut cache = self.cache.borrow_mut();
        cache.insert(id, page.clone(), budget);
        self.offer_evicted(&mut cache);
        Ok(page)
    }

    /// Offers the pages `cache` evicted to the store (`keep_decoded`): they
    /// are clean, so each is what its blob decodes to.
    fn offer_evicted(&self, cache: &mut PageCache) {
        for (id, page) in cache.take_evicted() {
            self.store.keep_decoded(id, &page);
        }
    }

    /// Start a write transaction's page bookkeeping.
    pub fn begin(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.txn.is_some() {
            return Err(PagerError::InvalidConfig(
                "a write transaction is already open".into(),
            ));
        }
        self.txn = Some(TxnPages::default());
        Ok(())
    }

    /// Whether a write transaction is open.
    pub fn in_txn(&self) -> bool {
        self.txn.is_some()
    }

    fn txn_mut(&mut self) -> Result<&mut TxnPages> {
        self.txn
            .as_mut()
            .ok_or_else(|| PagerError::InvalidConfig("no write transaction is open".into()))
    }

    /// Whether the open transaction may overwrite `id` in place.
    pub fn is_writable(&self, id: PageId) -> bool {
        self.txn.as_ref().is_some_and(|t| t.fresh.contains(&id))
    }

    /// Allocate a page id for the open transaction.
    pub fn allocate(&mut self) -> Result<PageId> {
        self.check_usable()?;
        let id = match self.free.pop_first() {
            Some(id) => id,
            None => {
                let id = self.next_page_id;
                // A crafted superblock can say u64::MAX (found by the
                // open_store fuzz target).
                self.next_page_id = id.checked_add(1).ok_or_else(|| {
                    PagerError::corrupted("superblock", None, "page ids exhausted")
                })?;
                id
            }
        };
        self.garbage.remove(&id);
        self.txn_mut()?.fresh.insert(id);
        Ok(id)
    }

    /// Store the content of a page allocated by the open transaction.
    pub fn write(&mut self, id: PageId, mut page: Page) -> Result<()> {
        // Its bytes may have changed since an aid was derived (a copy of a
        // page, edited): the page gets one again when it stops changing.
        page.drop_aid();
        if page.data.len() > self.branch_size {
            return Err(PagerError::PageTooLarge {
                len: page.data.len(),
                max: self.branch_size,
            });
        }
        if !self.is_writable(id) {
            return Err(PagerError::InvalidConfig(format!(
                "page {id} is not writable: only pages allocated by the open transaction are"
            )));
        }
        self.cache.borrow_mut().remove(id);
        self.dirty.insert(id, Rc::new(page));
        self.make_room()
    }

    /// Edit page `id` in place with `f`, when that is safe: the open
    /// transaction allocated it (so no committed tree or snapshot reaches
    /// it), it is held in memory as a modified page, and nothing else holds
    /// a reference to it (a cursor of this transaction may hold the page:
    /// then it must keep seeing it unchanged). Returns `None`, having done
    /// nothing, otherwise; the caller then writes a new copy with
    /// [`Pager::write`]. Saves the allocation and copy of a page per edit
    /// on the write path.
    ///
    /// `f` must leave at most a page of data; if it does not, the page is
    /// left as `f` made it and `PageTooLarge` is returned (the transaction
    /// must then be rolled back, as after any failed write).
    pub fn update<R>(&mut self, id: PageId, f: impl FnOnce(&mut Page) -> R) -> Result<Option<R>> {
        if !self.is_writable(id) {
            return Ok(None);
        }
        let before = self.dirty.bytes();
        let Some((out, len)) = self.dirty.update(id, |page| (f(page), page.data.len())) else {
            return Ok(None);
        };
        if len > self.branch_size {
            return Err(PagerError::PageTooLarge {
                len,
                max: self.branch_size,
            });
        }
        if self.dirty.bytes() > before {
            self.make_room()?;
        }
        Ok(Some(out))
    }

    /// The writer expects not to change page `id` again before it is
    /// written out (the left half of a split by an ascending run): where
    /// there is a second core, its frame is made there meanwhile, and the
    /// spill uses it if the page has not changed since. Only a hint: any
    /// later write of the page stays valid, and costs the frame.
    pub fn done_with(&mut self, id: PageId) {
        let Some(ahead) = &mut self.ahead else {
            return;
        };
        if let Some((page, version)) = self.dirty.peek(id) {
            ahead.submit(id, version, page.kind, &page.data);
        }
    }

    /// Release a page that the current tree no longer references.
    pub fn free(&mut self, id: PageId) -> Result<()> {
        let txn = self.txn_mut()?;
        if txn.fresh.remove(&id) {
            // Never visible to anyone else: reusable at once.
            self.dirty.remove(id);
            self.cache.borrow_mut().remove(id);
            self.garbage.insert(id);
            self.free.insert(id);
        } else {
            txn.freed.push(id);
            // A copy committed since the last checkpoint is dropped by
            // this commit, unwritten: not worth spilling meanwhile.
            if self.unsaved.contains(&id) {
                self.dirty.set_released(id, true);
            }
        }
        Ok(())
    }

    /// Make the open transaction's pages immutable; returns its epoch.
    pub fn commit(&mut self) -> Result<u64> {
        let txn = self
            .txn
            .take()
            .ok_or_else(|| PagerError::InvalidConfig("no write transaction is open".into()))?;
        self.epoch += 1;
        let epoch = self.epoch;
        let unpinned = self.readers.is_empty();
        for id in txn.freed {
            // A freed page still in memory only is needed by no one if no
            // snapshot is pinned: drop it rather than write it at checkpoint.
            let unsaved = self.unsaved.remove(&id);
            self.dirty.set_released(id, false);
            if unpinned {
                self.dirty.remove(id);
                if unsaved {
                    // Named by no superblock and read by no one: reusable
                    // now. A blob it was spilled to goes at the next
                    // checkpoint unless the id is reused first.
                    self.cache.borrow_mut().remove(id);
                    self.garbage.insert(id);
                    self.free.insert(id);
                    continue;
                }
            }
            self.pending_free.push((epoch, id));
        }
        if let Some(derive) = self.aid {
            // Committed pages change no more: the next transaction copies
            // a page before it edits it.
            for &id in &txn.fresh {
                self.dirty.derive_aid(id, derive);
            }
        }
        self.unsaved.extend(txn.fresh);
        // The commit stands whatever the trim does: a refused spill keeps
        // its pages dirty (the next write tries again), any other failure
        // poisons the pager, and the next call reports it.
        let _ = self.trim_dirty();
        Ok(epoch)
    }

    /// Undo the open transaction's allocations and frees.
    pub fn rollback(&mut self) {
        if let Some(ahead) = &mut self.ahead {
            ahead.forget();
        }
        if let Some(txn) = self.txn.take() {
            for id in txn.freed {
                self.dirty.set_released(id, false);
            }
            for id in txn.fresh {
                self.dirty.remove(id);
                self.cache.borrow_mut().remove(id);
                self.garbage.insert(id);
                self.free.insert(id);
            }
        }
    }

    /// Pin the current committed state for a reader; pass the result to `unpin`.
    pub fn pin(&mut self) -> u64 {
        // Epochs only grow, so the current one is the last or new.
        match self.readers.last_mut() {
            Some((epoch, n)) if *epoch == self.epoch => *n += 1,
            _ => self.readers.push((self.epoch, 1)),
        }
        self.epoch
    }

    /// Release a pin taken by `pin`.
    pub fn unpin(&mut self, epoch: u64) {
        if let Ok(i) = self.readers.binary_search_by_key(&epoch, |&(e, _)| e) {
            self.readers[i].1 -= 1;
            if self.readers[i].1 == 0 {
                self.readers.remove(i);
            }
        }
    }

    /// Keep the pages in memory within the budget after a write. While a
    /// transaction writes, its dirty pages (but those it released, see
    /// `dirty.rs`) may fill the whole budget; past it, the least recently
    /// used are spilled down to half.
    fn make_room(&mut self) -> Result<()> {
        self.spill_coldest(self.cache_budget, self.cache_budget / 2)
    }

    /// After a commit: dirty pages past half the budget are spilled down
    /// to a quarter, so the next transaction has room to write before it
    /// spills. The commit's WAL record is in the store by then, so where
    /// the store writes asynchronously (IndexedDB) this work overlaps the
    /// commit's own write instead of delaying it (a small commit copies
    /// the root, a branch or two and two leaves: spilled during the
    /// transaction, their compression came before its WAL record).
    fn trim_dirty(&mut self) -> Result<()> {
        self.spill_coldest(self.cache_budget / 2, self.cache_budget / 4)
    }

    /// Once spillable dirty pages pass `past` bytes, spill the least
    /// recently used down to `down_to`; then evict clean pages to fit what
    /// is left of the budget.
    fn spill_coldest(&mut self, past: usize, down_to: usize) -> Result<()> {
        if self.dirty.spillable_bytes() > past {
            let cold = self.dirty.take_coldest(down_to);
            self.spill_pages(cold)?;
        }
        self.evict_clean();
        Ok(())
    }

    /// Evicts clean pages to fit the budget the dirty pages leave.
    fn evict_clean(&self) {
        let room = self.cache_budget.saturating_sub(self.dirty.bytes());
        let mut cache = self.cache.borrow_mut();
        cache.evict_to(room);
        self.offer_evicted(&mut cache);
    }

    /// Write every dirty page to the store (not durably) to free memory.
    /// Safe at any time: dirty pages live at ids the durable superblock does
    /// not reference.
    pub fn spill(&mut self) -> Result<()> {
        let all = self.dirty.take_all();
        self.spill_pages(all)
    }

    /// Write `dirty`, taken from the dirty pages, to the store (not
    /// durably) and keep them as clean pages in the cache.
    fn spill_pages(&mut self, dirty: Vec<Taken>) -> Result<()> {
        if dirty.is_empty() {
            return Ok(());
        }
        let ops = self.frames(&dirty);
        // Nothing durable names a spilled page until a superblock does,
        // and the store orders a deferred batch before the next superblock.
        if let Err(e) = self.store_write_deferred(ops) {
            // The store does not have them (a refused batch) or may not (a
            // poisoned pager): memory keeps the only copy.
            for (id, page, _) in dirty {
                self.dirty.insert(id, page);
            }
            return Err(e);
        }
        self.spilled_pages += dirty.len() as u64;
        let mut cache = self.cache.borrow_mut();
        for (id, mut page, _) in dirty {
            // A spilled page is never edited again (an edit writes a copy).
            if let Some(owned) = Rc::get_mut(&mut page) {
                self.give_aid(owned);
            }
            cache.insert(id, page, self.cache_budget);
        }
        self.offer_evicted(&mut cache);
        Ok(())
    }

    /// The puts of `dirty`'s frames, in its order: those made ahead for
    /// the very version spilled, the others encoded now.
    fn frames(&mut self, dirty: &[Taken]) -> Vec<WriteOp> {
        let mut frames: Vec<Option<Vec<u8>>> = match &mut self.ahead {
            Some(ahead) => {
                ahead.collect();
                dirty
                    .iter()
                    .map(|(id, _, version)| ahead.take(*id, *version))
                    .collect()
            }
            None => vec![None; dirty.len()],
        };
        self.frames_made_ahead += frames.iter().filter(|f| f.is_some()).count() as u64;
        let content: Vec<PageContent<'_>> = dirty
            .iter()
            .zip(&frames)
            .filter(|(_, frame)| frame.is_none())
            .map(|((id, page, _), _)| (*id, page.kind, page.data.as_slice()))
            .collect();
        // One frame per page of `content`, in its order.
        let mut encoded = encode_batch(&content, self.encode_threads).into_iter();
        frames
            .iter_mut()
            .zip(dirty)
            .map(|(made, (id, page, _))| {
                let frame = made
                    .take()
                    .or_else(|| encoded.next())
                    .unwrap_or_else(|| frame::encode_content(*id, page.kind, &page.data));
                put(Area::Pages, *id, frame)
            })
            .collect()
    }

    /// Pages committed since the last checkpoint (named by no superblock).
    pub fn unsaved_count(&self) -> usize {
        self.unsaved.len()
    }

    /// Pages freed since the last checkpoint, waiting for one to be reusable.
    pub fn pending_free_count(&self) -> usize {
        self.pending_free.len()
    }

    /// Bytes of modified pages held in memory.
    pub fn dirty_bytes(&self) -> usize {
        self.dirty.bytes()
    }

    /// The cache budget in bytes.
    pub fn cache_budget(&self) -> usize {
        self.cache_budget
    }

    /// Persist the committed state: write dirty pages, then a new superblock
    /// carrying `app`, then delete what it made unreferenced together with
    /// `after` (e.g. WAL records the checkpoint covers).
    pub fn checkpoint(&mut self, app: Vec<u8>, after: Vec<WriteOp>) -> Result<()> {
        if self.txn.is_some() {
            return Err(PagerError::InvalidConfig(
                "cannot checkpoint inside a write transaction".into(),
            ));
        }
        if let Some(ahead) = &mut self.ahead {
            ahead.settle();
        }
        let spilled = self.spill();
        if let Some(ahead) = &mut self.ahead {
            // Every dirty page was taken: what is left is stale.
            ahead.forget();
        }
        spilled?;
        // Pages freed by transactions no pinned reader predates leave the
        // tree with this superblock: quarantined until the next one. Those
        // quarantined by the previous checkpoint become free.
        let oldest_reader = self.readers.first().map_or(u64::MAX, |&(epoch, _)| epoch);
        type Pending = Vec<(u64, PageId)>;
        let (released, pending): (Pending, Pending) = self
            .pending_free
            .iter()
            .partition(|(epoch, _)| *epoch <= oldest_reader);
        let mut free = self.free.clone();
        let mut garbage = self.garbage.clone();
        for &id in &self.quarantine {
            free.insert(id);
            garbage.insert(id);
        }
        let mut next_page_id = self.next_page_id;
        while next_page_id > 1 && free.remove(&(next_page_id - 1)) {
            next_page_id -= 1;
        }
        let quarantine: Vec<PageId> = released.iter().map(|(_, id)| *id).collect();
        let mut durable_free = free.clone();
        durable_free.extend(quarantine.iter().copied());
        durable_free.extend(pending.iter().map(|(_, id)| *id));
        let sb = Superblock {
            generation: self.durable.generation + 1,
            page_size: self.page_size as u32,
            branch_size: Some(self.branch_size as u32),
            next_page_id,
            free: durable_free,
            app,
        };
        // Ordered batches: if the superblock survives, the pages before it do.
        self.store_write(vec![put(Area::Meta, sb.slot(), sb.encode())], true)?;
        let mut ops: Vec<WriteOp> = garbage
            .iter()
            .map(|&key| WriteOp::Delete {
                area: Area::Pages,
                key,
            })
            .collect();
        ops.extend(after);
        self.pending_free = pending;
        self.quarantine = quarantine;
        self.free = free;
        self.garbage.clear();
        self.next_page_id = next_page_id;
        self.durable = sb;
        // The new superblock names every page committed so far.
        self.unsaved.clear();
        self.checkpoints += 1;
        if !ops.is_empty() {
            self.store_write(ops, false)?;
        }
        Ok(())
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Result<PagerStats> {
        let cache = self.cache.borrow();
        let free = (self.free.len() + self.pending_free.len() + self.quarantine.len()) as u64;
        Ok(PagerStats {
            page_size: self.page_size,
            branch_size: self.branch_size,
            live_pages: (self.next_page_id - 1).saturating_sub(free),
            free_pages: free,
            cache_hits: cache.hits,
            cache_misses: cache.misses,
            dirty_hits: self.dirty.hits(),
            cached_pages: cache.len(),
            dirty_pages: self.dirty.len(),
            memory_bytes: cache.bytes() + self.dirty.bytes(),
            stored_page_bytes: self.store.stored_bytes(Area::Pages)?,
            spilled_pages: self.spilled_pages,
            frames_made_ahead: self.frames_made_ahead,
            checkpoints: self.checkpoints,
            generation: self.durable.generation,
        })
    }
}

fn put(area: Area, key: u64, value: Vec<u8>) -> WriteOp {
    WriteOp::Put {
        area,
        key,
        value: Bytes::from(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use crate::store::BlobKey;
    use crate::superblock::VERSION;
    use std::collections::HashMap;

    fn page(byte: u8) -> Page {
        Page::new(1, vec![byte; 100])
    }

    /// Writes `pages` at fresh ids in one transaction, commits and
    /// checkpoints; returns the ids.
    fn checkpointed(p: &mut Pager, pages: impl Iterator<Item = Page>) -> Vec<PageId> {
        p.begin().unwrap();
        let ids = pages
            .map(|page| {
                let id = p.allocate().unwrap();
                p.write(id, page).unwrap();
                id
            })
            .collect();
        p.commit().unwrap();
        p.checkpoint(vec![], vec![]).unwrap();
        ids
    }

    fn small() -> PagerConfig {
        PagerConfig {
            page_size: 1024,
            branch_pages: 4,
            cache_bytes: 16 * 1024,
            // Two even on one core: a large checkpoint takes the threaded
            // path.
            encode_threads: 2,
        }
    }

    #[test]
    fn a_store_keeps_its_page_size_and_the_cache_is_checked_against_it() {
        let store = MemoryStore::new();
        let four_k = PagerConfig {
            page_size: 4096,
            branch_pages: 2,
            cache_bytes: 8 * 4096,
            ..PagerConfig::default()
        };
        let (mut p, _) = Pager::open(Box::new(store.clone()), four_k).unwrap();
        checkpointed(&mut p, [page(3)].into_iter());
        drop(p);
        // A config naming larger pages: the store's own size wins, and a
        // cache of 8 of its pages is enough.
        let eight_k = PagerConfig {
            page_size: 8192,
            branch_pages: 1,
            ..four_k
        };
        let (p, _) = Pager::open(Box::new(store), eight_k).unwrap();
        assert_eq!((p.page_size(), p.branch_size()), (4096, 8192));
        // A new store takes the config's size, and its cache must hold 8.
        let err = Pager::open(Box::new(MemoryStore::new()), eight_k).unwrap_err();
        assert!(
            err.to_string().contains("at least 8 pages of 8192 bytes"),
            "{err}"
        );
    }

    /// Pages handed to the worker, half changed after it framed them: the
    /// store gets the unchanged half's frames made ahead, and every page
    /// as it is at the checkpoint.
    #[test]
    fn a_page_changed_after_its_frame_was_made_ahead_is_written_as_it_is() {
        let store = MemoryStore::new();
        let config = PagerConfig {
            cache_bytes: 1 << 20,
            ..small()
        };
        let (mut p, _) = Pager::open(Box::new(store.clone()), config).unwrap();
        let content = |i: usize, round: u8| {
            let data: Vec<u8> = (0..1000).map(|j| ((i + j / 50) as u8) ^ round).collect();
            Page::new(5, data)
        };
        let n = 64;
        p.begin().unwrap();
        let ids: Vec<PageId> = (0..n)
            .map(|i| {
                let id = p.allocate().unwrap();
                p.write(id, content(i, 0)).unwrap();
                p.done_with(id);
                id
            })
            .collect();
        // Every page handed over has its frame (64 is two whole batches).
        let ahead = p.ahead.as_mut().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while ahead.ready() < n && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(ahead.ready(), n);
        for (i, &id) in ids.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
            let changed = if i % 4 == 1 {
                p.update(id, |page| page.data = content(i, 1).data).unwrap()
            } else {
                p.write(id, content(i, 2)).unwrap();
                Some(())
            };
            assert!(changed.is_some());
        }
        p.commit().unwrap();
        p.checkpoint(vec![], vec![]).unwrap();
        assert_eq!(p.stats().unwrap().frames_made_ahead, n as u64 / 2);
        drop(p);
        let (p, _) = Pager::open(Box::new(store), config).unwrap();
        for (i, &id) in ids.iter().enumerate() {
            let round = [0, 1, 0, 2][i % 4];
            assert_eq!(p.read(id).unwrap().data, content(i, round).data, "page {i}");
        }
    }

    #[test]
    fn checkpoint_then_reopen_keeps_pages_and_app_bytes() {
        let store = MemoryStore::new();
        let (mut p, app) = Pager::open(Box::new(store.clone()), small()).unwrap();
        assert!(app.is_empty());
        p.begin().unwrap();
        let a = p.allocate().unwrap();
        p.write(a, page(7)).unwrap();
        p.commit().unwrap();
        p.checkpoint(b"root".to_vec(), vec![]).unwrap();
        drop(p);
        let (p, app) = Pager::open(Box::new(store), small()).unwrap();
        assert_eq!(app, b"root");
        assert_eq!(p.read(a).unwrap().data, vec![7; 100]);
    }

    #[test]
    fn committed_pages_are_immutable_and_rollback_frees() {
        let (mut p, _) = Pager::open(Box::new(MemoryStore::new()), small()).unwrap();
        p.begin().unwrap();
        let a = p.allocate().unwrap();
        p.write(a, page(1)).unwrap();
        p.commit().unwrap();
        p.begin().unwrap();
        assert!(
            p.write(a, page(2)).is_err(),
            "committed page must be copied, not overwritten"
        );
        let b = p.allocate().unwrap();
        p.write(b, page(3)).unwrap();
        p.rollback();
        p.begin().unwrap();
        assert_eq!(p.allocate().unwrap(), b, "rolled-back page is reused");
    }

    /// An aid of one word per 100 bytes of pages of kind 7, the first
    /// word the page's first byte.
    const TEST_AID: PageAid = PageAid {
        words: |kind, data| if kind == 7 { data.len() / 100 } else { 0 },
        derive: |kind, data| {
            (kind == 7).then(|| {
                let mut words = vec![0u64; data.len() / 100];
                words[0] = u64::from(data[0]);
                words.into_boxed_slice()
            })
        },
    };

    /// `page`'s aid once it has been used enough to derive one.
    fn used_aid(page: &Page) -> Vec<u64> {
        for _ in 1..crate::AID_AFTER_USES {
            assert!(page.aid().is_empty(), "derived before its uses");
        }
        page.aid().to_vec()
    }

    #[test]
    fn aids_come_with_pages_that_stop_changing_and_are_charged() {
        let store = MemoryStore::new();
        let (mut p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        p.derive_aids_with(TEST_AID);
        p.begin().unwrap();
        let a = p.allocate().unwrap();
        p.write(a, Page::new(7, vec![1; 400])).unwrap();
        let b = p.allocate().unwrap();
        p.write(b, page(2)).unwrap();
        for _ in 0..2 * crate::AID_AFTER_USES {
            assert!(p.read(a).unwrap().aid().is_empty(), "a page still changing");
        }
        p.update(a, |pg| pg.data[0] = 3).unwrap();
        let before = p.dirty_bytes();
        p.commit().unwrap();
        assert_eq!(p.dirty_bytes(), before + 4 * 8, "charged at commit");
        assert_eq!(
            used_aid(&p.read(a).unwrap()),
            [3, 0, 0, 0],
            "derived on use"
        );
        assert_eq!(p.dirty_bytes(), before + 4 * 8, "charged once");
        assert!(used_aid(&p.read(b).unwrap()).is_empty(), "kind 1 gets none");
        p.checkpoint(vec![], vec![]).unwrap();
        // Loaded from the store: eligible on load.
        let (mut p, _) = Pager::open(Box::new(store), small()).unwrap();
        p.derive_aids_with(TEST_AID);
        assert_eq!(used_aid(&p.read(a).unwrap()), [3, 0, 0, 0]);
        // A copy of a page with an aid, edited and written, has none.
        p.begin().unwrap();
        let mut copy = (*p.read(a).unwrap()).clone();
        copy.data[0] = 9;
        let d = p.allocate().unwrap();
        p.write(d, copy).unwrap();
        for _ in 0..2 * crate::AID_AFTER_USES {
            assert!(p.read(d).unwrap().aid().is_empty());
        }
        // A page spilled mid-transaction changes no more: it gets its aid.
        let c = p.allocate().unwrap();
        p.write(c, Page::new(7, vec![5; 200])).unwrap();
        p.spill().unwrap();
        assert_eq!(used_aid(&p.read(c).unwrap()), [5, 0]);
    }

    #[test]
    fn update_edits_only_unshared_pages_of_the_open_transaction() {
        let (mut p, _) = Pager::open(Box::new(MemoryStore::new()), small()).unwrap();
        p.begin().unwrap();
        let a = p.allocate().unwrap();
        p.write(a, page(1)).unwrap();
        let before = p.stats().unwrap().memory_bytes;
        let grown = p
            .update(a, |pg| pg.data.extend_from_slice(&[2; 300]))
            .unwrap();
        assert_eq!(grown, Some(()));
        assert_eq!(p.read(a).unwrap().data.len(), 400);
        assert!(
            p.stats().unwrap().memory_bytes > before,
            "growth is charged"
        );
        // A reader holding the page keeps seeing it unchanged: no edit.
        let held = p.read(a).unwrap();
        assert_eq!(p.update(a, |pg| pg.data.clear()).unwrap(), None);
        assert_eq!(held.data.len(), 400);
        drop(held);
        // Past the branch size (4 KiB for `small`), the largest page.
        assert!(matches!(
            p.update(a, |pg| pg.data.resize(5000, 0)),
            Err(PagerError::PageTooLarge { .. })
        ));
        p.update(a, |pg| pg.data.truncate(100)).unwrap();
        p.commit().unwrap();
        // Committed pages are immutable.
        p.begin().unwrap();
        assert_eq!(p.update(a, |pg| pg.data.clear()).unwrap(), None);
        assert_eq!(p.read(a).unwrap().data.len(), 100);
    }

    #[test]
    fn freed_pages_wait_for_checkpoint_and_readers() {
        let (mut p, _) = Pager::open(Box::new(MemoryStore::new()), small()).unwrap();
        p.begin().unwrap();
        let a = p.allocate().unwrap();
        p.write(a, page(1)).unwrap();
        p.commit().unwrap();
        p.checkpoint(vec![], vec![]).unwrap();
        let pin = p.pin();
        p.begin().unwrap();
        p.free(a).unwrap();
        p.commit().unwrap();
        p.checkpoint(vec![], vec![]).unwrap();
        assert_eq!(
            p.read(a).unwrap().data,
            vec![1; 100],
            "pinned reader still sees the page"
        );
        p.begin().unwrap();
        assert_ne!(p.allocate().unwrap(), a, "not reused while pinned");
        p.rollback();
        p.unpin(pin);
        p.checkpoint(vec![], vec![]).unwrap();
        p.begin().unwrap();
        assert_ne!(
            p.allocate().unwrap(),
            a,
            "quarantined for one more checkpoint"
        );
        p.rollback();
        p.checkpoint(vec![], vec![]).unwrap();
        p.begin().unwrap();
        assert_eq!(
            p.allocate().unwrap(),
            a,
            "reused after unpin and two checkpoints"
        );
    }

    #[test]
    fn pages_no_superblock_names_are_reused_without_a_checkpoint() {
        let store = MemoryStore::new();
        let (mut p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        p.begin().unwrap();
        let kept = p.allocate().unwrap();
        p.write(kept, page(1)).unwrap();
        p.commit().unwrap();
        p.checkpoint(vec![], vec![]).unwrap();
        // `a` is committed after the checkpoint and spilled to the store.
        p.begin().unwrap();
        let a = p.allocate().unwrap();
        p.write(a, page(2)).unwrap();
        p.commit().unwrap();
        p.spill().unwrap();
        assert!(store.get(Area::Pages, a).unwrap().is_some());
        // Freed by the next transaction with no snapshot pinned: free now,
        // not pending (no checkpoint needed, none triggered by it).
        p.begin().unwrap();
        p.free(a).unwrap();
        p.commit().unwrap();
        assert_eq!(p.pending_free_count(), 0);
        p.begin().unwrap();
        assert_eq!(p.allocate().unwrap(), a, "reused at once");
        p.rollback();
        // Not reused, its stale blob goes with the next checkpoint.
        p.checkpoint(vec![], vec![]).unwrap();
        assert!(store.get(Area::Pages, a).unwrap().is_none());
        // A page of the durable tree still waits for checkpoints.
        p.begin().unwrap();
        p.free(kept).unwrap();
        p.commit().unwrap();
        assert_eq!(p.pending_free_count(), 1);
        // A pinned snapshot keeps an unsaved page from reuse.
        p.begin().unwrap();
        let b = p.allocate().unwrap();
        p.write(b, page(3)).unwrap();
        p.commit().unwrap();
        let pin = p.pin();
        p.begin().unwrap();
        p.free(b).unwrap();
        p.commit().unwrap();
        assert_eq!(
            p.read(b).unwrap().data,
            vec![3; 100],
            "the snapshot still reads it"
        );
        p.begin().unwrap();
        assert_ne!(p.allocate().unwrap(), b, "not reused while pinned");
        p.rollback();
        p.unpin(pin);
    }

    /// A memory store that keeps the decoded pages the pager offers (as the
    /// browser's does), forgetting a page's image when it is written, and
    /// refuses deferred writes for lack of space while `full` is set.
    #[derive(Clone, Default)]
    struct TestStore {
        inner: MemoryStore,
        kept: Rc<RefCell<HashMap<BlobKey, Page>>>,
        full: Rc<std::cell::Cell<bool>>,
    }

    impl BlobStore for TestStore {
        fn get(&self, area: Area, key: BlobKey) -> crate::store::StoreResult<Option<Bytes>> {
            self.inner.get(area, key)
        }
        fn keys_in(
            &self,
            area: Area,
            range: std::ops::RangeInclusive<BlobKey>,
        ) -> crate::store::StoreResult<Vec<BlobKey>> {
            self.inner.keys_in(area, range)
        }
        fn write(&mut self, ops: Vec<WriteOp>, durable: bool) -> crate::store::StoreResult<()> {
            for op in &ops {
                let (WriteOp::Put { key, .. } | WriteOp::Delete { key, .. }) = op;
                self.kept.borrow_mut().remove(key);
            }
            self.inner.write(ops, durable)
        }
        fn write_deferred(&mut self, ops: Vec<WriteOp>) -> crate::store::StoreResult<()> {
            if self.full.get() {
                return Err(crate::store::StoreError::QuotaExceeded {
                    detail: "full".into(),
                });
            }
            self.write(ops, false)
        }
        fn sync(&mut self) -> crate::store::StoreResult<()> {
            self.inner.sync()
        }
        fn stored_bytes(&self, area: Area) -> crate::store::StoreResult<u64> {
            self.inner.stored_bytes(area)
        }
        fn decoded(&self, key: BlobKey) -> Option<Page> {
            self.kept.borrow().get(&key).cloned()
        }
        fn keep_decoded(&self, key: BlobKey, page: &Page) {
            self.kept.borrow_mut().insert(key, page.clone());
        }
    }

    #[test]
    fn clean_pages_leaving_the_cache_are_offered_with_their_check_and_come_back() {
        let store = TestStore::default();
        let kept = store.kept.clone();
        let cfg = PagerConfig {
            page_size: 1024,
            branch_pages: 1,
            cache_bytes: 8 * 1024,
            ..PagerConfig::default()
        };
        let (mut p, _) = Pager::open(Box::new(store), cfg).unwrap();
        // Pages near the page size: the cache holds eight.
        let page = |byte: u8| Page::new(1, vec![byte; 900]);
        let ids = checkpointed(&mut p, (0..60u8).map(page));
        // Reading every page through a cache of a few: each evicted page is
        // offered, as it is (checked or not).
        for (i, &id) in ids.iter().enumerate() {
            let pg = p.read(id).unwrap();
            assert_eq!(pg.data, vec![i as u8; 900]);
            if i % 2 == 0 {
                pg.set_checked();
            }
        }
        assert!(kept.borrow().len() >= 30, "{} kept", kept.borrow().len());
        // (A page still cached when read was offered earlier, when the
        // commit's pages left the cache: unchecked then.)
        let mut checked = 0;
        for (i, &id) in ids.iter().enumerate() {
            if let Some(image) = kept.borrow().get(&id) {
                assert_eq!(image, &page(i as u8));
                assert!(!image.is_checked() || i % 2 == 0, "page {i}");
                checked += usize::from(image.is_checked());
            }
        }
        assert!(checked >= 25, "{checked} kept checked");
        // A page read back from its image keeps the mark.
        let first = ids[0];
        assert!(kept.borrow().contains_key(&first));
        let again = p.read(first).unwrap();
        assert!(again.is_checked());
        assert_eq!(again.data, vec![0; 900]);
        // A page written anew is forgotten by the store; what comes back is
        // the new content, never the old image.
        p.begin().unwrap();
        p.free(ids[1]).unwrap();
        let id = p.allocate().unwrap();
        p.write(id, page(99)).unwrap();
        p.commit().unwrap();
        p.checkpoint(vec![], vec![]).unwrap();
        for &other in &ids[2..] {
            p.read(other).unwrap();
        }
        assert_eq!(p.read(id).unwrap().data, vec![99; 900]);
    }

    #[test]
    fn spills_beyond_budget_and_reads_back() {
        let store = MemoryStore::new();
        let (mut p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        p.begin().unwrap();
        let ids: Vec<_> = (0..200u8)
            .map(|i| {
                let id = p.allocate().unwrap();
                p.write(id, page(i)).unwrap();
                id
            })
            .collect();
        assert!(p.stats().unwrap().memory_bytes <= 16 * 1024);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(p.read(*id).unwrap().data[0], i as u8);
        }
        // A crash now: reopening discards the spilled, never-checkpointed pages.
        drop(p);
        let (_p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        assert!(store.keys(Area::Pages).unwrap().is_empty());
    }

    /// `n` pages of 900 bytes written at fresh ids in one transaction,
    /// committed; returns the ids.
    fn committed(p: &mut Pager, n: u8) -> Vec<PageId> {
        p.begin().unwrap();
        let ids = (0..n)
            .map(|i| {
                let id = p.allocate().unwrap();
                p.write(id, Page::new(1, vec![i; 900])).unwrap();
                id
            })
            .collect();
        p.commit().unwrap();
        ids
    }

    #[test]
    fn a_transaction_fills_the_budget_before_spilling_and_its_commit_trims_to_half() {
        let (mut p, _) = Pager::open(Box::new(MemoryStore::new()), small()).unwrap();
        // 12 pages of about 1 KiB: three quarters of the 16 KiB budget.
        p.begin().unwrap();
        for i in 0..12u8 {
            let id = p.allocate().unwrap();
            p.write(id, Page::new(1, vec![i; 900])).unwrap();
        }
        let s = p.stats().unwrap();
        assert_eq!((s.spilled_pages, s.dirty_pages), (0, 12), "no spill yet");
        p.commit().unwrap();
        let s = p.stats().unwrap();
        assert!(s.spilled_pages > 0, "the commit spilled");
        assert!(p.dirty_bytes() <= 16 * 1024 / 4, "down to a quarter");
        // Past the whole budget, a transaction spills as it writes.
        let before = p.stats().unwrap().spilled_pages;
        p.begin().unwrap();
        for i in 0..20u8 {
            let id = p.allocate().unwrap();
            p.write(id, Page::new(1, vec![i; 900])).unwrap();
            assert!(p.dirty_bytes() <= 16 * 1024 + 1024);
        }
        assert!(p.stats().unwrap().spilled_pages > before);
        p.commit().unwrap();
    }

    #[test]
    fn copies_a_transaction_frees_are_not_spilled_unless_it_rolls_back() {
        let (mut p, _) = Pager::open(Box::new(MemoryStore::new()), small()).unwrap();
        let ids = committed(&mut p, 4);
        assert_eq!(p.stats().unwrap().dirty_pages, 4);
        // A transaction copies the four pages (freeing the committed,
        // never checkpointed originals) and writes enough to spill.
        p.begin().unwrap();
        for &id in &ids {
            p.free(id).unwrap();
        }
        for i in 0..17u8 {
            let id = p.allocate().unwrap();
            p.write(id, Page::new(1, vec![i; 900])).unwrap();
        }
        assert!(p.stats().unwrap().spilled_pages > 0);
        p.rollback();
        // The originals were never spilled: still dirty, readable, and now
        // spillable again.
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(p.read(id).unwrap().data[0], i as u8);
        }
        assert_eq!(p.stats().unwrap().dirty_pages, 4);
        p.spill().unwrap();
        assert_eq!(p.stats().unwrap().dirty_pages, 0);
    }

    #[test]
    fn a_refused_spill_keeps_its_pages_in_memory() {
        let store = TestStore::default();
        let full = store.full.clone();
        let (mut p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        let ids = committed(&mut p, 4);
        full.set(true);
        assert!(matches!(
            p.spill(),
            Err(PagerError::Store(
                crate::store::StoreError::QuotaExceeded { .. }
            ))
        ));
        assert_eq!(p.stats().unwrap().dirty_pages, 4);
        assert!(store.inner.keys(Area::Pages).unwrap().is_empty());
        // A transaction writing past the budget fails the same way and
        // rolls back; every committed page still reads back.
        p.begin().unwrap();
        let mut refused = false;
        for i in 0..40u8 {
            let id = p.allocate().unwrap();
            if p.write(id, Page::new(1, vec![i; 900])).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused);
        p.rollback();
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(p.read(id).unwrap().data[0], i as u8);
        }
        // Space again: the next spill writes them.
        full.set(false);
        p.spill().unwrap();
        assert_eq!(store.inner.keys(Area::Pages).unwrap().len(), 4);
        p.checkpoint(vec![], vec![]).unwrap();
    }

    #[test]
    fn open_deletes_page_zero_and_pages_past_the_durable_allocation_only() {
        let store = MemoryStore::new();
        let (mut p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        let kept = checkpointed(&mut p, (0..3u8).map(page));
        drop(p);
        let next = kept.iter().max().unwrap() + 1;
        let mut stray = store.clone();
        stray
            .write(
                [0, next, next + 7, PageId::MAX]
                    .into_iter()
                    .map(|key| WriteOp::Put {
                        area: Area::Pages,
                        key,
                        value: Bytes::from_static(b"stray"),
                    })
                    .collect(),
                true,
            )
            .unwrap();
        let (p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        let mut left = store.keys(Area::Pages).unwrap();
        left.sort_unstable();
        assert_eq!(left, kept);
        for (i, id) in kept.iter().enumerate() {
            assert_eq!(p.read(*id).unwrap().data[0], i as u8);
        }
    }

    /// `blob` with byte 4 set to `version`; the crc32 trailer redone when
    /// `valid_crc`.
    fn superblock_version(blob: &[u8], version: u8, valid_crc: bool) -> Bytes {
        let mut b = blob.to_vec();
        b[4] = version;
        if valid_crc {
            let body = b.len() - 4;
            let crc = crc32fast::hash(&b[..body]);
            b[body..].copy_from_slice(&crc.to_le_bytes());
        }
        b.into()
    }

    #[test]
    fn a_version_one_store_takes_the_configs_branch_size_and_keeps_it() {
        let store = MemoryStore::new();
        let (mut p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        let ids = checkpointed(&mut p, [page(5)].into_iter());
        drop(p);
        // Rewrite both slots as version 1 wrote them: zeros after byte 4.
        let mut old = store.snapshot();
        for ((area, _), blob) in old.iter_mut() {
            if *area == Area::Meta {
                let mut b = blob.to_vec();
                b[5] = 0;
                *blob = superblock_version(&b, 1, true);
            }
        }
        let store = MemoryStore::from_contents(old);
        let two = PagerConfig {
            branch_pages: 2,
            ..small()
        };
        let (mut p, _) = Pager::open(Box::new(store.clone()), two).unwrap();
        assert_eq!(p.branch_size(), 2048);
        assert_eq!(p.read(ids[0]).unwrap().data, page(5).data);
        p.checkpoint(vec![], vec![]).unwrap();
        drop(p);
        // Recorded: a config asking for other branches no longer matters.
        let (p, _) = Pager::open(Box::new(store), small()).unwrap();
        assert_eq!(p.branch_size(), 2048);
    }

    #[test]
    fn a_newer_superblock_in_either_slot_fails_the_open_and_a_damaged_one_falls_back() {
        let store = MemoryStore::new();
        let (mut p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        for round in 1..=2u8 {
            p.begin().unwrap();
            let a = p.allocate().unwrap();
            p.write(a, page(round)).unwrap();
            p.commit().unwrap();
            p.checkpoint(vec![round], vec![]).unwrap();
        }
        drop(p);
        let pristine = store.snapshot();
        // Generation 2 is in slot 0, generation 1 in slot 1.
        for (slot, other_app) in [(0u64, 1u8), (1, 2)] {
            let mut newer = pristine.clone();
            let sb = superblock_version(&pristine[&(Area::Meta, slot)], VERSION + 1, true);
            newer.insert((Area::Meta, slot), sb);
            let store = MemoryStore::from_contents(newer.clone());
            match Pager::open(Box::new(store.clone()), small()) {
                Err(PagerError::NewerFormat { found, .. }) => assert_eq!(found, VERSION + 1),
                other => panic!("slot {slot}: {:?}", other.map(|(_, app)| app)),
            }
            assert_eq!(
                store.snapshot(),
                newer,
                "slot {slot}: the store was changed"
            );

            // The same byte without a matching checksum is damage: the
            // other slot opens.
            let mut damaged = pristine.clone();
            let sb = superblock_version(&pristine[&(Area::Meta, slot)], VERSION + 1, false);
            damaged.insert((Area::Meta, slot), sb);
            let (_, app) = Pager::open(Box::new(MemoryStore::from_contents(damaged)), small())
                .unwrap_or_else(|e| panic!("slot {slot}: {e}"));
            assert_eq!(app, [other_app], "slot {slot}");
        }
    }

    #[test]
    fn a_newer_page_frame_is_refused_by_name() {
        let mut store = MemoryStore::new();
        let (mut p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        p.begin().unwrap();
        let a = p.allocate().unwrap();
        p.write(a, page(5)).unwrap();
        p.commit().unwrap();
        p.checkpoint(vec![], vec![]).unwrap();
        drop(p);
        let mut blob = store.get(Area::Pages, a).unwrap().unwrap().to_vec();
        blob[4] = frame::VERSION + 1;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&blob[..24]);
        crc.update(&blob[frame::FRAME_HEADER..]);
        blob[24..28].copy_from_slice(&crc.finalize().to_le_bytes());
        store.write(vec![put(Area::Pages, a, blob)], true).unwrap();
        let (p, _) = Pager::open(Box::new(store), small()).unwrap();
        let e = p.read(a).unwrap_err();
        assert!(matches!(e, PagerError::NewerFormat { .. }), "{e:?}");
    }

    #[test]
    fn rejects_bad_page_sizes() {
        for ps in [512, 3000, 128 * 1024] {
            let cfg = PagerConfig {
                page_size: ps,
                cache_bytes: 1 << 20,
                ..PagerConfig::default()
            };
            assert!(Pager::open(Box::new(MemoryStore::new()), cfg).is_err());
        }
    }

    #[test]
    fn branch_pages_are_checked_and_capped_at_the_largest_page() {
        for pages in [0, 3, 32] {
            let cfg = PagerConfig {
                branch_pages: pages,
                ..PagerConfig::default()
            };
            let e = Pager::open(Box::new(MemoryStore::new()), cfg).unwrap_err();
            assert!(e.to_string().contains("branch pages"), "{e}");
        }
        let big = PagerConfig {
            page_size: MAX_PAGE_SIZE,
            branch_pages: 16,
            cache_bytes: 8 * MAX_PAGE_SIZE,
            ..PagerConfig::default()
        };
        let (p, _) = Pager::open(Box::new(MemoryStore::new()), big).unwrap();
        assert_eq!(p.branch_size(), MAX_PAGE_SIZE);
    }

    #[test]
    fn a_page_may_be_as_large_as_a_branch_and_no_larger() {
        let store = MemoryStore::new();
        let (mut p, _) = Pager::open(Box::new(store.clone()), small()).unwrap();
        assert_eq!(p.branch_size(), 4096);
        let ids = checkpointed(&mut p, [Page::new(2, vec![7; 4096])].into_iter());
        p.begin().unwrap();
        let id = p.allocate().unwrap();
        assert!(matches!(
            p.write(id, Page::new(2, vec![7; 4097])),
            Err(PagerError::PageTooLarge {
                len: 4097,
                max: 4096
            })
        ));
        drop(p);
        // Read back from its frame by a new pager, which knows the size
        // from the superblock whatever its config says.
        let one = PagerConfig {
            branch_pages: 1,
            ..small()
        };
        let (p, _) = Pager::open(Box::new(store), one).unwrap();
        assert_eq!(p.branch_size(), 4096);
        assert_eq!(p.read(ids[0]).unwrap().data.len(), 4096);
    }
}
