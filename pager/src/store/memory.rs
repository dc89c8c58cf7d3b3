//! An in-memory [`BlobStore`]: everything is durable at once, nothing
//! survives the process. Clones share the same contents, so a test can keep a
//! handle while an engine owns another.

use super::{Area, BlobKey, BlobStore, StoreResult, WriteOp};
use bytes::Bytes;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::rc::Rc;

/// Blobs of one store, by area then key.
pub type Contents = BTreeMap<(Area, BlobKey), Bytes>;

/// A shared in-memory store. Cloning shares the contents.
#[derive(Clone, Default, Debug)]
pub struct MemoryStore {
    blobs: Rc<RefCell<Contents>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store holding exactly `contents`.
    pub fn from_contents(contents: Contents) -> MemoryStore {
        MemoryStore {
            blobs: Rc::new(RefCell::new(contents)),
        }
    }

    /// A deep copy of the current contents.
    pub fn snapshot(&self) -> Contents {
        self.blobs.borrow().clone()
    }

    /// Apply a batch to a contents map (shared with the fault wrapper).
    pub(crate) fn apply(contents: &mut Contents, ops: Vec<WriteOp>) {
        for op in ops {
            match op {
                WriteOp::Put { area, key, value } => {
                    contents.insert((area, key), value);
                }
                WriteOp::Delete { area, key } => {
                    contents.remove(&(area, key));
                }
            }
        }
    }
}

impl BlobStore for MemoryStore {
    fn get(&self, area: Area, key: BlobKey) -> StoreResult<Option<Bytes>> {
        Ok(self.blobs.borrow().get(&(area, key)).cloned())
    }

    fn keys_in(&self, area: Area, range: RangeInclusive<BlobKey>) -> StoreResult<Vec<BlobKey>> {
        if range.is_empty() {
            // BTreeMap::range panics on a reversed range.
            return Ok(Vec::new());
        }
        Ok(self
            .blobs
            .borrow()
            .range((area, *range.start())..=(area, *range.end()))
            .map(|((_, k), _)| *k)
            .collect())
    }

    fn write(&mut self, ops: Vec<WriteOp>, _durable: bool) -> StoreResult<()> {
        MemoryStore::apply(&mut self.blobs.borrow_mut(), ops);
        Ok(())
    }

    fn sync(&mut self) -> StoreResult<()> {
        Ok(())
    }

    fn stored_bytes(&self, area: Area) -> StoreResult<u64> {
        Ok(self
            .blobs
            .borrow()
            .range((area, 0)..=(area, u64::MAX))
            .map(|(_, v)| v.len() as u64)
            .sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_conformance() {
        crate::store::conformance::run_all(&mut |_| MemoryStore::new(), &mut |s| s);
    }
}
