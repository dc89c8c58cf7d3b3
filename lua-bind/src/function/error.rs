//! Errors of the function codec.
//!
//! They reach Lua wrapped in [`mlua::Error::ExternalError`]; the Rust side
//! can recover them with `downcast_ref::<FunctionError>()`. The caller
//! (the external-table layer) prefixes them with the key path being
//! stored or read, so the messages here say *what* inside the function.

/// What went wrong while persisting or restoring a function.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FunctionError {
    /// A C function that is not part of the loaded standard library: it
    /// cannot be restored by name in another VM.
    #[error(
        "cannot store {name}{at}: only Lua functions and functions of the \
         standard library can be persisted"
    )]
    ForeignCFunction {
        /// The function's global name if it has one (`"store.commit"`),
        /// else a description with its address.
        name: String,
        /// Where inside the stored function it was found (`""` when it is
        /// the stored value itself, else `" (upvalue `x` of ...)"`).
        at: String,
    },
    /// A value of a type that has no stored form (thread, userdata that is
    /// not an external table, light userdata).
    #[error("cannot store a {type_name}{at}: functions may capture only nil, booleans, numbers, strings, tables and functions")]
    Unpersistable {
        /// Lua's type name of the value.
        type_name: &'static str,
        /// Where inside the stored function it was found.
        at: String,
    },
    /// The store is opened as untrusted and the record holds bytecode.
    #[error(
        "refusing to load stored bytecode: this store is opened as untrusted; \
         only functions stored as source text (store.fn) can be loaded. Reopen \
         the store as trusted if you trust whoever wrote it"
    )]
    UntrustedBytecode,
    /// The store is opened as untrusted and a table stored with the
    /// function has a metatable holding a function under a `__` key: code
    /// that would run when the value is merely used (or collected).
    #[error(
        "refusing to load a stored function: a table it captures has a metatable \
         whose `{field}` is a function, and this store is opened as untrusted, where \
         stored metatables may hold data only (a metamethod runs without being called). \
         Reopen the store as trusted if you trust whoever wrote it"
    )]
    UntrustedMetamethod {
        /// The metatable field (`"__gc"`, `"__index"`, ...).
        field: String,
    },
    /// A stored record names a standard-library function or table that
    /// this VM does not provide.
    #[error(
        "stored function refers to `{name}`, which this VM's standard library does not provide"
    )]
    UnknownNative {
        /// The stored name.
        name: String,
    },
    /// The value handed to `decode` is not a function record.
    #[error("expected a stored function, found a {type_name}")]
    NotAFunction {
        /// The engine value's type name.
        type_name: &'static str,
    },
    /// The payload does not follow the format (damaged or crafted). Nothing
    /// was loaded.
    #[error("corrupted function record at byte {offset}: {detail}")]
    Corrupted {
        /// Byte offset in the payload where the check failed.
        offset: usize,
        /// What did not check out.
        detail: String,
    },
}

impl FunctionError {
    /// Shorthand for [`FunctionError::Corrupted`].
    pub(crate) fn corrupted(offset: usize, detail: impl Into<String>) -> Self {
        FunctionError::Corrupted {
            offset,
            detail: detail.into(),
        }
    }
}

impl From<FunctionError> for mlua::Error {
    fn from(e: FunctionError) -> Self {
        mlua::Error::external(e)
    }
}
