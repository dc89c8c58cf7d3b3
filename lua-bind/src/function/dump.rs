//! Encoding: a Lua function and everything its upvalues reach, into one
//! payload.
//!
//! The walk is iterative: objects (closures and plain tables) get an
//! index when first seen and are written in index order, so deep or
//! cyclic graphs need no recursion and a value seen twice is written once
//! and referenced. Each object remembers how it was reached, only to name
//! the place of an unstorable value in the error.

use std::collections::{HashMap, TryReserveError};
use std::ffi::{c_int, c_void};

use mlua::{ffi, Function, Lua, Table, Value as LuaValue};
use moonvault_engine::codec::Value;

use super::error::FunctionError;
use super::payload::{CodeKind, Val, Writer};
use super::registry::{describe_c_function, is_c_function};
use super::{FunctionCodec, PersistSession, ProxyResolver};

/// Encodes `f` (see [`FunctionCodec::encode`]).
pub(crate) fn encode(
    codec: &FunctionCodec,
    lua: &Lua,
    f: &Function,
    session: &mut PersistSession,
    proxies: &dyn ProxyResolver,
) -> mlua::Result<Value> {
    if is_c_function(lua, f)? {
        return match codec.registry.fn_name(f) {
            Some(name) => Ok(Value::NativeFunction(name.to_string())),
            None => Err(FunctionError::ForeignCFunction {
                name: describe_c_function(lua, f),
                at: String::new(),
            }
            .into()),
        };
    }
    let group = match session.group {
        Some(g) => g,
        None => {
            let g = codec.next_group();
            session.group = Some(g);
            g
        }
    };
    let mut enc = Encoder {
        codec,
        lua,
        proxies,
        session,
        globals: lua.globals(),
        w: Writer::new(group),
        objects: Vec::new(),
        index: HashMap::new(),
        cells: Vec::new(),
    };
    enc.add(Pending::Closure(f.clone()), None);
    let mut k = 0;
    while k < enc.objects.len() {
        enc.write_object(k)?;
        k += 1;
    }
    let Encoder { w, cells, .. } = enc;
    let payload = w.finish();

    let mut st = codec.state.borrow_mut();
    let st = &mut *st;
    st.stats.encodes += 1;
    // Upvalues stored here are live variables of this VM: later loads of
    // payloads of the same group join them (see share.rs), and reading the
    // payload back returns `f` itself, as a plain table field would.
    for (g, up, cell) in &cells {
        st.share.register(&mut st.weak, group, *cell, g, *up)?;
    }
    st.cache.insert(&mut st.weak, &payload, f)?;
    Ok(Value::Function(payload))
}

/// Appends `f`'s bytecode (as `string.dump(f)`) to the payload as a
/// closure object, straight from Lua's dumper: a first pass measures it, so
/// that the payload reserves it exactly, and a second writes it into the
/// payload. `Function::dump` would collect it in a buffer of its own
/// first, growing by doubling (a 124 KiB dump held 128 KiB), next to the
/// payload's copy: too much for the browser's 2 MiB module.
fn write_bytecode(lua: &Lua, f: &Function, nups: u8, w: &mut Writer) -> mlua::Result<()> {
    let len = dump(lua, f, &mut DumpSink::Measure(0))?;
    w.closure_with(CodeKind::Bytecode, len, nups, out_of_memory, |buf| {
        let start = buf.len();
        let mut sink = DumpSink::Append { buf, room: len };
        let written = dump(lua, f, &mut sink)?;
        if written != len {
            // Only a function changed between the passes could do this,
            // and nothing runs between them; never leave a short code.
            buf.truncate(start);
            return Err(mlua::Error::runtime(format!(
                "a function dumped to {len} bytes, then to {written}"
            )));
        }
        Ok(())
    })
}

/// A payload that could not grow: Lua's "not enough memory", which rolls
/// the chunk back, rather than an allocation failure, which aborts.
fn out_of_memory(e: TryReserveError) -> mlua::Error {
    mlua::Error::MemoryError(format!("persisting a function: {e}"))
}

/// Where Lua's dumper writes (see [`write_bytecode`]).
enum DumpSink<'a> {
    /// Count the bytes only.
    Measure(usize),
    /// Append to `buf`, at most `room` more bytes: past that the dump
    /// stops with an error rather than grow `buf`.
    Append { buf: &'a mut Vec<u8>, room: usize },
}

/// Runs `lua_dump` of `f` (debug information kept, as `string.dump(f)`)
/// into `sink`; returns the bytes the dump produced.
fn dump(lua: &Lua, f: &Function, sink: &mut DumpSink<'_>) -> mlua::Result<usize> {
    unsafe extern "C-unwind" fn writer(
        _: *mut ffi::lua_State,
        p: *const c_void,
        size: usize,
        ud: *mut c_void,
    ) -> c_int {
        // SAFETY: `ud` is the `DumpSink` that `dump` passes, alive for the
        // whole `lua_dump` call; `p` points at `size` bytes of the dump.
        let sink = unsafe { &mut *ud.cast::<DumpSink<'_>>() };
        let bytes: &[u8] = if size == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(p.cast::<u8>(), size) }
        };
        match sink {
            DumpSink::Measure(n) => *n += size,
            DumpSink::Append { buf, room } => {
                if size > *room {
                    return 1;
                }
                *room -= size;
                buf.extend_from_slice(bytes);
            }
        }
        0
    }
    let before = match sink {
        DumpSink::Measure(n) => *n,
        DumpSink::Append { buf, .. } => buf.len(),
    };
    let mut status = 0;
    let ud: *mut DumpSink<'_> = sink;
    // SAFETY: `exec_raw` pushes `f` and runs the closure with it on top of
    // the stack, which is what `lua_dump` dumps; Lua 5.4's dumper
    // allocates nothing and calls `writer` with `ud` only during the call.
    unsafe {
        lua.exec_raw::<()>(f, |state| {
            status = ffi::lua_dump(state, writer, ud.cast(), 0);
        })?;
    }
    if status != 0 {
        return Err(mlua::Error::runtime(
            "a function's dump outgrew the room measured for it",
        ));
    }
    let after = match sink {
        DumpSink::Measure(n) => *n,
        DumpSink::Append { buf, .. } => buf.len(),
    };
    Ok(after - before)
}

enum Pending {
    Closure(Function),
    Table(Table),
}

/// How an object was reached from its parent.
enum Edge {
    Upvalue(u8),
    Key(LuaValue),
    Metatable,
}

struct Object {
    pending: Pending,
    origin: Option<(u32, Edge)>,
}

struct Encoder<'a> {
    codec: &'a FunctionCodec,
    lua: &'a Lua,
    proxies: &'a dyn ProxyResolver,
    session: &'a mut PersistSession,
    globals: Table,
    w: Writer,
    objects: Vec<Object>,
    /// Lua object address -> object index.
    index: HashMap<usize, u32>,
    /// (closure, upvalue number, cell) of every upvalue written.
    cells: Vec<(Function, u8, u32)>,
}

impl Encoder<'_> {
    /// The index of the object at `ptr`, adding it if new.
    fn add(&mut self, pending: Pending, origin: Option<(u32, Edge)>) -> u32 {
        let ptr = match &pending {
            Pending::Closure(f) => f.to_pointer(),
            Pending::Table(t) => t.to_pointer(),
        } as usize;
        if let Some(&k) = self.index.get(&ptr) {
            return k;
        }
        let k = self.objects.len() as u32;
        self.index.insert(ptr, k);
        self.objects.push(Object { pending, origin });
        k
    }

    fn write_object(&mut self, k: usize) -> mlua::Result<()> {
        let k32 = k as u32;
        match &self.objects[k].pending {
            Pending::Closure(f) => {
                let f = f.clone();
                let nups = super::shape::shape(self.lua, &f)?.upvalues;
                match self.codec.sources.raw_get::<Option<mlua::LuaString>>(&f)? {
                    Some(src) => self
                        .w
                        .closure(CodeKind::Source, &src.as_bytes(), nups)
                        .map_err(out_of_memory)?,
                    None => write_bytecode(self.lua, &f, nups, &mut self.w)?,
                }
                for n in 1..=nups {
                    let id = self.codec.upvalues.id(&f, n)?;
                    let cell = self.session.cell(id);
                    self.w.cell(cell);
                    let v = self.codec.upvalues.get(&f, n)?;
                    self.write_value(v, k32, Edge::Upvalue(n))?;
                    self.cells.push((f.clone(), n, cell));
                }
                self.session.keep_alive.push(f);
            }
            Pending::Table(t) => {
                let t = t.clone();
                let meta = match t.metatable() {
                    None => None,
                    Some(m) => {
                        if m == self.globals || self.codec.registry.table_name(&m).is_some() {
                            return Err(FunctionError::Unpersistable {
                                type_name: "metatable that is a library or global table",
                                at: self.place(k32, Some(&Edge::Metatable)),
                            }
                            .into());
                        }
                        let mv = LuaValue::Table(m.clone());
                        if self.proxies.table_id(&mv).is_some() {
                            return Err(FunctionError::Unpersistable {
                                type_name: "metatable that is an external table",
                                at: self.place(k32, Some(&Edge::Metatable)),
                            }
                            .into());
                        }
                        Some(self.add(Pending::Table(m), Some((k32, Edge::Metatable))))
                    }
                };
                self.w.table(meta);
                // Collected first: writing calls back into Lua, which is
                // best not done from inside a `lua_next` traversal.
                let mut pairs = Vec::new();
                t.for_each::<LuaValue, LuaValue>(|key, v| {
                    pairs.push((key, v));
                    Ok(())
                })?;
                for (key, v) in pairs {
                    self.write_value(key.clone(), k32, Edge::Key(key.clone()))?;
                    self.write_value(v, k32, Edge::Key(key))?;
                }
                self.w.end_table();
            }
        }
        Ok(())
    }

    fn write_value(&mut self, v: LuaValue, parent: u32, edge: Edge) -> mlua::Result<()> {
        let val = match &v {
            LuaValue::Nil => Val::Nil,
            LuaValue::Boolean(b) => Val::Bool(*b),
            LuaValue::Integer(n) => Val::Int(*n),
            LuaValue::Number(x) => Val::Float(*x),
            LuaValue::String(s) => {
                let b = s.as_bytes();
                self.w.value(Val::Str(&b));
                return Ok(());
            }
            LuaValue::Table(t) => {
                if *t == self.globals {
                    Val::Globals
                } else if let Some(name) = self.codec.registry.table_name(t) {
                    let name = name.clone();
                    self.w.value(Val::NativeTable(&name));
                    return Ok(());
                } else if let Some(id) = self.proxies.table_id(&v) {
                    Val::Proxy(id)
                } else {
                    Val::Obj(self.add(Pending::Table(t.clone()), Some((parent, edge))))
                }
            }
            LuaValue::Function(f) => {
                if is_c_function(self.lua, f)? {
                    match self.codec.registry.fn_name(f) {
                        Some(name) => {
                            let name = name.clone();
                            self.w.value(Val::NativeFn(&name));
                            return Ok(());
                        }
                        None => {
                            return Err(FunctionError::ForeignCFunction {
                                name: describe_c_function(self.lua, f),
                                at: self.place(parent, Some(&edge)),
                            }
                            .into())
                        }
                    }
                }
                Val::Obj(self.add(Pending::Closure(f.clone()), Some((parent, edge))))
            }
            LuaValue::UserData(_) => match self.proxies.table_id(&v) {
                Some(id) => Val::Proxy(id),
                None => return Err(self.unpersistable(&v, parent, &edge)),
            },
            _ => return Err(self.unpersistable(&v, parent, &edge)),
        };
        self.w.value(val);
        Ok(())
    }

    fn unpersistable(&self, v: &LuaValue, parent: u32, edge: &Edge) -> mlua::Error {
        FunctionError::Unpersistable {
            type_name: v.type_name(),
            at: self.place(parent, Some(edge)),
        }
        .into()
    }

    /// " (at upvalue `t`[\"k\"] -> upvalue `n`)": the way from the stored
    /// function to `edge` of object `k`.
    fn place(&self, mut k: u32, edge: Option<&Edge>) -> String {
        let mut steps = Vec::new();
        let mut edge = edge;
        loop {
            let obj = &self.objects[k as usize];
            if let Some(e) = edge {
                steps.push(self.step(obj, e));
            }
            match &obj.origin {
                Some((parent, e)) => {
                    k = *parent;
                    edge = Some(e);
                }
                None => break,
            }
        }
        if steps.is_empty() {
            return String::new();
        }
        steps.reverse();
        let mut out = String::from(" (at ");
        for (i, s) in steps.iter().enumerate() {
            if i > 0 && s.starts_with("upvalue") {
                out.push_str(" -> ");
            }
            out.push_str(s);
        }
        out.push(')');
        out
    }

    fn step(&self, obj: &Object, e: &Edge) -> String {
        match (e, &obj.pending) {
            (Edge::Upvalue(n), Pending::Closure(f)) => {
                let name = self
                    .codec
                    .upvalues
                    .name(f, *n)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| format!("#{n}"));
                format!("upvalue `{name}`")
            }
            (Edge::Key(LuaValue::String(s)), _) => format!("[{:?}]", s.to_string_lossy()),
            (Edge::Key(LuaValue::Integer(i)), _) => format!("[{i}]"),
            (Edge::Key(LuaValue::Number(x)), _) => format!("[{x}]"),
            (Edge::Key(LuaValue::Boolean(b)), _) => format!("[{b}]"),
            (Edge::Key(k), _) => format!("[<{}>]", k.type_name()),
            (Edge::Metatable, _) => "<metatable>".to_owned(),
            (Edge::Upvalue(n), Pending::Table(_)) => format!("upvalue #{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use moonvault_engine::codec::Value;

    use super::super::payload::{parse, Object};
    use super::super::{FunctionCodec, NoProxies, PersistSession, Trust};

    #[test]
    fn a_large_function_is_dumped_straight_into_its_payload() {
        let lua = crate::new_vm(crate::DEFAULT_MEMORY_LIMIT).unwrap();
        let mut src = String::from("return function(x) local t = 0\n");
        for i in 0..3000 {
            src.push_str(&format!("if x == {i} then t = t + {i} end\n"));
        }
        src.push_str("return t end");
        let f: mlua::Function = lua.load(&src).eval().unwrap();
        let codec = FunctionCodec::new(&lua, Trust::Trusted).unwrap();
        let Value::Function(p) = codec
            .encode(&lua, &f, &mut PersistSession::new(), &NoProxies)
            .unwrap()
        else {
            panic!("a Lua function encodes as a function payload");
        };
        let expected = f.dump(false);
        assert!(expected.len() > 64 * 1024, "{} bytes", expected.len());
        match &parse(&p).unwrap().objects[0] {
            Object::Closure { code, .. } => assert!(*code == expected.as_slice()),
            other => panic!("{other:?}"),
        }
        // Reserved once, exactly: no doubling while the dump was written.
        assert!(
            p.capacity() < expected.len() + 2048,
            "{} for {}",
            p.capacity(),
            p.len()
        );
        let back: mlua::Function = codec.decode(&lua, &Value::Function(p), &NoProxies).unwrap();
        assert_eq!(back.call::<i64>(2999).unwrap(), 2999);
    }
}
