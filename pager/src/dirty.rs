//! The pages an open transaction modified and memory still holds, with
//! their bytes and how recently each was written.
//!
//! Spilling (writing dirty pages to the store to free memory) takes the
//! least recently written pages first: the pages a workload keeps editing
//! (a tree's root, the right edge an append grows, the busiest index
//! leaves) stay in memory, where the next edit changes them in place,
//! instead of being compressed and written at every spill only to be
//! modified again by the next statement.

use crate::cache::{page_cost, IdMap};
use crate::frame::Page;
use crate::PageId;
use std::rc::Rc;

struct Dirty {
    page: Rc<Page>,
    /// The tick of the page's last write: higher is more recent.
    written: u64,
}

/// Modified pages by id. Invariant: `bytes` is the sum of [`page_cost`]
/// over the pages held.
#[derive(Default)]
pub(crate) struct DirtyPages {
    pages: IdMap<Dirty>,
    bytes: usize,
    tick: u64,
}

impl DirtyPages {
    /// Bytes the pages held cost against the cache budget.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.pages.len()
    }

    pub(crate) fn contains(&self, id: PageId) -> bool {
        self.pages.contains_key(&id)
    }

    #[inline]
    pub(crate) fn get(&self, id: PageId) -> Option<&Rc<Page>> {
        self.pages.get(&id).map(|d| &d.page)
    }

    /// Hold `page` as the newest write of `id`, replacing any older one.
    pub(crate) fn insert(&mut self, id: PageId, page: Rc<Page>) {
        self.bytes += page_cost(&page);
        self.tick += 1;
        let written = self.tick;
        if let Some(old) = self.pages.insert(id, Dirty { page, written }) {
            self.bytes -= page_cost(&old.page);
        }
    }

    pub(crate) fn remove(&mut self, id: PageId) -> Option<Rc<Page>> {
        let old = self.pages.remove(&id)?;
        self.bytes -= page_cost(&old.page);
        Some(old.page)
    }

    /// Edit page `id` in place with `f` when memory holds it and nothing
    /// else refers to it (`None`, having done nothing, otherwise). The edit
    /// counts as a write.
    pub(crate) fn update<R>(&mut self, id: PageId, f: impl FnOnce(&mut Page) -> R) -> Option<R> {
        let dirty = self.pages.get_mut(&id)?;
        let page = Rc::get_mut(&mut dirty.page)?;
        let before = page_cost(page);
        let out = f(page);
        self.tick += 1;
        dirty.written = self.tick;
        self.bytes = self.bytes - before + page_cost(page);
        Some(out)
    }

    /// Give up every page held.
    pub(crate) fn take_all(&mut self) -> Vec<(PageId, Rc<Page>)> {
        self.bytes = 0;
        self.pages.drain().map(|(id, d)| (id, d.page)).collect()
    }

    /// Give up the least recently written pages until at most `keep`
    /// bytes remain held; returns them, oldest first.
    pub(crate) fn take_coldest(&mut self, keep: usize) -> Vec<(PageId, Rc<Page>)> {
        if self.bytes <= keep {
            return Vec::new();
        }
        let mut by_age: Vec<(u64, PageId)> =
            self.pages.iter().map(|(&id, d)| (d.written, id)).collect();
        by_age.sort_unstable();
        let mut taken = Vec::new();
        for (_, id) in by_age {
            if self.bytes <= keep {
                break;
            }
            if let Some(page) = self.remove(id) {
                taken.push((id, page));
            }
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
    fn the_coldest_pages_go_first_and_an_edit_counts_as_a_write() {
        let mut d = DirtyPages::default();
        for id in 1..=4 {
            d.insert(id, page(1000));
        }
        // Page 1 is edited after the others were written: now the newest.
        assert_eq!(d.update(1, |p| p.data.push(1)), Some(()));
        let newest = page_cost(d.get(1).unwrap()) + page_cost(d.get(4).unwrap());
        let taken: Vec<PageId> = d.take_coldest(newest).iter().map(|(id, _)| *id).collect();
        assert_eq!(taken, vec![2, 3]);
        assert!(d.contains(1) && d.contains(4) && d.len() == 2);
        assert_eq!(d.bytes(), newest);
        assert!(d.take_coldest(newest).is_empty());
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
