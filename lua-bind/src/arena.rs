//! Lua heaps in a fixed region of memory, apart from the Rust heap.
//!
//! mlua allocates Lua's objects on the Rust heap and counts the bytes Lua
//! asks for against the VM's memory limit. That is a fair cap natively,
//! but in the 2 MiB web module it is not a bound on real memory: the
//! allocator adds a header and rounding to every block (10-40% on Lua's
//! small objects), and freed Lua blocks fragment the heap the engine's
//! buffers also need. A VM given an [`Arena`] instead allocates every
//! object inside the arena's region, through its own allocator instance
//! (dlmalloc, the allocator Rust's std uses on wasm32). So:
//!
//! - Lua's real footprint, headers and fragmentation included, is at most
//!   the region: the Rust heap's budget does not depend on what scripts do.
//! - A full region is an allocation failure Lua sees, a catchable "not
//!   enough memory" error, never an abort of the module.
//! - Each VM still has its own limit (`memory_limit`, counted as mlua
//!   counts it, in requested bytes), so several VMs share one arena.
//!
//! How the VM gets there: mlua creates the state with its own allocator
//! (the only way to get an owned `Lua` whose `Drop` closes the state), so
//! the objects built before [`Arena::adopt`] (the base library: about
//! 20 KiB) sit on the Rust heap. `adopt` installs the arena's allocator
//! with `lua_setallocf`; from then on new blocks come from the region, a
//! block from before is freed to the Rust heap with the layout mlua gave
//! it, and a block from before that grows moves into the region.

use std::alloc::Layout;
use std::cell::Cell;
use std::ffi::c_void;
use std::fmt;
use std::ptr;
use std::sync::Mutex;

use dlmalloc::{Allocator, Dlmalloc};
use mlua::{ffi, Lua};

/// A fixed block of memory as a dlmalloc system allocator: handed to its
/// dlmalloc whole on the first request; later requests get nothing (the
/// region never grows, nothing is released). An [`Arena`] manages one; the
/// web module's large-block heap another.
pub struct FixedRegion {
    base: *mut u8,
    len: usize,
    given: Cell<bool>,
}

impl FixedRegion {
    /// The region of `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must be memory nothing else uses, valid for reads
    /// and writes and aligned to 16, for as long as the dlmalloc given this
    /// region (or a block from it) lives.
    pub unsafe fn new(base: *mut u8, len: usize) -> FixedRegion {
        debug_assert!((base as usize).is_multiple_of(16));
        FixedRegion {
            base,
            len,
            given: Cell::new(false),
        }
    }
}

// SAFETY: the region is plain memory owned by the arena; the allocator
// that holds it is only used behind the arena's mutex.
unsafe impl Send for FixedRegion {}

// SAFETY: `alloc` hands out the region once, whole and unaliased (the arena
// owns it for its whole life); nothing is ever released or remapped.
unsafe impl Allocator for FixedRegion {
    fn alloc(&self, _size: usize) -> (*mut u8, usize, u32) {
        if self.given.replace(true) {
            return (ptr::null_mut(), 0, 0);
        }
        (self.base, self.len, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        false
    }

    fn page_size(&self) -> usize {
        4096
    }
}

/// A fixed region where Lua VMs allocate (see the module docs).
pub struct Arena {
    base: usize,
    len: usize,
    heap: Mutex<Heap>,
}

/// The region's allocator and what it has handed out, behind one lock.
struct Heap {
    alloc: Dlmalloc<FixedRegion>,
    /// Bytes handed out and not taken back, headers excluded (what the VMs
    /// asked for).
    in_use: usize,
}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("len", &self.len)
            .field("in_use", &self.in_use())
            .finish()
    }
}

impl Arena {
    /// An arena over `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must be memory nothing else uses, valid for
    /// reads and writes, and aligned to 16, for as long as the arena or a
    /// VM adopted into it lives (arenas are meant to be `'static`).
    pub unsafe fn over(base: *mut u8, len: usize) -> Arena {
        Arena {
            base: base as usize,
            len,
            heap: Mutex::new(Heap {
                alloc: Dlmalloc::new_with_allocator(FixedRegion::new(base, len)),
                in_use: 0,
            }),
        }
    }

    /// An arena over `len` fresh bytes from the Rust heap, for as long as
    /// the program runs (tests and native embedders).
    pub fn leaked(len: usize) -> &'static Arena {
        let layout = Layout::from_size_align(len.max(16), 16).expect("arena size");
        // SAFETY: a fresh allocation of `len` bytes, never freed, aligned
        // to 16; the arena is leaked along with it.
        unsafe {
            let base = std::alloc::alloc(layout);
            if base.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Box::leak(Box::new(Arena::over(base, len)))
        }
    }

    /// Size of the region in bytes.
    pub fn capacity(&self) -> usize {
        self.len
    }

    /// Bytes the VMs hold in the region (what they asked for; the
    /// allocator's headers and free space between blocks come on top).
    pub fn in_use(&self) -> usize {
        self.heap().in_use
    }

    fn heap(&self) -> std::sync::MutexGuard<'_, Heap> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn contains(&self, p: *mut c_void) -> bool {
        let a = p as usize;
        a >= self.base && a < self.base + self.len
    }

    fn malloc(&self, size: usize) -> *mut u8 {
        let mut heap = self.heap();
        // SAFETY: dlmalloc over the region; a null result is handled by
        // the caller.
        let p = unsafe { heap.alloc.malloc(size, ffi::SYS_MIN_ALIGN) };
        if !p.is_null() {
            heap.in_use += size;
        }
        p
    }

    /// # Safety
    /// `p` came from this arena's `malloc`/`realloc` with size `size`.
    unsafe fn free(&self, p: *mut u8, size: usize) {
        let mut heap = self.heap();
        // SAFETY: the caller's contract.
        unsafe { heap.alloc.free(p, size, ffi::SYS_MIN_ALIGN) };
        heap.in_use -= size;
    }

    /// # Safety
    /// `p` came from this arena's `malloc`/`realloc` with size `old`.
    unsafe fn realloc(&self, p: *mut u8, old: usize, new: usize) -> *mut u8 {
        let mut heap = self.heap();
        // SAFETY: the caller's contract; on failure the old block stays.
        let q = unsafe { heap.alloc.realloc(p, old, ffi::SYS_MIN_ALIGN, new) };
        if !q.is_null() {
            heap.in_use = heap.in_use - old + new;
        }
        q
    }

    /// Moves `lua`'s allocations into this arena (module docs) under a
    /// limit of `limit` bytes, which replaces mlua's memory limit: from
    /// here on `Lua::set_memory_limit` is unavailable and
    /// `Lua::used_memory` reads Lua's own count.
    ///
    /// Call it on a VM fresh from [`crate::new_vm`], before other code
    /// holds its allocator.
    pub fn adopt(&'static self, lua: &Lua, limit: usize) -> mlua::Result<()> {
        let used = lua.used_memory();
        let heap = Box::new(VmHeap {
            arena: self,
            used: Cell::new(used),
            limit,
        });
        // The VM's heap state lives in its app data, which mlua drops
        // after `lua_close` has freed every object through `allocate`.
        let ud = &*heap as *const VmHeap as *mut c_void;
        lua.set_app_data(heap);
        // SAFETY: `allocate` takes over every block the old allocator
        // handed out (it frees them with that allocator's layout), `ud`
        // outlives the state (above), and no allocation is in flight:
        // `exec_raw` runs while no Lua code does.
        unsafe {
            lua.exec_raw::<()>((), |state| {
                ffi::lua_setallocf(state, allocate, ud);
            })
        }
    }
}

/// One VM's account in an [`Arena`]: the allocator's `ud`.
struct VmHeap {
    arena: &'static Arena,
    /// Bytes Lua holds (requested sizes), as mlua counted them before.
    used: Cell<usize>,
    limit: usize,
}

/// Frees a block mlua's allocator made before [`Arena::adopt`].
///
/// # Safety
/// `p` was allocated by mlua's allocator with size `size`.
unsafe fn free_outside(p: *mut c_void, size: usize) {
    // SAFETY: mlua allocates with exactly this layout (its `memory.rs`).
    unsafe {
        std::alloc::dealloc(
            p as *mut u8,
            Layout::from_size_align_unchecked(size, ffi::SYS_MIN_ALIGN),
        )
    }
}

/// Lua's allocator for an adopted VM (`lua_Alloc`'s contract: `nsize` 0
/// frees, a null `ptr` allocates, and a null result leaves the old block
/// as it was).
unsafe extern "C" fn allocate(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    // SAFETY: `ud` is the VM's `VmHeap`, alive until after `lua_close`.
    let heap = unsafe { &*(ud as *const VmHeap) };
    let arena = heap.arena;
    if nsize == 0 {
        if !ptr.is_null() {
            if arena.contains(ptr) {
                // SAFETY: a block of ours, of `osize` bytes (Lua's word).
                unsafe { arena.free(ptr as *mut u8, osize) };
            } else {
                // SAFETY: a block from before the adoption.
                unsafe { free_outside(ptr, osize) };
            }
            heap.used.set(heap.used.get() - osize);
        }
        return ptr::null_mut();
    }
    // For a null `ptr`, `osize` is the kind of object, not a size.
    let old = if ptr.is_null() { 0 } else { osize };
    if nsize > old && heap.used.get() - old + nsize > heap.limit {
        return ptr::null_mut();
    }
    let new = if ptr.is_null() {
        arena.malloc(nsize)
    } else if arena.contains(ptr) {
        // SAFETY: a block of ours, of `osize` bytes.
        unsafe { arena.realloc(ptr as *mut u8, osize, nsize) }
    } else {
        // A block from before the adoption moves in.
        let q = arena.malloc(nsize);
        if !q.is_null() {
            // SAFETY: both blocks hold at least `min(osize, nsize)` bytes
            // and are distinct; the old one is then freed as mlua made it.
            unsafe {
                ptr::copy_nonoverlapping(ptr as *const u8, q, osize.min(nsize));
                free_outside(ptr, osize);
            }
        }
        q
    };
    if new.is_null() {
        return ptr::null_mut();
    }
    heap.used.set(heap.used.get() - old + nsize);
    new as *mut c_void
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(arena: &'static Arena, limit: usize) -> Lua {
        let lua = crate::new_vm(crate::DEFAULT_MEMORY_LIMIT).unwrap();
        arena.adopt(&lua, limit).unwrap();
        lua
    }

    #[test]
    fn a_full_arena_is_a_lua_error_and_the_vm_goes_on() {
        let arena = Arena::leaked(256 * 1024);
        let lua = vm(arena, 1 << 30);
        let err = lua
            .load("local t = {} for i = 1, 1e7 do t[i] = {i} end")
            .exec()
            .unwrap_err();
        assert!(err.to_string().contains("not enough memory"), "{err}");
        lua.gc_collect().unwrap();
        let n: i64 = lua
            .load("local t = {} for i = 1, 100 do t[i] = ('x'):rep(i) end return #t")
            .eval()
            .unwrap();
        assert_eq!(n, 100);
        assert!(arena.in_use() <= arena.capacity());
    }

    #[test]
    fn each_vm_has_its_own_limit_in_a_shared_arena() {
        let arena = Arena::leaked(1024 * 1024);
        let small = vm(arena, 128 * 1024);
        let big = vm(arena, 768 * 1024);
        let fill = "local t = {} for i = 1, 1e7 do t[i] = ('%08d'):format(i) end";
        let err = small.load(fill).exec().unwrap_err();
        assert!(err.to_string().contains("not enough memory"), "{err}");
        assert!(small.used_memory() <= 128 * 1024);
        // The small VM's failure left room for the other.
        big.load("big = {} for i = 1, 5000 do big[i] = ('%08d'):format(i) end")
            .exec()
            .unwrap();
        assert!(big.used_memory() > 128 * 1024);
    }

    #[test]
    fn objects_from_before_the_adoption_are_freed_and_moved() {
        let arena = Arena::leaked(512 * 1024);
        let lua = crate::new_vm(crate::DEFAULT_MEMORY_LIMIT).unwrap();
        // Built by mlua's allocator: a table that grows after the switch
        // moves into the arena; one dropped is freed on the Rust heap.
        lua.load("keep = {1, 2, 3} drop = {} for i = 1, 100 do drop[i] = i end")
            .exec()
            .unwrap();
        arena.adopt(&lua, 1 << 20).unwrap();
        let before = arena.in_use();
        let sum: i64 = lua
            .load(
                "drop = nil collectgarbage() for i = 4, 1000 do keep[i] = i end \
                 local s = 0 for _, v in ipairs(keep) do s = s + v end return s",
            )
            .eval()
            .unwrap();
        assert_eq!(sum, 500500);
        assert!(arena.in_use() > before);
        // Closing the VM gives every block back to the arena.
        drop(lua);
        assert_eq!(arena.in_use(), 0);
    }
}
