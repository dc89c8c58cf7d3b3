//! Queries over a table's records: conditions combined by AND, ordering,
//! limit, offset, count; planned onto an index or a scan; results stream
//! through a cursor.
//!
//! ```no_run
//! # use moonvault_engine::{query::{Order, Query}, table::{Store, TableRead, ROOT}, codec::Key};
//! # fn demo(store: &Store, users: u64) -> moonvault_engine::Result<()> {
//! let q = Query::new(users).gt("age", 60).order_by("age", Order::Desc).limit(10);
//! let snap = store.read()?;
//! assert!(snap.explain(&q)?.uses_index());
//! for row in snap.query(&q)? {
//!     let (key, record) = row?;
//! }
//! # Ok(()) }
//! ```
//!
//! Result order: with `order_by`, by the field's value (Lua key order:
//! booleans, then numbers, then strings), ties by record key; records whose
//! field is missing or not a scalar come last, by record key, in both
//! directions (descending is the exact reverse of ascending among the
//! others). Without `order_by` the order is the plan's (record keys for a
//! scan, field values for an index), as in SQL: use `order_by` when a
//! `limit` must pick particular records.

mod condition;
mod cursor;
mod plan;
mod plan_cache;

pub use condition::Cond;
pub use cursor::{result_order, QueryCursor, Row, StoredRow};
pub use plan::{Access, Estimate, Plan, SortPlan};
pub(crate) use plan_cache::PlanCache;

use crate::codec::Key;
use crate::error::{EngineError, Result};
use crate::kv::KvRead;
use crate::table::catalog::Catalog;
use crate::table::field::{normalize_key, FieldPath, IntoFieldPath};
use crate::table::keyspace::TableId;

/// Largest number of records an `order_by` on a non-indexed field sorts in
/// memory (also bounds `offset + limit` for the top-k heap). Sized for the
/// browser's 2 MiB heap; raise it with [`Query::sort_cap`] natively.
pub const DEFAULT_SORT_CAP: usize = 4096;

/// Sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Order {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// A query: a plain description, run by [`TableRead::query`],
/// [`TableRead::count`] or [`TableRead::explain`].
///
/// [`TableRead::query`]: crate::table::TableRead::query
/// [`TableRead::count`]: crate::table::TableRead::count
/// [`TableRead::explain`]: crate::table::TableRead::explain
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub(crate) table: TableId,
    pub(crate) conds: Vec<(FieldPath, Cond)>,
    pub(crate) order: Option<(FieldPath, Order)>,
    pub(crate) limit: Option<u64>,
    pub(crate) offset: u64,
    pub(crate) sort_cap: usize,
    /// The first malformed argument given to the builder, reported when the
    /// query runs (keeps the builder chainable).
    pub(crate) error: Option<String>,
}

impl Query {
    /// All records of `table`.
    pub fn new(table: TableId) -> Query {
        Query {
            table,
            conds: Vec::new(),
            order: None,
            limit: None,
            offset: 0,
            sort_cap: DEFAULT_SORT_CAP,
            error: None,
        }
    }

    /// The queried table.
    pub fn table(&self) -> TableId {
        self.table
    }

    /// The conditions, in the order given.
    pub fn conditions(&self) -> &[(FieldPath, Cond)] {
        &self.conds
    }

    /// Add a condition (binding-friendly: reports a bad path or NaN operand
    /// at once).
    pub fn push(&mut self, field: impl IntoFieldPath, cond: Cond) -> Result<()> {
        let field = field.into_field_path()?;
        let norm = |k: Key| normalize_key(k);
        let cond = match cond {
            Cond::Eq(k) => Cond::Eq(norm(k)?),
            Cond::Ne(k) => Cond::Ne(norm(k)?),
            Cond::Lt(k) => Cond::Lt(norm(k)?),
            Cond::Le(k) => Cond::Le(norm(k)?),
            Cond::Gt(k) => Cond::Gt(norm(k)?),
            Cond::Ge(k) => Cond::Ge(norm(k)?),
            Cond::Between(a, b) => Cond::Between(norm(a)?, norm(b)?),
            Cond::In(l) => Cond::In(l.into_iter().map(norm).collect::<Result<_>>()?),
            Cond::NotIn(l) => Cond::NotIn(l.into_iter().map(norm).collect::<Result<_>>()?),
            other => other,
        };
        self.conds.push((field, cond));
        Ok(())
    }

    /// Add a condition (chainable; an error shows when the query runs).
    pub fn filter(mut self, field: impl IntoFieldPath, cond: Cond) -> Query {
        if let Err(e) = self.push(field, cond) {
            self.error.get_or_insert(e.to_string());
        }
        self
    }

    /// `field == value`.
    pub fn eq(self, field: impl IntoFieldPath, value: impl Into<Key>) -> Query {
        self.filter(field, Cond::Eq(value.into()))
    }

    /// `field ~= value`.
    pub fn ne(self, field: impl IntoFieldPath, value: impl Into<Key>) -> Query {
        self.filter(field, Cond::Ne(value.into()))
    }

    /// `field < value`.
    pub fn lt(self, field: impl IntoFieldPath, value: impl Into<Key>) -> Query {
        self.filter(field, Cond::Lt(value.into()))
    }

    /// `field <= value`.
    pub fn le(self, field: impl IntoFieldPath, value: impl Into<Key>) -> Query {
        self.filter(field, Cond::Le(value.into()))
    }

    /// `field > value`.
    pub fn gt(self, field: impl IntoFieldPath, value: impl Into<Key>) -> Query {
        self.filter(field, Cond::Gt(value.into()))
    }

    /// `field >= value`.
    pub fn ge(self, field: impl IntoFieldPath, value: impl Into<Key>) -> Query {
        self.filter(field, Cond::Ge(value.into()))
    }

    /// `lo <= field <= hi`.
    pub fn between(
        self,
        field: impl IntoFieldPath,
        lo: impl Into<Key>,
        hi: impl Into<Key>,
    ) -> Query {
        self.filter(field, Cond::Between(lo.into(), hi.into()))
    }

    /// `field` is one of `values`.
    pub fn is_in<K: Into<Key>>(
        self,
        field: impl IntoFieldPath,
        values: impl IntoIterator<Item = K>,
    ) -> Query {
        self.filter(
            field,
            Cond::In(values.into_iter().map(Into::into).collect()),
        )
    }

    /// `field` is none of `values`.
    pub fn not_in<K: Into<Key>>(
        self,
        field: impl IntoFieldPath,
        values: impl IntoIterator<Item = K>,
    ) -> Query {
        self.filter(
            field,
            Cond::NotIn(values.into_iter().map(Into::into).collect()),
        )
    }

    /// String `field` starts with `prefix`.
    pub fn starts_with(self, field: impl IntoFieldPath, prefix: impl AsRef<[u8]>) -> Query {
        self.filter(field, Cond::StartsWith(prefix.as_ref().to_vec()))
    }

    /// String `field` ends with `suffix`.
    pub fn ends_with(self, field: impl IntoFieldPath, suffix: impl AsRef<[u8]>) -> Query {
        self.filter(field, Cond::EndsWith(suffix.as_ref().to_vec()))
    }

    /// String `field` contains `part`.
    pub fn contains(self, field: impl IntoFieldPath, part: impl AsRef<[u8]>) -> Query {
        self.filter(field, Cond::Contains(part.as_ref().to_vec()))
    }

    /// `field` is present.
    pub fn exists(self, field: impl IntoFieldPath) -> Query {
        self.filter(field, Cond::Exists)
    }

    /// `field` is absent.
    pub fn missing(self, field: impl IntoFieldPath) -> Query {
        self.filter(field, Cond::Missing)
    }

    /// Order by `field` (replaces an earlier `order_by`).
    pub fn order_by(mut self, field: impl IntoFieldPath, order: Order) -> Query {
        match field.into_field_path() {
            Ok(f) => self.order = Some((f, order)),
            Err(e) => {
                self.error.get_or_insert(e.to_string());
            }
        }
        self
    }

    /// Yield at most `n` records.
    pub fn limit(mut self, n: u64) -> Query {
        self.limit = Some(n);
        self
    }

    /// Skip the first `n` records.
    pub fn offset(mut self, n: u64) -> Query {
        self.offset = n;
        self
    }

    /// Most records an in-memory sort may hold (see [`DEFAULT_SORT_CAP`]).
    pub fn sort_cap(mut self, n: usize) -> Query {
        self.sort_cap = n;
        self
    }

    pub(crate) fn check(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(EngineError::InvalidArgument(format!("invalid query: {e}"))),
            None => Ok(()),
        }
    }
}

/// The plan `query` runs with (see [`TableRead::explain`](crate::table::TableRead::explain)).
pub(crate) fn plan(kv: &dyn KvRead, catalog: &Catalog, query: &Query) -> Result<Plan> {
    Ok(plan::make(kv, catalog, query)?.plan)
}

/// Count the records `query` yields.
pub(crate) fn count(kv: &dyn KvRead, catalog: &Catalog, query: &Query) -> Result<u64> {
    query.check()?;
    // Ordering does not change how many records match.
    let mut unordered = query.clone();
    unordered.order = None;
    unordered.limit = None;
    unordered.offset = 0;
    let planned = plan::make(kv, catalog, &unordered)?;
    let matches = match planned.fast_count(kv)? {
        Some(n) => n,
        None => {
            let mut cursor = QueryCursor::from_planned(std::rc::Rc::new(planned));
            let mut n = 0u64;
            while cursor.next_hit(kv)?.is_some() {
                n += 1;
            }
            n
        }
    };
    let after_offset = matches.saturating_sub(query.offset);
    Ok(query.limit.map_or(after_offset, |l| after_offset.min(l)))
}

#[cfg(test)]
mod tests;
