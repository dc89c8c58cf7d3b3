//! The write queue: accepted batches to IndexedDB transactions, in order,
//! and the asynchronous durability acknowledgements.
//!
//! # Ordering and atomicity
//! Each `write` batch is applied to the mirror at once (reads see writes)
//! and its operations are merged into the *pending group*: one `Map` per
//! area from key to the newest value, or `null` for a delete (later
//! operations on a key replace earlier ones, as they would on the store).
//! At most one IndexedDB readwrite transaction is in flight. When none is,
//! the pending group becomes one transaction (started in a microtask, so a
//! commit's several `write` calls in one task share it; a batch of WAL
//! records alone starts it at once, see `IdbStore::write`); when one is,
//! the group grows until that transaction completes and then goes as the
//! next.
//!
//! So every batch lies in exactly one transaction, transactions hold
//! consecutive batches, and transaction `n + 1` is created only after `n`
//! completed. IndexedDB transactions are atomic, hence whatever a crash or
//! tab close leaves is the store after some prefix of the batches: the
//! `BlobStore` ordering promise. (Creating one transaction per batch at once
//! would rely on IndexedDB's ordering of overlapping transactions, but after
//! a failed transaction the later ones would still commit: a gap, which the
//! engine's recovery must reject as lost data. One in flight avoids that.)
//!
//! # Deferred page writes
//! A deferred batch ([`BlobStore::write_deferred`]: the pager's spills,
//! pages no durable superblock names) is *held* instead of staged: it
//! joins the next batch that writes `pages` or `meta`, or goes as a batch
//! of its own once more than [`HELD_LIMIT`] bytes are held, at `sync` or
//! when the store closes. Batches that write only `wal` pass it, so a small commit is one
//! transaction over `wal` holding one record, not one over `pages` and
//! `wal` rewriting the leaves it changed. Nothing is lost by a crash that
//! drops held pages: recovery reads the tree a durable superblock names,
//! every page of which went no later than that superblock, and replays
//! the WAL over it (DESIGN.md section 8, "Writes").
//!
//! [`BlobStore::write_deferred`]: moonvault_pager::store::BlobStore::write_deferred
//!
//! # Durability
//! `write` and `sync` cannot wait for IndexedDB in wasm (nothing may block
//! the event loop). A batch is durable when the transaction holding it has
//! completed; [`Queue::flush`] returns a promise that resolves when every
//! batch accepted before the call is durable. The transaction's
//! `durability` hint is the store's option: `strict` waits for the disk
//! flush before `complete`, `relaxed` may complete once the data reached the
//! OS (Chrome's default since 121).
//!
//! # Failure
//! A transaction that aborts (quota, I/O error, the browser closing the
//! connection) *poisons* the queue: no further transaction is started,
//! every waiting and later `flush` rejects, and the store refuses all calls.
//! What IndexedDB holds is the last completed transaction, i.e. everything
//! ever acknowledged; reopening recovers from there.

use js_sys::{Array, Function, Map, Object, Promise, Reflect, Uint8Array};
use moonvault_pager::store::{Area, StoreError};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Event, IdbDatabase, IdbKeyRange, IdbTransaction};

use super::describe;
use super::groups::{self, JsDirectory, PageWrite, Plan};
use super::key;

#[wasm_bindgen]
extern "C" {
    /// An `IDBDatabase`, for the one method web-sys keeps behind its
    /// unstable-API flag.
    type DatabaseWithOptions;

    /// `IDBDatabase.transaction(stores, mode, options)` (the `durability`
    /// option).
    #[wasm_bindgen(method, catch, js_name = transaction)]
    fn transaction_with_options(
        this: &DatabaseWithOptions,
        stores: &Array,
        mode: &str,
        options: &Object,
    ) -> Result<IdbTransaction, JsValue>;
}

/// IndexedDB's durability hint for readwrite transactions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TxnDurability {
    /// `complete` fires after the data is flushed to disk.
    #[default]
    Strict,
    /// `complete` may fire once the OS has the data (faster; a power cut
    /// may lose the last acknowledged transactions, never part of one).
    Relaxed,
    /// The browser's default.
    Default,
}

impl TxnDurability {
    /// The IndexedDB name of the hint.
    pub fn as_str(self) -> &'static str {
        match self {
            TxnDurability::Strict => "strict",
            TxnDurability::Relaxed => "relaxed",
            TxnDurability::Default => "default",
        }
    }
}

/// Why the queue stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The transaction was refused for lack of space.
    pub quota: bool,
    /// What the browser said.
    pub detail: String,
}

impl Failure {
    /// The error later calls return.
    pub fn to_store_error(&self) -> StoreError {
        StoreError::Poisoned {
            detail: if self.quota {
                format!(
                    "an IndexedDB write was refused for lack of space ({}); commits after the \
                     last acknowledged one were lost",
                    self.detail
                )
            } else {
                format!(
                    "an IndexedDB transaction failed ({}); commits after the last acknowledged \
                     one were lost",
                    self.detail
                )
            },
        }
    }

    /// The error as a JS value for rejected `flush` promises: an `Error`
    /// with `kind` `"quota"` or `"store"`.
    pub fn to_js(&self) -> JsValue {
        let e = js_sys::Error::new(&self.to_store_error().to_string());
        let _ = Reflect::set(
            &e,
            &"kind".into(),
            &(if self.quota { "quota" } else { "store" }).into(),
        );
        e.into()
    }
}

/// Bytes of held page writes past which they go as a batch of their own:
/// the JS memory they take until then (they cannot be evicted).
pub const HELD_LIMIT: usize = 1024 * 1024;

struct Waiter {
    /// Resolve once this many batches are durable.
    upto: u64,
    resolve: Function,
    reject: Function,
}

/// Accepted batches on their way to IndexedDB.
pub struct Queue {
    db: IdbDatabase,
    durability: TxnDurability,
    /// Operations not yet in a transaction, per area: key -> value | null.
    pending: [Map; 3],
    /// Held page writes, not yet in any batch: key -> value.
    held: Map,
    held_bytes: usize,
    /// Batches accepted by `write`.
    accepted: u64,
    /// Batches whose transaction completed.
    durable: u64,
    /// The transaction in flight and the batch count it completes.
    in_flight: Option<(IdbTransaction, u64)>,
    kick_scheduled: bool,
    waiters: Vec<Waiter>,
    failure: Option<Failure>,
    /// Transactions completed (for statistics and tests).
    transactions: u64,
    /// The live sets of the page groups, as the transactions started so
    /// far leave them (`groups.rs`).
    directory: JsDirectory,
    /// What a failed queue rejects `flush` promises with.
    failure_error: fn(&Failure) -> JsValue,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("accepted", &self.accepted)
            .field("durable", &self.durable)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

/// What the owner must do after a queue call: schedule a kick in a
/// microtask (the queue holds no closures; the store owns them).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing.
    Idle,
    /// Call [`Queue::kick`] soon.
    Kick,
}

impl Queue {
    /// An empty queue writing to `db`, whose page groups are `directory`.
    pub fn new(db: IdbDatabase, durability: TxnDurability, directory: JsDirectory) -> Queue {
        Queue {
            db,
            durability,
            pending: [Map::new(), Map::new(), Map::new()],
            held: Map::new(),
            held_bytes: 0,
            accepted: 0,
            durable: 0,
            in_flight: None,
            kick_scheduled: false,
            waiters: Vec::new(),
            failure: None,
            transactions: 0,
            directory,
            failure_error: Failure::to_js,
        }
    }

    /// Reject `flush` promises with `error(failure)` (the API's error)
    /// rather than [`Failure::to_js`], so that a caller can hand out the
    /// queue's promise as it is.
    pub fn set_failure_error(&mut self, error: fn(&Failure) -> JsValue) {
        self.failure_error = error;
    }

    /// The live sets of the page groups, including those of transactions
    /// not yet complete. A page written since open is read from memory,
    /// so a read that goes to IndexedDB only asks about pages whose last
    /// write is durable, which IndexedDB's snapshot agrees with.
    pub fn directory(&self) -> &JsDirectory {
        &self.directory
    }

    /// The database connection.
    pub fn db(&self) -> &IdbDatabase {
        &self.db
    }

    /// Why the queue stopped, if it did.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref()
    }

    /// (accepted, durable) batch counts and completed transactions.
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.accepted, self.durable, self.transactions)
    }

    /// Record one operation of the batch being accepted.
    pub fn stage(&mut self, area: Area, js_key: &JsValue, value: Option<&Uint8Array>) {
        let map = &self.pending[area.tag() as usize];
        match value {
            Some(v) => map.set(js_key, v),
            None => map.set(js_key, &JsValue::NULL),
        };
    }

    /// Hold a page write of a deferred batch (replacing an older held
    /// write of the key).
    pub fn hold(&mut self, js_key: &JsValue, value: &Uint8Array) {
        let old = self.held.get(js_key);
        if !old.is_undefined() {
            self.held_bytes -= old.unchecked_into::<Uint8Array>().length() as usize;
        }
        self.held.set(js_key, value);
        self.held_bytes += value.length() as usize;
    }

    /// Bytes of the held page writes.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Whether any page write is held.
    pub fn holds_any(&self) -> bool {
        self.held.size() > 0
    }

    /// Stage every held page write into the batch being accepted (before
    /// its own operations, which then win per key) and hand them back, so
    /// the owner can record which batch now carries them.
    pub fn stage_held(&mut self) -> Map {
        let held = std::mem::replace(&mut self.held, Map::new());
        self.held_bytes = 0;
        let pages = &self.pending[Area::Pages.tag() as usize];
        held.for_each(&mut |value, key| {
            pages.set(&key, &value);
        });
        held
    }

    /// Close the batch whose operations were just staged.
    pub fn accept(&mut self) -> Next {
        self.accepted += 1;
        self.want_kick()
    }

    fn want_kick(&mut self) -> Next {
        if self.in_flight.is_none() && !self.kick_scheduled && self.failure.is_none() {
            self.kick_scheduled = true;
            Next::Kick
        } else {
            Next::Idle
        }
    }

    fn pending_is_empty(&self) -> bool {
        self.pending.iter().all(|m| m.size() == 0)
    }

    /// Start the next transaction if none is in flight. `handler` makes
    /// the function that receives its `complete`/`abort` event and must
    /// call [`Queue::on_event`].
    pub fn kick(&mut self, handler: &dyn Fn() -> Function) {
        self.kick_scheduled = false;
        if self.in_flight.is_some() || self.failure.is_some() {
            return;
        }
        if self.pending_is_empty() {
            // Only empty batches since the last transaction: durable as is.
            self.durable = self.accepted;
            self.settle_waiters();
            return;
        }
        match self.start(handler) {
            Ok(tx) => {
                self.pending = [Map::new(), Map::new(), Map::new()];
                self.in_flight = Some((tx, self.accepted));
            }
            Err(e) => self.fail(false, describe(&e)),
        }
    }

    fn start(&mut self, handler: &dyn Fn() -> Function) -> Result<IdbTransaction, JsValue> {
        // Only the object stores written: a small commit writes one WAL
        // record, and a transaction over one store starts sooner than one
        // over three. One transaction is in flight at a time, so scopes
        // never need to overlap to keep batches in order; a lazy page
        // fetch is still ordered after every transaction that wrote pages
        // (their scopes share `pages`, or `groups` for a group's read).
        let pages = self.page_writes();
        let plan = self.directory.plan(&pages);
        let written: Vec<Area> = Area::ALL
            .into_iter()
            .filter(|a| self.pending[a.tag() as usize].size() > 0)
            .collect();
        let names: Array = written.iter().map(|a| JsValue::from(a.name())).collect();
        if plan.uses_groups() {
            names.push(&groups::GROUPS_STORE.into());
            names.push(&groups::MEMBERS_STORE.into());
        }
        let options = Object::new();
        Reflect::set(
            &options,
            &"durability".into(),
            &self.durability.as_str().into(),
        )?;
        let tx = self
            .db
            .unchecked_ref::<DatabaseWithOptions>()
            .transaction_with_options(&names, "readwrite", &options)?;
        let handler = handler();
        tx.set_oncomplete(Some(&handler));
        tx.set_onabort(Some(&handler));
        let requested = self.request_all(&tx, &written, &pages, &plan);
        if let Err(e) = requested {
            tx.set_oncomplete(None);
            tx.set_onabort(None);
            let _ = tx.abort();
            return Err(e);
        }
        // Everything is requested: let it commit without waiting for the
        // end of the task (IDBTransaction.commit is missing in old
        // browsers; auto-commit then does the same a little later).
        // web-sys marks it deprecated, but it is standard (IndexedDB 3.0).
        #[allow(deprecated)]
        let _ = tx.commit();
        Ok(tx)
    }

    /// The pending page writes, ascending by id.
    fn page_writes(&self) -> Vec<PageWrite> {
        let pending = &self.pending[Area::Pages.tag() as usize];
        let mut ids = Vec::with_capacity(pending.size() as usize);
        pending.for_each(&mut |_, k| {
            // Keys come from `key::to_js`, so they read back.
            if let Ok(id) = key::from_js(&k) {
                ids.push(id);
            }
        });
        // Ids alone: a sort of a wider element type costs the module KiBs.
        ids.sort_unstable();
        ids.into_iter()
            .map(|id| PageWrite {
                id,
                len: self.page_value(id).map(|v| v.length()),
            })
            .collect()
    }

    /// The pending put of page `id` (`None`: a delete, or not pending).
    fn page_value(&self, id: u64) -> Option<Uint8Array> {
        self.pending[Area::Pages.tag() as usize]
            .get(&key::to_js(id))
            .dyn_into::<Uint8Array>()
            .ok()
    }

    /// Every request of one transaction: meta and WAL operations as they
    /// are, page writes as `plan` lays them out.
    fn request_all(
        &self,
        tx: &IdbTransaction,
        written: &[Area],
        pages: &[PageWrite],
        plan: &Plan,
    ) -> Result<(), JsValue> {
        for &area in written {
            if area == Area::Pages {
                continue;
            }
            let store = tx.object_store(area.name())?;
            let mut failed = None;
            self.pending[area.tag() as usize].for_each(&mut |value, key| {
                if failed.is_some() {
                    return;
                }
                let r = if value.is_null() {
                    store.delete(&key).map(drop)
                } else {
                    store.put_with_key(&value, &key).map(drop)
                };
                if let Err(e) = r {
                    failed = Some(e);
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
        }
        if pages.is_empty() {
            return Ok(());
        }
        let store = tx.object_store(Area::Pages.name())?;
        let value_of = |id: u64| self.page_value(id);
        for &id in &plan.single_deletes {
            store.delete(&key::to_js(id))?;
        }
        for &id in &plan.singles {
            if let Some(value) = value_of(id) {
                store.put_with_key(&value, &key::to_js(id))?;
            }
        }
        if !plan.uses_groups() {
            return Ok(());
        }
        let bodies = tx.object_store(groups::GROUPS_STORE)?;
        let members = tx.object_store(groups::MEMBERS_STORE)?;
        for &(first, count) in &plan.groups {
            let last = first + count as u64 - 1;
            // One home: the singles of the run's ids go.
            let run = IdbKeyRange::bound(&key::to_js(first), &key::to_js(last))?;
            store.delete(&run)?;
            let values: Vec<Uint8Array> = (first..=last).filter_map(value_of).collect();
            bodies.put_with_key(&group_record(&values), &key::to_js(first))?;
        }
        let mut chunk = None;
        for &(first, mask) in &plan.live_sets {
            if mask == 0 {
                bodies.delete(&key::to_js(first))?;
            }
            // Each chunk whose groups changed: its record, rebuilt.
            let c = first / groups::CHUNK_IDS;
            if chunk != Some(c) {
                chunk = Some(c);
                match self.directory.chunk_record(c) {
                    Some(record) => {
                        members.put_with_key(&Uint8Array::from(&record[..]), &key::to_js(c))?
                    }
                    None => members.delete(&key::to_js(c))?,
                };
            }
        }
        Ok(())
    }

    /// A transaction event: `complete` advances durability and starts the
    /// next group, `abort` poisons the queue.
    pub fn on_event(&mut self, event: &Event, handler: &dyn Fn() -> Function) {
        let Some((tx, upto)) = self.in_flight.take() else {
            return;
        };
        let from_tx = event.target().is_some_and(|t| Object::is(&t, tx.as_ref()));
        if !from_tx {
            self.in_flight = Some((tx, upto));
            return;
        }
        tx.set_oncomplete(None);
        tx.set_onabort(None);
        if event.type_() == "complete" {
            self.durable = upto;
            self.transactions += 1;
            self.settle_waiters();
            self.kick(handler);
        } else {
            let (quota, detail) = match tx.error() {
                Some(e) if e.message().is_empty() => (e.name() == "QuotaExceededError", e.name()),
                Some(e) => (
                    e.name() == "QuotaExceededError",
                    format!("{}: {}", e.name(), e.message()),
                ),
                None => (false, "the transaction was aborted".to_string()),
            };
            self.fail(quota, detail);
        }
    }

    /// Stop for good: reject every waiter, drop what was not written.
    pub fn fail(&mut self, quota: bool, detail: String) {
        if self.failure.is_none() {
            self.failure = Some(Failure { quota, detail });
        }
        self.pending = [Map::new(), Map::new(), Map::new()];
        self.held = Map::new();
        self.held_bytes = 0;
        self.settle_waiters();
    }

    /// A promise resolved when every batch accepted so far is durable, or
    /// rejected (a [`Failure::to_js`] error, or the one set by
    /// [`Queue::set_failure_error`]) if the queue fails first.
    pub fn flush(&mut self) -> (Promise, Next) {
        let target = self.accepted;
        let d = super::request::Deferred::new();
        self.waiters.push(Waiter {
            upto: target,
            resolve: d.resolve,
            reject: d.reject,
        });
        self.settle_waiters();
        // A kick is normally pending already; this covers a flush with
        // nothing scheduled (e.g. right after open).
        let next = if self.durable < target {
            self.want_kick()
        } else {
            Next::Idle
        };
        (d.promise, next)
    }

    fn settle_waiters(&mut self) {
        let durable = self.durable;
        let failure = self.failure.as_ref().map(self.failure_error);
        self.waiters.retain(|w| {
            if w.upto <= durable {
                let _ = w.resolve.call0(&JsValue::NULL);
                false
            } else if let Some(e) = &failure {
                let _ = w.reject.call1(&JsValue::NULL, e);
                false
            } else {
                true
            }
        });
    }
}

/// The record of a group of pages `values` (in id order): the header, then
/// the pages, assembled on the JS heap.
fn group_record(values: &[Uint8Array]) -> Uint8Array {
    let lens: Vec<u32> = values.iter().map(|v| v.length()).collect();
    let header = groups::encode_header(&lens);
    let total = header.len() as u32 + lens.iter().sum::<u32>();
    let record = Uint8Array::new_with_length(total);
    record.set(&Uint8Array::from(&header[..]), 0);
    let mut at = header.len() as u32;
    for v in values {
        record.set(v, at);
        at += v.length();
    }
    record
}
