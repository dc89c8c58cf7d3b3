//! The metamethods of external tables: raw Rust functions behind the Lua
//! wrappers of `meta.lua`.

use std::rc::Rc;

use mlua::{Function, Lua, Table, Value};
use moonvault_engine::codec::{Key, Stored, Value as EValue};
use moonvault_engine::table::{FieldRead, TableRead};
use moonvault_engine::{EngineError, TableId, Txn, ROOT};

use super::{ProxyRef, DEAD_MESSAGE};
use crate::chunk::Op;
use crate::convert::{plain_copy, to_input, value_to_lua, Dest};
use crate::failure::Failure;
use crate::keys::{key_to_lua, path_name, read_key, write_key};
use crate::state::Shared;

/// The table id behind proxy `t`.
pub(crate) fn live_id(shared: &Shared, t: &Table) -> Result<TableId, Failure> {
    match shared.proxies.lookup_table(t) {
        ProxyRef::Live(id) => Ok(id),
        ProxyRef::Dead => Err(Failure::Message(DEAD_MESSAGE.into())),
        ProxyRef::NotProxy => Err(Failure::Message("not an external table".into())),
    }
}

/// `t[k]`.
fn index(lua: &Lua, shared: &Shared, t: &Table, k: &Value) -> Result<Value, Failure> {
    let id = live_id(shared, t)?;
    let Some(key) = read_key(k) else {
        return Ok(Value::Nil);
    };
    let (read, version) = {
        let mut tx = shared.tx()?;
        let read = tx.read(|tx| {
            let read = tx.read_field(id, &key)?;
            if read == FieldRead::Entry(None) {
                still_there(tx, id)?;
            }
            Ok(read)
        })?;
        (read, tx.version())
    };
    let cache = &shared.read_cache;
    Ok(match read {
        FieldRead::Entry(Some(v)) => {
            let value =
                stored_to_lua(lua, shared, v, version).map_err(|e| at(shared, id, &key, e))?;
            cache.put(lua, version, t, k, &value);
            value
        }
        FieldRead::Entry(None) => Value::Nil,
        FieldRead::Packed(record) => {
            // `t` is a packed record, read whole: cache all its fields.
            cache.put_record(lua, version, t, &record);
            match record.get(&key) {
                Some(v) => value_to_lua(lua, shared, v.clone())?,
                None => Value::Nil,
            }
        }
    })
}

/// A value read at transaction-state `version` as Lua: a packed record
/// becomes its proxy, with its fields cached (it came whole).
pub(crate) fn stored_to_lua(
    lua: &Lua,
    shared: &Shared,
    v: Stored,
    version: u64,
) -> Result<Value, Failure> {
    match v {
        Stored::Record(record) => {
            let proxy = shared.proxies.get(lua, record.id)?;
            shared.read_cache.put_record(lua, version, &proxy, &record);
            Ok(Value::Table(proxy))
        }
        Stored::Value(v) => value_to_lua(lua, shared, v),
    }
}

/// An error unless table `id` exists. Checked when a read finds nothing
/// (the only thing a read of a deleted table can find), so reading
/// through the proxy of a deleted table fails instead of looking empty,
/// at no cost to reads that find a value.
fn still_there(tx: &Txn, id: TableId) -> Result<(), EngineError> {
    if id == ROOT || tx.table_exists(id)? {
        Ok(())
    } else {
        Err(EngineError::InvalidArgument(DEAD_MESSAGE.into()))
    }
}

/// `e`, prefixed with the path of `table[key]`.
fn at(shared: &Shared, table: TableId, key: &Key, e: Failure) -> Failure {
    let path = shared
        .tx()
        .ok()
        .and_then(|mut tx| tx.read(|tx| tx.table_path(table)).ok());
    match path {
        Some(mut p) => {
            p.push(key.clone());
            Failure::Message(format!("{}: {}", path_name(&p), e.message()))
        }
        None => e,
    }
}

/// `t[k] = v`.
fn newindex(lua: &Lua, shared: &Shared, t: &Table, k: &Value, v: Value) -> Result<(), Failure> {
    let id = live_id(shared, t)?;
    let key = write_key(k)?;
    if is_self_assignment(shared, id, &key, &v)? {
        return Ok(());
    }
    let converted = to_input(
        lua,
        shared,
        Dest::Entry {
            table: id,
            key: &key,
        },
        v,
    )?;
    let op = Op::Set {
        table: id,
        key,
        input: converted.input,
    };
    let result = shared.tx()?.write(op, converted.bytes);
    // A write that failed midway was undone by a replay: revalidate.
    shared.sync()?;
    result?;
    Ok(())
}

/// Whether `t[key] = v` assigns the external table already stored at
/// `t[key]` (`Memory.users = Memory.users or {}`): its content is already
/// exactly itself, so the assignment changes nothing, and copying the
/// whole table to rewrite it in place would cost time and memory that
/// grow with the table.
fn is_self_assignment(
    shared: &Shared,
    table: TableId,
    key: &Key,
    v: &Value,
) -> Result<bool, Failure> {
    let Value::Table(assigned) = v else {
        return Ok(false);
    };
    let ProxyRef::Live(assigned) = shared.proxies.lookup_table(assigned) else {
        return Ok(false);
    };
    let current = shared.tx()?.read(|tx| tx.get(table, key))?;
    Ok(current == Some(EValue::Table(assigned)))
}

/// `#t`: a border.
fn len(shared: &Shared, t: &Table) -> Result<Value, Failure> {
    let id = live_id(shared, t)?;
    let n = shared.tx()?.read(|tx| {
        let n = tx.border(id)?;
        if n == 0 {
            still_there(tx, id)?;
        }
        Ok(n)
    })?;
    Ok(Value::Integer(n))
}

/// `next(t, k)` in key order.
fn next(lua: &Lua, shared: &Shared, t: &Table, k: &Value) -> Result<(Value, Value), Failure> {
    let id = live_id(shared, t)?;
    let after = match k {
        Value::Nil => None,
        other => Some(read_key(other).ok_or_else(|| {
            Failure::Message(format!("invalid key to 'next' ({})", other.type_name()))
        })?),
    };
    let entry = shared.tx.borrow_mut().read(|tx| {
        let entry = tx.next(id, after.as_ref())?;
        if entry.is_none() {
            still_there(tx, id)?;
        }
        Ok(entry)
    })?;
    Ok(match entry {
        Some((k, v)) => {
            let v = value_to_lua(lua, shared, v).map_err(|e| at(shared, id, &k, e))?;
            (key_to_lua(lua, &k)?, v)
        }
        None => (Value::Nil, Value::Nil),
    })
}

/// Fill the proxy metatable, set `Memory`, and make `next` see external
/// tables.
/// Move the entries `first..=last` of list `t` by `delta` keys (what
/// `table.insert` and `table.remove` do to the elements after `pos`).
fn shift(shared: &Shared, t: &Table, first: i64, last: i64, delta: i64) -> Result<Value, Failure> {
    let id = live_id(shared, t)?;
    let mut moves = Vec::new();
    for k in first..=last {
        let to = k
            .checked_add(delta)
            .ok_or_else(|| Failure::Message("position out of bounds".into()))?;
        moves.push((Key::Int(k), Key::Int(to)));
    }
    let bytes = moves.len() * 48;
    let result = shared.tx()?.write(Op::Move { table: id, moves }, bytes);
    shared.sync()?;
    result?;
    Ok(Value::Nil)
}

/// Reorder list `t`: the element at `order[i]` moves to `i`.
fn permute(shared: &Shared, t: &Table, order: &Table) -> Result<Value, Failure> {
    let id = live_id(shared, t)?;
    let mut moves = Vec::new();
    for i in 1..=order.raw_len() {
        let from: i64 = order.raw_get(i)?;
        if from != i as i64 {
            moves.push((Key::Int(from), Key::Int(i as i64)));
        }
    }
    let bytes = moves.len() * 48;
    let result = shared.tx()?.write(Op::Move { table: id, moves }, bytes);
    shared.sync()?;
    result?;
    Ok(Value::Nil)
}

/// `t[k]`, with a stored table as a plain copy (for `table.remove`: the
/// element is about to leave the store).
fn detach(lua: &Lua, shared: &Shared, t: &Table, k: &Value) -> Result<Value, Failure> {
    match index(lua, shared, t, k)? {
        Value::Table(p) => match shared.proxies.lookup_table(&p) {
            ProxyRef::Live(child) => Ok(Value::Table(plain_copy(lua, shared, child)?)),
            _ => Ok(Value::Table(p)),
        },
        other => Ok(other),
    }
}

/// The raw-function protocol of `meta.lua` for one result: `true, v` or
/// `false, message` (without allocating a `MultiValue` on the hot path).
fn reply1(lua: &Lua, r: Result<Value, Failure>) -> mlua::Result<(bool, Value)> {
    match r {
        Ok(v) => Ok((true, v)),
        Err(f) => Ok((false, Value::String(lua.create_string(f.message())?))),
    }
}

/// Fill the proxy metatable, set `Memory`, and make `next` see external
/// tables.
pub(crate) fn install(lua: &Lua, shared: &Rc<Shared>) -> mlua::Result<()> {
    let raw = lua.create_table()?;
    let s = Rc::clone(shared);
    raw.set(
        "index",
        lua.create_function(move |lua, (t, k): (Table, Value)| {
            reply1(lua, index(lua, &s, &t, &k))
        })?,
    )?;
    let s = Rc::clone(shared);
    raw.set(
        "newindex",
        lua.create_function(move |lua, (t, k, v): (Table, Value, Value)| {
            reply1(lua, newindex(lua, &s, &t, &k, v).map(|()| Value::Nil))
        })?,
    )?;
    let s = Rc::clone(shared);
    raw.set(
        "len",
        lua.create_function(move |lua, t: Table| reply1(lua, len(&s, &t)))?,
    )?;
    let s = Rc::clone(shared);
    raw.set(
        "next",
        lua.create_function(
            move |lua, (t, k): (Table, Value)| match next(lua, &s, &t, &k) {
                Ok((k, v)) => Ok((true, k, v)),
                Err(f) => Ok((
                    false,
                    Value::String(lua.create_string(f.message())?),
                    Value::Nil,
                )),
            },
        )?,
    )?;
    let s = Rc::clone(shared);
    raw.set(
        "shift",
        lua.create_function(
            move |lua, (t, first, last, delta): (Table, i64, i64, i64)| {
                reply1(lua, shift(&s, &t, first, last, delta))
            },
        )?,
    )?;
    let s = Rc::clone(shared);
    raw.set(
        "permute",
        lua.create_function(move |lua, (t, order): (Table, Table)| {
            reply1(lua, permute(&s, &t, &order))
        })?,
    )?;
    let s = Rc::clone(shared);
    raw.set(
        "detach",
        lua.create_function(move |lua, (t, k): (Table, Value)| {
            reply1(lua, detach(lua, &s, &t, &k))
        })?,
    )?;
    let globals = lua.globals();
    let table_lib: Table = globals.get("table")?;
    let originals = lua.create_table()?;
    originals.set("next", globals.get::<Function>("next")?)?;
    for name in ["insert", "remove", "sort"] {
        originals.set(name, table_lib.get::<Function>(name)?)?;
    }
    let (versions, plain, values_mt): (Table, Table, Table) = lua
        .load(include_str!("meta.lua"))
        .set_name("=moonvault.proxy")
        .call((shared.proxies.metatable.clone(), raw, originals))?;
    shared.read_cache.set_values_metatable(values_mt);
    globals.set("Memory", shared.proxies.get(lua, ROOT)?)?;
    let mt = &shared.proxies.metatable;
    let dispatcher = |name: &str, slot| -> mlua::Result<Function> {
        super::dispatch::make(lua, slot, mt, &versions.get(name)?, &plain.get(name)?)
    };
    use super::dispatch::Slot;
    globals.set("next", dispatcher("next", Slot::Next)?)?;
    for (name, slot) in [
        ("insert", Slot::Insert),
        ("remove", Slot::Remove),
        ("sort", Slot::Sort),
    ] {
        table_lib.set(name, dispatcher(name, slot)?)?;
    }
    Ok(())
}
