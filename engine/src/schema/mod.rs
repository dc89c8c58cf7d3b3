//! Optional per-table schemas: rules for the fields of a table's records.
//!
//! A schema set on a table (`users`) describes each of its entries (the
//! records `users.u1`, `users.u2`...): which fields they may or must have,
//! of which type, within which bounds, and nested schemas for sub-records.
//! It is stored in the catalog (`00 's' <table id>`, see [`codec`]) and
//! checked on every write that touches a record (`validate.rs`); a violation
//! is an [`EngineError::SchemaViolation`](crate::EngineError::SchemaViolation)
//! naming the table, the record key, the field and the rule.
//!
//! ```
//! use moonvault_engine::schema::{FieldRule, Schema};
//! let users = Schema::strict()
//!     .field("name", FieldRule::string().required().max_len(100))
//!     .field("age", FieldRule::integer().min(0.0).max(150.0))
//!     .field("role", FieldRule::string().one_of(["admin", "user"]))
//!     .field("profile", FieldRule::table().schema(
//!         Schema::open().field("city", FieldRule::string()),
//!     ));
//! assert_eq!(users.depth(), 2);
//! ```

pub mod codec;
#[cfg(test)]
mod tests;
pub(crate) mod validate;

use crate::codec::Key;

/// Deepest nesting of sub-record schemas accepted (the root counts 1).
pub const MAX_SCHEMA_DEPTH: usize = 16;

/// Lua types a field can be required to have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// A byte string.
    String,
    /// An integer (Lua's integer subtype: `3`, not `3.0`).
    Integer,
    /// Any number, integer or float.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A table (a sub-record); see [`FieldRule::schema`].
    Table,
    /// A Lua function or a native function reference.
    Function,
}

impl FieldType {
    /// The type's name as written in schemas and messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Table => "table",
            FieldType::Function => "function",
        }
    }

    /// Parse a type name (`"string"`, `"integer"`...).
    pub fn from_name(name: &str) -> Option<FieldType> {
        Some(match name {
            "string" => FieldType::String,
            "integer" => FieldType::Integer,
            "number" => FieldType::Number,
            "boolean" => FieldType::Boolean,
            "table" => FieldType::Table,
            "function" => FieldType::Function,
            _ => return None,
        })
    }
}

/// The rules of one field. Every rule is optional; bounds apply to values
/// of the matching type (`min`/`max` to numbers, lengths to strings).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldRule {
    /// Required Lua type.
    pub ty: Option<FieldType>,
    /// The field must be present (not nil).
    pub required: bool,
    /// Smallest allowed number (inclusive).
    pub min: Option<f64>,
    /// Largest allowed number (inclusive).
    pub max: Option<f64>,
    /// Shortest allowed string, in bytes.
    pub min_len: Option<u64>,
    /// Longest allowed string, in bytes.
    pub max_len: Option<u64>,
    /// The allowed values (scalars; compared as Lua's `==` does).
    pub one_of: Option<Vec<Key>>,
    /// Rules for the sub-record held by this field (implies type table).
    pub schema: Option<Box<Schema>>,
}

impl FieldRule {
    /// A rule without constraints (any type, optional).
    pub fn any() -> FieldRule {
        FieldRule::default()
    }

    /// A rule requiring type `ty`.
    pub fn of(ty: FieldType) -> FieldRule {
        FieldRule {
            ty: Some(ty),
            ..FieldRule::default()
        }
    }

    /// Type string.
    pub fn string() -> FieldRule {
        FieldRule::of(FieldType::String)
    }

    /// Type integer.
    pub fn integer() -> FieldRule {
        FieldRule::of(FieldType::Integer)
    }

    /// Type number.
    pub fn number() -> FieldRule {
        FieldRule::of(FieldType::Number)
    }

    /// Type boolean.
    pub fn boolean() -> FieldRule {
        FieldRule::of(FieldType::Boolean)
    }

    /// Type table.
    pub fn table() -> FieldRule {
        FieldRule::of(FieldType::Table)
    }

    /// Type function.
    pub fn function() -> FieldRule {
        FieldRule::of(FieldType::Function)
    }

    /// Make the field required.
    pub fn required(mut self) -> FieldRule {
        self.required = true;
        self
    }

    /// Smallest allowed number.
    pub fn min(mut self, min: f64) -> FieldRule {
        self.min = Some(min);
        self
    }

    /// Largest allowed number.
    pub fn max(mut self, max: f64) -> FieldRule {
        self.max = Some(max);
        self
    }

    /// Shortest allowed string (bytes).
    pub fn min_len(mut self, n: u64) -> FieldRule {
        self.min_len = Some(n);
        self
    }

    /// Longest allowed string (bytes).
    pub fn max_len(mut self, n: u64) -> FieldRule {
        self.max_len = Some(n);
        self
    }

    /// Allowed values.
    pub fn one_of<K: Into<Key>>(mut self, values: impl IntoIterator<Item = K>) -> FieldRule {
        self.one_of = Some(values.into_iter().map(Into::into).collect());
        self
    }

    /// Rules for the sub-record in this field; sets the type to table.
    pub fn schema(mut self, schema: Schema) -> FieldRule {
        self.ty = Some(FieldType::Table);
        self.schema = Some(Box::new(schema));
        self
    }
}

/// The rules for the records of one table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    /// Field rules, sorted by key, one per key.
    fields: Vec<(Key, FieldRule)>,
    /// Reject fields the schema does not name.
    pub strict: bool,
}

impl Schema {
    /// A schema that allows fields it does not name.
    pub fn open() -> Schema {
        Schema::default()
    }

    /// A schema that rejects fields it does not name.
    pub fn strict() -> Schema {
        Schema {
            strict: true,
            ..Schema::default()
        }
    }

    /// Add (or replace) the rule of field `key`.
    pub fn field(mut self, key: impl Into<Key>, rule: FieldRule) -> Schema {
        self.set_field(key.into(), rule);
        self
    }

    /// Add (or replace) the rule of field `key`, in place.
    pub fn set_field(&mut self, key: Key, rule: FieldRule) {
        match self.fields.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => {
                if let Some(slot) = self.fields.get_mut(i) {
                    slot.1 = rule;
                }
            }
            Err(i) => self.fields.insert(i, (key, rule)),
        }
    }

    /// The rule of field `key`.
    pub fn rule(&self, key: &Key) -> Option<&FieldRule> {
        self.fields
            .binary_search_by(|(k, _)| k.cmp(key))
            .ok()
            .and_then(|i| self.fields.get(i))
            .map(|(_, r)| r)
    }

    /// The field rules, sorted by key.
    pub fn fields(&self) -> &[(Key, FieldRule)] {
        &self.fields
    }

    /// Levels of records this schema reaches: 1, plus the deepest nested
    /// schema.
    pub fn depth(&self) -> usize {
        1 + self
            .fields
            .iter()
            .filter_map(|(_, r)| r.schema.as_ref().map(|s| s.depth()))
            .max()
            .unwrap_or(0)
    }

    /// Check the schema itself: NaN or crossed bounds, enum values of the
    /// wrong type, nesting deeper than [`MAX_SCHEMA_DEPTH`].
    pub fn check(&self) -> Result<(), String> {
        if self.depth() > MAX_SCHEMA_DEPTH {
            return Err(format!(
                "schema nests {} levels of sub-records; at most {MAX_SCHEMA_DEPTH} are allowed",
                self.depth()
            ));
        }
        for (key, rule) in &self.fields {
            let bad = |what: String| Err(format!("field {key}: {what}"));
            if rule.min.is_some_and(f64::is_nan) || rule.max.is_some_and(f64::is_nan) {
                return bad("min/max must not be NaN".into());
            }
            if let (Some(lo), Some(hi)) = (rule.min, rule.max) {
                if lo > hi {
                    return bad(format!("min {lo} is above max {hi}"));
                }
            }
            if let (Some(lo), Some(hi)) = (rule.min_len, rule.max_len) {
                if lo > hi {
                    return bad(format!("min_len {lo} is above max_len {hi}"));
                }
            }
            if rule.schema.is_some() && rule.ty.is_some_and(|t| t != FieldType::Table) {
                return bad("a nested schema needs type table".into());
            }
            if let Some(values) = &rule.one_of {
                if values
                    .iter()
                    .any(|k| matches!(k, Key::Float(x) if x.is_nan()))
                {
                    return bad("enum values must not be NaN".into());
                }
            }
            if let Some(nested) = &rule.schema {
                nested.check().map_err(|e| format!("field {key}: {e}"))?;
            }
        }
        Ok(())
    }
}
