//! What one conversion may take, charged *before* anything is allocated.
//!
//! JS hands the module values of any size: `new Array(2 ** 32 - 1)` has a
//! length and no elements, a string may be megabytes, an object may have
//! 50,000 keys, and a DAG (`t = [t, t]` sixty times) is small to hold but
//! exponential to walk. Every size is known on the JS side before it is
//! copied into linear memory (a string's UTF-16 length, an array's
//! `length`, a Map's `size`, an object's key count), so each is charged
//! to a [`Budget`] first and the copy or the `Vec` happens only if it fits.
//! A refusal is an error naming the path; nothing was written, and the
//! module and the store stay usable (an allocation that fails in the
//! 2 MiB module would abort it instead).
//!
//! | direction | budget | error |
//! |---|---|---|
//! | JS -> store / Lua (one value) | [`INPUT_LIMIT`] bytes: strings as UTF-8, each table entry as [`ENTRY`] bytes, repeats counted again | `MemoryBudgetError` |
//! | JS -> key, path segment | [`KEY_LIMIT`] bytes | `ConversionError` |
//! | Lua -> JS (a compute result) | [`OUTPUT_ENTRIES`] table entries and [`OUTPUT_BYTES`] of strings, repeats counted again | `ConversionError` |
//!
//! Counting a shared table every time it is reached (instead of tracking
//! identities) keeps the walk's own memory at the current path, and bounds
//! its time: the walk stops after the budget's worth of steps however the
//! value is shaped.

use moonvault_engine::codec::Key;
use moonvault_engine::Input;

use crate::api::error::{ApiError, ApiResult, Kind};

/// Most linear memory one converted value may take (its `Input` tree and
/// strings). Larger values are refused with advice, instead of exhausting
/// the 2 MiB module: write them in parts (several `set`s, or a `batch`,
/// which converts one operation at a time).
pub const INPUT_LIMIT: usize = 128 * 1024;
/// Bytes charged per table entry of an input: the `(Key, Input)` slot it
/// takes in its table's `Vec`.
pub const ENTRY: usize = std::mem::size_of::<(Key, Input)>();
/// Longest key or path segment converted on its own (a key the B-tree
/// accepts is far shorter; this only bounds the copy).
pub const KEY_LIMIT: usize = 64 * 1024;
/// Most table entries in one compute result (about 175,000 records of five
/// fields); a table reached twice counts twice.
pub const OUTPUT_ENTRIES: usize = 1 << 20;
/// Most string bytes in one compute result (each occurrence of a string
/// becomes its own JS string).
pub const OUTPUT_BYTES: usize = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Input,
    Key,
    Output,
}

/// The room left in one conversion.
#[derive(Debug)]
pub struct Budget {
    direction: Direction,
    /// Bytes left (strings, and for inputs the entries too).
    bytes: usize,
    /// Entries left (outputs; inputs charge entries as bytes).
    entries: usize,
}

impl Budget {
    /// One JS value on its way into the module (a `set`, a batch
    /// operation's value, a schema).
    pub fn input() -> Budget {
        Budget {
            direction: Direction::Input,
            bytes: INPUT_LIMIT,
            entries: usize::MAX,
        }
    }

    /// A key or path segment converted on its own.
    pub fn key() -> Budget {
        Budget {
            direction: Direction::Key,
            bytes: KEY_LIMIT,
            entries: 0,
        }
    }

    /// A Lua value on its way out to JS.
    pub fn output() -> Budget {
        Budget {
            direction: Direction::Output,
            bytes: OUTPUT_BYTES,
            entries: OUTPUT_ENTRIES,
        }
    }

    /// Bytes that still fit.
    pub fn bytes_left(&self) -> usize {
        self.bytes
    }

    /// Charges a string or byte array of `n` bytes at `path`.
    pub fn take_bytes(&mut self, n: usize, path: &str) -> ApiResult<()> {
        if n > self.bytes {
            return Err(self.bytes_refused(n, path));
        }
        self.bytes -= n;
        Ok(())
    }

    /// The error for a string of (at least) `n` bytes that does not fit.
    pub fn bytes_refused(&self, n: usize, path: &str) -> ApiError {
        self.refuse(path, &format!("a string of {n} bytes or more"))
    }

    /// Charges a table of `n` entries at `path` (an array's `length`,
    /// holes included).
    pub fn take_entries(&mut self, n: usize, path: &str) -> ApiResult<()> {
        let what = || format!("a table of {n} entries");
        match self.direction {
            Direction::Input => {
                let bytes = n.saturating_mul(ENTRY);
                if bytes > self.bytes {
                    return Err(self.refuse(path, &what()));
                }
                self.bytes -= bytes;
            }
            Direction::Key | Direction::Output => {
                if n > self.entries {
                    return Err(self.refuse(path, &what()));
                }
                self.entries -= n;
            }
        }
        Ok(())
    }

    fn refuse(&self, path: &str, what: &str) -> ApiError {
        let (kind, message) = match self.direction {
            Direction::Input => (
                Kind::Memory,
                format!(
                    "the value is too large to write at once: {what} does not fit in what is \
                     left of the {} KiB one value may take of the module's 2 MiB memory (a \
                     table reached twice counts twice); write it in parts: several set() \
                     calls on sub-paths, or batch(), which converts one operation at a time",
                    INPUT_LIMIT / 1024
                ),
            ),
            Direction::Key => (
                Kind::Conversion,
                format!(
                    "{what} is too long for a key (at most {} KiB)",
                    KEY_LIMIT / 1024
                ),
            ),
            Direction::Output => (
                Kind::Conversion,
                format!(
                    "the result is too large to return to JS: {what} goes past {OUTPUT_ENTRIES} \
                     table entries or {} MiB of strings in all (a table reached twice counts \
                     twice); return a part or a summary of it",
                    OUTPUT_BYTES >> 20
                ),
            ),
        };
        let mut e = ApiError::conversion(path, message);
        e.kind = kind;
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_entries_are_charged_as_bytes_before_use() {
        let mut b = Budget::input();
        let e = b.take_entries(u32::MAX as usize, "a.b").unwrap_err();
        assert_eq!(e.kind, Kind::Memory);
        assert_eq!(e.path.as_deref(), Some("a.b"));
        assert!(
            e.message.starts_with("a.b: the value is too large"),
            "{}",
            e.message
        );
        assert_eq!(b.bytes_left(), INPUT_LIMIT, "a refusal takes nothing");
        b.take_entries(10, "x").unwrap();
        assert_eq!(b.bytes_left(), INPUT_LIMIT - 10 * ENTRY);
        assert!(b.take_bytes(INPUT_LIMIT, "x").is_err());
        b.take_bytes(b.bytes_left(), "x").unwrap();
        assert!(b.take_bytes(1, "x").is_err());
        assert!(b.take_entries(1, "x").is_err());
        b.take_entries(0, "x").unwrap();
    }

    #[test]
    fn output_counts_entries_and_bytes_apart() {
        let mut b = Budget::output();
        b.take_bytes(OUTPUT_BYTES, "r").unwrap();
        b.take_entries(OUTPUT_ENTRIES, "r").unwrap();
        let e = b.take_entries(1, "result[1]").unwrap_err();
        assert_eq!(e.kind, Kind::Conversion);
        assert!(e.message.contains("too large to return"), "{}", e.message);
    }

    #[test]
    fn keys_are_bounded() {
        let mut b = Budget::key();
        assert!(b.take_bytes(KEY_LIMIT + 1, "k").is_err());
        b.take_bytes(KEY_LIMIT, "k").unwrap();
    }
}
