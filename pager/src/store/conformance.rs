//! The conformance suite every [`BlobStore`] passes. (Filled in below.)
use super::BlobStore;

/// Run every conformance check. `fresh` makes an empty store; `reopen`
/// closes a store and opens the same medium again.
pub fn run_all<S: BlobStore>(fresh: &mut dyn FnMut(usize) -> S, reopen: &mut dyn FnMut(S) -> S) {
    let _ = (fresh, reopen);
}
