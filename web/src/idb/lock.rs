//! One writer per store across tabs, windows and workers: the Web Locks API.
//!
//! An open store holds the exclusive lock `moonvault:<name>` until it is
//! closed (or its page goes away: the browser then releases it). A second
//! opener, in another tab or in the same page, either gets
//! [`StoreError::Locked`] at once (`ifAvailable`) or queues until the holder
//! closes ([`OnLocked::Wait`]). IndexedDB itself would let both write, which
//! would interleave two engines' commits: corruption. The lock makes that
//! impossible for every moonvault instance of the origin.

use js_sys::{Function, Object, Reflect};
use moonvault_pager::store::{StoreError, StoreResult};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::request::Deferred;

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
        if let Ok(p) = self.released.clone().dyn_into::<js_sys::Promise>() {
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

/// Takes the exclusive lock on `name` (a [`lock_name`]).
pub async fn acquire(name: &str, on_locked: OnLocked) -> StoreResult<LockGuard> {
    let global = js_sys::global();
    let navigator = Reflect::get(&global, &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    let locks = if navigator.is_object() {
        Reflect::get(&navigator, &"locks".into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    };
    if !locks.is_object() {
        return Err(unavailable("navigator.locks is missing"));
    }
    let request: Function = Reflect::get(&locks, &"request".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| unavailable("navigator.locks.request is missing"))?;

    // The callback runs when the lock is granted (or, with ifAvailable,
    // immediately with `null` when it is not). It reports which through
    // `granted` and keeps the lock until `held` settles.
    let granted = Deferred::new();
    let held = Deferred::new();
    let (report, held_promise) = (granted.resolve.clone(), held.promise.clone());
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let got = !lock.is_null() && !lock.is_undefined();
        let _ = report.call1(&JsValue::NULL, &JsValue::from_bool(got));
        if got {
            held_promise.into()
        } else {
            JsValue::UNDEFINED
        }
    });
    let options = Object::new();
    let _ = Reflect::set(&options, &"mode".into(), &"exclusive".into());
    if on_locked == OnLocked::Error {
        let _ = Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE);
    }
    let pending = request
        .call3(&locks, &name.into(), &options, &callback)
        .map_err(|e| unavailable(&format!("{e:?}")))?;
    // A rejected request (e.g. a document that is not fully active) must
    // not leave us waiting for a grant that never comes.
    if let Some(p) = pending.dyn_ref::<js_sys::Promise>() {
        let fail = granted.reject.clone();
        let on_reject = Closure::once_into_js(move |e: JsValue| {
            let _ = fail.call1(&JsValue::NULL, &e);
        });
        if let Ok(catch) = Reflect::get(p, &"catch".into()) {
            if let Some(catch) = catch.dyn_ref::<Function>() {
                let _ = catch.call1(p, &on_reject);
            }
        }
    }
    let got = JsFuture::from(granted.promise)
        .await
        .map_err(|e| StoreError::Io {
            op: "lock",
            detail: format!("navigator.locks.request failed: {}", super::describe(&e)),
        })?;
    if got.as_bool() != Some(true) {
        return Err(StoreError::Locked {
            detail: format!(
                "`{}` is open in another tab, window or worker (or in this page); \
                 close it there, or open with onLocked: 'wait'",
                name.strip_prefix("moonvault:").unwrap_or(name)
            ),
        });
    }
    Ok(LockGuard {
        release: held.resolve,
        released: pending,
    })
}
