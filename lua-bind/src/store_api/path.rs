//! Path arguments of the `store` functions: which table (`"users"`,
//! `"a.b"`, an array of keys `{"scores", 2024}`, or an external table) and
//! which field inside records (`"age"`, `"profile.city"`, `{"tags", 1}`).

use mlua::{Table, Value};
use moonvault_engine::codec::Key;
use moonvault_engine::table::{FieldPath, TableRead};
use moonvault_engine::{TableId, ROOT};

use crate::chunk::{Op, OpResult};
use crate::failure::Failure;
use crate::keys::write_key;
use crate::proxy::{ProxyRef, DEAD_MESSAGE};
use crate::state::Shared;

/// A table named by a `store` argument.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Target {
    /// Keys below `Memory` (`[]` is `Memory`).
    Path(Vec<Key>),
    /// An external table.
    Table(TableId),
}

/// Dotted names: `"users.active"`; `""` is `Memory` itself.
pub(crate) fn parse_dotted(s: &str) -> Result<Vec<Key>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    if s.split('.').any(str::is_empty) {
        return Err(format!(
            "invalid path {s:?}: use dotted names like \"users\" or \"users.active\""
        ));
    }
    Ok(s.split('.').map(Key::from).collect())
}

/// The keys of a Lua array `{k1, k2, ...}`.
pub(crate) fn array_keys(t: &Table) -> Result<Vec<Key>, Failure> {
    let mut keys = Vec::new();
    for i in 1..=t.raw_len() {
        let v: Value = t.raw_get(i)?;
        keys.push(write_key(&v).map_err(|e| format!("path element {i}: {e}"))?);
    }
    Ok(keys)
}

/// The table argument `v` of function `what`.
pub(crate) fn target_arg(shared: &Shared, v: &Value, what: &str) -> Result<Target, Failure> {
    match v {
        Value::String(s) => {
            let s = s
                .to_str()
                .map_err(|_| format!("{what}: the path is not UTF-8"))?;
            Ok(Target::Path(
                parse_dotted(&s).map_err(|e| format!("{what}: {e}"))?,
            ))
        }
        Value::Table(t) => match shared.proxies.lookup_table(t) {
            ProxyRef::Live(id) => Ok(Target::Table(id)),
            ProxyRef::Dead => Err(Failure::Message(format!("{what}: {DEAD_MESSAGE}"))),
            ProxyRef::NotProxy => Ok(Target::Path(array_keys(t)?)),
        },
        other => Err(Failure::Message(format!(
            "{what}: expected a path (\"users\", \"users.active\", an array of keys, or a table \
             of Memory), got {}",
            other.type_name()
        ))),
    }
}

/// The field argument `v` of function `what`.
pub(crate) fn field_arg(v: &Value, what: &str) -> Result<FieldPath, Failure> {
    let field = match v {
        Value::String(s) => {
            let s = s
                .to_str()
                .map_err(|_| format!("{what}: the field is not UTF-8"))?;
            FieldPath::parse(&s)
        }
        Value::Table(t) => FieldPath::new(array_keys(t)?),
        other => {
            return Err(Failure::Message(format!(
                "{what}: expected a field name (\"age\", \"profile.city\", or an array of keys), \
                 got {}",
                other.type_name()
            )))
        }
    };
    field.map_err(|e| Failure::Message(format!("{what}: {e}")))
}

/// The table `target` names, if it exists (reads the open transaction).
pub(crate) fn existing_table(shared: &Shared, target: &Target) -> Result<Option<TableId>, Failure> {
    let mut tx = shared.tx()?;
    Ok(tx.read(|tx| match target {
        Target::Path(path) => tx.lookup(path),
        Target::Table(id) => Ok(tx.table_exists(*id)?.then_some(*id)),
    })?)
}

/// The table `target` names, created (empty, with missing parents) when
/// a path does not exist yet.
pub(crate) fn ensure_table(shared: &Shared, target: &Target) -> Result<TableId, Failure> {
    if let Some(id) = existing_table(shared, target)? {
        return Ok(id);
    }
    match target {
        Target::Table(_) => Err(Failure::Message(DEAD_MESSAGE.into())),
        Target::Path(path) => {
            let result = shared.tx()?.write(Op::EnsurePath(path.clone()), 64);
            shared.sync()?;
            match result? {
                OpResult::Table(id) => Ok(id),
                _ => Ok(ROOT),
            }
        }
    }
}

/// A scalar Lua value as a comparison operand (query conditions, enums).
pub(crate) fn operand(v: &Value, what: &str) -> Result<Key, Failure> {
    match v {
        Value::Boolean(_) | Value::Integer(_) | Value::Number(_) | Value::String(_) => {
            write_key(v).map_err(|e| Failure::Message(format!("{what}: {e}")))
        }
        other => Err(Failure::Message(format!(
            "{what}: expected a boolean, number or string, got {}",
            other.type_name()
        ))),
    }
}
