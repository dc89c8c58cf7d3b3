//! Query conditions: their meaning on a record's field (Lua comparison
//! rules), and the index key ranges that capture them exactly.
//!
//! Lua rules: numbers compare across integers and floats by exact value,
//! strings bytewise; values of different types are never equal and never
//! ordered (`age < 5` is false for a string age, not an error); booleans
//! are equal or not but not ordered; NaN equals nothing. Like Lua's `~=`,
//! `!=` and `not in` match a missing field. Tables and functions only
//! match `exists`, `!=`, `not in`.

use std::cmp::Ordering;

use crate::codec::{encode_key, Key, Value};
use crate::kv::into_prefix_end;
use crate::table::keyspace::{class_tag, string_prefix_bytes};

/// One condition on a field.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// `field == v`.
    Eq(Key),
    /// `field ~= v` (true for a missing field).
    Ne(Key),
    /// `field < v` (numbers with numbers, strings with strings).
    Lt(Key),
    /// `field <= v`.
    Le(Key),
    /// `field > v`.
    Gt(Key),
    /// `field >= v`.
    Ge(Key),
    /// `lo <= field <= hi`.
    Between(Key, Key),
    /// `field` equals one of the values.
    In(Vec<Key>),
    /// `field` equals none of the values (true for a missing field).
    NotIn(Vec<Key>),
    /// A string field starting with these bytes.
    StartsWith(Vec<u8>),
    /// A string field ending with these bytes.
    EndsWith(Vec<u8>),
    /// A string field containing these bytes.
    Contains(Vec<u8>),
    /// The field is present (not nil).
    Exists,
    /// The field is absent (nil).
    Missing,
}

impl Cond {
    /// Short operator name for plans and messages.
    pub fn op(&self) -> &'static str {
        match self {
            Cond::Eq(_) => "=",
            Cond::Ne(_) => "!=",
            Cond::Lt(_) => "<",
            Cond::Le(_) => "<=",
            Cond::Gt(_) => ">",
            Cond::Ge(_) => ">=",
            Cond::Between(..) => "between",
            Cond::In(_) => "in",
            Cond::NotIn(_) => "not in",
            Cond::StartsWith(_) => "startsWith",
            Cond::EndsWith(_) => "endsWith",
            Cond::Contains(_) => "contains",
            Cond::Exists => "exists",
            Cond::Missing => "missing",
        }
    }

    /// Whether an index range can answer this condition exactly.
    pub fn indexable(&self) -> bool {
        matches!(
            self,
            Cond::Eq(_)
                | Cond::Lt(_)
                | Cond::Le(_)
                | Cond::Gt(_)
                | Cond::Ge(_)
                | Cond::Between(..)
                | Cond::In(_)
                | Cond::StartsWith(_)
        )
    }

    /// Whether a field holding `value` (`None`: missing) satisfies this.
    pub fn matches(&self, value: Option<&Value>) -> bool {
        let key = value.and_then(Value::as_key);
        let key = key.as_ref();
        let text = match value {
            Some(Value::Str(s)) => Some(s.as_slice()),
            _ => None,
        };
        match self {
            Cond::Eq(k) => key == Some(k),
            Cond::Ne(k) => key != Some(k),
            Cond::Lt(k) => compare(key, k) == Some(Ordering::Less),
            Cond::Le(k) => matches!(compare(key, k), Some(Ordering::Less | Ordering::Equal)),
            Cond::Gt(k) => compare(key, k) == Some(Ordering::Greater),
            Cond::Ge(k) => matches!(compare(key, k), Some(Ordering::Greater | Ordering::Equal)),
            Cond::Between(lo, hi) => {
                matches!(compare(key, lo), Some(Ordering::Greater | Ordering::Equal))
                    && matches!(compare(key, hi), Some(Ordering::Less | Ordering::Equal))
            }
            Cond::In(list) => key.is_some_and(|k| list.contains(k)),
            Cond::NotIn(list) => !key.is_some_and(|k| list.contains(k)),
            Cond::StartsWith(p) => text.is_some_and(|s| s.starts_with(p)),
            Cond::EndsWith(p) => text.is_some_and(|s| s.ends_with(p)),
            Cond::Contains(p) => text.is_some_and(|s| contains(s, p)),
            Cond::Exists => value.is_some(),
            Cond::Missing => value.is_none(),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether `k` can be ordered (numbers and strings).
fn orderable(k: &Key) -> bool {
    matches!(k, Key::Int(_) | Key::Float(_) | Key::Str(_))
}

fn same_class(a: &Key, b: &Key) -> bool {
    matches!(
        (a, b),
        (Key::Int(_) | Key::Float(_), Key::Int(_) | Key::Float(_)) | (Key::Str(_), Key::Str(_))
    )
}

/// Lua's `<` family: an order only between two numbers or two strings.
fn compare(a: Option<&Key>, b: &Key) -> Option<Ordering> {
    let a = a?;
    if same_class(a, b) {
        Some(a.cmp(b))
    } else {
        None
    }
}

/// A byte interval `[lo, hi)` of index keys (`hi = None`: unbounded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Interval {
    pub lo: Vec<u8>,
    pub hi: Option<Vec<u8>>,
}

impl Interval {
    pub fn is_empty(&self) -> bool {
        self.hi.as_ref().is_some_and(|hi| *hi <= self.lo)
    }

    pub fn intersect(&self, other: &Interval) -> Interval {
        let lo = self.lo.clone().max(other.lo.clone());
        let hi = match (&self.hi, &other.hi) {
            (Some(a), Some(b)) => Some(a.clone().min(b.clone())),
            (Some(a), None) | (None, Some(a)) => Some(a.clone()),
            (None, None) => None,
        };
        Interval { lo, hi }
    }

    /// Whether every index key starting with `point` (a value prefix) lies
    /// inside. Interval ends from conditions fall on value boundaries, so
    /// testing the prefix itself is exact.
    pub fn holds(&self, point: &[u8]) -> bool {
        point >= self.lo.as_slice() && self.hi.as_ref().is_none_or(|hi| point < hi.as_slice())
    }
}

// Both allocate once: `prefix.to_vec()` would size the vector to the
// prefix alone, and the first byte after it would reallocate.
fn with_key(prefix: &[u8], k: &Key) -> Vec<u8> {
    let mut v = Vec::with_capacity(prefix.len() + k.encoded_len());
    v.extend_from_slice(prefix);
    encode_key(k, &mut v);
    v
}

fn with_byte(prefix: &[u8], b: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(prefix.len() + 1);
    v.extend_from_slice(prefix);
    v.push(b);
    v
}

/// The exact interval of index keys (under `prefix = 02 <index id>`) whose
/// values satisfy a range condition; `None` for conditions that are not
/// intervals (`In` and non-indexable ones). An empty interval means no
/// value can match.
pub(crate) fn interval(cond: &Cond, prefix: &[u8]) -> Option<Interval> {
    let empty = || Interval {
        lo: prefix.to_vec(),
        hi: Some(prefix.to_vec()),
    };
    // The range of all values of k's class (numbers, or strings).
    let class = |k: &Key| {
        let tag = class_tag(k);
        (
            with_byte(prefix, tag),
            with_byte(prefix, tag.saturating_add(1)),
        )
    };
    Some(match cond {
        Cond::Eq(k) => {
            let p = with_key(prefix, k);
            let hi = into_prefix_end(p.clone());
            Interval { lo: p, hi }
        }
        Cond::Gt(k) | Cond::Ge(k) | Cond::Lt(k) | Cond::Le(k) if !orderable(k) => empty(),
        Cond::Gt(k) => Interval {
            lo: into_prefix_end(with_key(prefix, k))?,
            hi: Some(class(k).1),
        },
        Cond::Ge(k) => Interval {
            lo: with_key(prefix, k),
            hi: Some(class(k).1),
        },
        Cond::Lt(k) => Interval {
            lo: class(k).0,
            hi: Some(with_key(prefix, k)),
        },
        Cond::Le(k) => Interval {
            lo: class(k).0,
            hi: into_prefix_end(with_key(prefix, k)),
        },
        Cond::Between(lo, hi) => {
            if !orderable(lo) || !same_class(lo, hi) {
                empty()
            } else {
                Interval {
                    lo: with_key(prefix, lo),
                    hi: into_prefix_end(with_key(prefix, hi)),
                }
            }
        }
        Cond::StartsWith(p) => {
            let mut lo = prefix.to_vec();
            lo.extend_from_slice(&string_prefix_bytes(p));
            let hi = into_prefix_end(lo.clone());
            Interval { lo, hi }
        }
        _ => return None,
    })
}

/// The value prefixes (`02 <id> <value>`) of an `In` list, sorted, unique.
pub(crate) fn points(list: &[Key], prefix: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = list.iter().map(|k| with_key(prefix, k)).collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.as_bytes().to_vec())
    }

    #[test]
    fn lua_comparison_rules() {
        let five = Some(&Value::Int(5));
        assert!(Cond::Eq(Key::Int(5)).matches(Some(&Value::Float(5.0))));
        assert!(Cond::Lt(Key::Float(5.5)).matches(five));
        assert!(!Cond::Lt(Key::from("a")).matches(five));
        assert!(!Cond::Gt(Key::from("a")).matches(five));
        assert!(Cond::Ne(Key::from("a")).matches(five));
        assert!(Cond::Ne(Key::Int(1)).matches(None));
        assert!(!Cond::Eq(Key::Int(1)).matches(None));
        assert!(!Cond::Lt(Key::Bool(true)).matches(Some(&Value::Bool(false))));
        assert!(!Cond::Eq(Key::Int(0)).matches(Some(&Value::Float(f64::NAN))));
        assert!(Cond::Ne(Key::Int(0)).matches(Some(&Value::Float(f64::NAN))));
        assert!(Cond::Between(Key::Int(1), Key::Int(5)).matches(five));
        assert!(!Cond::Between(Key::Int(1), Key::from("z")).matches(five));
        assert!(Cond::In(vec![Key::Int(4), Key::Int(5)]).matches(five));
        assert!(Cond::NotIn(vec![Key::Int(4)]).matches(None));
        assert!(Cond::StartsWith(b"ab".to_vec()).matches(Some(&s("abc"))));
        assert!(Cond::EndsWith(b"bc".to_vec()).matches(Some(&s("abc"))));
        assert!(Cond::Contains(b"b".to_vec()).matches(Some(&s("abc"))));
        assert!(!Cond::Contains(b"b".to_vec()).matches(five));
        assert!(Cond::Exists.matches(Some(&Value::Table(3))));
        assert!(Cond::Missing.matches(None));
        assert!(!Cond::Eq(Key::Int(3)).matches(Some(&Value::Table(3))));
    }

    #[test]
    fn intervals_match_conditions_exactly() {
        let prefix = [2u8, 0, 0, 0, 0, 0, 0, 0, 9];
        let values = [
            Key::Bool(false),
            Key::Bool(true),
            Key::Int(-3),
            Key::Int(4),
            Key::Float(4.5),
            Key::Int(5),
            Key::Float(f64::INFINITY),
            Key::from(""),
            Key::from("a"),
            Key::from("ab"),
            Key::from("abc"),
            Key::from("b"),
            Key::Str(vec![0]),
        ];
        let conds = [
            Cond::Eq(Key::Int(4)),
            Cond::Eq(Key::from("ab")),
            Cond::Eq(Key::Bool(true)),
            Cond::Lt(Key::Int(5)),
            Cond::Le(Key::Int(5)),
            Cond::Gt(Key::Float(4.5)),
            Cond::Ge(Key::Int(4)),
            Cond::Lt(Key::from("ab")),
            Cond::Gt(Key::from("a")),
            Cond::Gt(Key::Bool(false)),
            Cond::Between(Key::Int(-3), Key::Float(4.5)),
            Cond::Between(Key::from("a"), Key::from("abc")),
            Cond::Between(Key::Int(1), Key::from("z")),
            Cond::StartsWith(b"ab".to_vec()),
            Cond::StartsWith(b"".to_vec()),
        ];
        for cond in &conds {
            let iv = interval(cond, &prefix).expect("interval");
            for v in &values {
                let mut key = with_key(&prefix, v);
                encode_key(&Key::from("record"), &mut key);
                let inside = key >= iv.lo && iv.hi.as_ref().is_none_or(|hi| key < *hi);
                assert_eq!(
                    inside,
                    cond.matches(Some(&Value::from(v.clone()))),
                    "{cond:?} on {v:?}"
                );
                assert_eq!(
                    iv.holds(&with_key(&prefix, v)),
                    inside,
                    "holds {cond:?} {v:?}"
                );
            }
        }
    }
}
