//! One writer per store across tabs, windows and workers: the Web Locks API.
//!
//! An open store holds the exclusive lock `moonvault:<name>` until it is
//! closed (or its page goes away: the browser then releases it). A second
//! opener, in another tab or in the same page, either gets
//! [`StoreError::Locked`] at once (`ifAvailable`) or queues until the holder
//! closes ([`OnLocked::Wait`]). IndexedDB itself would let both write, which
//! would interleave two engines' commits: corruption. The lock makes that
//! impossible for every moonvault instance of the origin.

use js_sys::{Array, Function, Promise};
use moonvault_pager::store::{StoreError, StoreResult};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// What opening does when another instance holds the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnLocked {
    /// Fail at once with [`StoreError::Locked`].
    #[default]
    Error,
    /// Wait until the holder closes the store.
    Wait,
}

/// The held lock; released by [`LockGuard::release`] or when dropped.
#[derive(Debug)]
pub struct LockGuard {
    /// Resolves the promise the lock callback returned: the browser
    /// releases the lock when it settles.
    release: Function,
    /// The `request` promise: settles once the lock is actually released.
    released: JsValue,
}

impl LockGuard {
    /// Lets the next opener in, returning once the browser has released
    /// the lock (so an `open` right after sees it free).
    pub async fn release(self) {
        let _ = self.release.call0(&JsValue::NULL);
        if let Ok(p) = self.released.clone().dyn_into::<Promise>() {
            let _ = JsFuture::from(p).await;
        }
    }
}

impl Drop for LockGuard {
    /// Releases without waiting (resolving twice is harmless).
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::NULL);
    }
}

/// The lock name of store `name`.
pub fn lock_name(name: &str) -> String {
    format!("moonvault:{name}")
}

fn unavailable(detail: &str) -> StoreError {
    StoreError::Io {
        op: "lock",
        detail: format!(
            "the Web Locks API is not available ({detail}); moonvault needs it to keep \
             two tabs from writing one store (Chrome 69+, Firefox 96+, Safari 15.4+, \
             in a secure context such as https or localhost)"
        ),
    }
}

// The lock request made and answered in JS: one boundary crossing, no
// Rust closure (through js-sys it took a dozen crossings and two closures,
// code a fresh page compiles on its first open; DESIGN.md section 8, "A
// fresh page"). The promise resolves with `[0, release, released]` when
// the lock is granted (`release()` lets it go; `released` settles once
// the browser has released it), `[1]` when `ifAvailable` found it held,
// `[2, detail]` when the API is missing or refused the request at once;
// it rejects with the request's error if that fails before a grant.
#[wasm_bindgen(module = "/src/imports.js")]
extern "C" {
    #[wasm_bindgen(js_name = acquireLock)]
    fn acquire_lock(name: &str, if_available: bool) -> Promise;
}

/// Takes the exclusive lock on `name` (a [`lock_name`]).
pub async fn acquire(name: &str, on_locked: OnLocked) -> StoreResult<LockGuard> {
    let outcome = JsFuture::from(acquire_lock(name, on_locked == OnLocked::Error))
        .await
        .map_err(|e| StoreError::Io {
            op: "lock",
            detail: format!("navigator.locks.request failed: {}", super::describe(&e)),
        })?;
    let outcome = Array::from(&outcome);
    match outcome.get(0).as_f64() {
        Some(0.0) => Ok(LockGuard {
            release: outcome.get(1).unchecked_into(),
            released: outcome.get(2),
        }),
        Some(1.0) => Err(StoreError::Locked {
            detail: format!(
                "`{}` is open in another tab, window or worker (or in this page); \
                 close it there, or open with onLocked: 'wait'",
                name.strip_prefix("moonvault:").unwrap_or(name)
            ),
        }),
        _ => Err(unavailable(&outcome.get(1).as_string().unwrap_or_default())),
    }
}
