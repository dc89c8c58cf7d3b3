//! Moving entries between keys of one table, all at once: what
//! `table.insert`, `table.remove` and `table.sort` do to a list.
//!
//! Assignment copies (`t[1] = t[2]` gives slot 1 the *content* of slot 2),
//! so a list of records shifted or sorted by assignments would copy every
//! record, and a reference to a moved record would see whatever content
//! its old slot received. A move instead re-keys the entry: a child table
//! keeps its id, so its contents, the indexes and schema defined on it and
//! below, and every reference to it follow it, as references do in Lua.
//!
//! Order of writes: every source entry is taken out first (index entries
//! removed, child tables left in place), then every destination is written
//! (a child's meta re-linked to its new key, index entries inserted). So a
//! unique index never sees a value twice midway, whatever the permutation.

use super::field::{get_stored, normalize_key};
use super::input::{check_key_len, Input};
use super::keyspace::{entry_key, TableId};
use super::read::EntryCursor;
use super::write::Txn;
use crate::codec::{Key, Stored, Value};
use crate::error::{EngineError, Result};

impl Txn {
    /// Move entries of `table`: after the call, for each `(from, to)`,
    /// `table[to]` holds what `table[from]` held before (nothing if it was
    /// absent). A source that is no destination ends up absent; a
    /// destination's previous value that is not moved elsewhere is deleted
    /// (recursively, as by an assignment). A moved child table keeps its
    /// id. Sources must be distinct, and so must destinations.
    ///
    /// Schemas of `table` and its ancestors are checked at the new keys
    /// before anything is written.
    pub fn move_entries(&mut self, table: TableId, moves: Vec<(Key, Key)>) -> Result<()> {
        let mut norm = Vec::with_capacity(moves.len());
        for (from, to) in moves {
            let from = normalize_key(from)?;
            let to = normalize_key(to)?;
            check_key_len(&to, self.max_key_len)?;
            if from != to {
                norm.push((from, to));
            }
        }
        for side in [0, 1] {
            let mut keys: Vec<&Key> = norm
                .iter()
                .map(|(f, t)| if side == 0 { f } else { t })
                .collect();
            keys.sort();
            if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
                return Err(EngineError::InvalidArgument(format!(
                    "move_entries: key {} is {} twice",
                    w[0],
                    if side == 0 { "moved" } else { "a destination" }
                )));
            }
        }
        self.guard(|tx| {
            tx.ensure_exists(table)?;
            let mut values = Vec::with_capacity(norm.len());
            for (from, _) in &norm {
                values.push(get_stored(&tx.kv, table, from)?);
            }
            if tx.catalog.schema_count() > 0 {
                for ((_, to), v) in norm.iter().zip(&values) {
                    let input = match v {
                        None => Input::Nil,
                        Some(Stored::Value(Value::Table(id))) => literal_of(tx, *id)?,
                        Some(Stored::Record(r)) => Input::Table(
                            r.fields
                                .iter()
                                .map(|(k, v)| (k.clone(), Input::Value(v.clone())))
                                .collect(),
                        ),
                        Some(Stored::Value(v)) => Input::Value(v.clone()),
                    };
                    tx.check_schemas_above(table, to, &input)?;
                }
            }
            // Moves re-key entries of a table of entries: a packed list
            // (of scalars) becomes one first.
            tx.ensure_unpacked(table)?;
            for ((from, _), v) in norm.iter().zip(&values) {
                if let Some(v) = v {
                    tx.delete_entry(table, from, &entry_key(table, from), Some(v))?;
                }
            }
            for ((_, to), v) in norm.iter().zip(values) {
                let ek = entry_key(table, to);
                let old = get_stored(&tx.kv, table, to)?;
                if let Some(old) = &old {
                    tx.drop_child(old, table, to)?;
                }
                match v {
                    None => {
                        if let Some(old) = &old {
                            tx.delete_entry(table, to, &ek, Some(old))?;
                        }
                    }
                    Some(v) => {
                        let packed = matches!(v, Stored::Record(_));
                        if let Some(child) = v.table_id() {
                            tx.set_meta(child, table, to, packed)?;
                            tx.remember_link(child, (table, to.clone(), packed));
                        }
                        tx.put_entry(table, to, &ek, old.as_ref(), &v, false)?;
                    }
                }
            }
            Ok(())
        })
    }
}

/// The content of stored table `id` as a literal (for schema checks).
fn literal_of(tx: &Txn, id: TableId) -> Result<Input> {
    struct Open {
        cursor: EntryCursor,
        out: Vec<(Key, Input)>,
        key: Option<Key>,
    }
    let mut stack = vec![Open {
        cursor: EntryCursor::new(id),
        out: Vec::new(),
        key: None,
    }];
    while let Some(top) = stack.last_mut() {
        match top.cursor.next(tx)? {
            Some((k, Value::Table(child))) => {
                if stack.len() > super::input::MAX_INPUT_DEPTH {
                    return Err(EngineError::corrupted(
                        "table",
                        format!("tables nest too deep below table {id}"),
                    ));
                }
                stack.push(Open {
                    cursor: EntryCursor::new(child),
                    out: Vec::new(),
                    key: Some(k),
                });
            }
            Some((k, v)) => top.out.push((k, Input::Value(v))),
            None => {
                let Some(done) = stack.pop() else { break };
                let input = Input::Table(done.out);
                match (stack.last_mut(), done.key) {
                    (Some(parent), Some(k)) => parent.out.push((k, input)),
                    _ => return Ok(input),
                }
            }
        }
    }
    Ok(Input::empty_table())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldRule, Schema};
    use crate::table::{Store, TableRead, ROOT};
    use crate::testutil::{dump, k, verify_all};

    fn int(n: i64) -> Key {
        Key::Int(n)
    }

    fn list(store: &Store) -> TableId {
        let list = store.ensure_path(&[k("list")]).unwrap();
        for i in 1..=4 {
            store
                .set(
                    list,
                    int(i),
                    Input::table([
                        ("email", Input::from(format!("e{i}"))),
                        ("n", Input::from(i)),
                        ("sub", Input::table([("x", i)])),
                    ]),
                )
                .unwrap();
        }
        store.create_index(list, "email", true).unwrap();
        store.create_index(list, "sub.x", false).unwrap();
        store
            .set_schema(
                list,
                Some(Schema::open().field("n", FieldRule::integer().required())),
            )
            .unwrap();
        list
    }

    fn ids(store: &Store, list: TableId) -> Vec<Option<Value>> {
        let snap = store.read().unwrap();
        (1..=5).map(|i| snap.get(list, &int(i)).unwrap()).collect()
    }

    #[test]
    fn a_permutation_keeps_ids_indexes_and_links() {
        let store = Store::memory().unwrap();
        let list = list(&store);
        let before = ids(&store, list);
        // Reverse the list: 1<->4, 2<->3 (a unique index sees no duplicate).
        store
            .write(|tx| {
                tx.move_entries(
                    list,
                    vec![
                        (int(1), int(4)),
                        (int(4), int(1)),
                        (int(2), int(3)),
                        (int(3), int(2)),
                    ],
                )
            })
            .unwrap();
        let after = ids(&store, list);
        assert_eq!(after[0], before[3]);
        assert_eq!(after[3], before[0]);
        assert_eq!(after[1], before[2]);
        let snap = store.read().unwrap();
        verify_all(&snap).unwrap();
        for i in 1..=4i64 {
            let Some(Value::Table(id)) = snap.get(list, &int(i)).unwrap() else {
                panic!()
            };
            assert_eq!(snap.table_path(id).unwrap(), vec![k("list"), int(i)]);
            assert_eq!(
                snap.get(id, &k("n")).unwrap(),
                Some(Value::Int(5 - i)),
                "the record moved with its content"
            );
        }
    }

    #[test]
    fn shifting_down_deletes_the_overwritten_record() {
        let store = Store::memory().unwrap();
        let list = list(&store);
        let before = ids(&store, list);
        // table.remove(list, 2): 3->2, 4->3; the old 2 is deleted.
        store
            .write(|tx| tx.move_entries(list, vec![(int(3), int(2)), (int(4), int(3))]))
            .unwrap();
        let after = ids(&store, list);
        assert_eq!(after[0], before[0]);
        assert_eq!(after[1], before[2]);
        assert_eq!(after[2], before[3]);
        assert_eq!(after[3], None);
        let snap = store.read().unwrap();
        verify_all(&snap).unwrap();
        let Some(Value::Table(gone)) = before[1] else {
            panic!()
        };
        assert!(
            !snap.table_exists(gone).unwrap(),
            "the old record 2 is gone"
        );
        assert_eq!(dump(&snap, list).unwrap().len(), 3);
        // Shifting up (table.insert at 1) into a fresh key.
        drop(snap);
        store
            .write(|tx| {
                tx.move_entries(
                    list,
                    vec![(int(3), int(4)), (int(2), int(3)), (int(1), int(2))],
                )?;
                tx.set(
                    list,
                    int(1),
                    Input::table([("email", Input::from("new")), ("n", Input::from(0))]),
                )
            })
            .unwrap();
        let snap = store.read().unwrap();
        verify_all(&snap).unwrap();
        assert_eq!(snap.len(list).unwrap(), 4);
        assert_eq!(
            snap.get_path(ROOT, &[k("list"), int(2), k("n")]).unwrap(),
            Some(Value::Int(1))
        );
    }

    #[test]
    fn bad_moves_are_refused_before_writing() {
        let store = Store::memory().unwrap();
        let list = list(&store);
        let dup = store.write(|tx| tx.move_entries(list, vec![(int(1), int(2)), (int(1), int(3))]));
        assert!(dup.is_err());
        // A schema above: Memory's records (`list` is one) may only have
        // keys 1..4.
        let mut allowed = Schema::strict();
        for i in 1..=4 {
            allowed = allowed.field(int(i), FieldRule::any());
        }
        store.set_schema(ROOT, Some(allowed)).unwrap();
        let before = dump(&store.read().unwrap(), ROOT).unwrap();
        let schema = store.write(|tx| tx.move_entries(list, vec![(int(1), int(9))]));
        assert!(
            matches!(schema, Err(EngineError::SchemaViolation(_))),
            "{schema:?}"
        );
        assert_eq!(dump(&store.read().unwrap(), ROOT).unwrap(), before);
    }
}
