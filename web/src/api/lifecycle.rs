//! Opening, flushing, closing and deleting stores.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use moonvault_engine::{Db, Store};
use moonvault_lua_bind::VaultOptions;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::error::{ApiError, ApiResult, Kind};
use super::options::OpenOptions;
use super::vm::{Engine, VmSetup};
use super::{RawVault, State};
use crate::budget::{self, Reservation};
use crate::idb::IdbStore;

async fn open(name: String, options: JsValue) -> ApiResult<RawVault> {
    crate::init();
    let options = OpenOptions::parse(&options)?;
    // The lock first: a store already open elsewhere is a LockedError,
    // whatever the memory budget says.
    let idb = IdbStore::open(&name, options.idb)
        .await
        .map_err(|e| ApiError::store(&e))?;
    // `flush` hands out the queue's promise: it must fail as the API does.
    idb.set_failure_error(|f| ApiError::failure(f).into());
    let reservation = match Reservation::take(options.memory_limit, budget::STORE_OVERHEAD) {
        Ok(r) => r,
        Err(m) => {
            let _ = idb.close().await;
            return Err(ApiError::new(Kind::Memory, m));
        }
    };
    let vault_options = VaultOptions {
        memory_limit: options.memory_limit,
        arena: Some(crate::lua_arena::arena()),
        untrusted: options.untrusted,
        engine: budget::engine_options(),
        savepoint_log_limit: budget::SAVEPOINT_LOG_LIMIT,
        // A Lua assignment's copy (one at a time).
        assign_limit: budget::ASSIGN_LIMIT,
        limits: options.limits,
        ..VaultOptions::default()
    };
    // The engine only: the Lua VM is built by the first call that runs
    // Lua (`vm.rs`), with these options. Recovery may read pages: under
    // lazy paging it suspends on them.
    let suspendable = crate::idb::suspend::AVAILABLE.then(crate::idb::suspend::Suspendable::enter);
    let opened = Db::open(Box::new(idb.clone()), vault_options.engine).and_then(Store::open);
    drop(suspendable);
    let store = match opened {
        Ok(s) => s,
        Err(e) => {
            let err = ApiError::engine(&e, idb.failure().as_ref());
            let _ = idb.close().await;
            return Err(err);
        }
    };
    Ok(RawVault {
        state: Rc::new(RefCell::new(State {
            name,
            engine: Some(Engine::Data(store)),
            vm: VmSetup {
                options: vault_options,
                print: options.print,
            },
            idb,
            lua_limit: options.memory_limit,
            untrusted: options.untrusted,
            reservation: Some(reservation),
        })),
    })
}

#[wasm_bindgen]
#[cfg_attr(feature = "jspi", allow(deprecated))] // JSPI is marked experimental
impl RawVault {
    /// Opens (creating if missing) store `name`. See `Moonvault.open`.
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub async fn open(name: String, options: JsValue) -> Result<RawVault, JsValue> {
        open(name, options).await.map_err(JsValue::from)
    }

    /// Deletes store `name` (it must not be open anywhere).
    #[wasm_bindgen(js_name = deleteStore)]
    pub async fn delete_store(name: String) -> Result<(), JsValue> {
        crate::init();
        IdbStore::delete(&name)
            .await
            .map_err(|e| JsValue::from(ApiError::store(&e)))
    }

    /// The store's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.state
            .try_borrow()
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    /// Whether `close` has run.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.state
            .try_borrow()
            .map(|s| s.engine.is_none())
            .unwrap_or(false)
    }

    /// Resolves once every commit so far is durable in IndexedDB; rejects
    /// if the store failed (e.g. `QuotaExceededError`). The queue's own
    /// promise, settled by IndexedDB's `complete` event: nothing runs
    /// between that event and the caller (a durable `set` waits on it).
    pub fn flush(&self) -> Promise {
        let idb = match self.state.try_borrow() {
            Ok(s) => s.idb.clone(),
            Err(_) => return Promise::reject(&super::busy().into()),
        };
        match idb.failure() {
            Some(f) => Promise::reject(&ApiError::failure(&f).into()),
            None => idb.flush_promise(),
        }
    }

    /// Rolls back nothing (chunks are atomic), waits for every commit to be
    /// durable, closes the database and releases the lock. Rejects if
    /// queued commits could not be written (they are lost; the store
    /// reopens at its last durable state).
    pub fn close(&self) -> Promise {
        let taken = match self.state.try_borrow_mut() {
            Ok(mut s) => s
                .engine
                .take()
                .map(|e| (e, s.idb.clone(), s.reservation.take())),
            Err(_) => return Promise::reject(&super::busy().into()),
        };
        future_to_promise(async move {
            let Some((engine, idb, reservation)) = taken else {
                return Ok(JsValue::UNDEFINED);
            };
            let closed = match engine {
                Engine::Lua(vault) => vault
                    .close()
                    .map_err(|e| ApiError::vault(&e, idb.failure().as_ref())),
                Engine::Data(store) => store
                    .db()
                    .flush()
                    .map_err(|e| ApiError::engine(&e, idb.failure().as_ref())),
            };
            let flushed = idb.close().await;
            drop(reservation);
            closed.map_err(JsValue::from)?;
            if let Err(e) = flushed {
                return Err(match idb.failure() {
                    Some(f) => ApiError::failure(&f),
                    None => ApiError::store(&e),
                }
                .into());
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

/// The Lua heap limit of an open store (for stats).
pub(crate) fn lua_limit(state: &State) -> usize {
    state.lua_limit
}
