//! Batches: a list of set/delete operations applied atomically, in one
//! transaction. The first failing operation aborts the batch: nothing is
//! applied, and the error ([`EngineError::BatchFailed`]) names the
//! operation's position.

use crate::codec::Key;
use crate::error::{EngineError, Result};
use crate::table::{Input, Store, TableId, TableRead, Txn};

/// Which table an operation writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A path of keys below `Memory` (`[]` is `Memory`). A set creates the
    /// missing tables on the way; a delete under a missing path does
    /// nothing.
    Path(Vec<Key>),
    /// A table by id.
    Table(TableId),
}

/// One operation: `target[key] = input` (`Input::Nil` deletes).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchOp {
    /// The table written.
    pub target: Target,
    /// The key written.
    pub key: Key,
    /// The value assigned.
    pub input: Input,
}

impl BatchOp {
    /// `Memory.<path>[key] = input`.
    pub fn set(path: Vec<Key>, key: impl Into<Key>, input: impl Into<Input>) -> BatchOp {
        BatchOp {
            target: Target::Path(path),
            key: key.into(),
            input: input.into(),
        }
    }

    /// `Memory.<path>[key] = nil`.
    pub fn delete(path: Vec<Key>, key: impl Into<Key>) -> BatchOp {
        BatchOp {
            target: Target::Path(path),
            key: key.into(),
            input: Input::Nil,
        }
    }

    /// `table[key] = input` for a table id.
    pub fn set_in(table: TableId, key: impl Into<Key>, input: impl Into<Input>) -> BatchOp {
        BatchOp {
            target: Target::Table(table),
            key: key.into(),
            input: input.into(),
        }
    }
}

impl Txn {
    /// Apply one batch operation in this transaction.
    pub fn apply(&mut self, op: BatchOp) -> Result<()> {
        let table = match op.target {
            Target::Table(t) => t,
            Target::Path(path) if op.input.is_nil() => match self.lookup(&path)? {
                Some(t) => t,
                None => return Ok(()),
            },
            Target::Path(path) => self.ensure_path(&path)?,
        };
        self.set(table, op.key, op.input)
    }
}

impl Store {
    /// Apply `ops` atomically in one transaction; returns how many were
    /// applied. On the first failure nothing is applied and the error is
    /// [`EngineError::BatchFailed`] with the operation's position (from 0).
    pub fn batch(&self, ops: impl IntoIterator<Item = BatchOp>) -> Result<usize> {
        let mut tx = self.begin()?;
        let mut n = 0;
        for (position, op) in ops.into_iter().enumerate() {
            if let Err(source) = tx.apply(op) {
                tx.rollback();
                return Err(EngineError::BatchFailed {
                    position,
                    source: Box::new(source),
                });
            }
            n += 1;
        }
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldRule, Schema};
    use crate::table::ROOT;
    use crate::testutil::{dump, k, verify_all, Tree};
    use crate::{Db, Options};
    use moonvault_pager::store::faulty::{CrashMode, FaultyStore};

    fn setup(store: &Store) -> TableId {
        let users = store.ensure_path(&[k("users")]).unwrap();
        store.create_index(users, "age", false).unwrap();
        store
            .set_schema(
                users,
                Some(Schema::open().field("age", FieldRule::integer().min(0.0))),
            )
            .unwrap();
        store
            .set(users, k("u0"), Input::table([("age", 1)]))
            .unwrap();
        users
    }

    fn ops(n: i64) -> Vec<BatchOp> {
        let mut ops: Vec<BatchOp> = (0..n)
            .map(|i| {
                BatchOp::set(
                    vec![k("users")],
                    Key::Int(i),
                    Input::table([
                        ("age", Input::from(i)),
                        ("name", Input::from(format!("n{i}"))),
                    ]),
                )
            })
            .collect();
        ops.push(BatchOp::delete(vec![k("users")], "u0"));
        ops.push(BatchOp::set(vec![k("other"), k("deep")], "x", 1));
        ops
    }

    #[test]
    fn a_failing_operation_applies_nothing_and_is_named() {
        let store = Store::memory().unwrap();
        let users = setup(&store);
        let before = dump(&store.read().unwrap(), ROOT).unwrap();
        let mut batch = ops(5);
        batch.insert(
            3,
            BatchOp::set_in(users, "bad", Input::table([("age", -1)])),
        );
        let err = store.batch(batch).unwrap_err();
        match &err {
            EngineError::BatchFailed { position, source } => {
                assert_eq!(*position, 3);
                assert!(
                    matches!(**source, EngineError::SchemaViolation(..)),
                    "{source}"
                );
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().starts_with(
            "batch operation 3 (counting from 0) failed, nothing was applied: schema violation"
        ));
        assert_eq!(dump(&store.read().unwrap(), ROOT).unwrap(), before);
        assert_eq!(store.batch(ops(5)).unwrap(), 7);
        let snap = store.read().unwrap();
        assert_eq!(snap.len(users).unwrap(), 5);
        assert!(snap.lookup(&[k("other"), k("deep")]).unwrap().is_some());
        verify_all(&snap).unwrap();
    }

    fn open(faulty: &FaultyStore) -> crate::Result<Store> {
        Store::open(Db::open(Box::new(faulty.clone()), Options::default())?)
    }

    #[test]
    fn batches_are_atomic_under_crashes() {
        // The state after the batch, computed on a store without faults.
        let clean = Store::memory().unwrap();
        setup(&clean);
        let before: Tree = dump(&clean.read().unwrap(), ROOT).unwrap();
        clean.batch(ops(30)).unwrap();
        let after: Tree = dump(&clean.read().unwrap(), ROOT).unwrap();

        let modes = [
            CrashMode::LoseUnsynced,
            CrashMode::KeepPrefix(1),
            CrashMode::TearLast {
                keep_batches: 0,
                keep_bytes: 40,
            },
            CrashMode::Random(1),
            CrashMode::Random(2),
            CrashMode::Random(3),
        ];
        let mut failed = 0;
        for fault in 0..4u64 {
            for applying in [false, true] {
                for mode in modes {
                    let faulty = FaultyStore::new();
                    let store = open(&faulty).unwrap();
                    setup(&store);
                    if fault > 0 {
                        if applying {
                            faulty.fail_after_applying(fault);
                        } else {
                            faulty.fail_after(fault);
                        }
                    }
                    let result = store.batch(ops(30));
                    faulty.clear_faults();
                    drop(store);
                    let image = faulty.crash_image(mode);
                    let reopened = open(&FaultyStore::with_inner(image)).unwrap();
                    let snap = reopened.read().unwrap();
                    let got = dump(&snap, ROOT).unwrap();
                    let what = format!("fault {fault} applying {applying} {mode:?}: {result:?}");
                    if result.is_ok() {
                        assert_eq!(got, after, "{what}: an acknowledged batch was lost");
                    } else {
                        failed += 1;
                        assert!(got == before || got == after, "{what}: partial batch");
                    }
                    verify_all(&snap).unwrap_or_else(|e| panic!("{what}: {e}"));
                }
            }
        }
        assert!(
            failed >= 12,
            "injected faults must fail some batches ({failed})"
        );
    }
}
