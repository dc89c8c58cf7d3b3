//! How a vault is configured: its options, defaults, and the sinks that
//! receive what chunks print and how long work advances. Plain data: every
//! other module may use it; it uses none of them.

use moonvault_engine::{Durability, Options};

use crate::arena::Arena;
use crate::limits::Limits;

/// Default cap of the Lua heap: 2 MiB, as in the browser.
pub const DEFAULT_MEMORY_LIMIT: usize = 2 * 1024 * 1024;

/// Default budget of the savepoint log (see [`VaultOptions::savepoint_log_limit`]).
#[cfg(not(target_arch = "wasm32"))]
pub const DEFAULT_SAVEPOINT_LOG_LIMIT: usize = 32 * 1024 * 1024;
/// Default budget of the savepoint log (see [`VaultOptions::savepoint_log_limit`]).
#[cfg(target_arch = "wasm32")]
pub const DEFAULT_SAVEPOINT_LOG_LIMIT: usize = 128 * 1024;

/// Default bound of one assigned value's copy (see [`VaultOptions::assign_limit`]).
#[cfg(not(target_arch = "wasm32"))]
pub const DEFAULT_ASSIGN_LIMIT: usize = 128 * 1024 * 1024;
/// Default bound of one assigned value's copy (see [`VaultOptions::assign_limit`]).
#[cfg(target_arch = "wasm32")]
pub const DEFAULT_ASSIGN_LIMIT: usize = 256 * 1024;

/// How a [`Vault`](crate::Vault) is opened.
#[derive(Clone, Copy, Debug)]
pub struct VaultOptions {
    /// Cap of the Lua heap in bytes; going past it raises a catchable
    /// "not enough memory" error.
    pub memory_limit: usize,
    /// Where the Lua heap lives: `None`, on the Rust heap (the limit
    /// counts what Lua asks for); `Some`, inside the arena's region
    /// ([`Arena`]: the web module, whose Lua heap must not depend on the
    /// allocator's overhead or spill into the engine's memory).
    pub arena: Option<&'static Arena>,
    /// Trust neither the store nor what scripts load: no binary chunk is
    /// loaded by any path (stored bytecode is refused; `load`, `loadfile`,
    /// `dofile` and `require` are text-only), a stored function whose
    /// captured tables have metatables holding code is refused, and
    /// `debug` has only `traceback` (DESIGN.md section 6).
    pub untrusted: bool,
    /// When a chunk's commit is durable. `store.commit()` is always
    /// durable before it returns.
    pub durability: Durability,
    /// Engine options (page size, cache budget, checkpoint thresholds).
    pub engine: Options,
    /// Bytes of operations kept per transaction to roll back to a
    /// savepoint (`store.transaction`, `store.batch`, a failed
    /// assignment). A transaction past it can only be rolled back whole.
    pub savepoint_log_limit: usize,
    /// Bytes (roughly: entries, keys and values) the copy of one assigned
    /// value may hold. An assignment builds its whole value in Rust memory
    /// before writing it, outside the Lua heap's cap (copying a stored
    /// table reads all of it); past this bound it fails with an error
    /// saying to assign the value in parts. A self-assignment
    /// (`Memory.t = Memory.t`) copies nothing: it changes nothing.
    pub assign_limit: usize,
    /// Default limits of every chunk (an instruction budget, a time
    /// limit); a call can override them ([`Vault::exec_with`](crate::Vault::exec_with)). None by
    /// default: an unlimited chunk runs without any hook.
    pub limits: Limits,
}

impl Default for VaultOptions {
    fn default() -> Self {
        VaultOptions {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            arena: None,
            untrusted: false,
            durability: Durability::Immediate,
            engine: Options::default(),
            savepoint_log_limit: DEFAULT_SAVEPOINT_LOG_LIMIT,
            assign_limit: DEFAULT_ASSIGN_LIMIT,
            limits: Limits::NONE,
        }
    }
}

/// Receives each `print`ed line: the arguments' `tostring` joined by tabs,
/// without the newline, as raw bytes (Lua strings need not be UTF-8).
pub type PrintSink = Box<dyn FnMut(&[u8])>;

/// A long operation's progress inside a chunk: `done` of `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// What advances.
    pub phase: ProgressPhase,
    /// Units done so far (the last report has `done == total`).
    pub done: u64,
    /// Units in all.
    pub total: u64,
}

/// What a [`Progress`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressPhase {
    /// `store.index`: entries of the table visited while the index builds.
    Index,
    /// `store.migrate`: migration steps committed.
    Migrate,
}

impl ProgressPhase {
    /// The phase's name, as the JS API's `onProgress` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProgressPhase::Index => "index",
            ProgressPhase::Migrate => "migrate",
        }
    }
}

/// Receives the progress of index builds and migrations run by chunks. It
/// runs inside the chunk: it must not call back into the vault.
pub type ProgressSink = Box<dyn FnMut(Progress)>;
