//! What a write assigns: nil, a scalar, or a nested table literal.

use super::field::normalize_key;
use super::keyspace::ENTRY_PREFIX_LEN;
use crate::codec::{Key, Value};
use crate::error::{EngineError, Result};
use std::cmp::Ordering;

/// Deepest table literal a single write accepts (the write is iterative;
/// the limit keeps validation and `Drop` of the literal off thin stacks,
/// e.g. wasm's 128 KiB).
pub const MAX_INPUT_DEPTH: usize = 100;

/// The right-hand side of an assignment `t[k] = input`.
///
/// - `Nil` deletes the entry; a child table there is deleted recursively
///   (its entries, sub-tables, and the indexes and schema defined on them).
/// - `Value` stores a scalar (anything but [`Value::Table`]: tables are
///   assigned by content, with `Table`).
/// - `Table` deep-copies a table literal in one call. Where a table already
///   is, it keeps its identity (id, indexes, schema) and its content becomes
///   exactly the literal's: missing keys are deleted, sub-tables are
///   updated the same way, unchanged values are not rewritten.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Delete.
    Nil,
    /// A scalar value.
    Value(Value),
    /// A table literal: `(key, input)` pairs in any order; a repeated key
    /// keeps its last value, `Nil` entries are dropped.
    Table(Vec<(Key, Input)>),
}

impl Input {
    /// A table literal from pairs.
    pub fn table<K: Into<Key>, I: Into<Input>>(entries: impl IntoIterator<Item = (K, I)>) -> Input {
        Input::Table(
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// An empty table literal.
    pub fn empty_table() -> Input {
        Input::Table(Vec::new())
    }

    /// Whether this deletes.
    pub fn is_nil(&self) -> bool {
        matches!(self, Input::Nil)
    }

    /// Lua type name of the input (`"nil"`, `"table"`, or the value's).
    pub fn type_name(&self) -> &'static str {
        match self {
            Input::Nil => "nil",
            Input::Value(v) => v.type_name(),
            Input::Table(_) => "table",
        }
    }

    /// The value of key `key` in a (normalised) table literal.
    pub(crate) fn lookup<'a>(entries: &'a [(Key, Input)], key: &Key) -> Option<&'a Input> {
        entries
            .binary_search_by(|(k, _)| k.cmp(key))
            .ok()
            .and_then(|i| entries.get(i))
            .map(|(_, v)| v)
    }
}

impl From<Value> for Input {
    fn from(v: Value) -> Self {
        Input::Value(v)
    }
}

impl From<Option<Value>> for Input {
    fn from(v: Option<Value>) -> Self {
        v.map_or(Input::Nil, Input::Value)
    }
}

impl From<i64> for Input {
    fn from(n: i64) -> Self {
        Input::Value(Value::Int(n))
    }
}

impl From<f64> for Input {
    fn from(x: f64) -> Self {
        Input::Value(Value::Float(x))
    }
}

impl From<bool> for Input {
    fn from(b: bool) -> Self {
        Input::Value(Value::Bool(b))
    }
}

impl From<&str> for Input {
    fn from(s: &str) -> Self {
        Input::Value(Value::Str(s.as_bytes().to_vec()))
    }
}

impl From<String> for Input {
    fn from(s: String) -> Self {
        Input::Value(Value::Str(s.into_bytes()))
    }
}

/// Put a literal in canonical form, checking everything that can be checked
/// before the first byte is written: keys normalised (NaN refused, integral
/// floats to integers) and short enough, entries sorted with duplicates
/// resolved (last wins) and `Nil`s dropped, no `Value::Table`, nesting at
/// most [`MAX_INPUT_DEPTH`]. Iterative, so deep literals cannot overflow.
pub(crate) fn normalize(input: &mut Input, max_key_len: usize) -> Result<()> {
    let mut stack: smallvec::SmallVec<[(&mut Input, usize); 16]> = smallvec::smallvec![(input, 1)];
    while let Some((node, depth)) = stack.pop() {
        match node {
            Input::Nil => {}
            Input::Value(Value::Table(id)) => {
                return Err(EngineError::InvalidArgument(format!(
                "cannot assign a reference to table {id}: assign tables by content (Input::Table)"
            )))
            }
            Input::Value(_) => {}
            Input::Table(entries) => {
                if depth > MAX_INPUT_DEPTH {
                    return Err(EngineError::InvalidArgument(format!(
                        "table literal nested deeper than {MAX_INPUT_DEPTH} levels"
                    )));
                }
                // In place: literals are usually small and already sorted.
                for (k, _) in entries.iter_mut() {
                    if let Key::Float(x) = *k {
                        *k = normalize_key(Key::Float(x))?;
                    }
                    check_key_len(k, max_key_len)?;
                }
                // Stable sort keeps literal order among equal keys; the last
                // of a run wins (its value moves into the survivor). A sort
                // that leaves two keys side by side as equal has compared
                // them as equal (nothing else orders them), so without such
                // a comparison there is nothing to merge.
                let mut equal_keys = false;
                if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
                    let mut order = |a: &(Key, Input), b: &(Key, Input)| {
                        let order = a.0.cmp(&b.0);
                        equal_keys |= order.is_eq();
                        order
                    };
                    if entries.len() <= SHORT_LITERAL {
                        insertion_sort(entries, &mut order);
                    } else {
                        entries.sort_by(order);
                    }
                }
                if equal_keys {
                    entries.dedup_by(|later, kept| {
                        if later.0 == kept.0 {
                            std::mem::swap(&mut later.1, &mut kept.1);
                            true
                        } else {
                            false
                        }
                    });
                }
                if entries.iter().any(|(_, v)| v.is_nil()) {
                    entries.retain(|(_, v)| !v.is_nil());
                }
                for (_, v) in entries.iter_mut() {
                    stack.push((v, depth + 1));
                }
            }
        }
    }
    Ok(())
}

/// Literals of up to this many entries are sorted by [`insertion_sort`]:
/// a record's few fields, where the library's sort spent more on setting
/// up than on comparing (loading 10K users: 670 instructions a record).
const SHORT_LITERAL: usize = 16;

/// Sort `items` by `order`, stably: each item moves left past the greater
/// ones before it.
fn insertion_sort<T>(items: &mut [T], order: &mut impl FnMut(&T, &T) -> Ordering) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && order(&items[j - 1], &items[j]).is_gt() {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Refuse a key whose entry key would exceed the B-tree's key limit.
pub(crate) fn check_key_len(key: &Key, max_key_len: usize) -> Result<()> {
    // A string's encoding is at most 3 bytes plus twice its own (each zero
    // byte is escaped): a short one needs no count of its zero bytes.
    if let Key::Str(s) = key {
        if ENTRY_PREFIX_LEN + 3 + 2 * s.len() <= max_key_len {
            return Ok(());
        }
    }
    let len = ENTRY_PREFIX_LEN + key.encoded_len();
    if len > max_key_len {
        return Err(EngineError::KeyTooLong {
            what: format!("table key {}", short(key)),
            len,
            max: max_key_len,
        });
    }
    Ok(())
}

/// A key for messages, cut to a readable length.
pub(crate) fn short(key: &Key) -> String {
    let s = key.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_sorts_dedupes_and_refuses() {
        let mut i = Input::Table(vec![
            (Key::from("b"), 1.into()),
            (Key::Float(2.0), 2.into()),
            (Key::from("b"), 3.into()),
            (Key::from("gone"), Input::Nil),
            (Key::Int(1), Input::table([("x", true)])),
        ]);
        normalize(&mut i, 1000).unwrap();
        let Input::Table(e) = &i else { panic!() };
        let keys: Vec<_> = e.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, vec![Key::Int(1), Key::Int(2), Key::from("b")]);
        assert_eq!(Input::lookup(e, &Key::from("b")), Some(&Input::from(3)));

        let mut nan = Input::Table(vec![(Key::Float(f64::NAN), 1.into())]);
        assert!(normalize(&mut nan, 1000).is_err());
        let mut reference = Input::Table(vec![(Key::Int(1), Input::Value(Value::Table(4)))]);
        assert!(normalize(&mut reference, 1000).is_err());
        let mut long = Input::Table(vec![(Key::from("x".repeat(100).as_str()), 1.into())]);
        assert!(matches!(
            normalize(&mut long, 50),
            Err(EngineError::KeyTooLong { .. })
        ));
        let mut deep = Input::Nil;
        for _ in 0..=MAX_INPUT_DEPTH {
            deep = Input::Table(vec![(Key::Int(1), deep)]);
        }
        assert!(normalize(&mut deep, 1000).is_err());
    }

    /// Any literal normalizes to what a map of its keys keeps: the last
    /// write of each key (integral floats and integers one key), without
    /// the nils, in key order. Small key sets make duplicates common.
    #[test]
    fn normalize_keeps_the_last_write_of_each_key() {
        fn prop(shape: Vec<(u8, bool)>) -> bool {
            let key = |k: u8| match k % 4 {
                0 => Key::Int(i64::from(k % 5)),
                1 => Key::Float(f64::from(k % 5)),
                2 => Key::Float(f64::from(k % 5) + 0.5),
                _ => Key::from(["a", "b", "ab"][usize::from(k % 3)]),
            };
            let entries: Vec<(Key, Input)> = shape
                .iter()
                .enumerate()
                .map(|(i, &(k, nil))| (key(k), if nil { Input::Nil } else { (i as i64).into() }))
                .collect();
            let mut model = std::collections::BTreeMap::new();
            for (k, v) in &entries {
                model.insert(normalize_key(k.clone()).unwrap(), v.clone());
            }
            let want: Vec<(Key, Input)> = model.into_iter().filter(|(_, v)| !v.is_nil()).collect();
            let mut input = Input::Table(entries);
            normalize(&mut input, 1000).unwrap();
            matches!(input, Input::Table(got) if got == want)
        }
        quickcheck::QuickCheck::new()
            .tests(500)
            .quickcheck(prop as fn(Vec<(u8, bool)>) -> bool);
    }
}
