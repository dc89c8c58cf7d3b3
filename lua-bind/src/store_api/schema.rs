//! Schemas in Lua form, for `store.schema(path, schema)`:
//!
//! ```lua
//! store.schema("users", {
//!   strict = true,                       -- reject fields not named here
//!   name = {type = "string", required = true, minLength = 1, maxLength = 100},
//!   age = {type = "integer", min = 0, max = 150},
//!   role = {enum = {"admin", "user"}},
//!   profile = {type = "table", schema = {city = {type = "string"}}},
//! })
//! ```
//!
//! Every key but a boolean `strict` names a field (so a field may be
//! called "strict" if its rule is a table). Rule keys: `type` (string,
//! integer, number, boolean, table, function), `required`, `min`, `max`,
//! `minLength`/`maxLength` (also `min_len`/`max_len`), `enum`, `schema`.

use mlua::{Lua, Table, Value};
use moonvault_engine::schema::{FieldRule, FieldType, Schema, MAX_SCHEMA_DEPTH};

use super::path::operand;
use crate::failure::Failure;
use crate::keys::{key_to_lua, write_key};

const RULES: &str = "type, required, min, max, minLength, maxLength, enum, schema";

/// A Lua schema table as an engine schema; `at` (the field path so far)
/// prefixes messages.
pub(crate) fn from_lua(t: &Table, at: &str) -> Result<Schema, Failure> {
    from_lua_at(t, at, 1)
}

/// `from_lua` at nesting level `depth` (bounded: the recursion must not
/// outgrow wasm's small stack on a hostile table).
fn from_lua_at(t: &Table, at: &str, depth: usize) -> Result<Schema, Failure> {
    if depth > MAX_SCHEMA_DEPTH {
        return Err(Failure::Message(format!(
            "schema{at}: nested schemas go deeper than {MAX_SCHEMA_DEPTH} levels"
        )));
    }
    let mut pairs: Vec<(Value, Value)> = Vec::new();
    t.for_each(|k: Value, v: Value| {
        pairs.push((k, v));
        Ok(())
    })?;
    let mut schema = Schema::open();
    for (k, v) in pairs {
        if let (Value::String(name), Value::Boolean(strict)) = (&k, &v) {
            if name.as_bytes().as_ref() == b"strict" {
                schema.strict = *strict;
                continue;
            }
        }
        let key = write_key(&k).map_err(|e| format!("schema{at}: {e}"))?;
        let shown = key.to_string();
        let name = if shown.starts_with('[') {
            format!("{at}{shown}")
        } else {
            format!("{at}.{shown}")
        };
        let Value::Table(rule) = v else {
            return Err(Failure::Message(format!(
                "schema{name}: a field's rule must be a table like {{type = \"string\"}}, got {}",
                v.type_name()
            )));
        };
        schema.set_field(key, rule_from_lua(&rule, &name, depth)?);
    }
    Ok(schema)
}

fn number(v: &Value, what: &str) -> Result<f64, Failure> {
    match v {
        Value::Integer(n) => Ok(*n as f64),
        Value::Number(x) => Ok(*x),
        other => Err(Failure::Message(format!(
            "{what}: expected a number, got {}",
            other.type_name()
        ))),
    }
}

fn length(v: &Value, what: &str) -> Result<u64, Failure> {
    match v {
        Value::Integer(n) if *n >= 0 => Ok(*n as u64),
        Value::Number(x) if *x >= 0.0 && x.fract() == 0.0 && x.is_finite() => Ok(*x as u64),
        _ => Err(Failure::Message(format!(
            "{what}: expected a non-negative integer"
        ))),
    }
}

fn rule_from_lua(t: &Table, field: &str, depth: usize) -> Result<FieldRule, Failure> {
    let mut pairs: Vec<(Value, Value)> = Vec::new();
    t.for_each(|k: Value, v: Value| {
        pairs.push((k, v));
        Ok(())
    })?;
    let mut rule = FieldRule::any();
    let mut nested = None;
    for (k, v) in pairs {
        let name = match &k {
            Value::String(s) => s.to_string_lossy(),
            other => {
                return Err(Failure::Message(format!(
                    "schema{field}: rule names are strings ({RULES}), got {}",
                    other.type_name()
                )))
            }
        };
        let what = format!("schema{field}.{name}");
        match name.as_str() {
            "type" => {
                let Value::String(s) = &v else {
                    return Err(Failure::Message(format!("{what}: expected a type name")));
                };
                let ty = FieldType::from_name(&s.to_string_lossy()).ok_or_else(|| {
                    format!(
                        "{what}: unknown type {:?} (string, integer, number, boolean, table, \
                         function)",
                        s.to_string_lossy()
                    )
                })?;
                rule.ty = Some(ty);
            }
            "required" => match v {
                Value::Boolean(b) => rule.required = b,
                _ => return Err(Failure::Message(format!("{what}: expected true or false"))),
            },
            "min" => rule.min = Some(number(&v, &what)?),
            "max" => rule.max = Some(number(&v, &what)?),
            "minLength" | "min_len" | "minLen" => rule.min_len = Some(length(&v, &what)?),
            "maxLength" | "max_len" | "maxLen" => rule.max_len = Some(length(&v, &what)?),
            "enum" => {
                let Value::Table(list) = &v else {
                    return Err(Failure::Message(format!(
                        "{what}: expected an array of allowed values"
                    )));
                };
                let mut values = Vec::new();
                for i in 1..=list.raw_len() {
                    let item: Value = list.raw_get(i)?;
                    values.push(operand(&item, &format!("{what}[{i}]"))?);
                }
                rule.one_of = Some(values);
            }
            "schema" => {
                let Value::Table(s) = &v else {
                    return Err(Failure::Message(format!("{what}: expected a schema table")));
                };
                nested = Some(from_lua_at(s, field, depth + 1)?);
            }
            other => {
                return Err(Failure::Message(format!(
                    "schema{field}: unknown rule {other:?} (rules: {RULES})"
                )))
            }
        }
    }
    if let Some(s) = nested {
        let ty = rule.ty;
        rule = rule.schema(s);
        // Keep a conflicting explicit type so Schema::check reports it.
        if ty.is_some() {
            rule.ty = ty;
        }
    }
    Ok(rule)
}

/// An engine schema in Lua form.
pub(crate) fn to_lua(lua: &Lua, schema: &Schema) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    if schema.strict {
        t.raw_set("strict", true)?;
    }
    for (key, rule) in schema.fields() {
        let r = lua.create_table()?;
        if let Some(ty) = rule.ty {
            r.raw_set("type", ty.name())?;
        }
        if rule.required {
            r.raw_set("required", true)?;
        }
        if let Some(x) = rule.min {
            r.raw_set("min", x)?;
        }
        if let Some(x) = rule.max {
            r.raw_set("max", x)?;
        }
        if let Some(n) = rule.min_len {
            r.raw_set("minLength", n)?;
        }
        if let Some(n) = rule.max_len {
            r.raw_set("maxLength", n)?;
        }
        if let Some(values) = &rule.one_of {
            let list = lua.create_table()?;
            for (i, k) in values.iter().enumerate() {
                list.raw_set(i + 1, key_to_lua(lua, k)?)?;
            }
            r.raw_set("enum", list)?;
        }
        if let Some(nested) = &rule.schema {
            r.raw_set("schema", to_lua(lua, nested)?)?;
        }
        t.raw_set(key_to_lua(lua, key)?, r)?;
    }
    Ok(t)
}
