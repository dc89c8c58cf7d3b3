//! A cache of clean (already stored) pages, bounded by bytes rather than
//! entries so that the engine fits a fixed memory budget.
//!
//! Eviction is CLOCK (second chance): a hit only sets a flag, so the hot
//! read path does no reordering; the hand sweeps past recently used pages
//! once before evicting them.

use crate::frame::Page;
use crate::PageId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

/// Bookkeeping bytes charged per cached page on top of its data.
pub const PAGE_OVERHEAD: usize = 96;

/// The bytes a page costs against a budget.
pub fn page_cost(page: &Page) -> usize {
    page.data.capacity() + page.aid_bytes() + PAGE_OVERHEAD
}

/// A fast hasher for page ids (they are not attacker-chosen hash keys).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: spreads sequential ids across the table.
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A `HashMap` keyed by page id with [`IdHasher`].
pub type IdMap<V> = HashMap<PageId, V, BuildHasherDefault<IdHasher>>;

/// A cached page, kept in the index itself so that a hit reads one hash
/// bucket (no second lookup into the clock's ring).
struct Cached {
    page: Rc<Page>,
    /// Set by a hit, cleared by the clock hand's first pass.
    referenced: bool,
    /// Its place in [`PageCache::ring`].
    ring: usize,
}

/// Byte-bounded CLOCK cache of clean pages.
#[derive(Default)]
pub struct PageCache {
    index: IdMap<Cached>,
    /// The clock: the ids of the cached pages in no particular order,
    /// `None` where a page left; swept by `hand`.
    ring: Vec<Option<PageId>>,
    vacant: Vec<usize>,
    hand: usize,
    bytes: usize,
    /// Pages evicted since the last [`PageCache::take_evicted`] (not those
    /// removed by [`PageCache::remove`]), for the pager to offer its store.
    evicted: Vec<(PageId, Rc<Page>)>,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to go to the store.
    pub misses: u64,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("pages", &self.index.len())
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl PageCache {
    /// The cached page, marking it recently used.
    #[inline]
    pub fn get(&mut self, id: PageId) -> Option<Rc<Page>> {
        match self.index.get_mut(&id) {
            Some(cached) => {
                cached.referenced = true;
                self.hits += 1;
                Some(cached.page.clone())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Whether the page is cached (no effect on recency or the counters).
    pub fn contains(&self, id: PageId) -> bool {
        self.index.contains_key(&id)
    }

    /// Insert (or replace) a page, then evict down to `budget` bytes.
    pub fn insert(&mut self, id: PageId, page: Rc<Page>, budget: usize) {
        self.remove(id);
        self.bytes += page_cost(&page);
        let ring = match self.vacant.pop() {
            Some(i) => {
                self.ring[i] = Some(id);
                i
            }
            None => {
                self.ring.push(Some(id));
                self.ring.len() - 1
            }
        };
        let cached = Cached {
            page,
            referenced: true,
            ring,
        };
        self.index.insert(id, cached);
        self.evict_to(budget);
    }

    /// Drop a page if present.
    pub fn remove(&mut self, id: PageId) {
        if let Some(cached) = self.index.remove(&id) {
            self.bytes -= page_cost(&cached.page);
            self.ring[cached.ring] = None;
            self.vacant.push(cached.ring);
        }
    }

    /// The pages evicted since the last call, oldest first (the cache keeps
    /// the vector's room for the next ones).
    pub fn take_evicted(&mut self) -> std::vec::Drain<'_, (PageId, Rc<Page>)> {
        self.evicted.drain(..)
    }

    /// Evict pages until at most `budget` bytes remain.
    pub fn evict_to(&mut self, budget: usize) {
        // Two sweeps clear every reference bit, so this always terminates.
        let mut steps = 2 * self.ring.len() + 1;
        while self.bytes > budget && steps > 0 {
            steps -= 1;
            if self.hand >= self.ring.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            let Some(id) = self.ring[i] else {
                continue;
            };
            let Some(cached) = self.index.get_mut(&id) else {
                continue;
            };
            if cached.referenced {
                cached.referenced = false;
                continue;
            }
            self.evicted.push((id, cached.page.clone()));
            self.remove(id);
        }
        if self.index.is_empty() {
            self.ring.clear();
            self.vacant.clear();
            self.hand = 0;
        }
    }

    /// Bytes currently charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Pages currently cached.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> Rc<Page> {
        Rc::new(Page::new(1, vec![0; n]))
    }

    #[test]
    fn stays_within_budget_and_prefers_recently_used() {
        let mut c = PageCache::default();
        let budget = 3 * (100 + PAGE_OVERHEAD);
        c.insert(1, page(100), budget);
        c.insert(2, page(100), budget);
        c.insert(3, page(100), budget);
        // One sweep clears all bits; 1 is touched again afterwards.
        c.evict_to(budget);
        for id in [1, 2, 3] {
            c.index.get_mut(&id).unwrap().referenced = false;
        }
        assert!(c.get(1).is_some());
        c.insert(4, page(100), budget);
        assert!(c.get(1).is_some(), "recently used page survives");
        assert!(c.get(4).is_some(), "new page is cached");
        assert_eq!(c.len(), 3);
        assert!(c.bytes() <= budget);
    }

    /// The ring names exactly the indexed pages, each at its own place,
    /// and the bytes are the indexed pages' costs, through inserts,
    /// replacements, removals and evictions.
    #[test]
    fn ring_and_index_agree() {
        let mut c = PageCache::default();
        let mut x = 1u64;
        for step in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = (x >> 33) % 50;
            match (x >> 20) % 4 {
                0 | 1 => c.insert(id, page(10 + (x >> 40) as usize % 200), 4000),
                2 => c.remove(id),
                _ => {
                    let _ = c.get(id);
                }
            }
            let named: Vec<PageId> = c.ring.iter().flatten().copied().collect();
            assert_eq!(named.len(), c.len(), "step {step}");
            for (i, id) in c.ring.iter().enumerate() {
                if let Some(id) = id {
                    assert_eq!(c.index[id].ring, i, "step {step}");
                }
            }
            let bytes: usize = c.index.values().map(|e| page_cost(&e.page)).sum();
            assert_eq!(bytes, c.bytes(), "step {step}");
            assert!(c.bytes() <= 4000);
        }
    }

    #[test]
    fn many_inserts_never_exceed_budget() {
        let mut c = PageCache::default();
        let budget = 10_000;
        for id in 0..1000u64 {
            c.insert(id % 37, page(50 + (id as usize % 300)), budget);
            assert!(c.bytes() <= budget);
            if id % 3 == 0 {
                let _ = c.get(id % 11);
            }
        }
        c.evict_to(0);
        assert!(c.is_empty() && c.bytes() == 0);
    }
}
