//! How the REPL shows a value: as Lua syntax, in the style of
//! `moonvault dump` (strings quoted with Lua escapes, floats that read back
//! as floats), with tables, external ones included, shown as their
//! contents.
//!
//! Bounded so that any value prints quickly: [`MAX_DEPTH`] levels of
//! tables, [`MAX_ENTRIES`] entries a table and [`MAX_TOTAL`] in all, the
//! rest summarised (`{...}`, `-- 12 more`). A table met again inside
//! itself is marked `<cycle>`, functions `<function>` (`<function: C>` for
//! built-ins). A table whose metatable has `__tostring` shows as its
//! `tostring`. Entries are read with `pairs` (so external tables stream
//! from the store, honouring `__pairs`); keys are sorted (integers, then
//! strings, then the rest) so a plain table prints the same every time.

use moonvault_lua_bind::mlua::{self, Function, Lua, Table, Value};

use crate::dump::{lua_float, lua_string};

/// Nesting levels shown; deeper tables print as `{...}`.
pub const MAX_DEPTH: usize = 4;
/// Entries shown per table.
pub const MAX_ENTRIES: usize = 50;
/// Entries shown in all, per value printed.
pub const MAX_TOTAL: usize = 500;
/// Entries past the bounds counted before the walk of a table stops.
const MORE_COUNTED: usize = 10 * MAX_ENTRIES;
/// A table that fits on a line of this width prints on one line.
const LINE: usize = 72;

/// `values` as the REPL prints them: each formatted, tab-separated.
pub fn show(lua: &Lua, values: &[Value]) -> mlua::Result<String> {
    let pairs: Function = lua.globals().raw_get("pairs")?;
    let mut p = Printer {
        pairs,
        path: Vec::new(),
        total: 0,
    };
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        out.push(p.value(v, 0)?);
    }
    Ok(out.join("\t"))
}

struct Printer {
    pairs: Function,
    /// Tables being printed, outermost first (for cycles).
    path: Vec<usize>,
    total: usize,
}

impl Printer {
    fn value(&mut self, v: &Value, indent: usize) -> mlua::Result<String> {
        Ok(match v {
            Value::Nil => "nil".into(),
            Value::Boolean(b) => b.to_string(),
            Value::Integer(i64::MIN) => "math.mininteger".into(),
            Value::Integer(n) => n.to_string(),
            Value::Number(x) => lua_float(*x),
            Value::String(s) => lua_string(&s.as_bytes()),
            Value::Function(f) => {
                if f.info().what == "C" {
                    "<function: C>".into()
                } else {
                    "<function>".into()
                }
            }
            Value::Table(t) => self.table(t, indent)?,
            other => other.to_string()?,
        })
    }

    fn table(&mut self, t: &Table, indent: usize) -> mlua::Result<String> {
        let id = t.to_pointer() as usize;
        if self.path.contains(&id) {
            return Ok("<cycle>".into());
        }
        if let Some(meta) = t.metatable() {
            if meta.raw_get::<Value>("__tostring")? != Value::Nil {
                return Value::Table(t.clone()).to_string();
            }
        }
        if self.path.len() >= MAX_DEPTH {
            return Ok("{...}".into());
        }
        let (mut entries, more) = self.entries(t)?;
        sort_keys(&mut entries);
        self.path.push(id);
        let mut items = Vec::with_capacity(entries.len());
        let mut next_index = 1;
        for (k, v) in &entries {
            let value = self.value(v, indent + 2)?;
            let item = match k {
                Value::Integer(i) if *i == next_index => {
                    next_index += 1;
                    value
                }
                _ => format!("{} = {value}", key(k)),
            };
            items.push(item);
        }
        self.path.pop();
        if more > 0 {
            let plus = if more >= MORE_COUNTED { "+" } else { "" };
            items.push(format!("-- {more}{plus} more"));
        }
        if items.is_empty() {
            return Ok("{}".into());
        }
        let one_line = format!("{{{}}}", items.join(", "));
        let fits = one_line.len() + indent <= LINE && !one_line.contains('\n') && more == 0;
        if fits {
            return Ok(one_line);
        }
        let pad = " ".repeat(indent + 2);
        let mut out = String::from("{\n");
        for (i, item) in items.iter().enumerate() {
            out.push_str(&pad);
            out.push_str(item);
            // The summary comment (always last when present) takes none.
            if !(more > 0 && i + 1 == items.len()) {
                out.push(',');
            }
            out.push('\n');
        }
        out.push_str(&" ".repeat(indent));
        out.push('}');
        Ok(out)
    }

    /// Up to the bounds' worth of entries, and how many more there are
    /// (counted up to a bound, so a huge table stops the walk early).
    fn entries(&mut self, t: &Table) -> mlua::Result<(Vec<(Value, Value)>, usize)> {
        let (next, state, mut control): (Function, Value, Value) = self.pairs.call(t)?;
        let mut entries = Vec::new();
        let mut more = 0usize;
        loop {
            let (k, v): (Value, Value) = next.call((&state, &control))?;
            if k == Value::Nil {
                break;
            }
            control = k.clone();
            if entries.len() < MAX_ENTRIES && self.total < MAX_TOTAL {
                self.total += 1;
                entries.push((k, v));
            } else {
                more += 1;
                if more >= MORE_COUNTED {
                    break;
                }
            }
        }
        Ok((entries, more))
    }
}

/// Integers first (ascending), then strings (bytewise), then the rest in
/// the order met.
fn sort_keys(entries: &mut [(Value, Value)]) {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Integer(_) => 0,
            Value::Number(_) => 1,
            Value::String(_) => 2,
            Value::Boolean(_) => 3,
            _ => 4,
        }
    }
    entries.sort_by(|(a, _), (b, _)| {
        rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
            (Value::Integer(x), Value::Integer(y)) => x.cmp(y),
            (Value::Number(x), Value::Number(y)) => x.total_cmp(y),
            (Value::String(x), Value::String(y)) => x.as_bytes().cmp(&y.as_bytes()),
            (Value::Boolean(x), Value::Boolean(y)) => x.cmp(y),
            _ => std::cmp::Ordering::Equal,
        })
    });
}

/// A key as written in a table constructor: `name`, `["a b"]`, `[2]`.
fn key(k: &Value) -> String {
    if let Value::String(s) = k {
        let bytes = s.as_bytes();
        if is_identifier(&bytes) {
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        return format!("[{}]", lua_string(&bytes));
    }
    let shown = match k {
        Value::Integer(n) => n.to_string(),
        Value::Number(x) => lua_float(*x),
        Value::Boolean(b) => b.to_string(),
        Value::Table(_) => "<table>".into(),
        Value::Function(_) => "<function>".into(),
        other => other.type_name().into(),
    };
    format!("[{shown}]")
}

fn is_identifier(s: &[u8]) -> bool {
    const KEYWORDS: &[&[u8]] = &[
        b"and",
        b"break",
        b"do",
        b"else",
        b"elseif",
        b"end",
        b"false",
        b"for",
        b"function",
        b"goto",
        b"if",
        b"in",
        b"local",
        b"nil",
        b"not",
        b"or",
        b"repeat",
        b"return",
        b"then",
        b"true",
        b"until",
        b"while",
    ];
    match s.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    s.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') && !KEYWORDS.contains(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(code: &str) -> String {
        let lua = Lua::new();
        let values: mlua::MultiValue = lua.load(code).eval().unwrap();
        show(&lua, &values.into_vec()).unwrap()
    }

    #[test]
    fn scalars_like_dump() {
        assert_eq!(
            shown("return 1, 2.0, 'a\\n\"b', true, nil, math.mininteger"),
            "1\t2.0\t\"a\\n\\\"b\"\ttrue\tnil\tmath.mininteger"
        );
    }

    #[test]
    fn tables_as_contents() {
        assert_eq!(shown("return {}"), "{}");
        assert_eq!(
            shown("return {1, 2, 'x', name = 'Ann', ['a b'] = 1, [10] = true, ['end'] = 0}"),
            "{1, 2, \"x\", [10] = true, [\"a b\"] = 1, [\"end\"] = 0, name = \"Ann\"}"
        );
        assert_eq!(
            shown("return {f = print, g = function() end}"),
            "{f = <function: C>, g = <function>}"
        );
    }

    #[test]
    fn cycles_depth_and_size_are_bounded() {
        assert_eq!(
            shown("local t = {} t.self = t return t"),
            "{self = <cycle>}"
        );
        assert_eq!(shown("return {{{{{{1}}}}}}"), "{{{{{...}}}}}");
        let big = shown("local t = {} for i = 1, 1000 do t[i] = i end return t");
        assert!(big.contains("-- 500+ more"), "{big}");
        assert_eq!(big.lines().count(), MAX_ENTRIES + 3);
        // Shared (not cyclic) tables print at each place.
        assert_eq!(
            shown("local s = {1} return {a = s, b = s}"),
            "{a = {1}, b = {1}}"
        );
        let long = shown("return {text = string.rep('x', 80), n = 1}");
        assert_eq!(
            long,
            format!("{{\n  n = 1,\n  text = \"{}\",\n}}", "x".repeat(80))
        );
    }

    #[test]
    fn tostring_metamethods_are_used() {
        assert_eq!(
            shown("return setmetatable({}, {__tostring = function() return 'point(1, 2)' end})"),
            "point(1, 2)"
        );
    }
}
