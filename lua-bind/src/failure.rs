//! Failures of binding operations and how they reach Lua: every raw
//! function replies `true, results...` or `false, message`, and the prelude
//! raises the message at the script's position (plain Lua's errors).

use mlua::{Lua, MultiValue, Value};
use moonvault_engine::EngineError;

/// Why a binding operation failed; becomes a Lua error message.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The engine refused or failed.
    Engine(EngineError),
    /// A Lua operation failed (including running out of memory).
    Lua(mlua::Error),
    /// A message of this layer.
    Message(String),
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure::Engine(e)
    }
}

impl From<mlua::Error> for Failure {
    fn from(e: mlua::Error) -> Self {
        Failure::Lua(e)
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Message(s)
    }
}

impl Failure {
    /// The message a script sees.
    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Engine(e) => e.to_string(),
            Failure::Lua(e) => lua_error_message(e),
            Failure::Message(m) => m.clone(),
        }
    }
}

/// The reply of a raw function to the Lua prelude: `true, results...` or
/// `false, message`. The prelude raises the message with the script's
/// position, so scripts see plain string errors, as with plain tables.
pub(crate) fn reply(lua: &Lua, result: Result<MultiValue, Failure>) -> mlua::Result<MultiValue> {
    match result {
        Ok(mut values) => {
            values.push_front(Value::Boolean(true));
            Ok(values)
        }
        Err(f) => Ok(MultiValue::from_vec(vec![
            Value::Boolean(false),
            Value::String(lua.create_string(f.message())?),
        ])),
    }
}

/// One value as raw-function results.
pub(crate) fn one(v: Value) -> MultiValue {
    MultiValue::from_vec(vec![v])
}

/// The message of a Lua error without mlua's decoration ("runtime
/// error: ", the Rust-side traceback).
pub(crate) fn lua_error_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(s) => strip_traceback(s).to_string(),
        mlua::Error::MemoryError(_) => "not enough memory".to_string(),
        mlua::Error::SyntaxError { message, .. } => strip_traceback(message).to_string(),
        mlua::Error::CallbackError { cause, .. } => lua_error_message(cause),
        mlua::Error::WithContext { context, cause } => {
            format!("{context}: {}", lua_error_message(cause))
        }
        other => other.to_string(),
    }
}

/// `s` up to Lua's "stack traceback:" section.
pub(crate) fn strip_traceback(s: &str) -> &str {
    match s.find("\nstack traceback:") {
        Some(i) => &s[..i],
        None => s,
    }
}
