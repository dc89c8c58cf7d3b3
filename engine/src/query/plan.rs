//! The planner: which index (if any) a query reads, what it filters, how
//! it orders.
//!
//! 1. For each index of the table, the indexable conditions on its field
//!    (`=`, `in`, `<`, `<=`, `>`, `>=`, `between`, `startsWith`) are
//!    combined into key ranges (intervals intersected, `in` lists
//!    intersected and clipped to the interval). Those conditions are then
//!    answered by the ranges exactly and not re-checked.
//! 2. With several candidates, each is probed: its ranges are read up to
//!    [`PROBE_BUDGET`] entries. The smallest exact count wins; otherwise the
//!    most selective kind (`=`/`in`, then two-sided ranges, then one-sided).
//! 3. Ordering: ranges on the `order_by` field stream in order; without a
//!    usable condition, an index on the `order_by` field streams the whole
//!    index (then the records lacking the field); else a bounded heap
//!    (`limit`) or a capped sort.
//! 4. The remaining conditions filter each record.

use smallvec::SmallVec;
use std::fmt;
use std::ops::Bound;
use std::rc::Rc;

use super::condition::{interval, points, Cond, Interval};
use super::{Order, Query};
use crate::error::Result;
use crate::kv::KvRead;
use crate::table::catalog::{Catalog, IndexDef};
use crate::table::field::FieldPath;
use crate::table::keyspace::{entry_prefix, index_prefix, prefix_end, TableId};

/// Entries read per candidate index to estimate its selectivity.
pub const PROBE_BUDGET: u64 = 64;

/// How selective an index access is believed to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimate {
    /// Not probed (only one candidate).
    NotProbed,
    /// The ranges hold exactly this many entries.
    Exact(u64),
    /// The ranges hold more than this many entries.
    AtLeast(u64),
}

/// Where the records come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Access {
    /// Every entry of the table, in key order.
    Scan,
    /// Ranges of one index.
    Index {
        /// The index id.
        index: u64,
        /// The indexed field.
        field: FieldPath,
        /// Number of key ranges read (several for `in`).
        ranges: usize,
        /// Conditions answered by the ranges (0 when the index only
        /// provides the order).
        conditions: usize,
        /// The probe's result.
        estimate: Estimate,
    },
    /// The conditions contradict each other: nothing is read.
    Nothing,
}

/// How results are ordered.
#[derive(Clone, Debug, PartialEq)]
pub enum SortPlan {
    /// In the access order.
    None,
    /// The index delivers the order; with `tail_scan`, records lacking an
    /// indexable value follow from a scan.
    IndexOrder {
        /// The order field.
        field: FieldPath,
        /// Descending.
        descending: bool,
        /// A scan follows for records the index does not hold.
        tail_scan: bool,
    },
    /// The `keep` first records are kept in a heap (`offset + limit`).
    Heap {
        /// The order field.
        field: FieldPath,
        /// Descending.
        descending: bool,
        /// Heap size.
        keep: u64,
    },
    /// All matches are sorted in memory, at most `cap` of them.
    Sort {
        /// The order field.
        field: FieldPath,
        /// Descending.
        descending: bool,
        /// The most records sorted before the query fails.
        cap: usize,
    },
}

/// A query plan, as [`TableRead::explain`](crate::table::TableRead::explain)
/// reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The queried table.
    pub table: TableId,
    /// Where records come from.
    pub access: Access,
    /// How they are ordered.
    pub sort: SortPlan,
    /// Conditions checked record by record.
    pub filters: usize,
}

impl Plan {
    /// Whether an index is read (for conditions or for order).
    pub fn uses_index(&self) -> bool {
        matches!(self.access, Access::Index { .. })
    }

    /// The field of the index read, if any.
    pub fn index_field(&self) -> Option<&FieldPath> {
        match &self.access {
            Access::Index { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.access {
            Access::Scan => write!(f, "scan table {}", self.table)?,
            Access::Nothing => write!(f, "nothing (conditions contradict)")?,
            Access::Index {
                index,
                field,
                ranges,
                conditions,
                estimate,
            } => {
                write!(
                    f,
                    "index {index} on ({field}): {ranges} range(s) for {conditions} condition(s)"
                )?;
                match estimate {
                    Estimate::NotProbed => {}
                    Estimate::Exact(n) => write!(f, ", {n} entries")?,
                    Estimate::AtLeast(n) => write!(f, ", over {n} entries")?,
                }
            }
        }
        write!(f, "; filter {} condition(s)", self.filters)?;
        let dir = |d: &bool| if *d { "desc" } else { "asc" };
        match &self.sort {
            SortPlan::None => Ok(()),
            SortPlan::IndexOrder {
                field,
                descending,
                tail_scan,
            } => write!(
                f,
                "; ordered by the index on {field} {}{}",
                dir(descending),
                if *tail_scan {
                    " then a scan for records without it"
                } else {
                    ""
                }
            ),
            SortPlan::Heap {
                field,
                descending,
                keep,
            } => write!(f, "; top {keep} by {field} {} in a heap", dir(descending)),
            SortPlan::Sort {
                field,
                descending,
                cap,
            } => write!(
                f,
                "; sort by {field} {} in memory (at most {cap})",
                dir(descending)
            ),
        }
    }
}

/// One stretch of the record source.
#[derive(Clone, Debug)]
pub(crate) enum Part {
    /// Index ranges in order (reversed for descending).
    Ranges {
        ranges: Vec<Interval>,
        reverse: bool,
    },
    /// The table's entries; with `unorderable`, only records whose value
    /// at that field is not an index key (the tail of an index order).
    Scan { unorderable: Option<FieldPath> },
}

/// An in-memory ordering step.
#[derive(Clone, Debug)]
pub(crate) struct SortSpec {
    pub field: FieldPath,
    pub descending: bool,
    /// `Some(n)`: keep the first n (heap). `None`: sort all.
    pub keep: Option<u64>,
}

/// A plan with what the cursor needs to run it.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub plan: Plan,
    pub table: TableId,
    pub parts: Vec<Part>,
    pub residual: Vec<(FieldPath, Cond)>,
    pub sort: Option<SortSpec>,
    pub limit: Option<u64>,
    pub offset: u64,
    pub sort_cap: usize,
    /// Candidate indexes were probed: the plan depends on the data, not
    /// only on the query and the catalog, so it is not kept for reuse.
    pub probed: bool,
}

impl Planned {
    /// The number of matches when it can be counted without reading
    /// records (no residual filter).
    pub fn fast_count(&self, kv: &dyn KvRead) -> Result<Option<u64>> {
        if !self.residual.is_empty() {
            return Ok(None);
        }
        let mut total = 0;
        for part in &self.parts {
            match part {
                Part::Ranges { ranges, .. } => {
                    for r in ranges {
                        total += kv.count(Bound::Included(&r.lo), upper(&r.hi))?;
                    }
                }
                Part::Scan { unorderable: None } => {
                    let n = kv.count_prefix(&entry_prefix(self.table))?;
                    if n == 0 {
                        // Perhaps a packed record: let the cursor count.
                        return Ok(None);
                    }
                    total += n;
                }
                Part::Scan { .. } => return Ok(None),
            }
        }
        Ok(Some(total))
    }
}

pub(crate) fn upper<B: AsRef<[u8]>>(hi: &Option<B>) -> Bound<&[u8]> {
    hi.as_ref()
        .map_or(Bound::Unbounded, |h| Bound::Excluded(h.as_ref()))
}

struct Candidate<'a> {
    def: &'a IndexDef,
    ranges: Vec<Interval>,
    /// Indexes in the query's conditions of those the ranges answer.
    captured: SmallVec<[usize; 4]>,
    rank: u8,
    estimate: Estimate,
}

impl Candidate<'_> {
    fn score(&self) -> (u8, u64) {
        match self.estimate {
            Estimate::Exact(n) => (0, n),
            _ => (1, u64::from(self.rank)),
        }
    }
}

/// The candidate access of index `def`, if some condition uses it.
fn candidate<'a>(def: &'a IndexDef, conds: &[(FieldPath, Cond)]) -> Option<Candidate<'a>> {
    let prefix = index_prefix(def.id);
    let mut iv: Option<Interval> = None;
    let mut pts: Option<Vec<Vec<u8>>> = None;
    let mut captured = SmallVec::new();
    let (mut exact, mut lower, mut upper_side, mut both) = (false, false, false, false);
    for (i, (field, cond)) in conds.iter().enumerate() {
        if *field != def.field || !cond.indexable() {
            continue;
        }
        captured.push(i);
        match cond {
            Cond::In(list) => {
                exact = true;
                let p = points(list, &prefix);
                pts = Some(match pts {
                    None => p,
                    Some(prev) => prev.into_iter().filter(|x| p.contains(x)).collect(),
                });
            }
            other => {
                match other {
                    Cond::Eq(_) => exact = true,
                    Cond::Gt(_) | Cond::Ge(_) => lower = true,
                    Cond::Lt(_) | Cond::Le(_) => upper_side = true,
                    _ => both = true,
                }
                let x = interval(other, &prefix)?;
                iv = Some(match iv {
                    None => x,
                    Some(prev) => prev.intersect(&x),
                });
            }
        }
    }
    if captured.is_empty() {
        return None;
    }
    let ranges = match (pts, iv) {
        (Some(p), iv) => p
            .into_iter()
            .filter(|pt| iv.as_ref().is_none_or(|iv| iv.holds(pt)))
            .map(|pt| {
                let hi = prefix_end(&pt).map(|k| k.to_vec());
                Interval { lo: pt, hi }
            })
            .collect(),
        (None, Some(iv)) if iv.is_empty() => Vec::new(),
        (None, Some(iv)) => vec![iv],
        (None, None) => Vec::new(),
    };
    let rank = if exact {
        0
    } else if both || (lower && upper_side) {
        1
    } else {
        2
    };
    Some(Candidate {
        def,
        ranges,
        captured,
        rank,
        estimate: Estimate::NotProbed,
    })
}

/// Count the entries of `ranges`, stopping past `budget`.
fn probe(kv: &dyn KvRead, ranges: &[Interval], budget: u64) -> Result<Estimate> {
    let mut n = 0u64;
    for r in ranges {
        let mut cursor = kv.cursor(Bound::Included(&r.lo), upper(&r.hi), false);
        loop {
            // Count leaf runs of entries without copying them out.
            let left = (budget + 1 - n) as usize;
            let got = kv.cursor_next_run(&mut cursor, left, &mut |_, _| Ok(()))?;
            if got == 0 {
                break;
            }
            n += got as u64;
            if n > budget {
                return Ok(Estimate::AtLeast(budget));
            }
        }
    }
    Ok(Estimate::Exact(n))
}

/// The whole key range of an index.
fn whole_index(def: &IndexDef) -> Vec<Interval> {
    let lo = index_prefix(def.id);
    let hi = prefix_end(&lo).map(|k| k.to_vec());
    vec![Interval {
        lo: lo.to_vec(),
        hi,
    }]
}

/// The plan of `query`: the one the catalog keeps for it, or a new one
/// (then kept if it may be: `plan_cache.rs`).
pub(crate) fn shared(kv: &dyn KvRead, catalog: &Catalog, query: &Query) -> Result<Rc<Planned>> {
    if let Some(planned) = catalog.plans().get(query) {
        return Ok(planned);
    }
    let planned = Rc::new(make(kv, catalog, query)?);
    catalog.plans().offer(query, &planned);
    Ok(planned)
}

/// Plan `query`.
pub(crate) fn make(kv: &dyn KvRead, catalog: &Catalog, query: &Query) -> Result<Planned> {
    query.check()?;
    let table = query.table;
    let conds = &query.conds;
    let mut cands: SmallVec<[Candidate<'_>; 2]> = catalog
        .indexes_on(table)
        .iter()
        .filter_map(|def| candidate(def, conds))
        .collect();
    let order = query
        .order
        .as_ref()
        .map(|(f, o)| (f.clone(), *o == Order::Desc));
    let order_index = order.as_ref().and_then(|(f, _)| catalog.index(table, f));
    let mut planned = Planned {
        plan: Plan {
            table,
            access: Access::Scan,
            sort: SortPlan::None,
            filters: 0,
        },
        table,
        parts: Vec::new(),
        residual: Vec::new(),
        sort: None,
        limit: query.limit,
        offset: query.offset,
        sort_cap: query.sort_cap,
        probed: false,
    };

    if let Some(empty) = cands.iter().find(|c| c.ranges.is_empty()) {
        let captured = empty.captured.len();
        planned.plan.access = Access::Nothing;
        planned.plan.filters = conds.len() - captured;
        return Ok(planned);
    }

    let order_elsewhere = match (&order, cands.first()) {
        (Some((f, _)), Some(_)) => {
            order_index.is_some()
                && query.limit.is_some()
                && cands.iter().all(|c| c.def.field != *f)
        }
        _ => false,
    };
    if cands.len() > 1 || order_elsewhere {
        planned.probed = true;
        for c in &mut cands {
            c.estimate = probe(kv, &c.ranges, PROBE_BUDGET)?;
        }
    }
    // Prefer a candidate on the order field when scores tie.
    let best = cands
        .iter()
        .enumerate()
        .min_by_key(|(i, c)| {
            let on_order = order.as_ref().is_some_and(|(f, _)| c.def.field == *f);
            (c.score(), !on_order, *i)
        })
        .map(|(i, _)| i);
    let best = best.and_then(|i| cands.into_iter().nth(i));
    // With a limit, a selective condition elsewhere still beats streaming
    // the order index only if the probe found it small.
    let best = match best {
        Some(c) if order_elsewhere && !matches!(c.estimate, Estimate::Exact(_)) => None,
        other => other,
    };

    let residual_without = |captured: &[usize]| -> Vec<(FieldPath, Cond)> {
        conds
            .iter()
            .enumerate()
            .filter(|(i, _)| !captured.contains(i))
            .map(|(_, c)| c.clone())
            .collect()
    };
    let sort_in_memory = |field: FieldPath, descending: bool| -> (SortSpec, SortPlan) {
        match query.limit {
            Some(limit) => {
                let keep = query.offset.saturating_add(limit);
                (
                    SortSpec {
                        field: field.clone(),
                        descending,
                        keep: Some(keep),
                    },
                    SortPlan::Heap {
                        field,
                        descending,
                        keep,
                    },
                )
            }
            None => (
                SortSpec {
                    field: field.clone(),
                    descending,
                    keep: None,
                },
                SortPlan::Sort {
                    field,
                    descending,
                    cap: query.sort_cap,
                },
            ),
        }
    };
    let index_access =
        |def: &IndexDef, ranges: usize, conditions: usize, estimate: Estimate| Access::Index {
            index: def.id,
            field: def.field.clone(),
            ranges,
            conditions,
            estimate,
        };

    match (best, order) {
        (Some(c), Some((field, descending))) if c.def.field == field => {
            planned.plan.access = index_access(c.def, c.ranges.len(), c.captured.len(), c.estimate);
            planned.plan.sort = SortPlan::IndexOrder {
                field,
                descending,
                tail_scan: false,
            };
            planned.parts = vec![Part::Ranges {
                ranges: c.ranges,
                reverse: descending,
            }];
            planned.residual = residual_without(&c.captured);
        }
        (Some(c), Some((field, descending))) => {
            planned.plan.access = index_access(c.def, c.ranges.len(), c.captured.len(), c.estimate);
            let (spec, plan) = sort_in_memory(field, descending);
            planned.sort = Some(spec);
            planned.plan.sort = plan;
            planned.parts = vec![Part::Ranges {
                ranges: c.ranges,
                reverse: false,
            }];
            planned.residual = residual_without(&c.captured);
        }
        (Some(c), None) => {
            planned.plan.access = index_access(c.def, c.ranges.len(), c.captured.len(), c.estimate);
            planned.parts = vec![Part::Ranges {
                ranges: c.ranges,
                reverse: false,
            }];
            planned.residual = residual_without(&c.captured);
        }
        (None, Some((field, descending))) => match order_index {
            Some(def) => {
                planned.plan.access = index_access(def, 1, 0, Estimate::NotProbed);
                planned.plan.sort = SortPlan::IndexOrder {
                    field: field.clone(),
                    descending,
                    tail_scan: true,
                };
                planned.parts = vec![
                    Part::Ranges {
                        ranges: whole_index(def),
                        reverse: descending,
                    },
                    Part::Scan {
                        unorderable: Some(field),
                    },
                ];
                planned.residual = conds.clone();
            }
            None => {
                let (spec, plan) = sort_in_memory(field, descending);
                planned.sort = Some(spec);
                planned.plan.sort = plan;
                planned.parts = vec![Part::Scan { unorderable: None }];
                planned.residual = conds.clone();
            }
        },
        (None, None) => {
            planned.parts = vec![Part::Scan { unorderable: None }];
            planned.residual = conds.clone();
        }
    }
    planned.plan.filters = planned.residual.len();
    Ok(planned)
}
