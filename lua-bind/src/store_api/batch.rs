//! `store.batch(ops)`: set/delete operations applied atomically.
//!
//! ```lua
//! store.batch({
//!   {op = "set", path = "users.u1", value = {name = "Ann"}},
//!   {op = "delete", path = "users.u0"},
//!   {op = "set", path = {"scores", 2024}, value = 10},   -- non-string keys
//! })
//! ```
//!
//! `path` names the entry: its last element is the key, the rest the table
//! (created as needed by a set; a delete under a missing table does
//! nothing). Every operation is converted first (a bad value fails the
//! batch before anything is written), then all are applied in the chunk's
//! transaction from a savepoint: a failing operation rolls the batch back
//! whole, and the error names it.

use mlua::{Lua, Table, Value};
use moonvault_engine::batch::BatchOp;
use moonvault_engine::codec::Key;
use moonvault_engine::Input;

use super::path::{array_keys, parse_dotted};
use crate::chunk::Op;
use crate::convert::{to_input, Dest};
use crate::failure::Failure;
use crate::proxy::ProxyRef;
use crate::state::Shared;

fn field(t: &Table, name: &str) -> mlua::Result<Value> {
    t.raw_get(name)
}

/// The table path and key an operation's `path` names.
fn entry_path(shared: &Shared, v: &Value, what: &str) -> Result<(Vec<Key>, Key), Failure> {
    let mut keys = match v {
        Value::String(s) => {
            let s = s
                .to_str()
                .map_err(|_| format!("{what}: the path is not UTF-8"))?;
            parse_dotted(&s).map_err(|e| format!("{what}: {e}"))?
        }
        Value::Table(t) if shared.proxies.lookup_table(t) == ProxyRef::NotProxy => array_keys(t)?,
        other => {
            return Err(Failure::Message(format!(
                "{what}: path must be a string like \"users.u1\" or an array of keys, got {}",
                other.type_name()
            )))
        }
    };
    match keys.pop() {
        Some(key) => Ok((keys, key)),
        None => Err(Failure::Message(format!(
            "{what}: the path must name an entry below Memory"
        ))),
    }
}

/// Convert one operation table.
fn parse_op(lua: &Lua, shared: &Shared, i: usize, v: Value) -> Result<(BatchOp, usize), Failure> {
    let what = format!("store.batch: ops[{i}]");
    let Value::Table(t) = v else {
        return Err(Failure::Message(format!(
            "{what}: expected a table like {{op = \"set\", path = \"users.u1\", value = ...}}, got {}",
            v.type_name()
        )));
    };
    let op = match field(&t, "op")? {
        Value::String(s) => s.to_string_lossy(),
        _ => {
            return Err(Failure::Message(format!(
                "{what}: op must be \"set\" or \"delete\""
            )))
        }
    };
    let (path, key) = entry_path(shared, &field(&t, "path")?, &what)?;
    match op.as_str() {
        "set" => {
            let dest = Dest::Path {
                path: &path,
                key: &key,
            };
            let converted = to_input(lua, shared, dest, field(&t, "value")?)
                .map_err(|e| Failure::Message(format!("{what}: {}", e.message())))?;
            let bytes = converted.bytes;
            Ok((BatchOp::set(path, key, converted.input), bytes))
        }
        "delete" => Ok((BatchOp::set(path, key, Input::Nil), 64)),
        other => Err(Failure::Message(format!(
            "{what}: op must be \"set\" or \"delete\", got {other:?}"
        ))),
    }
}

/// `store.batch(ops)`: the number of operations applied.
pub(crate) fn batch(lua: &Lua, shared: &Shared, ops: Value) -> Result<usize, Failure> {
    let Value::Table(list) = ops else {
        return Err(Failure::Message(format!(
            "store.batch: expected an array of operations, got {}",
            ops.type_name()
        )));
    };
    let mut parsed = Vec::with_capacity(list.raw_len());
    for i in 1..=list.raw_len() {
        parsed.push(parse_op(lua, shared, i, list.raw_get(i)?)?);
    }
    let n = parsed.len();
    let mut tx = shared.tx()?;
    let sp = tx.savepoint();
    let mut failure = None;
    for (i, (op, bytes)) in parsed.into_iter().enumerate() {
        if let Err(e) = tx.write(Op::Apply(op), bytes) {
            failure = Some((i + 1, e));
            break;
        }
    }
    let result = match failure {
        None => Ok(n),
        Some((i, e)) => {
            let restored = tx.rollback_to(sp);
            let mut msg = format!(
                "store.batch: operation {i} (ops[{i}]) failed, nothing of the batch was applied: {e}"
            );
            if let Err(r) = restored {
                msg.push_str(&format!("; {r}"));
            }
            Err(Failure::Message(msg))
        }
    };
    drop(tx);
    shared.sync()?;
    result
}
