//! Packed records: a small table of scalars stored as one value in its
//! parent's entry (format 2).
//!
//! The format is drawn once, in DESIGN.md section 5, "Packed records (format 2)";
//! this module is its only reader and writer.
//!
//! A key is written with the *value* encoding (an integer key is a zigzag
//! varint, not the 11-byte order-preserving form: nothing sorts packed
//! keys by memcmp), and must be a canonical table key: no NaN, no float
//! with an integral value (that key is the integer). Fields are in strictly
//! increasing [`Key`] order, so iteration order is the order a table of
//! entries would have, and each record has exactly one encoding. Values
//! are scalars only (booleans, numbers, strings); a table holding anything
//! else is a table of entries (section 5 of DESIGN.md says when a table
//! packs). Decoding checks all of it: a damaged record is `Corrupted`.

use super::error::Result;
use super::key::{ByteSink, Key};
use super::record_view::Scalar;
use super::value::{write_value, Value, TAG_RECORD};
use super::varint;

/// A packed record read in full: the table's id and its fields, in key
/// order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record's table id (its identity: proxies, index entries and the
    /// table's meta name it).
    pub id: u64,
    /// Fields in strictly increasing key order; values are scalars.
    pub fields: Vec<(Key, Value)>,
}

/// Up to this many fields, [`Record::get`] scans for equal keys (most
/// field names differ in length, compared first) rather than bisects by
/// order (a byte comparison at every step).
const SCAN_FIELDS: usize = 8;

impl Record {
    /// The value of field `key`.
    pub fn get(&self, key: &Key) -> Option<&Value> {
        if self.fields.len() <= SCAN_FIELDS {
            return self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        }
        self.position(key)
            .ok()
            .and_then(|i| self.fields.get(i))
            .map(|(_, v)| v)
    }

    /// Where `key` is (`Ok`) or would be inserted (`Err`).
    pub fn position(&self, key: &Key) -> std::result::Result<usize, usize> {
        self.fields.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// Bytes of the record's encoding (tag included).
    pub fn encoded_len(&self) -> usize {
        packed_header_len(self.id)
            + self
                .fields
                .iter()
                .map(|(k, v)| packed_field_len(k, v))
                .sum::<usize>()
    }
}

/// Whether `v` may be a field of a packed record.
pub fn is_packable_value(v: &Value) -> bool {
    matches!(
        v,
        Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Str(_)
    )
}

/// Bytes field `k = v` takes in a packed record.
pub(crate) fn packed_field_len(k: &Key, v: &Value) -> usize {
    field_len(k) + field_len_value(v)
}

/// Bytes of a packed record's tag and id.
pub(crate) fn packed_header_len(id: u64) -> usize {
    1 + varint::encoded_len_u64(id)
}

fn field_len(k: &Key) -> usize {
    let n = Scalar::of_key(k).encoded_len();
    varint::encoded_len_u64(n as u64) + n
}

fn field_len_value(v: &Value) -> usize {
    let n = v.encoded_len();
    varint::encoded_len_u64(n as u64) + n
}

/// Append the encoding of a record (tag included).
pub(crate) fn encode_record_to(record: &Record, out: &mut impl ByteSink) {
    out.reserve_bytes(record.encoded_len());
    out.put_byte(TAG_RECORD);
    varint::encode_u64_to(record.id, out);
    for (k, v) in &record.fields {
        // Keys are written as the values they are, without making one.
        let key = Scalar::of_key(k);
        varint::encode_u64_to(key.encoded_len() as u64, out);
        key.encode_to(out);
        varint::encode_u64_to(v.encoded_len() as u64, out);
        write_value(v, out);
    }
}

/// Decode the body of a packed record (the bytes after its tag): its
/// [`RecordView`](super::record_view::RecordView), made owned.
pub(crate) fn decode_record_body(body: &[u8]) -> Result<Record> {
    Ok(super::record_view::decode_record_view(body)?.to_record())
}

/// The table id of a packed record's body, without decoding its fields.
pub(crate) fn record_body_id(body: &[u8]) -> Result<u64> {
    Ok(varint::decode_u64(body)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::value::{decode_stored, Stored};
    use crate::codec::CodecError;
    use quickcheck::{Arbitrary, Gen, QuickCheck};

    fn enc(r: &Record) -> Vec<u8> {
        let mut out = Vec::new();
        encode_record_to(r, &mut out);
        out
    }

    fn user() -> Record {
        Record {
            id: 300,
            fields: vec![
                (Key::Int(1), Value::Bool(true)),
                (Key::Float(1.5), Value::Float(-0.0)),
                (Key::from("age"), Value::Int(42)),
                (Key::from("name"), Value::Str(b"Ann".to_vec())),
            ],
        }
    }

    #[test]
    fn known_encoding_and_round_trip() {
        let r = user();
        let e = enc(&r);
        assert_eq!(e.len(), r.encoded_len());
        assert_eq!(&e[..3], &[TAG_RECORD, 0xac, 0x02]);
        // Field 1: key Int(1) is `03 02` (length 2), value true is `02`.
        assert_eq!(&e[3..7], &[2, 0x03, 0x02, 1]);
        assert_eq!(decode_stored(&e), Ok(Stored::Record(r.clone())));
        assert_eq!(r.get(&Key::from("age")), Some(&Value::Int(42)));
        assert_eq!(r.get(&Key::from("nope")), None);
        let empty = Record {
            id: 7,
            fields: vec![],
        };
        assert_eq!(decode_stored(&enc(&empty)), Ok(Stored::Record(empty)));
    }

    #[test]
    fn decode_rejects_malformed() {
        let e = enc(&user());
        // Every truncation fails or decodes to fewer fields, never panics.
        for cut in 1..e.len() {
            if let Ok(Stored::Record(r)) = decode_stored(&e[..cut]) {
                assert!(r.fields.len() < 4, "cut {cut}");
            }
        }
        let bad: &[&[u8]] = &[
            // Unsorted keys: "b" then "a".
            &[
                TAG_RECORD, 1, 2, 0x05, b'b', 1, 0x01, 2, 0x05, b'a', 1, 0x01,
            ],
            // Duplicate key.
            &[
                TAG_RECORD, 1, 2, 0x05, b'a', 1, 0x01, 2, 0x05, b'a', 1, 0x01,
            ],
            // A table value.
            &[TAG_RECORD, 1, 2, 0x05, b'a', 2, 0x06, 0x01],
            // An integral float key (must be the integer).
            &[
                TAG_RECORD, 1, 9, 0x04, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 1, 0x01,
            ],
            // Length past the end.
            &[TAG_RECORD, 1, 9, 0x05, b'a'],
            // Missing value.
            &[TAG_RECORD, 1, 2, 0x05, b'a'],
            // Missing id.
            &[TAG_RECORD],
        ];
        for b in bad {
            assert!(
                matches!(decode_stored(b), Err(CodecError::Corrupted { .. })),
                "{b:?}"
            );
        }
    }

    #[derive(Clone, Debug)]
    struct Arb(Record);

    impl Arbitrary for Arb {
        fn arbitrary(g: &mut Gen) -> Arb {
            let n = usize::arbitrary(g) % 8;
            let mut fields: Vec<(Key, Value)> = (0..n)
                .map(|_| {
                    let k = match u8::arbitrary(g) % 3 {
                        0 => Key::Int(i64::arbitrary(g)),
                        1 => Key::Str(Vec::arbitrary(g)),
                        _ => Key::from_f64(f64::arbitrary(g)).unwrap_or(Key::Bool(true)),
                    };
                    let v = match u8::arbitrary(g) % 4 {
                        0 => Value::Int(i64::arbitrary(g)),
                        1 => Value::Float(f64::from_bits(u64::arbitrary(g))),
                        2 => Value::Bool(bool::arbitrary(g)),
                        _ => Value::Str(Vec::arbitrary(g)),
                    };
                    (k, v)
                })
                .collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            fields.dedup_by(|a, b| a.0 == b.0);
            Arb(Record {
                id: u64::arbitrary(g),
                fields,
            })
        }
    }

    #[test]
    fn round_trip_and_flips() {
        fn prop(r: Arb, at: usize, mask: u8) -> bool {
            let e = enc(&r.0);
            if decode_stored(&e) != Ok(Stored::Record(r.0.clone())) || e.len() != r.0.encoded_len()
            {
                return false;
            }
            let mut damaged = e.clone();
            let at = at % damaged.len();
            damaged[at] ^= mask.max(1);
            // Never a panic; whatever decodes re-encodes to the same bytes.
            match decode_stored(&damaged) {
                Ok(Stored::Record(d)) => enc(&d) == damaged,
                Ok(Stored::Value(_)) | Err(_) => true,
            }
        }
        QuickCheck::new()
            .tests(5_000)
            .quickcheck(prop as fn(Arb, usize, u8) -> bool);
    }
}
