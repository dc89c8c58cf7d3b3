//! A least-recently-used cache of clean (already stored) pages, bounded by
//! bytes rather than entries so that the engine fits a fixed memory budget.

use crate::frame::Page;
use crate::PageId;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// Bookkeeping bytes charged per cached page on top of its data.
pub const PAGE_OVERHEAD: usize = 96;

/// The bytes a page costs against a budget.
pub fn page_cost(page: &Page) -> usize {
    page.data.capacity() + PAGE_OVERHEAD
}

/// Byte-bounded LRU of clean pages.
#[derive(Debug, Default)]
pub struct PageCache {
    entries: HashMap<PageId, (Rc<Page>, u64)>,
    /// Access tick -> page id; the smallest tick is the least recently used.
    order: BTreeMap<u64, PageId>,
    tick: u64,
    bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to go to the store.
    pub misses: u64,
}

impl PageCache {
    /// The cached page, refreshing its recency.
    pub fn get(&mut self, id: PageId) -> Option<Rc<Page>> {
        self.tick += 1;
        let tick = self.tick;
        match self.entries.get_mut(&id) {
            Some((page, t)) => {
                self.order.remove(t);
                *t = tick;
                self.order.insert(tick, id);
                self.hits += 1;
                Some(page.clone())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Insert (or replace) a page, then evict down to `budget` bytes.
    pub fn insert(&mut self, id: PageId, page: Rc<Page>, budget: usize) {
        self.remove(id);
        self.tick += 1;
        self.bytes += page_cost(&page);
        self.order.insert(self.tick, id);
        self.entries.insert(id, (page, self.tick));
        self.evict_to(budget);
    }

    /// Drop a page if present.
    pub fn remove(&mut self, id: PageId) {
        if let Some((page, t)) = self.entries.remove(&id) {
            self.order.remove(&t);
            self.bytes -= page_cost(&page);
        }
    }

    /// Evict least recently used pages until at most `budget` bytes remain.
    pub fn evict_to(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some((_, id)) = self.order.pop_first() else {
                break;
            };
            if let Some((page, _)) = self.entries.remove(&id) {
                self.bytes -= page_cost(&page);
            }
        }
    }

    /// Bytes currently charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Pages currently cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> Rc<Page> {
        Rc::new(Page {
            kind: 1,
            data: vec![0; n],
        })
    }

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let mut c = PageCache::default();
        let budget = 3 * (100 + PAGE_OVERHEAD);
        c.insert(1, page(100), budget);
        c.insert(2, page(100), budget);
        c.insert(3, page(100), budget);
        assert!(c.get(1).is_some());
        c.insert(4, page(100), budget);
        assert!(c.get(2).is_none(), "2 was least recently used");
        assert!(c.get(1).is_some() && c.get(3).is_some() && c.get(4).is_some());
        assert!(c.bytes() <= budget);
    }
}
