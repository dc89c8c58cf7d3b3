//! `moonvault dump`: the content of `Memory` (or a table below it) as a
//! human-readable Lua table constructor, or as JSON.
//!
//! # Human form
//! Lua syntax, one entry a line, keys in storage order:
//! `name = "Ann"`, `[1] = 2.5`, `["a b"] = true`. Integers and floats stay
//! apart (`1` vs `1.0`; `math.huge`, `0/0`, `math.mininteger`), strings use
//! Lua escapes (`\ddd` for control characters and invalid UTF-8), functions
//! show as `<function: Lua, N bytes>` or `<function: math.sin>`, and each
//! table's indexes are noted in a comment on its opening line.
//!
//! # JSON mapping
//! | Lua value | JSON |
//! |---|---|
//! | `true`, `false` | `true`, `false` |
//! | integer | a number without fraction or exponent: `42`, `-7` |
//! | float, finite | a number with a fraction or an exponent: `42.0`, `1e300`, `-0.0` |
//! | float, not finite | `{"$float": "inf"}`, `{"$float": "-inf"}`, `{"$float": "nan"}` |
//! | string, valid UTF-8 | a string |
//! | string, other bytes | `{"$bytes": "<standard base64, padded>"}` |
//! | Lua function | `{"$function": {"bytes": N}}` (N: stored payload size) |
//! | standard-library function | `{"$function": "math.sin"}` (its registry name) |
//! | table with keys exactly `1..n` (n >= 1) | an array |
//! | table whose keys are all UTF-8 strings not starting with `$` (or empty) | an object |
//! | any other table | `{"$entries": [[key, value], ...]}`, keys mapped like values, in key order |
//!
//! Every object with a `$` key is therefore one of the tagged forms above,
//! and every JSON number tells integer from float by its spelling.
//!
//! The walk streams with an explicit stack (no recursion, so depth cannot
//! overflow the native stack) and follows a child table only when its
//! parent link agrees, so damaged data cannot make it loop.

use std::io::Write;

use base64::Engine as _;
use moonvault_engine::codec::{Key, Value};
use moonvault_engine::table::EntryCursor;
use moonvault_engine::{EngineError, Snapshot, TableId, TableRead, ROOT};

use crate::open::{CliError, CliResult};

/// Output format of a dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Lua table constructor syntax.
    Human,
    /// JSON, with the mapping in the module docs.
    Json,
}

/// Parse `users.u1.tags.2` into keys: components that are decimal integers
/// become integer keys, the rest string keys.
pub fn parse_path(path: &str) -> CliResult<Vec<Key>> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    path.split('.')
        .map(|c| {
            if c.is_empty() {
                return Err(CliError::Usage(format!(
                    "invalid path {path:?}: use dotted keys like users.u1 (integers select integer keys)"
                )));
            }
            Ok(match c.parse::<i64>() {
                Ok(n) => Key::Int(n),
                Err(_) => Key::from(c),
            })
        })
        .collect()
}

/// How a table's entries are laid out in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Array,
    Object,
    Entries,
}

/// Classify `table` by one pass over its keys.
fn shape(snap: &Snapshot, table: TableId) -> CliResult<Shape> {
    let (mut array, mut object) = (true, true);
    let mut expect = 1i64;
    for entry in snap.entries(table) {
        let (key, _) = entry?;
        array &= key == Key::Int(expect);
        expect = expect.saturating_add(1);
        object &=
            matches!(&key, Key::Str(s) if std::str::from_utf8(s).is_ok() && !s.starts_with(b"$"));
        if !array && !object {
            return Ok(Shape::Entries);
        }
    }
    // An empty table passes both tests: `{}`.
    Ok(if expect == 1 || object {
        Shape::Object
    } else if array {
        Shape::Array
    } else {
        Shape::Entries
    })
}

/// One open table of the walk.
struct Frame {
    table: TableId,
    cursor: EntryCursor,
    shape: Shape,
    /// No entry written yet.
    first: bool,
    /// JSON: the table is the value of a `[key, value]` pair, whose `]`
    /// follows the table's close.
    close_pair: bool,
}

fn io(source: std::io::Error) -> CliError {
    CliError::Io {
        path: "<stdout>".into(),
        source,
    }
}

/// Write the dump of the value at `path` (below `Memory`) to `out`.
pub fn run(snap: &Snapshot, path: &[Key], format: Format, out: &mut dyn Write) -> CliResult<()> {
    let full: Vec<Key> = std::iter::once(Key::from(moonvault_engine::table::ROOT_NAME))
        .chain(path.iter().cloned())
        .collect();
    let name = moonvault_engine::codec::fmt_path(&full);
    let target = if path.is_empty() {
        Value::Table(ROOT)
    } else {
        match snap.get_path(ROOT, path)? {
            Some(v) => v,
            None => {
                return Err(CliError::Usage(format!(
                    "{name} is nil (nothing is stored there)"
                )))
            }
        }
    };
    let mut w = std::io::BufWriter::new(out);
    let Value::Table(root) = target else {
        match format {
            Format::Human => writeln!(w, "{name} = {}", lua_value(&target)),
            Format::Json => writeln!(w, "{}", json_value(&target)),
        }
        .map_err(io)?;
        return w.flush().map_err(io);
    };
    if format == Format::Human {
        write!(w, "{name} = ").map_err(io)?;
    }
    let mut stack = vec![open_table(snap, root, format, false, &mut w)?];
    loop {
        let depth = stack.len();
        let Some(top) = stack.last_mut() else { break };
        let Some((key, value)) = top.cursor.next(snap)? else {
            let done = stack
                .pop()
                .expect("the loop runs while the stack is non-empty");
            if !done.first {
                write!(w, "\n{}", "  ".repeat(depth - 1)).map_err(io)?;
            }
            match format {
                Format::Human => write!(w, "}}"),
                Format::Json => write!(w, "{}", close_json(done.shape)),
            }
            .map_err(io)?;
            if done.close_pair {
                write!(w, "]").map_err(io)?;
            }
            if stack.is_empty() {
                writeln!(w).map_err(io)?;
            } else if format == Format::Human {
                write!(w, ",").map_err(io)?;
            }
            continue;
        };
        let indent = "  ".repeat(depth);
        let (parent, shape) = (top.table, top.shape);
        let sep = if format == Format::Json && !top.first {
            ","
        } else {
            ""
        };
        top.first = false;
        match (format, shape) {
            (Format::Human, _) => write!(w, "\n{indent}{key} = "),
            (Format::Json, Shape::Array) => write!(w, "{sep}\n{indent}"),
            (Format::Json, Shape::Object) => {
                write!(w, "{sep}\n{indent}{}: ", json_key_string(&key))
            }
            (Format::Json, Shape::Entries) => {
                write!(
                    w,
                    "{sep}\n{indent}[{}, ",
                    json_value(&Value::from(key.clone()))
                )
            }
        }
        .map_err(io)?;
        match value {
            Value::Table(child) => {
                // Follow only a consistent link: damaged data cannot loop.
                if snap.parent(child)? != Some((parent, key)) {
                    return Err(EngineError::corrupted(
                        "table meta",
                        format!(
                            "table {child} is stored under table {parent} but its parent link disagrees"
                        ),
                    )
                    .into());
                }
                let pair = format == Format::Json && shape == Shape::Entries;
                let frame = open_table(snap, child, format, pair, &mut w)?;
                stack.push(frame);
            }
            v => match format {
                Format::Human => write!(w, "{},", lua_value(&v)),
                Format::Json if shape == Shape::Entries => write!(w, "{}]", json_value(&v)),
                Format::Json => write!(w, "{}", json_value(&v)),
            }
            .map_err(io)?,
        }
    }
    w.flush().map_err(io)
}

/// Write a table's opening and return its frame.
fn open_table(
    snap: &Snapshot,
    table: TableId,
    format: Format,
    close_pair: bool,
    w: &mut impl Write,
) -> CliResult<Frame> {
    let shape = match format {
        Format::Human => Shape::Entries,
        Format::Json => shape(snap, table)?,
    };
    match format {
        Format::Human => write!(w, "{{{}", index_note(snap, table)),
        Format::Json => write!(w, "{}", open_json(shape)),
    }
    .map_err(io)?;
    Ok(Frame {
        table,
        cursor: EntryCursor::new(table),
        shape,
        first: true,
        close_pair,
    })
}

fn open_json(shape: Shape) -> &'static str {
    match shape {
        Shape::Array => "[",
        Shape::Object => "{",
        Shape::Entries => "{\"$entries\": [",
    }
}

fn close_json(shape: Shape) -> &'static str {
    match shape {
        Shape::Array => "]",
        Shape::Object => "}",
        Shape::Entries => "]}",
    }
}

/// ` -- indexes: age, email (unique)` for a table with indexes.
fn index_note(snap: &Snapshot, table: TableId) -> String {
    let defs = snap.indexes(table);
    if defs.is_empty() {
        return String::new();
    }
    let list: Vec<String> = defs
        .iter()
        .map(|d| {
            if d.unique {
                format!("{} (unique)", d.field)
            } else {
                d.field.to_string()
            }
        })
        .collect();
    format!("  -- indexed on {}", list.join(", "))
}

/// A value (not a table) in Lua syntax.
pub fn lua_value(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i64::MIN) => "math.mininteger".into(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => lua_float(*x),
        Value::Str(s) => lua_string(s),
        Value::Table(id) => format!("<table {id}>"),
        Value::Function(p) => format!("<function: Lua, {} bytes>", p.len()),
        Value::NativeFunction(name) => format!("<function: {name}>"),
    }
}

/// A float that Lua reads back as the same float (never as an integer).
pub fn lua_float(x: f64) -> String {
    if x.is_nan() {
        "0/0".into()
    } else if x.is_infinite() {
        if x > 0.0 { "math.huge" } else { "-math.huge" }.into()
    } else {
        // Debug is the shortest round-trip form and always has a `.` or an
        // exponent (`1.0`, `1e300`), which Lua reads as a float.
        format!("{x:?}")
    }
}

/// A Lua string literal: UTF-8 kept, control characters and invalid bytes
/// as `\ddd`.
pub fn lua_string(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_ascii_control() => out.push_str(&format!("\\{:03}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\{b:03}"));
        }
    }
    out.push('"');
    out
}

/// A JSON string (for object keys known to be UTF-8).
fn json_key_string(key: &Key) -> String {
    match key {
        Key::Str(s) => serde_json::to_string(&String::from_utf8_lossy(s)).unwrap_or_default(),
        other => serde_json::to_string(&other.to_string()).unwrap_or_default(),
    }
}

/// A value (not a table) in JSON, per the mapping in the module docs.
pub fn json_value(v: &Value) -> String {
    let tagged =
        |tag: &str, inner: serde_json::Value| serde_json::json!({ tag: inner }).to_string();
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) if x.is_nan() => tagged("$float", "nan".into()),
        Value::Float(x) if x.is_infinite() => {
            tagged("$float", if *x > 0.0 { "inf" } else { "-inf" }.into())
        }
        // serde_json spells every finite f64 with a fraction or exponent.
        Value::Float(x) => serde_json::Number::from_f64(*x)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "null".into()),
        Value::Str(s) => match std::str::from_utf8(s) {
            Ok(text) => serde_json::Value::from(text).to_string(),
            Err(_) => tagged(
                "$bytes",
                base64::engine::general_purpose::STANDARD.encode(s).into(),
            ),
        },
        Value::Table(id) => tagged("$table", (*id).into()),
        Value::Function(p) => tagged("$function", serde_json::json!({ "bytes": p.len() })),
        Value::NativeFunction(name) => tagged("$function", name.as_str().into()),
    }
}
