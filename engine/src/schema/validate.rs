//! Checking records against schemas.
//!
//! When: a write to `X[k]` is checked against the schema of every ancestor
//! collection `C` within reach (the same walk as index maintenance): with
//! `q` the keys from the record down to `k`, the new value is checked
//! against the rule found by following `q` through the schema (`q = []`:
//! the whole record). With identity-preserving assignment the new content
//! at `X[k]` is exactly the literal, so the check runs on the literal,
//! before anything is written. A literal that replaces a table which has a
//! schema itself is checked record by record when the writer reaches it
//! ([`Txn::check_replacement`]). `set_schema` checks every existing record.

use super::{FieldRule, FieldType, Schema};
use crate::codec::{fmt_path, Key, Value};
use crate::error::{with_article, EngineError, Result};
use crate::index::maintain::show_key;
use crate::kv::KvRead;
use crate::table::field::get_value;
use crate::table::input::Input;
use crate::table::keyspace::{decode_entry_key, entry_prefix, schema_key, TableId};
use crate::table::packed::packed_record;
use crate::table::{TableRead, Txn};

static NIL: Input = Input::Nil;

/// A value being checked: part of a literal, or stored.
pub(crate) enum Node<'a> {
    Input(&'a Input),
    Stored(Option<Value>),
}

impl Node<'_> {
    fn is_nil(&self) -> bool {
        matches!(self, Node::Input(Input::Nil) | Node::Stored(None))
    }

    fn is_table(&self) -> bool {
        matches!(
            self,
            Node::Input(Input::Table(_)) | Node::Stored(Some(Value::Table(_)))
        )
    }

    fn scalar(&self) -> Option<&Value> {
        match self {
            Node::Input(Input::Value(v)) => Some(v),
            Node::Stored(Some(v)) if !matches!(v, Value::Table(_)) => Some(v),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Node::Input(i) => i.type_name(),
            Node::Stored(Some(v)) => v.type_name(),
            Node::Stored(None) => "nil",
        }
    }

    fn child(&self, kv: &dyn KvRead, key: &Key) -> Result<Node<'_>> {
        Ok(match self {
            Node::Input(Input::Table(entries)) => {
                Node::Input(Input::lookup(entries, key).unwrap_or(&NIL))
            }
            Node::Stored(Some(Value::Table(id))) => Node::Stored(get_value(kv, *id, key)?),
            _ => Node::Input(&NIL),
        })
    }

    /// The first key of this table that `allowed` refuses.
    fn first_key_not(
        &self,
        kv: &dyn KvRead,
        allowed: impl Fn(&Key) -> bool,
    ) -> Result<Option<Key>> {
        match self {
            Node::Input(Input::Table(entries)) => Ok(entries
                .iter()
                .map(|(k, _)| k)
                .find(|k| !allowed(k))
                .cloned()),
            Node::Stored(Some(Value::Table(id))) => {
                let start = entry_prefix(*id);
                let mut any = false;
                for entry in kv.scan_prefix(&start) {
                    any = true;
                    let k = decode_entry_key(&entry?.0)?;
                    if !allowed(&k) {
                        return Ok(Some(k));
                    }
                }
                if !any {
                    if let Some(record) = packed_record(kv, *id)? {
                        return Ok(record
                            .fields
                            .into_iter()
                            .map(|(k, _)| k)
                            .find(|k| !allowed(k)));
                    }
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

/// A failed rule: where (field path inside the record), which rule, why.
pub(crate) struct Violation {
    pub field: Vec<Key>,
    pub rule: &'static str,
    pub detail: String,
}

fn violation(field: &[Key], rule: &'static str, detail: String) -> Option<Violation> {
    Some(Violation {
        field: field.to_vec(),
        rule,
        detail,
    })
}

/// A value for messages.
fn show(v: &Value) -> String {
    match v {
        Value::Str(s) => {
            let text = String::from_utf8_lossy(s);
            let cut: String = text.chars().take(40).collect();
            if cut.len() < text.len() {
                format!("{cut:?}...")
            } else {
                format!("{cut:?}")
            }
        }
        Value::Int(n) => n.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Bool(b) => b.to_string(),
        other => with_article(other.type_name()),
    }
}

fn type_ok(ty: FieldType, node: &Node<'_>) -> bool {
    let name = node.type_name();
    match ty {
        FieldType::String => name == "string",
        FieldType::Integer => name == "integer",
        FieldType::Number => name == "integer" || name == "number",
        FieldType::Boolean => name == "boolean",
        FieldType::Table => name == "table",
        FieldType::Function => name == "function",
    }
}

/// Check `node` against one field rule; `field` is its path in the record.
fn check_field(
    kv: &dyn KvRead,
    rule: &FieldRule,
    node: &Node<'_>,
    field: &mut Vec<Key>,
) -> Result<Option<Violation>> {
    if node.is_nil() {
        if rule.required {
            return Ok(violation(
                field,
                "required",
                "is required but missing (nil)".into(),
            ));
        }
        return Ok(None);
    }
    if let Some(ty) = rule.ty {
        if !type_ok(ty, node) {
            return Ok(violation(
                field,
                "type",
                format!(
                    "must be {}, got {}",
                    with_article(ty.name()),
                    with_article(node.type_name())
                ),
            ));
        }
    }
    if let Some(v) = node.scalar() {
        if matches!(v, Value::Int(_) | Value::Float(_)) {
            let k = v.as_key();
            if let Some(min) = rule.min {
                let ok = matches!((&k, Key::from_f64(min)), (Some(k), Ok(m)) if *k >= m);
                if !ok {
                    return Ok(violation(
                        field,
                        "min",
                        format!("{} is below the minimum {min}", show(v)),
                    ));
                }
            }
            if let Some(max) = rule.max {
                let ok = matches!((&k, Key::from_f64(max)), (Some(k), Ok(m)) if *k <= m);
                if !ok {
                    return Ok(violation(
                        field,
                        "max",
                        format!("{} is above the maximum {max}", show(v)),
                    ));
                }
            }
        }
        if let Value::Str(s) = v {
            let len = s.len() as u64;
            if let Some(min) = rule.min_len {
                if len < min {
                    return Ok(violation(
                        field,
                        "min_len",
                        format!("is {len} bytes long, shorter than {min}"),
                    ));
                }
            }
            if let Some(max) = rule.max_len {
                if len > max {
                    return Ok(violation(
                        field,
                        "max_len",
                        format!("is {len} bytes long, longer than {max}"),
                    ));
                }
            }
        }
    }
    if let Some(allowed) = &rule.one_of {
        let k = node.scalar().and_then(Value::as_key);
        if !k.is_some_and(|k| allowed.contains(&k)) {
            let list: Vec<String> = allowed
                .iter()
                .map(|k| show(&Value::from(k.clone())))
                .collect();
            let got = node
                .scalar()
                .map_or_else(|| with_article(node.type_name()), show);
            return Ok(violation(
                field,
                "enum",
                format!("must be one of {}, got {got}", list.join(", ")),
            ));
        }
    }
    if let Some(nested) = &rule.schema {
        if node.is_table() {
            return check_record(kv, nested, node, field);
        }
    }
    Ok(None)
}

/// Check a whole record (`field` is its path from the collection's record).
pub(crate) fn check_record(
    kv: &dyn KvRead,
    schema: &Schema,
    node: &Node<'_>,
    field: &mut Vec<Key>,
) -> Result<Option<Violation>> {
    if node.is_nil() {
        return Ok(None);
    }
    if !node.is_table() {
        return Ok(violation(
            field,
            "record",
            format!(
                "must be a table (a record), got {}",
                with_article(node.type_name())
            ),
        ));
    }
    for (key, rule) in schema.fields() {
        let child = node.child(kv, key)?;
        field.push(key.clone());
        let found = check_field(kv, rule, &child, field)?;
        field.pop();
        if found.is_some() {
            return Ok(found);
        }
    }
    if schema.strict {
        if let Some(extra) = node.first_key_not(kv, |k| schema.rule(k).is_some())? {
            let names: Vec<String> = schema.fields().iter().map(|(k, _)| k.to_string()).collect();
            field.push(extra);
            let v = violation(
                field,
                "strict",
                format!(
                    "is not a field of the (strict) schema; allowed: {}",
                    names.join(", ")
                ),
            );
            field.pop();
            return Ok(v);
        }
    }
    Ok(None)
}

/// Check the value written at `q` below a record (see the module docs).
pub(crate) fn check_at(
    kv: &dyn KvRead,
    schema: &Schema,
    q: &[Key],
    node: &Node<'_>,
) -> Result<Option<Violation>> {
    let mut field = Vec::new();
    let mut schema = schema;
    let mut q = q;
    loop {
        let Some((f, rest)) = q.split_first() else {
            return check_record(kv, schema, node, &mut field);
        };
        field.push(f.clone());
        match schema.rule(f) {
            None => {
                if rest.is_empty() && schema.strict && !node.is_nil() {
                    let names: Vec<String> =
                        schema.fields().iter().map(|(k, _)| k.to_string()).collect();
                    return Ok(violation(
                        &field,
                        "strict",
                        format!(
                            "is not a field of the (strict) schema; allowed: {}",
                            names.join(", ")
                        ),
                    ));
                }
                return Ok(None);
            }
            Some(rule) if rest.is_empty() => return check_field(kv, rule, node, &mut field),
            Some(rule) => match &rule.schema {
                Some(nested) => {
                    schema = nested;
                    q = rest;
                }
                None => return Ok(None),
            },
        }
    }
}

impl Txn {
    fn violation_error(&self, table: TableId, record: &Key, v: Violation) -> Result<EngineError> {
        Ok(EngineError::SchemaViolation(Box::new(
            crate::error::SchemaViolation {
                table: self.table_name(table)?,
                key: show_key(record),
                field: if v.field.is_empty() {
                    "(the record)".into()
                } else {
                    fmt_path(&v.field)
                },
                rule: v.rule.to_string(),
                detail: v.detail,
            },
        )))
    }

    /// Check `table[key] = input` against the schemas of the ancestors.
    pub(crate) fn check_schemas_above(
        &mut self,
        table: TableId,
        key: &Key,
        input: &Input,
    ) -> Result<()> {
        if self.catalog.schema_count() == 0 {
            return Ok(());
        }
        let levels = self.levels(table, key)?;
        let catalog = self.catalog.clone();
        for lv in levels {
            if let Some(schema) = catalog.schema(lv.table) {
                if let Some(v) = check_at(&self.kv, schema, &lv.q, &Node::Input(input))? {
                    return Err(self.violation_error(lv.table, &lv.record, v)?);
                }
            }
        }
        Ok(())
    }

    /// Check a literal about to replace the content of `table`, which has a
    /// schema, record by record.
    pub(crate) fn check_replacement(
        &mut self,
        table: TableId,
        entries: &[(Key, Input)],
    ) -> Result<()> {
        let catalog = self.catalog.clone();
        let Some(schema) = catalog.schema(table) else {
            return Ok(());
        };
        for (k, input) in entries {
            if let Some(v) = check_record(&self.kv, schema, &Node::Input(input), &mut Vec::new())? {
                return Err(self.violation_error(table, k, v)?);
            }
        }
        Ok(())
    }

    /// Set (or with `None` remove) the schema of `table`'s records. Every
    /// existing record is checked first; the first violation is the error
    /// and nothing changes.
    pub fn set_schema(&mut self, table: TableId, schema: Option<Schema>) -> Result<()> {
        self.guard(|tx| {
            tx.ensure_exists(table)?;
            match schema {
                Some(schema) => {
                    if let Err(why) = schema.check() {
                        return Err(EngineError::InvalidArgument(format!(
                            "invalid schema for {}: {why}",
                            tx.table_name(table)?
                        )));
                    }
                    let mut records = tx.entries(table);
                    let mut bad = None;
                    for entry in &mut records {
                        let (k, v) = entry?;
                        if let Some(violation) =
                            check_record(&tx.kv, &schema, &Node::Stored(Some(v)), &mut Vec::new())?
                        {
                            bad = Some((k, violation));
                            break;
                        }
                    }
                    if let Some((k, violation)) = bad {
                        return Err(tx.violation_error(table, &k, violation)?);
                    }
                    tx.ensure_unpacked(table)?;
                    tx.raw_put(&schema_key(table), &super::codec::encode_schema(&schema))?;
                    tx.catalog_mut().set_schema(table, Some(schema));
                }
                None => {
                    if tx.catalog.schema(table).is_some() {
                        tx.raw_delete(&schema_key(table))?;
                        tx.catalog_mut().set_schema(table, None);
                    }
                }
            }
            Ok(())
        })
    }
}
