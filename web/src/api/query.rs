//! Queries and indexes: `query`, `queryTable`, `createIndex`, `dropIndex`.
//!
//! Native forms name the collection (the table whose entries are the
//! records) and a field path inside each record:
//! `createIndex('users', 'profile.city', {unique: true})`,
//! `query('users', {where: [['age', '>', 60]], orderBy: ['age', 'desc'], limit: 10})`.
//!
//! The product's forms name a table and a dotted path whose *last*
//! segment is the field and whose other segments lead from the table to
//! the collection: `createIndex('Memory', 'users.age', 'btree')` and
//! `queryTable('Memory', {field: 'users.age', operator: '>', value: 60})`
//! mean the collection `Memory.users`, field `age`. (A third argument that
//! is a string, or a call to `queryTable`, selects that reading.)

use js_sys::{Array, Reflect};
use moonvault_engine::codec::{Key, StoredView};
use moonvault_engine::query::{Cond, Order, Query};
use moonvault_engine::table::FieldPath;
use moonvault_engine::TableRead;
use wasm_bindgen::prelude::*;

use super::error::{ApiError, ApiResult};
use super::path::{self, display};
use super::RawVault;
use crate::convert::wire::Wire;
use crate::convert::{from_store, to_store};

fn prop(o: &JsValue, name: &str) -> JsValue {
    if o.is_object() {
        Reflect::get(o, &name.into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

fn given(v: &JsValue) -> bool {
    !(v.is_undefined() || v.is_null())
}

/// The product form: table path + `a.b.field` -> (table.a.b, field).
fn product_split(
    mut table: Vec<Key>,
    field: &JsValue,
    what: &str,
) -> ApiResult<(Vec<Key>, FieldPath)> {
    let full = path::field(field, what)?;
    let mut keys = full.keys().to_vec();
    let last = keys
        .pop()
        .ok_or_else(|| ApiError::invalid(format!("{what} is empty")))?;
    table.extend(keys);
    let field = FieldPath::new(vec![last]).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok((table, field))
}

fn key_list(v: &JsValue, what: &str) -> ApiResult<Vec<Key>> {
    if !Array::is_array(v) {
        return Err(ApiError::invalid(format!(
            "{what} must be an array of values"
        )));
    }
    Array::from(v)
        .iter()
        .enumerate()
        .map(|(i, k)| to_store::key_at(&k, || format!("{what}[{i}]")))
        .collect()
}

fn bytes(v: &JsValue, what: &str) -> ApiResult<Vec<u8>> {
    match to_store::key(v, what)? {
        Key::Str(s) => Ok(s),
        _ => Err(ApiError::invalid(format!("{what} must be a string"))),
    }
}

/// A condition from an operator and its operands.
fn condition(op: &str, value: &JsValue, value2: &JsValue, what: &str) -> ApiResult<Cond> {
    let one = || to_store::key(value, &format!("{what}.value"));
    Ok(match op {
        "=" | "==" => Cond::Eq(one()?),
        "!=" | "~=" => Cond::Ne(one()?),
        "<" => Cond::Lt(one()?),
        "<=" => Cond::Le(one()?),
        ">" => Cond::Gt(one()?),
        ">=" => Cond::Ge(one()?),
        "between" => {
            let (a, b) = if Array::is_array(value) && !given(value2) {
                let a = Array::from(value);
                (a.get(0), a.get(1))
            } else {
                (value.clone(), value2.clone())
            };
            Cond::Between(
                to_store::key(&a, &format!("{what}.value"))?,
                to_store::key(&b, &format!("{what}.value2"))?,
            )
        }
        "in" => Cond::In(key_list(value, &format!("{what}.value"))?),
        "not in" | "notIn" => Cond::NotIn(key_list(value, &format!("{what}.value"))?),
        "startsWith" => Cond::StartsWith(bytes(value, &format!("{what}.value"))?),
        "endsWith" => Cond::EndsWith(bytes(value, &format!("{what}.value"))?),
        "contains" => Cond::Contains(bytes(value, &format!("{what}.value"))?),
        "exists" => Cond::Exists,
        "missing" => Cond::Missing,
        other => {
            return Err(ApiError::invalid(format!(
                "{what}: unknown operator {other:?}; use = != < <= > >= between in, not in, \
                 startsWith endsWith contains exists missing"
            )))
        }
    })
}

/// One `where` item: `[field, op, value, value2]` or `{field, op|operator,
/// value, value2}`.
fn where_item(item: &JsValue, what: &str) -> ApiResult<(FieldPath, Cond)> {
    let (field, op, value, value2) = if Array::is_array(item) {
        let a = Array::from(item);
        (a.get(0), a.get(1), a.get(2), a.get(3))
    } else if item.is_object() {
        let op = match prop(item, "op") {
            v if given(&v) => v,
            _ => prop(item, "operator"),
        };
        (
            prop(item, "field"),
            op,
            prop(item, "value"),
            prop(item, "value2"),
        )
    } else {
        return Err(ApiError::invalid(format!(
            "{what} must be [field, operator, value] or {{field, operator, value}}"
        )));
    };
    let field = path::field(&field, &format!("{what}.field"))?;
    let op = op
        .as_string()
        .ok_or_else(|| ApiError::invalid(format!("{what}: the operator must be a string")))?;
    Ok((field, condition(&op, &value, &value2, what)?))
}

fn count(v: &JsValue, what: &str) -> ApiResult<Option<u64>> {
    if !given(v) {
        return Ok(None);
    }
    match v.as_f64() {
        Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= 9.0e15 => Ok(Some(x as u64)),
        _ => Err(ApiError::invalid(format!(
            "{what} must be a whole number >= 0"
        ))),
    }
}

/// `orderBy`: `"age"`, `["age", "desc"]` or `{field, direction}`.
fn order(v: &JsValue) -> ApiResult<Option<(FieldPath, Order)>> {
    if !given(v) {
        return Ok(None);
    }
    let (field, dir) = if Array::is_array(v) {
        let a = Array::from(v);
        (a.get(0), a.get(1))
    } else if v.is_object() {
        (prop(v, "field"), prop(v, "direction"))
    } else {
        (v.clone(), JsValue::UNDEFINED)
    };
    let dir = match dir.as_string().as_deref() {
        None if !given(&dir) => Order::Asc,
        Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        _ => {
            return Err(ApiError::invalid(
                "orderBy direction must be 'asc' or 'desc'",
            ))
        }
    };
    Ok(Some((path::field(&field, "orderBy")?, dir)))
}

/// Adds limit, offset and orderBy from `spec` to `q`.
fn paging(mut q: Query, spec: &JsValue) -> ApiResult<Query> {
    if let Some((field, dir)) = order(&prop(spec, "orderBy"))? {
        q = q.order_by(field, dir);
    }
    if let Some(n) = count(&prop(spec, "limit"), "limit")? {
        q = q.limit(n);
    }
    if let Some(n) = count(&prop(spec, "offset"), "offset")? {
        q = q.offset(n);
    }
    Ok(q)
}

impl RawVault {
    /// The rows of the query `build(table id)` makes for the collection at
    /// `table`, as `key, record` pairs on a [`Wire`] (`wire.js`'s
    /// `decodeRows`).
    fn run_query(
        &self,
        table: Vec<Key>,
        build: impl FnOnce(u64) -> ApiResult<Query>,
    ) -> ApiResult<JsValue> {
        self.with_store(|store, idb| {
            let engine = |e| ApiError::engine(&e, idb.failure().as_ref());
            let snap = store.read().map_err(engine)?;
            let mut wire = Wire::new();
            let Some(t) = snap.lookup(&table).map_err(engine)? else {
                return Ok(wire.finish());
            };
            let q = build(t)?;
            // Rows with their records as stored: a packed record comes
            // whole from the hit's one lookup (which lazy paging reads
            // ahead for), not by id afterwards.
            let mut cursor = snap.query_cursor(&q).map_err(engine)?;
            // A packed record goes to the wire from its bytes in place;
            // anything else is converted after the record's page is let go.
            loop {
                let row = cursor.next_with(&snap, |k, view| match view {
                    StoredView::Record(r) => {
                        wire.key(k);
                        wire.record(r.fields());
                        None
                    }
                    StoredView::Value(v) => Some((k.clone(), v)),
                });
                let Some(rest) = row.map_err(engine)? else {
                    break;
                };
                if let Some((k, v)) = rest {
                    let at = || from_store::push_path(&display(&table), &k);
                    wire.key(&k);
                    from_store::value(&mut wire, &snap, &v, &at)?;
                }
            }
            Ok(wire.finish())
        })
    }
}

#[wasm_bindgen]
#[cfg_attr(feature = "jspi", allow(deprecated))] // JSPI is marked experimental
impl RawVault {
    /// Records of the collection `table` matching `spec` (`where`,
    /// `orderBy`, `limit`, `offset`), as key, record pairs encoded for
    /// `wire.js` (`decodeRows`; the package returns `[{key, record}]`).
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn query(&self, table: JsValue, spec: JsValue) -> Result<JsValue, JsValue> {
        let table = path::keys(&table, "table")?;
        let build = |t| -> ApiResult<Query> {
            let mut q = Query::new(t);
            let conds = prop(&spec, "where");
            if given(&conds) {
                if !Array::is_array(&conds) {
                    return Err(ApiError::invalid("where must be an array of conditions"));
                }
                for (i, c) in Array::from(&conds).iter().enumerate() {
                    let (field, cond) = where_item(&c, &format!("where[{i}]"))?;
                    q.push(field, cond)
                        .map_err(|e| ApiError::invalid(format!("where[{i}]: {e}")))?;
                }
            }
            paging(q, &spec)
        };
        self.run_query(table, build).map_err(JsValue::from)
    }

    /// The product's query form: `queryTable('Memory', {field: 'users.age',
    /// operator: '>', value: 60, limit: 10})` matches records of
    /// `Memory.users` (see the module docs); encoded as [`RawVault::query`]'s
    /// rows (the package returns the records).
    #[wasm_bindgen(js_name = queryTable)]
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn query_table(&self, table: JsValue, spec: JsValue) -> Result<JsValue, JsValue> {
        let table = path::keys(&table, "table")?;
        let field = prop(&spec, "field");
        let (collection, q) = if given(&field) {
            let (collection, field) = product_split(table, &field, "field")?;
            let op = prop(&spec, "operator")
                .as_string()
                .unwrap_or_else(|| "=".into());
            let cond = condition(&op, &prop(&spec, "value"), &prop(&spec, "value2"), "spec")?;
            (collection, Some((field, cond)))
        } else {
            (table, None)
        };
        let build = |t| -> ApiResult<Query> {
            let mut q0 = Query::new(t);
            if let Some((field, cond)) = q {
                q0.push(field, cond)
                    .map_err(|e| ApiError::invalid(e.to_string()))?;
            }
            paging(q0, &spec)
        };
        self.run_query(collection, build).map_err(JsValue::from)
    }

    /// Creates an index on `field` of the records of `table` (created if
    /// missing). `options`: `{unique: true}`, or the product's index type
    /// string (`'btree'`), which selects the product path form.
    /// `progress(done, total)`, when given, follows the build over the
    /// table's entries (the engine's figures).
    #[wasm_bindgen(js_name = createIndex)]
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn create_index(
        &self,
        table: JsValue,
        field: JsValue,
        options: JsValue,
        progress: Option<js_sys::Function>,
    ) -> Result<(), JsValue> {
        let table = path::keys(&table, "table")?;
        let (table, field, unique) = if let Some(kind) = options.as_string() {
            if kind != "btree" {
                return Err(ApiError::invalid(format!(
                    "index type {kind:?} is not supported: indexes are ordered ('btree')"
                ))
                .into());
            }
            let (t, f) = product_split(table, &field, "field")?;
            (t, f, false)
        } else {
            let unique = match prop(&options, "unique") {
                v if !given(&v) => false,
                v => v
                    .as_bool()
                    .ok_or_else(|| ApiError::invalid("unique must be a boolean"))?,
            };
            (table, path::field(&field, "field")?, unique)
        };
        self.with_store(|store, idb| {
            store
                .write(|tx| {
                    let t = tx.ensure_path(&table)?;
                    // A throwing callback does not stop the build (the
                    // package's wrapper catches and logs).
                    let mut report = |done: u64, total: u64| {
                        if let Some(f) = &progress {
                            let _ = f.call2(
                                &JsValue::NULL,
                                &JsValue::from_f64(done as f64),
                                &JsValue::from_f64(total as f64),
                            );
                        }
                    };
                    let report: Option<&mut dyn FnMut(u64, u64)> = match &progress {
                        Some(_) => Some(&mut report),
                        None => None,
                    };
                    tx.create_index_reporting(t, field, unique, report)
                        .map(drop)
                })
                .map_err(|e| ApiError::engine(&e, idb.failure().as_ref()))
        })
        .map_err(JsValue::from)
    }

    /// Drops the index on `field` of `table`'s records; returns whether it
    /// existed. Accepts the product form like `createIndex` (a dotted
    /// field with the collection path in front, when `product` is true).
    #[wasm_bindgen(js_name = dropIndex)]
    #[cfg_attr(feature = "jspi", wasm_bindgen(jspi))]
    pub fn drop_index(
        &self,
        table: JsValue,
        field: JsValue,
        product: bool,
    ) -> Result<bool, JsValue> {
        let table = path::keys(&table, "table")?;
        let (table, field) = if product {
            product_split(table, &field, "field")?
        } else {
            (table, path::field(&field, "field")?)
        };
        self.with_store(|store, idb| {
            let engine = |e| ApiError::engine(&e, idb.failure().as_ref());
            let Some(t) = store
                .read()
                .map_err(engine)?
                .lookup(&table)
                .map_err(engine)?
            else {
                return Ok(false);
            };
            store.drop_index(t, field).map_err(engine)
        })
        .map_err(JsValue::from)
    }
}
