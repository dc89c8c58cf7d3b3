//! The C library's `malloc` family on Rust's allocator (wasm32-unknown-unknown
//! only).
//!
//! wasi-libc brings its own dlmalloc. Left in, the module carries two
//! allocators (10 KB of code), each keeping free memory the other cannot
//! reuse, for the few bytes libc itself allocates (the environment at
//! start-up, locale data, `FILE`s and their buffers). Defining
//! `malloc`, `calloc`, `realloc` and `free` here makes the linker resolve
//! them to these, so wasi-libc's `dlmalloc.o` is not linked at all; its
//! internal names `__libc_malloc`, `__libc_calloc` and `__libc_free` (used
//! by the locale code and `atexit`) are defined too. If a later libc needed
//! another of its symbols, such as `aligned_alloc`, the link would fail on
//! duplicate symbols rather than mix the two allocators
//! (`scripts/build-web.sh` also fails if `dlmalloc` is in the module).
//!
//! Each block carries its size in a 16-byte header, since `free` is not
//! given one; 16 is also the alignment C expects of `malloc`
//! (`alignof(max_align_t)` on wasm32). Failure returns NULL with `errno`
//! set to ENOMEM, as C callers expect; it never aborts.
//!
//! Lua's own allocations do not come here: mlua gives the VM an allocator
//! of its own (on Rust's) that enforces the memory limit.

use std::alloc::{self, Layout};
use std::os::raw::c_int;
use std::ptr;

/// Bytes before each block: its total size (header included), padded to
/// the alignment.
const HEADER: usize = 16;
/// `alignof(max_align_t)` on wasm32.
const ALIGN: usize = 16;
/// WASI's ENOMEM (`__WASI_ERRNO_NOMEM`), not Linux's 12.
const ENOMEM: c_int = 48;

extern "C" {
    /// wasi-libc's `errno` (declared `_Thread_local`, a plain global in
    /// this single-threaded libc; it has no `__errno_location`).
    static mut errno: c_int;
}

/// The layout of a block of `size` usable bytes, or `None` if it overflows.
fn layout(size: usize) -> Option<Layout> {
    let total = size.checked_add(HEADER)?;
    Layout::from_size_align(total, ALIGN).ok()
}

/// NULL with `errno = ENOMEM`.
fn out_of_memory() -> *mut u8 {
    // SAFETY: the module is single-threaded; C reads errno only after the
    // call that set it returns.
    unsafe { errno = ENOMEM };
    ptr::null_mut()
}

/// Writes the header of a fresh block at `base` and returns its payload.
///
/// # Safety
/// `base` is null (the allocation failed) or a live allocation of
/// `layout`, which is `HEADER` or more bytes.
unsafe fn finish(base: *mut u8, layout: Layout) -> *mut u8 {
    if base.is_null() {
        return out_of_memory();
    }
    // SAFETY: the block is at least HEADER (16) bytes, aligned to 16.
    unsafe {
        base.cast::<usize>().write(layout.size());
        base.add(HEADER)
    }
}

/// The block start and layout of a payload pointer from this allocator.
///
/// # Safety
/// `p` was returned by one of these functions and not freed.
unsafe fn block(p: *mut u8) -> (*mut u8, Layout) {
    // SAFETY: the header sits HEADER bytes before every payload.
    unsafe {
        let base = p.sub(HEADER);
        let size = base.cast::<usize>().read();
        (base, Layout::from_size_align_unchecked(size, ALIGN))
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn malloc(size: usize) -> *mut u8 {
    match layout(size) {
        // SAFETY: the layout's size is at least HEADER, never zero.
        Some(l) => unsafe { finish(alloc::alloc(l), l) },
        None => out_of_memory(),
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut u8 {
    match count.checked_mul(size).and_then(layout) {
        // SAFETY: as in malloc.
        Some(l) => unsafe { finish(alloc::alloc_zeroed(l), l) },
        None => out_of_memory(),
    }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn free(p: *mut u8) {
    if p.is_null() {
        return;
    }
    // SAFETY: C's contract: `p` came from this allocator and is live.
    unsafe {
        let (base, l) = block(p);
        alloc::dealloc(base, l);
    }
}

/// C's `realloc`: NULL grows from nothing; size 0 gives a block of no
/// usable bytes, as `malloc(0)` does (wasi-libc's dlmalloc does the same).
#[unsafe(no_mangle)]
unsafe extern "C" fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() {
        // SAFETY: plain malloc.
        return unsafe { malloc(size) };
    }
    let Some(new) = layout(size) else {
        return out_of_memory();
    };
    // SAFETY: C's contract: `p` came from this allocator and is live; on
    // failure the old block is left as it was, as C requires.
    unsafe {
        let (base, old) = block(p);
        let moved = alloc::realloc(base, old, new.size());
        finish(moved, new)
    }
}

// wasi-libc's own code calls these names, which dlmalloc.o also defines.
#[unsafe(no_mangle)]
unsafe extern "C" fn __libc_malloc(size: usize) -> *mut u8 {
    // SAFETY: same contract as malloc.
    unsafe { malloc(size) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn __libc_calloc(count: usize, size: usize) -> *mut u8 {
    // SAFETY: same contract as calloc.
    unsafe { calloc(count, size) }
}

#[unsafe(no_mangle)]
unsafe extern "C" fn __libc_free(p: *mut u8) {
    // SAFETY: same contract as free.
    unsafe { free(p) }
}
