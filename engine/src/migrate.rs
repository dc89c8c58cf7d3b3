//! Migrations: the store keeps a user schema version (`00 'v'`, 0 at
//! first); [`Store::migrate`] runs the missing steps in order, each in its
//! own transaction together with its version bump. A failing step rolls
//! back and leaves the store at the last completed version.
//!
//! A step is any closure over the write transaction: it may rewrite
//! records, rename or convert fields, create or drop indexes, change
//! schemas. The Lua binding wraps Lua functions as steps.

use crate::error::{EngineError, Result};
use crate::table::{Store, TableRead, Txn};

/// One migration step: brings the store from version `i` to `i + 1`
/// (`steps[i]`).
pub type Step<'a> = Box<dyn FnMut(&mut Txn) -> Result<()> + 'a>;

impl Store {
    /// The user schema version of the last commit.
    pub fn user_version(&self) -> Result<u64> {
        self.read()?.user_version()
    }

    /// Bring the store to version `target` by running `steps[v]` for every
    /// version `v` from the current one up to `target - 1`. Each step
    /// commits with its version bump. Returns the version reached (the
    /// target).
    ///
    /// Errors: a store newer than `target` (this code is older than the
    /// data), a `target` beyond the steps given, or a failing step
    /// ([`EngineError::MigrationFailed`], the store stays at the version
    /// before it).
    pub fn migrate<S>(&self, target: u64, steps: &mut [S]) -> Result<u64>
    where
        S: FnMut(&mut Txn) -> Result<()>,
    {
        let current = self.user_version()?;
        if current > target {
            return Err(EngineError::InvalidArgument(format!(
                "the store is at schema version {current}, newer than the target {target}: \
                 this code is older than the data; upgrade it instead of migrating down"
            )));
        }
        if target > steps.len() as u64 {
            return Err(EngineError::InvalidArgument(format!(
                "target version {target} needs {target} migration steps, only {} given",
                steps.len()
            )));
        }
        for version in current..target {
            let Some(step) = usize::try_from(version).ok().and_then(|i| steps.get_mut(i)) else {
                break;
            };
            let result = self.write(|tx| {
                step(tx)?;
                // A step that failed midway leaves a failed transaction;
                // `write` rolls it back.
                tx.set_user_version(version + 1)
            });
            if let Err(source) = result {
                return Err(EngineError::MigrationFailed {
                    from: version,
                    to: version + 1,
                    source: Box::new(source),
                });
            }
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Key, Value};
    use crate::schema::{FieldRule, Schema};
    use crate::table::{Input, ROOT};
    use crate::testutil::k;

    #[test]
    fn steps_run_in_order_each_with_its_version() {
        let store = Store::memory().unwrap();
        assert_eq!(store.user_version().unwrap(), 0);
        let users = store.ensure_path(&[k("users")]).unwrap();
        for i in 0..3 {
            store
                .set(
                    users,
                    Key::Int(i),
                    Input::table([("years", Input::from(i * 10))]),
                )
                .unwrap();
        }
        let mut steps: Vec<Step<'_>> = vec![
            // 0 -> 1: rename `years` to `age`.
            Box::new(|tx: &mut Txn| {
                let users = tx.lookup(&[k("users")])?.unwrap_or(ROOT);
                let mut at = None;
                while let Some((key, rec)) = tx.next(users, at.as_ref())? {
                    if let Value::Table(r) = rec {
                        if let Some(v) = tx.get(r, &k("years"))? {
                            tx.set(r, k("age"), v)?;
                            tx.delete(r, k("years"))?;
                        }
                    }
                    at = Some(key);
                }
                Ok(())
            }),
            // 1 -> 2: index and schema.
            Box::new(|tx: &mut Txn| {
                let users = tx.lookup(&[k("users")])?.unwrap_or(ROOT);
                tx.create_index(users, "age", false)?;
                tx.set_schema(
                    users,
                    Some(Schema::open().field("age", FieldRule::integer().required())),
                )
            }),
            // 2 -> 3: fails.
            Box::new(|tx: &mut Txn| {
                tx.set(ROOT, k("half"), 1)?;
                Err(EngineError::Callback("step 3 is broken".into()))
            }),
        ];
        assert_eq!(store.migrate(2, &mut steps).unwrap(), 2);
        assert_eq!(store.user_version().unwrap(), 2);
        let snap = store.read().unwrap();
        assert_eq!(
            snap.get_path(users, &[Key::Int(2), k("age")]).unwrap(),
            Some(Value::Int(20))
        );
        assert_eq!(snap.indexes(users).len(), 1);
        drop(snap);
        // Already there: nothing runs.
        assert_eq!(store.migrate(2, &mut steps).unwrap(), 2);
        let err = store.migrate(3, &mut steps).unwrap_err();
        assert!(
            matches!(err, EngineError::MigrationFailed { from: 2, to: 3, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("stays at version 2")
                && err.to_string().contains("step 3 is broken")
        );
        assert_eq!(store.user_version().unwrap(), 2);
        assert_eq!(
            store.get(ROOT, &k("half")).unwrap(),
            None,
            "the failed step left nothing"
        );
        assert!(store.migrate(1, &mut steps).is_err(), "no downgrades");
        assert!(store.migrate(9, &mut steps).is_err(), "not enough steps");
    }
}
