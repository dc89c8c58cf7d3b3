//! The portable export format: every entry of a store's tree, in key
//! order, so a store moves between the browser and native builds (and across
//! page sizes).
//!
//! ```text
//! offset size field
//!  0     8    magic "MVEXPORT"
//!  8     1    format version: 1; 2 when entries may hold format-2
//!             values (packed records); 3 when index entries may carry
//!             their records (format 3); import reads all three
//!  9     3    reserved, 0
//! 12     ..   entries: key length u32 LE, value length u32 LE, key, value
//! ..     4    end marker 0xFFFF_FFFF
//! ..     8    entry count, u64 LE
//! ..     4    crc32 of every preceding byte
//! ```
//! Export streams through a callback (a 100K-record store never sits in
//! memory whole); import applies entries in one transaction and commits only
//! after the trailer and checksum verify, so a truncated or damaged file
//! changes nothing.
//!
//! Stored functions are opaque here (the engine knows no Lua): a binding
//! that must not import some of them (bytecode from an untrusted file)
//! gives the importer a [`FunctionCheck`]; a refusal fails the import
//! whole, naming the function's path.

use crate::codec::{decode_stored, Stored, Value};
use crate::error::{EngineError, Result};
use crate::kv::{Db, KvRead};
use crate::table::keyspace::{decode_entry_key, take_id, NS_ENTRY};
use crate::table::lineage::{name_of_path, parent_of};
use crate::table::read::MAX_TABLE_DEPTH;
use std::ops::Bound;

const MAGIC: [u8; 8] = *b"MVEXPORT";
/// The export format this build writes; it imports every version up to it.
const VERSION: u8 = 4;
const END: u32 = u32::MAX;

/// Stream every committed entry of `db` to `out`, in chunks.
pub fn export(db: &Db, out: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<u64> {
    let snap = db.read()?;
    let mut crc = crc32fast::Hasher::new();
    let mut chunk = Vec::with_capacity(64 * 1024);
    chunk.extend_from_slice(&MAGIC);
    chunk.push(VERSION);
    chunk.extend_from_slice(&[0; 3]);
    let mut count = 0u64;
    for entry in snap.range(Bound::Unbounded, Bound::Unbounded, false) {
        let (k, v) = entry?;
        chunk.extend_from_slice(&(k.len() as u32).to_le_bytes());
        chunk.extend_from_slice(&(v.len() as u32).to_le_bytes());
        chunk.extend_from_slice(&k);
        chunk.extend_from_slice(&v);
        count += 1;
        if chunk.len() >= 32 * 1024 {
            crc.update(&chunk);
            out(&chunk)?;
            chunk.clear();
        }
    }
    chunk.extend_from_slice(&END.to_le_bytes());
    chunk.extend_from_slice(&count.to_le_bytes());
    crc.update(&chunk);
    chunk.extend_from_slice(&crc.finalize().to_le_bytes());
    out(&chunk)?;
    Ok(count)
}

/// Decides whether a stored function (a `Value::Function` payload) may be
/// imported: `Err(reason)` refuses it, and with it the whole import.
pub type FunctionCheck = Box<dyn FnMut(&[u8]) -> std::result::Result<(), String>>;

/// Incremental import: feed bytes as they arrive, then `finish`.
pub struct Importer {
    txn: crate::kv::WriteTxn,
    check: Option<FunctionCheck>,
    /// The longest key the store's tree takes.
    max_key_len: usize,
    /// Longest value an entry may claim ([`Importer::limit_values`]).
    max_value_len: usize,
    /// The file's length, when the caller knows it ([`Importer::expect_len`]).
    expected_len: Option<u64>,
    /// File bytes consumed so far (header and whole entries).
    consumed: u64,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
    header_seen: bool,
    count: u64,
    ended: bool,
}

fn bad(detail: impl Into<String>) -> EngineError {
    EngineError::corrupted("export file", detail)
}

impl Importer {
    /// Start importing into `db`, which must be empty.
    pub fn new(db: &Db) -> Result<Importer> {
        let page_size = db.page_size();
        let txn = db.begin()?;
        if txn
            .range(Bound::Unbounded, Bound::Unbounded, false)
            .next()
            .is_some()
        {
            return Err(EngineError::InvalidArgument(
                "import needs an empty store: delete it first or import under a new name".into(),
            ));
        }
        Ok(Importer {
            txn,
            check: None,
            max_key_len: moonvault_btree::BTree::max_key_len(page_size),
            max_value_len: MAX_IMPORT_VALUE,
            expected_len: None,
            consumed: 0,
            buf: Vec::new(),
            crc: crc32fast::Hasher::new(),
            header_seen: false,
            count: 0,
            ended: false,
        })
    }

    /// Check every stored function of the file with `check` before it is
    /// imported; a refusal (or a table entry whose value does not decode)
    /// fails the import ([`EngineError::ImportRefused`], nothing is
    /// committed). Without it, functions are imported as they are.
    pub fn check_functions(&mut self, check: FunctionCheck) {
        self.check = Some(check);
    }

    /// Refuse entries whose value claims more than `max` bytes (at most
    /// [`MAX_IMPORT_VALUE`]): an embedder with a memory budget (the browser
    /// build's 2 MiB module) caps what one buffered entry may take.
    pub fn limit_values(&mut self, max: usize) {
        self.max_value_len = max.min(MAX_IMPORT_VALUE);
    }

    /// The file is `len` bytes long: an entry claiming more bytes than the
    /// file has left fails at once, before anything waits for them.
    pub fn expect_len(&mut self, len: u64) {
        self.expected_len = Some(len);
    }

    /// Consume the next bytes of the file.
    ///
    /// An entry's lengths are checked when its 8-byte header arrives,
    /// before its bytes are waited for: a key longer than the store takes,
    /// a value longer than [`MAX_IMPORT_VALUE`] or than the rest of the
    /// file ([`Importer::expect_len`]) is `Corrupted` at once. So the
    /// importer holds at most one entry (plus the piece being fed) at a
    /// time, whatever the file claims.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        if !self.header_seen {
            if self.buf.len() < 12 {
                return Ok(());
            }
            if self.buf[..8] != MAGIC {
                return Err(bad("not a moonvault export (bad magic)"));
            }
            match self.buf[8] {
                1..=VERSION => {}
                0 => return Err(bad("export format version 0")),
                found => {
                    return Err(EngineError::NewerFormat {
                        what: "export file",
                        found,
                        supported: VERSION,
                    })
                }
            }
            self.crc.update(&self.buf[..12]);
            self.header_seen = true;
            self.consumed = 12;
            at = 12;
        }
        while !self.ended {
            let rest = &self.buf[at..];
            if rest.len() < 4 {
                break;
            }
            let klen = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            if klen == END {
                // Trailer: marker + count + crc, checked in `finish`.
                self.ended = true;
                break;
            }
            if rest.len() < 8 {
                break;
            }
            let vlen = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            let klen = klen as usize;
            let total = 8usize.saturating_add(klen).saturating_add(vlen);
            self.check_lengths(klen, vlen, total)?;
            if rest.len() < total {
                break;
            }
            let (key, value) = (&rest[8..8 + klen], &rest[8 + klen..total]);
            self.crc.update(&rest[..total]);
            if let Some(check) = self.check.as_mut() {
                check_entry(&self.txn, check, key, value)?;
            }
            self.txn.put(key, value)?;
            self.count += 1;
            self.consumed += total as u64;
            at += total;
        }
        self.buf.drain(..at);
        Ok(())
    }

    /// The lengths an entry header claims, against what the store takes
    /// and what the file has left.
    fn check_lengths(&self, klen: usize, vlen: usize, total: usize) -> Result<()> {
        let entry = self.count + 1;
        if klen > self.max_key_len {
            return Err(bad(format!(
                "entry {entry} claims a key of {klen} bytes; this store takes keys of at most {} \
                 bytes",
                self.max_key_len
            )));
        }
        if vlen > self.max_value_len {
            return Err(bad(format!(
                "entry {entry} claims a value of {vlen} bytes; this import takes values of at \
                 most {} bytes",
                self.max_value_len
            )));
        }
        // The entry, the end marker, the count and the crc must all fit.
        let needed = self
            .consumed
            .saturating_add(total as u64)
            .saturating_add(16);
        if let Some(len) = self.expected_len.filter(|&len| needed > len) {
            return Err(bad(format!(
                "the file is truncated or damaged: entry {entry} claims {total} bytes at offset \
                 {}, past the end of the {len}-byte file",
                self.consumed
            )));
        }
        Ok(())
    }

    /// Verify the trailer and commit; returns the number of entries.
    pub fn finish(mut self) -> Result<u64> {
        if !self.ended || self.buf.len() != 16 {
            return Err(bad("the file is truncated or has trailing bytes"));
        }
        let t = &self.buf;
        let count = u64::from_le_bytes([t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11]]);
        self.crc.update(&t[..12]);
        let crc = u32::from_le_bytes([t[12], t[13], t[14], t[15]]);
        if count != self.count {
            return Err(bad(format!(
                "trailer says {count} entries, file holds {}",
                self.count
            )));
        }
        if self.crc.finalize() != crc {
            return Err(bad("checksum mismatch"));
        }
        self.txn.commit()?;
        Ok(count)
    }
}

/// Runs `check` on `value` if it is a table entry holding a function.
fn check_entry(kv: &dyn KvRead, check: &mut FunctionCheck, key: &[u8], value: &[u8]) -> Result<()> {
    if key.first() != Some(&NS_ENTRY) {
        return Ok(());
    }
    let refused = match decode_stored(value) {
        Ok(Stored::Value(Value::Function(payload))) => match check(&payload) {
            Ok(()) => return Ok(()),
            Err(reason) => reason,
        },
        Ok(_) => return Ok(()),
        Err(e) => format!("its value does not decode ({e})"),
    };
    Err(EngineError::ImportRefused {
        path: entry_path(kv, key),
        reason: refused,
    })
}

/// `Memory.a.f` for an entry key, from the table metas imported so far
/// (an export lists them before every entry), or the table's id when
/// its path is not known.
fn entry_path(kv: &dyn KvRead, key: &[u8]) -> String {
    let table = key.get(1..).and_then(|b| take_id(b).ok()).map(|(id, _)| id);
    let Ok(k) = decode_entry_key(key) else {
        return "an entry with a damaged key".into();
    };
    let Some(table) = table else {
        return "an entry with a damaged key".into();
    };
    let mut path = vec![k.clone()];
    let mut cur = table;
    while path.len() <= MAX_TABLE_DEPTH {
        match parent_of(kv, cur) {
            Ok(None) => {
                path.reverse();
                return name_of_path(&path);
            }
            Ok(Some((parent, key))) => {
                path.push(key);
                cur = parent;
            }
            Err(_) => break,
        }
    }
    format!("key {k} of table {table} (whose path is not known)")
}

/// The longest value an import takes (an entry's value length is a u32;
/// values this large are far past what a store holds in practice, and a
/// claimed length is checked before the importer waits for its bytes).
pub const MAX_IMPORT_VALUE: usize = 256 << 20;

/// Import a whole export held in memory.
pub fn import(db: &Db, bytes: &[u8]) -> Result<u64> {
    let mut imp = Importer::new(db)?;
    imp.expect_len(bytes.len() as u64);
    imp.feed(bytes)?;
    imp.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Db {
        let db = Db::memory().unwrap();
        let mut t = db.begin().unwrap();
        for i in 0..500u32 {
            t.put(
                format!("k{i:05}").as_bytes(),
                &vec![i as u8; (i % 300) as usize],
            )
            .unwrap();
        }
        t.commit().unwrap();
        db
    }

    fn all(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
        let s = db.read().unwrap();
        s.range(Bound::Unbounded, Bound::Unbounded, false)
            .map(|e| e.unwrap())
            .collect()
    }

    #[test]
    fn round_trip_in_small_pieces() {
        let db = sample();
        let mut file = Vec::new();
        let n = export(&db, &mut |c| {
            file.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 500);
        let copy = Db::memory().unwrap();
        let mut imp = Importer::new(&copy).unwrap();
        for piece in file.chunks(7) {
            imp.feed(piece).unwrap();
        }
        assert_eq!(imp.finish().unwrap(), 500);
        assert_eq!(all(&copy), all(&db));
    }

    #[test]
    fn damage_imports_nothing() {
        let db = sample();
        let mut file = Vec::new();
        export(&db, &mut |c| {
            file.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
        for cut in [0, 5, 12, 100, file.len() - 1] {
            let copy = Db::memory().unwrap();
            assert!(import(&copy, &file[..cut]).is_err(), "truncated at {cut}");
            assert!(all(&copy).is_empty());
        }
        for at in (0..file.len()).step_by(97) {
            let mut f = file.clone();
            f[at] ^= 0x20;
            let copy = Db::memory().unwrap();
            if import(&copy, &f).is_err() {
                assert!(all(&copy).is_empty(), "flip at {at} left data behind");
            } else {
                panic!("flip at {at} went unnoticed");
            }
        }
    }

    #[test]
    fn a_refused_function_imports_nothing_and_names_its_path() {
        use crate::codec::Key;
        use crate::table::{Input, Store, ROOT};
        let store = Store::memory().unwrap();
        store.set(ROOT, Key::from("n"), 1i64).unwrap();
        store
            .set(
                ROOT,
                Key::from("app"),
                Input::table([(
                    "hooks",
                    Input::table([("f", Input::from(Value::Function(b"BAD".to_vec())))]),
                )]),
            )
            .unwrap();
        store
            .set(ROOT, Key::from("ok"), Value::Function(b"GOOD".to_vec()))
            .unwrap();
        let mut file = Vec::new();
        export(store.db(), &mut |c| {
            file.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
        let check = || -> FunctionCheck {
            Box::new(|p: &[u8]| match p {
                b"BAD" => Err("it is bad".into()),
                _ => Ok(()),
            })
        };
        let copy = Db::memory().unwrap();
        let mut imp = Importer::new(&copy).unwrap();
        imp.check_functions(check());
        let err = imp.feed(&file).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to import Memory.app.hooks.f: it is bad; nothing was imported"
        );
        drop(imp);
        assert!(all(&copy).is_empty());
        // Without the refused function the same check lets all through.
        store.set(ROOT, Key::from("app"), 1i64).unwrap();
        let mut file = Vec::new();
        export(store.db(), &mut |c| {
            file.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
        let copy = Db::memory().unwrap();
        let mut imp = Importer::new(&copy).unwrap();
        imp.check_functions(check());
        imp.feed(&file).unwrap();
        assert!(imp.finish().unwrap() > 0);
    }

    /// The header and one entry header claiming `klen`/`vlen` bytes.
    fn claiming(klen: u32, vlen: u32) -> Vec<u8> {
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(&[VERSION, 0, 0, 0]);
        f.extend_from_slice(&klen.to_le_bytes());
        f.extend_from_slice(&vlen.to_le_bytes());
        f
    }

    #[test]
    fn a_claimed_length_is_checked_before_its_bytes_are_awaited() {
        // Fed piece by piece (the length of a stream is not known): a key
        // past the store's maximum and a value past the cap fail at the
        // entry's header.
        for (klen, vlen, says) in [
            (100_000, 1, "claims a key of 100000 bytes"),
            (4, u32::MAX - 1, "claims a value of"),
        ] {
            let db = Db::memory().unwrap();
            let mut imp = Importer::new(&db).unwrap();
            let e = imp.feed(&claiming(klen, vlen)).unwrap_err();
            assert!(
                matches!(e, EngineError::Corrupted { .. }) && e.to_string().contains(says),
                "{e}"
            );
        }
        // With the file's length known, a value longer than the rest of
        // the file fails at once too.
        let db = Db::memory().unwrap();
        let mut f = claiming(4, 1 << 20);
        f.extend_from_slice(b"key1 and a little of the value");
        let e = import(&db, &f).unwrap_err().to_string();
        assert!(e.contains("past the end of the"), "{e}");
        assert!(all(&db).is_empty());
    }

    #[test]
    fn an_embedder_caps_the_value_one_entry_may_claim() {
        let db = Db::memory().unwrap();
        let mut imp = Importer::new(&db).unwrap();
        imp.limit_values(1000);
        let e = imp.feed(&claiming(4, 1001)).unwrap_err().to_string();
        assert!(e.contains("takes values of at most 1000 bytes"), "{e}");
        // At the cap, the entry is awaited as usual.
        let db = Db::memory().unwrap();
        let mut imp = Importer::new(&db).unwrap();
        imp.limit_values(1000);
        imp.feed(&claiming(4, 1000)).unwrap();
    }
}
