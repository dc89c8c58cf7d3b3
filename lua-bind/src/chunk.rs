//! The write transaction behind a VM, and atomic chunks.
//!
//! A chunk (one [`Vault::exec`](crate::Vault::exec)) runs in one engine write
//! transaction, begun lazily by the first access to `Memory` or `store`,
//! committed when the chunk returns, rolled back when it raises.
//! `store.commit()` commits early (durably) and the next access begins a
//! new transaction; `store.rollback()` discards back to the last commit.
//!
//! Savepoints (`store.transaction`, `store.batch`, and every single
//! operation) come from a redo log: the engine has no savepoints, but it is
//! deterministic, so rolling back to a savepoint is "roll the engine
//! transaction back, begin again, replay the operations logged before the
//! savepoint". Table ids come out the same because the replay allocates
//! them in the same order from the same committed counter.
//!
//! Invariants:
//! - `log` holds exactly the operations applied in the open transaction,
//!   in order, unless `log_complete` is false (it outgrew its budget; then
//!   only the transaction's start can be restored).
//! - An operation that fails after writing part of its changes is undone
//!   at once (replay up to before it), so a Lua `pcall` around a failed
//!   assignment leaves the transaction as it was before the assignment.
//!   When that is impossible the state is `failed`: every write and the
//!   commit refuse, only a rollback (or the chunk's end) clears it.
//! - `lineage` changes whenever state that iterators or proxies may have
//!   seen is discarded (any rollback): table ids allocated after the
//!   restore point may be reused, so holders must revalidate.

use moonvault_engine::batch::BatchOp;
use moonvault_engine::codec::Key;
use moonvault_engine::schema::Schema;
use moonvault_engine::table::{FieldPath, TableRead};
use moonvault_engine::{Durability, EngineError, Input, Store, TableId, Txn};

/// An operation of the open transaction, kept for replay.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// `table[key] = input`.
    Set {
        table: TableId,
        key: Key,
        input: Input,
    },
    /// The table at a path below `Memory`, created as needed.
    EnsurePath(Vec<Key>),
    /// A batch operation.
    Apply(BatchOp),
    /// Create an index.
    CreateIndex {
        table: TableId,
        field: FieldPath,
        unique: bool,
    },
    /// Drop an index.
    DropIndex { table: TableId, field: FieldPath },
    /// Set or remove a schema.
    SetSchema {
        table: TableId,
        schema: Option<Schema>,
    },
    /// Set the user schema version.
    SetUserVersion(u64),
    /// Move entries between keys of one table (records keep their ids).
    Move {
        table: TableId,
        moves: Vec<(Key, Key)>,
    },
}

/// What an applied operation returned.
#[derive(Debug)]
pub(crate) enum OpResult {
    /// Nothing to report.
    Done,
    /// A table id (ensure_path).
    Table(TableId),
    /// Whether something existed (drop_index).
    Existed(bool),
}

/// Receives `(done, total)` while an operation advances (an index build).
pub(crate) type Report<'a> = Option<&'a mut dyn FnMut(u64, u64)>;

impl Op {
    fn apply(self, tx: &mut Txn, progress: Report<'_>) -> Result<OpResult, EngineError> {
        Ok(match self {
            Op::Set { table, key, input } => {
                tx.set(table, key, input)?;
                OpResult::Done
            }
            Op::EnsurePath(path) => OpResult::Table(tx.ensure_path(&path)?),
            Op::Apply(op) => {
                tx.apply(op)?;
                OpResult::Done
            }
            Op::CreateIndex {
                table,
                field,
                unique,
            } => {
                tx.create_index_reporting(table, field, unique, progress)?;
                OpResult::Done
            }
            Op::DropIndex { table, field } => OpResult::Existed(tx.drop_index(table, field)?),
            Op::SetSchema { table, schema } => {
                tx.set_schema(table, schema)?;
                OpResult::Done
            }
            Op::SetUserVersion(v) => {
                tx.set_user_version(v)?;
                OpResult::Done
            }
            Op::Move { table, moves } => {
                tx.move_entries(table, moves)?;
                OpResult::Done
            }
        })
    }
}

/// A point to roll back to (see [`TxState::savepoint`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Savepoint {
    /// The transaction it belongs to (`commits` when it was taken).
    serial: u64,
    /// Operations of that transaction before it.
    ops: usize,
}

impl Savepoint {
    /// The savepoint as two Lua integers (handed to the prelude).
    pub(crate) fn to_parts(self) -> (i64, i64) {
        (self.serial as i64, self.ops as i64)
    }

    /// Back from [`Savepoint::to_parts`].
    pub(crate) fn from_parts(serial: i64, ops: i64) -> Savepoint {
        Savepoint {
            serial: serial.max(0) as u64,
            ops: ops.max(0) as usize,
        }
    }
}

/// The open transaction of one VM and its redo log.
pub(crate) struct TxState {
    store: Option<Store>,
    txn: Option<Txn>,
    /// Applied operations with the bytes their copies hold.
    log: Vec<(Op, usize)>,
    log_bytes: usize,
    log_limit: usize,
    log_complete: bool,
    /// Operations applied in the open transaction (logged or not).
    applied: usize,
    failed: Option<String>,
    /// Commits since open; names the open transaction in savepoints.
    commits: u64,
    lineage: u64,
    /// Changes with every write, restore, commit and rollback: values read
    /// at one version stay valid while it holds (the read cache's key).
    version: u64,
    durability: Durability,
}

/// Why the state cannot go on: a message for Lua.
fn closed() -> EngineError {
    EngineError::InvalidArgument("the vault is closed".into())
}

impl TxState {
    pub(crate) fn new(store: Store, durability: Durability, log_limit: usize) -> TxState {
        TxState {
            store: Some(store),
            txn: None,
            log: Vec::new(),
            log_bytes: 0,
            log_limit,
            log_complete: true,
            applied: 0,
            failed: None,
            commits: 0,
            lineage: 0,
            version: 0,
            durability,
        }
    }

    /// The engine store (None once closed).
    pub(crate) fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Changes whenever a rollback discarded state (see the module docs).
    pub(crate) fn lineage(&self) -> u64 {
        self.lineage
    }

    /// Changes whenever what a read would see may have changed.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    fn txn(&mut self) -> Result<&mut Txn, EngineError> {
        if self.txn.is_none() {
            let store = self.store.as_ref().ok_or_else(closed)?;
            let mut tx = store.begin()?;
            tx.set_durability(self.durability);
            self.txn = Some(tx);
        }
        self.txn.as_mut().ok_or_else(closed)
    }

    /// Read through the open transaction (begun if needed): reads see the
    /// chunk's own writes.
    pub(crate) fn read<T>(
        &mut self,
        f: impl FnOnce(&Txn) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let tx = self.txn()?;
        f(tx)
    }

    /// Read the open transaction if there is one, else the last commit
    /// (without beginning a transaction).
    pub(crate) fn with_reader<T>(
        &mut self,
        f: impl FnOnce(&dyn TableRead) -> T,
    ) -> Result<T, EngineError> {
        if let Some(tx) = &self.txn {
            return Ok(f(tx));
        }
        let store = self.store.as_ref().ok_or_else(closed)?;
        let snap = store.read()?;
        Ok(f(&snap))
    }

    /// Apply `op`, logged for savepoints. `approx_bytes` is the memory the
    /// logged copy holds. On failure the transaction is as before `op`.
    pub(crate) fn write(&mut self, op: Op, approx_bytes: usize) -> Result<OpResult, EngineError> {
        self.write_reporting(op, approx_bytes, None)
    }

    /// [`TxState::write`], with `progress` following the operation (a
    /// replay after a rollback to a savepoint reports nothing).
    pub(crate) fn write_reporting(
        &mut self,
        op: Op,
        approx_bytes: usize,
        progress: Report<'_>,
    ) -> Result<OpResult, EngineError> {
        if let Some(why) = &self.failed {
            return Err(EngineError::TxnAborted(why.clone()));
        }
        let before = self.applied;
        self.version += 1;
        // The entry itself counts too, so the limit bounds the log's real
        // memory even for scalar assignments (whose copies hold nothing).
        let approx_bytes = approx_bytes + std::mem::size_of::<(Op, usize)>();
        let keep = self.log_complete && self.log_bytes + approx_bytes <= self.log_limit;
        let logged = keep.then(|| op.clone());
        let tx = self.txn()?;
        match op.apply(tx, progress) {
            Ok(r) => {
                self.applied += 1;
                match logged {
                    Some(op) => {
                        self.log.push((op, approx_bytes));
                        self.log_bytes += approx_bytes;
                    }
                    None => {
                        self.log_complete = false;
                        self.log = Vec::new();
                        self.log_bytes = 0;
                    }
                }
                Ok(r)
            }
            Err(e) => {
                if self.txn.as_ref().is_some_and(Txn::is_failed) {
                    let sp = Savepoint {
                        serial: self.commits,
                        ops: before,
                    };
                    if let Err(restore) = self.restore(sp) {
                        self.failed = Some(format!("{e}; then {restore}"));
                    }
                }
                Err(e)
            }
        }
    }

    /// The current point of the open transaction (its start when none is
    /// open).
    pub(crate) fn savepoint(&self) -> Savepoint {
        Savepoint {
            serial: self.commits,
            ops: if self.txn.is_some() { self.applied } else { 0 },
        }
    }

    /// Undo everything after `sp`. A savepoint of an earlier (committed)
    /// transaction rolls back to the last commit. When the log cannot
    /// restore it, the state becomes failed and an error says so.
    pub(crate) fn rollback_to(&mut self, sp: Savepoint) -> Result<(), EngineError> {
        self.restore(sp).inspect_err(|e| {
            self.failed = Some(e.to_string());
        })
    }

    fn restore(&mut self, sp: Savepoint) -> Result<(), EngineError> {
        self.version += 1;
        if sp.serial != self.commits || sp.ops == 0 {
            self.rollback();
            return Ok(());
        }
        if sp.ops >= self.applied && !self.txn_failed() {
            return Ok(()); // nothing after it
        }
        if !self.log_complete || sp.ops > self.log.len() {
            return Err(EngineError::InvalidArgument(
                "the transaction was too large to keep its savepoints, so it cannot be rolled \
                 back partially; only a full rollback (store.rollback() or the end of the \
                 chunk) is possible"
                    .into(),
            ));
        }
        let mut entries: Vec<(Op, usize)> = std::mem::take(&mut self.log);
        entries.truncate(sp.ops);
        self.rollback();
        let replayed = self.txn().and_then(|tx| {
            for (op, _) in &entries {
                op.clone().apply(tx, None)?;
            }
            Ok(())
        });
        if let Err(e) = replayed {
            self.rollback();
            return Err(EngineError::InvalidArgument(format!(
                "replaying the transaction up to a savepoint failed ({e}); all uncommitted \
                 changes were rolled back"
            )));
        }
        self.log_bytes = entries.iter().map(|(_, n)| n).sum();
        self.applied = entries.len();
        self.log = entries;
        Ok(())
    }

    fn txn_failed(&self) -> bool {
        self.txn.as_ref().is_some_and(Txn::is_failed)
    }

    /// Commit the open transaction (nothing to do when none is open).
    /// `durability` overrides the vault's default for this commit.
    pub(crate) fn commit(&mut self, durability: Option<Durability>) -> Result<(), EngineError> {
        self.version += 1;
        if let Some(why) = self.failed.take() {
            self.rollback();
            return Err(EngineError::TxnAborted(why));
        }
        let Some(mut tx) = self.txn.take() else {
            // Nothing pending, but earlier relaxed commits may not be
            // durable yet: a durable commit makes them so.
            if durability == Some(Durability::Immediate) && self.durability == Durability::Relaxed {
                if let Some(store) = &self.store {
                    store.db().flush()?;
                }
            }
            return Ok(());
        };
        if let Some(d) = durability {
            tx.set_durability(d);
        }
        self.log.clear();
        self.log_bytes = 0;
        self.log_complete = true;
        self.applied = 0;
        self.commits += 1;
        let result = tx.commit();
        if result.is_err() {
            self.lineage += 1;
        }
        result
    }

    /// Discard the open transaction.
    pub(crate) fn rollback(&mut self) {
        self.version += 1;
        if let Some(tx) = self.txn.take() {
            tx.rollback();
            self.lineage += 1;
        }
        self.log.clear();
        self.log_bytes = 0;
        self.log_complete = true;
        self.applied = 0;
        self.failed = None;
    }

    /// Roll back and let go of the store (its files unlock when the last
    /// handle drops).
    pub(crate) fn close(&mut self) -> Option<Store> {
        self.rollback();
        self.store.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moonvault_engine::codec::Value as EValue;
    use moonvault_engine::ROOT;

    fn k(s: &str) -> Key {
        Key::from(s)
    }

    fn set(st: &mut TxState, key: &str, v: i64) {
        st.write(
            Op::Set {
                table: ROOT,
                key: k(key),
                input: v.into(),
            },
            16,
        )
        .unwrap();
    }

    fn get(st: &mut TxState, key: &str) -> Option<EValue> {
        st.read(|tx| tx.get(ROOT, &k(key))).unwrap()
    }

    #[test]
    fn savepoints_replay_and_ids_repeat() {
        let mut st = TxState::new(Store::memory().unwrap(), Durability::Immediate, 1 << 20);
        set(&mut st, "a", 1);
        let sp = st.savepoint();
        let t1 = match st.write(Op::EnsurePath(vec![k("t")]), 8).unwrap() {
            OpResult::Table(t) => t,
            other => panic!("{other:?}"),
        };
        set(&mut st, "b", 2);
        let lineage = st.lineage();
        st.rollback_to(sp).unwrap();
        assert_ne!(st.lineage(), lineage);
        assert_eq!(get(&mut st, "a"), Some(EValue::Int(1)));
        assert_eq!(get(&mut st, "b"), None);
        assert_eq!(get(&mut st, "t"), None);
        // The same allocation again gets the same id (why proxies revalidate).
        let t2 = match st.write(Op::EnsurePath(vec![k("u")]), 8).unwrap() {
            OpResult::Table(t) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(t1, t2);
        st.commit(None).unwrap();
        // A savepoint of a committed transaction rolls back to the commit.
        set(&mut st, "c", 3);
        st.rollback_to(sp).unwrap();
        assert_eq!(get(&mut st, "c"), None);
        assert_eq!(get(&mut st, "a"), Some(EValue::Int(1)));
    }

    #[test]
    fn an_oversized_log_refuses_partial_rollback_and_fails_the_transaction() {
        let mut st = TxState::new(Store::memory().unwrap(), Durability::Immediate, 40);
        set(&mut st, "a", 1);
        let sp = st.savepoint();
        set(&mut st, "b", 2);
        set(&mut st, "c", 3); // past 40 bytes
        assert!(st.rollback_to(sp).is_err());
        assert!(st.write(Op::SetUserVersion(1), 0).is_err());
        assert!(st.commit(None).is_err());
        assert_eq!(
            get(&mut st, "a"),
            None,
            "the failed transaction was dropped"
        );
        set(&mut st, "d", 4);
        st.commit(None).unwrap();
        assert_eq!(get(&mut st, "d"), Some(EValue::Int(4)));
    }
}
