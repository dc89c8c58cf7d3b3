//! Sizes of a table tree in bounded memory, for `stats()` and the demo.
//!
//! The walk is depth-first with one detached cursor per nesting level, so
//! its memory is proportional to the depth, not to the number of child
//! tables (a table of 100K records has 100K children: holding their ids
//! would take most of the 2 MiB budget).

use moonvault_engine::codec::{Key, Value};
use moonvault_engine::table::EntryCursor;
use moonvault_engine::{EngineError, Result, TableId, TableRead};

/// What [`measure`] counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measure {
    /// Tables in the tree, the root included.
    pub tables: u64,
    /// Entries of every table of the tree.
    pub entries: u64,
    /// Bytes a user would count, as the engine's `TableStats` defines them:
    /// per entry, the key (8 for a number, 1 for a boolean, the bytes of a
    /// string) plus the value (`Value::logical_size`).
    pub logical_bytes: u64,
}

fn key_size(key: &Key) -> u64 {
    match key {
        Key::Bool(_) => 1,
        Key::Int(_) | Key::Float(_) => 8,
        Key::Str(s) => s.len() as u64,
    }
}

/// Walks `table` and every table below it.
pub fn measure<R: TableRead + ?Sized>(reader: &R, table: TableId) -> Result<Measure> {
    let mut m = Measure {
        tables: 1,
        ..Measure::default()
    };
    let mut stack = vec![(table, EntryCursor::new(table))];
    while let Some((t, cursor)) = stack.last_mut() {
        let t = *t;
        let Some((key, value)) = cursor.next(reader)? else {
            stack.pop();
            continue;
        };
        m.entries += 1;
        m.logical_bytes += key_size(&key) + value.logical_size() as u64;
        if let Value::Table(child) = value {
            // Follow only consistent links: each table is then reached
            // from exactly one place, so damaged data cannot loop.
            if reader.parent(child)? != Some((t, key)) {
                return Err(EngineError::corrupted(
                    "table meta",
                    format!(
                        "table {child} is stored under table {t} but its parent link disagrees"
                    ),
                ));
            }
            m.tables += 1;
            stack.push((child, EntryCursor::new(child)));
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use moonvault_engine::{Input, Store, ROOT};

    #[test]
    fn counts_nested_tables_like_the_engine() {
        let store = Store::memory().unwrap();
        let users = store.ensure_path(&[Key::from("users")]).unwrap();
        store
            .write(|tx| {
                for i in 0..300i64 {
                    let rec = Input::table([
                        ("name", Input::from(format!("u{i}"))),
                        ("tags", Input::table([(1i64, Input::from("a"))])),
                    ]);
                    tx.set(users, Key::Int(i), rec)?;
                }
                tx.set(ROOT, Key::from("flag"), true)
            })
            .unwrap();
        let snap = store.read().unwrap();
        let m = measure(&snap, ROOT).unwrap();
        let engine = snap.table_stats(ROOT).unwrap();
        assert_eq!(m.tables, engine.tables);
        assert_eq!(m.entries, engine.entries);
        assert_eq!(m.logical_bytes, engine.logical_bytes);
        assert_eq!(m.tables, 1 + 1 + 300 * 2);
    }
}
