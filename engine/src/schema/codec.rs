//! The stored form of a [`Schema`] (value of `00 's' <table id>`).
//!
//! The format is drawn once, in DESIGN.md section 5, "Schemas and migrations";
//! this module is its only reader and writer.
//!
//! Decoding is strict (unknown bits, trailing bytes, unsorted keys, too deep
//! a nesting are `Corrupted`) and never panics.

use super::{FieldRule, FieldType, Schema, MAX_SCHEMA_DEPTH};
use crate::codec::{decode_key, encode_key, varint};
use crate::error::{EngineError, Result};

const VERSION: u8 = 1;

const M_TYPE: u8 = 1;
const M_REQUIRED: u8 = 2;
const M_MIN: u8 = 4;
const M_MAX: u8 = 8;
const M_MIN_LEN: u8 = 16;
const M_MAX_LEN: u8 = 32;
const M_ENUM: u8 = 64;
const M_NESTED: u8 = 128;

fn type_code(t: FieldType) -> u8 {
    match t {
        FieldType::String => 1,
        FieldType::Integer => 2,
        FieldType::Number => 3,
        FieldType::Boolean => 4,
        FieldType::Table => 5,
        FieldType::Function => 6,
    }
}

fn code_type(c: u8) -> Option<FieldType> {
    Some(match c {
        1 => FieldType::String,
        2 => FieldType::Integer,
        3 => FieldType::Number,
        4 => FieldType::Boolean,
        5 => FieldType::Table,
        6 => FieldType::Function,
        _ => return None,
    })
}

/// Serialise a schema.
pub fn encode_schema(schema: &Schema) -> Vec<u8> {
    let mut out = vec![VERSION];
    encode_body(schema, &mut out);
    out
}

fn encode_body(schema: &Schema, out: &mut Vec<u8>) {
    out.push(u8::from(schema.strict));
    varint::encode_u64(schema.fields.len() as u64, out);
    for (key, rule) in &schema.fields {
        encode_key(key, out);
        let mut mask = 0;
        if rule.ty.is_some() {
            mask |= M_TYPE;
        }
        if rule.required {
            mask |= M_REQUIRED;
        }
        if rule.min.is_some() {
            mask |= M_MIN;
        }
        if rule.max.is_some() {
            mask |= M_MAX;
        }
        if rule.min_len.is_some() {
            mask |= M_MIN_LEN;
        }
        if rule.max_len.is_some() {
            mask |= M_MAX_LEN;
        }
        if rule.one_of.is_some() {
            mask |= M_ENUM;
        }
        if rule.schema.is_some() {
            mask |= M_NESTED;
        }
        out.push(mask);
        if let Some(t) = rule.ty {
            out.push(type_code(t));
        }
        for bound in [rule.min, rule.max].into_iter().flatten() {
            out.extend_from_slice(&bound.to_le_bytes());
        }
        for len in [rule.min_len, rule.max_len].into_iter().flatten() {
            varint::encode_u64(len, out);
        }
        if let Some(values) = &rule.one_of {
            varint::encode_u64(values.len() as u64, out);
            for v in values {
                encode_key(v, out);
            }
        }
        if let Some(nested) = &rule.schema {
            encode_body(nested, out);
        }
    }
}

fn corrupted(detail: impl Into<String>) -> EngineError {
    EngineError::corrupted("schema", detail)
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| corrupted("truncated"))?;
        self.bytes = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64> {
        let (v, used) = varint::decode_u64(self.bytes)?;
        self.bytes = self.bytes.get(used..).unwrap_or_default();
        Ok(v)
    }

    fn f64(&mut self) -> Result<f64> {
        let (b, rest) = self
            .bytes
            .split_first_chunk::<8>()
            .ok_or_else(|| corrupted("truncated bound"))?;
        self.bytes = rest;
        Ok(f64::from_le_bytes(*b))
    }

    fn key(&mut self) -> Result<crate::codec::Key> {
        let (k, used) = decode_key(self.bytes)?;
        self.bytes = self.bytes.get(used..).unwrap_or_default();
        Ok(k)
    }

    fn body(&mut self, depth: usize) -> Result<Schema> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(corrupted("nested deeper than the limit"));
        }
        let flags = self.byte()?;
        if flags > 1 {
            return Err(corrupted(format!("unknown flags {flags:#04x}")));
        }
        let n = self.varint()?;
        // Each field takes at least 2 bytes (key, mask): refuse counts the
        // bytes cannot hold. Capacity grows with the fields actually read,
        // so a stored count costs nothing before its fields are there (a
        // field rule is ~100 bytes in memory, 2 on disk, at every level).
        if n > self.bytes.len() as u64 / 2 {
            return Err(corrupted(format!("{n} fields cannot fit")));
        }
        let mut schema = Schema {
            fields: Vec::with_capacity((n as usize).min(PREALLOCATED)),
            strict: flags == 1,
        };
        for _ in 0..n {
            let key = self.key()?;
            if schema.fields.last().is_some_and(|(prev, _)| *prev >= key) {
                return Err(corrupted("field keys out of order"));
            }
            let mask = self.byte()?;
            let mut rule = FieldRule {
                required: mask & M_REQUIRED != 0,
                ..FieldRule::default()
            };
            if mask & M_TYPE != 0 {
                let c = self.byte()?;
                rule.ty = Some(code_type(c).ok_or_else(|| corrupted(format!("unknown type {c}")))?);
            }
            if mask & M_MIN != 0 {
                rule.min = Some(self.f64()?);
            }
            if mask & M_MAX != 0 {
                rule.max = Some(self.f64()?);
            }
            if mask & M_MIN_LEN != 0 {
                rule.min_len = Some(self.varint()?);
            }
            if mask & M_MAX_LEN != 0 {
                rule.max_len = Some(self.varint()?);
            }
            if mask & M_ENUM != 0 {
                let count = self.varint()?;
                if count > self.bytes.len() as u64 {
                    return Err(corrupted(format!("{count} enum values cannot fit")));
                }
                let mut values = Vec::with_capacity((count as usize).min(PREALLOCATED));
                for _ in 0..count {
                    values.push(self.key()?);
                }
                rule.one_of = Some(values);
            }
            if mask & M_NESTED != 0 {
                rule.schema = Some(Box::new(self.body(depth + 1)?));
            }
            schema.fields.push((key, rule));
        }
        Ok(schema)
    }
}

/// At most this many fields or enum values are reserved ahead of reading
/// them.
const PREALLOCATED: usize = 16;

/// Parse a stored schema.
pub fn decode_schema(bytes: &[u8]) -> Result<Schema> {
    let mut r = Reader { bytes };
    let version = r.byte()?;
    if version != VERSION {
        return Err(corrupted(format!(
            "unknown schema format version {version}"
        )));
    }
    let schema = r.body(1)?;
    if !r.bytes.is_empty() {
        return Err(corrupted(format!("{} trailing bytes", r.bytes.len())));
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Key;
    use quickcheck::QuickCheck;

    fn sample() -> Schema {
        Schema::strict()
            .field(
                "name",
                FieldRule::string().required().min_len(1).max_len(64),
            )
            .field("age", FieldRule::integer().min(0.0).max(150.0))
            .field(
                "role",
                FieldRule::any().one_of([Key::from("a"), Key::Int(3), Key::Bool(true)]),
            )
            .field(
                "profile",
                FieldRule::table()
                    .schema(Schema::open().field("city", FieldRule::string().required())),
            )
            .field(Key::Int(7), FieldRule::function())
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let e = encode_schema(&s);
        assert_eq!(decode_schema(&e).unwrap(), s);
        assert_eq!(s.depth(), 2);
        assert!(s.check().is_ok());
    }

    #[test]
    fn damaged_bytes_never_panic() {
        let e = encode_schema(&sample());
        for cut in 0..e.len() {
            assert!(decode_schema(&e[..cut]).is_err(), "cut at {cut}");
        }
        fn prop(at: usize, mask: u8, extra: Vec<u8>) -> bool {
            let mut e = encode_schema(&sample());
            let n = e.len();
            if let Some(b) = e.get_mut(at % n) {
                *b ^= mask;
            }
            e.extend_from_slice(&extra);
            // Any outcome but a panic; a successful decode re-encodes identically.
            match decode_schema(&e) {
                Ok(s) => encode_schema(&s) == e,
                Err(_) => true,
            }
        }
        QuickCheck::new()
            .tests(2000)
            .quickcheck(prop as fn(usize, u8, Vec<u8>) -> bool);
    }

    #[test]
    fn stored_counts_are_bounded_by_the_bytes_left() {
        // 501 fields claimed with 1,000 bytes left: each needs 2.
        let mut b = vec![VERSION, 0];
        crate::codec::varint::encode_u64(501, &mut b);
        b.extend_from_slice(&[0x41; 1000]);
        let e = decode_schema(&b).unwrap_err().to_string();
        assert!(e.contains("501 fields cannot fit"), "{e}");
        // A count that fits reserves only a little ahead: the capacity a
        // decode starts with does not follow a stored count.
        let mut b = vec![VERSION, 0];
        crate::codec::varint::encode_u64(u64::from(u32::MAX), &mut b);
        let e = decode_schema(&b).unwrap_err().to_string();
        assert!(e.contains("cannot fit"), "{e}");
    }
}
