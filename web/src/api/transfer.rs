//! `export` and `import`, in the CLI's format (`engine/src/export.rs`),
//! streamed in pieces so that no store ever sits in linear memory whole.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Uint8Array};
use moonvault_engine::export::{export, Importer};
use moonvault_engine::{Db, EngineError};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::error::{ApiError, ApiResult, Kind};
use super::RawVault;
use crate::budget::{self, Reservation, IO_CHUNK};
use crate::idb::{IdbOptions, IdbStore};

#[wasm_bindgen]
#[cfg_attr(feature = "jspi", allow(deprecated))] // JSPI is marked experimental
impl RawVault {
    /// Streams the committed state to `sink(chunk: Uint8Array)` (pieces of
    /// about 32 KiB); returns the number of entries.
    #[wasm_bindgen(js_name = exportTo)]
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn export_to(&self, sink: Function) -> Result<f64, JsValue> {
        self.with_store(|store, idb| {
            let mut failed = None;
            let n = export(store.db(), &mut |chunk: &[u8]| {
                if let Err(e) = sink.call1(&JsValue::NULL, &Uint8Array::from(chunk)) {
                    failed = Some(e);
                    return Err(EngineError::Callback("the export sink threw".into()));
                }
                Ok(())
            });
            if let Some(e) = failed {
                return Err(ApiError::invalid(format!(
                    "export: the sink threw: {}",
                    crate::idb::describe(&e)
                )));
            }
            n.map(|n| n as f64)
                .map_err(|e| ApiError::engine(&e, idb.failure().as_ref()))
        })
        .map_err(JsValue::from)
    }
}

struct Importing {
    idb: IdbStore,
    /// The importer holds its own handle on the database.
    importer: Option<Importer>,
    /// The database did not exist before: delete it if the import fails.
    created: bool,
    _reservation: Reservation,
}

/// An import in progress into a new store: `begin`, `feed` pieces,
/// `finish` (see `Moonvault.import`).
#[wasm_bindgen]
pub struct RawImport {
    state: Rc<RefCell<Option<Importing>>>,
    name: String,
}

async fn begin(name: String, trust: bool) -> ApiResult<RawImport> {
    crate::init();
    let idb = IdbStore::open(&name, IdbOptions::default())
        .await
        .map_err(|e| ApiError::store(&e))?;
    let reservation = match Reservation::take(0, budget::IMPORT_OVERHEAD) {
        Ok(r) => r,
        Err(m) => {
            let _ = idb.close().await;
            return Err(ApiError::new(Kind::Memory, m));
        }
    };
    let created = idb.stats().blobs.iter().all(|&n| n == 0);
    let importer = Db::open(
        Box::new(idb.clone()),
        budget::engine_options_with_cache(budget::IMPORT_PAGE_CACHE),
    )
    .and_then(|db| Importer::new(&db));
    let importer = match importer {
        Ok(mut i) => {
            // One entry is buffered whole and then written: no larger than
            // a value that may cross into the module at all.
            i.limit_values(crate::convert::budget::INPUT_LIMIT);
            // The store is opened trusted by default, so bytecode (which
            // Lua does not verify) is imported only by explicit choice, as
            // with `moonvault import --trust`.
            if !trust {
                i.check_functions(moonvault_lua_bind::function::source_only_import());
            }
            i
        }
        Err(e) => {
            let err = ApiError::engine(&e, idb.failure().as_ref());
            let _ = idb.close().await;
            return Err(err);
        }
    };
    Ok(RawImport {
        state: Rc::new(RefCell::new(Some(Importing {
            idb,
            importer: Some(importer),
            created,
            _reservation: reservation,
        }))),
        name,
    })
}

impl RawImport {
    async fn abandon(state: Option<Importing>, name: &str) {
        if let Some(mut s) = state {
            drop(s.importer.take());
            let _ = s.idb.close().await;
            if s.created {
                let _ = IdbStore::delete(name).await;
            }
        }
    }
}

#[wasm_bindgen]
impl RawImport {
    /// Starts importing into store `name`, which must be new or empty.
    /// Unless `trust` is true, a function stored as Lua bytecode fails the
    /// import (naming it; nothing is imported): only source functions
    /// come in from a file one does not trust.
    pub async fn begin(name: String, trust: Option<bool>) -> Result<RawImport, JsValue> {
        begin(name, trust == Some(true))
            .await
            .map_err(JsValue::from)
    }

    /// The export is `len` bytes long (known for bytes and Blobs): an
    /// entry claiming more than the rest of the file fails at once.
    #[wasm_bindgen(js_name = expectLength)]
    pub fn expect_length(&self, len: f64) -> Result<(), JsValue> {
        let mut state = self
            .state
            .try_borrow_mut()
            .map_err(|_| ApiError::invalid("import: busy"))?;
        if let Some(importer) = state.as_mut().and_then(|s| s.importer.as_mut()) {
            if len.is_finite() && len >= 0.0 {
                importer.expect_len(len as u64);
            }
        }
        Ok(())
    }

    /// Consumes the next bytes of the export (any piece size; they are
    /// copied into the module a chunk at a time).
    pub fn feed(&self, bytes: &Uint8Array) -> Result<(), JsValue> {
        let mut state = self
            .state
            .try_borrow_mut()
            .map_err(|_| ApiError::invalid("import: busy"))?;
        let Some(s) = state.as_mut() else {
            return Err(ApiError::invalid("import: already finished or abandoned").into());
        };
        let Some(importer) = s.importer.as_mut() else {
            return Err(ApiError::invalid("import: already finished").into());
        };
        let len = bytes.length();
        let mut at = 0;
        while at < len {
            let end = (at + IO_CHUNK as u32).min(len);
            let piece = bytes.subarray(at, end).to_vec();
            if let Err(e) = importer.feed(&piece) {
                let err = ApiError::engine(&e, s.idb.failure().as_ref());
                return Err(err.into());
            }
            at = end;
        }
        Ok(())
    }

    /// Verifies the trailer and checksum, commits, waits until the store
    /// is durable and closes it. Resolves to the number of entries. On any
    /// error nothing is imported (a store created by this import is
    /// deleted again).
    pub fn finish(&self) -> Promise {
        let taken = match self.state.try_borrow_mut() {
            Ok(mut s) => s.take(),
            Err(_) => return Promise::reject(&ApiError::invalid("import: busy").into()),
        };
        let name = self.name.clone();
        future_to_promise(async move {
            let Some(mut s) = taken else {
                return Err(ApiError::invalid("import: already finished or abandoned").into());
            };
            let result = match s.importer.take() {
                Some(importer) => importer
                    .finish()
                    .map_err(|e| ApiError::engine(&e, s.idb.failure().as_ref())),
                None => Err(ApiError::invalid("import: already finished")),
            };
            let flushed = match &result {
                Ok(_) => s.idb.flush().await.map_err(|e| ApiError::store(&e)),
                Err(_) => Ok(()),
            };
            match result.and_then(|n| flushed.map(|()| n)) {
                Ok(n) => {
                    let closed = s.idb.close().await;
                    closed.map_err(|e| JsValue::from(ApiError::store(&e)))?;
                    Ok(JsValue::from_f64(n as f64))
                }
                Err(e) => {
                    RawImport::abandon(Some(s), &name).await;
                    Err(e.into())
                }
            }
        })
    }

    /// Gives up: nothing is imported.
    pub fn abort(&self) -> Promise {
        let taken = match self.state.try_borrow_mut() {
            Ok(mut s) => s.take(),
            Err(_) => None,
        };
        let name = self.name.clone();
        future_to_promise(async move {
            RawImport::abandon(taken, &name).await;
            Ok(JsValue::UNDEFINED)
        })
    }
}
