//! Persisted Lua functions and the C-function registry.
//!
//! A Lua closure is stored as its unstripped `string.dump` bytecode plus
//! the values of its upvalues, persisted recursively: scalars and strings
//! inline, plain tables inline as objects (shared references and cycles
//! kept), other closures as objects, external tables by id through the
//! [`ProxyResolver`], and standard-library functions and tables by name.
//! The VM's globals (the usual `_ENV` upvalue) are stored as a marker and
//! rebound to the loading VM's globals. The byte format is drawn in
//! `payload.rs` and in DESIGN.md, "Persisted functions".
//!
//! Invariants:
//! - Nothing read from a payload reaches `load` before the whole payload
//!   has parsed and checked (magic, version, crc32, every length, tag and
//!   object reference). Stored bytecode is loaded with mode "b" only when
//!   the codec is [`Trust::Trusted`]; source text always with mode "t".
//! - Upvalues that were one variable when stored by one
//!   [`PersistSession`] are one variable again after loading, even when
//!   their functions are loaded separately (`share.rs`).
//! - Standard-library C functions come back as the running VM's own
//!   function (identity); any other C function is refused when stored.
//! - The codec never keeps a function alive beyond its bounded cache.
//!
//! Upvalue access uses a private copy of the `debug` library that scripts
//! cannot reach (`upvalue.rs` explains the choice).

mod cache;
mod dump;
mod error;
mod load;
mod payload;
mod registry;
mod shape;
mod share;
mod trust;
pub(crate) mod upvalue;
mod weak;

use std::cell::RefCell;
use std::collections::HashMap;

use moonvault_engine::codec::Value;

pub use cache::CacheLimits;
pub use error::FunctionError;
pub use trust::Trust;

use cache::Cache;
use registry::Registry;
use share::ShareMap;
use upvalue::Upvalues;
use weak::WeakSlots;

/// What the function codec needs from the external-table layer.
pub trait ProxyResolver {
    /// The engine table id if `v` is an external-table proxy.
    fn table_id(&self, v: &mlua::Value) -> Option<u64>;
    /// The proxy for a stored table id.
    fn proxy(&self, lua: &mlua::Lua, id: u64) -> mlua::Result<mlua::Value>;
}

/// Groups the functions stored by one assignment or commit, so upvalues
/// they share are recorded as shared.
///
/// Create one per assignment (or per chunk) and pass it to every
/// [`FunctionCodec::encode`] of that unit. It keeps the closures it has
/// encoded alive until dropped: upvalue identities are addresses, and a
/// collected upvalue's address could otherwise be reused by an unrelated
/// one and be taken for shared.
#[derive(Default)]
pub struct PersistSession {
    group: Option<u64>,
    cells: HashMap<usize, u32>,
    keep_alive: Vec<mlua::Function>,
}

impl PersistSession {
    /// A new, empty session.
    pub fn new() -> PersistSession {
        PersistSession::default()
    }

    /// The cell number of the upvalue variable with identity `id`.
    fn cell(&mut self, id: usize) -> u32 {
        let next = self.cells.len() as u32;
        *self.cells.entry(id).or_insert(next)
    }
}

/// Counters, for tests and stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodecStats {
    /// Closures compiled or loaded by `load` (bytecode or source).
    pub loads: u64,
    /// `decode` calls answered from the cache.
    pub cache_hits: u64,
    /// Lua functions encoded into payloads.
    pub encodes: u64,
}

/// Mutable state, borrowed only in short scopes that never call back
/// into code that could re-enter the codec.
struct State {
    weak: WeakSlots,
    cache: Cache,
    share: ShareMap,
    /// splitmix64 state for share-group ids.
    ids: u64,
    stats: CodecStats,
}

/// Per-VM function codec: C-function registry (built from the loaded std
/// libs at VM start), cache of loaded functions (payload hash ->
/// Function, bounded), shared-upvalue rejoining.
pub struct FunctionCodec {
    trust: Trust,
    registry: Registry,
    upvalues: Upvalues,
    /// function -> source text, weak keys: functions made from source
    /// (`from_source`, or loaded from a source payload) are stored as
    /// source again.
    sources: mlua::Table,
    state: RefCell<State>,
}

impl FunctionCodec {
    /// Builds the codec for `lua`. Call it right after creating the VM
    /// ([`crate::new_vm`]): the registry records the standard library as
    /// it is then.
    pub fn new(lua: &mlua::Lua, trust: Trust) -> mlua::Result<FunctionCodec> {
        FunctionCodec::with_cache_limits(lua, trust, CacheLimits::default())
    }

    /// [`FunctionCodec::new`] with explicit cache bounds.
    pub fn with_cache_limits(
        lua: &mlua::Lua,
        trust: Trust,
        limits: CacheLimits,
    ) -> mlua::Result<FunctionCodec> {
        let registry = Registry::build(lua)?;
        let sources = lua.create_table()?;
        let meta = lua.create_table()?;
        meta.raw_set("__mode", "k")?;
        sources.set_metatable(Some(meta))?;
        let ids = seed(lua, &registry, &sources);
        Ok(FunctionCodec {
            trust,
            upvalues: Upvalues::new(lua)?,
            registry,
            sources,
            state: RefCell::new(State {
                weak: WeakSlots::new(lua)?,
                cache: Cache::new(limits),
                share: ShareMap::new(),
                ids,
                stats: CodecStats::default(),
            }),
        })
    }

    /// The codec's trust level.
    pub fn trust(&self) -> Trust {
        self.trust
    }

    /// Counters since creation.
    pub fn stats(&self) -> CodecStats {
        self.state.borrow().stats
    }

    /// Number of standard-library C functions known by name.
    pub fn registered_functions(&self) -> usize {
        self.registry.function_count()
    }

    /// Lua function -> engine value: `Value::NativeFunction(name)` for
    /// registered C functions, `Value::Function(payload)` for Lua closures
    /// (bytecode + upvalues), error for other C functions.
    /// `session` groups functions stored by one assignment/commit so shared
    /// upvalues are recorded.
    pub fn encode(
        &self,
        lua: &mlua::Lua,
        f: &mlua::Function,
        session: &mut PersistSession,
        proxies: &dyn ProxyResolver,
    ) -> mlua::Result<Value> {
        dump::encode(self, lua, f, session, proxies)
    }

    /// Engine value (`Function` / `NativeFunction`) -> callable Lua
    /// function (cached; untrusted stores refuse bytecode).
    pub fn decode(
        &self,
        lua: &mlua::Lua,
        v: &Value,
        proxies: &dyn ProxyResolver,
    ) -> mlua::Result<mlua::Function> {
        match v {
            Value::NativeFunction(name) => match self.registry.function(name) {
                Some(f) => Ok(f.clone()),
                None => Err(FunctionError::UnknownNative { name: name.clone() }.into()),
            },
            Value::Function(payload) => load::decode(self, lua, payload, proxies),
            other => Err(FunctionError::NotAFunction {
                type_name: other.type_name(),
            }
            .into()),
        }
    }

    /// `store.fn(source)`: a payload holding source text, compiled with
    /// mode "t" (allowed when untrusted). The function is the chunk, as
    /// with Lua's `load`: arguments arrive in `...`.
    pub fn from_source(
        &self,
        lua: &mlua::Lua,
        source: &str,
    ) -> mlua::Result<(mlua::Function, Value)> {
        let f = lua
            .load(source)
            .set_name(load::SOURCE_CHUNK_NAME)
            .set_mode(mlua::chunk::ChunkMode::Text)
            .into_function()?;
        self.state.borrow_mut().stats.loads += 1;
        self.sources.raw_set(&f, source)?;
        let v = dump::encode(self, lua, &f, &mut PersistSession::new(), &NoProxies)?;
        Ok((f, v))
    }

    /// A fresh share-group id (splitmix64 over a per-codec seed).
    fn next_group(&self) -> u64 {
        let mut st = self.state.borrow_mut();
        st.ids = st.ids.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = st.ids;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Whether a function payload holds Lua bytecode (any of its closures
/// stored by `string.dump` rather than as source text). The payload is
/// parsed and checked whole; a payload that does not parse is an error.
pub fn holds_bytecode(payload: &[u8]) -> Result<bool, FunctionError> {
    let parsed = payload::parse(payload)?;
    Ok(parsed.objects.iter().any(|o| {
        matches!(
            o,
            payload::Object::Closure {
                kind: payload::CodeKind::Bytecode,
                ..
            }
        )
    }))
}

/// An import check ([`moonvault_engine::export::Importer::check_functions`])
/// that accepts only functions stored as source text: what importing a
/// file one does not trust needs (Lua does not verify bytecode).
///
/// A record that does not parse is imported as it is, like any damaged
/// value: no build can load it (decoding parses the whole payload before
/// anything reaches `load`). A record of a newer function format is
/// refused: this build cannot tell what it holds, and a newer build might
/// load it.
pub fn source_only_import() -> moonvault_engine::export::FunctionCheck {
    Box::new(|p| {
        if p.starts_with(&payload::MAGIC) && p.get(4).is_some_and(|&v| v > payload::VERSION) {
            return Err(format!(
                "it is a function record of a newer format ({}) that this build cannot check",
                p[4]
            ));
        }
        match holds_bytecode(p) {
            Ok(true) => Err("it is a function stored as Lua bytecode (string.dump), \
                             which Lua loads without verifying it"
                .into()),
            Ok(false) | Err(_) => Ok(()),
        }
    })
}

/// A resolver for payloads that cannot hold proxies (source functions).
struct NoProxies;

impl ProxyResolver for NoProxies {
    fn table_id(&self, _v: &mlua::Value) -> Option<u64> {
        None
    }
    fn proxy(&self, _lua: &mlua::Lua, id: u64) -> mlua::Result<mlua::Value> {
        Err(mlua::Error::runtime(format!("no external table {id} here")))
    }
}

/// Seed for share-group ids. Groups must differ between sessions of
/// different processes (a clash would join unrelated upvalues), so the
/// seed mixes every source of variation at hand: the OS-seeded hasher
/// keys (natively), the wall clock and CPU clock as Lua sees them (on
/// wasm32 the embedder's clock), heap addresses, and a process counter.
fn seed(lua: &mlua::Lua, registry: &Registry, probe: &mlua::Table) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static CODECS: AtomicU64 = AtomicU64::new(0);

    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(CODECS.fetch_add(1, Ordering::Relaxed));
    h.write_usize(probe.to_pointer() as usize);
    h.write_usize(lua as *const mlua::Lua as usize);
    for clock in ["os.time", "os.clock"] {
        if let Some(f) = registry.function(clock) {
            if let Ok(t) = f.call::<f64>(()) {
                h.write_u64(t.to_bits());
            }
        }
    }
    h.finish()
}
