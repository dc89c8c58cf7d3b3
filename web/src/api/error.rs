//! Errors thrown to JavaScript.
//!
//! Every failure reaches JS as an `Error` subclass (defined in
//! `js/errors.js`, registered with [`set_error_factory`] when the package
//! loads) chosen by its [`Kind`], with the Lua message and traceback where
//! there are some. Without a factory (the raw module used directly) it is
//! a plain `Error` with the same `kind`, `luaMessage`, `traceback` and
//! `path` properties.

use std::cell::RefCell;

use js_sys::{Function, Object, Reflect};
use moonvault_engine::EngineError;
use moonvault_lua_bind::VaultError;
use moonvault_pager::store::StoreError;
use moonvault_pager::PagerError;
use wasm_bindgen::prelude::*;

use crate::idb::Failure;

/// Which `Error` subclass a failure becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A Lua error raised by a chunk (`LuaError`).
    Lua,
    /// A value that cannot cross between JS and Lua (`ConversionError`).
    Conversion,
    /// The store is open elsewhere (`LockedError`).
    Locked,
    /// IndexedDB refused a write for lack of space (`QuotaExceededError`).
    Quota,
    /// The store failed and must be reopened, or was closed (`StoreError`).
    Store,
    /// A schema, unique-index or index-definition conflict
    /// (`ConstraintError`).
    Constraint,
    /// A bad argument: path, option, query (`InvalidArgumentError`).
    Invalid,
    /// The module's memory budget cannot take another store
    /// (`MemoryBudgetError`).
    Memory,
    /// A chunk ran past a limit or was aborted; it was rolled back
    /// (`LimitError`, whose `limit` says which).
    Limit,
}

impl Kind {
    /// The `kind` property.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lua => "lua",
            Kind::Conversion => "conversion",
            Kind::Locked => "locked",
            Kind::Quota => "quota",
            Kind::Store => "store",
            Kind::Constraint => "constraint",
            Kind::Invalid => "invalid",
            Kind::Memory => "memory",
            Kind::Limit => "limit",
        }
    }
}

/// A failure on its way to JS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// Which subclass.
    pub kind: Kind,
    /// The message (for Lua errors, the Lua message).
    pub message: String,
    /// Lua's stack traceback.
    pub traceback: Option<String>,
    /// Where a conversion failed (`users[3].tags`).
    pub path: Option<String>,
    /// Which limit stopped a chunk: `timeout`, `instructions`, `aborted`.
    pub limit: Option<&'static str>,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: Kind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            traceback: None,
            path: None,
            limit: None,
        }
    }

    /// A bad argument.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(Kind::Invalid, message)
    }

    /// A value that cannot be converted, at `path`.
    pub fn conversion(path: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            kind: Kind::Conversion,
            message: if path.is_empty() {
                message
            } else {
                format!("{path}: {message}")
            },
            traceback: None,
            path: Some(path.to_string()),
            limit: None,
        }
    }

    /// An engine error; `failure` is the IndexedDB store's, if it stopped
    /// (a poisoned engine error then says why, and quota wins).
    pub fn engine(e: &EngineError, failure: Option<&Failure>) -> ApiError {
        if let Some(f) = failure {
            if is_store_failure(e) {
                return ApiError::failure(f);
            }
        }
        ApiError::new(engine_kind(e), e.to_string())
    }

    /// A vault error (see [`ApiError::engine`] for `failure`).
    pub fn vault(e: &VaultError, failure: Option<&Failure>) -> ApiError {
        match e {
            VaultError::Lua { message, traceback } => ApiError {
                kind: Kind::Lua,
                message: message.clone(),
                traceback: traceback.clone(),
                path: None,
                limit: None,
            },
            VaultError::Limit { kind, .. } => ApiError {
                limit: Some(kind.name()),
                ..ApiError::new(Kind::Limit, e.to_string())
            },
            VaultError::Commit(inner) => match failure {
                Some(f) if is_store_failure(inner) => ApiError::failure(f),
                _ => {
                    let mut out = ApiError::engine(inner, None);
                    out.message = e.to_string();
                    out
                }
            },
            VaultError::Engine(inner) => ApiError::engine(inner, failure),
            other => ApiError::new(Kind::Lua, other.to_string()),
        }
    }

    /// The failure that stopped an IndexedDB store, in words for the user.
    pub fn failure(f: &Failure) -> ApiError {
        if f.quota {
            ApiError::new(
                Kind::Quota,
                format!(
                    "IndexedDB refused a write for lack of space ({}); the commits after the last \
                     acknowledged one are lost. Free storage space, then reopen the store: it \
                     holds its last durable state",
                    f.detail
                ),
            )
        } else {
            ApiError::new(
                Kind::Store,
                format!(
                    "an IndexedDB transaction failed ({}); the commits after the last \
                     acknowledged one are lost. Reopen the store: it holds its last durable state",
                    f.detail
                ),
            )
        }
    }

    /// A store error at open, delete or flush.
    pub fn store(e: &StoreError) -> ApiError {
        let kind = match e {
            StoreError::Locked { .. } => Kind::Locked,
            StoreError::QuotaExceeded { .. } => Kind::Quota,
            StoreError::Poisoned { detail } if detail.contains("lack of space") => Kind::Quota,
            _ => Kind::Store,
        };
        ApiError::new(kind, e.to_string())
    }

    /// The JS value to throw.
    pub fn to_js(&self) -> JsValue {
        let extra = Object::new();
        let set = |k: &str, v: &JsValue| {
            let _ = Reflect::set(&extra, &k.into(), v);
        };
        set("kind", &self.kind.name().into());
        if self.kind == Kind::Lua {
            set("luaMessage", &self.message.as_str().into());
        }
        if let Some(tb) = &self.traceback {
            set("traceback", &tb.as_str().into());
        }
        if let Some(p) = &self.path {
            set("path", &p.as_str().into());
        }
        if let Some(l) = self.limit {
            set("limit", &l.into());
        }
        let factory = FACTORY.with(|f| f.borrow().clone());
        if let Some(factory) = factory {
            if let Ok(e) = factory.call3(
                &JsValue::NULL,
                &self.kind.name().into(),
                &self.message.as_str().into(),
                &extra,
            ) {
                return e;
            }
        }
        let e = js_sys::Error::new(&self.message);
        let _ = Object::assign(&e, &extra);
        e.into()
    }
}

impl From<ApiError> for JsValue {
    fn from(e: ApiError) -> JsValue {
        e.to_js()
    }
}

/// Whether `e` comes from the store (so the store's own failure explains
/// it better).
fn is_store_failure(e: &EngineError) -> bool {
    match e {
        EngineError::Pager(PagerError::Store(_) | PagerError::Poisoned(_)) => true,
        EngineError::Poisoned(_) => true,
        EngineError::BatchFailed { source, .. } | EngineError::MigrationFailed { source, .. } => {
            is_store_failure(source)
        }
        _ => false,
    }
}

fn engine_kind(e: &EngineError) -> Kind {
    match e {
        EngineError::Pager(PagerError::Store(s)) => ApiError::store(s).kind,
        EngineError::SchemaViolation(_)
        | EngineError::UniqueViolation(_)
        | EngineError::IndexExists { .. } => Kind::Constraint,
        EngineError::BatchFailed { source, .. } | EngineError::MigrationFailed { source, .. } => {
            engine_kind(source)
        }
        EngineError::InvalidArgument(_)
        | EngineError::ImportRefused { .. }
        | EngineError::InvalidKey(_)
        | EngineError::KeyTooLong { .. }
        | EngineError::NotATable { .. }
        | EngineError::NoSuchTable { .. }
        | EngineError::SortTooLarge { .. }
        | EngineError::WriterActive
        | EngineError::BusyWithWriter(_) => Kind::Invalid,
        EngineError::Callback(_) => Kind::Lua,
        _ => Kind::Store,
    }
}

thread_local! {
    static FACTORY: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Registers `factory(kind, message, extra)`, which returns the `Error` to
/// throw (the package entry passes one building its subclasses).
#[wasm_bindgen(js_name = setErrorFactory)]
pub fn set_error_factory(factory: Option<Function>) {
    FACTORY.with(|f| *f.borrow_mut() = factory);
}

/// Shorthand for API results.
pub type ApiResult<T> = Result<T, ApiError>;
