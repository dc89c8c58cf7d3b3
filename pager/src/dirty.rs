//! The pages an open transaction modified and memory still holds, with
//! their bytes and how recently each was used.
//!
//! Spilling (writing dirty pages to the store to free memory) takes the
//! least recently used pages first, a read counting as a use: the pages a
//! workload keeps editing or passing through (a tree's root and branches,
//! the right edge an append grows, the busiest index leaves) stay in
//! memory, where the next edit changes them in place, instead of being
//! compressed and written at every spill only to be copied again by the
//! next statement. (By writes alone, a run of small commits, each copying
//! the root, a branch or two and two leaves, spilled a branch nearly as
//! often as a leaf: 4.3 pages a commit instead of 2 with a 32 KiB cache.)
//!
//! A page the open transaction freed (an older copy of a page it rewrote,
//! committed since the last checkpoint) is *released*: its commit drops it
//! unwritten, so spilling skips it and it does not count towards the
//! spill threshold (`spillable_bytes`). It is still held, since a rollback
//! makes it live again. Only pages dirty before the transaction can be
//! released (a page the transaction allocated and freed leaves at once), so
//! released pages never hold more than the dirty pages did then.

use crate::cache::{page_cost, IdMap};
use crate::frame::{Page, PageAid};
use crate::PageId;
use std::cell::Cell;
use std::rc::Rc;

struct Dirty {
    page: Rc<Page>,
    /// The tick of the page's last use (write or read): higher is more
    /// recent.
    used: Cell<u64>,
    /// Freed by the open transaction (see the module doc).
    released: bool,
    /// The tick of the page's last write: its version. Ticks only grow, so
    /// a page id and version name one content (frames made ahead are
    /// matched by them, `encode_ahead.rs`).
    written: u64,
}

/// A dirty page given up: its id, page and version.
pub(crate) type Taken = (PageId, Rc<Page>, u64);

/// Modified pages by id. Invariants: `bytes` is the sum of [`page_cost`]
/// over the pages held, `released_bytes` over those released.
#[derive(Default)]
pub(crate) struct DirtyPages {
    pages: IdMap<Dirty>,
    bytes: usize,
    released_bytes: usize,
    tick: Cell<u64>,
    /// Pages found by `get`.
    hits: Cell<u64>,
}

impl DirtyPages {
    /// Bytes the pages held cost against the cache budget.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes of the pages a spill may take (all but the released ones).
    pub(crate) fn spillable_bytes(&self) -> usize {
        self.bytes - self.released_bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.pages.len()
    }

    pub(crate) fn contains(&self, id: PageId) -> bool {
        self.pages.contains_key(&id)
    }

    /// Page `id`, if held; counts as a use.
    #[inline]
    pub(crate) fn get(&self, id: PageId) -> Option<&Rc<Page>> {
        let d = self.pages.get(&id)?;
        d.used.set(self.next_tick());
        self.hits.set(self.hits.get() + 1);
        Some(&d.page)
    }

    /// How many `get`s found their page.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.get()
    }

    fn next_tick(&self) -> u64 {
        let t = self.tick.get() + 1;
        self.tick.set(t);
        t
    }

    /// Hold `page` as the newest write of `id`, replacing any older one.
    pub(crate) fn insert(&mut self, id: PageId, page: Rc<Page>) {
        self.bytes += page_cost(&page);
        let tick = self.next_tick();
        let new = Dirty {
            page,
            used: Cell::new(tick),
            released: false,
            written: tick,
        };
        if let Some(old) = self.pages.insert(id, new) {
            self.forget(&old);
        }
    }

    pub(crate) fn remove(&mut self, id: PageId) -> Option<Rc<Page>> {
        self.take(id).map(|(_, page, _)| page)
    }

    fn take(&mut self, id: PageId) -> Option<Taken> {
        let old = self.pages.remove(&id)?;
        self.forget(&old);
        Some((id, old.page, old.written))
    }

    /// Page `id` and its version, if held; not a use.
    pub(crate) fn peek(&self, id: PageId) -> Option<(&Page, u64)> {
        self.pages.get(&id).map(|d| (&*d.page, d.written))
    }

    /// Takes `old`, no longer held, out of the byte counts.
    fn forget(&mut self, old: &Dirty) {
        let cost = page_cost(&old.page);
        self.bytes -= cost;
        if old.released {
            self.released_bytes -= cost;
        }
    }

    /// Give page `id`, if held and shared with no one, its search aid
    /// (see [`PageAid`]): for a page that will not change again.
    pub(crate) fn derive_aid(&mut self, id: PageId, derive: PageAid) {
        let Some(dirty) = self.pages.get_mut(&id) else {
            return;
        };
        let Some(page) = Rc::get_mut(&mut dirty.page) else {
            return;
        };
        let before = page_cost(page);
        page.derive_aid(derive);
        let grown = page_cost(page) - before;
        self.bytes += grown;
        if dirty.released {
            self.released_bytes += grown;
        }
    }

    /// Mark page `id`, if held, as released by the open transaction (or,
    /// `false`, live again: a rollback, or a snapshot still reads it).
    pub(crate) fn set_released(&mut self, id: PageId, released: bool) {
        if let Some(d) = self.pages.get_mut(&id) {
            if d.released != released {
                let cost = page_cost(&d.page);
                d.released = released;
                if released {
                    self.released_bytes += cost;
                } else {
                    self.released_bytes -= cost;
                }
            }
        }
    }

    /// Edit page `id` in place with `f` when memory holds it and nothing
    /// else refers to it (`None`, having done nothing, otherwise). The edit
    /// counts as a write.
    pub(crate) fn update<R>(&mut self, id: PageId, f: impl FnOnce(&mut Page) -> R) -> Option<R> {
        let dirty = self.pages.get_mut(&id)?;
        let page = Rc::get_mut(&mut dirty.page)?;
        let before = page_cost(page);
        page.drop_aid();
        let out = f(page);
        let tick = self.tick.get() + 1;
        self.tick.set(tick);
        dirty.used.set(tick);
        dirty.written = tick;
        self.bytes = self.bytes - before + page_cost(page);
        Some(out)
    }

    /// Give up every page held.
    pub(crate) fn take_all(&mut self) -> Vec<Taken> {
        self.bytes = 0;
        self.released_bytes = 0;
        self.pages
            .drain()
            .map(|(id, d)| (id, d.page, d.written))
            .collect()
    }

    /// Give up the least recently used pages that are not released
    /// until at most `keep` spillable bytes remain held; returns them,
    /// oldest first.
    pub(crate) fn take_coldest(&mut self, keep: usize) -> Vec<Taken> {
        if self.spillable_bytes() <= keep {
            return Vec::new();
        }
        let mut by_age: Vec<(u64, PageId)> = self
            .pages
            .iter()
            .filter(|(_, d)| !d.released)
            .map(|(&id, d)| (d.used.get(), id))
            .collect();
        by_age.sort_unstable();
        let mut taken = Vec::new();
        for (_, id) in by_age {
            if self.spillable_bytes() <= keep {
                break;
            }
            taken.extend(self.take(id));
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(len: usize) -> Rc<Page> {
        Rc::new(Page::new(1, vec![0; len]))
    }

    #[test]
    fn the_coldest_pages_go_first_and_an_edit_or_a_read_is_a_use() {
        let mut d = DirtyPages::default();
        for id in 1..=5 {
            d.insert(id, page(1000));
        }
        // Page 1 is edited and page 2 read after the others were written.
        assert_eq!(d.update(1, |p| p.data.push(1)), Some(()));
        assert!(d.get(2).is_some());
        let two = page_cost(&page(1000));
        let newest = d.bytes() - 2 * two;
        let taken: Vec<PageId> = d.take_coldest(newest).iter().map(|(id, ..)| *id).collect();
        assert_eq!(taken, vec![3, 4]);
        assert!(d.contains(1) && d.contains(2) && d.contains(5) && d.len() == 3);
        assert_eq!(d.bytes(), newest);
        assert!(d.take_coldest(newest).is_empty());
        // contains() is no use: 5, written before 1 and 2 were used, goes next.
        assert!(d.contains(5));
        let taken: Vec<PageId> = d
            .take_coldest(newest - two)
            .iter()
            .map(|(id, ..)| *id)
            .collect();
        assert_eq!(taken, vec![5]);
    }

    #[test]
    fn released_pages_are_never_spilled_and_do_not_count_towards_it() {
        let mut d = DirtyPages::default();
        for id in 1..=4 {
            d.insert(id, page(1000));
        }
        let one = page_cost(&page(1000));
        d.set_released(1, true);
        d.set_released(1, true);
        assert_eq!((d.bytes(), d.spillable_bytes()), (4 * one, 3 * one));
        // Page 1 is the coldest, but released: 2 and 3 go instead.
        let taken: Vec<PageId> = d.take_coldest(one).iter().map(|(id, ..)| *id).collect();
        assert_eq!(taken, vec![2, 3]);
        assert_eq!((d.bytes(), d.spillable_bytes()), (2 * one, one));
        // Live again (a rollback): spillable, and first to go.
        d.set_released(1, false);
        let taken: Vec<PageId> = d.take_coldest(one).iter().map(|(id, ..)| *id).collect();
        assert_eq!(taken, vec![1]);
        // Removing or replacing a released page keeps the counts exact.
        d.set_released(4, true);
        d.insert(4, page(10));
        assert_eq!(d.spillable_bytes(), d.bytes());
        d.set_released(4, true);
        d.remove(4);
        assert_eq!((d.bytes(), d.spillable_bytes(), d.len()), (0, 0, 0));
    }

    #[test]
    fn a_shared_page_is_not_edited_in_place() {
        let mut d = DirtyPages::default();
        d.insert(7, page(10));
        let held = d.get(7).unwrap().clone();
        assert_eq!(d.update(7, |p| p.data.clear()), None);
        drop(held);
        assert_eq!(d.update(7, |p| p.data.clear()), Some(()));
        assert_eq!(d.take_all().len(), 1);
        assert_eq!((d.bytes(), d.len()), (0, 0));
    }
}
