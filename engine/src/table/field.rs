//! Field paths inside records (`"profile.address.city"`), and resolving
//! them against stored values.

use std::borrow::Cow;
use std::fmt;
use std::rc::Rc;

use super::keyspace::entry_key;
use super::packed::{load_record, packed_location, packed_record};
use crate::codec::{
    decode_stored, decode_stored_owned, decode_stored_view, decode_stored_view_vouched, fmt_path,
    Key, Record, Scalar, Stored, StoredView, Value,
};
use crate::error::{EngineError, Result};
use crate::kv::{KvRead, Lent};

/// The path of a field inside a record: `age`, `profile.address.city`, or
/// any keys (`FieldPath::new(vec![Key::from("tags"), Key::Int(1)])`).
/// Never empty. Shared, not copied, when cloned (a plan, an index
/// definition and a schema each hold the paths they name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Rc<[Key]>);

impl FieldPath {
    /// A path of arbitrary keys; refuses an empty path and NaN keys, and
    /// normalises integral float keys to integers as Lua does.
    pub fn new(keys: Vec<Key>) -> Result<FieldPath> {
        if keys.is_empty() {
            return Err(EngineError::InvalidArgument(
                "a field path needs at least one key (e.g. \"age\")".into(),
            ));
        }
        let keys = keys
            .into_iter()
            .map(normalize_key)
            .collect::<Result<Vec<_>>>()?;
        Ok(FieldPath(keys.into()))
    }

    /// Parse dotted names: `"profile.address.city"`. Every component is a
    /// string key; use [`FieldPath::new`] for integer or other keys.
    pub fn parse(s: &str) -> Result<FieldPath> {
        if s.is_empty() || s.split('.').any(str::is_empty) {
            return Err(EngineError::InvalidArgument(format!(
                "invalid field path {s:?}: use dotted names like \"profile.city\""
            )));
        }
        Ok(FieldPath(s.split('.').map(Key::from).collect()))
    }

    /// The keys of the path, outermost first.
    pub fn keys(&self) -> &[Key] {
        &self.0
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false (paths are never empty); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_path(&self.0))
    }
}

/// Things that name a field path: `&str`/`String` (dotted), a
/// [`FieldPath`], or a `Vec<Key>`.
pub trait IntoFieldPath {
    /// Convert, reporting a malformed path.
    fn into_field_path(self) -> Result<FieldPath>;
}

impl IntoFieldPath for FieldPath {
    fn into_field_path(self) -> Result<FieldPath> {
        Ok(self)
    }
}

impl IntoFieldPath for &FieldPath {
    fn into_field_path(self) -> Result<FieldPath> {
        Ok(self.clone())
    }
}

impl IntoFieldPath for &str {
    fn into_field_path(self) -> Result<FieldPath> {
        FieldPath::parse(self)
    }
}

impl IntoFieldPath for String {
    fn into_field_path(self) -> Result<FieldPath> {
        FieldPath::parse(&self)
    }
}

impl IntoFieldPath for Vec<Key> {
    fn into_field_path(self) -> Result<FieldPath> {
        FieldPath::new(self)
    }
}

/// A key as Lua would use it: NaN refused, integral floats as integers.
pub fn normalize_key(key: Key) -> Result<Key> {
    match key {
        Key::Float(x) => Ok(Key::from_f64(x)?),
        other => Ok(other),
    }
}

/// Read one entry's value (a packed record reads as its table id).
pub(crate) fn get_value(kv: &dyn KvRead, table: u64, key: &Key) -> Result<Option<Value>> {
    Ok(get_stored(kv, table, key)?.map(Stored::into_value))
}

/// Read one entry's value as stored. `table` may be a packed record: an
/// absent entry key sends the read to the record in its parent's entry.
pub(crate) fn get_stored(kv: &dyn KvRead, table: u64, key: &Key) -> Result<Option<Stored>> {
    Ok(match read_field(kv, table, key)? {
        FieldRead::Entry(v) => v,
        FieldRead::Packed(r) => field_of(r, key),
    })
}

/// `f` of `table[key]` as stored, lent in place: a packed record as a
/// [`StoredView`] of the page it sits on, so a reader that only looks at
/// its fields allocates nothing. `table` may be a packed record (its field
/// `key` comes decoded). `f` runs while the page is borrowed: it must not
/// write through the transaction (the borrow checker sees to that).
pub(crate) fn with_stored<R>(
    kv: &dyn KvRead,
    table: u64,
    key: &Key,
    f: impl FnOnce(Option<StoredView<'_>>) -> R,
) -> Result<R> {
    let mut f = Some(f);
    let mut out = None;
    kv.get_vouched(&entry_key(table, key), &mut |bytes, vouched| {
        let view = decode_stored_view_vouched(bytes, vouched)?;
        out = f.take().map(|f| f(Some(view)));
        Ok(())
    })?;
    if let Some(out) = out {
        return Ok(out);
    }
    let Some(f) = f else {
        return Err(EngineError::corrupted(
            "table entry",
            "the reader ran without producing a result",
        ));
    };
    let Some((parent, at)) = packed_location(kv, table)? else {
        return Ok(f(None));
    };
    let mut field = None;
    kv.get_with(&entry_key(parent, &at), &mut |bytes| {
        field = match decode_stored_view(bytes)? {
            StoredView::Record(r) if r.id == table => Some(r.get(key).map(Scalar::to_value)),
            _ => None,
        };
        Ok(())
    })?;
    match field {
        Some(v) => Ok(f(v.map(StoredView::Value))),
        // The meta says a packed record is there and it is not.
        None => load_record(kv, table, parent, &at).map(|_| f(None)),
    }
}

/// What a read of `table[key]` found: the entry (or its absence) of a
/// table of entries, or the whole packed record `table` is (which has the
/// key or not).
#[derive(Clone, Debug, PartialEq)]
pub enum FieldRead {
    /// `table` is a table of entries (or does not exist); the entry's
    /// value, if any.
    Entry(Option<Stored>),
    /// `table` is this packed record.
    Packed(Record),
}

/// See [`FieldRead`].
pub(crate) fn read_field(kv: &dyn KvRead, table: u64, key: &Key) -> Result<FieldRead> {
    let mut value = None;
    kv.get_lent(&entry_key(table, key), &mut |lent| {
        value = Some(decode_lent(lent)?);
        Ok(())
    })?;
    if value.is_some() {
        return Ok(FieldRead::Entry(value));
    }
    Ok(match packed_record(kv, table)? {
        Some(r) => FieldRead::Packed(r),
        None => FieldRead::Entry(None),
    })
}

/// Decode a lent entry value; one read from an overflow chain is decoded
/// out of the buffer it was read into ([`decode_stored_owned`]), so a large
/// string or function is held once.
pub(crate) fn decode_lent(lent: Lent<'_>) -> Result<Stored> {
    Ok(match lent.read()? {
        Cow::Borrowed(bytes) => decode_stored(bytes)?,
        Cow::Owned(bytes) => decode_stored_owned(bytes)?,
    })
}

/// Field `key` of a packed record, taken out of it.
fn field_of(record: Record, key: &Key) -> Option<Stored> {
    let i = record.position(key).ok()?;
    record
        .fields
        .into_iter()
        .nth(i)
        .map(|(_, v)| Stored::Value(v))
}

/// The value at `path` below `value` (the value itself for an empty path):
/// walks child tables, packed or not; a non-table in the way means
/// "missing".
pub(crate) fn resolve(
    kv: &dyn KvRead,
    value: Option<&Stored>,
    path: &[Key],
) -> Result<Option<Value>> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(value.map(Stored::to_value));
    };
    let mut table = match value {
        Some(Stored::Value(Value::Table(t))) => *t,
        Some(Stored::Record(r)) => {
            return Ok(if rest.is_empty() {
                r.get(first).cloned()
            } else {
                None
            })
        }
        _ => return Ok(None),
    };
    let mut key = first;
    let mut rest = rest;
    loop {
        let found = get_stored(kv, table, key)?;
        match rest.split_first() {
            None => return Ok(found.map(Stored::into_value)),
            Some((next, more)) => match found {
                Some(Stored::Value(Value::Table(t))) => {
                    table = t;
                    key = next;
                    rest = more;
                }
                Some(Stored::Record(r)) => {
                    return Ok(if more.is_empty() {
                        field_of(r, next).map(Stored::into_value)
                    } else {
                        None
                    })
                }
                _ => return Ok(None),
            },
        }
    }
}

/// [`resolve`] as an index key: scalars only (see [`Value::as_key`]).
pub(crate) fn resolve_key(
    kv: &dyn KvRead,
    value: Option<&Stored>,
    path: &[Key],
) -> Result<Option<Key>> {
    match (value, path) {
        // The value itself: no clone of it on the way to its key.
        (Some(Stored::Value(v)), []) => Ok(v.as_key()),
        (None, _) | (Some(Stored::Record(_)), []) => Ok(None),
        // A field of a packed record (an index on a collection of records,
        // maintained on every write of one): no clone, no lookup.
        (Some(Stored::Record(r)), [field]) => Ok(r.get(field).and_then(Value::as_key)),
        _ => Ok(resolve(kv, value, path)?.and_then(|v| v.as_key())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let p = FieldPath::parse("profile.address.city").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.to_string(), "profile.address.city");
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::new(vec![]).is_err());
        let p = FieldPath::new(vec![Key::from("tags"), Key::Float(2.0)]).unwrap();
        assert_eq!(p.keys()[1], Key::Int(2));
        assert_eq!(p.to_string(), "tags[2]");
        assert!(FieldPath::new(vec![Key::Float(f64::NAN)]).is_err());
    }
}
