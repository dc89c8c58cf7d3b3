//! Opening (lock, connect, load the mirror) and deleting a store.

use js_sys::{Array, Reflect};
use moonvault_pager::store::{Area, StoreError, StoreResult};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

use super::groups::{self, JsDirectory};
use super::io;
use super::key;
use super::lazy::{LazyPages, LoadEdges, DEFAULT_CACHE_BYTES};
use super::lock::{self, OnLocked};
use super::mirror::Mirror;
use super::queue::{Queue, TxnDurability};
use super::request::wait;
use super::store::IdbStore;

/// The IndexedDB schema version moonvault databases are created with (and
/// older ones upgraded to): 1 had `meta`, `pages` and `wal`; 2 adds
/// `groups` and `members` (page groups, `groups.rs`). Upgrading only adds
/// the empty object stores, so a version 1 store reads as it was.
const DB_VERSION: u32 = 2;

/// The object stores of a version [`DB_VERSION`] database.
fn object_stores() -> [&'static str; 5] {
    let [meta, pages, wal] = Area::ALL.map(Area::name);
    [
        meta,
        pages,
        wal,
        groups::GROUPS_STORE,
        groups::MEMBERS_STORE,
    ]
}

/// How a store is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdbOptions {
    /// The durability hint of every write transaction.
    pub durability: TxnDurability,
    /// What to do when another instance holds the store.
    pub on_locked: OnLocked,
    /// How pages are read.
    pub paging: Paging,
}

/// How an open store reads its pages (DESIGN.md section 8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Paging {
    /// Every blob is loaded at open into a JS-side mirror; reads never
    /// wait. Works in every build.
    #[default]
    Mirror,
    /// Open reads no page (nor the page keys); a page is read from IndexedDB the
    /// first time a call needs it (suspending the call through JSPI) and
    /// kept in a JS-side cache of at most `cache_bytes` clean pages.
    /// Needs the `jspi` build, and calls that may suspend.
    Lazy {
        /// Bound of the JS-side cache of clean pages.
        cache_bytes: usize,
    },
}

/// The IndexedDB database name of store `name`.
pub fn db_name(name: &str) -> String {
    format!("moonvault:{name}")
}

fn factory() -> StoreResult<IdbFactory> {
    let global = js_sys::global();
    let idb = Reflect::get(&global, &"indexedDB".into()).unwrap_or(JsValue::UNDEFINED);
    idb.dyn_into::<IdbFactory>().map_err(|_| StoreError::Io {
        op: "open",
        detail: "IndexedDB is not available here (a private window that disables it, or a \
                 context without indexedDB)"
            .into(),
    })
}

fn check_name(name: &str) -> StoreResult<()> {
    if name.is_empty() || name.len() > 200 {
        return Err(StoreError::Io {
            op: "open",
            detail: format!("store name {name:?} must be 1 to 200 bytes long"),
        });
    }
    Ok(())
}

impl IdbStore {
    /// Opens (creating if missing) store `name`: takes its lock, connects,
    /// and loads every blob into the mirror.
    pub async fn open(name: &str, options: IdbOptions) -> StoreResult<IdbStore> {
        check_name(name)?;
        let factory = factory()?;
        let guard = lock::acquire(&lock::lock_name(name), options.on_locked).await?;
        let loaded = match connect(&factory, name).await {
            Ok(db) => match load(&db, options.paging).await {
                Ok(loaded) => Ok((db, loaded)),
                Err(e) => {
                    db.close();
                    Err(e)
                }
            },
            Err(e) => Err(e),
        };
        let (db, (mirror, pages, directory)) = match loaded {
            Ok(x) => x,
            Err(e) => {
                guard.release().await;
                return Err(e);
            }
        };
        let queue = Queue::new(db, options.durability, directory);
        // The decoded pages kept for the pager: as many bytes as the lazy
        // cache of blobs may hold (`pageCacheBytes`), each cache its own.
        let decoded_bytes = match options.paging {
            Paging::Lazy { cache_bytes } => cache_bytes,
            Paging::Mirror => DEFAULT_CACHE_BYTES,
        };
        Ok(IdbStore::new(
            name.to_string(),
            mirror,
            pages,
            decoded_bytes,
            queue,
            guard,
        ))
    }

    /// Deletes store `name` and everything in it. Fails with
    /// [`StoreError::Locked`] while it is open anywhere.
    pub async fn delete(name: &str) -> StoreResult<()> {
        check_name(name)?;
        let factory = factory()?;
        let guard = lock::acquire(&lock::lock_name(name), OnLocked::Error).await?;
        let deleted = match factory.delete_database(&db_name(name)) {
            Ok(request) => wait(&request).await.map(drop).map_err(|e| io("delete", &e)),
            Err(e) => Err(io("delete", &e)),
        };
        guard.release().await;
        deleted
    }

    /// Whether store `name` exists (has a database with moonvault's
    /// object stores). Does not take the lock.
    pub async fn exists(name: &str) -> StoreResult<bool> {
        check_name(name)?;
        let factory = factory()?;
        let databases = Reflect::get(&factory, &"databases".into()).unwrap_or(JsValue::UNDEFINED);
        let Some(databases) = databases.dyn_ref::<js_sys::Function>() else {
            return Err(StoreError::Io {
                op: "exists",
                detail: "indexedDB.databases() is not supported by this browser".into(),
            });
        };
        let list = databases.call0(&factory).map_err(|e| io("exists", &e))?;
        let list = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(list))
            .await
            .map_err(|e| io("exists", &e))?;
        let wanted = db_name(name);
        Ok(Array::from(&list).iter().any(|info| {
            Reflect::get(&info, &"name".into())
                .ok()
                .and_then(|n| n.as_string())
                .is_some_and(|n| n == wanted)
        }))
    }
}

/// Opens the database, creating the object stores on first use.
async fn connect(factory: &IdbFactory, name: &str) -> StoreResult<IdbDatabase> {
    let request: IdbOpenDbRequest = factory
        .open_with_u32(&db_name(name), DB_VERSION)
        .map_err(|e| io("open", &e))?;
    let req = request.clone();
    let foreign = std::rc::Rc::new(std::cell::Cell::new(None));
    let seen = foreign.clone();
    let upgrade = Closure::<dyn FnMut(Event)>::new(move |_event: Event| {
        // Runs inside the versionchange transaction, before `success`.
        let Ok(result) = req.result() else { return };
        let db: IdbDatabase = result.unchecked_into();
        let existing = db.object_store_names();
        // A database that exists but lacks a version 1 store is not
        // moonvault's: leave it as it is (abort the upgrade).
        let v1 = Area::ALL.map(Area::name);
        if existing.length() > 0 {
            if let Some(missing) = v1.into_iter().find(|n| !existing.contains(n)) {
                seen.set(Some(missing));
                if let Some(tx) = req.transaction() {
                    let _ = tx.abort();
                }
                return;
            }
        }
        for name in object_stores() {
            if !existing.contains(name) {
                // A failure aborts the upgrade, and `open` reports it.
                let _ = db.create_object_store(name);
            }
        }
    });
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let result = wait(&request).await;
    request.set_onupgradeneeded(None);
    drop(upgrade);
    if let Some(missing) = foreign.get() {
        return Err(not_moonvaults(name, missing));
    }
    let db: IdbDatabase = result
        .map_err(|e| newer_or_io(name, &e))?
        .dyn_into()
        .map_err(|e| io("open", &e))?;
    let names = db.object_store_names();
    if let Some(missing) = object_stores().into_iter().find(|n| !names.contains(n)) {
        db.close();
        return Err(not_moonvaults(name, missing));
    }
    Ok(db)
}

/// The error for a database without moonvault's object store `missing`.
fn not_moonvaults(name: &str, missing: &str) -> StoreError {
    StoreError::Corrupted {
        detail: format!(
            "IndexedDB database {:?} has no `{missing}` object store: it was not created by \
             moonvault",
            db_name(name)
        ),
    }
}

/// An open refused by IndexedDB: a database of a later layout version
/// than this build's is named as such.
fn newer_or_io(name: &str, e: &JsValue) -> StoreError {
    let detail = super::describe(e);
    if detail.starts_with("VersionError") {
        return StoreError::Io {
            op: "open",
            detail: format!(
                "IndexedDB database {:?} has a later layout version than this build reads \
                 ({DB_VERSION}): it was written by a newer moonvault ({detail})",
                db_name(name)
            ),
        };
    }
    io("open", e)
}

/// Reads every blob and the page groups' live sets, or under lazy paging
/// every blob but the pages and the groups (one readonly transaction: a
/// consistent image).
async fn load(
    db: &IdbDatabase,
    paging: Paging,
) -> StoreResult<(Mirror, Option<LazyPages>, JsDirectory)> {
    // Only the object stores read: lazy paging reads no group records
    // here, and of `pages` only two keys.
    let lazy = matches!(paging, Paging::Lazy { .. });
    let names: Array = object_stores()
        .iter()
        .filter(|&&n| !lazy || n != groups::GROUPS_STORE)
        .map(|&n| JsValue::from(n))
        .collect();
    let tx = db
        .transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readonly)
        .map_err(|e| io("load", &e))?;
    // Issue every request first; they are served in order, and are waited
    // for in that order (a request's `success` fires once: its handler
    // must be set before the events of the requests before it finish).
    let read_all = |name: &str| -> StoreResult<_> {
        let store = tx.object_store(name).map_err(|e| io("load", &e))?;
        let keys = store.get_all_keys().map_err(|e| io("load", &e))?;
        let values = store.get_all().map_err(|e| io("load", &e))?;
        Ok((keys, values))
    };
    let mut requests = Vec::new();
    for area in Area::ALL {
        if let (Area::Pages, Paging::Lazy { .. }) = (area, paging) {
            // Nothing: pages and their keys are read when needed.
            continue;
        }
        requests.push((area, read_all(area.name())?));
    }
    let members = read_all(groups::MEMBERS_STORE)?;
    let bodies = match paging {
        Paging::Mirror => Some(read_all(groups::GROUPS_STORE)?),
        Paging::Lazy { .. } => None,
    };
    // Under lazy paging, the keys the pager's open lists (`LoadEdges`):
    // asked here, they cost no round trip of their own.
    let edges = match paging {
        Paging::Lazy { .. } => {
            let store = tx
                .object_store(Area::Pages.name())
                .map_err(|e| io("load", &e))?;
            let zero = store
                .count_with_key(&key::to_js(0))
                .map_err(|e| io("load", &e))?;
            let last = store
                .open_key_cursor_with_range_and_direction(
                    &JsValue::NULL,
                    web_sys::IdbCursorDirection::Prev,
                )
                .map_err(|e| io("load", &e))?;
            Some((zero, last))
        }
        Paging::Mirror => None,
    };
    let mut mirror = Mirror::new();
    let mut pages = match paging {
        Paging::Lazy { cache_bytes } => Some(LazyPages::new(cache_bytes)),
        Paging::Mirror => None,
    };
    for (area, pair) in requests {
        let (keys, values) = wait_pair(area.name(), pair).await?;
        for i in 0..keys.length() {
            mirror
                .load(area, &keys.get(i), values.get(i))
                .map_err(|detail| StoreError::Corrupted { detail })?;
        }
    }
    let corrupted = |detail| StoreError::Corrupted { detail };
    let mut directory = JsDirectory::new();
    let (keys, values) = wait_pair(groups::MEMBERS_STORE, members).await?;
    for i in 0..keys.length() {
        let chunk =
            key::from_js(&keys.get(i)).map_err(|e| corrupted(format!("members area: {e}")))?;
        let record = values
            .get(i)
            .dyn_into::<js_sys::Uint8Array>()
            .map_err(|_| {
                corrupted(format!(
                    "members area: the record of chunk {chunk} is not a Uint8Array"
                ))
            })?;
        directory
            .load_chunk(chunk, &record.to_vec())
            .map_err(corrupted)?;
    }
    // Waited for in the order issued (after `members`; `bodies` is only
    // read in mirror mode).
    if let (Some((zero, last)), Some(pages)) = (edges, pages.as_mut()) {
        let zero = wait(&zero).await.map_err(|e| io("load", &e))?;
        let last = wait(&last).await.map_err(|e| io("load", &e))?;
        let max = match last.dyn_into::<web_sys::IdbCursor>() {
            Ok(cursor) => {
                let k = cursor.key().map_err(|e| io("load", &e))?;
                Some(key::from_js(&k).map_err(|e| corrupted(format!("pages area: {e}")))?)
            }
            // `null`: no singles.
            Err(_) => None,
        };
        // Keys past MAX_SAFE are strings, which IndexedDB orders as text,
        // not as numbers: the last key is then not the greatest, and the
        // listings ask IndexedDB as before.
        if max.is_none_or(|m| m <= key::MAX_SAFE) {
            pages.set_load_edges(LoadEdges {
                has_zero: zero.as_f64().is_some_and(|n| n > 0.0),
                max,
            });
        }
    }
    if let Some(bodies) = bodies {
        // The mirror holds each live page as a view into its group's record.
        let (keys, values) = wait_pair(groups::GROUPS_STORE, bodies).await?;
        if keys.length() as usize != directory.len() {
            return Err(corrupted(format!(
                "{} page group records but {} live sets",
                keys.length(),
                directory.len()
            )));
        }
        for i in 0..keys.length() {
            let first =
                key::from_js(&keys.get(i)).map_err(|e| corrupted(format!("groups area: {e}")))?;
            let (pages, views) =
                groups::live_pages_of(&values.get(i), first, directory.live_set(first), false)
                    .map_err(corrupted)?;
            for j in 0..pages.length() {
                mirror
                    .load(Area::Pages, &pages.get(j), views.get(j))
                    .map_err(corrupted)?;
            }
        }
    }
    Ok((mirror, pages, directory))
}

/// The keys and values of one `getAllKeys` + `getAll` pair over `store`.
async fn wait_pair(
    store: &str,
    (keys, values): (IdbRequest, IdbRequest),
) -> StoreResult<(Array, Array)> {
    let keys = Array::from(&wait(&keys).await.map_err(|e| io("load", &e))?);
    let values = Array::from(&wait(&values).await.map_err(|e| io("load", &e))?);
    if keys.length() != values.length() {
        return Err(StoreError::Io {
            op: "load",
            detail: format!(
                "{store} area: {} keys but {} values",
                keys.length(),
                values.length()
            ),
        });
    }
    Ok((keys, values))
}
