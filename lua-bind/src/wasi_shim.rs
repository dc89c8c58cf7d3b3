//! The WASI system calls wasi-libc makes, answered inside the module
//! (wasm32-unknown-unknown only).
//!
//! Lua is linked against Debian's wasi-libc, whose system-call layer calls
//! functions named `__imported_wasi_snapshot_preview1_<name>`. Defining them
//! here makes the linker resolve them locally, so the final module imports
//! nothing from WASI and needs no JS shim. The host model is deliberately
//! small:
//!
//! - fd 0 reads as empty (EOF); fds 1 and 2 are character devices whose
//!   bytes go to the sink set with [`set_output_sink`] (dropped if none);
//! - the file system is one empty, read-only preopened root `/`, so
//!   `io.open` and friends fail with plain errors ("No such file or
//!   directory" to read, "Read-only file system" to write); `os.getenv`
//!   finds nothing;
//! - time comes from the functions set with [`set_clock`] and
//!   [`set_monotonic_clock`] (none: the clock calls fail, and `os.time()`
//!   raises a Lua error); `os.clock` is the VM's own (`crate::plain_libs`),
//!   on the monotonic clock;
//! - randomness is a non-cryptographic PRNG (only `table.sort` pivots use
//!   it), and `exit` traps (`os.exit` is removed from the VM by
//!   [`crate::new_vm`], so only C code could call it).
//!
//! Signatures follow wasi-libc's declarations (`int32_t` for every pointer,
//! size and fd; `int64_t` for offsets, rights and timestamps). The wasm
//! types must match exactly, or wasm-ld replaces the call with a trap.
//!
//! Rust exports every `#[no_mangle]` function from a cdylib, so these also
//! appear among the module's exports (harmless: about 1 KB, and JS calling
//! them only sees the behaviour above).
//!
//! State is thread-local: wasm32-unknown-unknown is single-threaded, and
//! the hooks are set once by the embedder at start-up.

use std::cell::{Cell, RefCell};

/// Which standard stream a chunk of output was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// fd 1: Lua's `print` and `io.write`.
    Stdout,
    /// fd 2: C-level diagnostics (`io.stderr:write`, Lua's warnings).
    Stderr,
}

/// Receives every byte Lua writes to stdout or stderr, in order.
///
/// stdout is line-buffered by libc (fds 1 and 2 report as terminals), so
/// `print` arrives as whole lines, possibly split over several calls.
pub type OutputSink = Box<dyn FnMut(Stream, &[u8])>;

thread_local! {
    static SINK: RefCell<Option<OutputSink>> = const { RefCell::new(None) };
    static CLOCK: Cell<Option<fn() -> u64>> = const { Cell::new(None) };
    static MONOTONIC: Cell<Option<fn() -> u64>> = const { Cell::new(None) };
    /// splitmix64 state for `random_get`; 0 until first seeded.
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// Routes Lua's stdout/stderr bytes to `sink` (or drops them with `None`).
/// Returns the previous sink.
///
/// From inside a running sink this changes nothing and hands `sink` back;
/// output written from inside the sink is dropped (no panic, no recursion).
pub fn set_output_sink(sink: Option<OutputSink>) -> Option<OutputSink> {
    SINK.with(|s| match s.try_borrow_mut() {
        Ok(mut slot) => std::mem::replace(&mut *slot, sink),
        // Called from inside the sink: keep the running one.
        Err(_) => sink,
    })
}

/// Sets the clock behind `os.time` and `os.date`: a function
/// returning nanoseconds since the Unix epoch (for example
/// `Date.now() * 1e6`). It also serves the monotonic clock, so it should not
/// go backwards.
pub fn set_clock(clock: fn() -> u64) {
    CLOCK.with(|c| c.set(Some(clock)));
}

/// Sets the monotonic clock: nanoseconds since some fixed start (for
/// example `performance.now() * 1e6`). It serves `os.clock()` (plain
/// Lua's processor time; a module has no processor time of its own, so
/// this counts the time since the host's start instead) and the
/// monotonic and CPU-time clocks of the C library. Without it those fall
/// back to [`set_clock`]'s clock.
pub fn set_monotonic_clock(clock: fn() -> u64) {
    MONOTONIC.with(|c| c.set(Some(clock)));
}

/// The monotonic clock in nanoseconds (see [`set_monotonic_clock`]), or
/// `None` if the embedder set no clock at all.
pub fn monotonic_ns() -> Option<u64> {
    MONOTONIC
        .with(Cell::get)
        .or_else(|| CLOCK.with(Cell::get))
        .map(|clock| clock())
}

/// The clock chunk time limits read (`limits.rs`): the monotonic clock
/// (see [`monotonic_ns`]), nanoseconds; `None` before one is set.
pub(crate) fn now_ns() -> Option<u64> {
    monotonic_ns()
}

// WASI errno values (wasi_snapshot_preview1).
const SUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EINVAL: i32 = 28;
const ENOENT: i32 = 44;
const ENOSYS: i32 = 52;
const ENOTSUP: i32 = 58;
const EROFS: i32 = 69;
const ESPIPE: i32 = 70;

const OFLAGS_CREAT: i32 = 1 << 0;
const OFLAGS_TRUNC: i32 = 1 << 3;

/// The preopened root directory's fd (the first after the standard ones)
/// and name.
const ROOT_FD: i32 = 3;
const ROOT_NAME: &[u8] = b"/";

const FILETYPE_CHARACTER_DEVICE: u8 = 2;
const FILETYPE_DIRECTORY: u8 = 3;
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;

const CLOCK_REALTIME: i32 = 0;
const CLOCK_MONOTONIC: i32 = 1;
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

/// `__wasi_ciovec_t`: one buffer of a gathered write.
#[repr(C)]
struct Ciovec {
    buf: *const u8,
    len: usize,
}

/// `__wasi_iovec_t`: one buffer of a scattered read.
#[repr(C)]
struct Iovec {
    buf: *mut u8,
    len: usize,
}

/// `__wasi_fdstat_t` (24 bytes).
#[repr(C)]
struct Fdstat {
    filetype: u8,
    flags: u16,
    rights_base: u64,
    rights_inheriting: u64,
}

fn is_std(fd: i32) -> bool {
    (0..=2).contains(&fd)
}

/// # Safety
/// `iovs` points to `iovs_len` valid iovecs and `nwritten` is writable
/// (wasi-libc's contract for this call).
#[unsafe(no_mangle)]
unsafe extern "C" fn __imported_wasi_snapshot_preview1_fd_write(
    fd: i32,
    iovs: *const Ciovec,
    iovs_len: usize,
    nwritten: *mut usize,
) -> i32 {
    let stream = match fd {
        1 => Stream::Stdout,
        2 => Stream::Stderr,
        _ => return EBADF,
    };
    let mut total = 0usize;
    SINK.with(|s| {
        let mut sink = s.try_borrow_mut().ok();
        for i in 0..iovs_len {
            // SAFETY: i < iovs_len, within the array libc passed.
            let iov = unsafe { &*iovs.add(i) };
            // musl passes {NULL, 0} entries; a slice from NULL is UB.
            if iov.len == 0 {
                continue;
            }
            // SAFETY: libc guarantees buf[..len] is readable.
            let bytes = unsafe { std::slice::from_raw_parts(iov.buf, iov.len) };
            if let Some(Some(f)) = sink.as_deref_mut() {
                f(stream, bytes);
            }
            total += iov.len;
        }
    });
    // SAFETY: see the function's contract.
    unsafe { nwritten.write(total) };
    SUCCESS
}

/// # Safety
/// `iovs` points to `iovs_len` valid iovecs and `nread` is writable.
#[unsafe(no_mangle)]
unsafe extern "C" fn __imported_wasi_snapshot_preview1_fd_read(
    fd: i32,
    _iovs: *const Iovec,
    _iovs_len: usize,
    nread: *mut usize,
) -> i32 {
    if fd != 0 {
        return EBADF;
    }
    // stdin is always at end of file.
    // SAFETY: see the function's contract.
    unsafe { nread.write(0) };
    SUCCESS
}

/// Closing a standard stream succeeds and changes nothing.
#[unsafe(no_mangle)]
extern "C" fn __imported_wasi_snapshot_preview1_fd_close(fd: i32) -> i32 {
    if is_std(fd) {
        SUCCESS
    } else {
        EBADF
    }
}

/// # Safety
/// `newoffset` is writable (unused: no fd is seekable).
#[unsafe(no_mangle)]
unsafe extern "C" fn __imported_wasi_snapshot_preview1_fd_seek(
    fd: i32,
    _offset: i64,
    _whence: i32,
    _newoffset: *mut u64,
) -> i32 {
    if is_std(fd) {
        ESPIPE
    } else {
        EBADF
    }
}

/// Standard streams report as non-seekable character devices, which makes
/// libc treat them as terminals (stdout line-buffered); the root as a
/// directory.
///
/// # Safety
/// `buf` points to a writable `__wasi_fdstat_t`.
#[unsafe(no_mangle)]
unsafe extern "C" fn __imported_wasi_snapshot_preview1_fd_fdstat_get(
    fd: i32,
    buf: *mut Fdstat,
) -> i32 {
    if fd == ROOT_FD {
        // libc reads the directory's inheritable rights before every
        // `openat` and asks `path_open` for those its mode needs.
        // SAFETY: see the function's contract.
        unsafe {
            buf.write(Fdstat {
                filetype: FILETYPE_DIRECTORY,
                flags: 0,
                rights_base: u64::MAX,
                rights_inheriting: u64::MAX,
            })
        };
        return SUCCESS;
    }
    if !is_std(fd) {
        return EBADF;
    }
    let rights = if fd == 0 {
        RIGHT_FD_READ
    } else {
        RIGHT_FD_WRITE
    };
    // SAFETY: see the function's contract.
    unsafe {
        buf.write(Fdstat {
            filetype: FILETYPE_CHARACTER_DEVICE,
            flags: 0,
            rights_base: rights,
            rights_inheriting: 0,
        })
    };
    SUCCESS
}

/// Changing stream flags (e.g. O_NONBLOCK) is not supported.
#[unsafe(no_mangle)]
extern "C" fn __imported_wasi_snapshot_preview1_fd_fdstat_set_flags(fd: i32, _flags: i32) -> i32 {
    if is_std(fd) {
        ENOTSUP
    } else {
        EBADF
    }
}

/// `__wasi_prestat_t` (8 bytes): a preopened directory and its name's
/// length.
#[repr(C)]
struct Prestat {
    tag: u8,
    name_len: u32,
}

/// One preopened directory, `/` at [`ROOT_FD`], which holds nothing.
///
/// Without any, libc fails every path operation with ENOTCAPABLE before
/// asking the host, and Lua reports "Capabilities insufficient". With an
/// empty root, `io.open("x")` reads as plain Lua's does on a machine
/// without that file ("x: No such file or directory"), and writing as on
/// a read-only file system (`path_open` below).
///
/// # Safety
/// `buf` points to a writable `__wasi_prestat_t`.
#[unsafe(no_mangle)]
unsafe extern "C" fn __imported_wasi_snapshot_preview1_fd_prestat_get(
    fd: i32,
    buf: *mut Prestat,
) -> i32 {
    if fd != ROOT_FD {
        return EBADF;
    }
    // SAFETY: see the function's contract.
    unsafe {
        buf.write(Prestat {
            tag: 0,
            name_len: ROOT_NAME.len() as u32,
        })
    };
    SUCCESS
}

/// The name of the preopened root (see `fd_prestat_get`).
///
/// # Safety
/// `path[..path_len]` is writable.
#[unsafe(no_mangle)]
unsafe extern "C" fn __imported_wasi_snapshot_preview1_fd_prestat_dir_name(
    fd: i32,
    path: *mut u8,
    path_len: usize,
) -> i32 {
    if fd != ROOT_FD {
        return EBADF;
    }
    if path_len < ROOT_NAME.len() {
        return EINVAL;
    }
    // SAFETY: see the function's contract; path_len >= the name's length.
    unsafe { std::ptr::copy_nonoverlapping(ROOT_NAME.as_ptr(), path, ROOT_NAME.len()) };
    SUCCESS
}

/// No fd can be renumbered.
#[unsafe(no_mangle)]
extern "C" fn __imported_wasi_snapshot_preview1_fd_renumber(_fd: i32, _to: i32) -> i32 {
    EBADF
}

/// The root is empty and read-only: opening to read finds nothing
/// (ENOENT), opening to create, truncate or write is refused (EROFS).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the WASI signature
extern "C" fn __imported_wasi_snapshot_preview1_path_open(
    dirfd: i32,
    _dirflags: i32,
    _path: *const u8,
    _path_len: usize,
    oflags: i32,
    rights_base: u64,
    _rights_inheriting: u64,
    _fdflags: i32,
    _opened_fd: *mut i32,
) -> i32 {
    if dirfd != ROOT_FD {
        return EBADF;
    }
    if oflags & (OFLAGS_CREAT | OFLAGS_TRUNC) != 0 || rights_base & RIGHT_FD_WRITE != 0 {
        EROFS
    } else {
        ENOENT
    }
}

/// The root is empty (see `path_open`).
#[unsafe(no_mangle)]
extern "C" fn __imported_wasi_snapshot_preview1_path_remove_directory(
    _dirfd: i32,
    _path: *const u8,
    _path_len: usize,
) -> i32 {
    ENOENT
}

/// The root is empty (see `path_open`).
#[unsafe(no_mangle)]
extern "C" fn __imported_wasi_snapshot_preview1_path_rename(
    _old_dirfd: i32,
    _old_path: *const u8,
    _old_path_len: usize,
    _new_dirfd: i32,
    _new_path: *const u8,
    _new_path_len: usize,
) -> i32 {
    ENOENT
}

/// The root is empty (see `path_open`).
#[unsafe(no_mangle)]
extern "C" fn __imported_wasi_snapshot_preview1_path_unlink_file(
    _dirfd: i32,
    _path: *const u8,
    _path_len: usize,
) -> i32 {
    ENOENT
}

/// The environment is empty.
///
/// # Safety
/// `count` and `buf_size` are writable.
#[unsafe(no_mangle)]
unsafe extern "C" fn __imported_wasi_snapshot_preview1_environ_sizes_get(
    count: *mut usize,
    buf_size: *mut usize,
) -> i32 {
    // SAFETY: see the function's contract.
    unsafe {
        count.write(0);
        buf_size.write(0);
    }
    SUCCESS
}

/// The environment is empty: nothing to copy.
#[unsafe(no_mangle)]
extern "C" fn __imported_wasi_snapshot_preview1_environ_get(
    _environ: *mut *mut u8,
    _environ_buf: *mut u8,
) -> i32 {
    SUCCESS
}

/// The real-time clock reads [`set_clock`]'s clock, the others the
/// monotonic one ([`set_monotonic_clock`]).
///
/// # Safety
/// `time` is writable.
#[unsafe(no_mangle)]
unsafe extern "C" fn __imported_wasi_snapshot_preview1_clock_time_get(
    id: i32,
    _precision: u64,
    time: *mut u64,
) -> i32 {
    if !(CLOCK_REALTIME..=CLOCK_THREAD_CPUTIME_ID).contains(&id) {
        return EINVAL;
    }
    let now = if id >= CLOCK_MONOTONIC {
        monotonic_ns()
    } else {
        CLOCK.with(Cell::get).map(|clock| clock())
    };
    match now {
        Some(now) => {
            // SAFETY: see the function's contract.
            unsafe { time.write(now) };
            SUCCESS
        }
        None => ENOSYS,
    }
}

/// Fills `buf` with pseudo-random bytes (splitmix64 seeded from the clock).
///
/// wasi-libc's `arc4random`, which Lua's `table.sort` uses to pick pivots
/// on WASI, aborts if this fails, so it must succeed. Nothing here needs
/// unpredictability against an attacker: this is not a secure source.
///
/// # Safety
/// `buf[..len]` is writable.
#[unsafe(no_mangle)]
unsafe extern "C" fn __imported_wasi_snapshot_preview1_random_get(buf: *mut u8, len: usize) -> i32 {
    if len == 0 {
        return SUCCESS;
    }
    // SAFETY: see the function's contract; len > 0 so buf is not NULL.
    let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    RNG.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = CLOCK.with(Cell::get).map_or(0, |clock| clock()) | 1;
        }
        for chunk in out.chunks_mut(8) {
            let word = splitmix64(&mut s);
            chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        }
        state.set(s);
    });
    SUCCESS
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// C `exit()`: a module cannot exit, so this traps.
#[unsafe(no_mangle)]
extern "C" fn __imported_wasi_snapshot_preview1_proc_exit(code: i32) -> ! {
    panic!("C code called exit({code}) inside the Lua VM");
}
