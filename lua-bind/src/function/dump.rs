//! Encoding: a Lua function and everything its upvalues reach, into one
//! payload.
//!
//! The walk is iterative: objects (closures and plain tables) get an
//! index when first seen and are written in index order, so deep or
//! cyclic graphs need no recursion and a value seen twice is written once
//! and referenced. Each object remembers how it was reached, only to name
//! the place of an unstorable value in the error.

use std::collections::HashMap;

use mlua::{Function, Lua, Table, Value as LuaValue};
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
    if is_c_function(f) {
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
                let (kind, code) =
                    match self.codec.sources.raw_get::<Option<mlua::LuaString>>(&f)? {
                        Some(src) => (CodeKind::Source, src.as_bytes().to_vec()),
                        None => (CodeKind::Bytecode, f.dump(false)),
                    };
                // Lua caps upvalues at 255, so the count is a u8.
                let nups: u8 = f.info().num_upvalues;
                self.w.closure(kind, &code, nups);
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
                if is_c_function(f) {
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
