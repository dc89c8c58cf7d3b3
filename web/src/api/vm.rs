//! The Lua VM of an open store, created by the first call that runs Lua.
//!
//! `get`, `set`, `delete`, `batch`, `query`, `list`, indexes, `stats`,
//! `check` and `export` go straight to the engine [`Store`]; only
//! `compute`, `computeBatch`, `setSchema`, `migrate` and `persistFunction`
//! run Lua. So `open` builds the engine alone (`Engine::Data`), and the
//! first Lua call builds the [`Vault`] over that same store
//! (`Engine::Lua`; the vault then owns it, and data calls reach it
//! through [`Vault::store`]). A page that only uses the data calls never
//! pays for the VM: its setup time, nor its heap (the standard library,
//! the `store` API, the function codec: about 55 KiB).
//!
//! Nothing else changes: the options are checked at open, the memory
//! reservation (Lua heap included, `budget.rs`) is taken at open and given
//! back at close, and the VM gets the options the store was opened with
//! (`memoryLimit`, `untrusted`, limits, `print`); that its setup fits in
//! the smallest `memoryLimit` is checked by `web/page-tests/lazy-vm.test.mjs`.

use js_sys::Function;
use moonvault_engine::Store;
use moonvault_lua_bind::{Vault, VaultOptions};
use wasm_bindgen::JsValue;

use super::error::{ApiError, ApiResult};
use super::RawVault;

/// The engine of an open store, with the VM once a call needed it.
pub(crate) enum Engine {
    /// No Lua call yet: the engine store alone.
    Data(Store),
    /// The VM, which owns the store.
    Lua(Vault),
}

/// What the VM is built with when it is first needed.
pub(crate) struct VmSetup {
    pub(crate) options: VaultOptions,
    /// Receives printed lines; `None`: `console.log`.
    pub(crate) print: Option<Function>,
}

/// Lua's print, one line per call, to `print` (or the console).
fn print_sink(print: Option<Function>) -> moonvault_lua_bind::PrintSink {
    Box::new(move |line: &[u8]| {
        let text = JsValue::from_str(&String::from_utf8_lossy(line));
        match &print {
            // A throwing callback must not unwind into Lua: ignore it.
            Some(f) => {
                let _ = f.call1(&JsValue::NULL, &text);
            }
            None => web_sys::console::log_1(&text),
        }
    })
}

impl RawVault {
    /// Builds the VM if this store has none yet. A closed or failed store
    /// is left as it is (the caller reports why).
    pub(crate) fn start_vm(&self) -> ApiResult<()> {
        {
            let state = self.state.try_borrow().map_err(|_| super::busy())?;
            if !matches!(state.engine, Some(Engine::Data(_))) || state.idb.failure().is_some() {
                return Ok(());
            }
        }
        let mut state = self.state.try_borrow_mut().map_err(|_| {
            ApiError::invalid(
                "this store is busy: Lua cannot start inside a callback (onProgress, print) of \
                 another call on the same store; call it after that call returns",
            )
        })?;
        let Some(Engine::Data(store)) = state.engine.take() else {
            return Ok(());
        };
        match Vault::with_store(store.clone(), state.vm.options) {
            Ok(vault) => {
                vault.set_print_sink(Some(print_sink(state.vm.print.clone())));
                state.engine = Some(Engine::Lua(vault));
                Ok(())
            }
            Err(e) => {
                state.engine = Some(Engine::Data(store));
                Err(ApiError::vault(&e, state.idb.failure().as_ref()))
            }
        }
    }

    /// The Lua heap in use, `None` while the store has no VM (or is
    /// closed).
    pub(crate) fn lua_memory(&self) -> Option<usize> {
        let state = self.state.try_borrow().ok()?;
        match state.engine.as_ref()? {
            Engine::Lua(vault) => Some(vault.used_memory()),
            Engine::Data(_) => None,
        }
    }
}
