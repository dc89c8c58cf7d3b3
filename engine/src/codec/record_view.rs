//! Packed records read in place: fields as slices of the page they sit on.
//!
//! [`RecordView`] checks a record exactly as [`Record`] decoding does
//! (canonical keys, strictly increasing key order, scalar values, no
//! trailing bytes) but allocates nothing: a point read that only looks at the fields
//! (counts them, compares one, copies one into Lua) skips the owned keys
//! and values a [`Record`] needs. [`Record`] decoding is this view, made
//! owned, so the two cannot disagree on what a valid record is.

use std::cmp::Ordering;

use super::error::{CodecError, Result};
use super::key::{ByteSink, Key};
use super::record::Record;
use super::value::{
    decode_value, Stored, Value, TAG_FALSE, TAG_FLOAT, TAG_INT, TAG_RECORD, TAG_STR, TAG_TRUE,
};
use super::varint;

/// A scalar borrowed from encoded bytes: a packed record's field key or
/// value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar<'a> {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (as a key: never NaN, never integral).
    Float(f64),
    /// A string's bytes.
    Str(&'a [u8]),
}

impl<'a> Scalar<'a> {
    /// A key, lent.
    pub fn of_key(key: &'a Key) -> Scalar<'a> {
        match key {
            Key::Bool(b) => Scalar::Bool(*b),
            Key::Int(n) => Scalar::Int(*n),
            Key::Float(x) => Scalar::Float(*x),
            Key::Str(s) => Scalar::Str(s),
        }
    }

    /// A scalar value, lent; `None` for a table or function.
    pub fn of_value(value: &'a Value) -> Option<Scalar<'a>> {
        Some(match value {
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Int(n) => Scalar::Int(*n),
            Value::Float(x) => Scalar::Float(*x),
            Value::Str(s) => Scalar::Str(s),
            _ => return None,
        })
    }

    /// Bytes of its encoding as a value (tag included).
    pub fn encoded_len(self) -> usize {
        1 + match self {
            Scalar::Bool(_) => 0,
            Scalar::Int(n) => varint::encoded_len_u64(varint::zigzag_encode(n)),
            Scalar::Float(_) => 8,
            Scalar::Str(s) => s.len(),
        }
    }

    /// Append its encoding as a value: what [`Scalar::to_value`] encodes
    /// to, without the copy.
    pub(crate) fn encode_to(self, out: &mut impl ByteSink) {
        match self {
            Scalar::Bool(false) => out.put_byte(TAG_FALSE),
            Scalar::Bool(true) => out.put_byte(TAG_TRUE),
            Scalar::Int(n) => {
                out.put_byte(TAG_INT);
                varint::encode_u64_to(varint::zigzag_encode(n), out);
            }
            Scalar::Float(x) => {
                out.put_byte(TAG_FLOAT);
                out.put_bytes(&x.to_bits().to_le_bytes());
            }
            Scalar::Str(s) => {
                out.put_byte(TAG_STR);
                out.put_bytes(s);
            }
        }
    }

    /// The owned value.
    pub fn to_value(self) -> Value {
        match self {
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(n) => Value::Int(n),
            Scalar::Float(x) => Value::Float(x),
            Scalar::Str(s) => Value::Str(s.to_vec()),
        }
    }

    /// The owned key (a view's keys are canonical keys).
    pub fn to_key(self) -> Key {
        match self {
            Scalar::Bool(b) => Key::Bool(b),
            Scalar::Int(n) => Key::Int(n),
            Scalar::Float(x) => Key::Float(x),
            Scalar::Str(s) => Key::Str(s.to_vec()),
        }
    }

    /// [`Key`]'s order, without allocating: strings sort after every other
    /// key and among themselves by bytes; the rest are compared as the
    /// (allocation-free) keys they are.
    pub fn cmp_key(&self, key: &Key) -> Ordering {
        match (self, key) {
            (Scalar::Str(a), Key::Str(b)) => (*a).cmp(b.as_slice()),
            (Scalar::Str(_), _) => Ordering::Greater,
            (_, Key::Str(_)) => Ordering::Less,
            (a, b) => a.to_key().cmp(b),
        }
    }

    fn cmp_as_keys(&self, other: &Scalar<'_>) -> Ordering {
        match (self, other) {
            // Field names usually differ in their first byte: decided
            // without a call to `memcmp`.
            (Scalar::Str([x, ..]), Scalar::Str([y, ..])) if x != y => x.cmp(y),
            (Scalar::Str(a), Scalar::Str(b)) => a.cmp(b),
            (Scalar::Str(_), _) => Ordering::Greater,
            (_, Scalar::Str(_)) => Ordering::Less,
            (a, b) => a.to_key().cmp(&b.to_key()),
        }
    }
}

/// A packed record checked in place: its id and its fields in strictly
/// increasing key order, read from the encoding as they are asked for
/// (the check at [`decode_stored_view`] walked them once; walking them
/// again costs less than keeping them).
#[derive(Clone, Copy, Debug)]
pub struct RecordView<'a> {
    /// The record's table id.
    pub id: u64,
    source: Source<'a>,
}

/// Where a view's fields are: checked encoding (with its field count when
/// the check counted them; a vouched read does not), or a record already
/// decoded (a query that read it whole to test a filter).
#[derive(Clone, Copy, Debug)]
enum Source<'a> {
    Encoded { body: &'a [u8], len: Option<usize> },
    Decoded(&'a [(Key, Value)]),
}

impl<'a> RecordView<'a> {
    /// A view of a decoded record.
    pub fn of_record(record: &'a Record) -> RecordView<'a> {
        RecordView {
            id: record.id,
            source: Source::Decoded(&record.fields),
        }
    }

    /// The fields, in key order.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            source: match self.source {
                Source::Encoded { body, .. } => FieldsSource::Encoded(body),
                Source::Decoded(fields) => FieldsSource::Decoded(fields.iter()),
            },
        }
    }

    /// How many fields (counted by walking them if the view was made
    /// without a count).
    pub fn len(&self) -> usize {
        match self.source {
            Source::Encoded { len: Some(len), .. } => len,
            Source::Encoded { len: None, .. } => self.fields().count(),
            Source::Decoded(fields) => fields.len(),
        }
    }

    /// Whether the record has no field.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of field `key`.
    pub fn get(&self, key: &Key) -> Option<Scalar<'a>> {
        for (k, v) in self.fields() {
            match k.cmp_key(key) {
                Ordering::Less => continue,
                Ordering::Equal => return Some(v),
                Ordering::Greater => return None,
            }
        }
        None
    }

    /// The record, owned.
    pub fn to_record(&self) -> Record {
        let mut fields = Vec::with_capacity(self.len());
        fields.extend(self.fields().map(|(k, v)| (k.to_key(), v.to_value())));
        Record {
            id: self.id,
            fields,
        }
    }
}

/// The fields of a [`RecordView`], in key order.
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    source: FieldsSource<'a>,
}

#[derive(Clone, Debug)]
enum FieldsSource<'a> {
    Encoded(&'a [u8]),
    Decoded(std::slice::Iter<'a, (Key, Value)>),
}

impl<'a> Iterator for Fields<'a> {
    type Item = (Scalar<'a>, Scalar<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.source {
            FieldsSource::Encoded(rest) => {
                if rest.is_empty() {
                    return None;
                }
                // Checked when the view was made, so the fast path takes
                // every field; a failure cannot happen, and would end the
                // walk rather than panic.
                match next_field_fast(rest).or_else(|| next_field_checked(rest).ok()) {
                    Some((field, after)) => {
                        *rest = after;
                        Some(field)
                    }
                    None => {
                        *rest = &[];
                        None
                    }
                }
            }
            FieldsSource::Decoded(fields) => fields
                .by_ref()
                .find_map(|(k, v)| Some((Scalar::of_key(k), Scalar::of_value(v)?))),
        }
    }
}

/// A table entry's value lent by a read: a packed record as a view of its
/// bytes, anything else decoded.
#[derive(Clone, Debug)]
pub enum StoredView<'a> {
    /// A scalar, a function, or a reference to a table of entries.
    Value(Value),
    /// A packed record, in place.
    Record(RecordView<'a>),
}

impl StoredView<'_> {
    /// The id of the table this value is, packed or not.
    pub fn table_id(&self) -> Option<u64> {
        match self {
            StoredView::Value(Value::Table(id)) => Some(*id),
            StoredView::Value(_) => None,
            StoredView::Record(r) => Some(r.id),
        }
    }

    /// This value, owned (a packed record decoded in full).
    pub fn to_stored(&self) -> Stored {
        match self {
            StoredView::Value(v) => Stored::Value(v.clone()),
            StoredView::Record(r) => Stored::Record(r.to_record()),
        }
    }

    /// The value a reader sees: a packed record is the table with its id.
    pub fn to_value(&self) -> Value {
        match self {
            StoredView::Value(v) => v.clone(),
            StoredView::Record(r) => Value::Table(r.id),
        }
    }
}

impl Stored {
    /// This decoded value, seen as a [`StoredView`].
    pub fn view(&self) -> StoredView<'_> {
        match self {
            Stored::Value(v) => StoredView::Value(v.clone()),
            Stored::Record(r) => StoredView::Record(RecordView::of_record(r)),
        }
    }
}

/// Decode one table entry's value, lending a packed record's fields.
#[inline]
pub fn decode_stored_view(bytes: &[u8]) -> Result<StoredView<'_>> {
    match bytes.split_first() {
        Some((&TAG_RECORD, body)) => Ok(StoredView::Record(decode_record_view(body)?)),
        _ => Ok(StoredView::Value(decode_value(bytes)?)),
    }
}

/// [`decode_stored_view`] of bytes that `vouched` says passed
/// [`vouch_stored`] unchanged since: a packed record's fields are neither
/// checked again nor counted (a point read of a hot page checks nothing
/// twice, and [`RecordView::len`] counts only if asked). Bytes not vouched
/// for are checked in full.
#[inline]
pub fn decode_stored_view_vouched(bytes: &[u8], vouched: bool) -> Result<StoredView<'_>> {
    if vouched {
        if let Some((&TAG_RECORD, body)) = bytes.split_first() {
            let (id, used) = varint::decode_u64(body)?;
            let fields = body.get(used..).unwrap_or_default();
            return Ok(StoredView::Record(RecordView {
                id,
                source: Source::Encoded {
                    body: fields,
                    len: None,
                },
            }));
        }
    }
    decode_stored_view(bytes)
}

/// The engine's value check, run once over every value of a B-tree leaf
/// when its page's search aid is derived ([`crate::codec::VALUE_AID`]):
/// whether `bytes`, if a packed record, passes the record check of
/// [`decode_stored_view`]. Other values pass: their decoders check them
/// on every read.
pub fn vouch_stored(bytes: &[u8]) -> bool {
    match bytes.split_first() {
        Some((&TAG_RECORD, body)) => decode_record_view(body).is_ok(),
        _ => true,
    }
}

fn corrupted(detail: impl Into<String>) -> CodecError {
    CodecError::corrupted("packed record", detail)
}

/// Split one length-prefixed part off `bytes`.
fn take_part(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    let (len, used) = varint::decode_u64(bytes)?;
    let rest = bytes.get(used..).unwrap_or_default();
    let len = usize::try_from(len).map_err(|_| corrupted("part length overflows"))?;
    if len > rest.len() {
        return Err(corrupted(format!(
            "a part of {len} bytes with {} left",
            rest.len()
        )));
    }
    Ok(rest.split_at(len))
}

/// A scalar's encoding (tags 01..05, exactly its bytes), borrowed; any
/// other value is `Corrupted`, decoded only to name its type.
fn decode_scalar<'a>(bytes: &'a [u8], what: &str) -> Result<Scalar<'a>> {
    let Some((&tag, body)) = bytes.split_first() else {
        return Err(corrupted(format!("empty {what}")));
    };
    let scalar = match tag {
        TAG_FALSE | TAG_TRUE if body.is_empty() => Scalar::Bool(tag == TAG_TRUE),
        TAG_INT => match varint::decode_u64(body) {
            Ok((z, used)) if used == body.len() => Scalar::Int(varint::zigzag_decode(z)),
            _ => return Err(corrupted(format!("{what}: malformed integer"))),
        },
        TAG_FLOAT => match <[u8; 8]>::try_from(body) {
            Ok(b) => Scalar::Float(f64::from_bits(u64::from_le_bytes(b))),
            Err(_) => return Err(corrupted(format!("{what}: float of {} bytes", body.len()))),
        },
        TAG_STR => Scalar::Str(body),
        _ => {
            return Err(match decode_value(bytes) {
                Ok(v) => corrupted(format!("a {what} holds a {}", v.type_name())),
                Err(e) => e,
            })
        }
    };
    Ok(scalar)
}

/// A field key: a scalar that is a canonical table key (no NaN, no float
/// with an integral value: that key is the integer).
fn decode_field_key(bytes: &[u8]) -> Result<Scalar<'_>> {
    let key = decode_scalar(bytes, "field key")?;
    if let Scalar::Float(x) = key {
        match Key::from_f64(x) {
            Ok(Key::Float(y)) if y.to_bits() == x.to_bits() => {}
            _ => return Err(corrupted(format!("float key {x:?} is not canonical"))),
        }
    }
    Ok(key)
}

/// The first field of `bytes` and what follows, for the common shapes
/// (lengths under 128, scalars well formed, no float key), without
/// building an error: `None` sends the field to [`next_field_checked`],
/// which accepts exactly the same fields and more (a float key, checked
/// canonical) and says what is wrong with the others.
#[allow(clippy::type_complexity)]
#[inline(always)]
fn next_field_fast(bytes: &[u8]) -> Option<((Scalar<'_>, Scalar<'_>), &[u8])> {
    let (kbytes, rest) = short_part(bytes)?;
    let (vbytes, rest) = short_part(rest)?;
    // Field names are strings: tested first.
    let key = match kbytes.split_first() {
        Some((&TAG_STR, name)) => Scalar::Str(name),
        _ => match scalar_fast(kbytes)? {
            Scalar::Float(_) => return None,
            key => key,
        },
    };
    Some(((key, scalar_fast(vbytes)?), rest))
}

#[inline(always)]
fn short_part(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    if len >= 0x80 || usize::from(len) > rest.len() {
        return None;
    }
    Some(rest.split_at(usize::from(len)))
}

#[inline(always)]
fn scalar_fast(bytes: &[u8]) -> Option<Scalar<'_>> {
    let (&tag, body) = bytes.split_first()?;
    match tag {
        TAG_STR => Some(Scalar::Str(body)),
        // The part's length gives the varint's: integers of up to three
        // bytes (below 2^20 in magnitude) decode without a loop, each
        // checked canonical (continuation bits, no zero last group) as
        // `decode_u64_ok` checks it.
        TAG_INT => match *body {
            [b] if b < 0x80 => Some(Scalar::Int(varint::zigzag_decode(u64::from(b)))),
            [b0, b1] if b0 >= 0x80 && b1 < 0x80 && b1 != 0 => {
                let z = u64::from(b0 & 0x7f) | u64::from(b1) << 7;
                Some(Scalar::Int(varint::zigzag_decode(z)))
            }
            [b0, b1, b2] if b0 >= 0x80 && b1 >= 0x80 && b2 < 0x80 && b2 != 0 => {
                let z = u64::from(b0 & 0x7f) | u64::from(b1 & 0x7f) << 7 | u64::from(b2) << 14;
                Some(Scalar::Int(varint::zigzag_decode(z)))
            }
            _ => match varint::decode_u64_ok(body) {
                Some((z, used)) if used == body.len() => {
                    Some(Scalar::Int(varint::zigzag_decode(z)))
                }
                _ => None,
            },
        },
        TAG_FALSE | TAG_TRUE if body.is_empty() => Some(Scalar::Bool(tag == TAG_TRUE)),
        TAG_FLOAT => <[u8; 8]>::try_from(body)
            .ok()
            .map(|b| Scalar::Float(f64::from_bits(u64::from_le_bytes(b)))),
        _ => None,
    }
}

/// The first field of `bytes` (key checked canonical) and what follows,
/// or what is wrong with it.
#[allow(clippy::type_complexity)]
#[cold]
fn next_field_checked(bytes: &[u8]) -> Result<((Scalar<'_>, Scalar<'_>), &[u8])> {
    let (kbytes, after) = take_part(bytes)?;
    let (vbytes, after) = take_part(after)?;
    let key = decode_field_key(kbytes)?;
    let value = decode_scalar(vbytes, "field value")?;
    Ok(((key, value), after))
}

/// Check and view the body of a packed record (the bytes after its tag).
pub(crate) fn decode_record_view(body: &[u8]) -> Result<RecordView<'_>> {
    let (id, used) = varint::decode_u64(body)?;
    let fields = body.get(used..).unwrap_or_default();
    let len = match count_fields_fast(fields) {
        Some(len) => len,
        None => count_fields_checked(fields)?,
    };
    Ok(RecordView {
        id,
        source: Source::Encoded {
            body: fields,
            len: Some(len),
        },
    })
}

/// The number of fields of a record whose every field has the common
/// shape (a string key, lengths under 128, a well-formed scalar value)
/// and whose keys strictly increase, checked without decoding a key into
/// a [`Scalar`]. `None` sends the record to [`count_fields_checked`],
/// which accepts every record this does and says what is wrong with the
/// others: a point read of a typical record checks it in one tight pass.
#[inline(always)]
fn count_fields_fast(mut rest: &[u8]) -> Option<usize> {
    let mut last: Option<&[u8]> = None;
    let mut len = 0;
    while !rest.is_empty() {
        let (kbytes, after) = short_part(rest)?;
        let (vbytes, after) = short_part(after)?;
        let (&TAG_STR, key) = kbytes.split_first()? else {
            return None;
        };
        if let Some(last) = last {
            // Field names usually differ in their first byte.
            let below = match (last.first(), key.first()) {
                (Some(x), Some(y)) if x != y => x < y,
                _ => last < key,
            };
            if !below {
                return None;
            }
        }
        scalar_fast(vbytes)?;
        last = Some(key);
        rest = after;
        len += 1;
    }
    Some(len)
}

/// The number of fields of a record, each checked (keys canonical and in
/// strictly increasing order, values scalars), or what is wrong.
#[cold]
fn count_fields_checked(fields: &[u8]) -> Result<usize> {
    let mut rest = fields;
    let mut last: Option<Scalar<'_>> = None;
    let mut len = 0;
    while !rest.is_empty() {
        let ((key, _), after) = match next_field_fast(rest) {
            Some(found) => found,
            None => next_field_checked(rest)?,
        };
        rest = after;
        if let Some(last) = last {
            if last.cmp_as_keys(&key) != Ordering::Less {
                return Err(corrupted(format!("field {} is out of order", key.to_key())));
            }
        }
        last = Some(key);
        len += 1;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::record::encode_record_to;
    use quickcheck::{Arbitrary, Gen};

    fn arbitrary_key(g: &mut Gen) -> Key {
        match u8::arbitrary(g) % 4 {
            0 => Key::Bool(bool::arbitrary(g)),
            1 => Key::Int(i64::arbitrary(g) % 1000),
            2 => Key::from_f64(f64::from(i16::arbitrary(g)) / 8.0).expect("finite"),
            _ => Key::Str(Vec::<u8>::arbitrary(g)),
        }
    }

    #[test]
    fn view_orders_keys_as_key_does() {
        let mut g = Gen::new(8);
        for _ in 0..5000 {
            let (x, y) = (arbitrary_key(&mut g), arbitrary_key(&mut g));
            let (sx, sy) = (Scalar::of_key(&x), Scalar::of_key(&y));
            assert_eq!(sx.cmp_as_keys(&sy), x.cmp(&y), "{x:?} vs {y:?}");
            assert_eq!(sx.cmp_key(&y), x.cmp(&y), "{x:?} vs {y:?}");
        }
    }

    /// Records whose keys are all strings (the fast check's shape), with
    /// names that share first bytes and prefixes, one byte flipped: the
    /// fast check accepts only what the full check accepts, with the same
    /// count, and accepts every undamaged record.
    #[test]
    fn fast_integers_decode_as_the_checked_decoder_does() {
        // Every body of one and two bytes, and three-byte bodies around
        // the continuation bit and the zero last group.
        let mut bodies: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                bodies.push(vec![a, b]);
                for c in [0u8, 1, 0x7f, 0x80, 0xff] {
                    bodies.push(vec![a, b, c]);
                }
            }
        }
        for body in bodies {
            let bytes = [&[TAG_INT][..], &body].concat();
            let fast = scalar_fast(&bytes);
            let checked = decode_scalar(&bytes, "value").ok();
            assert_eq!(fast, checked, "{body:02x?}");
        }
    }

    #[test]
    fn fast_check_agrees_with_the_full_check() {
        let mut g = Gen::new(12);
        let names: [&[u8]; 7] = [b"", b"a", b"ab", b"abc", b"b", b"name", b"score"];
        for _ in 0..20_000 {
            let mut fields: Vec<(Key, Value)> = (0..usize::arbitrary(&mut g) % 6)
                .map(|_| {
                    let name = names[usize::arbitrary(&mut g) % names.len()].to_vec();
                    let value = match u8::arbitrary(&mut g) % 4 {
                        0 => Value::Int(i64::arbitrary(&mut g) >> (u8::arbitrary(&mut g) % 64)),
                        1 => Value::Float(f64::arbitrary(&mut g)),
                        2 => Value::Bool(bool::arbitrary(&mut g)),
                        _ => Value::Str(Vec::<u8>::arbitrary(&mut g)),
                    };
                    (Key::Str(name), value)
                })
                .collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            fields.dedup_by(|a, b| a.0 == b.0);
            let record = Record { id: 7, fields };
            let mut enc = Vec::new();
            encode_record_to(&record, &mut enc);
            let body = &enc[2..];
            assert_eq!(count_fields_fast(body), Some(record.fields.len()));
            assert_eq!(count_fields_checked(body), Ok(record.fields.len()));
            let mut damaged = body.to_vec();
            if damaged.is_empty() {
                continue;
            }
            let at = usize::arbitrary(&mut g) % damaged.len();
            damaged[at] ^= u8::arbitrary(&mut g).max(1);
            if let Some(n) = count_fields_fast(&damaged) {
                assert_eq!(count_fields_checked(&damaged), Ok(n), "{damaged:?}");
            }
        }
    }

    #[test]
    fn view_reads_what_was_written() {
        let record = Record {
            id: 9,
            fields: (0..20)
                .map(|i| (Key::Int(i), Value::Str(format!("v{i}").into_bytes())))
                .collect(),
        };
        let mut enc = Vec::new();
        encode_record_to(&record, &mut enc);
        let view = decode_record_view(&enc[1..]).expect("view");
        assert_eq!((view.len(), view.fields().count()), (20, 20));
        assert_eq!(view.get(&Key::Int(7)), Some(Scalar::Str(b"v7")));
        assert_eq!(view.get(&Key::Int(70)), None);
        assert_eq!(view.get(&Key::from("v7")), None);
        assert_eq!(view.to_record(), record);
        let decoded = RecordView::of_record(&record);
        assert!(decoded.fields().eq(view.fields()));
        assert_eq!(decoded.get(&Key::Int(7)), Some(Scalar::Str(b"v7")));
        // A vouched read counts the fields only when asked, and finds as
        // many as the check did; fields past 127 bytes included.
        let mut long = record.clone();
        long.fields
            .push((Key::Int(99), Value::Str(vec![b'x'; 300])));
        for record in [&record, &long] {
            let mut enc = Vec::new();
            encode_record_to(record, &mut enc);
            let Ok(StoredView::Record(vouched)) = decode_stored_view_vouched(&enc, true) else {
                panic!("a vouched record");
            };
            assert_eq!(vouched.len(), record.fields.len());
            assert!(vouched.fields().eq(RecordView::of_record(record).fields()));
            assert_eq!(vouched.to_record(), *record);
        }
    }
}
