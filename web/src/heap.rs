//! The module's Rust heap: std's allocator for everything, except large
//! blocks, which come from a region of their own.
//!
//! Why: the Rust heap is a few hundred KiB ([`RUST_HEAP`]), and a value at
//! its limit needs one contiguous block of about [`ASSIGN_LIMIT`] (the
//! buffer an overflow chain is read into, a Lua or JS string copied for
//! its write). Small blocks that live long (cached pages, the catalog,
//! wasm-bindgen closures waiting on IndexedDB) end up anywhere in the
//! heap, so after a while it may hold plenty of free bytes but no hole that
//! large, and a failed allocation aborts the module. Which holes are left
//! depends on what ran before and even on when IndexedDB answered: a test
//! reading a 128 KiB string passed or aborted from one run to the next.
//!
//! So [`Heap`] takes [`LARGE_REGION`] bytes of the heap on its first
//! allocation, before anything can fragment it, and serves every block of
//! [`LARGE_BLOCK`] bytes or more from there (its own dlmalloc, as the Lua
//! arena has). Small blocks go there only when the rest of the heap is
//! full (a moment of pressure, such as a thousand records being copied,
//! borrows it rather than abort): so the region holds large, short-lived
//! buffers, and is whole again when they are freed. A large block that
//! does not fit there (the region busy with another) comes from the rest
//! of the heap, as every block did before; a block growing past the
//! threshold moves in, one shrinking below it moves out.
//!
//! In the browser tests (feature `test-harness`) the heap also counts what
//! it hands out ([`counts`]), so they can check the budget's peaks against
//! the allocator the module ships with.
//!
//! [`RUST_HEAP`]: crate::budget::RUST_HEAP
//! [`ASSIGN_LIMIT`]: crate::budget::ASSIGN_LIMIT
//! [`LARGE_REGION`]: crate::budget::LARGE_REGION
//! [`LARGE_BLOCK`]: crate::budget::LARGE_BLOCK

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use dlmalloc::Dlmalloc;
use moonvault_lua_bind::arena::FixedRegion;

use crate::budget::{LARGE_BLOCK, LARGE_REGION};

/// The allocator: `small` for blocks under `threshold` bytes, a region of
/// `region` bytes taken from `small` for the rest (see the module docs).
pub struct Heap<S = System> {
    small: S,
    region: usize,
    threshold: usize,
    /// Whether taking the region was tried (once: it is the first block).
    tried: AtomicBool,
    /// Where the region starts; 0 without one.
    base: AtomicUsize,
    large: Mutex<Option<Dlmalloc<FixedRegion>>>,
}

/// Whether `ptr` lies in the module heap's large-block region (for tests
/// that fragment the rest of the heap on purpose).
#[cfg(target_arch = "wasm32")]
pub fn in_large_region(ptr: *mut u8) -> bool {
    crate::HEAP.in_region(ptr)
}

impl Heap<System> {
    /// The module's heap: [`LARGE_REGION`] for blocks of [`LARGE_BLOCK`]
    /// bytes or more.
    pub const fn module() -> Heap<System> {
        Heap::new(System, LARGE_REGION, LARGE_BLOCK)
    }
}

impl<S: GlobalAlloc> Heap<S> {
    /// A heap over `small` with a `region`-byte region for blocks of
    /// `threshold` bytes or more.
    pub const fn new(small: S, region: usize, threshold: usize) -> Heap<S> {
        Heap {
            small,
            region,
            threshold,
            tried: AtomicBool::new(false),
            base: AtomicUsize::new(0),
            large: Mutex::new(None),
        }
    }

    /// Whether `ptr` lies in the region.
    fn in_region(&self, ptr: *mut u8) -> bool {
        let base = self.base.load(Ordering::Relaxed);
        base != 0 && (base..base + self.region).contains(&(ptr as usize))
    }

    /// Takes the region from `small`, on the first call only.
    fn take_region(&self) {
        if self.tried.load(Ordering::Relaxed) || self.tried.swap(true, Ordering::Relaxed) {
            return;
        }
        let Ok(layout) = Layout::from_size_align(self.region, 16) else {
            return;
        };
        if self.region == 0 {
            return;
        }
        // SAFETY: a layout of non-zero size.
        let base = unsafe { self.small.alloc(layout) };
        if base.is_null() {
            return;
        }
        // SAFETY: a fresh block of `region` bytes, aligned to 16, owned by
        // this heap for its whole life (never freed).
        let region = unsafe { FixedRegion::new(base, self.region) };
        *self.lock() = Some(Dlmalloc::new_with_allocator(region));
        self.base.store(base as usize, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Dlmalloc<FixedRegion>>> {
        // Nothing panics while holding it; a poisoned lock is still sound.
        self.large.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A block from the region, or null.
    fn region_alloc(&self, layout: Layout) -> *mut u8 {
        match self.lock().as_mut() {
            // SAFETY: dlmalloc's contract is `GlobalAlloc::alloc`'s.
            Some(large) => unsafe { large.malloc(layout.size(), layout.align()) },
            None => ptr::null_mut(),
        }
    }
}

// SAFETY: blocks come from `small` or from the region's dlmalloc, and each
// is returned to the one it came from (told apart by address: the region
// is one block of `small`, so no block of `small` lies inside it).
unsafe impl<S: GlobalAlloc> GlobalAlloc for Heap<S> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.take_region();
        // SAFETY: the caller's contract.
        let small = || unsafe { self.small.alloc(layout) };
        let p = if layout.size() >= self.threshold {
            or_else(self.region_alloc(layout), small)
        } else {
            // A full heap borrows from the region rather than abort.
            or_else(small(), || self.region_alloc(layout))
        };
        if !p.is_null() {
            counts::add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        counts::sub(layout.size());
        // SAFETY: the caller's contract.
        unsafe { self.release(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` is a valid size for
        // `layout.align()`.
        let to = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY (both closures): the caller's contract.
        let in_small = || unsafe { self.small.realloc(ptr, layout, new_size) };
        let in_region = || match self.lock().as_mut() {
            // SAFETY: the caller's contract; the block is the region's.
            Some(large) => unsafe { large.realloc(ptr, layout.size(), layout.align(), new_size) },
            None => ptr::null_mut(),
        };
        // SAFETY (each arm): `ptr` is live with `layout`; a block is
        // resized by the allocator it came from, or moved.
        let p = unsafe {
            match (self.in_region(ptr), new_size >= self.threshold) {
                // Small stays small; a full heap borrows from the region.
                (false, false) => or_else(in_small(), || {
                    self.moved(ptr, layout, to, |to| self.region_alloc(to))
                }),
                // Growing past the threshold: into the region, or in place.
                (false, true) => or_else(
                    self.moved(ptr, layout, to, |to| self.region_alloc(to)),
                    in_small,
                ),
                // Large stays in the region, or leaves it when it is full.
                (true, true) => or_else(in_region(), || {
                    self.moved(ptr, layout, to, |to| self.small.alloc(to))
                }),
                // Shrinking below the threshold: out of the region, unless
                // the rest of the heap has no room.
                (true, false) => or_else(
                    self.moved(ptr, layout, to, |to| self.small.alloc(to)),
                    in_region,
                ),
            }
        };
        if !p.is_null() {
            counts::sub(layout.size());
            counts::add(new_size);
        }
        p
    }
}

impl<S: GlobalAlloc> Heap<S> {
    /// Moves a live block to a fresh one of `to` (from `alloc`) and frees
    /// it, or returns null leaving it where it is. Counts nothing.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap with layout `from`.
    unsafe fn moved(
        &self,
        ptr: *mut u8,
        from: Layout,
        to: Layout,
        alloc: impl FnOnce(Layout) -> *mut u8,
    ) -> *mut u8 {
        let new = alloc(to);
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least this
            // long; the old one is freed once.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, from.size().min(to.size()));
                self.release(ptr, from);
            }
        }
        new
    }
}

impl<S: GlobalAlloc> Heap<S> {
    /// Returns a block to the allocator it came from. Counts nothing.
    ///
    /// # Safety
    /// `ptr` is a live block of this heap with layout `layout`.
    unsafe fn release(&self, ptr: *mut u8, layout: Layout) {
        if self.in_region(ptr) {
            if let Some(large) = self.lock().as_mut() {
                // SAFETY: the caller's contract; the block is the region's.
                unsafe { large.free(ptr, layout.size(), layout.align()) };
            }
        } else {
            // SAFETY: the caller's contract; the block is `small`'s.
            unsafe { self.small.dealloc(ptr, layout) }
        }
    }
}

/// `p`, or when it is null what `then` gives.
fn or_else(p: *mut u8, then: impl FnOnce() -> *mut u8) -> *mut u8 {
    if p.is_null() {
        then()
    } else {
        p
    }
}

/// What the heap has handed out, in the browser tests (feature
/// `test-harness`); nothing is counted otherwise.
pub mod counts {
    use super::*;

    /// Bytes handed out and not freed (as requested, headers excluded).
    pub static CURRENT: AtomicUsize = AtomicUsize::new(0);
    /// The high-water mark of [`CURRENT`] (tests reset it).
    pub static PEAK: AtomicUsize = AtomicUsize::new(0);
    /// Blocks of 16 KiB or more handed out (tests reset it).
    pub static BIG: AtomicUsize = AtomicUsize::new(0);
    /// The largest block handed out (tests reset it).
    pub static BIGMAX: AtomicUsize = AtomicUsize::new(0);

    const COUNTING: bool = cfg!(feature = "test-harness");

    pub(super) fn add(size: usize) {
        if !COUNTING {
            return;
        }
        if size >= 16 * 1024 {
            BIG.fetch_add(1, Ordering::Relaxed);
            BIGMAX.fetch_max(size, Ordering::Relaxed);
        }
        let now = CURRENT.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    pub(super) fn sub(size: usize) {
        if COUNTING {
            CURRENT.fetch_sub(size, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGION: usize = 64 * 1024;
    const THRESHOLD: usize = 8 * 1024;

    fn heap() -> Heap {
        Heap::new(System, REGION, THRESHOLD)
    }

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    /// A block of `size` filled with `byte`.
    fn filled<S: GlobalAlloc>(h: &Heap<S>, size: usize, byte: u8) -> *mut u8 {
        // SAFETY: non-zero size; the block is `size` long.
        unsafe {
            let p = h.alloc(layout(size));
            assert!(!p.is_null());
            p.write_bytes(byte, size);
            p
        }
    }

    fn holds(p: *mut u8, size: usize, byte: u8) -> bool {
        // SAFETY: the tests pass live blocks at least `size` long.
        unsafe {
            std::slice::from_raw_parts(p, size)
                .iter()
                .all(|&b| b == byte)
        }
    }

    #[test]
    fn large_blocks_come_from_the_region_and_small_ones_never() {
        let h = heap();
        let small = filled(&h, 100, 1);
        assert!(
            !h.in_region(small),
            "the first block takes the region, not a place in it"
        );
        let a = filled(&h, 30 * 1024, 2);
        let b = filled(&h, THRESHOLD, 3);
        assert!(h.in_region(a) && h.in_region(b));
        // The region is busy: the next large block comes from the rest.
        let c = filled(&h, 40 * 1024, 4);
        assert!(!h.in_region(c));
        for (p, size, byte) in [(small, 100, 1), (a, 30 * 1024, 2), (b, THRESHOLD, 3)] {
            assert!(holds(p, size, byte));
            // SAFETY: live blocks of this heap with these layouts.
            unsafe { h.dealloc(p, layout(size)) };
        }
        // Freed, the region is whole again.
        let d = filled(&h, 60 * 1024, 5);
        assert!(h.in_region(d));
        // SAFETY: live blocks of this heap with these layouts.
        unsafe {
            h.dealloc(c, layout(40 * 1024));
            h.dealloc(d, layout(60 * 1024));
        }
    }

    #[test]
    fn blocks_move_in_and_out_as_they_cross_the_threshold_and_keep_their_bytes() {
        let h = heap();
        let mut p = filled(&h, 1024, 7);
        let mut size = 1024;
        // Growing: in place below the threshold, into the region past it,
        // out of it when the region is too small.
        for new in [4096, 16 * 1024, 48 * 1024, 100 * 1024] {
            // SAFETY: `p` is live with `layout(size)`.
            p = unsafe { h.realloc(p, layout(size), new) };
            assert!(!p.is_null());
            assert!(holds(p, size, 7), "{size} -> {new}");
            assert_eq!(h.in_region(p), (THRESHOLD..=REGION).contains(&new), "{new}");
            // SAFETY: `p` is live and `new` long.
            unsafe { p.add(size).write_bytes(7, new - size) };
            size = new;
        }
        // Shrinking: into the region again, then out of it below the
        // threshold.
        for new in [32 * 1024, 2048] {
            // SAFETY: `p` is live with `layout(size)`.
            p = unsafe { h.realloc(p, layout(size), new) };
            assert!(holds(p, new, 7));
            assert_eq!(h.in_region(p), new >= THRESHOLD, "{new}");
            size = new;
        }
        // SAFETY: live with this layout.
        unsafe { h.dealloc(p, layout(size)) };
    }

    /// The system allocator, refusing past `limit` bytes in use.
    struct Limited {
        limit: usize,
        used: AtomicUsize,
    }

    // SAFETY: forwards to `System`.
    unsafe impl GlobalAlloc for Limited {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if self.used.load(Ordering::Relaxed) + layout.size() > self.limit {
                return ptr::null_mut();
            }
            self.used.fetch_add(layout.size(), Ordering::Relaxed);
            // SAFETY: the caller's contract.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            self.used.fetch_sub(layout.size(), Ordering::Relaxed);
            // SAFETY: the caller's contract.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[test]
    fn a_full_heap_borrows_the_region_for_small_blocks() {
        let h = Heap::new(
            Limited {
                limit: REGION + 4096,
                used: AtomicUsize::new(0),
            },
            REGION,
            THRESHOLD,
        );
        let a = filled(&h, 4096, 1);
        assert!(!h.in_region(a));
        // The heap is full: the next small block is the region's, and
        // growing one moves it there too.
        let b = filled(&h, 1024, 2);
        assert!(h.in_region(b));
        // SAFETY: `a` is live with this layout.
        let a = unsafe { h.realloc(a, layout(4096), 6000) };
        assert!(h.in_region(a) && holds(a, 4096, 1));
        // SAFETY: live blocks with these layouts.
        unsafe {
            h.dealloc(a, layout(6000));
            h.dealloc(b, layout(1024));
        }
        // Freed, the heap's own blocks serve small ones again.
        let c = filled(&h, 4096, 3);
        assert!(!h.in_region(c));
        // SAFETY: live with this layout.
        unsafe { h.dealloc(c, layout(4096)) };
    }

    #[test]
    fn aligned_large_blocks_are_aligned() {
        let h = heap();
        let l = Layout::from_size_align(20 * 1024, 4096).unwrap();
        // SAFETY: non-zero size; freed with the same layout.
        unsafe {
            let p = h.alloc(l);
            assert!(h.in_region(p));
            assert_eq!(p as usize % 4096, 0);
            h.dealloc(p, l);
        }
    }
}
