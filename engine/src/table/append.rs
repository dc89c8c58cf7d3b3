//! A load in key order reads nothing before each write.
//!
//! An assignment reads the value it replaces first (index maintenance needs
//! the old side). For `users[i] = {...}` with `i` counting up, that read
//! always finds nothing: a descent of the tree per record for nothing
//! (about 600 instructions of a 10K users' load's 12,700 a record). So the
//! transaction tracks the end of the table it is appending to: once it
//! knows that nothing lies above some entry key of a table, an assignment
//! above that key in that table is known to replace nothing.
//!
//! Invariant: when `end` is set, no entry of `last`'s table lies above
//! `last`. It becomes true by a check of the tree (made after
//! [`PROBE_AFTER`] assignments in a row found nothing, each above the one
//! before, so a workload of scattered inserts pays for no check); an
//! assignment above `last` that relied on it moves `last` up to its own
//! key, which it then knows is the table's greatest; any other put of an
//! entry above `last` in that table clears it ([`Txn::raw_put`] calls
//! [`Txn::note_entry_put`]). Deletes only remove keys, and a rollback
//! discards the transaction with its tracking, so neither can falsify it.
//!
//! An assignment known to replace nothing is also held back with the
//! index entries and applied in key order where the held-back writes have
//! a room of their own (`Txn::put_entry`, `appended`): the drains then
//! fill the table's new leaves whole.

use super::keyspace::KeyBuf;
use super::write::Txn;
use crate::error::Result;
use crate::kv::prefix_end;
use crate::kv::KvRead;
use std::ops::Bound;

/// Assignments in a row that found nothing, each above the last, before
/// the tree is asked whether anything lies above.
pub(crate) const PROBE_AFTER: u32 = 8;

/// What a transaction knows of the end of the table it appends to.
#[derive(Debug, Default)]
pub(crate) struct AppendTrack {
    /// The entry key of the last assignment that found nothing.
    last: KeyBuf,
    /// Such assignments in a row in `last`'s table, each above the one
    /// before.
    run: u32,
    /// Whether no entry of `last`'s table lies above `last`.
    end: bool,
}

/// The length of the table prefix (`01 <table id>`) of entry key `ek`.
fn table_prefix_len(ek: &[u8]) -> usize {
    (2 + usize::from(ek.get(1).copied().unwrap_or(0))).min(ek.len())
}

/// Whether `a` and `b` are entries of one table.
fn same_table(a: &[u8], b: &[u8]) -> bool {
    let n = table_prefix_len(a);
    n == table_prefix_len(b) && a[..n] == b[..n]
}

impl AppendTrack {
    /// Whether `ek` is known to hold nothing: it lies above the known end
    /// of its table.
    pub(crate) fn known_absent(&self, ek: &[u8]) -> bool {
        self.end && ek > self.last.as_slice() && same_table(ek, &self.last)
    }
}

impl Txn {
    /// Whether an assignment at entry key `ek` may skip reading the value
    /// it replaces (there is none).
    pub(crate) fn known_absent(&self, ek: &[u8]) -> bool {
        self.append.known_absent(ek)
    }

    /// After an assignment at `ek` that replaced nothing (read or known):
    /// keep tracking the end of its table.
    pub(crate) fn note_absent(&mut self, ek: &[u8], known: bool) -> Result<()> {
        let t = &mut self.append;
        if known {
            // It relied on the end and wrote the table's greatest key.
            t.last = KeyBuf::from_slice(ek);
            t.end = true;
            return Ok(());
        }
        if t.end && same_table(ek, &t.last) {
            // Below the known end: the end stays where it is.
            return Ok(());
        }
        if ek > t.last.as_slice() && same_table(ek, &t.last) {
            t.run += 1;
        } else {
            t.run = 1;
        }
        t.last = KeyBuf::from_slice(ek);
        t.end = false;
        if t.run >= PROBE_AFTER {
            t.run = 0;
            let above = self.any_entry_above(ek)?;
            self.append.end = !above;
        }
        Ok(())
    }

    /// A put of entry key `key` by anything but a tracked assignment: the
    /// known end no longer holds if the key lies above it.
    pub(crate) fn note_entry_put(&mut self, key: &[u8]) {
        let t = &mut self.append;
        if t.end && key > t.last.as_slice() && same_table(key, &t.last) {
            t.end = false;
            t.run = 0;
        }
    }

    /// Whether any entry of `ek`'s table lies above `ek`.
    fn any_entry_above(&self, ek: &[u8]) -> Result<bool> {
        let end = prefix_end(&ek[..table_prefix_len(ek)]);
        let upper = match &end {
            Some(e) => Bound::Excluded(e.as_slice()),
            None => Bound::Unbounded,
        };
        let mut cursor = self.kv.cursor(Bound::Excluded(ek), upper, false);
        self.kv.cursor_next_with(&mut cursor, &mut |_, _| Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_told_apart_by_their_prefix() {
        // 01 <id 5> <key>, 01 <id 5> <other key>, 01 <id 300> <key>
        let a = [1, 1, 5, 0x20, 9];
        let b = [1, 1, 5, 0x20, 10];
        let c = [1, 2, 1, 44, 0x20, 9];
        assert!(same_table(&a, &b));
        assert!(!same_table(&a, &c));
        assert!(!same_table(&[1, 1, 6, 0x20], &a));
        let mut t = AppendTrack {
            last: KeyBuf::from_slice(&a),
            run: 0,
            end: true,
        };
        assert!(t.known_absent(&b));
        assert!(!t.known_absent(&a), "the end itself may hold a value");
        assert!(!t.known_absent(&c), "another table");
        t.end = false;
        assert!(!t.known_absent(&b));
    }
}
