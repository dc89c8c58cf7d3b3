//! Opening (lock, connect, load the mirror) and deleting a store.

use js_sys::{Array, Promise, Reflect};
use moonvault_pager::store::{Area, StoreError, StoreResult};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbFactory};

use super::groups::{self, JsDirectory};
use super::io;
use super::key;
use super::lazy::{LazyPages, LoadEdges, DEFAULT_CACHE_BYTES};
use super::lock::{self, OnLocked};
use super::mirror::Mirror;
use super::queue::{Queue, TxnDurability};
use super::request::{read_areas, wait};
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
    idb.dyn_into::<IdbFactory>().map_err(|_| no_indexeddb())
}

fn no_indexeddb() -> StoreError {
    StoreError::Io {
        op: "open",
        detail: "IndexedDB is not available here (a private window that disables it, or a \
                 context without indexedDB)"
            .into(),
    }
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
        let guard = lock::acquire(&lock::lock_name(name), options.on_locked).await?;
        let loaded = match connect(name).await {
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

// Connecting, made and settled in JS: one boundary crossing and no Rust
// closure (through web-sys it took a crossing per request, handler, store
// name and result, code a fresh page compiles on its first open; DESIGN.md
// section 8, "A fresh page"; the open's reads are `request::read_areas`).
//
// `openDatabase` resolves with `[0, db]`, `[1, store]` when the database
// exists but lacks moonvault's object store `store` (an upgrade of such a
// database is aborted, leaving it as it was), or `[2]` when there is no
// IndexedDB; it rejects with the open request's error.
#[wasm_bindgen(module = "/src/imports.js")]
extern "C" {
    #[wasm_bindgen(js_name = openDatabase, catch)]
    fn open_database(
        name: &str,
        version: u32,
        stores: &Array,
        required: &Array,
    ) -> Result<Promise, JsValue>;
}

/// Opens the database, creating the object stores on first use.
async fn connect(name: &str) -> StoreResult<IdbDatabase> {
    let names = |list: &[&str]| -> Array { list.iter().map(|&n| JsValue::from(n)).collect() };
    let promise = open_database(
        &db_name(name),
        DB_VERSION,
        &names(&object_stores()),
        // A database that exists but lacks a version 1 store is not
        // moonvault's.
        &names(&Area::ALL.map(Area::name)),
    )
    .map_err(|e| io("open", &e))?;
    let outcome = JsFuture::from(promise)
        .await
        .map_err(|e| newer_or_io(name, &e))?;
    let outcome = Array::from(&outcome);
    match outcome.get(0).as_f64() {
        Some(0.0) => outcome.get(1).dyn_into().map_err(|e| io("open", &e)),
        Some(1.0) => Err(not_moonvaults(
            name,
            &outcome.get(1).as_string().unwrap_or_default(),
        )),
        _ => Err(no_indexeddb()),
    }
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
    let lazy = matches!(paging, Paging::Lazy { .. });
    // Read whole, in this order: the areas (under lazy paging not `pages`:
    // pages are read when needed), the live sets, and in mirror mode the
    // group records. Under lazy paging the transaction also covers `pages`
    // for the keys the pager's open lists (`LoadEdges`): asked here, they
    // cost no round trip of their own.
    let mut whole: Vec<&str> = Area::ALL
        .into_iter()
        .filter(|&a| !(lazy && a == Area::Pages))
        .map(Area::name)
        .collect();
    whole.push(groups::MEMBERS_STORE);
    if !lazy {
        whole.push(groups::GROUPS_STORE);
    }
    let areas: Array = whole.iter().map(|&n| JsValue::from(n)).collect();
    let scope = if lazy {
        let scope = areas.slice(0, areas.length());
        scope.push(&Area::Pages.name().into());
        scope
    } else {
        areas.clone()
    };
    let read =
        read_areas(db, &scope, &areas, lazy, Area::Pages.name()).map_err(|e| io("load", &e))?;
    let results = Array::from(
        &JsFuture::from(read.promise)
            .await
            .map_err(|e| io("load", &e))?,
    );
    let pair = |i: usize| -> StoreResult<(Array, Array)> {
        let keys = Array::from(&results.get(2 * i as u32));
        let values = Array::from(&results.get(2 * i as u32 + 1));
        if keys.length() != values.length() {
            return Err(StoreError::Io {
                op: "load",
                detail: format!(
                    "{} area: {} keys but {} values",
                    whole[i],
                    keys.length(),
                    values.length()
                ),
            });
        }
        Ok((keys, values))
    };
    let mut mirror = Mirror::new();
    let mut pages = match paging {
        Paging::Lazy { cache_bytes } => Some(LazyPages::new(cache_bytes)),
        Paging::Mirror => None,
    };
    let mut next = 0;
    for area in Area::ALL {
        if lazy && area == Area::Pages {
            continue;
        }
        let (keys, values) = pair(next)?;
        next += 1;
        for i in 0..keys.length() {
            mirror
                .load(area, &keys.get(i), values.get(i))
                .map_err(|detail| StoreError::Corrupted { detail })?;
        }
    }
    let corrupted = |detail| StoreError::Corrupted { detail };
    let mut directory = JsDirectory::new();
    let (keys, values) = pair(next)?;
    next += 1;
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
    if let Some(pages) = pages.as_mut() {
        let at = 2 * next as u32;
        let (zero, last) = (results.get(at), results.get(at + 1));
        let max = if last.is_null() {
            // No singles.
            None
        } else {
            Some(key::from_js(&last).map_err(|e| corrupted(format!("pages area: {e}")))?)
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
    } else {
        // The mirror holds each live page as a view into its group's record.
        let (keys, values) = pair(next)?;
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
