//! Byte layout of the one B-tree that holds every table, index and catalog
//! entry; byte 0 of every key is its namespace.
//!
//! The format is drawn once, in DESIGN.md section 5, "Keyspace";
//! this module is its only reader and writer.
//!
//! The id encoding is order-preserving (a shorter id is a smaller one;
//! equal lengths compare as big-endian) and prefix-free, so one table's (or
//! one index's) entries are contiguous and in key order; it takes 2-4 bytes
//! for realistic ids instead of 8, in every key of every entry. The codec's
//! key encoding is self-delimiting, so an index key sorts by field value
//! first, then by record key, and a prefix scan over `02 <id> <value>`
//! finds every record holding that value.

use crate::codec::{
    decode_key, encode_key, encode_key_to, encode_number_key, skip_key, varint, ByteSink, Key,
    NUMBER_KEY_LEN,
};
use crate::error::{EngineError, Result};
use smallvec::SmallVec;

/// A key built for one lookup or one cursor bound: inline up to 64 bytes
/// (entry and index keys of numbers and short strings), so the hot read
/// paths build keys without touching the allocator.
pub(crate) type KeyBuf = SmallVec<[u8; 64]>;

/// Identifies a table. Ids are allocated from a counter and never reused.
pub type TableId = u64;

/// The root table, `Memory`. It exists implicitly and cannot be deleted.
pub const ROOT: TableId = 1;

/// Namespace byte of system and catalog keys.
pub(crate) const NS_SYSTEM: u8 = 0x00;
/// Namespace byte of table entries.
pub(crate) const NS_ENTRY: u8 = 0x01;
/// Namespace byte of index entries.
pub(crate) const NS_INDEX: u8 = 0x02;

pub(crate) const KEY_NEXT_TABLE: [u8; 2] = [NS_SYSTEM, b'c'];
pub(crate) const KEY_NEXT_INDEX: [u8; 2] = [NS_SYSTEM, b'C'];
pub(crate) const KEY_USER_VERSION: [u8; 2] = [NS_SYSTEM, b'v'];
pub(crate) const KEY_CATALOG_GEN: [u8; 2] = [NS_SYSTEM, b'g'];
const SYS_TABLE_META: u8 = b't';
const SYS_INDEX_DEF: u8 = b'i';
const SYS_SCHEMA: u8 = b's';

/// First id the table counter hands out (1 is [`ROOT`]).
pub(crate) const FIRST_TABLE_ID: u64 = 2;
/// First id the index counter hands out.
pub(crate) const FIRST_INDEX_ID: u64 = 1;

/// Most bytes before the encoded key in an entry key (namespace, id
/// length, id).
pub(crate) const ENTRY_PREFIX_LEN: usize = 10;

/// Append the order-preserving, prefix-free encoding of an id.
pub(crate) fn put_id(out: &mut impl ByteSink, id: u64) {
    let n = id_len(id);
    out.put_byte(n as u8);
    let be = id.to_be_bytes();
    out.put_bytes(be.get(8 - n..).unwrap_or(&be));
}

/// Bytes of an id's value in its encoding (1 to 8).
#[inline]
fn id_len(id: u64) -> usize {
    (8 - id.leading_zeros() as usize / 8).max(1)
}

/// Decode an id at the start of `bytes`; returns it and the bytes used.
/// Only the minimal form is accepted.
pub(crate) fn take_id(bytes: &[u8]) -> Result<(u64, usize)> {
    let bad = |detail: String| EngineError::corrupted("id", detail);
    let (&n, rest) = bytes.split_first().ok_or_else(|| bad("missing".into()))?;
    let n = usize::from(n);
    if !(1..=8).contains(&n) {
        return Err(bad(format!("length byte {n}")));
    }
    let body = rest.get(..n).ok_or_else(|| bad("truncated".into()))?;
    if n > 1 && body.first() == Some(&0) {
        return Err(bad("non-minimal encoding".into()));
    }
    let id = body.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Ok((id, 1 + n))
}

/// `00 't'`: the prefix of every meta key.
pub(crate) const META_PREFIX: [u8; 2] = [NS_SYSTEM, SYS_TABLE_META];

/// `00 't' <id>`.
pub(crate) fn meta_key(table: TableId) -> KeyBuf {
    let mut k = KeyBuf::from_slice(&META_PREFIX);
    put_id(&mut k, table);
    k
}

/// The table id of a meta key.
pub(crate) fn decode_meta_key(key: &[u8]) -> Result<TableId> {
    match key.strip_prefix(&META_PREFIX[..]) {
        Some(rest) => match take_id(rest)? {
            (id, used) if used == rest.len() => Ok(id),
            _ => Err(EngineError::corrupted(
                "table meta",
                "trailing bytes in a meta key",
            )),
        },
        None => Err(EngineError::corrupted("table meta", "not a meta key")),
    }
}

/// Flag byte after a packed record's meta (format 2). A table of entries
/// has no flag byte, as in format 1.
const META_PACKED: u8 = 0x01;
/// Flag byte of a run of packed records, followed by its count (format 4).
const META_RUN: u8 = 0x02;

/// One meta entry, `00 't' <first>`: the parent link of table `first`,
/// or of the run `first .. first + count` of packed records at
/// consecutive integer keys of one parent (DESIGN.md section 5, "Meta
/// runs").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MetaEntry {
    /// The table that holds them.
    pub parent: TableId,
    /// The key of the first table in `parent`.
    pub key: Key,
    /// Whether they are packed records (always, for a run).
    pub packed: bool,
    /// Tables the entry stands for: 1, or at least 2 for a run.
    pub count: u64,
}

impl MetaEntry {
    /// One table's meta.
    pub(crate) fn single(parent: TableId, key: Key, packed: bool) -> MetaEntry {
        MetaEntry {
            parent,
            key,
            packed,
            count: 1,
        }
    }

    /// The link of the `offset`th table of the entry (`offset < count`):
    /// parent, key, packed.
    pub(crate) fn member(&self, offset: u64) -> (TableId, Key, bool) {
        let key = match (&self.key, i64::try_from(offset)) {
            (Key::Int(k), Ok(o)) if offset > 0 => Key::Int(k.wrapping_add(o)),
            _ => self.key.clone(),
        };
        (self.parent, key, self.packed)
    }

    /// The first `count` tables of this entry (`0 < count <= self.count`).
    pub(crate) fn head(&self, count: u64) -> MetaEntry {
        MetaEntry {
            count,
            ..self.clone()
        }
    }

    /// The tables of this entry from the `offset`th on (`offset < count`),
    /// as an entry of their own.
    pub(crate) fn tail(&self, offset: u64) -> MetaEntry {
        let (parent, key, packed) = self.member(offset);
        MetaEntry {
            parent,
            key,
            packed,
            count: self.count - offset,
        }
    }

    /// The integer key after the entry's last table, if the entry can
    /// grow by one more packed record.
    pub(crate) fn next_key(&self) -> Option<i64> {
        match (&self.key, i64::try_from(self.count)) {
            (Key::Int(k), Ok(n)) if self.packed => k.checked_add(n),
            _ => None,
        }
    }
}

/// Encode a meta entry.
pub(crate) fn encode_meta(meta: &MetaEntry) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    varint::encode_u64(meta.parent, &mut v);
    encode_key(&meta.key, &mut v);
    if meta.count > 1 {
        v.push(META_RUN);
        varint::encode_u64(meta.count, &mut v);
    } else if meta.packed {
        v.push(META_PACKED);
    }
    v
}

/// Inverse of [`encode_meta`] for the entry at `00 't' <first>`, with its
/// run's bounds checked.
pub(crate) fn decode_meta(first: TableId, bytes: &[u8]) -> Result<MetaEntry> {
    let bad = |detail: &str| {
        EngineError::corrupted("table meta", format!("meta of table {first} {detail}"))
    };
    let (parent, used) = varint::decode_u64(bytes)?;
    let rest = bytes.get(used..).unwrap_or_default();
    let (key, used) = decode_key(rest)?;
    let (packed, count) = match rest.get(used..).unwrap_or_default() {
        [] => (false, 1),
        [META_PACKED] => (true, 1),
        [META_RUN, tail @ ..] => {
            let (count, used) = varint::decode_u64(tail)?;
            if used != tail.len() {
                return Err(bad("has trailing bytes"));
            }
            if count < 2 {
                return Err(bad("is a run of fewer than 2"));
            }
            (true, count)
        }
        _ => return Err(bad("has trailing bytes")),
    };
    let meta = MetaEntry {
        parent,
        key,
        packed,
        count,
    };
    if count > 1 {
        let last = count - 1;
        let fits = first.checked_add(last).is_some()
            && i64::try_from(last)
                .is_ok_and(|l| matches!(meta.key, Key::Int(k) if k.checked_add(l).is_some()));
        if !fits {
            return Err(bad(&format!(
                "is a run of {count} past the id or integer key range"
            )));
        }
    }
    Ok(meta)
}

/// `01 <table>`: the prefix of every entry of `table`.
pub(crate) fn entry_prefix(table: TableId) -> KeyBuf {
    let mut k = KeyBuf::new();
    k.push(NS_ENTRY);
    put_id(&mut k, table);
    k
}

/// `01 <table> <key>`.
pub(crate) fn entry_key(table: TableId, key: &Key) -> KeyBuf {
    if let Some(number) = encode_number_key(key) {
        // The usual key.
        return fixed_key(NS_ENTRY, table, &[number]);
    }
    let mut k = entry_prefix(table);
    encode_key_to(key, &mut k);
    k
}

/// The key of an entry key read back from the tree.
pub(crate) fn decode_entry_key(bytes: &[u8]) -> Result<Key> {
    let (_, id_len) = take_id(bytes.get(1..).unwrap_or_default())?;
    let rest = bytes.get(1 + id_len..).unwrap_or_default();
    if bytes.first() != Some(&NS_ENTRY) {
        return Err(malformed_entry_key(bytes.len()));
    }
    decode_key_exact(rest)
}

/// One whole encoded key (nothing after it).
pub(crate) fn decode_key_exact(bytes: &[u8]) -> Result<Key> {
    let (key, used) = decode_key(bytes)?;
    if used != bytes.len() {
        return Err(malformed_entry_key(bytes.len()));
    }
    Ok(key)
}

#[cold]
fn malformed_entry_key(len: usize) -> EngineError {
    EngineError::corrupted("entry key", format!("malformed entry key of {len} bytes"))
}

pub(crate) use crate::kv::prefix_end;

/// `00 'i'`: the prefix of every index definition.
pub(crate) fn index_def_prefix() -> Vec<u8> {
    vec![NS_SYSTEM, SYS_INDEX_DEF]
}

/// `00 'i' <table> <path>`.
pub(crate) fn index_def_key(table: TableId, path: &[Key]) -> Vec<u8> {
    let mut k = index_def_prefix();
    put_id(&mut k, table);
    for p in path {
        encode_key(p, &mut k);
    }
    k
}

/// Table and field path of an index definition key.
pub(crate) fn decode_index_def_key(bytes: &[u8]) -> Result<(TableId, Vec<Key>)> {
    let bad = || EngineError::corrupted("index definition", "malformed key");
    let rest = bytes.get(2..).ok_or_else(bad)?;
    let (id, used) = take_id(rest)?;
    let mut rest = rest.get(used..).unwrap_or_default();
    let mut path = Vec::new();
    while !rest.is_empty() {
        let (k, used) = decode_key(rest)?;
        path.push(k);
        rest = rest.get(used..).unwrap_or_default();
    }
    if path.is_empty() {
        return Err(bad());
    }
    Ok((id, path))
}

/// Index def value: id and flags.
pub(crate) fn encode_index_def(id: u64, unique: bool) -> Vec<u8> {
    let mut v = id.to_le_bytes().to_vec();
    v.push(u8::from(unique));
    v
}

/// Inverse of [`encode_index_def`].
pub(crate) fn decode_index_def(bytes: &[u8]) -> Result<(u64, bool)> {
    match bytes.split_first_chunk::<8>() {
        Some((id, [flags])) if *flags <= 1 => Ok((u64::from_le_bytes(*id), *flags == 1)),
        _ => Err(EngineError::corrupted(
            "index definition",
            format!("value of {} bytes is not id + flags", bytes.len()),
        )),
    }
}

/// `00 's'`: the prefix of every schema.
pub(crate) fn schema_prefix() -> Vec<u8> {
    vec![NS_SYSTEM, SYS_SCHEMA]
}

/// `00 's' <table>`.
pub(crate) fn schema_key(table: TableId) -> Vec<u8> {
    let mut k = schema_prefix();
    put_id(&mut k, table);
    k
}

/// Table id of a schema key.
pub(crate) fn decode_schema_key(bytes: &[u8]) -> Result<TableId> {
    let rest = bytes.get(2..).unwrap_or_default();
    match take_id(rest) {
        Ok((id, used)) if used == rest.len() => Ok(id),
        _ => Err(EngineError::corrupted("schema", "malformed schema key")),
    }
}

/// `02 <index>`: the prefix of every entry of an index.
pub(crate) fn index_prefix(index: u64) -> KeyBuf {
    let mut k = KeyBuf::new();
    k.push(NS_INDEX);
    put_id(&mut k, index);
    k
}

/// `<namespace> <id> <number>...`, assembled in a buffer by fixed-size
/// copies (the id's bytes left-aligned in eight, each number over what
/// follows) rather than pushed piece by piece: at most two numbers.
#[inline]
fn fixed_key(namespace: u8, id: u64, numbers: &[[u8; NUMBER_KEY_LEN]]) -> KeyBuf {
    let mut buf = [0u8; 64];
    let n = id_len(id);
    buf[0] = namespace;
    buf[1] = n as u8;
    buf[2..10].copy_from_slice(&(id << (8 * (8 - n))).to_be_bytes());
    let mut at = 2 + n;
    for number in numbers {
        buf[at..at + NUMBER_KEY_LEN].copy_from_slice(number);
        at += NUMBER_KEY_LEN;
    }
    KeyBuf::from_buf_and_len(buf, at)
}

/// `02 <index> <value>`: the prefix of the entries holding `value`.
pub(crate) fn index_value_prefix(index: u64, value: &Key) -> KeyBuf {
    let mut k = index_prefix(index);
    encode_key_to(value, &mut k);
    k
}

/// `02 <index> <value> <record>`.
pub(crate) fn index_entry_key(index: u64, value: &Key, record: &Key) -> KeyBuf {
    if let (Some(v), Some(r)) = (encode_number_key(value), encode_number_key(record)) {
        // The usual entry of a load: a number indexed, records at number
        // keys.
        return fixed_key(NS_INDEX, index, &[v, r]);
    }
    let mut k = index_value_prefix(index, value);
    encode_key_to(record, &mut k);
    k
}

/// Field value and record key of an index entry key.
pub(crate) fn decode_index_entry(bytes: &[u8]) -> Result<(Key, Key)> {
    split_index_entry(bytes, |rest| Ok(decode_key(rest)?))
}

/// The record key of an index entry key (the field value is checked for
/// well-formedness but not built).
pub(crate) fn decode_index_record(bytes: &[u8]) -> Result<Key> {
    split_index_entry(bytes, |rest| Ok(((), skip_key(rest)?))).map(|((), record)| record)
}

/// An index entry key's field value, read by `value` (what it makes of it
/// and the bytes it took), and its record key, which must end the key.
fn split_index_entry<T>(
    bytes: &[u8],
    value: impl FnOnce(&[u8]) -> Result<(T, usize)>,
) -> Result<(T, Key)> {
    let (_, id_len) = take_id(bytes.get(1..).unwrap_or_default())?;
    let rest = bytes.get(1 + id_len..).unwrap_or_default();
    let (value, used) = value(rest)?;
    let rest = rest.get(used..).unwrap_or_default();
    let (record, used) = decode_key(rest)?;
    if used != rest.len() || bytes.first() != Some(&NS_INDEX) {
        return Err(EngineError::corrupted(
            "index entry",
            "trailing bytes after the record key",
        ));
    }
    Ok((value, record))
}

/// Packed records up to this many bytes (as stored) are carried by their
/// index entries (format 3): a query through the index reads no record.
/// Typical records (a few names and numbers) are well under it; a record
/// near the packing limit (an eighth of a page) would double its bytes in
/// every index, so it is named by id alone.
pub(crate) const MAX_COVERED_RECORD: usize = 256;

/// Index entry value, the short form: the record's table id.
pub(crate) fn encode_record_id(id: TableId) -> Vec<u8> {
    let mut v = Vec::with_capacity(4);
    varint::encode_u64(id, &mut v);
    v
}

/// An index entry value: the record's table id, and the record itself
/// when the entry carries it. Two forms (DESIGN.md section 5,
/// "Keyspace"): the id as a LEB128 varint alone (format 1 and 2, and any
/// record not carried), or the record's entry value verbatim, a packed
/// record (`09 | id | fields`, format 3). They cannot be confused: a
/// varint whose first byte is `09` is that one byte, and a packed record
/// is at least two.
pub(crate) fn decode_index_value(bytes: &[u8]) -> Result<(TableId, Option<&[u8]>)> {
    if let [crate::codec::TAG_RECORD, body @ ..] = bytes {
        if !body.is_empty() {
            return Ok((crate::codec::record_body_id(body)?, Some(bytes)));
        }
    }
    let (id, used) = varint::decode_u64(bytes)?;
    if used != bytes.len() {
        return Err(EngineError::corrupted(
            "index entry",
            "trailing bytes after the record id",
        ));
    }
    Ok((id, None))
}

/// The record id an index entry value names (either form).
pub(crate) fn decode_record_id(bytes: &[u8]) -> Result<TableId> {
    decode_index_value(bytes).map(|(id, _)| id)
}

/// A stored u64 counter.
pub(crate) fn decode_u64(what: &'static str, bytes: &[u8]) -> Result<u64> {
    match <[u8; 8]>::try_from(bytes) {
        Ok(b) => Ok(u64::from_le_bytes(b)),
        Err(_) => Err(EngineError::corrupted(
            what,
            format!("{} bytes instead of 8", bytes.len()),
        )),
    }
}

/// The escaped body of a string key without its terminator: every string
/// starting with `prefix` has an encoding starting with these bytes (the
/// escaping maps each byte on its own, and `00 01` only ends a string).
pub(crate) fn string_prefix_bytes(prefix: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    encode_key(&Key::Str(prefix.to_vec()), &mut e);
    e.truncate(e.len().saturating_sub(2));
    e
}

/// First byte of the encodings of `key`'s type class (booleans share two
/// tags; callers use this for numbers and strings).
pub(crate) fn class_tag(key: &Key) -> u8 {
    let mut e = Vec::new();
    encode_key(key, &mut e);
    e.first().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_keys_of_numbers_are_the_prefix_and_the_encoded_keys() {
        let keys = [
            Key::Int(0),
            Key::Int(-7),
            Key::Int(i64::MAX),
            Key::from_f64(0.5).unwrap(),
            Key::from("s"),
            Key::Bool(true),
        ];
        for table in [1, 255, 256, 65_536, 1 << 40, u64::MAX] {
            for key in &keys {
                let mut expected = entry_prefix(table);
                encode_key_to(key, &mut expected);
                assert_eq!(entry_key(table, key), expected, "{table} {key:?}");
                // Index entries: the fast form (numbers) and the general
                // one agree for every pair of keys.
                for record in &keys {
                    let mut expected = index_value_prefix(table, key);
                    encode_key_to(record, &mut expected);
                    let got = index_entry_key(table, key, record);
                    assert_eq!(got, expected, "{table} {key:?} {record:?}");
                }
            }
        }
    }

    #[test]
    fn entry_keys_round_trip_and_sort_within_table() {
        let a = entry_key(7, &Key::Int(2));
        let b = entry_key(7, &Key::from("a"));
        let c = entry_key(8, &Key::Bool(false));
        assert!(a < b && b < c);
        assert_eq!(decode_entry_key(&a).unwrap(), Key::Int(2));
        assert!(decode_entry_key(&a[..5]).is_err());
        let mut bad = a.clone();
        bad.push(0);
        assert!(decode_entry_key(&bad).is_err());
    }

    #[test]
    fn ids_sort_and_round_trip() {
        let ids = [
            0u64,
            1,
            255,
            256,
            300,
            65_535,
            65_536,
            1 << 40,
            u64::MAX - 1,
            u64::MAX,
        ];
        let enc = |id: u64| {
            let mut v = Vec::new();
            put_id(&mut v, id);
            v
        };
        assert_eq!(enc(5), [1, 5]);
        assert_eq!(enc(300), [2, 1, 0x2C]);
        for a in ids {
            assert_eq!(take_id(&enc(a)).unwrap(), (a, enc(a).len()));
            for b in ids {
                assert_eq!(enc(a).cmp(&enc(b)), a.cmp(&b), "{a} vs {b}");
                assert!(a == b || !enc(b).starts_with(&enc(a)));
            }
        }
        for bad in [&[][..], &[0], &[9, 1], &[2, 0, 5], &[3, 1, 2]] {
            assert!(take_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn meta_and_index_defs_round_trip() {
        let users = MetaEntry::single(9, Key::from("users"), false);
        let m = encode_meta(&users);
        assert_eq!(decode_meta(3, &m).unwrap(), users);
        assert!(decode_meta(3, &m[..7]).is_err());
        let packed = MetaEntry::single(9, Key::from("u1"), true);
        assert_eq!(decode_meta(3, &encode_meta(&packed)).unwrap(), packed);
        let run = MetaEntry {
            count: 300,
            ..MetaEntry::single(9, Key::Int(-5), true)
        };
        let m = encode_meta(&run);
        assert_eq!(decode_meta(3, &m).unwrap(), run);
        assert_eq!(run.member(7), (9, Key::Int(2), true));
        assert_eq!(run.tail(299), MetaEntry::single(9, Key::Int(294), true));
        assert_eq!(run.head(2).count, 2);
        assert_eq!(run.next_key(), Some(295));
        // A run of fewer than 2, trailing bytes, or past the id or key
        // range is damage.
        for count in [0u8, 1] {
            let mut bad = m[..m.len() - 2].to_vec();
            bad.push(count);
            assert!(decode_meta(3, &bad).is_err(), "count {count}");
        }
        assert!(decode_meta(3, &[&m[..], &[0]].concat()).is_err());
        assert!(decode_meta(u64::MAX - 10, &m).is_err());
        let high = MetaEntry {
            count: 3,
            ..MetaEntry::single(9, Key::Int(i64::MAX - 1), true)
        };
        assert!(decode_meta(3, &encode_meta(&high)).is_err());
        let text = MetaEntry {
            count: 3,
            ..MetaEntry::single(9, Key::from("a"), true)
        };
        assert!(decode_meta(3, &encode_meta(&text)).is_err());
        assert_eq!(decode_meta_key(&meta_key(300)).unwrap(), 300);
        assert!(decode_meta_key(&entry_key(300, &Key::Int(1))).is_err());
        let path = vec![Key::from("profile"), Key::from("city")];
        let k = index_def_key(5, &path);
        assert_eq!(decode_index_def_key(&k).unwrap(), (5, path));
        assert_eq!(
            decode_index_def(&encode_index_def(4, true)).unwrap(),
            (4, true)
        );
        assert!(decode_index_def(&[0; 9][..8]).is_err());
        assert!(decode_index_def(&[1, 0, 0, 0, 0, 0, 0, 0, 7]).is_err());
    }

    #[test]
    fn index_entries_sort_by_value_then_record() {
        let e1 = index_entry_key(1, &Key::Int(5), &Key::from("z"));
        let e2 = index_entry_key(1, &Key::Int(6), &Key::from("a"));
        assert!(e1 < e2);
        assert!(e1.starts_with(&index_value_prefix(1, &Key::Int(5))));
        assert_eq!(
            decode_index_entry(&e1).unwrap(),
            (Key::Int(5), Key::from("z"))
        );
        let e3 = index_entry_key(1, &Key::from("v\0"), &Key::Int(3));
        assert_eq!(decode_index_record(&e3).unwrap(), Key::Int(3));
        assert_eq!(decode_index_record(&e1).unwrap(), Key::from("z"));
        assert!(decode_index_record(&e3[..e3.len() - 1]).is_err());
        assert_eq!(decode_record_id(&encode_record_id(300)).unwrap(), 300);
    }

    #[test]
    fn string_prefixes_cover_exactly_their_extensions() {
        let p = string_prefix_bytes(b"a\0");
        for (s, yes) in [
            (&b"a\0"[..], true),
            (b"a\0b", true),
            (b"a", false),
            (b"a\x01", false),
            (b"b", false),
        ] {
            let mut e = Vec::new();
            encode_key(&Key::Str(s.to_vec()), &mut e);
            assert_eq!(e.starts_with(&p), yes, "{s:?}");
        }
    }
}
