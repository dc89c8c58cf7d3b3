//! Limits on a chunk: an instruction budget, a wall-clock limit and an
//! abort check (DESIGN.md section 7, "Limits on a chunk").
//!
//! A limited chunk sets the VM's *interrupt* (the patch in
//! `lua-bind/lua/README.md`): the VM counts the instructions every thread
//! runs at its jumps, loop iterations, calls and returns, and every
//! [`PERIOD`] instructions (fewer to end a small budget exactly) calls
//! `interrupt`, which adds them to the chunk's count, reads the clock and
//! asks the abort check. Code between those points pays nothing, unlike
//! Lua's count hook, whose function Lua calls before every instruction.
//!
//! Past a limit the chunk *trips*: the interrupt sets Lua's count hook
//! (allowed at any point, as from a signal handler) on the thread it runs
//! in and the main thread, and from then on runs at every counting point
//! and sets it on whichever thread runs. The hook fires before every
//! instruction and raises an error, so a `pcall`, `xpcall`,
//! `coroutine.resume` or `__close` that catches the stop has one
//! instruction left to run before the next raise: the stop reaches the
//! embedder, whatever the chunk does. Where Lua runs code with hooks off
//! (finalizers, some `__close` handlers), the interrupt's returned message
//! is raised by the VM itself. Lua runs an `xpcall` message handler
//! for an error raised in a hook with hooks off, so the binding's `xpcall`
//! guards the handler (once tripped it is skipped), and the binding's
//! coroutine functions raise at once once tripped. Nothing is set when the
//! chunk has no limit.
//!
//! Invariants:
//! - The limits' state (`Meter`) lives in the vault and outlives the VM;
//!   the interrupt gets its address as its data, and the registry holds it
//!   (a light userdata) for the hook.
//! - The interrupt is the VM's, so it counts and checks every thread:
//!   coroutines, metamethods, message handlers. Older coroutines are
//!   armed by the binding's `coroutine.resume`, `coroutine.wrap` functions
//!   and `coroutine.close` before they run (see `arm`). A hook that fires
//!   with no tripped limit removes itself.
//! - No script hook runs during a limited chunk: Lua runs hook functions
//!   with hooks off, so one could loop past the limit. The main thread's
//!   is set aside for the chunk and put back when it ends; an older
//!   coroutine's is removed when the binding arms it; and `debug.sethook`
//!   refuses while a limit is active.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::time::Duration;

use mlua::{ffi, Function, Lua};

/// Instructions between two checks of a limited chunk. Small enough that a
/// 100 ms limit is met to well under a millisecond; large enough that a
/// check's cost (a clock read, about 25 ns natively) is a rounding error.
pub const PERIOD: u32 = 4096;

/// Limits on a chunk; `None` is no limit. Defaults per vault are
/// [`crate::VaultOptions::limits`]; a call can override them
/// ([`RunOptions::limits`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Lua VM instructions the chunk may run, counted in all its
    /// coroutines as Lua's count hook counts them (a generic `for` counts
    /// one more per iteration: `lua-bind/lua/README.md`).
    pub max_instructions: Option<u64>,
    /// Wall-clock time the chunk may run.
    pub timeout: Option<Duration>,
}

impl Limits {
    /// No limit at all.
    pub const NONE: Limits = Limits {
        max_instructions: None,
        timeout: None,
    };

    /// Each limit of `self`, or `defaults`' where `self` has none.
    pub fn or(self, defaults: Limits) -> Limits {
        Limits {
            max_instructions: self.max_instructions.or(defaults.max_instructions),
            timeout: self.timeout.or(defaults.timeout),
        }
    }

    /// Whether no limit is set.
    pub fn is_none(&self) -> bool {
        self.max_instructions.is_none() && self.timeout.is_none()
    }
}

/// Which limit stopped a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// It ran longer than [`Limits::timeout`].
    Timeout,
    /// It ran more instructions than [`Limits::max_instructions`].
    Instructions,
    /// The caller's abort check ([`RunOptions::abort`]) answered yes.
    Aborted,
}

impl LimitKind {
    /// `"timeout"`, `"instructions"` or `"aborted"` (the JS API's names).
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Timeout => "timeout",
            LimitKind::Instructions => "instructions",
            LimitKind::Aborted => "aborted",
        }
    }

    /// What the chunk sees if it looks at the error it cannot catch.
    fn message(self) -> &'static std::ffi::CStr {
        match self {
            LimitKind::Timeout => c"the chunk ran past its time limit and was stopped",
            LimitKind::Instructions => c"the chunk ran past its instruction budget and was stopped",
            LimitKind::Aborted => c"the chunk was aborted by its caller",
        }
    }
}

/// How one call runs, beyond the vault's defaults.
#[derive(Default)]
pub struct RunOptions {
    /// Overrides of the vault's default limits (a `None` field keeps the
    /// default).
    pub limits: Limits,
    /// Asked at every check; `true` stops the chunk with
    /// [`LimitKind::Aborted`]. It may run host code (the web crate reads
    /// an `AbortSignal`) but must not run Lua on this vault.
    pub abort: Option<Box<dyn Fn() -> bool>>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("limits", &self.limits)
            .field("abort", &self.abort.is_some())
            .finish()
    }
}

/// A point in time for deadlines: `Instant` natively; on wasm32 the
/// embedder's clock (`wasi_shim::set_clock`), since `Instant` panics there.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
mod clock {
    pub type Instant = std::time::Instant;

    /// `d` from now; `Ok(None)` when that is past the clock's range.
    pub fn after(d: std::time::Duration) -> Result<Option<Instant>, &'static str> {
        Ok(Instant::now().checked_add(d))
    }

    pub fn now() -> Option<Instant> {
        Some(Instant::now())
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod clock {
    use std::time::Duration;

    /// Nanoseconds of the embedder's clock.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    pub struct Instant(u64);

    impl std::ops::Add<Duration> for Instant {
        type Output = Instant;
        fn add(self, d: Duration) -> Instant {
            Instant(
                self.0
                    .saturating_add(d.as_nanos().min(u64::MAX as u128) as u64),
            )
        }
    }

    /// `d` from now, by the embedder's clock.
    pub fn after(d: Duration) -> Result<Option<Instant>, &'static str> {
        let now = now().ok_or("a time limit needs a clock, and the embedder set none")?;
        Ok(Some(now + d))
    }

    pub fn now() -> Option<Instant> {
        crate::wasi_shim::now_ns().map(Instant)
    }
}

/// A hook as Lua keeps it on a thread: function, mask, count.
type SavedHook = (Option<ffi::lua_Hook>, c_int, c_int);

/// The state of the limits of the chunk running now (one per vault).
#[derive(Default)]
pub(crate) struct Meter {
    active: Cell<bool>,
    /// Instructions between the interrupt's calls now.
    period: Cell<c_int>,
    /// Instructions the chunk has run, as of the last check.
    used: Cell<u64>,
    budget: Cell<Option<u64>>,
    deadline: Cell<Option<clock::Instant>>,
    abort: Cell<Option<Box<dyn Fn() -> bool>>>,
    tripped: Cell<Option<LimitKind>>,
    /// The main thread's hook before the chunk (a script's `debug.sethook`).
    saved: Cell<Option<SavedHook>>,
    /// The VM's main thread (set by `install`), where chunks start.
    main: Cell<Option<MainThread>>,
}

/// The main thread of the VM, valid as long as the VM.
#[derive(Clone, Copy)]
struct MainThread(*mut ffi::lua_State);

/// Registry key of the meter's address (the address of this static).
static METER_KEY: u8 = 0;

fn meter_key() -> *const c_void {
    std::ptr::addr_of!(METER_KEY).cast()
}

/// The meter of the VM `l` belongs to, or null.
///
/// # Safety
/// `l` is a live Lua state with room for one more stack slot.
unsafe fn meter_of(l: *mut ffi::lua_State) -> *const Meter {
    ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, meter_key());
    let p = ffi::lua_touserdata(l, -1);
    ffi::lua_pop(l, 1);
    p as *const Meter
}

/// The main thread of the VM `l` belongs to.
///
/// # Safety
/// As [`meter_of`].
unsafe fn main_thread(l: *mut ffi::lua_State) -> *mut ffi::lua_State {
    ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_MAINTHREAD);
    let main = ffi::lua_tothread(l, -1);
    ffi::lua_pop(l, 1);
    main
}

/// The count hook of a tripped chunk: raises the stop before every
/// instruction (see the module comment).
unsafe extern "C-unwind" fn hook(l: *mut ffi::lua_State, _ar: *mut ffi::lua_Debug) {
    // SAFETY: a hook runs with LUA_MINSTACK free slots; the meter's address
    // was registered by `install` and the meter outlives the VM (it is a
    // field of the vault dropped after the VM).
    let meter = unsafe { meter_of(l).as_ref() };
    let tripped = meter
        .filter(|m| m.active.get())
        .and_then(|m| m.tripped.get());
    let Some(kind) = tripped else {
        // A thread armed by an earlier chunk: no limit now.
        // SAFETY: removing the hook of a live thread.
        unsafe { ffi::lua_sethook(l, None, 0, 0) };
        return;
    };
    // SAFETY: `l` is live; the message is a static C string. The raise
    // unwinds only this frame, which owns nothing.
    unsafe {
        ffi::lua_pushstring(l, kind.message().as_ptr());
        ffi::lua_error(l);
    }
}

/// The VM's interrupt for a limited chunk (see the module comment):
/// counts, checks, and once tripped sets the raising count hook on the
/// running thread (and, at the trip, the main thread) and returns the
/// stop's message, which the VM raises itself where hooks cannot run (in
/// a finalizer, which Lua runs with hooks off).
unsafe extern "C-unwind" fn interrupt(
    l: *mut ffi::lua_State,
    ud: *mut c_void,
    count: c_int,
) -> *const c_char {
    // SAFETY: `ud` is the meter `start` registered, alive while the
    // interrupt is on (`finish` turns it off).
    let meter = unsafe { &*(ud as *const Meter) };
    if !meter.active.get() {
        return std::ptr::null();
    }
    if meter.tripped.get().is_none() {
        let Some(kind) = meter.check(count.max(0) as u64) else {
            let period = meter.next_period();
            if period != meter.period.get() {
                meter.period.set(period);
                // SAFETY: resets the countdown the VM just reset.
                unsafe { lua_setinterrupt(l, Some(interrupt), ud, period) };
            }
            return std::ptr::null();
        };
        meter.tripped.set(Some(kind));
        // SAFETY: as `start`; from now on every counting point arms the
        // thread that runs.
        unsafe {
            lua_setinterrupt(l, Some(interrupt), ud, 1);
            if let Some(MainThread(main)) = meter.main.get() {
                ffi::lua_sethook(main, Some(hook), ffi::LUA_MASKCOUNT, 1);
            }
        }
    }
    // SAFETY: `l` is the running thread; Lua lets an interrupt (as a
    // signal handler) set its hook, which raises before its next
    // instruction.
    unsafe { ffi::lua_sethook(l, Some(hook), ffi::LUA_MASKCOUNT, 1) };
    meter
        .tripped
        .get()
        .map_or(std::ptr::null(), |kind| kind.message().as_ptr())
}

/// The VM's interrupt (`lua-bind/lua/lvm.c`).
type Interrupt =
    unsafe extern "C-unwind" fn(*mut ffi::lua_State, *mut c_void, c_int) -> *const c_char;

extern "C-unwind" {
    /// Sets the VM's interrupt (`None` or `period <= 0`: off); `l` is any
    /// of its threads.
    fn lua_setinterrupt(
        l: *mut ffi::lua_State,
        f: Option<Interrupt>,
        ud: *mut c_void,
        period: c_int,
    );
}

impl Meter {
    /// One check: counts `count` instructions, reads the clock, asks the
    /// abort check.
    fn check(&self, count: u64) -> Option<LimitKind> {
        let used = self.used.get().saturating_add(count);
        self.used.set(used);
        if self.budget.get().is_some_and(|b| used >= b) {
            return Some(LimitKind::Instructions);
        }
        if let Some(deadline) = self.deadline.get() {
            if clock::now().is_some_and(|now| now >= deadline) {
                return Some(LimitKind::Timeout);
            }
        }
        self.abort_asked().then_some(LimitKind::Aborted)
    }

    /// Whether the caller's abort check (if any) answers yes now.
    fn abort_asked(&self) -> bool {
        let Some(abort) = self.abort.take() else {
            return false;
        };
        let stop = abort();
        self.abort.set(Some(abort));
        stop
    }

    /// Instructions until the next check: [`PERIOD`], or what is left of
    /// the budget if less.
    fn next_period(&self) -> c_int {
        let left = self
            .budget
            .get()
            .map_or(u64::MAX, |b| b.saturating_sub(self.used.get()));
        left.clamp(1, PERIOD as u64) as c_int
    }

    /// Starts a limited chunk on the main thread (chunks start from the
    /// embedder, with no Lua code running). `Ok(false)`: nothing to limit,
    /// no hook set.
    pub(crate) fn start(
        &self,
        limits: Limits,
        abort: Option<Box<dyn Fn() -> bool>>,
    ) -> Result<bool, String> {
        if limits.is_none() && abort.is_none() {
            return Ok(false);
        }
        if limits.max_instructions == Some(0) {
            return Err("the instruction budget must be at least 1".into());
        }
        let deadline = match limits.timeout {
            None => None,
            Some(t) => clock::after(t)?,
        };
        self.used.set(0);
        self.budget.set(limits.max_instructions);
        let period = self.next_period();
        self.period.set(period);
        self.deadline.set(deadline);
        self.abort.set(abort);
        self.tripped.set(None);
        self.active.set(true);
        if self.abort_asked() {
            self.tripped.set(Some(LimitKind::Aborted));
        }
        let Some(MainThread(main)) = self.main.get() else {
            self.finish();
            return Err("the limits were not installed on this VM".into());
        };
        // SAFETY: `main` is the live main thread of the vault's VM (the
        // meter lives as long as the VM, and `finish` turns the interrupt
        // off before the chunk's caller can drop either); reading and
        // setting a thread's hook or the VM's interrupt touches no stack
        // and raises nothing.
        unsafe {
            self.saved.set(Some((
                ffi::lua_gethook(main),
                ffi::lua_gethookmask(main),
                ffi::lua_gethookcount(main),
            )));
            ffi::lua_sethook(main, None, 0, 0);
            let ud = self as *const Meter as *mut c_void;
            lua_setinterrupt(main, Some(interrupt), ud, period);
        }
        Ok(true)
    }

    /// Whether [`Meter::start`] found the chunk already aborted: such a
    /// chunk does not run at all (the caller checks [`Meter::tripped`]).
    pub(crate) fn tripped(&self) -> Option<LimitKind> {
        self.tripped.get()
    }

    /// Ends the limited chunk: the main thread gets back the hook it had,
    /// other threads' hooks remove themselves when they next fire. Returns
    /// the limit that stopped the chunk, if one did.
    pub(crate) fn finish(&self) -> Option<LimitKind> {
        self.active.set(false);
        self.abort.set(None);
        let tripped = self.tripped.take();
        if let (Some(MainThread(main)), Some((func, mask, count))) =
            (self.main.get(), self.saved.take())
        {
            // SAFETY: as in `start`; restores the hook read there.
            unsafe {
                lua_setinterrupt(main, None, std::ptr::null_mut(), 0);
                ffi::lua_sethook(main, func, mask, count);
            }
        }
        tripped
    }

    /// Whether a limit is active now.
    fn active(&self) -> bool {
        self.active.get()
    }
}

/// Arms thread `co` (about to run under the current chunk), if a limit is
/// active: once tripped with the raising hook, before that by removing a
/// script's hook (the interrupt counts every thread already).
///
/// # Safety
/// `l` is a live state with a free stack slot; `co` a thread of its VM.
unsafe fn arm(l: *mut ffi::lua_State, co: *mut ffi::lua_State) {
    let Some(meter) = meter_of(l).as_ref() else {
        return;
    };
    if !meter.active() || co.is_null() {
        return;
    }
    if meter.tripped.get().is_some() {
        ffi::lua_sethook(co, Some(hook), ffi::LUA_MASKCOUNT, 1);
    } else if ffi::lua_gethook(co).is_some() {
        ffi::lua_sethook(co, None, 0, 0);
    }
}

/// Calls upvalue 1 with all the arguments and returns all its results;
/// a yield inside passes through (the call has a continuation).
///
/// # Safety
/// `l` is the state of a C closure whose upvalue 1 is a function.
unsafe fn forward(l: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    ffi::luaL_checkstack(l, 1, std::ptr::null());
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_callk(l, n, ffi::LUA_MULTRET, 0, Some(all_results));
    ffi::lua_gettop(l)
}

/// Continuation of [`forward`] after a yield: everything on the stack.
unsafe extern "C-unwind" fn all_results(
    l: *mut ffi::lua_State,
    _status: c_int,
    _ctx: ffi::lua_KContext,
) -> c_int {
    // SAFETY: `l` is the live state the continuation runs in.
    unsafe { ffi::lua_gettop(l) }
}

/// Raises the stop again if the running chunk has tripped a limit: the
/// binding's coroutine functions do not start code once it has (Lua would
/// run a dead coroutine's `__close` handlers with hooks off).
///
/// # Safety
/// `l` is a live state with a free stack slot, in a C function.
unsafe fn raise_if_tripped(l: *mut ffi::lua_State) {
    if let Some(kind) = meter_of(l).as_ref().and_then(|m| m.tripped.get()) {
        ffi::lua_pushstring(l, kind.message().as_ptr());
        ffi::lua_error(l);
    }
}

/// `coroutine.resume` and `coroutine.close`: arm the thread, then Lua's own.
unsafe extern "C-unwind" fn arm_first_arg(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: a C function called by Lua; argument 1 is read only if it is
    // a thread, and upvalue 1 is Lua's function (see `install`).
    unsafe {
        raise_if_tripped(l);
        if ffi::lua_type(l, 1) == ffi::LUA_TTHREAD {
            arm(l, ffi::lua_tothread(l, 1));
        }
        forward(l)
    }
}

/// A function made by the binding's `coroutine.wrap`: upvalue 1 is the
/// function Lua's `wrap` made, upvalue 2 its thread.
unsafe extern "C-unwind" fn wrapped_call(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as `arm_first_arg`; upvalue 2 is a thread (see `wrap`).
    unsafe {
        raise_if_tripped(l);
        arm(l, ffi::lua_tothread(l, ffi::lua_upvalueindex(2)));
        forward(l)
    }
}

/// `xpcall`: while a limit is active, the message handler is guarded (see
/// [`guarded_handler`]); then Lua's (mlua's) own.
unsafe extern "C-unwind" fn xpcall(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as `arm_first_arg`; upvalue 1 is the original `xpcall`.
    unsafe {
        raise_if_tripped(l);
        let active = meter_of(l).as_ref().is_some_and(Meter::active);
        if active && ffi::lua_gettop(l) >= 2 {
            ffi::luaL_checkstack(l, 1, std::ptr::null());
            ffi::lua_pushvalue(l, 2);
            ffi::lua_pushcclosure(l, guarded_handler, 1);
            ffi::lua_replace(l, 2);
        }
        forward(l)
    }
}

/// A message handler that, once the chunk has tripped a limit, returns the
/// error as it is instead of running the script's handler: Lua calls a
/// handler for an error raised in a hook with hooks off, so the script's
/// could loop unchecked.
unsafe extern "C-unwind" fn guarded_handler(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as `arm_first_arg`; upvalue 1 is the script's handler.
    unsafe {
        let tripped = meter_of(l)
            .as_ref()
            .is_some_and(|m| m.tripped.get().is_some());
        if tripped {
            return ffi::lua_gettop(l);
        }
        forward(l)
    }
}

/// `coroutine.wrap`: Lua's, then the result wrapped so that each call
/// arms its thread.
unsafe extern "C-unwind" fn wrap(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: upvalue 1 is Lua's `coroutine.wrap`, whose result is a C
    // closure with the new thread as its only upvalue.
    unsafe {
        forward(l);
        ffi::lua_settop(l, 1);
        ffi::luaL_checkstack(l, 2, std::ptr::null());
        if ffi::lua_getupvalue(l, 1, 1).is_null() || ffi::lua_type(l, -1) != ffi::LUA_TTHREAD {
            // Not the shape expected: hand Lua's function back unchanged.
            ffi::lua_settop(l, 1);
            return 1;
        }
        ffi::lua_pushcclosure(l, wrapped_call, 2);
        1
    }
}

/// `debug.sethook`: Lua's, refused while a limit is active.
unsafe extern "C-unwind" fn sethook(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as `arm_first_arg`; upvalue 1 is Lua's `debug.sethook`.
    unsafe {
        let active = meter_of(l).as_ref().is_some_and(Meter::active);
        if active {
            ffi::lua_pushstring(
                l,
                c"debug.sethook is not available while the chunk runs under a limit \
                  (a time limit, an instruction budget or an abort signal)"
                    .as_ptr(),
            );
            ffi::lua_error(l);
        }
        forward(l)
    }
}

/// Registers `meter` for the hook, and replaces `xpcall`, `coroutine.resume`,
/// `coroutine.wrap`, `coroutine.close` and `debug.sethook` (if published)
/// by the binding's. Runs before the function codec is built, so the
/// replacements are stored by the standard names.
pub(crate) fn install(lua: &Lua, meter: &Meter) -> mlua::Result<()> {
    let address = meter as *const Meter as *mut c_void;
    let mut main = None;
    // SAFETY: stores a light userdata in the registry under a key no one
    // else uses and reads the main thread; pushes nothing that stays.
    unsafe {
        lua.exec_raw::<()>((), |l| {
            ffi::lua_pushlightuserdata(l, address);
            ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, meter_key());
            main = Some(MainThread(main_thread(l)));
        })?;
    }
    meter.main.set(main);
    let globals = lua.globals();
    if let Ok(original) = globals.raw_get::<Function>("xpcall") {
        globals.raw_set("xpcall", closure(lua, xpcall, original)?)?;
    }
    if let Ok(co) = globals.raw_get::<mlua::Table>("coroutine") {
        for (name, f) in [
            ("resume", arm_first_arg as ffi::lua_CFunction),
            ("close", arm_first_arg),
            ("wrap", wrap),
        ] {
            if let Ok(original) = co.raw_get::<Function>(name) {
                co.raw_set(name, closure(lua, f, original)?)?;
            }
        }
    }
    if let Ok(debug) = globals.raw_get::<mlua::Table>("debug") {
        if let Ok(original) = debug.raw_get::<Function>("sethook") {
            debug.raw_set("sethook", closure(lua, sethook, original)?)?;
        }
    }
    Ok(())
}

/// A C closure of `f` with `upvalue` as upvalue 1.
fn closure(lua: &Lua, f: ffi::lua_CFunction, upvalue: Function) -> mlua::Result<Function> {
    // SAFETY: pushes the closure over the upvalue mlua pushed; it is the
    // one result.
    unsafe {
        lua.exec_raw(upvalue, |l| {
            ffi::lua_pushcclosure(l, f, 1);
        })
    }
}
