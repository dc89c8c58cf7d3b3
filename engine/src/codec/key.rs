//! Lua table keys and their order-preserving, self-delimiting encoding.
//!
//! The byte layout is drawn in the [codec module docs](super). Three
//! invariants hold for every pair of keys `a`, `b` and any byte strings
//! `x`, `y`:
//!
//! - `a.cmp(&b) == enc(a).cmp(&enc(b))` (memcmp order is key order);
//! - if `a != b`, `(enc(a) ++ x).cmp(&(enc(b) ++ y)) == a.cmp(&b)` (no
//!   encoding is a prefix of another, so composite keys sort by their
//!   first component first);
//! - `decode_key(enc(a) ++ x) == (a, enc(a).len())`, and every byte string
//!   that decodes is exactly the encoding of the key it decodes to
//!   (one canonical encoding per key; anything else is `Corrupted`).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use super::error::{CodecError, Result};

/// Tag of the key `false`.
const TAG_FALSE: u8 = 0x10;
/// Tag of the key `true`.
const TAG_TRUE: u8 = 0x11;
/// Tag of a number key (integer or float).
const TAG_NUMBER: u8 = 0x20;
/// Tag of a string key.
const TAG_STRING: u8 = 0x30;

/// Encoded length of a number key: tag, 8-byte float image, 2-byte
/// remainder.
pub const NUMBER_KEY_LEN: usize = 11;

/// An integer's distance from its nearest `f64` is at most half an ulp;
/// below 2^63 the ulp is at most 2^10, so the remainder fits in `±512`.
const MAX_REMAINDER: i16 = 512;

/// 2^63 as an `f64`: the first float above every `i64`.
pub(super) const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// A Lua table key.
///
/// Equality and order follow Lua: numbers compare by mathematical value
/// across `Int` and `Float` (so `Float(2.0) == Int(2)`, and the encoding
/// of `Float(2.0)` is that of `Int(2)`), and the total order is
/// `false < true < every number < every string`, strings bytewise.
///
/// `Float` must not hold NaN; build float keys with [`Key::from_f64`],
/// which refuses NaN and turns integral floats into `Int` as Lua does.
/// (Should a NaN slip in, it sorts above `+inf` and its encoding fails
/// to decode, so it can never be read back as a key.)
#[derive(Clone, Debug)]
pub enum Key {
    /// `false` or `true`.
    Bool(bool),
    /// An integer (Lua 5.4 integer subtype).
    Int(i64),
    /// A float without an integral value that fits `i64`.
    Float(f64),
    /// A byte string (binary-safe, not necessarily UTF-8).
    Str(Vec<u8>),
}

impl Key {
    /// The key Lua uses for the float `x`: `Int` when `x` has an integral
    /// value in `i64` range (`-0.0` becomes `Int(0)`), `Float` otherwise.
    /// NaN is refused with Lua's message "table index is NaN".
    pub fn from_f64(x: f64) -> Result<Key> {
        if x.is_nan() {
            return Err(CodecError::InvalidKey("table index is NaN".into()));
        }
        Ok(match float_to_int(x) {
            Some(n) => Key::Int(n),
            None => Key::Float(x),
        })
    }

    /// Lua's `type()` of the key, with `"integer"` for integers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Key::Bool(_) => "boolean",
            Key::Int(_) => "integer",
            Key::Float(_) => "number",
            Key::Str(_) => "string",
        }
    }

    /// Number of bytes [`encode_key`] appends for this key.
    pub fn encoded_len(&self) -> usize {
        match self {
            Key::Bool(_) => 1,
            Key::Int(_) | Key::Float(_) => NUMBER_KEY_LEN,
            Key::Str(s) => 3 + s.len() + s.iter().filter(|&&b| b == 0).count(),
        }
    }

    /// Rank of the key's type in the total order.
    fn class(&self) -> u8 {
        match self {
            Key::Bool(_) => 0,
            Key::Int(_) | Key::Float(_) => 1,
            Key::Str(_) => 2,
        }
    }
}

/// `x` as an integer when its value is integral and fits `i64`.
#[inline]
fn float_to_int(x: f64) -> Option<i64> {
    // The range test also rejects NaN and infinities; inside it the cast
    // is exact for integral values.
    if (-TWO_POW_63..TWO_POW_63).contains(&x) {
        let n = x as i64;
        if n as f64 == x {
            return Some(n);
        }
    }
    None
}

/// Order-preserving image of a float: flipping the sign bit of positives
/// and all bits of negatives makes unsigned order equal numeric order.
/// `-0.0` maps like `+0.0`, and every NaN to one image above `+inf`.
#[inline]
fn f64_image(x: f64) -> u64 {
    let x = if x == 0.0 {
        0.0
    } else if x.is_nan() {
        f64::NAN
    } else {
        x
    };
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Inverse of [`f64_image`].
#[inline]
fn f64_from_image(image: u64) -> f64 {
    let bits = if image >> 63 == 1 {
        image & !(1 << 63)
    } else {
        !image
    };
    f64::from_bits(bits)
}

/// A number as (image of its value rounded to `f64`, exact remainder).
/// Rounding is monotone, so comparing these pairs lexicographically
/// compares the exact values; floats have remainder 0.
#[inline]
fn int_parts(n: i64) -> (u64, i16) {
    let r = n as f64; // round to nearest, ties to even
    if n.unsigned_abs() <= 1 << 53 {
        return (f64_image(r), 0);
    }
    // |r| <= 2^63 is exact in i128, and |n - r| <= MAX_REMAINDER.
    let rem = (i128::from(n) - r as i128) as i16;
    (f64_image(r), rem)
}

/// [`int_parts`] for a number key; `None` for other keys.
#[inline]
fn number_parts(key: &Key) -> Option<(u64, i16)> {
    match key {
        Key::Int(n) => Some(int_parts(*n)),
        // An integral float in range rounds to itself with remainder 0,
        // which is exactly what `int_parts` gives its integer.
        Key::Float(x) => Some((f64_image(*x), 0)),
        _ => None,
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Key::Int(a), Key::Int(b)) => a.cmp(b),
            (Key::Str(a), Key::Str(b)) => a.cmp(b),
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            _ => match (number_parts(self), number_parts(other)) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => self.class().cmp(&other.class()),
            },
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            // Lengths first: most unequal field names differ in length.
            (Key::Str(a), Key::Str(b)) => a == b,
            (Key::Int(a), Key::Int(b)) => a == b,
            _ => self.cmp(other) == Ordering::Equal,
        }
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must agree with `Eq`: hash numbers by their normalised parts.
        self.class().hash(state);
        match self {
            Key::Bool(b) => b.hash(state),
            Key::Str(s) => s.hash(state),
            Key::Int(_) | Key::Float(_) => number_parts(self).hash(state),
        }
    }
}

impl From<bool> for Key {
    fn from(b: bool) -> Self {
        Key::Bool(b)
    }
}

impl From<i64> for Key {
    fn from(n: i64) -> Self {
        Key::Int(n)
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::Str(s.as_bytes().to_vec())
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key::Str(s.into_bytes())
    }
}

impl From<&[u8]> for Key {
    fn from(s: &[u8]) -> Self {
        Key::Str(s.to_vec())
    }
}

impl From<Vec<u8>> for Key {
    fn from(s: Vec<u8>) -> Self {
        Key::Str(s)
    }
}

/// Where encoders append bytes: a `Vec<u8>`, or a `SmallVec` for keys
/// built on the stack by the hot read paths.
pub(crate) trait ByteSink {
    /// Make room for `n` more bytes.
    fn reserve_bytes(&mut self, n: usize);
    /// Append one byte.
    fn put_byte(&mut self, b: u8);
    /// Append bytes.
    fn put_bytes(&mut self, b: &[u8]);
}

impl ByteSink for Vec<u8> {
    #[inline]
    fn reserve_bytes(&mut self, n: usize) {
        self.reserve(n);
    }
    #[inline]
    fn put_byte(&mut self, b: u8) {
        self.push(b);
    }
    #[inline]
    fn put_bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

impl<A: smallvec::Array<Item = u8>> ByteSink for smallvec::SmallVec<A> {
    #[inline]
    fn reserve_bytes(&mut self, n: usize) {
        self.reserve(n);
    }
    #[inline]
    fn put_byte(&mut self, b: u8) {
        self.push(b);
    }
    #[inline]
    fn put_bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

/// Append the order-preserving encoding of `key` to `out`.
pub fn encode_key(key: &Key, out: &mut Vec<u8>) {
    encode_key_to(key, out);
}

/// [`encode_key`] into any [`ByteSink`].
#[inline]
pub(crate) fn encode_key_to(key: &Key, out: &mut impl ByteSink) {
    match key {
        Key::Bool(false) => out.put_byte(TAG_FALSE),
        Key::Bool(true) => out.put_byte(TAG_TRUE),
        Key::Int(_) | Key::Float(_) => {
            let (image, rem) = number_parts(key).unwrap_or((0, 0));
            out.put_bytes(&number_encoding(image, rem));
        }
        Key::Str(s) => encode_str(s, out),
    }
}

/// The encoding of a number key (an integer or a float), which is always
/// [`NUMBER_KEY_LEN`] bytes; `None` for any other key.
#[inline]
pub(crate) fn encode_number_key(key: &Key) -> Option<[u8; NUMBER_KEY_LEN]> {
    let (image, rem) = number_parts(key)?;
    Some(number_encoding(image, rem))
}

#[inline(always)]
fn number_encoding(image: u64, rem: i16) -> [u8; NUMBER_KEY_LEN] {
    let mut enc = [0u8; NUMBER_KEY_LEN];
    enc[0] = TAG_NUMBER;
    enc[1..9].copy_from_slice(&image.to_be_bytes());
    // Flipping the sign bit makes two's complement sort unsigned.
    enc[9..].copy_from_slice(&((rem as u16) ^ 0x8000).to_be_bytes());
    enc
}

/// Strings: 0x00 escaped as `00 FF`, terminated by `00 01`. The
/// terminator sorts below every escaped byte, so a prefix sorts first.
fn encode_str(s: &[u8], out: &mut impl ByteSink) {
    out.reserve_bytes(s.len() + 3);
    out.put_byte(TAG_STRING);
    let mut rest = s;
    while let Some(z) = rest.iter().position(|&b| b == 0) {
        let (before, after) = rest.split_at(z);
        out.put_bytes(before);
        out.put_bytes(&[0x00, 0xFF]);
        rest = after.get(1..).unwrap_or_default();
    }
    out.put_bytes(rest);
    out.put_bytes(&[0x00, 0x01]);
}

fn corrupted(detail: impl Into<String>) -> CodecError {
    CodecError::corrupted("key", detail)
}

/// Decode the key at the start of `bytes`; returns it and the number of
/// bytes its encoding occupied (the rest may be further key components).
/// Any encoding [`encode_key`] cannot produce is `Corrupted`.
pub fn decode_key(bytes: &[u8]) -> Result<(Key, usize)> {
    let Some((&tag, rest)) = bytes.split_first() else {
        return Err(corrupted("empty key"));
    };
    match tag {
        TAG_FALSE => Ok((Key::Bool(false), 1)),
        TAG_TRUE => Ok((Key::Bool(true), 1)),
        TAG_NUMBER => {
            let Some((image, tail)) = rest.split_first_chunk::<8>() else {
                return Err(corrupted(format!(
                    "number key truncated at {} of {NUMBER_KEY_LEN} bytes",
                    bytes.len()
                )));
            };
            let Some(rem) = tail.first_chunk::<2>() else {
                return Err(corrupted(format!(
                    "number key truncated at {} of {NUMBER_KEY_LEN} bytes",
                    bytes.len()
                )));
            };
            let key = decode_number(u64::from_be_bytes(*image), u16::from_be_bytes(*rem))?;
            Ok((key, NUMBER_KEY_LEN))
        }
        TAG_STRING => {
            let (s, used) = decode_str(rest)?;
            Ok((Key::Str(s), 1 + used))
        }
        other => Err(corrupted(format!("unknown key tag {other:#04x}"))),
    }
}

/// The length of the key encoding at the start of `bytes`, without
/// building the key (no allocation for strings). Strings and booleans are
/// checked as [`decode_key`] checks them; a number's bytes are not read
/// (its length is fixed), so skipping one costs a length check.
pub(crate) fn skip_key(bytes: &[u8]) -> Result<usize> {
    match bytes.first() {
        Some(&TAG_STRING) => {
            let body = bytes.get(1..).unwrap_or_default();
            let mut at = 0;
            loop {
                let rest = body.get(at..).unwrap_or_default();
                let Some(z) = rest.iter().position(|&b| b == 0) else {
                    return Err(corrupted("string key has no terminator"));
                };
                match rest.get(z + 1) {
                    Some(0xFF) => at += z + 2,
                    Some(0x01) => return Ok(1 + at + z + 2),
                    Some(b) => {
                        return Err(corrupted(format!(
                            "string key has invalid escape 00 {b:02x} at byte {}",
                            1 + at + z
                        )))
                    }
                    None => return Err(corrupted("string key ends inside an escape")),
                }
            }
        }
        // A number has one length: skipped unread (a reader of the
        // number itself decodes and checks it).
        Some(&TAG_NUMBER) if bytes.len() >= NUMBER_KEY_LEN => Ok(NUMBER_KEY_LEN),
        // Booleans (and short numbers, for their error) decode without allocating.
        _ => decode_key(bytes).map(|(_, used)| used),
    }
}

fn decode_number(image: u64, rem_bits: u16) -> Result<Key> {
    let r = f64_from_image(image);
    let rem = (rem_bits ^ 0x8000) as i16;
    if r.is_nan() {
        return Err(corrupted("number key is NaN"));
    }
    let key = if rem == 0 {
        match float_to_int(r) {
            Some(n) => Key::Int(n),
            None => Key::Float(r),
        }
    } else {
        Key::Int(int_from_parts(r, rem)?)
    };
    // One canonical encoding per key: refuse -0.0, integral floats marked
    // as floats, remainders that are not the rounding error, and so on.
    if number_parts(&key) != Some((image, rem)) {
        return Err(corrupted(format!(
            "non-canonical number key (value {r:?}, remainder {rem})"
        )));
    }
    Ok(key)
}

/// The integer `r + rem` (not yet checked to be canonical).
fn int_from_parts(r: f64, rem: i16) -> Result<i64> {
    if !(-MAX_REMAINDER..=MAX_REMAINDER).contains(&rem) || r.abs() > TWO_POW_63 {
        return Err(corrupted(format!(
            "number key remainder {rem} impossible for rounded value {r:?}"
        )));
    }
    // Exact in i128: |r| <= 2^63 (a fraction is truncated here and then
    // caught by the canonical check) and |rem| <= 512.
    let n = r as i128 + i128::from(rem);
    i64::try_from(n)
        .map_err(|_| corrupted(format!("number key {r:?} + {rem} is out of integer range")))
}

/// Decode an escaped string body; returns the bytes and how many encoded
/// bytes (including the terminator) were used.
fn decode_str(body: &[u8]) -> Result<(Vec<u8>, usize)> {
    // Common case: no escaped zero, so the first 00 starts the terminator
    // and the string is one exact-size copy.
    let Some(z) = body.iter().position(|&b| b == 0) else {
        return Err(corrupted("string key has no terminator"));
    };
    if body.get(z + 1) == Some(&0x01) {
        return Ok((body.get(..z).unwrap_or_default().to_vec(), z + 2));
    }
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    loop {
        let rest = body.get(at..).unwrap_or_default();
        let Some(z) = rest.iter().position(|&b| b == 0) else {
            return Err(corrupted("string key has no terminator"));
        };
        out.extend_from_slice(rest.get(..z).unwrap_or_default());
        match rest.get(z + 1) {
            Some(0xFF) => {
                out.push(0);
                at += z + 2;
            }
            Some(0x01) => return Ok((out, at + z + 2)),
            Some(b) => {
                return Err(corrupted(format!(
                    "string key has invalid escape 00 {b:02x} at byte {}",
                    1 + at + z
                )))
            }
            None => return Err(corrupted("string key ends inside an escape")),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use quickcheck::{Arbitrary, Gen, QuickCheck};

    fn enc(key: &Key) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(key, &mut out);
        out
    }

    const EDGE_INTS: [i64; 16] = [
        i64::MIN,
        i64::MIN + 1,
        i64::MAX,
        i64::MAX - 1,
        (1 << 53) + 1,
        1 << 53,
        (1 << 53) - 1,
        -(1 << 53) - 1,
        -(1 << 53),
        -(1 << 53) + 1,
        (1 << 62) + 513,
        (1 << 62) + 512,
        0,
        1,
        -1,
        1 << 60,
    ];

    const EDGE_FLOATS: [f64; 16] = [
        TWO_POW_63,
        -TWO_POW_63,
        2.0 * TWO_POW_63,
        9007199254740992.0,
        9007199254740994.0,
        -9007199254740994.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.5,
        -0.5,
        2.5,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
    ];

    impl Arbitrary for Key {
        fn arbitrary(g: &mut Gen) -> Key {
            match u8::arbitrary(g) % 10 {
                0 => Key::Bool(bool::arbitrary(g)),
                1 => Key::Int(i64::arbitrary(g)),
                2 => Key::Int(
                    g.choose(&EDGE_INTS)
                        .unwrap_or(&0)
                        .saturating_add(i64::from(i8::arbitrary(g) % 3)),
                ),
                3 => Key::Int(i64::from(i16::arbitrary(g))),
                4 => {
                    let x = f64::arbitrary(g);
                    Key::from_f64(x).unwrap_or(Key::Float(f64::INFINITY))
                }
                5 => {
                    // Raw variant, possibly non-canonical (Float(2.0), -0.0).
                    let x = *g.choose(&EDGE_FLOATS).unwrap_or(&0.0);
                    if bool::arbitrary(g) {
                        Key::Float(x)
                    } else {
                        Key::from_f64(x).unwrap_or(Key::Bool(false))
                    }
                }
                6 => Key::Float(f64::from(i32::arbitrary(g)) / 4.0),
                7 => {
                    let bytes = Vec::<u8>::arbitrary(g);
                    // Bias toward the bytes the escaping cares about.
                    Key::Str(
                        bytes
                            .into_iter()
                            .map(|b| [0, 0xFF, 1, b][usize::from(b % 4)])
                            .collect(),
                    )
                }
                8 => Key::Str(Vec::new()),
                _ => Key::Str(Vec::<u8>::arbitrary(g)),
            }
        }
    }

    /// Reference order, computed independently of the encoding.
    fn model_cmp(a: &Key, b: &Key) -> Ordering {
        fn num_vs(n: i64, x: f64) -> Ordering {
            if x >= TWO_POW_63 {
                return Ordering::Less;
            }
            if x < -TWO_POW_63 {
                return Ordering::Greater;
            }
            let fl = x.floor() as i128;
            match i128::from(n).cmp(&fl) {
                Ordering::Equal if x != x.floor() => Ordering::Less,
                o => o,
            }
        }
        let class = |k: &Key| match k {
            Key::Bool(_) => 0,
            Key::Int(_) | Key::Float(_) => 1,
            Key::Str(_) => 2,
        };
        match (a, b) {
            (Key::Bool(x), Key::Bool(y)) => x.cmp(y),
            (Key::Int(x), Key::Int(y)) => x.cmp(y),
            (Key::Float(x), Key::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
            (Key::Int(n), Key::Float(x)) => num_vs(*n, *x),
            (Key::Float(x), Key::Int(n)) => num_vs(*n, *x).reverse(),
            (Key::Str(x), Key::Str(y)) => x.cmp(y),
            _ => class(a).cmp(&class(b)),
        }
    }

    fn all_edge_keys() -> Vec<Key> {
        let mut keys = vec![Key::Bool(false), Key::Bool(true), Key::Str(vec![])];
        for n in EDGE_INTS {
            for d in -2..=2 {
                keys.push(Key::Int(n.saturating_add(d)));
            }
        }
        for x in EDGE_FLOATS {
            keys.push(Key::Float(x));
            keys.push(Key::Float(-x));
            // Adjacent floats: the image is order-preserving and dense.
            keys.push(Key::Float(f64_from_image(f64_image(x).wrapping_add(1))));
            keys.push(Key::Float(f64_from_image(f64_image(x).wrapping_sub(1))));
        }
        for s in [
            &b"\x00"[..],
            b"\x00\x00",
            b"\x00\x01",
            b"\x00\xff",
            b"\xff",
            b"\x01",
            b"a",
            b"a\x00",
            b"ab",
        ] {
            keys.push(Key::Str(s.to_vec()));
        }
        keys.retain(|k| !matches!(k, Key::Float(x) if x.is_nan()));
        keys
    }

    #[test]
    fn skip_key_measures_what_decode_key_reads() {
        let keys = [
            Key::Bool(true),
            Key::Int(-7),
            Key::Float(0.5),
            Key::from(""),
            Key::from("a\0b\0"),
            Key::Str(vec![0, 0xFF, 1, 0]),
        ];
        for k in &keys {
            let mut e = enc(k);
            let len = e.len();
            e.extend_from_slice(&[0x30, 9]);
            assert_eq!(skip_key(&e).unwrap(), len, "{k:?}");
            assert_eq!(decode_key(&e).unwrap().1, len);
            for cut in 0..len {
                assert!(skip_key(&e[..cut]).is_err(), "{k:?} cut at {cut}");
            }
        }
        assert!(skip_key(&[0x30, b'a', 0, 7]).is_err());
    }

    #[test]
    fn edge_keys_order_and_round_trip_pairwise() {
        let keys = all_edge_keys();
        for a in &keys {
            let ea = enc(a);
            assert_eq!(ea.len(), a.encoded_len());
            let (back, used) = decode_key(&ea).expect("decodes");
            assert_eq!(used, ea.len());
            assert_eq!(back, *a, "round trip of {a:?}");
            assert_eq!(enc(&back), ea);
            for b in &keys {
                let want = model_cmp(a, b);
                assert_eq!(a.cmp(b), want, "{a:?} vs {b:?}");
                assert_eq!(ea.cmp(&enc(b)), want, "encodings of {a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn spec_examples() {
        assert!(Key::Int(i64::MAX) < Key::Float(TWO_POW_63));
        assert!(Key::Int(i64::MIN) == Key::Float(-TWO_POW_63));
        assert!(Key::Int((1 << 53) + 1) > Key::Float(9007199254740992.0));
        assert!(Key::Int((1 << 53) + 1) < Key::Float(9007199254740994.0));
        assert!(Key::Bool(true) < Key::Float(f64::NEG_INFINITY));
        assert!(Key::Float(f64::INFINITY) < Key::Str(vec![]));
        assert_eq!(Key::Float(2.0), Key::Int(2));
        assert_eq!(enc(&Key::Float(-0.0)), enc(&Key::Int(0)));
    }

    #[test]
    fn from_f64_normalises_and_refuses_nan() {
        assert!(matches!(Key::from_f64(-0.0), Ok(Key::Int(0))));
        assert!(matches!(Key::from_f64(3.0), Ok(Key::Int(3))));
        assert!(matches!(Key::from_f64(-TWO_POW_63), Ok(Key::Int(i64::MIN))));
        assert!(matches!(Key::from_f64(TWO_POW_63), Ok(Key::Float(_))));
        assert!(matches!(Key::from_f64(2.5), Ok(Key::Float(_))));
        assert!(matches!(Key::from_f64(f64::INFINITY), Ok(Key::Float(_))));
        let err = Key::from_f64(f64::NAN).unwrap_err();
        assert_eq!(err.to_string(), "table index is NaN");
    }

    #[test]
    fn string_encoding_bytes() {
        assert_eq!(enc(&Key::from("a\0b")), [0x30, b'a', 0, 0xFF, b'b', 0, 1]);
        assert_eq!(enc(&Key::Str(vec![])), [0x30, 0, 1]);
        assert_eq!(enc(&Key::Bool(false)), [0x10]);
        assert_eq!(enc(&Key::Int(0))[..9], [0x20, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn decode_rejects_malformed() {
        let bad: &[&[u8]] = &[
            &[],
            &[0x00],
            &[0x12],
            &[0x20, 0x80],
            &[0x30, b'a'],
            &[0x30, b'a', 0],
            &[0x30, b'a', 0, 2],
            &[0x30, 0, 0xFE, 0, 1],
        ];
        for b in bad {
            assert!(
                matches!(decode_key(b), Err(CodecError::Corrupted { .. })),
                "{b:?}"
            );
        }
        // A number key whose bytes claim a float for an integral value,
        // -0.0, NaN, or a wrong remainder.
        let num = |image: u64, rem: i16| {
            let mut v = vec![TAG_NUMBER];
            v.extend_from_slice(&image.to_be_bytes());
            v.extend_from_slice(&((rem as u16) ^ 0x8000).to_be_bytes());
            decode_key(&v)
        };
        assert!(num(f64_image(2.0), 0).is_ok());
        assert!(num(f64_image(2.0), 1).is_err());
        assert!(num(f64_image(2.5), 1).is_err());
        assert!(num(!(-0.0f64).to_bits(), 0).is_err());
        assert!(num(f64_image(f64::NAN), 0).is_err());
        assert!(num(f64_image(TWO_POW_63), -1).is_ok());
        assert!(num(f64_image(TWO_POW_63), 1).is_err());
        assert!(num(f64_image(f64::INFINITY), -1).is_err());
        // 2^53 + 1 rounds (ties to even) to 2^53; 2^53 + 3 and + 5 to 2^53 + 4.
        assert!(num(f64_image(9007199254740992.0), 1).is_ok());
        assert!(num(f64_image(9007199254740996.0), -1).is_ok());
        assert!(num(f64_image(9007199254740996.0), 1).is_ok());
        // 2^53 + 2 is never the nearest-even rounding of its neighbours.
        assert!(num(f64_image(9007199254740994.0), 1).is_err());
        assert!(num(f64_image(9007199254740994.0), -1).is_err());
        assert!(num(f64_image(9007199254740994.0), 3).is_err());
        assert!(num(f64_image(TWO_POW_63), i16::MIN).is_err());
        assert!(num(f64_image(-TWO_POW_63), -1).is_err());
    }

    #[test]
    fn hash_agrees_with_eq() {
        use std::collections::hash_map::DefaultHasher;
        let h = |k: &Key| {
            let mut s = DefaultHasher::new();
            k.hash(&mut s);
            s.finish()
        };
        assert_eq!(h(&Key::Float(2.0)), h(&Key::Int(2)));
        assert_eq!(h(&Key::Float(-0.0)), h(&Key::Int(0)));
    }

    #[test]
    fn order_matches_model_and_encoding() {
        fn prop(a: Key, b: Key) -> bool {
            let want = model_cmp(&a, &b);
            a.cmp(&b) == want && enc(&a).cmp(&enc(&b)) == want
        }
        QuickCheck::new()
            .tests(10_000)
            .quickcheck(prop as fn(Key, Key) -> bool);
    }

    #[test]
    fn neighbouring_numbers_order_exactly() {
        // Random pairs are rarely close; this compares integers of every
        // magnitude with their neighbours and the floats around them.
        fn prop(n: i64, shift: u8) -> bool {
            let n = n >> (shift % 64);
            let r = n as f64;
            let mut keys: Vec<Key> = (-3..=3).map(|d| Key::Int(n.saturating_add(d))).collect();
            for image in [f64_image(r) - 1, f64_image(r), f64_image(r) + 1] {
                keys.push(Key::Float(f64_from_image(image)));
            }
            keys.iter().all(|a| {
                keys.iter().all(|b| {
                    let want = model_cmp(a, b);
                    a.cmp(b) == want && enc(a).cmp(&enc(b)) == want
                })
            })
        }
        QuickCheck::new()
            .tests(10_000)
            .quickcheck(prop as fn(i64, u8) -> bool);
    }

    #[test]
    fn concatenated_keys_sort_by_first_component() {
        fn prop(a: Key, b: Key, x: Vec<u8>, y: Vec<u8>) -> bool {
            let mut ea = enc(&a);
            let la = ea.len();
            ea.extend_from_slice(&x);
            let mut eb = enc(&b);
            eb.extend_from_slice(&y);
            let ordered = a == b || ea.cmp(&eb) == a.cmp(&b);
            let decoded = matches!(decode_key(&ea), Ok((k, n)) if k == a && n == la);
            ordered && decoded
        }
        QuickCheck::new()
            .tests(5_000)
            .quickcheck(prop as fn(Key, Key, Vec<u8>, Vec<u8>) -> bool);
    }

    #[test]
    fn composite_keys_sort_lexicographically() {
        fn prop(a: (Key, Key), b: (Key, Key)) -> bool {
            let composite = |k: &(Key, Key)| {
                let mut v = enc(&k.0);
                encode_key(&k.1, &mut v);
                v
            };
            composite(&a).cmp(&composite(&b)) == a.cmp(&b)
        }
        QuickCheck::new()
            .tests(5_000)
            .quickcheck(prop as fn((Key, Key), (Key, Key)) -> bool);
    }

    #[test]
    fn round_trip() {
        fn prop(k: Key) -> bool {
            let e = enc(&k);
            match decode_key(&e) {
                Ok((back, n)) => n == e.len() && back == k && enc(&back) == e,
                Err(_) => false,
            }
        }
        QuickCheck::new()
            .tests(10_000)
            .quickcheck(prop as fn(Key) -> bool);
    }

    /// Whatever decodes must be exactly the canonical encoding of its key.
    fn decodes_canonically(bytes: &[u8]) -> bool {
        match decode_key(bytes) {
            Ok((k, n)) => bytes.get(..n) == Some(enc(&k).as_slice()),
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
        // Random bodies behind valid tags reach deeper than pure noise.
        fn prop(tag: u8, bytes: Vec<u8>) -> bool {
            let mut v = vec![[TAG_FALSE, TAG_TRUE, TAG_NUMBER, TAG_STRING][usize::from(tag % 4)]];
            v.extend_from_slice(&bytes);
            decodes_canonically(&v)
        }
        QuickCheck::new()
            .tests(10_000)
            .quickcheck(prop as fn(u8, Vec<u8>) -> bool);
    }

    #[test]
    fn mutated_encodings_never_panic() {
        fn prop(k: Key, at: usize, mask: u8, cut: usize) -> bool {
            let mut e = enc(&k);
            let len = e.len();
            if let Some(b) = e.get_mut(at % len) {
                *b ^= mask;
            }
            e.truncate(len - cut % len);
            decodes_canonically(&e)
        }
        QuickCheck::new()
            .tests(10_000)
            .quickcheck(prop as fn(Key, usize, u8, usize) -> bool);
    }
}
