//! The read cache of external tables: values already read in the open
//! transaction, kept on the Lua side so that a repeated read
//! (`for i = 1, n do s = s + u.age end`) is two table lookups in the
//! `__index` metamethod instead of a call into Rust, a B-tree descent and a
//! decode.
//!
//! Layout: a proxy whose values are cached is *hot*: it gets a metatable
//! of its own whose `__index` is a table of its cached values, and that
//! table's `__index` is the call into Rust (its owner proxy sits in it
//! under a key no script can name: the shared proxy metatable). So a hit is
//! what a plain table's `__index` chain costs, with no function call. The
//! other metamethods, `__metatable = false` and a `__proxy` mark (for the
//! dispatchers of `next`/`table.*`, proxy/dispatch.rs) are the shared
//! metatable's. Reading a packed record caches every field at once, since
//! the record came whole. At most [`HOT_PROXIES`] proxies are hot; clearing
//! the cache gives them back the shared metatable.
//!
//! Invalidation: every cached value was read at one version of the
//! transaction state (`TxState::version`, bumped by every write, savepoint
//! restore, commit and rollback). Every path that changes the state calls
//! `Shared::sync` right after, which clears the cache when the version
//! moved; a read into Rust checks it as well. So a hit never returns a
//! value older than the last write, rollback or `store.commit()`, and a
//! proxy of a deleted table is never answered from the cache (its deletion
//! was a write).
//!
//! What is cached: booleans, numbers, strings, and external tables (as
//! their proxies). Functions are not (each read loads the stored function
//! anew, as before). Absent keys are not (a miss goes to Rust, which also
//! checks that the table still exists).
//!
//! Memory: at most [`CACHE_VALUES`] values in at most [`HOT_PROXIES`]
//! proxies (a metatable and a value table each, ~400 bytes); past either
//! the cache starts over. It lives on the Lua heap, so it counts against
//! the heap limit; an insertion that fails (out of memory) empties the
//! cache instead of failing the read.

use std::cell::{Cell, RefCell};

use std::ffi::c_int;

use mlua::{ffi, Lua, Table, Value};
use moonvault_engine::codec::{Key, Record, Value as EValue};

/// Most values cached at once (a few tens of KiB of Lua heap).
pub(crate) const CACHE_VALUES: usize = 1024;

/// Most proxies with cached values at once.
pub(crate) const HOT_PROXIES: usize = 64;

/// The metamethods a hot proxy's own metatable shares with the shared one.
const SHARED_FIELDS: [&str; 4] = ["__newindex", "__len", "__pairs", "__metatable"];

/// The cache of one VM.
pub(crate) struct ReadCache {
    /// The shared proxy metatable (also the key of a value table's owner).
    shared_mt: Table,
    /// The metatable of value tables: `__index` calls into Rust for the
    /// owner (set by meta.lua).
    values_mt: RefCell<Option<Table>>,
    /// Hot proxies, in the order they became hot.
    hot: RefCell<Vec<Table>>,
    /// The transaction-state version the cached values were read at.
    version: Cell<u64>,
    /// Values cached.
    count: Cell<usize>,
}

impl ReadCache {
    pub(crate) fn new(shared_mt: &Table) -> ReadCache {
        ReadCache {
            shared_mt: shared_mt.clone(),
            values_mt: RefCell::new(None),
            hot: RefCell::new(Vec::new()),
            version: Cell::new(0),
            count: Cell::new(0),
        }
    }

    /// The metatable of value tables (from meta.lua, before any read).
    pub(crate) fn set_values_metatable(&self, mt: Table) {
        *self.values_mt.borrow_mut() = Some(mt);
    }

    /// Forget everything unless it was read at `version`.
    pub(crate) fn check(&self, version: u64) {
        if self.version.get() != version {
            self.clear();
            self.version.set(version);
        }
    }

    /// Give every hot proxy back the shared metatable.
    fn clear(&self) {
        let Ok(mut hot) = self.hot.try_borrow_mut() else {
            return;
        };
        for proxy in hot.drain(..) {
            // Cannot fail: the shared metatable is a table.
            let _ = proxy.set_metatable(Some(self.shared_mt.clone()));
        }
        self.count.set(0);
    }

    /// Make room for `n` more values (starting over when full).
    fn reserve(&self, n: usize) -> bool {
        if n > CACHE_VALUES {
            return false;
        }
        if self.count.get() + n > CACHE_VALUES {
            self.clear();
        }
        self.count.set(self.count.get() + n);
        true
    }

    /// Run `fill` on the value table of `proxy` (making the proxy hot when
    /// it is not), all in one protected call into Lua: the raw API's sets
    /// cost a fraction of mlua's, which protect each one alone. The pair
    /// `extra` is pushed after the proxy, the shared metatable and the
    /// value tables' metatable, so `fill` finds it at stack slots
    /// [`EXTRA`] and `EXTRA + 1`; it gets the value table's slot.
    ///
    /// The proxy's metatable is set last, when nothing can fail any more:
    /// a proxy is hot exactly when it is in `hot`, even after an error
    /// (out of memory), which leaves the cache to be cleared.
    fn fill_values(
        &self,
        lua: &Lua,
        proxy: &Table,
        extra: (&Value, &Value),
        fill: impl FnOnce(*mut ffi::lua_State, c_int),
    ) -> mlua::Result<()> {
        if self.hot.borrow().len() >= HOT_PROXIES {
            self.clear();
        }
        let values_mt = self.values_mt.borrow().clone();
        // SAFETY: exec_raw pushes the arguments (slots 1..), runs the
        // closure in protected mode and reads the one boolean it leaves.
        // The closure owns nothing: a Lua error (out of memory) unwinds
        // through it with longjmp. Every push is within the stack room
        // checked first.
        let made_hot: bool = unsafe {
            lua.exec_raw(
                (proxy, &self.shared_mt, values_mt, extra.0, extra.1),
                |state| {
                    ffi::luaL_checkstack(state, 8, std::ptr::null());
                    let args = ffi::lua_gettop(state);
                    let hot = ffi::lua_getmetatable(state, PROXY) != 0
                        && ffi::lua_rawequal(state, -1, SHARED_MT) == 0;
                    if hot {
                        push_name(state, "__index");
                        ffi::lua_rawget(state, -2);
                        fill(state, ffi::lua_gettop(state));
                        ffi::lua_settop(state, 0);
                        ffi::lua_pushboolean(state, 0);
                        return;
                    }
                    ffi::lua_settop(state, args);
                    // The value table: the values first (a key inserted
                    // first takes its main position in the hash, so the
                    // hit stays one probe), then its owner under the
                    // shared metatable, and the value tables' metatable.
                    ffi::lua_createtable(state, 0, 4);
                    let values = ffi::lua_gettop(state);
                    fill(state, values);
                    ffi::lua_pushvalue(state, SHARED_MT);
                    ffi::lua_pushvalue(state, PROXY);
                    ffi::lua_rawset(state, values);
                    ffi::lua_pushvalue(state, VALUES_MT);
                    ffi::lua_setmetatable(state, values);
                    // The proxy's own metatable, `__index` first (every
                    // hit looks it up).
                    ffi::lua_createtable(state, 0, SHARED_FIELDS.len() as c_int + 2);
                    let own = ffi::lua_gettop(state);
                    push_name(state, "__index");
                    ffi::lua_pushvalue(state, values);
                    ffi::lua_rawset(state, own);
                    for name in SHARED_FIELDS {
                        push_name(state, name);
                        ffi::lua_pushvalue(state, -1);
                        ffi::lua_rawget(state, SHARED_MT);
                        ffi::lua_rawset(state, own);
                    }
                    push_name(state, "__proxy");
                    ffi::lua_pushvalue(state, SHARED_MT);
                    ffi::lua_rawset(state, own);
                    ffi::lua_setmetatable(state, PROXY);
                    ffi::lua_settop(state, 0);
                    ffi::lua_pushboolean(state, 1);
                },
            )
        }?;
        if made_hot {
            self.hot.borrow_mut().push(proxy.clone());
        }
        Ok(())
    }

    /// Remember `proxy[key] == value`, read at `version`.
    pub(crate) fn put(&self, lua: &Lua, version: u64, proxy: &Table, key: &Value, value: &Value) {
        self.check(version);
        if !cacheable(value) || matches!(key, Value::Nil) || !self.reserve(1) {
            return;
        }
        let stored = self.fill_values(lua, proxy, (key, value), |state, values| {
            // SAFETY: slots EXTRA and EXTRA + 1 hold the key and the value
            // (fill_values' arguments); rawset pops the two copies.
            unsafe {
                ffi::lua_pushvalue(state, EXTRA);
                ffi::lua_pushvalue(state, EXTRA + 1);
                ffi::lua_rawset(state, values);
            }
        });
        if stored.is_err() {
            self.clear();
        }
    }

    /// Remember every field of packed record `record`, whose proxy is
    /// `proxy`, read at `version`.
    pub(crate) fn put_record(&self, lua: &Lua, version: u64, proxy: &Table, record: &Record) {
        self.check(version);
        if !self.reserve(record.fields.len()) {
            return;
        }
        let stored = self.fill_values(lua, proxy, (&Value::Nil, &Value::Nil), |state, values| {
            for (k, v) in &record.fields {
                // SAFETY: each pair pushes two values (within the room
                // fill_values checked) and rawset pops them; the pushes
                // copy the bytes they are given.
                unsafe {
                    match v {
                        EValue::Bool(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
                        EValue::Int(n) => ffi::lua_pushinteger(state, *n),
                        EValue::Float(x) => ffi::lua_pushnumber(state, *x),
                        EValue::Str(s) => push_bytes(state, s),
                        // Packed records hold scalars only.
                        _ => continue,
                    }
                    match k {
                        Key::Bool(b) => ffi::lua_pushboolean(state, c_int::from(*b)),
                        Key::Int(n) => ffi::lua_pushinteger(state, *n),
                        Key::Float(x) => ffi::lua_pushnumber(state, *x),
                        Key::Str(s) => push_bytes(state, s),
                    }
                    ffi::lua_insert(state, -2);
                    ffi::lua_rawset(state, values);
                }
            }
        });
        if stored.is_err() {
            self.clear();
        }
    }
}

/// Stack slots of [`ReadCache::fill_values`]' arguments.
const PROXY: c_int = 1;
const SHARED_MT: c_int = 2;
const VALUES_MT: c_int = 3;
const EXTRA: c_int = 4;

/// Push `bytes` as a Lua string.
///
/// # Safety
/// `state` must have room for one more value.
unsafe fn push_bytes(state: *mut ffi::lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
}

/// Push the metamethod name `name`.
///
/// # Safety
/// As [`push_bytes`].
unsafe fn push_name(state: *mut ffi::lua_State, name: &str) {
    push_bytes(state, name.as_bytes());
}

/// Whether a read value may be served from the cache.
fn cacheable(v: &Value) -> bool {
    matches!(
        v,
        Value::Boolean(_)
            | Value::Integer(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Table(_)
    )
}
