//! Errors of the codec: damaged stored bytes, and keys Lua would refuse.

/// What went wrong while encoding a key or decoding stored bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Stored bytes are not a valid encoding (truncated, unknown tag,
    /// non-canonical form, failed checksum). The record holding them is
    /// damaged; run `moonvault check` and restore from an export if it
    /// persists.
    #[error("corrupted {what}: {detail}")]
    Corrupted {
        /// Which encoding was damaged (`"key"`, `"value"`, `"varint"`...).
        what: &'static str,
        /// What exactly did not check out.
        detail: String,
    },
    /// The value cannot be a table key, with Lua's wording (for example
    /// "table index is NaN").
    #[error("{0}")]
    InvalidKey(String),
}

impl CodecError {
    /// Shorthand for a [`CodecError::Corrupted`] error.
    pub fn corrupted(what: &'static str, detail: impl Into<String>) -> Self {
        CodecError::Corrupted {
            what,
            detail: detail.into(),
        }
    }
}

/// Shorthand for codec results.
pub type Result<T> = std::result::Result<T, CodecError>;
