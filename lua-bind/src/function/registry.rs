//! The C functions (and library tables) of the standard library, by name.
//!
//! Built once per VM, when the codec is created, by walking the globals
//! the standard library defines. A stored C function is just its name
//! (`"print"`, `"math.sin"`, `"package.searchers[2]"`); loading it returns
//! the running VM's own function, so `Memory.f = math.sin` then
//! `Memory.f == math.sin` holds. Library tables captured as upvalues
//! (`local math = math`) are kept by name the same way, so they stay the
//! live library instead of becoming a copy.
//!
//! Only the names below are walked, whatever else the host has put in the
//! globals by then (`Memory`, `store`, functions made with
//! `create_function`): those are not standard library and must be
//! rejected when stored, whichever order the host set things up in.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use mlua::{Function, Lua, Table, Value};

/// Global functions of Lua 5.4's base library (and `require`, from
/// `package`). `pcall`/`xpcall` are mlua's wrappers, C functions too.
const BASE_FUNCTIONS: &[&str] = &[
    "assert",
    "collectgarbage",
    "dofile",
    "error",
    "getmetatable",
    "ipairs",
    "load",
    "loadfile",
    "next",
    "pairs",
    "pcall",
    "print",
    "rawequal",
    "rawget",
    "rawlen",
    "rawset",
    "require",
    "select",
    "setmetatable",
    "tonumber",
    "tostring",
    "type",
    "warn",
    "xpcall",
];

/// Library tables of Lua 5.4 (`debug` only if the host loaded it).
const LIBRARIES: &[&str] = &[
    "coroutine",
    "debug",
    "io",
    "math",
    "os",
    "package",
    "string",
    "table",
    "utf8",
];

/// How deep below a library table the walk goes: `package.searchers[2]`
/// is depth 2.
const MAX_DEPTH: usize = 2;

/// Standard-library functions and tables of one VM, both ways.
pub(crate) struct Registry {
    fn_names: HashMap<usize, Rc<str>>,
    fns: HashMap<Rc<str>, Function>,
    table_names: HashMap<usize, Rc<str>>,
    tables: HashMap<Rc<str>, Table>,
}

impl Registry {
    /// Walks the standard library as it is in `lua`'s globals now.
    pub fn build(lua: &Lua) -> mlua::Result<Registry> {
        let mut reg = Registry {
            fn_names: HashMap::new(),
            fns: HashMap::new(),
            table_names: HashMap::new(),
            tables: HashMap::new(),
        };
        let globals = lua.globals();
        for &name in BASE_FUNCTIONS {
            if let Value::Function(f) = globals.raw_get::<Value>(name)? {
                if is_c_function(lua, &f)? {
                    reg.add_fn(name.into(), f);
                }
            }
        }
        // Breadth first, keys sorted: every function gets its shortest
        // name, and the same name in every VM.
        let mut queue: VecDeque<(String, Table, usize)> = VecDeque::new();
        for &name in LIBRARIES {
            if let Value::Table(t) = globals.raw_get::<Value>(name)? {
                if !reg.table_names.contains_key(&(t.to_pointer() as usize)) {
                    reg.add_table(name.into(), t.clone());
                    queue.push_back((name.to_owned(), t, 0));
                }
            }
        }
        while let Some((prefix, table, depth)) = queue.pop_front() {
            let mut entries: Vec<(String, Value)> = Vec::new();
            table.for_each::<Value, Value>(|k, v| {
                let key = match k {
                    Value::String(s) => match s.to_str() {
                        Ok(s) => format!("{prefix}.{s}"),
                        Err(_) => return Ok(()),
                    },
                    Value::Integer(i) => format!("{prefix}[{i}]"),
                    _ => return Ok(()),
                };
                entries.push((key, v));
                Ok(())
            })?;
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, v) in entries {
                match v {
                    Value::Function(f)
                        if is_c_function(lua, &f)?
                            && !reg.fn_names.contains_key(&(f.to_pointer() as usize)) =>
                    {
                        reg.add_fn(name.into(), f);
                    }
                    Value::Table(t) if depth < MAX_DEPTH => {
                        let p = t.to_pointer() as usize;
                        if !reg.table_names.contains_key(&p) && t != globals {
                            reg.add_table(name.clone().into(), t.clone());
                            queue.push_back((name, t, depth + 1));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(reg)
    }

    fn add_fn(&mut self, name: Rc<str>, f: Function) {
        self.fn_names.insert(f.to_pointer() as usize, name.clone());
        self.fns.insert(name, f);
    }

    fn add_table(&mut self, name: Rc<str>, t: Table) {
        self.table_names
            .insert(t.to_pointer() as usize, name.clone());
        self.tables.insert(name, t);
    }

    /// The name of a standard-library C function.
    pub fn fn_name(&self, f: &Function) -> Option<&Rc<str>> {
        self.fn_names.get(&(f.to_pointer() as usize))
    }

    /// The standard-library function called `name`.
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.fns.get(name)
    }

    /// The name of a standard-library table.
    pub fn table_name(&self, t: &Table) -> Option<&Rc<str>> {
        self.table_names.get(&(t.to_pointer() as usize))
    }

    /// The standard-library table called `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    /// Number of registered functions (for tests and stats).
    pub fn function_count(&self) -> usize {
        self.fns.len()
    }
}

/// Whether `f` is a C function (Rust functions made by mlua included).
pub(crate) fn is_c_function(lua: &Lua, f: &Function) -> mlua::Result<bool> {
    Ok(super::shape::shape(lua, f)?.is_c)
}

/// A human name for a foreign C function: its global path if it has one
/// (`store.commit`), else its address. Only used for error messages.
pub(crate) fn describe_c_function(lua: &Lua, f: &Function) -> String {
    let globals = lua.globals();
    let mut found = None;
    let _ = globals.for_each::<Value, Value>(|k, v| {
        if found.is_some() {
            return Ok(());
        }
        let Value::String(k) = k else { return Ok(()) };
        let k = k.to_string_lossy();
        match v {
            Value::Function(g) if g == *f => found = Some(k),
            Value::Table(t) => {
                let _ = t.for_each::<Value, Value>(|k2, v2| {
                    if let (None, Value::String(k2), Value::Function(g)) = (&found, k2, v2) {
                        if g == *f {
                            found = Some(format!("{k}.{}", k2.to_string_lossy()));
                        }
                    }
                    Ok(())
                });
            }
            _ => {}
        }
        Ok(())
    });
    match found {
        Some(name) => format!("C function `{name}`"),
        None => format!("an anonymous C function ({:p})", f.to_pointer()),
    }
}
