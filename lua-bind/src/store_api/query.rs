//! `store.query(path)`: an immutable query builder (each `:where`,
//! `:order_by`, `:limit`, `:offset` returns a new query), its terminal
//! operations, and cursors for iteration.
//!
//! The table is resolved when the query runs, so a query can be built
//! before its table exists (it then yields nothing). Queries run on the
//! chunk's transaction and see its writes. A cursor stays valid across
//! `store.commit()`; a rollback while it is open (which may reuse the ids
//! it would return) ends it with an error.

use mlua::{AnyUserData, Lua, MultiValue, Table, Value};
use moonvault_engine::codec::{Key, Stored};
use moonvault_engine::query::{Cond, Order, Query, QueryCursor};
use moonvault_engine::table::{FieldPath, TableRead};
use moonvault_engine::TableId;

use super::path::{existing_table, field_arg, operand, target_arg, Target};
use crate::failure::{one, Failure};
use crate::keys::key_to_lua;
use crate::proxy::meta::stored_to_lua;
use crate::state::Shared;

/// A query as built by Lua (resolved to a table when run).
#[derive(Clone, Debug)]
pub(crate) struct LuaQuery {
    target: Target,
    conds: Vec<(FieldPath, Cond)>,
    order: Option<(FieldPath, Order)>,
    limit: Option<u64>,
    offset: u64,
}

/// An open iteration.
pub(crate) struct LuaCursor {
    cursor: Option<QueryCursor>,
    lineage: u64,
}

fn query_of(v: &Value) -> Result<LuaQuery, Failure> {
    match v {
        Value::UserData(ud) => match ud.borrow::<LuaQuery>() {
            Ok(q) => Ok(q.clone()),
            Err(_) => Err(not_a_query()),
        },
        _ => Err(not_a_query()),
    }
}

fn not_a_query() -> Failure {
    Failure::Message("expected a query (call this as q:method(...))".into())
}

fn wrap(lua: &Lua, q: LuaQuery) -> Result<MultiValue, Failure> {
    Ok(one(Value::UserData(lua.create_any_userdata(q)?)))
}

/// Most records an `order_by` without a usable index sorts in memory (the
/// engine's default is sized for the browser's heap; natively there is
/// room for more).
#[cfg(not(target_arch = "wasm32"))]
const SORT_CAP: usize = 256 * 1024;
#[cfg(target_arch = "wasm32")]
const SORT_CAP: usize = moonvault_engine::query::DEFAULT_SORT_CAP;

impl LuaQuery {
    fn engine_query(&self, table: TableId) -> Query {
        let mut q = Query::new(table).sort_cap(SORT_CAP);
        for (field, cond) in &self.conds {
            q = q.filter(field.clone(), cond.clone());
        }
        if let Some((field, order)) = &self.order {
            q = q.order_by(field.clone(), *order);
        }
        if let Some(n) = self.limit {
            q = q.limit(n);
        }
        q.offset(self.offset)
    }

    /// The engine query, or `None` when the table does not exist.
    fn resolve(&self, shared: &Shared) -> Result<Option<Query>, Failure> {
        Ok(existing_table(shared, &self.target)?.map(|t| self.engine_query(t)))
    }
}

/// `store.query(path)`.
pub(crate) fn new(lua: &Lua, shared: &Shared, path: Value) -> Result<MultiValue, Failure> {
    let target = target_arg(shared, &path, "store.query")?;
    wrap(
        lua,
        LuaQuery {
            target,
            conds: Vec::new(),
            order: None,
            limit: None,
            offset: 0,
        },
    )
}

/// The operator names `:where` accepts.
const OPS: &str = "=, !=, <, <=, >, >=, between, in, not in, startsWith, endsWith, contains, \
                   exists, missing";

fn key_list(v: &Value, what: &str) -> Result<Vec<Key>, Failure> {
    let Value::Table(t) = v else {
        return Err(Failure::Message(format!(
            "{what}: expected an array of values, got {}",
            v.type_name()
        )));
    };
    let mut keys = Vec::new();
    for i in 1..=t.raw_len() {
        let v: Value = t.raw_get(i)?;
        keys.push(operand(&v, &format!("{what}, value {i}"))?);
    }
    Ok(keys)
}

fn text(v: &Value, what: &str) -> Result<Vec<u8>, Failure> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        other => Err(Failure::Message(format!(
            "{what}: expected a string, got {}",
            other.type_name()
        ))),
    }
}

/// `q:where(field, op, a [, b])`.
pub(crate) fn where_(
    lua: &Lua,
    (q, field, op, a, b): (Value, Value, Value, Value, Value),
) -> Result<MultiValue, Failure> {
    let mut q = query_of(&q)?;
    let field = field_arg(&field, "where")?;
    let op = match &op {
        Value::String(s) => s.to_string_lossy(),
        other => {
            return Err(Failure::Message(format!(
                "where: expected an operator ({OPS}), got {}",
                other.type_name()
            )))
        }
    };
    let what = format!("where({field}, \"{op}\")");
    let cond = match op.as_str() {
        "=" | "==" => Cond::Eq(operand(&a, &what)?),
        "!=" | "~=" => Cond::Ne(operand(&a, &what)?),
        "<" => Cond::Lt(operand(&a, &what)?),
        "<=" => Cond::Le(operand(&a, &what)?),
        ">" => Cond::Gt(operand(&a, &what)?),
        ">=" => Cond::Ge(operand(&a, &what)?),
        "between" => Cond::Between(operand(&a, &what)?, operand(&b, &what)?),
        "in" => Cond::In(key_list(&a, &what)?),
        "not in" | "notIn" | "not_in" => Cond::NotIn(key_list(&a, &what)?),
        "startsWith" => Cond::StartsWith(text(&a, &what)?),
        "endsWith" => Cond::EndsWith(text(&a, &what)?),
        "contains" => Cond::Contains(text(&a, &what)?),
        "exists" => Cond::Exists,
        "missing" => Cond::Missing,
        other => {
            return Err(Failure::Message(format!(
                "where: unknown operator {other:?} (use one of {OPS})"
            )))
        }
    };
    q.conds.push((field, cond));
    wrap(lua, q)
}

/// `q:order_by(field [, "asc"|"desc"])`.
pub(crate) fn order_by(
    lua: &Lua,
    (q, field, dir): (Value, Value, Value),
) -> Result<MultiValue, Failure> {
    let mut q = query_of(&q)?;
    let field = field_arg(&field, "order_by")?;
    let order = match &dir {
        Value::Nil => Order::Asc,
        Value::String(s) => match s.to_string_lossy().to_ascii_lowercase().as_str() {
            "asc" => Order::Asc,
            "desc" => Order::Desc,
            other => {
                return Err(Failure::Message(format!(
                    "order_by: direction must be \"asc\" or \"desc\", got {other:?}"
                )))
            }
        },
        other => {
            return Err(Failure::Message(format!(
                "order_by: direction must be \"asc\" or \"desc\", got {}",
                other.type_name()
            )))
        }
    };
    q.order = Some((field, order));
    wrap(lua, q)
}

fn count_arg(v: &Value, what: &str) -> Result<u64, Failure> {
    let n = match v {
        Value::Integer(n) => Some(*n),
        Value::Number(x) if x.fract() == 0.0 && x.is_finite() => Some(*x as i64),
        _ => None,
    };
    match n {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(Failure::Message(format!(
            "{what}: expected a non-negative integer"
        ))),
    }
}

/// `q:limit(n)`.
pub(crate) fn limit(lua: &Lua, (q, n): (Value, Value)) -> Result<MultiValue, Failure> {
    let mut q = query_of(&q)?;
    q.limit = Some(count_arg(&n, "limit")?);
    wrap(lua, q)
}

/// `q:offset(n)`.
pub(crate) fn offset(lua: &Lua, (q, n): (Value, Value)) -> Result<MultiValue, Failure> {
    let mut q = query_of(&q)?;
    q.offset = count_arg(&n, "offset")?;
    wrap(lua, q)
}

/// `q:count()`.
pub(crate) fn count(shared: &Shared, q: Value) -> Result<MultiValue, Failure> {
    let q = query_of(&q)?;
    let n = match q.resolve(shared)? {
        Some(query) => shared.tx()?.read(|tx| tx.count(&query))?,
        None => 0,
    };
    Ok(one(Value::Integer(n as i64)))
}

/// Up to `max` rows of `q`, and the transaction-state version they were
/// read at.
fn rows(
    shared: &Shared,
    q: &LuaQuery,
    max: Option<u64>,
) -> Result<(Vec<(Key, Stored)>, u64), Failure> {
    let Some(mut query) = q.resolve(shared)? else {
        return Ok((Vec::new(), 0));
    };
    if let Some(max) = max {
        query = query.limit(q.limit.map_or(max, |l| l.min(max)));
    }
    let mut tx = shared.tx()?;
    let rows = tx.read(|tx| {
        let mut cursor = tx.query_cursor(&query)?;
        let mut rows = Vec::new();
        while let Some(row) = cursor.next_stored(tx)? {
            rows.push(row);
        }
        Ok(rows)
    })?;
    Ok((rows, tx.version()))
}

/// `q:first()`: the first record and its key, or nil.
pub(crate) fn first(lua: &Lua, shared: &Shared, q: Value) -> Result<MultiValue, Failure> {
    let q = query_of(&q)?;
    let (rows, version) = rows(shared, &q, Some(1))?;
    match rows.into_iter().next() {
        Some((k, v)) => {
            let v = stored_to_lua(lua, shared, v, version)?;
            Ok(MultiValue::from_vec(vec![v, key_to_lua(lua, &k)?]))
        }
        None => Ok(one(Value::Nil)),
    }
}

/// `q:all()`: an array of the records.
pub(crate) fn all(lua: &Lua, shared: &Shared, q: Value) -> Result<MultiValue, Failure> {
    let q = query_of(&q)?;
    let (rows, version) = rows(shared, &q, None)?;
    let out = lua.create_table_with_capacity(rows.len(), 0)?;
    for (i, (_, v)) in rows.into_iter().enumerate() {
        out.raw_set(i + 1, stored_to_lua(lua, shared, v, version)?)?;
    }
    Ok(one(Value::Table(out)))
}

/// `q:keys()`: an array of the records' keys.
pub(crate) fn keys(lua: &Lua, shared: &Shared, q: Value) -> Result<MultiValue, Failure> {
    let q = query_of(&q)?;
    let (rows, _) = rows(shared, &q, None)?;
    let out: Table = lua.create_table_with_capacity(rows.len(), 0)?;
    for (i, (k, _)) in rows.into_iter().enumerate() {
        out.raw_set(i + 1, key_to_lua(lua, &k)?)?;
    }
    Ok(one(Value::Table(out)))
}

/// `q:explain()`: the plan, in words.
pub(crate) fn explain(lua: &Lua, shared: &Shared, q: Value) -> Result<MultiValue, Failure> {
    let q = query_of(&q)?;
    let text = match q.resolve(shared)? {
        Some(query) => shared.tx()?.read(|tx| tx.explain(&query))?.to_string(),
        None => "nothing (the table does not exist)".to_string(),
    };
    Ok(one(Value::String(lua.create_string(text)?)))
}

/// Open a cursor over `q` (for `for k, r in q do` and `q:iter()`).
pub(crate) fn open(lua: &Lua, shared: &Shared, q: Value) -> Result<MultiValue, Failure> {
    let q = query_of(&q)?;
    let cursor = match q.resolve(shared)? {
        Some(query) => Some(shared.tx()?.read(|tx| tx.query_cursor(&query))?),
        None => None,
    };
    let lineage = shared.tx()?.lineage();
    let ud = lua.create_any_userdata(LuaCursor { cursor, lineage })?;
    Ok(one(Value::UserData(ud)))
}

/// The next `key, record` of a cursor, or nil at the end.
pub(crate) fn next(lua: &Lua, shared: &Shared, cur: Value) -> Result<MultiValue, Failure> {
    let Value::UserData(ud) = cur else {
        return Err(Failure::Message("expected a query cursor".into()));
    };
    let row = step(shared, &ud)?;
    Ok(match row {
        Some((k, v, version)) => {
            let k = key_to_lua(lua, &k)?;
            let v = stored_to_lua(lua, shared, v, version)?;
            MultiValue::from_vec(vec![k, v])
        }
        None => one(Value::Nil),
    })
}

fn step(shared: &Shared, ud: &AnyUserData) -> Result<Option<(Key, Stored, u64)>, Failure> {
    let mut cur = ud
        .borrow_mut::<LuaCursor>()
        .map_err(|_| Failure::Message("expected a query cursor".into()))?;
    let mut tx = shared.tx()?;
    if cur.cursor.is_some() && tx.lineage() != cur.lineage {
        cur.cursor = None;
        return Err(Failure::Message(
            "the transaction was rolled back while this query was being iterated; run the \
             query again"
                .into(),
        ));
    }
    let Some(cursor) = cur.cursor.as_mut() else {
        return Ok(None);
    };
    let row = tx.read(|tx| cursor.next_stored(tx))?;
    if row.is_none() {
        cur.cursor = None;
    }
    Ok(row.map(|(k, v)| (k, v, tx.version())))
}
