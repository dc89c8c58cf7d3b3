//! Lua values <-> engine keys, values and assignment inputs.
//!
//! - Keys: booleans, numbers and strings. A float key with an integral
//!   value is the integer key (`t[2.0]` is `t[2]`), as in Lua; NaN and nil
//!   are refused with Lua's words when writing and read as absent.
//! - Values: integers and floats keep their subtype (`math.type`),
//!   including `-0.0`, infinities and NaN; strings are bytes.
//! - Assigning a table builds the engine [`Input`] for the whole value
//!   *before* anything is written, so a rejected assignment (a cycle, a
//!   thread, a userdata, a bad key anywhere inside) stores nothing. Plain
//!   tables are copied raw (their metatables are not stored); external
//!   tables are copied from the store; functions go through the function
//!   codec. The copy is iterative: deep tables cost heap, not stack.

use std::collections::HashSet;
use std::ffi::c_void;

use mlua::{Function, Lua, Table, Value};
use moonvault_engine::codec::{Key, Value as EValue};
use moonvault_engine::table::{EntryCursor, TableRead, MAX_INPUT_DEPTH};
use moonvault_engine::{EngineError, Input, TableId, ROOT};

use crate::failure::{lua_error_message, Failure};
use crate::function::PersistSession;
use crate::keys::{key_to_lua, path_name, with_article, write_key};
use crate::proxy::{ProxyRef, DEAD_MESSAGE};
use crate::state::Shared;

/// A stored value as a Lua value: tables as proxies, functions loaded by
/// the function codec.
pub(crate) fn value_to_lua(lua: &Lua, shared: &Shared, v: EValue) -> Result<Value, Failure> {
    Ok(match v {
        EValue::Bool(b) => Value::Boolean(b),
        EValue::Int(n) => Value::Integer(n),
        EValue::Float(x) => Value::Number(x),
        EValue::Str(s) => Value::String(lua.create_string(&s)?),
        EValue::Table(id) => Value::Table(shared.proxies.get(lua, id)?),
        f @ (EValue::Function(_) | EValue::NativeFunction(_)) => {
            let codec = shared.codec()?;
            Value::Function(codec.decode(lua, &f, &shared.resolver())?)
        }
    })
}

/// A plain Lua copy of stored table `id`: sub-tables copied, functions
/// loaded (for values leaving the store, as `table.remove` returns).
pub(crate) fn plain_copy(lua: &Lua, shared: &Shared, id: TableId) -> Result<Table, Failure> {
    let root = lua.create_table()?;
    let mut work = vec![(root.clone(), id, 1usize)];
    while let Some((target, table, depth)) = work.pop() {
        // Read one table's entries, then convert without holding the state
        // (loading a function runs Lua code).
        let entries = shared
            .tx()?
            .read(|tx| tx.entries(table).collect::<Result<Vec<_>, _>>())?;
        for (k, v) in entries {
            let value = match v {
                EValue::Table(child) => {
                    if depth >= MAX_INPUT_DEPTH {
                        return Err(Failure::Message(format!(
                            "the table nests deeper than {MAX_INPUT_DEPTH} levels"
                        )));
                    }
                    let t = lua.create_table()?;
                    work.push((t.clone(), child, depth + 1));
                    Value::Table(t)
                }
                other => value_to_lua(lua, shared, other)?,
            };
            target.raw_set(key_to_lua(lua, &k)?, value)?;
        }
    }
    Ok(root)
}

/// Where an assigned value goes (for messages and the subtree check).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Dest<'a> {
    /// `table[key]`.
    Entry { table: TableId, key: &'a Key },
    /// `Memory.<path>[key]` (the path may not exist yet).
    Path { path: &'a [Key], key: &'a Key },
}

/// An assignment's input and the bytes it holds (roughly).
#[derive(Debug)]
pub(crate) struct Converted {
    pub(crate) input: Input,
    pub(crate) bytes: usize,
}

/// Fixed per-entry overhead counted by [`Converted::bytes`]: the
/// `(Key, Input)` slot the entry takes in its table's `Vec` (64 bytes
/// natively, 32 on wasm32), as the web module's JS conversions count it.
const ENTRY_OVERHEAD: usize = std::mem::size_of::<(Key, Input)>();

/// Build the input for `dest = value` (nil deletes).
pub(crate) fn to_input(
    lua: &Lua,
    shared: &Shared,
    dest: Dest<'_>,
    value: Value,
) -> Result<Converted, Failure> {
    let mut b = Builder {
        lua,
        shared,
        dest,
        session: PersistSession::default(),
        ancestors: None,
        bytes: 0,
    };
    let input = b.build(value)?;
    Ok(Converted {
        input,
        bytes: b.bytes,
    })
}

struct Frame {
    /// The table's raw entries, converted keys first.
    entries: std::vec::IntoIter<(Key, Value)>,
    out: Vec<(Key, Input)>,
    ptr: *const c_void,
    /// Its key in the enclosing frame (None for the assigned table).
    key: Option<Key>,
}

struct Builder<'a> {
    lua: &'a Lua,
    shared: &'a Shared,
    dest: Dest<'a>,
    session: PersistSession,
    /// Ids of the destination table and its ancestors (computed when an
    /// external table is copied).
    ancestors: Option<HashSet<TableId>>,
    bytes: usize,
}

/// What one value becomes.
enum Piece {
    Done(Input),
    Table(Table),
}

impl Builder<'_> {
    fn build(&mut self, value: Value) -> Result<Input, Failure> {
        let mut stack: Vec<Frame> = Vec::new();
        let root = match self.piece(&stack, None, value)? {
            Piece::Done(input) => return Ok(input),
            Piece::Table(t) => t,
        };
        stack.push(self.frame(&stack, root, None)?);
        loop {
            let Some(top) = stack.last_mut() else {
                return Err(Failure::Message("internal error: empty copy stack".into()));
            };
            match top.entries.next() {
                Some((k, v)) => {
                    self.bytes += ENTRY_OVERHEAD + key_bytes(&k);
                    self.within_limit(&stack, Some(&k))?;
                    match self.piece(&stack, Some(&k), v)? {
                        Piece::Done(input) => {
                            if let Some(top) = stack.last_mut() {
                                top.out.push((k, input));
                            }
                        }
                        Piece::Table(t) => {
                            if stack.len() >= MAX_INPUT_DEPTH {
                                return Err(self.error(
                                    &stack,
                                    Some(&k),
                                    format!("tables nest deeper than {MAX_INPUT_DEPTH} levels"),
                                ));
                            }
                            if stack.iter().any(|f| f.ptr == t.to_pointer()) {
                                return Err(self.error(
                                    &stack,
                                    Some(&k),
                                    "the table contains itself (a cycle); only trees of tables \
                                     can be stored"
                                        .into(),
                                ));
                            }
                            let frame = self.frame(&stack, t, Some(k))?;
                            stack.push(frame);
                        }
                    }
                }
                None => {
                    let Some(done) = stack.pop() else { continue };
                    let input = Input::Table(done.out);
                    match (stack.last_mut(), done.key) {
                        (Some(parent), Some(k)) => parent.out.push((k, input)),
                        _ => return Ok(input),
                    }
                }
            }
        }
    }

    /// A frame for plain table `t`, its keys converted (a bad key is
    /// reported with its path).
    fn frame(&mut self, stack: &[Frame], t: Table, key: Option<Key>) -> Result<Frame, Failure> {
        let mut raw: Vec<(Value, Value)> = Vec::new();
        t.for_each(|k: Value, v: Value| {
            raw.push((k, v));
            Ok(())
        })?;
        let mut entries = Vec::with_capacity(raw.len());
        for (k, v) in raw {
            match write_key(&k) {
                Ok(key) => entries.push((key, v)),
                Err(why) => {
                    let mut probe: Vec<Key> = frame_keys(stack);
                    if let Some(k) = &key {
                        probe.push(k.clone());
                    }
                    return Err(Failure::Message(format!(
                        "{}: {why}",
                        self.path_message(&probe, None)
                    )));
                }
            }
        }
        Ok(Frame {
            entries: entries.into_iter(),
            out: Vec::new(),
            ptr: t.to_pointer(),
            key,
        })
    }

    fn piece(&mut self, stack: &[Frame], key: Option<&Key>, v: Value) -> Result<Piece, Failure> {
        let scalar = |e: EValue| Ok(Piece::Done(Input::Value(e)));
        match v {
            Value::Nil => Ok(Piece::Done(Input::Nil)),
            Value::Boolean(b) => scalar(EValue::Bool(b)),
            Value::Integer(n) => scalar(EValue::Int(n)),
            Value::Number(x) => scalar(EValue::Float(x)),
            Value::String(s) => {
                self.bytes += s.as_bytes().len();
                self.within_limit(stack, key)?;
                scalar(EValue::Str(s.as_bytes().to_vec()))
            }
            Value::Table(t) => match self.shared.proxies.lookup_table(&t) {
                ProxyRef::NotProxy => Ok(Piece::Table(t)),
                ProxyRef::Dead => Err(self.error(stack, key, DEAD_MESSAGE.into())),
                ProxyRef::Live(id) => self.copy_stored(stack, key, id).map(Piece::Done),
            },
            Value::Function(f) => self.function(stack, key, &f).map(Piece::Done),
            other => Err(self.error(
                stack,
                key,
                format!(
                    "cannot store {} (stored values are nil, booleans, numbers, strings, \
                     tables and functions)",
                    with_article(other.type_name())
                ),
            )),
        }
    }

    fn function(
        &mut self,
        stack: &[Frame],
        key: Option<&Key>,
        f: &Function,
    ) -> Result<Input, Failure> {
        let codec = self.shared.codec()?;
        match codec.encode(self.lua, f, &mut self.session, &self.shared.resolver()) {
            Ok(v) => {
                self.bytes += v.encoded_len();
                Ok(Input::Value(v))
            }
            Err(e) => Err(self.error(stack, key, lua_error_message(&e))),
        }
    }

    /// The content of stored table `id`, refusing a copy into its own
    /// subtree.
    fn copy_stored(
        &mut self,
        stack: &[Frame],
        key: Option<&Key>,
        id: TableId,
    ) -> Result<Input, Failure> {
        if self.ancestors.is_none() {
            let set = self.dest_ancestors()?;
            self.ancestors = Some(set);
        }
        if self.ancestors.as_ref().is_some_and(|a| a.contains(&id)) {
            let source = {
                let mut tx = self.shared.tx()?;
                tx.read(|tx| tx.table_path(id))?
            };
            return Err(self.error(
                stack,
                key,
                format!("cannot copy {} into its own subtree", path_name(&source)),
            ));
        }
        let budget = self.shared.options.assign_limit.saturating_sub(self.bytes);
        let copied = {
            let mut tx = self.shared.tx()?;
            tx.read(|tx| {
                if !tx.table_exists(id)? {
                    return Err(EngineError::InvalidArgument(DEAD_MESSAGE.into()));
                }
                stored_input(tx, id, budget)
            })?
        };
        match copied {
            Some((input, bytes)) => {
                self.bytes += bytes;
                Ok(input)
            }
            None => Err(self.too_large(stack, key)),
        }
    }

    /// An error once the copy holds more than the assignment limit
    /// ([`VaultOptions::assign_limit`](crate::VaultOptions::assign_limit)):
    /// the copy lives outside the Lua heap's cap, and in the browser's
    /// 2 MiB module an unbounded one would abort it.
    fn within_limit(&self, stack: &[Frame], key: Option<&Key>) -> Result<(), Failure> {
        if self.bytes <= self.shared.options.assign_limit {
            return Ok(());
        }
        Err(self.too_large(stack, key))
    }

    /// The error of a copy past the assignment limit.
    fn too_large(&self, stack: &[Frame], key: Option<&Key>) -> Failure {
        let limit = self.shared.options.assign_limit;
        self.error(
            stack,
            key,
            format!(
                "the assigned value is too large to copy in one assignment (more than {limit} \
                 bytes); assign it in parts, e.g. one record or sub-table at a time"
            ),
        )
    }

    /// The destination table and its ancestors (for a path destination,
    /// the tables of the path that exist).
    fn dest_ancestors(&self) -> Result<HashSet<TableId>, Failure> {
        let mut tx = self.shared.tx()?;
        let set = tx.read(|tx| {
            let mut set = HashSet::new();
            set.insert(ROOT);
            match self.dest {
                Dest::Entry { table, .. } => {
                    let mut cur = table;
                    while cur != ROOT && set.insert(cur) {
                        match tx.parent(cur)? {
                            Some((p, _)) => cur = p,
                            None => break,
                        }
                    }
                }
                Dest::Path { path, .. } => {
                    let mut cur = ROOT;
                    for k in path {
                        match tx.get(cur, k)? {
                            Some(EValue::Table(t)) => {
                                set.insert(t);
                                cur = t;
                            }
                            _ => break,
                        }
                    }
                }
            }
            Ok(set)
        })?;
        Ok(set)
    }

    /// An error at the current position: the destination path, the keys
    /// of the open frames, then `key`.
    fn error(&self, stack: &[Frame], key: Option<&Key>, what: String) -> Failure {
        let inner = frame_keys(stack);
        Failure::Message(format!("{}: {what}", self.path_message(&inner, key)))
    }

    fn path_message(&self, inner: &[Key], key: Option<&Key>) -> String {
        let mut path: Vec<Key> = match self.dest {
            Dest::Entry { table, key } => {
                let base = self
                    .shared
                    .tx
                    .try_borrow_mut()
                    .ok()
                    .and_then(|mut tx| tx.read(|tx| tx.table_path(table)).ok())
                    .unwrap_or_default();
                let mut p = base;
                p.push(key.clone());
                p
            }
            Dest::Path { path, key } => {
                let mut p = path.to_vec();
                p.push(key.clone());
                p
            }
        };
        path.extend_from_slice(inner);
        if let Some(k) = key {
            path.push(k.clone());
        }
        path_name(&path)
    }
}

fn frame_keys(stack: &[Frame]) -> Vec<Key> {
    stack.iter().filter_map(|f| f.key.clone()).collect()
}

fn key_bytes(k: &Key) -> usize {
    match k {
        Key::Str(s) => s.len(),
        _ => 8,
    }
}

/// The stored table `id` as a literal (iterative), with its size; `None`
/// when the copy would hold more than `limit` bytes (counted as
/// [`Converted::bytes`] counts them). Measured first, holding nothing:
/// a copy past the limit (a whole collection assigned elsewhere) is
/// refused before any of it is built, and one within it is built knowing
/// that it fits. (Built as it was measured, the refused copy held its
/// limit's worth of entries at the moment of refusal, with their real
/// allocations well above their count.)
pub(crate) fn stored_input<R: TableRead>(
    reader: &R,
    id: TableId,
    limit: usize,
) -> Result<Option<(Input, usize)>, EngineError> {
    if copy_stored(reader, id, limit, false)?.is_none() {
        return Ok(None);
    }
    copy_stored(reader, id, limit, true)
}

/// [`stored_input`]'s walk; with `build` false it only counts (the input
/// returned is then empty).
fn copy_stored<R: TableRead>(
    reader: &R,
    id: TableId,
    limit: usize,
    build: bool,
) -> Result<Option<(Input, usize)>, EngineError> {
    struct Open {
        table: TableId,
        cursor: EntryCursor,
        out: Vec<(Key, Input)>,
        key: Option<Key>,
    }
    let mut bytes = 0;
    let mut stack = vec![Open {
        table: id,
        cursor: EntryCursor::new(id),
        out: Vec::new(),
        key: None,
    }];
    loop {
        let Some(top) = stack.last_mut() else {
            return Err(EngineError::InvalidArgument(
                "internal error: empty copy stack".into(),
            ));
        };
        match top.cursor.next(reader)? {
            Some((k, EValue::Table(child))) => {
                let parent = top.table;
                if stack.len() >= MAX_INPUT_DEPTH {
                    return Err(EngineError::InvalidArgument(format!(
                        "the copied table nests deeper than {MAX_INPUT_DEPTH} levels"
                    )));
                }
                // Follow a child only through its own parent link: each
                // table has one, so no table is copied twice, and a
                // damaged graph (one child id under many keys, which would
                // make the copy exponential) is an error, not a copy.
                if reader.parent(child)?.as_ref() != Some(&(parent, k.clone())) {
                    return Err(EngineError::corrupted(
                        "table meta",
                        format!(
                            "table {child} is stored under table {parent} at {k} but its parent \
                             link disagrees (one table reached twice)"
                        ),
                    ));
                }
                bytes += ENTRY_OVERHEAD + key_bytes(&k);
                if bytes > limit {
                    return Ok(None);
                }
                stack.push(Open {
                    table: child,
                    cursor: EntryCursor::new(child),
                    out: Vec::new(),
                    key: Some(k),
                });
            }
            Some((k, v)) => {
                bytes += ENTRY_OVERHEAD + key_bytes(&k) + v.encoded_len();
                if bytes > limit {
                    return Ok(None);
                }
                if build {
                    top.out.push((k, Input::Value(v)));
                }
            }
            None => {
                let Some(done) = stack.pop() else { continue };
                let input = Input::Table(done.out);
                match (stack.last_mut(), done.key) {
                    (Some(parent), Some(k)) if build => parent.out.push((k, input)),
                    (Some(_), Some(_)) => {}
                    _ => return Ok(Some((input, bytes))),
                }
            }
        }
    }
}
