//! [`Vault`]: a Lua VM bound to a moonvault store, the API embedders (the
//! CLI, the web crate) use.
//!
//! ```no_run
//! use moonvault_lua_bind::{Vault, VaultOptions};
//! # fn main() -> Result<(), moonvault_lua_bind::VaultError> {
//! let vault = Vault::open_path("my.db", VaultOptions::default())?;
//! vault.set_args(vec!["--verbose".into()]);
//! vault.set_print_sink(Some(Box::new(|line: &[u8]| {
//!     println!("{}", String::from_utf8_lossy(line));
//! })));
//! let values = vault.exec("Memory.n = (Memory.n or 0) + 1 return Memory.n", "counter.lua")?;
//! # let _ = values; Ok(()) }
//! ```

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use mlua::{Lua, MultiValue, Value};
use moonvault_engine::{Db, EngineError, Store};
use moonvault_pager::store::memory::MemoryStore;
use moonvault_pager::store::BlobStore;

use crate::chunk::TxState;
use crate::failure::strip_traceback;
use crate::function::{FunctionCodec, Trust};
use crate::limits::{LimitKind, Limits, Meter, RunOptions};
use crate::options::{PrintSink, ProgressSink, VaultOptions};
use crate::proxy::cache::ReadCache;
use crate::proxy::Proxies;
use crate::state::Shared;

/// What went wrong running or opening a vault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The chunk raised an error (it was rolled back).
    #[error("{message}")]
    Lua {
        /// The error message (`script.lua:3: attempt to ...`).
        message: String,
        /// Lua's stack traceback, when there is one.
        traceback: Option<String>,
    },
    /// The chunk ran, but committing its changes failed (nothing of it
    /// was stored).
    #[error("committing the chunk's changes failed, nothing was stored: {0}")]
    Commit(EngineError),
    /// Opening or using the store failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Setting up the VM failed.
    #[error("setting up the Lua VM failed: {0}")]
    Setup(mlua::Error),
    /// The chunk ran past a limit (or was aborted) and was stopped; it was
    /// rolled back like any uncaught error, and the vault stays usable.
    #[error("{}", limit_message(*kind, limits))]
    Limit {
        /// Which limit stopped it.
        kind: LimitKind,
        /// The limits it ran under.
        limits: Limits,
    },
}

fn limit_message(kind: LimitKind, limits: &Limits) -> String {
    let what = match kind {
        LimitKind::Timeout => format!(
            "the chunk ran longer than its time limit ({} ms)",
            limits.timeout.map_or(0, |t| t.as_millis())
        ),
        LimitKind::Instructions => format!(
            "the chunk ran past its instruction budget ({} instructions)",
            limits.max_instructions.unwrap_or(0)
        ),
        LimitKind::Aborted => "the chunk was aborted by its caller".to_string(),
    };
    format!(
        "{what} and was stopped; its changes since the last store.commit() were rolled back \
         (raise the limit, or make the script do less per chunk)"
    )
}

impl VaultError {
    /// A Lua error as a [`VaultError::Lua`].
    pub fn from_lua(e: mlua::Error) -> VaultError {
        let (message, traceback) = split_lua_error(&e);
        VaultError::Lua { message, traceback }
    }

    /// Lua's traceback of a [`VaultError::Lua`].
    pub fn traceback(&self) -> Option<&str> {
        match self {
            VaultError::Lua { traceback, .. } => traceback.as_deref(),
            _ => None,
        }
    }
}

fn split_lua_error(e: &mlua::Error) -> (String, Option<String>) {
    let split = |s: &str| {
        let msg = strip_traceback(s).to_string();
        let tb = s
            .find("stack traceback:")
            .map(|i| s[i..].trim_end().to_string());
        (msg, tb)
    };
    match e {
        mlua::Error::RuntimeError(s) => split(s),
        mlua::Error::SyntaxError { message, .. } => split(message),
        mlua::Error::MemoryError(_) => ("not enough memory".to_string(), None),
        mlua::Error::CallbackError { traceback, cause } => {
            let (m, _) = split_lua_error(cause);
            (m, Some(traceback.trim_end().to_string()))
        }
        other => (crate::failure::lua_error_message(other), None),
    }
}

/// A Lua 5.4 VM whose `Memory` global is a moonvault store.
///
/// Globals: `Memory` (the root external table), `store` (transactions,
/// batches, indexes, queries, schemas, migrations, statistics, `store.fn`),
/// `arg` (see [`Vault::set_args`]), and the safe standard library (no
/// `os.exit`, no C modules) with a `debug` library of the functions that
/// cannot break the binding (`traceback` only when untrusted).
///
/// Each [`Vault::exec`] is atomic: its changes commit when it returns and
/// roll back (to the last `store.commit()`) when it raises.
///
/// Single-threaded (like the engine). Dropping the vault rolls back
/// anything uncommitted and releases the store.
pub struct Vault {
    lua: Lua,
    shared: Rc<Shared>,
    /// Declared after `lua`: the VM (whose registry holds its address)
    /// is closed before it is freed.
    meter: Box<Meter>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").finish_non_exhaustive()
    }
}

impl Vault {
    /// A vault over the file store in directory `path` (created if
    /// missing; locked against a second opener).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_path(
        path: impl AsRef<std::path::Path>,
        options: VaultOptions,
    ) -> Result<Vault, VaultError> {
        let files =
            moonvault_pager::store::file::FileStore::open(path).map_err(EngineError::from)?;
        Vault::open(Box::new(files), options)
    }

    /// A vault over any blob store (memory, file, IndexedDB...).
    pub fn open(blobs: Box<dyn BlobStore>, options: VaultOptions) -> Result<Vault, VaultError> {
        let store = Store::open(Db::open(blobs, options.engine)?)?;
        Vault::with_store(store, options)
    }

    /// A vault over a new in-memory store.
    pub fn memory(options: VaultOptions) -> Result<Vault, VaultError> {
        Vault::open(Box::new(MemoryStore::new()), options)
    }

    /// A vault over an open engine store.
    pub fn with_store(store: Store, options: VaultOptions) -> Result<Vault, VaultError> {
        Vault::build(store, options).map_err(VaultError::Setup)
    }

    fn build(store: Store, options: VaultOptions) -> mlua::Result<Vault> {
        let lua = crate::new_vm(options.memory_limit)?;
        if let Some(arena) = options.arena {
            arena.adopt(&lua, options.memory_limit)?;
        }
        if options.untrusted {
            crate::text_only::install(&lua)?;
            crate::debug_lib::install(&lua, crate::debug_lib::UNTRUSTED)?;
        } else {
            crate::debug_lib::install(&lua, crate::debug_lib::TRUSTED)?;
        }
        let meter = Box::<Meter>::default();
        crate::limits::install(&lua, &meter)?;
        let globals = lua.globals();
        let proxies = Proxies::new(&lua)?;
        let read_cache = ReadCache::new(&proxies.metatable);
        let shared = Rc::new(Shared {
            tx: RefCell::new(TxState::new(
                store,
                options.durability,
                options.savepoint_log_limit,
            )),
            proxies,
            read_cache,
            codec: OnceCell::new(),
            seen_lineage: Cell::new(0),
            depth: Cell::new(0),
            print_sink: RefCell::new(None),
            progress_sink: RefCell::new(None),
            args: RefCell::new(Vec::new()),
            script_name: RefCell::new(None),
            original_print: globals.get("print")?,
            options,
        });
        globals.set("print", crate::print::make(&lua, &shared)?)?;
        crate::proxy::meta::install(&lua, &shared)?;
        crate::store_api::install(&lua, &shared)?;
        // After the globals are final, so the registry of C functions
        // sees the `next` the scripts see.
        let trust = if options.untrusted {
            Trust::Untrusted
        } else {
            Trust::Trusted
        };
        let codec = FunctionCodec::new(&lua, trust)?;
        let _ = shared.codec.set(codec);
        globals.set("arg", lua.create_table()?)?;
        Ok(Vault { lua, shared, meter })
    }

    /// Run a chunk atomically and return its results.
    ///
    /// `chunk_name` names the chunk in messages: a file name
    /// (`"examples/x.lua"` gives `examples/x.lua:3: ...`), or Lua's own
    /// forms (`"=stdin"`, `"@file"`). The arguments set by
    /// [`Vault::set_args`] are the chunk's `...`.
    ///
    /// An untrusted vault runs text only: `code` that is a binary chunk
    /// fails as Lua's `load` with mode "t" does.
    ///
    /// On success the chunk's changes are committed (durable as
    /// [`VaultOptions::durability`] says); on an error nothing since the
    /// last `store.commit()` is kept, and the VM stays usable.
    ///
    /// The chunk runs under the vault's default limits
    /// ([`VaultOptions::limits`]); past one it fails with
    /// [`VaultError::Limit`].
    pub fn exec(&self, code: impl AsRef<[u8]>, chunk_name: &str) -> Result<Vec<Value>, VaultError> {
        self.exec_with(code, chunk_name, RunOptions::default())
    }

    /// [`Vault::exec`] with per-call limits (each overrides the vault's
    /// default) and an abort check (see [`RunOptions`]).
    pub fn exec_with(
        &self,
        code: impl AsRef<[u8]>,
        chunk_name: &str,
        run: RunOptions,
    ) -> Result<Vec<Value>, VaultError> {
        let name = if chunk_name.starts_with('@') || chunk_name.starts_with('=') {
            chunk_name.to_string()
        } else {
            format!("@{chunk_name}")
        };
        let args = self.shared.args.borrow().clone();
        let text_only = self.shared.options.untrusted;
        self.atomic_with(run, |lua| {
            let mut chunk = lua.load(code.as_ref()).set_name(name);
            if text_only {
                chunk = chunk.set_mode(mlua::chunk::ChunkMode::Text);
            }
            let f = chunk.into_function()?;
            let mut values = Vec::with_capacity(args.len());
            for a in &args {
                values.push(Value::String(lua.create_string(a)?));
            }
            let out = f.call::<MultiValue>(MultiValue::from_vec(values))?;
            Ok(out.into_vec())
        })
    }

    /// Run `f` as one atomic chunk (what [`Vault::exec`] does around a
    /// loaded chunk): for embedders that call Lua functions themselves.
    /// Nested calls join the outer chunk (and run under its limits).
    pub fn atomic<R>(&self, f: impl FnOnce(&Lua) -> mlua::Result<R>) -> Result<R, VaultError> {
        self.atomic_with(RunOptions::default(), f)
    }

    /// [`Vault::atomic`] with per-call limits and an abort check (see
    /// [`Vault::exec_with`]). A chunk stopped by a limit fails with
    /// [`VaultError::Limit`], whatever `f` returned; an abort check that
    /// answers yes before the start runs nothing.
    pub fn atomic_with<R>(
        &self,
        run: RunOptions,
        f: impl FnOnce(&Lua) -> mlua::Result<R>,
    ) -> Result<R, VaultError> {
        let depth = self.shared.depth.get();
        let limits = run.limits.or(self.shared.options.limits);
        let limited = if depth == 0 {
            self.meter
                .start(limits, run.abort)
                .map_err(|e| VaultError::Engine(EngineError::InvalidArgument(e)))?
        } else {
            false
        };
        self.shared.depth.set(depth + 1);
        let result = match self.meter.tripped() {
            Some(_) if limited => Err(mlua::Error::runtime("aborted before it started")),
            _ => f(&self.lua),
        };
        self.shared.depth.set(depth);
        let tripped = if limited { self.meter.finish() } else { None };
        if depth > 0 {
            return result.map_err(VaultError::from_lua);
        }
        let result = match tripped {
            Some(kind) => Err(VaultError::Limit { kind, limits }),
            None => result.map_err(VaultError::from_lua),
        };
        let Ok(mut tx) = self.shared.tx.try_borrow_mut() else {
            return Err(VaultError::Engine(EngineError::InvalidArgument(
                "the vault is busy (a chunk was started from inside a store operation)".into(),
            )));
        };
        match result {
            Ok(v) => {
                let committed = tx.commit(None);
                drop(tx);
                let _ = self.shared.sync();
                committed.map_err(VaultError::Commit)?;
                Ok(v)
            }
            Err(e) => {
                tx.rollback();
                drop(tx);
                let _ = self.shared.sync();
                Err(e)
            }
        }
    }

    /// Route `print` to `sink` (one call per line); `None` restores the
    /// standard `print` (the process's stdout, or the wasm shim's).
    ///
    /// The global `print` itself never changes (it is one function that
    /// checks for a sink), so `Memory.f = print` stores it by name either way.
    pub fn set_print_sink(&self, sink: Option<PrintSink>) {
        *self.shared.print_sink.borrow_mut() = sink;
    }

    /// Report the progress of index builds (`store.index`) and migrations
    /// (`store.migrate`) to `sink`; `None`: no reports.
    pub fn set_progress_sink(&self, sink: Option<ProgressSink>) {
        *self.shared.progress_sink.borrow_mut() = sink;
    }

    /// The script's arguments: `arg[1..n]` and the chunk's `...` (as the
    /// standalone `lua` interpreter does).
    pub fn set_args(&self, args: Vec<String>) {
        *self.shared.args.borrow_mut() = args;
        let _ = self.publish_args();
    }

    /// The script's name: `arg[0]`.
    pub fn set_script_name(&self, name: Option<String>) {
        *self.shared.script_name.borrow_mut() = name;
        let _ = self.publish_args();
    }

    fn publish_args(&self) -> mlua::Result<()> {
        let t = self.lua.create_table()?;
        if let Some(name) = self.shared.script_name.borrow().as_ref() {
            t.raw_set(0, name.as_str())?;
        }
        for (i, a) in self.shared.args.borrow().iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(a)?)?;
        }
        self.lua.globals().set("arg", t)
    }

    /// The VM (to register functions or read globals; run code that
    /// touches `Memory` through [`Vault::exec`] or [`Vault::atomic`]).
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// The engine store (statistics, checks, export). Writing through it
    /// while a chunk runs fails: the chunk holds the write transaction.
    pub fn store(&self) -> Option<Store> {
        self.shared.tx.borrow().store().cloned()
    }

    /// Lua heap in use, in bytes.
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Roll back anything uncommitted, flush, and release the store.
    pub fn close(self) -> Result<(), VaultError> {
        let store = self.shared.tx.borrow_mut().close();
        if let Some(store) = store {
            store.db().flush()?;
        }
        Ok(())
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        // The VM closes after this (the `lua` field drops next), running
        // the finalizers of everything still alive. Callbacks they reach
        // must not use mlua handles then (see `print.rs`): proxies and the
        // store API answer "closed" from here on.
        self.shared.proxies.close();
        if let Ok(mut tx) = self.shared.tx.try_borrow_mut() {
            if let Some(store) = tx.close() {
                // Relaxed commits become durable; an error here has no one
                // to report to (close() reports it).
                let _ = store.db().flush();
            }
        }
    }
}
