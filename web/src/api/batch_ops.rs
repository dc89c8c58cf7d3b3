//! The operations of a batch, read from JS: `batch`'s `{op, path, value}`
//! ([`PathOps`]) and `batchTableOperations`' `{type, table, key, value}`
//! ([`TableOps`]).
//!
//! One call (`flatOps` in `web/src/imports.js`) reads a whole batch into a
//! flat array, a code and the operands of each operation: reading each
//! property by name from Rust took about ten calls across the boundary per
//! operation. Each operation is then converted when the transaction takes
//! it, so a batch of 100K operations streams through one transaction
//! within the memory budget. Messages' paths (`operations[3].value.name`)
//! are built only for an error.

use js_sys::Array;
use moonvault_engine::batch::BatchOp;
use moonvault_engine::codec::Key;
use wasm_bindgen::prelude::*;

use super::error::{ApiError, ApiResult};
use super::path;
use crate::convert::to_store;
use crate::idb::describe;

#[wasm_bindgen(module = "/src/imports.js")]
extern "C" {
    /// `ops` read in one call: per operation a code ([`NOT_OBJECT`],
    /// [`SET`], [`DELETE`] or 3, another value of its `kind` property; plus
    /// [`SAME_FIRST`] when its first operand is the same string as the
    /// operation before's), then the value of each property of `names`.
    /// `ops` is an array; throws what a getter of an operation throws.
    #[wasm_bindgen(catch, js_name = flatOps)]
    fn flat_ops(ops: &JsValue, kind: &str, names: Array) -> Result<Array, JsValue>;
}

/// Codes of [`flat_ops`] (`imports.js` has the same numbers).
const NOT_OBJECT: u32 = 0;
const SET: u32 = 1;
const DELETE: u32 = 2;
const SAME_FIRST: u32 = 4;

/// A batch read flat: `width` slots per operation, its code first.
struct FlatOps {
    flat: Array,
    width: u32,
    len: u32,
    next: u32,
    /// What the argument is called in messages (`ops`, `operations`).
    name: &'static str,
    /// An operation's properties, for messages (`op, path, value`).
    shape: &'static str,
    /// The property that holds an operation's type (`op`, `type`).
    kind: &'static str,
}

impl FlatOps {
    /// `ops`, called `name`, of operations whose type is property `kind`
    /// and whose operands are `operands`; `shape` lists them all.
    fn read(
        ops: &JsValue,
        name: &'static str,
        shape: &'static str,
        kind: &'static str,
        operands: &[&str],
    ) -> ApiResult<Self> {
        if !Array::is_array(ops) {
            return Err(ApiError::invalid(format!(
                "{name} must be an array of {{{shape}}}"
            )));
        }
        let names: Array = operands.iter().map(|n| JsValue::from_str(n)).collect();
        let flat = flat_ops(ops, kind, names)
            .map_err(|e| ApiError::invalid(format!("reading {name} threw {}", describe(&e))))?;
        let width = 1 + operands.len() as u32;
        Ok(FlatOps {
            len: flat.length() / width,
            flat,
            width,
            next: 0,
            name,
            shape,
            kind,
        })
    }

    /// The next operation's index and code, `None` after the last.
    fn advance(&mut self) -> Option<(u32, u32)> {
        let i = self.next;
        if i == self.len {
            return None;
        }
        self.next += 1;
        let code = self.flat.get(self.width * i).as_f64().unwrap_or(0.0) as u32;
        Some((i, code))
    }

    /// Operand `k` (from 0) of operation `i`.
    fn operand(&self, i: u32, k: u32) -> JsValue {
        self.flat.get(self.width * i + 1 + k)
    }

    /// `ops[3].path`: where an operation's part is, for a message.
    fn what(&self, i: u32, field: &str) -> String {
        format!("{}[{i}]{field}", self.name)
    }

    /// The error for operation `i`, which is not an object, or whose type
    /// is neither 'set' nor 'delete'.
    fn refuse(&self, i: u32, code: u32) -> ApiError {
        if code & 3 == NOT_OBJECT {
            ApiError::invalid(format!(
                "{} must be an object {{{}}}",
                self.what(i, ""),
                self.shape
            ))
        } else {
            ApiError::invalid(format!(
                "{} must be 'set' or 'delete'",
                self.what(i, &format!(".{}", self.kind))
            ))
        }
    }

    /// Operation `i` on `key` of `table`, as its code says: a set of the
    /// value in operand `value`, or a delete.
    fn finish(
        &self,
        i: u32,
        code: u32,
        table: Vec<Key>,
        key: Key,
        value: u32,
    ) -> ApiResult<BatchOp> {
        match code & 3 {
            SET => {
                let value =
                    to_store::input_named(&self.operand(i, value), || self.what(i, ".value"))?;
                Ok(BatchOp::set(table, key, value))
            }
            DELETE => Ok(BatchOp::delete(table, key)),
            _ => Err(self.refuse(i, code)),
        }
    }
}

/// `batch`'s operations: `{op: 'set'|'delete', path, value}` (the form of
/// Lua's `store.batch`).
pub(crate) struct PathOps(FlatOps);

impl PathOps {
    pub(crate) fn read(ops: &JsValue) -> ApiResult<PathOps> {
        FlatOps::read(ops, "ops", "op, path, value", "op", &["path", "value"]).map(PathOps)
    }

    fn op(&self, i: u32, code: u32) -> ApiResult<BatchOp> {
        let ops = &self.0;
        if code & 3 == NOT_OBJECT {
            return Err(ops.refuse(i, code));
        }
        let keys = path::keys_named(&ops.operand(i, 0), || ops.what(i, ".path"))?;
        let (parent, key) = path::split(keys, &ops.what(i, ""))?;
        ops.finish(i, code, parent, key, 1)
    }
}

impl Iterator for PathOps {
    type Item = ApiResult<BatchOp>;

    fn next(&mut self) -> Option<Self::Item> {
        let (i, code) = self.0.advance()?;
        Some(self.op(i, code))
    }
}

/// `batchTableOperations`' operations: `{type: 'set'|'delete', table, key,
/// value}` (the product's form).
pub(crate) struct TableOps {
    ops: FlatOps,
    /// The previous operation's table: reused while the next ones name
    /// the same string, so a run of one table parses its path once.
    table: Option<Vec<Key>>,
}

impl TableOps {
    pub(crate) fn read(operations: &JsValue) -> ApiResult<TableOps> {
        Ok(TableOps {
            ops: FlatOps::read(
                operations,
                "operations",
                "type, table, key, value",
                "type",
                &["table", "key", "value"],
            )?,
            table: None,
        })
    }

    fn op(&mut self, i: u32, code: u32) -> ApiResult<BatchOp> {
        let ops = &self.ops;
        if code & 3 == NOT_OBJECT {
            return Err(ops.refuse(i, code));
        }
        let table = match self.table.take() {
            Some(same) if code & SAME_FIRST != 0 => same,
            _ => path::keys_named(&ops.operand(i, 0), || ops.what(i, ".table"))?,
        };
        self.table = Some(table.clone());
        let key = to_store::key_at(&ops.operand(i, 1), || ops.what(i, ".key"))?;
        ops.finish(i, code, table, key, 2)
    }
}

impl Iterator for TableOps {
    type Item = ApiResult<BatchOp>;

    fn next(&mut self) -> Option<Self::Item> {
        let (i, code) = self.ops.advance()?;
        Some(self.op(i, code))
    }
}
