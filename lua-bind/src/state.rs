//! The state one vault's Lua callbacks share (`Shared`): the transaction,
//! the proxies and their read cache, the function codec, the sinks. The
//! layers above it (conversion, proxies, the `store` API) reach the store
//! only through it; it knows none of them.

use std::cell::{Cell, OnceCell, RefCell};

use mlua::Function;

use crate::chunk::TxState;
use crate::failure::Failure;
use crate::function::FunctionCodec;
use crate::options::{PrintSink, ProgressSink, VaultOptions};
use crate::proxy::cache::ReadCache;
use crate::proxy::Proxies;

/// State shared by the Lua callbacks of one vault.
pub(crate) struct Shared {
    pub(crate) tx: RefCell<TxState>,
    pub(crate) proxies: Proxies,
    /// Values read in the open transaction (see `proxy/cache.rs`).
    pub(crate) read_cache: ReadCache,
    pub(crate) codec: OnceCell<FunctionCodec>,
    pub(crate) seen_lineage: Cell<u64>,
    pub(crate) depth: Cell<u32>,
    pub(crate) print_sink: RefCell<Option<PrintSink>>,
    pub(crate) progress_sink: RefCell<Option<ProgressSink>>,
    pub(crate) args: RefCell<Vec<String>>,
    pub(crate) script_name: RefCell<Option<String>>,
    /// Lua's own `print` (used when no sink is set).
    pub(crate) original_print: Function,
    pub(crate) options: VaultOptions,
}

impl Shared {
    /// The transaction state, or an error when it is in use (a store
    /// operation re-entered from Lua code it called).
    pub(crate) fn tx(&self) -> Result<std::cell::RefMut<'_, TxState>, Failure> {
        self.tx.try_borrow_mut().map_err(|_| {
            Failure::Message("the store is busy with another operation of this script".into())
        })
    }

    /// The function codec.
    pub(crate) fn codec(&self) -> Result<&FunctionCodec, Failure> {
        self.codec
            .get()
            .ok_or_else(|| Failure::Message("the function codec is not ready yet".into()))
    }

    /// After anything that may have rolled back: mark dead the proxies of
    /// tables that no longer exist and whose ids may be handed out again
    /// (allocated since the last commit). A proxy of an older table that
    /// is gone right now stays: its id is never reused, and a further
    /// rollback may bring the table back.
    pub(crate) fn sync(&self) -> Result<(), Failure> {
        let Ok(mut tx) = self.tx.try_borrow_mut() else {
            return Ok(());
        };
        self.read_cache.check(tx.version());
        let lineage = tx.lineage();
        if lineage == self.seen_lineage.get() {
            return Ok(());
        }
        self.seen_lineage.set(lineage);
        let proxies = &self.proxies;
        let result = tx.with_reader(|r| {
            // On a read error every id counts as reusable: the old rule.
            let kept_below = r.committed_table_ids_end().unwrap_or(0);
            proxies.revalidate(|id| id < kept_below || r.table_exists(id).unwrap_or(false))
        })?;
        result.map_err(Failure::Lua)
    }
}
