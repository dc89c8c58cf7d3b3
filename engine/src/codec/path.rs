//! Keys and key paths in Lua syntax, for messages: `users.u1`,
//! `users[42]`, `t["a b"][2.5]`, `[true]`.

use std::fmt;

use super::key::Key;

/// Lua's reserved words, which cannot be written as `.name`.
const LUA_KEYWORDS: [&str; 22] = [
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

fn is_lua_name(s: &[u8]) -> bool {
    match s.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_')
                && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
                && !LUA_KEYWORDS.iter().any(|k| k.as_bytes() == s)
        }
        None => false,
    }
}

/// Write `s` as a Lua string literal. Valid UTF-8 is kept (readable
/// messages); control characters and invalid bytes become `\ddd`.
fn write_lua_string(out: &mut impl fmt::Write, s: &[u8]) -> fmt::Result {
    out.write_char('"')?;
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.write_str("\\\"")?,
                '\\' => out.write_str("\\\\")?,
                '\n' => out.write_str("\\n")?,
                '\r' => out.write_str("\\r")?,
                '\t' => out.write_str("\\t")?,
                c if c.is_control() && c.is_ascii() => write!(out, "\\{:03}", c as u32)?,
                c => out.write_char(c)?,
            }
        }
        for b in chunk.invalid() {
            write!(out, "\\{b:03}")?;
        }
    }
    out.write_char('"')
}

/// Write one path component; `first` selects `name` over `.name`.
fn write_path_elem(out: &mut impl fmt::Write, key: &Key, first: bool) -> fmt::Result {
    match key {
        Key::Str(s) if is_lua_name(s) => {
            if !first {
                out.write_char('.')?;
            }
            // is_lua_name admits ASCII only, so this is lossless.
            out.write_str(&String::from_utf8_lossy(s))
        }
        Key::Str(s) => {
            out.write_char('[')?;
            write_lua_string(out, s)?;
            out.write_char(']')
        }
        Key::Bool(b) => write!(out, "[{b}]"),
        Key::Int(n) => write!(out, "[{n}]"),
        Key::Float(x) if x.is_nan() => out.write_str("[0/0]"),
        Key::Float(x) if x.is_infinite() => out.write_str(if *x > 0.0 {
            "[math.huge]"
        } else {
            "[-math.huge]"
        }),
        // Debug prints the shortest round-trip form, with an exponent for
        // large and tiny magnitudes (e.g. `9.223372036854776e18`), which
        // Lua reads back as the same float.
        Key::Float(x) => write!(out, "[{x:?}]"),
    }
}

/// A key path in Lua syntax for messages: `users.u1`, `users[42]`,
/// `t["a b"][2.5]`, `[true]`. Names that are valid Lua identifiers use
/// dot syntax (bare for the first component); everything else brackets.
pub fn fmt_path(path: &[Key]) -> String {
    let mut out = String::new();
    for (i, key) in path.iter().enumerate() {
        // Writing to a String cannot fail.
        let _ = write_path_elem(&mut out, key, i == 0);
    }
    out
}

impl fmt::Display for Key {
    /// The key as a one-component path (see [`fmt_path`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_path_elem(f, self, true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::key::TWO_POW_63;
    use super::*;

    #[test]
    fn display_in_lua_syntax() {
        let p = [Key::from("users"), Key::from("u1")];
        assert_eq!(fmt_path(&p), "users.u1");
        assert_eq!(fmt_path(&[Key::Int(42)]), "[42]");
        assert_eq!(fmt_path(&[Key::from("a b")]), "[\"a b\"]");
        assert_eq!(fmt_path(&[Key::Float(2.5)]), "[2.5]");
        assert_eq!(fmt_path(&[Key::Bool(true)]), "[true]");
        assert_eq!(
            fmt_path(&[Key::from("t"), Key::Int(-3), Key::from("end")]),
            "t[-3][\"end\"]"
        );
        assert_eq!(
            fmt_path(&[Key::Str(b"q\"\\\n\x00\xff".to_vec())]),
            "[\"q\\\"\\\\\\n\\000\\255\"]"
        );
        assert_eq!(fmt_path(&[Key::from("é_1")]), "[\"é_1\"]");
        assert_eq!(fmt_path(&[Key::from("_x9")]), "_x9");
        assert_eq!(fmt_path(&[Key::Float(f64::NEG_INFINITY)]), "[-math.huge]");
        assert_eq!(
            fmt_path(&[Key::Float(TWO_POW_63)]),
            "[9.223372036854776e18]"
        );
        assert_eq!(fmt_path(&[]), "");
        assert_eq!(Key::Int(7).to_string(), "[7]");
    }
}
