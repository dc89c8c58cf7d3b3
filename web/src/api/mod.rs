//! The JavaScript API, as exported by wasm-bindgen: [`RawVault`] (one open
//! store: the engine over an [`IdbStore`], and a Lua [`Vault`] over it from
//! the first call that runs Lua, [`vm`]) and [`transfer::RawImport`].
//!
//! "Raw" because the package's entry module (`js/moonvault.js`) wraps
//! them in the documented `Moonvault` class: async write methods that
//! resolve once the commit is durable, accepted argument forms, and the
//! `Error` subclasses (registered through [`error::set_error_factory`]).
//! Everything here is synchronous except what must wait for IndexedDB
//! (open, close, delete, flush, import).
//!
//! Files: [`lifecycle`] (open, close, delete, flush), [`compute`] (Lua
//! chunks and the Lua-backed `store` calls), [`data`] (get/set/delete/batch
//! through the engine), [`query`] (queries and indexes), [`stats`],
//! [`transfer`] (export/import), [`path`] and [`options`] (argument
//! parsing), [`vm`] (the Lua VM, created on first use), [`error`].
//!
//! Re-entrancy: a `print` callback runs inside `compute`; if it calls back
//! into the same store, reads work, writes fail with a clear error, and
//! `close` is refused (no `RefCell` is ever borrowed twice: that would
//! abort the module).

mod batch_ops;
pub mod compute;
pub mod data;
pub mod error;
pub mod lifecycle;
pub mod options;
pub mod path;
pub mod query;
pub mod stats;
pub mod transfer;
pub mod vm;

use crate::idb::suspend::Suspendable;
use std::cell::RefCell;
use std::rc::Rc;

use moonvault_engine::Store;
use moonvault_lua_bind::Vault;
use wasm_bindgen::prelude::*;

use crate::budget::Reservation;
use crate::idb::IdbStore;
use error::{ApiError, ApiResult, Kind};

/// One open store.
pub(crate) struct State {
    name: String,
    /// The engine, and the VM once a Lua call needed it; `None` once closed.
    engine: Option<vm::Engine>,
    /// What the VM is built with.
    vm: vm::VmSetup,
    idb: IdbStore,
    lua_limit: usize,
    /// Opened with `untrusted: true`: chunks given as text are loaded as
    /// text only (no binary chunk, DESIGN.md section 6).
    untrusted: bool,
    /// Given back at close.
    reservation: Option<Reservation>,
}

/// An open moonvault store (see the module docs; JS code uses the
/// `Moonvault` class of the package entry instead).
#[wasm_bindgen]
pub struct RawVault {
    state: Rc<RefCell<State>>,
}

impl RawVault {
    /// Whether code handed to this store is loaded as text only (it was
    /// opened untrusted); otherwise as Lua's `load` does ("bt").
    pub(crate) fn text_only(&self) -> bool {
        self.state.try_borrow().map_or(true, |s| s.untrusted)
    }

    /// Runs `f` with the open vault and its store, building the VM first
    /// if this is the store's first Lua call ([`vm`]).
    /// Once the store failed (an IndexedDB transaction aborted), every
    /// call reports that failure: reads too, although the page cache could
    /// still answer some, so that the state is never silently stale.
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&Vault, &IdbStore) -> ApiResult<R>,
    ) -> ApiResult<R> {
        // Every export that reaches here is a JSPI export in that build,
        // so a page miss may suspend it (idb/suspend.rs).
        let _suspendable = crate::idb::suspend::AVAILABLE.then(Suspendable::enter);
        self.start_vm()?;
        let state = self.usable()?;
        match state.engine.as_ref() {
            Some(vm::Engine::Lua(vault)) => f(vault, &state.idb),
            // start_vm leaves no other state on a usable store.
            _ => Err(closed(&state.name)),
        }
    }

    /// Runs `f` with the engine store (between chunks). Never builds the
    /// VM.
    pub(crate) fn with_store<R>(
        &self,
        f: impl FnOnce(&Store, &IdbStore) -> ApiResult<R>,
    ) -> ApiResult<R> {
        let _suspendable = crate::idb::suspend::AVAILABLE.then(Suspendable::enter);
        self.with_store_now(f)
    }

    /// [`RawVault::with_store`] in a call that does not suspend (a plain
    /// export): a page that is not in memory fails the read, and
    /// `suspend::attempt` tells that failure apart.
    pub(crate) fn with_store_now<R>(
        &self,
        f: impl FnOnce(&Store, &IdbStore) -> ApiResult<R>,
    ) -> ApiResult<R> {
        let state = self.usable()?;
        match state.engine.as_ref() {
            Some(vm::Engine::Data(store)) => f(store, &state.idb),
            Some(vm::Engine::Lua(vault)) => {
                let store = vault.store().ok_or_else(|| {
                    ApiError::invalid(
                        "the store is in use by a running chunk; call this after it returns",
                    )
                })?;
                f(&store, &state.idb)
            }
            None => Err(closed(&state.name)),
        }
    }

    /// The state of an open store that has not failed.
    fn usable(&self) -> ApiResult<std::cell::Ref<'_, State>> {
        let state = self.state.try_borrow().map_err(|_| busy())?;
        if state.engine.is_none() {
            return Err(closed(&state.name));
        }
        if let Some(failure) = state.idb.failure() {
            return Err(ApiError::failure(&failure));
        }
        Ok(state)
    }
}

fn busy() -> ApiError {
    ApiError::invalid(
        "this store is busy: a print callback cannot close the store or start another chunk \
         while compute() runs",
    )
}

fn closed(name: &str) -> ApiError {
    ApiError::new(
        Kind::Store,
        format!("store `{name}` is closed; open it again"),
    )
}
