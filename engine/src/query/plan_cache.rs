//! Plans kept for reuse: a query run again on the same catalog is not
//! planned again.
//!
//! A plan that probed no index (one candidate index, or none) is a
//! function of its query and the catalog alone: the planner reads the
//! store only to probe. Such plans are kept in the catalog they were made
//! with, so they live exactly as long as that catalog content: a change to
//! the catalog (an index created or dropped, a schema set) empties the
//! cache, and a transaction that loads a newer catalog starts with an
//! empty one. A plan that probed depends on the data, and is made anew
//! every run. DESIGN.md section 5, "Queries", says what this saves.

use std::cell::RefCell;
use std::rc::Rc;

use super::condition::Cond;
use super::plan::Planned;
use super::Query;
use crate::codec::Key;

/// Most plans one catalog keeps.
const CAPACITY: usize = 8;

/// Most bytes of operands a query kept as a key may hold: a long `in`
/// list is planned each time rather than kept in the 2 MiB wasm heap.
const MAX_OPERAND_BYTES: usize = 256;

/// Plans by query, most recently used first.
#[derive(Default)]
pub(crate) struct PlanCache {
    entries: RefCell<Vec<(Query, Rc<Planned>)>>,
}

/// A clone is made to be changed (`Rc::make_mut` of a catalog): it starts
/// empty.
impl Clone for PlanCache {
    fn clone(&self) -> PlanCache {
        PlanCache::default()
    }
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlanCache({} plans)", self.entries.borrow().len())
    }
}

impl PlanCache {
    /// The plan kept for `query`, if any.
    pub(crate) fn get(&self, query: &Query) -> Option<Rc<Planned>> {
        let mut entries = self.entries.borrow_mut();
        let at = entries.iter().position(|(q, _)| q == query)?;
        // Most recently used first: the next lookup of it compares once.
        entries[..=at].rotate_right(1);
        Some(Rc::clone(&entries[0].1))
    }

    /// Keep `planned` for `query` if it depends on nothing but the two and
    /// the query is small; the least recently used plan makes room.
    pub(crate) fn offer(&self, query: &Query, planned: &Rc<Planned>) {
        if planned.probed || operand_bytes(query) > MAX_OPERAND_BYTES {
            return;
        }
        let mut entries = self.entries.borrow_mut();
        entries.truncate(CAPACITY - 1);
        entries.insert(0, (query.clone(), Rc::clone(planned)));
    }

    /// Forget every plan (the catalog changed).
    pub(crate) fn clear(&mut self) {
        self.entries.get_mut().clear();
    }

    /// How many plans are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.borrow().len()
    }
}

/// Bytes the query's operands hold (a key of a fixed size counts 8).
fn operand_bytes(query: &Query) -> usize {
    let key = |k: &Key| match k {
        Key::Str(s) => s.len(),
        Key::Bool(_) | Key::Int(_) | Key::Float(_) => 8,
    };
    query
        .conds
        .iter()
        .map(|(field, cond)| {
            field.keys().iter().map(key).sum::<usize>()
                + match cond {
                    Cond::Eq(k)
                    | Cond::Ne(k)
                    | Cond::Lt(k)
                    | Cond::Le(k)
                    | Cond::Gt(k)
                    | Cond::Ge(k) => key(k),
                    Cond::Between(a, b) => key(a) + key(b),
                    Cond::In(list) | Cond::NotIn(list) => list.iter().map(key).sum(),
                    Cond::StartsWith(b) | Cond::EndsWith(b) | Cond::Contains(b) => b.len(),
                    Cond::Exists | Cond::Missing => 0,
                }
        })
        .sum()
}
