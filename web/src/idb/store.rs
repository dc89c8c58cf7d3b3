//! [`IdbStore`]: the `BlobStore` over IndexedDB, built from the mirror
//! (synchronous reads) and the queue (ordered, asynchronously durable
//! writes).

use std::cell::RefCell;
use std::ops::RangeInclusive;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use js_sys::{Array, Function, Promise, Uint8Array};
use moonvault_pager::store::{Area, BlobKey, BlobStore, StoreError, StoreResult, WriteOp};
use moonvault_pager::Page;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Event, IdbDatabase};

use super::decoded::DecodedPages;
use super::groups;
use super::key;
use super::lazy::{LazyPages, Lookup, NOT_SENT, READ_AHEAD, READ_BEHIND};
use super::lock::LockGuard;
use super::mirror::Mirror;
use super::queue::{Failure, Next, Queue, HELD_LIMIT};
use super::request::{list_keys, read_range, read_spans, RangeRead};
use super::suspend;

/// Figures of an open store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdbStats {
    /// Batches the engine wrote.
    pub batches: u64,
    /// Of those, batches whose IndexedDB transaction completed.
    pub durable_batches: u64,
    /// IndexedDB transactions completed.
    pub transactions: u64,
    /// Blobs per area (meta, pages, wal). Under lazy paging the pages are
    /// only counted once [`IdbStore::measure_pages`] ran; until then this
    /// counts the pages written since open.
    pub blobs: [u64; 3],
    /// Bytes per area (meta, pages, wal), counted as `blobs` is.
    pub bytes: [u64; 3],
    /// Whether pages are read lazily (else the whole store is mirrored).
    pub lazy: bool,
    /// Bytes of blobs held on the JS heap: the mirror's, or under lazy
    /// paging the page cache's clean pages plus the pages not yet durable
    /// (and the meta and WAL areas, mirrored in both modes); plus the
    /// decoded pages kept for the pager (`decoded.rs`).
    pub js_bytes: u64,
}

pub(super) struct Inner {
    name: String,
    /// Every area in mirror mode; only meta and WAL under lazy paging.
    mirror: Mirror,
    /// The pages area under lazy paging.
    pages: Option<LazyPages>,
    /// Pages the pager decoded, kept for its next load of them.
    decoded: DecodedPages,
    queue: Queue,
    /// Set by `close`: every later call fails.
    closed: bool,
    lock: Option<LockGuard>,
    /// The connection's `versionchange`/`close` handler (owned by JS).
    on_lost: Option<Function>,
    /// This store, for the handlers (which must not keep it alive).
    this: Weak<RefCell<Inner>>,
}

impl Inner {
    fn check_usable(&self) -> StoreResult<()> {
        if let Some(f) = self.queue.failure() {
            return Err(f.to_store_error());
        }
        if self.closed {
            return Err(StoreError::Poisoned {
                detail: format!("store `{}` was closed", self.name),
            });
        }
        Ok(())
    }

    /// Pages of batches that became durable are clean from now on.
    fn settle_pages(&mut self) {
        let durable = self.queue.counts().1;
        if let Some(pages) = self.pages.as_mut() {
            pages.settle(durable);
        }
    }

    /// Make a put of `value` at `js_key` readable (lazy paging's pages
    /// recorded as written in `batch`; anything else in the mirror) and
    /// return the copy on the JS heap, for the queue.
    fn put_readable(
        &mut self,
        area: Area,
        js_key: &JsValue,
        value: &[u8],
        batch: u64,
    ) -> Uint8Array {
        let array = Uint8Array::from(value);
        match (area, self.pages.as_mut()) {
            (Area::Pages, Some(pages)) => pages.put(js_key, &array, batch),
            _ => self.mirror.put(area, js_key, &array),
        }
        array
    }

    /// Stage the held page writes into batch `batch`, the one being
    /// accepted (lazy paging records that it carries them now).
    fn send_held(&mut self, batch: u64) {
        if !self.queue.holds_any() {
            return;
        }
        let held = self.queue.stage_held();
        if let Some(pages) = self.pages.as_mut() {
            held.for_each(&mut |value, key| pages.put(&key, value.unchecked_ref(), batch));
        }
    }

    /// Send the held page writes as a batch of their own.
    fn send_held_alone(&mut self) {
        if self.queue.holds_any() {
            let batch = self.queue.counts().0 + 1;
            self.send_held(batch);
            let next = self.queue.accept();
            self.schedule(next);
        }
    }

    /// Runs `Queue::kick` in a microtask: every `write` of the current
    /// task joins the same transaction.
    fn schedule(&self, next: Next) {
        if next == Next::Kick {
            let weak = self.this.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(inner) = weak.upgrade() {
                    inner.borrow_mut().kick_now();
                }
            });
        }
    }

    /// Starts the next transaction, if none is in flight.
    fn kick_now(&mut self) {
        let weak = self.this.clone();
        self.queue.kick(&|| event_handler(weak.clone()));
        self.settle_pages();
    }
}

/// The `complete`/`abort` handler of one transaction. Exactly one of the
/// two events fires, so a self-freeing `once` closure fits; it holds the
/// store weakly, so a store dropped without `close` (as in a crash) leaves
/// no dangling callback behind.
fn event_handler(weak: Weak<RefCell<Inner>>) -> Function {
    Closure::once_into_js(move |event: Event| {
        if let Some(inner) = weak.upgrade() {
            let mut inner = inner.borrow_mut();
            inner
                .queue
                .on_event(&event, &|| event_handler(weak.clone()));
            inner.settle_pages();
        }
    })
    .unchecked_into()
}

impl Drop for Inner {
    /// Dropped without `close`: like a closed tab. The transaction in
    /// flight still completes; batches not yet in one are lost (they were
    /// never acknowledged). The lock is released by its guard.
    fn drop(&mut self) {
        if !self.closed {
            self.queue.db().close();
        }
    }
}

/// A moonvault blob store in one IndexedDB database (`moonvault:<name>`,
/// object stores `meta`, `pages`, `wal`; keys as in [`super::key`], values
/// `Uint8Array`s).
///
/// Reads come from the JS-side mirror loaded at open; each engine write
/// batch goes to IndexedDB through the ordered queue. `BlobStore::write`
/// and `sync` return once the batch is applied to the mirror and queued:
/// **durable** means "its IndexedDB transaction completed", which
/// [`IdbStore::flush`] awaits. Clones are handles on the same open store
/// (the engine owns one, the API keeps one to flush and close).
#[derive(Clone)]
pub struct IdbStore {
    inner: Rc<RefCell<Inner>>,
}

impl std::fmt::Debug for IdbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdbStore")
            .field("name", &self.inner.borrow().name)
            .finish_non_exhaustive()
    }
}

impl IdbStore {
    pub(super) fn new(
        name: String,
        mirror: Mirror,
        pages: Option<LazyPages>,
        decoded_bytes: usize,
        queue: Queue,
        lock: LockGuard,
    ) -> IdbStore {
        let inner = Rc::new_cyclic(|this| {
            RefCell::new(Inner {
                name,
                mirror,
                pages,
                decoded: DecodedPages::new(decoded_bytes),
                queue,
                closed: false,
                lock: Some(lock),
                on_lost: None,
                this: this.clone(),
            })
        });
        // Another context deleting or upgrading the database (devtools,
        // "clear site data") or the browser dropping the connection:
        // nothing more can be written, so stop instead of losing silently.
        let weak = Rc::downgrade(&inner);
        let on_lost: Function = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            if let Some(inner) = weak.upgrade() {
                let mut inner = inner.borrow_mut();
                let why = format!(
                    "the IndexedDB connection was lost ({}: the database was deleted or \
                     upgraded elsewhere, or the browser closed it)",
                    event.type_()
                );
                inner.queue.fail(false, why);
                inner.queue.db().close();
            }
        })
        .into_js_value()
        .unchecked_into();
        {
            let mut i = inner.borrow_mut();
            let db = i.queue.db().clone();
            db.set_onversionchange(Some(&on_lost));
            db.set_onclose(Some(&on_lost));
            i.on_lost = Some(on_lost);
        }
        IdbStore { inner }
    }

    /// The store's name (without the `moonvault:` prefix).
    pub fn name(&self) -> String {
        self.inner.borrow().name.clone()
    }

    /// A promise that resolves when every batch written so far is durable
    /// in IndexedDB, or rejects with the failure that stopped the store.
    pub fn flush_promise(&self) -> Promise {
        let inner = &mut *self.inner.borrow_mut();
        let (promise, next) = inner.queue.flush();
        inner.schedule(next);
        promise
    }

    /// Reject [`IdbStore::flush_promise`]'s promises with `error(failure)`
    /// ([`Queue::set_failure_error`]).
    pub fn set_failure_error(&self, error: fn(&Failure) -> JsValue) {
        self.inner.borrow_mut().queue.set_failure_error(error);
    }

    /// Waits until every batch written so far is durable.
    pub async fn flush(&self) -> StoreResult<()> {
        let promise = self.flush_promise();
        JsFuture::from(promise).await.map(drop).map_err(|e| {
            let failure = self.inner.borrow().queue.failure().cloned();
            match failure {
                Some(f) => f.to_store_error(),
                None => StoreError::Io {
                    op: "flush",
                    detail: super::describe(&e),
                },
            }
        })
    }

    /// Why the store stopped accepting calls, if it did.
    pub fn failure(&self) -> Option<Failure> {
        self.inner.borrow().queue.failure().cloned()
    }

    /// Whether `close` has run.
    pub fn is_closed(&self) -> bool {
        self.inner.borrow().closed
    }

    /// Counters and sizes.
    pub fn stats(&self) -> IdbStats {
        let inner = self.inner.borrow();
        let (batches, durable_batches, transactions) = inner.queue.counts();
        let mut blobs = Area::ALL.map(|a| inner.mirror.blob_count(a));
        let mut bytes = Area::ALL.map(|a| inner.mirror.stored_bytes(a));
        let mut js_bytes: u64 = bytes.iter().sum::<u64>() + inner.decoded.bytes() as u64;
        if let Some(pages) = &inner.pages {
            let slot = Area::Pages.tag() as usize;
            (blobs[slot], bytes[slot]) = pages.count_and_bytes();
            let (clean, unsynced) = pages.held_bytes();
            js_bytes += (clean + unsynced) as u64;
        }
        IdbStats {
            batches,
            durable_batches,
            transactions,
            blobs,
            bytes,
            lazy: inner.pages.is_some(),
            js_bytes,
        }
    }

    /// Under lazy paging, the first call reads every page once (ranged
    /// `getAll`s, suspending, keeping none in the cache) to learn their
    /// sizes, so that [`IdbStore::stats`] counts and sizes the pages
    /// exactly; afterwards writes keep them exact. Nothing to do in mirror
    /// mode. Only inside a call that may suspend.
    pub fn measure_pages(&self) -> StoreResult<()> {
        {
            let mut inner = self.inner.borrow_mut();
            inner.check_usable()?;
            match inner.pages.as_mut() {
                Some(pages) if !pages.measured() => pages.begin_scan(),
                _ => return Ok(()),
            }
        }
        let scanned = self.scan_sizes();
        if scanned.is_err() {
            // A partial scan would undercount: the next call starts over.
            if let Some(pages) = self.inner.borrow_mut().pages.as_mut() {
                pages.abandon_scan();
            }
        }
        scanned
    }

    /// The reads of [`IdbStore::measure_pages`]: every page, in runs of
    /// [`MEASURE_RUN`].
    fn scan_sizes(&self) -> StoreResult<()> {
        let mut from = JsValue::from_f64(0.0);
        loop {
            let (keys, values) = self.read_pages(&from, MEASURE_RUN)?;
            if let Some(pages) = self.inner.borrow_mut().pages.as_mut() {
                pages
                    .learn_scan(&keys, &values)
                    .map_err(|detail| StoreError::Corrupted { detail })?;
            }
            if keys.length() < MEASURE_RUN {
                return self.scan_group_sizes();
            }
            // Next run: the keys after the last one read.
            let last = keys.get(keys.length() - 1);
            from = match key::from_js(&last) {
                Ok(k) if k < key::MAX_SAFE => key::to_js(k + 1),
                _ => return Ok(()),
            };
        }
    }

    /// The part of [`IdbStore::scan_sizes`] for pages live in groups: the
    /// group records, [`MEASURE_GROUPS`] a request.
    fn scan_group_sizes(&self) -> StoreResult<()> {
        let firsts: Vec<u64> = {
            let inner = self.inner.borrow();
            let directory = inner.queue.directory();
            directory.firsts()
        };
        for chunk in firsts.chunks(MEASURE_GROUPS) {
            let db = self.db_for_read("get")?;
            let read = read_spans(&db, Area::Pages.name(), &[], groups::GROUPS_STORE, chunk)
                .map_err(|e| super::io("get", &e))?;
            let found = Array::from(&self.settle(read)?.get(2));
            for (i, &first) in chunk.iter().enumerate() {
                let (keys, values) = self.group_pages(&found.get(i as u32), first)?;
                if let Some(pages) = self.inner.borrow_mut().pages.as_mut() {
                    pages
                        .learn_scan(&keys, &values)
                        .map_err(|detail| StoreError::Corrupted { detail })?;
                }
            }
        }
        Ok(())
    }

    /// Reads up to `count` pages from `from` on in key order (one readonly
    /// transaction, suspending until it answers). Returns the keys and
    /// values read (not checked: the caller checks what it uses).
    fn read_pages(&self, from: &JsValue, count: u32) -> StoreResult<(Array, Array)> {
        let db = self.db_for_read("get")?;
        let read =
            read_range(&db, Area::Pages.name(), from, count).map_err(|e| super::io("get", &e))?;
        self.take_read(read)
    }

    /// The connection, for a read that is about to suspend this call; an
    /// error where the call cannot suspend.
    fn db_for_read(&self, op: &'static str) -> StoreResult<IdbDatabase> {
        if !suspend::allowed() {
            suspend::refuse();
            return Err(StoreError::Io {
                op,
                detail: "a page is not in memory, and this call cannot wait for IndexedDB \
                         (under lazy paging, pages are read inside store calls only)"
                    .into(),
            });
        }
        let inner = self.inner.borrow();
        inner.check_usable()?;
        Ok(inner.queue.db().clone())
    }

    /// Suspends until `read` answers; its keys and values (not checked).
    fn take_read(&self, read: RangeRead) -> StoreResult<(Array, Array)> {
        let got = self.settle(read)?;
        Ok((Array::from(&got.get(0)), Array::from(&got.get(1))))
    }

    /// Suspends until `read` answers; what it answered.
    fn settle(&self, read: RangeRead) -> StoreResult<Array> {
        let settled = suspend::block_on(&read.promise);
        // The store may have failed or closed while this call waited.
        self.inner.borrow().check_usable()?;
        Ok(Array::from(&settled.map_err(|e| super::io("get", &e))?))
    }

    /// The live pages of the group record `record` at `first`, by the
    /// group's live set now (a page whose bit was cleared since is in
    /// memory, or deleted), each copied out of the record so that the
    /// cache holds no dead pages' bytes.
    fn group_pages(&self, record: &JsValue, first: u64) -> StoreResult<(Array, Array)> {
        let mask = self.inner.borrow().queue.directory().live_set(first);
        if mask == 0 {
            return Ok((Array::new(), Array::new()));
        }
        groups::live_pages_of(record, first, mask, true)
            .map_err(|detail| StoreError::Corrupted { detail })
    }

    /// Under lazy paging, page `key` from the group record at `first` (one
    /// readonly `get`, suspending); the group's other live pages go to
    /// the page cache with it (a group is its own read-ahead).
    fn fetch_group(&self, first: u64, key: BlobKey) -> StoreResult<Bytes> {
        let durable = self.inner.borrow().queue.counts().1;
        let db = self.db_for_read("get")?;
        let read = read_spans(&db, Area::Pages.name(), &[], groups::GROUPS_STORE, &[first])
            .map_err(|e| super::io("get", &e))?;
        let got = self.settle(read)?;
        let (keys, values) = self.group_pages(&Array::from(&got.get(2)).get(0), first)?;
        self.cache_fetched(&keys, &values, durable)?;
        let wanted = key::to_js(key);
        let at = keys.index_of(&wanted, 0);
        if at < 0 {
            return Err(StoreError::Corrupted {
                detail: format!("groups area: group {first} lacks its live page {key}"),
            });
        }
        let array: Uint8Array = values.get(at as u32).unchecked_into();
        Ok(Bytes::from(array.to_vec()))
    }

    /// Under lazy paging, the singles from [`READ_BEHIND`] ids below page
    /// `key` to [`READ_AHEAD`] - 1 above it (one readonly transaction,
    /// suspending), handed to the page cache. Returns the keys and values
    /// read.
    fn fetch_singles_around(&self, key: BlobKey) -> StoreResult<(Array, Array)> {
        let durable = self.inner.borrow().queue.counts().1;
        let last = key
            .checked_add(u64::from(READ_AHEAD) - 1)
            .filter(|&last| last <= key::MAX_SAFE);
        let (keys, values) = match last {
            Some(last) => {
                let db = self.db_for_read("get")?;
                let span = [(key.saturating_sub(READ_BEHIND), last)];
                let read = read_spans(&db, Area::Pages.name(), &span, groups::GROUPS_STORE, &[])
                    .map_err(|e| super::io("get", &e))?;
                self.take_read(read)?
            }
            // Keys past MAX_SAFE are strings, ordered as text: only a read
            // from the key on is sure to find it first.
            None => self.read_pages(&key::to_js(key), READ_AHEAD)?,
        };
        self.cache_fetched(&keys, &values, durable)?;
        Ok((keys, values))
    }

    /// Pages a read that began when batches up to `durable` were durable
    /// brought, into the page cache (where its invariants allow).
    fn cache_fetched(&self, keys: &Array, values: &Array, durable: u64) -> StoreResult<()> {
        if let Some(pages) = self.inner.borrow_mut().pages.as_mut() {
            pages
                .insert_fetched(keys, values, durable)
                .map_err(|detail| StoreError::Corrupted { detail })?;
        }
        Ok(())
    }

    /// Stops the store: refuses further calls, waits for the queued writes
    /// (the result says whether they all became durable), closes the
    /// connection and releases the lock. Every handle is closed with it.
    pub async fn close(&self) -> StoreResult<()> {
        {
            // A closed store has every write in IndexedDB, held ones too.
            let inner = &mut *self.inner.borrow_mut();
            if inner.check_usable().is_ok() {
                inner.send_held_alone();
            }
            inner.closed = true;
        }
        let flushed = self.flush().await;
        let lock = {
            let mut inner = self.inner.borrow_mut();
            let db = inner.queue.db().clone();
            db.set_onversionchange(None);
            db.set_onclose(None);
            db.close();
            inner.on_lost = None;
            inner.lock.take()
        };
        if let Some(lock) = lock {
            lock.release().await;
        }
        flushed
    }

    /// Test hook: fail the store as an aborted transaction would.
    #[doc(hidden)]
    pub fn inject_failure(&self, quota: bool, detail: &str) {
        self.inner
            .borrow_mut()
            .queue
            .fail(quota, detail.to_string());
    }
}

/// Page ids at most this far apart are prefetched by one request, with
/// the pages between them.
const PREFETCH_GAP: u64 = 4;

/// Pages one `measure_pages` request reads.
const MEASURE_RUN: u32 = 256;

/// Group records one `measure_pages` transaction reads.
const MEASURE_GROUPS: usize = 16;

impl IdbStore {
    /// Under lazy paging, fetches the pages `keys` not in memory in one
    /// readonly transaction (a `getAllKeys` + `getAll` per span of nearby
    /// ids, all in flight together), suspending once, into the page
    /// cache; at most half of what the cache can keep.
    fn prefetch_pages(&self, keys: &[BlobKey]) -> StoreResult<()> {
        if !suspend::allowed() {
            return Ok(());
        }
        let (db, spans, records, durable) = {
            let inner = self.inner.borrow();
            inner.check_usable()?;
            let Some(pages) = inner.pages.as_ref() else {
                return Ok(());
            };
            // Spans of nearby keys, each read whole: an IndexedDB request
            // costs far more than a page's bytes, so pages up to
            // PREFETCH_GAP apart share one (what lies between goes to
            // the cache too, or is skipped if memory has it already).
            let mut spans: Vec<(u64, u64)> = Vec::new();
            let mut records: Vec<u64> = Vec::new();
            let mut taken = 0;
            let mut sorted = keys.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            let directory = inner.queue.directory();
            for k in sorted {
                if !pages.is_miss(&key::to_js(k)) {
                    continue;
                }
                if let Some(first) = directory.locate(k) {
                    // The whole group comes in one record.
                    if !records.contains(&first) {
                        records.push(first);
                        taken += u64::from(directory.live_set(first).count_ones());
                    }
                } else {
                    match spans.last_mut() {
                        Some((_, last)) if k - *last <= PREFETCH_GAP => {
                            taken += k - *last;
                            *last = k;
                        }
                        _ => {
                            taken += 1;
                            spans.push((k, k));
                        }
                    }
                }
                if taken >= pages.prefetch_room() as u64 {
                    break;
                }
            }
            (
                inner.queue.db().clone(),
                spans,
                records,
                inner.queue.counts().1,
            )
        };
        if spans.is_empty() && records.is_empty() {
            return Ok(());
        }
        let read = read_spans(
            &db,
            Area::Pages.name(),
            &spans,
            groups::GROUPS_STORE,
            &records,
        )
        .map_err(|e| super::io("get", &e))?;
        let got = self.settle(read)?;
        self.cache_fetched(
            &Array::from(&got.get(0)),
            &Array::from(&got.get(1)),
            durable,
        )?;
        let found = Array::from(&got.get(2));
        for (i, &first) in records.iter().enumerate() {
            let (keys, values) = self.group_pages(&found.get(i as u32), first)?;
            self.cache_fetched(&keys, &values, durable)?;
        }
        Ok(())
    }
}

impl IdbStore {
    /// Under lazy paging, the page keys in `first..=last`: IndexedDB's
    /// (one `getAllKeys`, suspending, unless what open read of them
    /// answers: [`LoadEdges`](super::lazy::LoadEdges)) with this session's writes applied.
    fn list_pages(&self, first: BlobKey, last: BlobKey) -> StoreResult<Vec<BlobKey>> {
        if first > last {
            return Ok(Vec::new());
        }
        let known = {
            let inner = self.inner.borrow();
            inner.check_usable()?;
            // Until this session's first batch, `pages` is as open read it.
            let as_loaded = inner.queue.counts().0 == 0;
            inner
                .pages
                .as_ref()
                .and_then(LazyPages::load_edges)
                .filter(|_| as_loaded)
                .and_then(|edges| edges.singles_in(first, last))
        };
        let listed = match known {
            Some(singles) => singles.into_iter().map(key::to_js).collect::<Array>(),
            None => {
                let db = self.db_for_read("keys")?;
                let read = list_keys(&db, Area::Pages.name(), first, last)
                    .map_err(|e| super::io("keys", &e))?;
                let settled = suspend::block_on(&read.promise);
                Array::from(&settled.map_err(|e| super::io("keys", &e))?)
            }
        };
        let inner = self.inner.borrow();
        inner.check_usable()?;
        let Some(pages) = inner.pages.as_ref() else {
            return Ok(Vec::new());
        };
        // Pages live in groups are not in `pages`: the directory knows them.
        for id in inner.queue.directory().live_pages(first, last) {
            listed.push(&key::to_js(id));
        }
        pages
            .overlay_keys(&listed, first, last)
            .map_err(|detail| StoreError::Corrupted { detail })
    }
}

impl BlobStore for IdbStore {
    fn get(&self, area: Area, key: BlobKey) -> StoreResult<Option<Bytes>> {
        if area == Area::Pages {
            let js_key = key::to_js(key);
            let mut inner = self.inner.borrow_mut();
            inner.check_usable()?;
            if let Some(pages) = inner.pages.as_mut() {
                match pages.lookup(&js_key) {
                    Lookup::Absent => return Ok(None),
                    Lookup::Found(array) => return Ok(Some(Bytes::from(array.to_vec()))),
                    Lookup::Miss => {}
                }
                let group = inner.queue.directory().locate(key);
                drop(inner);
                if let Some(first) = group {
                    return self.fetch_group(first, key).map(Some);
                }
                // Among the singles read if IndexedDB has it (nothing
                // this session wrote it: memory would have it).
                let (keys, values) = self.fetch_singles_around(key)?;
                let at = keys.index_of(&js_key, 0);
                if at >= 0 {
                    let array: Uint8Array = values.get(at as u32).unchecked_into();
                    return Ok(Some(Bytes::from(array.to_vec())));
                }
                return Ok(None);
            }
        }
        let inner = self.inner.borrow();
        inner.check_usable()?;
        Ok(inner.mirror.get(area, key))
    }

    fn keys_in(&self, area: Area, range: RangeInclusive<BlobKey>) -> StoreResult<Vec<BlobKey>> {
        let lazy = {
            let inner = self.inner.borrow();
            inner.check_usable()?;
            area == Area::Pages && inner.pages.is_some()
        };
        if lazy {
            return self.list_pages(*range.start(), *range.end());
        }
        let inner = self.inner.borrow();
        let mut keys = inner
            .mirror
            .keys(area)
            .map_err(|detail| StoreError::Corrupted { detail })?;
        keys.retain(|k| range.contains(k));
        Ok(keys)
    }

    fn write(&mut self, ops: Vec<WriteOp>, _durable: bool) -> StoreResult<()> {
        let inner = &mut *self.inner.borrow_mut();
        inner.check_usable()?;
        // The number `accept` is about to give this batch.
        let batch = inner.queue.counts().0 + 1;
        let wal_only = ops.iter().all(|op| op.target().0 == Area::Wal);
        if !wal_only {
            // Held pages go no later than the next page or meta write.
            inner.send_held(batch);
        }
        for op in ops {
            let (area, key) = op.target();
            let js_key = key::to_js(key);
            if area == Area::Pages {
                inner.decoded.forget(&js_key);
            }
            match op {
                WriteOp::Put { value, .. } => {
                    let array = inner.put_readable(area, &js_key, &value, batch);
                    inner.queue.stage(area, &js_key, Some(&array));
                }
                WriteOp::Delete { .. } => {
                    match (area, inner.pages.as_mut()) {
                        (Area::Pages, Some(pages)) => pages.delete(&js_key, batch),
                        _ => inner.mirror.delete(area, &js_key),
                    }
                    inner.queue.stage(area, &js_key, None);
                }
            }
        }
        let next = inner.queue.accept();
        if wal_only && next == Next::Kick {
            // A commit's WAL record starts its transaction at once: what
            // the engine does after it (the pager's spills) then overlaps
            // IndexedDB's work. Page and meta batches (a checkpoint writes
            // several) still wait for the task's microtask to share one.
            inner.kick_now();
        } else {
            inner.schedule(next);
        }
        Ok(())
    }

    /// Held, not staged (see `queue.rs`, "Deferred page writes"): reads
    /// see the pages at once, IndexedDB gets them with the next batch that
    /// writes pages or meta.
    fn write_deferred(&mut self, ops: Vec<WriteOp>) -> StoreResult<()> {
        let puts_pages = |op: &WriteOp| {
            matches!(
                op,
                WriteOp::Put {
                    area: Area::Pages,
                    ..
                }
            )
        };
        if !ops.iter().all(puts_pages) {
            return self.write(ops, false);
        }
        let inner = &mut *self.inner.borrow_mut();
        inner.check_usable()?;
        for op in ops {
            let WriteOp::Put { key, value, .. } = op else {
                continue;
            };
            let js_key = key::to_js(key);
            inner.decoded.forget(&js_key);
            let array = inner.put_readable(Area::Pages, &js_key, &value, NOT_SENT);
            inner.queue.hold(&js_key, &array);
        }
        if inner.queue.held_bytes() > HELD_LIMIT {
            inner.send_held_alone();
        }
        Ok(())
    }

    /// Nothing can be waited for here; see [`IdbStore::flush`]. Held page
    /// writes are sent, so that they are ordered before what follows.
    fn sync(&mut self) -> StoreResult<()> {
        let inner = &mut *self.inner.borrow_mut();
        inner.check_usable()?;
        inner.send_held_alone();
        Ok(())
    }

    fn prefetch(&self, area: Area, keys: &[BlobKey]) -> StoreResult<()> {
        if area == Area::Pages {
            self.prefetch_pages(keys)?;
        }
        Ok(())
    }

    fn prefetch_useful(&self) -> bool {
        self.inner.borrow().pages.is_some()
    }

    fn decoded(&self, key: BlobKey) -> Option<Page> {
        let mut inner = self.inner.borrow_mut();
        // A store that failed or closed answers nothing from memory: the
        // read goes on to `get`, which reports why.
        inner.check_usable().ok()?;
        inner.decoded.get(&key::to_js(key))
    }

    fn keep_decoded(&self, key: BlobKey, page: &Page) {
        self.inner.borrow_mut().decoded.keep(&key::to_js(key), page);
    }

    fn stored_bytes(&self, area: Area) -> StoreResult<u64> {
        if area == Area::Pages && self.inner.borrow().pages.is_some() {
            self.measure_pages()?;
            return Ok(self.stats().bytes[Area::Pages.tag() as usize]);
        }
        let inner = self.inner.borrow();
        inner.check_usable()?;
        Ok(inner.mirror.stored_bytes(area))
    }
}
