//! Helpers shared by the table, index, query and batch tests.

use std::collections::BTreeMap;

use crate::codec::{Key, Value};
use crate::index::verify_index;
use crate::table::{Input, TableId, TableRead};
use crate::Result;

pub(crate) use moonvault_pager::testing::quickcheck_cases;

/// A model of a table's content: scalars and nested tables.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum M {
    S(Value),
    T(BTreeMap<Key, M>),
}

pub(crate) type Tree = BTreeMap<Key, M>;

/// Everything stored below `table`, as a model.
pub(crate) fn dump<R: TableRead + ?Sized>(r: &R, table: TableId) -> Result<Tree> {
    let mut out = BTreeMap::new();
    let mut cursor = crate::table::EntryCursor::new(table);
    while let Some((k, v)) = cursor.next(r)? {
        let m = match v {
            Value::Table(t) => M::T(dump(r, t)?),
            other => M::S(other),
        };
        out.insert(k, m);
    }
    Ok(out)
}

/// The model of a normalised-or-not literal (Nil entries dropped, later
/// duplicates win, integral float keys normalised).
pub(crate) fn model_of(input: &Input) -> Option<M> {
    match input {
        Input::Nil => None,
        Input::Value(v) => Some(M::S(v.clone())),
        Input::Table(entries) => {
            let mut t = BTreeMap::new();
            for (k, v) in entries {
                let k = crate::table::normalize_key(k.clone()).ok()?;
                match model_of(v) {
                    Some(m) => {
                        t.insert(k, m);
                    }
                    None => {
                        t.remove(&k);
                    }
                }
            }
            Some(M::T(t))
        }
    }
}

/// Check every index of the store against a rebuild from scratch.
pub(crate) fn verify_all<R: TableRead + ?Sized>(r: &R) -> Result<()> {
    for def in r.catalog().all_indexes() {
        verify_index(r, def)?;
    }
    Ok(())
}

/// A string value.
pub(crate) fn s(x: &str) -> Value {
    Value::Str(x.as_bytes().to_vec())
}

/// A string key.
pub(crate) fn k(x: &str) -> Key {
    Key::from(x)
}
