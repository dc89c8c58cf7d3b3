//! The IndexedDB blob store: moonvault's storage in the browser.
//!
//! IndexedDB is asynchronous; the engine and Lua above it are not. The
//! bridge (DESIGN.md, "The browser: IndexedDB bridge"):
//!
//! - [`IdbStore::open`]: take the store's Web Lock ([`lock`]), connect, and load
//!   every blob into a JS-side [`mirror`] (outside the 2 MiB wasm memory).
//! - Reads (`get`, `keys`) are served synchronously from the mirror, or
//!   under [`Paging::Lazy`] pages are read on demand ([`lazy`]): a miss
//!   suspends the call through JSPI ([`suspend`]) until IndexedDB answers.
//! - Each `write` batch updates the mirror and joins the ordered write
//!   [`queue`]: at most one IndexedDB readwrite transaction in flight, so
//!   what survives a crash is always a prefix of the batches.
//! - Durability is acknowledged asynchronously: [`IdbStore::flush`]
//!   resolves when every batch written before it is in a completed
//!   transaction. A failed transaction poisons the store; reopening gives
//!   the last completed one.
//!
//! [`key`] defines how `u64` blob keys are written as JS values.

mod decoded;
pub mod groups;
pub mod key;
pub mod lazy;
pub mod lock;
pub mod mirror;
mod open;
pub mod queue;
pub mod request;
mod store;
pub mod suspend;

pub use lock::OnLocked;
pub use open::{db_name, IdbOptions, Paging};
pub use queue::{Failure, TxnDurability};
pub use store::{IdbStats, IdbStore};

use moonvault_pager::store::StoreError;
use wasm_bindgen::{JsCast, JsValue};

/// A JS exception in words: `name: message` for errors and DOMExceptions.
pub fn describe(value: &JsValue) -> String {
    if let Some(e) = value.dyn_ref::<web_sys::DomException>() {
        return format!("{}: {}", e.name(), e.message());
    }
    if let Some(e) = value.dyn_ref::<js_sys::Error>() {
        return format!("{}: {}", String::from(e.name()), String::from(e.message()));
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

/// A failed IndexedDB call as a store error. A `QuotaExceededError` raised
/// by a request (not by a transaction: that goes through the queue) means
/// nothing was applied.
pub(crate) fn io(op: &'static str, value: &JsValue) -> StoreError {
    let detail = describe(value);
    if detail.starts_with("QuotaExceededError") {
        return StoreError::QuotaExceeded { detail };
    }
    StoreError::Io { op, detail }
}
