//! Stored typed values and their encoding.
//!
//! The byte layout is drawn in the [codec module docs](super). A value
//! record is one tag byte followed by a body whose length is the rest of
//! the record (the container — a B-tree cell — stores that length), so no
//! length prefix is repeated here. Decoding is strict: fixed-size bodies
//! must have exactly their size, varints must be canonical, function
//! payloads must match their crc32, and native-function names must be
//! UTF-8. Any byte string that decodes is the encoding of what it decodes
//! to.

use super::error::{CodecError, Result};
use super::key::{ByteSink, Key};
use super::record::{decode_record_body, encode_record_to, Record};
use super::varint;

pub(super) const TAG_FALSE: u8 = 0x01;
pub(super) const TAG_TRUE: u8 = 0x02;
pub(super) const TAG_INT: u8 = 0x03;
pub(super) const TAG_FLOAT: u8 = 0x04;
pub(super) const TAG_STR: u8 = 0x05;
const TAG_TABLE: u8 = 0x06;
const TAG_FUNCTION: u8 = 0x07;
const TAG_NATIVE_FUNCTION: u8 = 0x08;
/// A packed record (`super::record`); format 2.
pub(crate) const TAG_RECORD: u8 = 0x09;

/// A stored Lua value.
///
/// Equality is storage identity, not Lua's `==`: floats compare by bits,
/// so `Float(-0.0) != Float(0.0)`, `Float(NaN) == Float(NaN)` (same
/// bits), and `Int(1) != Float(1.0)`. This makes `Value` `Eq` and lets a
/// writer tell whether a stored value actually changed.
#[derive(Clone, Debug)]
pub enum Value {
    /// `false` or `true`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float; every bit pattern (infinities, `-0.0`, NaN) round-trips.
    Float(f64),
    /// A byte string (binary-safe).
    Str(Vec<u8>),
    /// A reference to a child table by its id.
    Table(u64),
    /// A serialised Lua function: an opaque payload produced by the Lua
    /// binding (dumped bytecode and whatever it needs). Its integrity is
    /// checked on decode, so a damaged payload never reaches `load`.
    Function(Vec<u8>),
    /// A function from the host's registry, stored by name (`"math.sin"`).
    NativeFunction(String),
}

impl Value {
    /// Lua's `type()` of the value, except that integers report
    /// `"integer"` (as `math.type` would) and floats `"number"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Table(_) => "table",
            Value::Function(_) | Value::NativeFunction(_) => "function",
        }
    }

    /// Bytes a user would count for the value, for compression
    /// statistics: 1 for a boolean, 8 for numbers and table ids, the
    /// length of a string, a function payload or a native name.
    pub fn logical_size(&self) -> usize {
        match self {
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Float(_) | Value::Table(_) => 8,
            Value::Str(s) | Value::Function(s) => s.len(),
            Value::NativeFunction(name) => name.len(),
        }
    }

    /// Number of bytes [`encode_value`] appends for this value.
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            Value::Bool(_) => 0,
            Value::Int(n) => varint::encoded_len_u64(varint::zigzag_encode(*n)),
            Value::Float(_) => 8,
            Value::Str(s) => s.len(),
            Value::Table(id) => varint::encoded_len_u64(*id),
            Value::Function(p) => 4 + p.len(),
            Value::NativeFunction(name) => name.len(),
        }
    }

    /// The value as a table key, for secondary indexes: scalars only,
    /// floats normalised as [`Key::from_f64`] does; NaN, tables and
    /// functions give `None`.
    pub fn as_key(&self) -> Option<Key> {
        match self {
            Value::Bool(b) => Some(Key::Bool(*b)),
            Value::Int(n) => Some(Key::Int(*n)),
            Value::Float(x) => Key::from_f64(*x).ok(),
            Value::Str(s) => Some(Key::Str(s.clone())),
            Value::Table(_) | Value::Function(_) | Value::NativeFunction(_) => None,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Table(a), Value::Table(b)) => a == b,
            (Value::Function(a), Value::Function(b)) => a == b,
            (Value::NativeFunction(a), Value::NativeFunction(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl From<Key> for Value {
    fn from(key: Key) -> Self {
        match key {
            Key::Bool(b) => Value::Bool(b),
            Key::Int(n) => Value::Int(n),
            Key::Float(x) => Value::Float(x),
            Key::Str(s) => Value::Str(s),
        }
    }
}

/// A table entry's value as stored: a plain [`Value`] or a packed
/// [`Record`] (a child table kept inline in its parent's entry). Outside the
/// engine a packed record reads as [`Value::Table`] with its id
/// ([`Stored::into_value`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A scalar, a function, or a reference to a table of entries.
    Value(Value),
    /// A packed record.
    Record(Record),
}

impl Stored {
    /// The value a reader sees: a packed record is the table with its id.
    pub fn into_value(self) -> Value {
        match self {
            Stored::Value(v) => v,
            Stored::Record(r) => Value::Table(r.id),
        }
    }

    /// [`Stored::into_value`] without consuming.
    pub fn to_value(&self) -> Value {
        match self {
            Stored::Value(v) => v.clone(),
            Stored::Record(r) => Value::Table(r.id),
        }
    }

    /// The id of the table this value is, packed or not.
    pub fn table_id(&self) -> Option<u64> {
        match self {
            Stored::Value(Value::Table(id)) => Some(*id),
            Stored::Record(r) => Some(r.id),
            Stored::Value(_) => None,
        }
    }

    /// Lua's type name (see [`Value::type_name`]).
    pub fn type_name(&self) -> &'static str {
        match self {
            Stored::Value(v) => v.type_name(),
            Stored::Record(_) => "table",
        }
    }
}

impl From<Value> for Stored {
    fn from(v: Value) -> Self {
        Stored::Value(v)
    }
}

/// Append the encoding of a stored value.
pub(crate) fn encode_stored_to(value: &Stored, out: &mut impl ByteSink) {
    match value {
        Stored::Value(v) => encode_value_to(v, out),
        Stored::Record(r) => encode_record_to(r, out),
    }
}

/// Bodies from this size up are written beside their header, not joined
/// with it ([`split_encoding`]).
const SPLIT_FROM: usize = 1024;

/// The encoding of a large string or function value as a header (its tag,
/// and a function's crc32) and the body the value holds, so that the two
/// can be written one after the other (`kv::WriteTxn::put_parts`) without
/// a second copy of the body: a 128 KiB string is then held once while it
/// is stored, which the browser's 2 MiB module needs. `None` for every
/// other value, and for bodies under [`SPLIT_FROM`] bytes (joining those
/// costs nothing).
pub(crate) fn split_encoding(value: &Stored) -> Option<(SplitHeader, &[u8])> {
    let (tag, body, crc) = match value {
        Stored::Value(Value::Str(s)) => (TAG_STR, s.as_slice(), None),
        Stored::Value(Value::Function(p)) => (TAG_FUNCTION, p.as_slice(), Some(crc32fast::hash(p))),
        _ => return None,
    };
    if body.len() < SPLIT_FROM {
        return None;
    }
    let mut header = SplitHeader {
        bytes: [tag, 0, 0, 0, 0],
        len: 1,
    };
    if let Some(crc) = crc {
        header.bytes[1..].copy_from_slice(&crc.to_le_bytes());
        header.len = 5;
    }
    Some((header, body))
}

/// The first bytes of a split encoding ([`split_encoding`]).
pub(crate) struct SplitHeader {
    bytes: [u8; 5],
    len: usize,
}

impl SplitHeader {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Whether an entry value of `len` bytes whose tag is `tag` can never be
/// named by an index entry of at most `max_key_len` bytes: a function
/// (never indexed), or a string whose key encoding alone (longer than the
/// string) would pass that length.
pub(crate) fn never_indexed(tag: u8, len: usize, max_key_len: usize) -> bool {
    match tag {
        TAG_FUNCTION | TAG_NATIVE_FUNCTION => true,
        TAG_STR => len > max_key_len,
        _ => false,
    }
}

/// Decode a table entry's value: a plain value or a packed record.
pub fn decode_stored(bytes: &[u8]) -> Result<Stored> {
    match bytes.split_first() {
        Some((&TAG_RECORD, body)) => Ok(Stored::Record(decode_record_body(body)?)),
        _ => Ok(Stored::Value(decode_value(bytes)?)),
    }
}

/// [`decode_stored`] of bytes the caller owns: a string or function
/// payload keeps the buffer it was read into (its tag, and a payload's
/// crc, are cut off in place), so a large value read from an overflow
/// chain is held once, not copied out of the buffer that holds it.
pub fn decode_stored_owned(mut bytes: Vec<u8>) -> Result<Stored> {
    match bytes.first() {
        Some(&TAG_STR) => {
            bytes.drain(..1);
            Ok(Stored::Value(Value::Str(bytes)))
        }
        Some(&TAG_FUNCTION) => {
            // Checked as `decode_value` checks it, then taken over.
            check_function_body(&bytes[1..])?;
            bytes.drain(..5);
            Ok(Stored::Value(Value::Function(bytes)))
        }
        _ => decode_stored(&bytes),
    }
}

/// A table entry's value as a reader sees it ([`Stored::into_value`]),
/// without decoding a packed record's fields.
pub fn decode_entry_value(bytes: &[u8]) -> Result<Value> {
    match bytes.split_first() {
        Some((&TAG_RECORD, body)) => Ok(Value::Table(super::record::record_body_id(body)?)),
        _ => decode_value(bytes),
    }
}

/// Append the encoding of `value` to `out`.
pub fn encode_value(value: &Value, out: &mut Vec<u8>) {
    encode_value_to(value, out);
}

/// [`encode_value`] into any [`ByteSink`].
pub(crate) fn encode_value_to(value: &Value, out: &mut impl ByteSink) {
    out.reserve_bytes(value.encoded_len());
    write_value(value, out);
}

/// [`encode_value_to`] into room the caller has made (a packed record
/// reserves for all of its fields at once).
#[inline]
pub(crate) fn write_value(value: &Value, out: &mut impl ByteSink) {
    match value {
        Value::Bool(false) => out.put_byte(TAG_FALSE),
        Value::Bool(true) => out.put_byte(TAG_TRUE),
        Value::Int(n) => {
            out.put_byte(TAG_INT);
            varint::encode_u64_to(varint::zigzag_encode(*n), out);
        }
        Value::Float(x) => {
            out.put_byte(TAG_FLOAT);
            out.put_bytes(&x.to_bits().to_le_bytes());
        }
        Value::Str(s) => {
            out.put_byte(TAG_STR);
            out.put_bytes(s);
        }
        Value::Table(id) => {
            out.put_byte(TAG_TABLE);
            varint::encode_u64_to(*id, out);
        }
        Value::Function(payload) => {
            out.put_byte(TAG_FUNCTION);
            out.put_bytes(&crc32fast::hash(payload).to_le_bytes());
            out.put_bytes(payload);
        }
        Value::NativeFunction(name) => {
            out.put_byte(TAG_NATIVE_FUNCTION);
            out.put_bytes(name.as_bytes());
        }
    }
}

fn corrupted(detail: impl Into<String>) -> CodecError {
    CodecError::corrupted("value", detail)
}

/// The payload of a function value's body (its crc32, then the payload),
/// checked against the crc.
fn check_function_body(body: &[u8]) -> Result<&[u8]> {
    let Some((crc, payload)) = body.split_first_chunk::<4>() else {
        return Err(corrupted(format!(
            "function value of {} body bytes has no room for its checksum",
            body.len()
        )));
    };
    let stored = u32::from_le_bytes(*crc);
    let actual = crc32fast::hash(payload);
    if stored != actual {
        return Err(corrupted(format!(
            "function payload checksum mismatch (stored {stored:#010x}, computed {actual:#010x})"
        )));
    }
    Ok(payload)
}

/// Decode a whole value record (tag and body, nothing after it).
pub fn decode_value(bytes: &[u8]) -> Result<Value> {
    let Some((&tag, body)) = bytes.split_first() else {
        return Err(corrupted("empty value record"));
    };
    let exact_end = |used: usize, kind: &str| {
        if used == body.len() {
            Ok(())
        } else {
            Err(corrupted(format!(
                "{kind} value has {} trailing bytes",
                body.len() - used
            )))
        }
    };
    match tag {
        TAG_FALSE | TAG_TRUE => {
            exact_end(0, "boolean")?;
            Ok(Value::Bool(tag == TAG_TRUE))
        }
        TAG_INT => {
            let (z, used) = varint::decode_u64(body)?;
            exact_end(used, "integer")?;
            Ok(Value::Int(varint::zigzag_decode(z)))
        }
        TAG_FLOAT => match <[u8; 8]>::try_from(body) {
            Ok(b) => Ok(Value::Float(f64::from_bits(u64::from_le_bytes(b)))),
            Err(_) => Err(corrupted(format!(
                "float value has {} body bytes, expected 8",
                body.len()
            ))),
        },
        TAG_STR => Ok(Value::Str(body.to_vec())),
        TAG_TABLE => {
            let (id, used) = varint::decode_u64(body)?;
            exact_end(used, "table")?;
            Ok(Value::Table(id))
        }
        TAG_FUNCTION => check_function_body(body).map(|payload| Value::Function(payload.to_vec())),
        TAG_NATIVE_FUNCTION => match std::str::from_utf8(body) {
            Ok(name) => Ok(Value::NativeFunction(name.to_owned())),
            Err(e) => Err(corrupted(format!("native function name is not UTF-8: {e}"))),
        },
        TAG_RECORD => Err(corrupted(
            "a packed record where a plain value belongs (decode entries with decode_stored)",
        )),
        other => Err(corrupted(format!("unknown value tag {other:#04x}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{Arbitrary, Gen, QuickCheck};

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(v, &mut out);
        out
    }

    impl Arbitrary for Value {
        fn arbitrary(g: &mut Gen) -> Value {
            match u8::arbitrary(g) % 9 {
                0 => Value::Bool(bool::arbitrary(g)),
                1 => Value::Int(i64::arbitrary(g)),
                2 => Value::Int(i64::from(i8::arbitrary(g))),
                3 => Value::Float(f64::from_bits(u64::arbitrary(g))),
                4 => Value::Float(
                    *g.choose(&[f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, f64::NAN, 1.5])
                        .unwrap_or(&0.0),
                ),
                5 => Value::Str(Vec::arbitrary(g)),
                6 => Value::Table(u64::arbitrary(g)),
                7 => Value::Function(Vec::arbitrary(g)),
                _ => Value::NativeFunction(String::arbitrary(g)),
            }
        }
    }

    #[test]
    fn known_encodings() {
        assert_eq!(enc(&Value::Bool(true)), [TAG_TRUE]);
        assert_eq!(enc(&Value::Int(-1)), [TAG_INT, 0x01]);
        assert_eq!(enc(&Value::Int(64)), [TAG_INT, 0x80, 0x01]);
        assert_eq!(enc(&Value::Table(300)), [TAG_TABLE, 0xac, 0x02]);
        assert_eq!(
            enc(&Value::Float(1.0)),
            [TAG_FLOAT, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]
        );
        assert_eq!(enc(&Value::Str(b"a\0".to_vec())), [TAG_STR, b'a', 0]);
        assert_eq!(
            enc(&Value::NativeFunction("math.sin".into())),
            b"\x08math.sin"
        );
        let f = enc(&Value::Function(b"xyz".to_vec()));
        assert_eq!(f[0], TAG_FUNCTION);
        assert_eq!(f[1..5], crc32fast::hash(b"xyz").to_le_bytes());
        assert_eq!(&f[5..], b"xyz");
    }

    #[test]
    fn special_floats_keep_their_bits() {
        for x in [
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001),
        ] {
            match decode_value(&enc(&Value::Float(x))) {
                Ok(Value::Float(y)) => assert_eq!(y.to_bits(), x.to_bits()),
                other => panic!("{x:?} decoded as {other:?}"),
            }
        }
    }

    #[test]
    fn decode_rejects_malformed() {
        let bad: &[&[u8]] = &[
            &[],
            &[0x00],
            &[0x09],
            &[0xff, 1, 2],
            &[TAG_TRUE, 0],
            &[TAG_INT],
            &[TAG_INT, 0x80],
            &[TAG_INT, 0x80, 0x00],
            &[TAG_INT, 0x01, 0x00],
            &[TAG_FLOAT, 0, 0, 0, 0, 0, 0, 0],
            &[TAG_FLOAT, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[TAG_TABLE],
            &[TAG_TABLE, 1, 2],
            &[TAG_FUNCTION, 0, 0, 0],
            &[TAG_FUNCTION, 1, 0, 0, 0],
            &[TAG_NATIVE_FUNCTION, 0xff],
        ];
        for b in bad {
            assert!(
                matches!(decode_value(b), Err(CodecError::Corrupted { .. })),
                "{b:?}"
            );
        }
        let msg = decode_value(&[0x42]).unwrap_err().to_string();
        assert!(msg.contains("0x42"), "{msg}");
        // An empty function payload is valid: crc32 of nothing is 0.
        assert_eq!(
            decode_value(&[TAG_FUNCTION, 0, 0, 0, 0]),
            Ok(Value::Function(vec![]))
        );
    }

    #[test]
    fn type_names_sizes_and_keys() {
        assert_eq!(Value::Int(1).type_name(), "integer");
        assert_eq!(Value::Float(1.0).type_name(), "number");
        assert_eq!(
            Value::NativeFunction("print".into()).type_name(),
            "function"
        );
        assert_eq!(Value::Function(vec![1]).type_name(), "function");
        assert_eq!(Value::Table(3).type_name(), "table");
        assert_eq!(Value::Str(b"abc".to_vec()).logical_size(), 3);
        assert_eq!(Value::Function(vec![0; 10]).logical_size(), 10);
        assert_eq!(Value::Float(2.0).as_key(), Some(Key::Int(2)));
        assert!(matches!(Value::Float(-0.0).as_key(), Some(Key::Int(0))));
        assert!(matches!(Value::Float(0.5).as_key(), Some(Key::Float(_))));
        assert_eq!(Value::Float(f64::NAN).as_key(), None);
        assert_eq!(Value::Table(1).as_key(), None);
        assert_eq!(Value::Str(b"k".to_vec()).as_key(), Some(Key::from("k")));
    }

    #[test]
    fn every_byte_flip_of_a_function_is_detected() {
        let original = Value::Function(b"\x1bLuaT\x00\x19\x93\r\n\x1a\nfunction body".to_vec());
        let e = enc(&original);
        for at in 0..e.len() {
            for mask in 1..=255u8 {
                let mut damaged = e.clone();
                damaged[at] ^= mask;
                // Either an error, or (tag flipped) some other type: never
                // a function handed to `load`.
                if let Ok(v) = decode_value(&damaged) {
                    assert!(
                        !matches!(v, Value::Function(_)),
                        "flip {mask:#04x} at byte {at} went unnoticed"
                    );
                }
            }
        }
    }

    #[test]
    fn round_trip() {
        fn prop(v: Value) -> bool {
            let e = enc(&v);
            e.len() == v.encoded_len() && decode_value(&e) == Ok(v)
        }
        QuickCheck::new()
            .tests(10_000)
            .quickcheck(prop as fn(Value) -> bool);
    }

    #[test]
    fn owned_bytes_decode_as_borrowed_ones() {
        fn same(bytes: Vec<u8>) -> bool {
            decode_stored_owned(bytes.clone()) == decode_stored(&bytes)
        }
        fn prop(v: Value, damage: Option<(usize, u8)>, cut: Option<usize>) -> bool {
            let mut e = enc(&v);
            if let Some((at, mask)) = damage {
                let at = at % e.len();
                e[at] ^= mask;
            }
            if let Some(cut) = cut {
                e.truncate(cut % (e.len() + 1));
            }
            same(e)
        }
        QuickCheck::new()
            .tests(5_000)
            .quickcheck(prop as fn(Value, Option<(usize, u8)>, Option<usize>) -> bool);
        // Function values shorter than their crc, and the empty record.
        for bytes in [vec![], vec![TAG_FUNCTION], vec![TAG_FUNCTION, 0, 0, 0]] {
            assert!(same(bytes));
        }
    }

    fn decodes_canonically(bytes: &[u8]) -> bool {
        match decode_value(bytes) {
            Ok(v) => enc(&v) == bytes,
            Err(_) => true,
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        fn prop(bytes: Vec<u8>) -> bool {
            decodes_canonically(&bytes)
        }
        QuickCheck::new()
            .tests(10_000)
            .quickcheck(prop as fn(Vec<u8>) -> bool);
    }

    #[test]
    fn random_tagged_bytes_never_panic() {
        fn prop(tag: u8, bytes: Vec<u8>) -> bool {
            let mut v = vec![1 + tag % 8];
            v.extend_from_slice(&bytes);
            decodes_canonically(&v)
        }
        QuickCheck::new()
            .tests(10_000)
            .quickcheck(prop as fn(u8, Vec<u8>) -> bool);
    }
}
