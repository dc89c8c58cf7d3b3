//! Waiting for a promise inside a synchronous call: JSPI.
//!
//! In the `jspi` build the store calls are `#[wasm_bindgen(jspi)]` exports,
//! run by `WebAssembly.promising`: a call can suspend the module on a
//! promise (a lazy page read, [`super::lazy`]) and resume when it settles,
//! while the event loop runs on. wasm-bindgen saves the suspended call's
//! shadow stack, and the package serializes the calls into a store.
//!
//! Suspending is only legal under a promising export. [`Suspendable`]
//! marks the calls that are: a read that misses anywhere else fails with
//! a clear error instead of a `SuspendError` (which would abort the
//! module). The depth is saved and cleared across a suspension, so code
//! that runs while a call is suspended is not taken for that call.

use std::cell::Cell;

use js_sys::Promise;
use wasm_bindgen::JsValue;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Set when a read was refused for want of suspending (see [`refuse`]).
    static REFUSED: Cell<bool> = const { Cell::new(false) };
}

/// Held by a call that may suspend (a JSPI export), for its duration.
#[derive(Debug)]
pub struct Suspendable(());

impl Suspendable {
    /// Marks the running call as one that may suspend.
    pub fn enter() -> Suspendable {
        DEPTH.with(|d| d.set(d.get() + 1));
        Suspendable(())
    }
}

impl Drop for Suspendable {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Whether this build can suspend at all.
pub const AVAILABLE: bool = cfg!(feature = "jspi");

/// Whether the running call may suspend.
pub fn allowed() -> bool {
    AVAILABLE && DEPTH.with(Cell::get) > 0
}

/// Records that a read needed to suspend where the call may not: a
/// call made not to suspend ([`attempt`]) then says so instead of failing.
pub fn refuse() {
    REFUSED.with(|r| r.set(true));
}

/// Runs `f`, a call that does not suspend; `None` if it failed because a
/// read would have had to ([`refuse`]): the caller retries it as a call
/// that may.
pub fn attempt<T, E>(f: impl FnOnce() -> Result<T, E>) -> Option<Result<T, E>> {
    REFUSED.with(|r| r.set(false));
    let out = f();
    let refused = REFUSED.with(|r| r.replace(false));
    match out {
        Err(_) if refused => None,
        out => Some(out),
    }
}

/// Suspends until `promise` settles: its value, or its rejection reason.
/// Only call when [`allowed`].
pub fn block_on(promise: &Promise) -> Result<JsValue, JsValue> {
    let depth = DEPTH.with(|d| d.replace(0));
    let out = wait(promise);
    DEPTH.with(|d| d.set(depth));
    out
}

#[cfg(all(feature = "jspi", target_arch = "wasm32"))]
#[allow(deprecated)] // wasm-bindgen marks its JSPI support experimental
fn wait(promise: &Promise) -> Result<JsValue, JsValue> {
    js_sys::futures::jspi_block_on_promise(promise)
}

#[cfg(not(all(feature = "jspi", target_arch = "wasm32")))]
fn wait(_promise: &Promise) -> Result<JsValue, JsValue> {
    Err(JsValue::from_str(
        "this build of moonvault cannot wait for IndexedDB inside a call (no JSPI)",
    ))
}
