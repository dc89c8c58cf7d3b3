//! Whether a store's functions may be loaded from bytecode.
//!
//! Lua's bytecode loader does not verify what it loads: crafted bytecode
//! can read and write arbitrary memory. Checksums only catch damage, not
//! intent, so a store written by someone else is opened as
//! [`Trust::Untrusted`] and then no stored bytecode ever reaches `load`.
//! Functions stored as source text (`store.fn`) are compiled by the
//! parser (mode "t"), which is safe on any input, so they load under
//! both levels.

use super::error::FunctionError;
use super::payload::CodeKind;

/// Trust level of a store's functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// The store was written by trusted code: bytecode is loaded (mode
    /// "b"; the payload structure and checksums are still verified).
    Trusted,
    /// The store may hold crafted records: bytecode is refused, source
    /// text is compiled with mode "t".
    Untrusted,
}

impl Trust {
    /// Whether code of `kind` may be loaded; the error explains the refusal.
    pub(crate) fn allows(self, kind: CodeKind) -> Result<(), FunctionError> {
        match (self, kind) {
            (_, CodeKind::Source) | (Trust::Trusted, CodeKind::Bytecode) => Ok(()),
            (Trust::Untrusted, CodeKind::Bytecode) => Err(FunctionError::UntrustedBytecode),
        }
    }

    /// The `load` mode for code of `kind` (call after [`Trust::allows`]).
    pub(crate) fn mode(kind: CodeKind) -> mlua::chunk::ChunkMode {
        match kind {
            CodeKind::Bytecode => mlua::chunk::ChunkMode::Binary,
            CodeKind::Source => mlua::chunk::ChunkMode::Text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_refuses_only_bytecode() {
        assert!(Trust::Trusted.allows(CodeKind::Bytecode).is_ok());
        assert!(Trust::Trusted.allows(CodeKind::Source).is_ok());
        assert!(Trust::Untrusted.allows(CodeKind::Source).is_ok());
        assert_eq!(
            Trust::Untrusted.allows(CodeKind::Bytecode),
            Err(FunctionError::UntrustedBytecode)
        );
    }
}
