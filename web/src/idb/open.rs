//! Opening (lock, connect, load the mirror) and deleting a store.

use js_sys::{Array, Reflect};
use moonvault_pager::store::{Area, StoreError, StoreResult};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbTransactionMode};

use super::io;
use super::lazy::{LazyPages, DEFAULT_CACHE_BYTES};
use super::lock::{self, OnLocked};
use super::mirror::Mirror;
use super::queue::{Queue, TxnDurability};
use super::request::wait;
use super::store::IdbStore;

/// The IndexedDB schema version moonvault databases are created with.
const DB_VERSION: u32 = 1;

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
        let (db, (mirror, pages)) = match loaded {
            Ok(x) => x,
            Err(e) => {
                guard.release().await;
                return Err(e);
            }
        };
        let queue = Queue::new(db, options.durability);
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
    let upgrade = Closure::<dyn FnMut(Event)>::new(move |_event: Event| {
        // Runs inside the versionchange transaction, before `success`.
        let Ok(result) = req.result() else { return };
        let db: IdbDatabase = result.unchecked_into();
        let existing = db.object_store_names();
        for area in Area::ALL {
            if !existing.contains(area.name()) {
                // A failure aborts the upgrade, and `open` reports it.
                let _ = db.create_object_store(area.name());
            }
        }
    });
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let result = wait(&request).await;
    request.set_onupgradeneeded(None);
    drop(upgrade);
    let db: IdbDatabase = result
        .map_err(|e| io("open", &e))?
        .dyn_into()
        .map_err(|e| io("open", &e))?;
    let names = db.object_store_names();
    if let Some(missing) = Area::ALL.iter().find(|a| !names.contains(a.name())) {
        db.close();
        return Err(StoreError::Corrupted {
            detail: format!(
                "IndexedDB database {:?} has no `{}` object store: it was not created by \
                 moonvault",
                db_name(name),
                missing.name()
            ),
        });
    }
    Ok(db)
}

/// Reads every blob, or under lazy paging every blob but the pages (one
/// readonly transaction: a consistent image).
async fn load(db: &IdbDatabase, paging: Paging) -> StoreResult<(Mirror, Option<LazyPages>)> {
    let names: Array = Area::ALL.iter().map(|a| JsValue::from(a.name())).collect();
    let tx = db
        .transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readonly)
        .map_err(|e| io("load", &e))?;
    // Issue every request first; they are served in order, and are waited
    // for in that order (a request's `success` fires once: its handler
    // must be set before the events of the requests before it finish).
    let mut requests = Vec::new();
    for area in Area::ALL {
        if let (Area::Pages, Paging::Lazy { .. }) = (area, paging) {
            // Nothing: pages and their keys are read when needed.
            continue;
        }
        let store = tx.object_store(area.name()).map_err(|e| io("load", &e))?;
        let keys = store.get_all_keys().map_err(|e| io("load", &e))?;
        let values = store.get_all().map_err(|e| io("load", &e))?;
        requests.push((area, keys, values));
    }
    let mut mirror = Mirror::new();
    let pages = match paging {
        Paging::Lazy { cache_bytes } => Some(LazyPages::new(cache_bytes)),
        Paging::Mirror => None,
    };
    for (area, keys, values) in requests {
        let keys = Array::from(&wait(&keys).await.map_err(|e| io("load", &e))?);
        let values = Array::from(&wait(&values).await.map_err(|e| io("load", &e))?);
        if keys.length() != values.length() {
            return Err(StoreError::Io {
                op: "load",
                detail: format!(
                    "{} area: {} keys but {} values",
                    area.name(),
                    keys.length(),
                    values.length()
                ),
            });
        }
        for i in 0..keys.length() {
            mirror
                .load(area, &keys.get(i), values.get(i))
                .map_err(|detail| StoreError::Corrupted { detail })?;
        }
    }
    Ok((mirror, pages))
}
