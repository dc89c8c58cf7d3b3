//! The Lua `store` global: transactions, batches, indexes, queries,
//! schemas, migrations, statistics and `store.fn`.
//!
//! | Lua | does |
//! |---|---|
//! | `store.commit()` | commit the chunk's changes so far, durably |
//! | `store.rollback()` | discard the changes since the last commit |
//! | `store.transaction(fn, ...)` | run `fn` atomically (savepoint); errors roll back and re-raise |
//! | `store.batch(ops)` | apply `{op=, path=, value=}` operations atomically ([`batch`]) |
//! | `store.index(path, field [, {unique=true}])` | create an index (the table is created if missing) |
//! | `store.drop_index(path, field)` | drop it; returns whether it existed |
//! | `store.query(path)` | a query ([`query`]) |
//! | `store.schema(path, schema)` | set (`nil`: remove) a table's schema ([`schema`]); `store.schema(path)` reads it |
//! | `store.migrate(version, steps)` | run `steps[v]` for each missing version, each committed with its bump |
//! | `store.version()` | the user schema version |
//! | `store.stats([path])` | store-wide figures, or one table's sizes ([`stats`]) |
//! | `store.fn(source)` | a function persisted as source text (loadable in untrusted stores) |
//!
//! `path` is a dotted path below `Memory` (`"users"`, `"app.users"`), an
//! array of keys (`{"scores", 2024}`), or an external table
//! (`Memory.users`); `field` a dotted path inside each record
//! (`"profile.city"`) or an array of keys.
//!
//! The functions here are raw: they answer `true, results...` or
//! `false, message`, and `prelude.lua` turns the latter into a Lua error at
//! the script's position.

pub(crate) mod batch;
pub(crate) mod path;
pub(crate) mod query;
pub(crate) mod schema;
pub(crate) mod stats;

use std::rc::Rc;

use mlua::{FromLuaMulti, Lua, MultiValue, Table, Value};
use moonvault_engine::Durability;

use crate::chunk::{Op, OpResult, Savepoint};
use crate::failure::{one, reply, Failure};
use crate::options::{Progress, ProgressPhase};
use crate::state::Shared;
use path::{ensure_table, existing_table, field_arg, target_arg};

/// Register raw function `name`.
fn add<A, F>(lua: &Lua, raw: &Table, shared: &Rc<Shared>, name: &str, f: F) -> mlua::Result<()>
where
    A: FromLuaMulti + 'static,
    F: Fn(&Lua, &Shared, A) -> Result<MultiValue, Failure> + 'static,
{
    let s = Rc::clone(shared);
    raw.set(
        name,
        lua.create_function(move |lua, args: A| {
            if s.proxies.is_closed() {
                // The VM is closing (a finalizer run by `lua_close`): no
                // mlua handle may be used any more (see `print.rs`).
                return reply(lua, Err(Failure::Message("the store is closed".into())));
            }
            reply(lua, f(lua, &s, args))
        })?,
    )
}

fn none() -> MultiValue {
    MultiValue::new()
}

fn commit(shared: &Shared) -> Result<MultiValue, Failure> {
    let result = shared.tx()?.commit(Some(Durability::Immediate));
    shared.sync()?;
    result?;
    Ok(none())
}

fn rollback(shared: &Shared) -> Result<MultiValue, Failure> {
    shared.tx()?.rollback();
    shared.sync()?;
    Ok(none())
}

fn savepoint(shared: &Shared) -> Result<MultiValue, Failure> {
    let (serial, ops) = shared.tx()?.savepoint().to_parts();
    Ok(MultiValue::from_vec(vec![
        Value::Integer(serial),
        Value::Integer(ops),
    ]))
}

fn rollback_to(shared: &Shared, (serial, ops): (i64, i64)) -> Result<MultiValue, Failure> {
    let result = shared.tx()?.rollback_to(Savepoint::from_parts(serial, ops));
    shared.sync()?;
    result?;
    Ok(none())
}

fn version(shared: &Shared) -> Result<MultiValue, Failure> {
    let v = shared
        .tx()?
        .read(moonvault_engine::table::TableRead::user_version)?;
    Ok(one(Value::Integer(v as i64)))
}

/// `raw.progress(done, total)`: a migration's progress, to the vault's sink.
fn migrate_progress(shared: &Shared, (done, total): (i64, i64)) -> Result<MultiValue, Failure> {
    if let Ok(mut sink) = shared.progress_sink.try_borrow_mut() {
        if let Some(sink) = sink.as_mut() {
            sink(Progress {
                phase: ProgressPhase::Migrate,
                done: done.max(0) as u64,
                total: total.max(0) as u64,
            });
        }
    }
    Ok(none())
}

fn set_version(shared: &Shared, v: Value) -> Result<MultiValue, Failure> {
    let Value::Integer(v) = v else {
        return Err(Failure::Message("the version must be an integer".into()));
    };
    let result = shared.tx()?.write(Op::SetUserVersion(v.max(0) as u64), 16);
    shared.sync()?;
    result?;
    Ok(none())
}

fn index(
    shared: &Shared,
    (path, field, opts): (Value, Value, Value),
) -> Result<MultiValue, Failure> {
    let target = target_arg(shared, &path, "store.index")?;
    let field = field_arg(&field, "store.index")?;
    let unique = match &opts {
        Value::Nil => false,
        Value::Table(t) => match t.raw_get::<Value>("unique")? {
            Value::Nil | Value::Boolean(false) => false,
            Value::Boolean(true) => true,
            _ => {
                return Err(Failure::Message(
                    "store.index: unique must be true or false".into(),
                ))
            }
        },
        other => {
            return Err(Failure::Message(format!(
                "store.index: options must be a table like {{unique = true}}, got {}",
                other.type_name()
            )))
        }
    };
    let table = ensure_table(shared, &target)?;
    let mut sink = shared.progress_sink.try_borrow_mut().ok();
    let reporting = matches!(sink.as_deref(), Some(Some(_)));
    let mut report = |done, total| {
        if let Some(Some(sink)) = sink.as_deref_mut() {
            sink(Progress {
                phase: ProgressPhase::Index,
                done,
                total,
            });
        }
    };
    let result = shared.tx()?.write_reporting(
        Op::CreateIndex {
            table,
            field,
            unique,
        },
        64,
        if reporting { Some(&mut report) } else { None },
    );
    shared.sync()?;
    result?;
    Ok(none())
}

fn drop_index(shared: &Shared, (path, field): (Value, Value)) -> Result<MultiValue, Failure> {
    let target = target_arg(shared, &path, "store.drop_index")?;
    let field = field_arg(&field, "store.drop_index")?;
    let Some(table) = existing_table(shared, &target)? else {
        return Ok(one(Value::Boolean(false)));
    };
    let result = shared.tx()?.write(Op::DropIndex { table, field }, 64);
    shared.sync()?;
    Ok(one(Value::Boolean(matches!(
        result?,
        OpResult::Existed(true)
    ))))
}

fn set_schema(
    lua: &Lua,
    shared: &Shared,
    (path, given, schema): (Value, bool, Value),
) -> Result<MultiValue, Failure> {
    let target = target_arg(shared, &path, "store.schema")?;
    if !given {
        // store.schema(path): read it.
        let Some(table) = existing_table(shared, &target)? else {
            return Ok(one(Value::Nil));
        };
        let current = shared
            .tx()?
            .read(|tx| Ok(moonvault_engine::table::TableRead::schema(tx, table)))?;
        return Ok(one(match current {
            Some(s) => Value::Table(schema::to_lua(lua, &s)?),
            None => Value::Nil,
        }));
    }
    let schema = match &schema {
        Value::Nil => None,
        Value::Table(t) => Some(schema::from_lua(t, "")?),
        other => {
            return Err(Failure::Message(format!(
                "store.schema: expected a schema table or nil, got {}",
                other.type_name()
            )))
        }
    };
    let table = match (&schema, existing_table(shared, &target)?) {
        (_, Some(t)) => t,
        (None, None) => return Ok(none()),
        (Some(_), None) => ensure_table(shared, &target)?,
    };
    let result = shared.tx()?.write(Op::SetSchema { table, schema }, 256);
    shared.sync()?;
    result?;
    Ok(none())
}

fn stats(lua: &Lua, shared: &Shared, path: Value) -> Result<MultiValue, Failure> {
    Ok(one(match path {
        Value::Nil => Value::Table(stats::store_stats(lua, shared)?),
        p => stats::table_stats(lua, shared, &p)?,
    }))
}

fn function(lua: &Lua, shared: &Shared, source: Value) -> Result<MultiValue, Failure> {
    let Value::String(source) = source else {
        return Err(Failure::Message(format!(
            "store.fn: expected the function's source text, got {}",
            source.type_name()
        )));
    };
    // Lent from the Lua string, not copied: a 100 KB source copied into
    // the browser's small Rust heap would sit beside the payload that
    // `from_source` encodes.
    let text = source
        .to_str()
        .map_err(|_| Failure::Message("store.fn: the source is not UTF-8".into()))?;
    let (f, _stored) = shared.codec()?.from_source(lua, &text)?;
    Ok(one(Value::Function(f)))
}

/// Install the `store` global.
pub(crate) fn install(lua: &Lua, shared: &Rc<Shared>) -> mlua::Result<()> {
    let raw = lua.create_table()?;
    add(lua, &raw, shared, "commit", |_, s, ()| commit(s))?;
    add(lua, &raw, shared, "rollback", |_, s, ()| rollback(s))?;
    add(lua, &raw, shared, "savepoint", |_, s, ()| savepoint(s))?;
    add(lua, &raw, shared, "rollback_to", |_, s, a| {
        rollback_to(s, a)
    })?;
    add(lua, &raw, shared, "version", |_, s, ()| version(s))?;
    add(lua, &raw, shared, "set_version", |_, s, v| {
        set_version(s, v)
    })?;
    add(lua, &raw, shared, "progress", |_, s, a| {
        migrate_progress(s, a)
    })?;
    add(lua, &raw, shared, "batch", |lua, s, ops| {
        let n = batch::batch(lua, s, ops)?;
        Ok(one(Value::Integer(n as i64)))
    })?;
    add(lua, &raw, shared, "index", |_, s, a| index(s, a))?;
    add(lua, &raw, shared, "drop_index", |_, s, a| drop_index(s, a))?;
    add(lua, &raw, shared, "schema", set_schema)?;
    add(lua, &raw, shared, "stats", stats)?;
    add(lua, &raw, shared, "fn", function)?;
    add(lua, &raw, shared, "query", query::new)?;
    add(lua, &raw, shared, "q_where", |lua, _, a| {
        query::where_(lua, a)
    })?;
    add(lua, &raw, shared, "q_order_by", |lua, _, a| {
        query::order_by(lua, a)
    })?;
    add(lua, &raw, shared, "q_limit", |lua, _, a| {
        query::limit(lua, a)
    })?;
    add(lua, &raw, shared, "q_offset", |lua, _, a| {
        query::offset(lua, a)
    })?;
    add(lua, &raw, shared, "q_count", |_, s, q| query::count(s, q))?;
    add(lua, &raw, shared, "q_first", query::first)?;
    add(lua, &raw, shared, "q_all", query::all)?;
    add(lua, &raw, shared, "q_keys", query::keys)?;
    add(lua, &raw, shared, "q_explain", query::explain)?;
    add(lua, &raw, shared, "q_open", query::open)?;
    add(lua, &raw, shared, "c_next", query::next)?;
    let store: Table = lua
        .load(include_str!("prelude.lua"))
        .set_name("=moonvault.store")
        .call(raw)?;
    lua.globals().set("store", store)
}
