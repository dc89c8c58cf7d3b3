//! The catalog: index definitions and schemas, read from the `00 'i'` and
//! `00 's'` key ranges and cached in memory.
//!
//! The cache is keyed by the catalog generation (`00 'g'`), which every
//! transaction that changes the catalog bumps. A transaction starts from
//! the cached catalog when the stored generation matches and reloads it
//! otherwise, so rolled-back changes, other handles on the same `Db` and
//! imports can never leave a stale catalog in use. Committed history is
//! linear, so one generation number names one catalog state.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::field::FieldPath;
use super::keyspace::{
    decode_index_def, decode_index_def_key, decode_schema_key, decode_u64, index_def_prefix,
    schema_prefix, TableId, KEY_CATALOG_GEN,
};
use crate::error::Result;
use crate::kv::KvRead;
use crate::query::PlanCache;
use crate::schema::{codec::decode_schema, Schema};

/// A secondary index: on table `table`, the value at `field` inside each
/// record maps to the record's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    /// The index id (names its key range `02 <id>`).
    pub id: u64,
    /// The indexed (collection) table.
    pub table: TableId,
    /// The field path inside each record.
    pub field: FieldPath,
    /// Whether two records may not share a value.
    pub unique: bool,
}

/// Index definitions and schemas of a store, as of one transaction.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub(crate) generation: u64,
    indexes: BTreeMap<TableId, Vec<IndexDef>>,
    schemas: BTreeMap<TableId, Rc<Schema>>,
    /// How many levels above a written table an index or schema can be
    /// affected by the write (see index/maintain.rs).
    max_depth: usize,
    /// Plans made with this catalog content (`query/plan_cache.rs`);
    /// emptied by every change below.
    plans: PlanCache,
}

impl Catalog {
    /// Load the catalog stored in `kv`.
    pub(crate) fn load(kv: &dyn KvRead) -> Result<Catalog> {
        let mut cat = Catalog {
            generation: stored_generation(kv)?,
            ..Catalog::default()
        };
        let prefix = index_def_prefix();
        for entry in kv.scan_prefix(&prefix) {
            let (k, v) = entry?;
            let (table, path) = decode_index_def_key(&k)?;
            let (id, unique) = decode_index_def(&v)?;
            let field = FieldPath::new(path)?;
            cat.indexes.entry(table).or_default().push(IndexDef {
                id,
                table,
                field,
                unique,
            });
        }
        let prefix = schema_prefix();
        for entry in kv.scan_prefix(&prefix) {
            let (k, v) = entry?;
            let table = decode_schema_key(&k)?;
            cat.schemas.insert(table, Rc::new(decode_schema(&v)?));
        }
        cat.recompute_depth();
        Ok(cat)
    }

    /// After a change: recompute what derives from the definitions.
    fn changed(&mut self) {
        self.plans.clear();
        self.recompute_depth();
    }

    fn recompute_depth(&mut self) {
        let idx = self.indexes.values().flatten().map(|d| d.field.len());
        let sch = self.schemas.values().map(|s| s.depth());
        self.max_depth = idx.chain(sch).max().unwrap_or(0);
    }

    /// Whether no index and no schema exists (writes then skip the
    /// ancestor walk entirely).
    pub fn is_empty(&self) -> bool {
        self.indexes.is_empty() && self.schemas.is_empty()
    }

    /// Whether `table` has an index or a schema.
    pub fn has(&self, table: TableId) -> bool {
        self.indexes.contains_key(&table) || self.schemas.contains_key(&table)
    }

    /// Levels above a written table whose indexes/schemas a write can touch.
    pub(crate) fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// Indexes defined on `table`.
    pub fn indexes_on(&self, table: TableId) -> &[IndexDef] {
        self.indexes.get(&table).map_or(&[], Vec::as_slice)
    }

    /// The index on `table` at `field`, if any.
    pub fn index(&self, table: TableId, field: &FieldPath) -> Option<&IndexDef> {
        self.indexes_on(table).iter().find(|d| &d.field == field)
    }

    /// Every index of the store, by table.
    pub fn all_indexes(&self) -> impl Iterator<Item = &IndexDef> {
        self.indexes.values().flatten()
    }

    /// The schema of `table`'s records, if any.
    pub fn schema(&self, table: TableId) -> Option<&Schema> {
        self.schemas.get(&table).map(|s| &**s)
    }

    /// The plans kept for queries on this catalog.
    pub(crate) fn plans(&self) -> &PlanCache {
        &self.plans
    }

    /// Number of tables with a schema.
    pub fn schema_count(&self) -> usize {
        self.schemas.len()
    }

    pub(crate) fn add_index(&mut self, def: IndexDef) {
        self.indexes.entry(def.table).or_default().push(def);
        self.changed();
    }

    pub(crate) fn remove_index(&mut self, table: TableId, id: u64) {
        if let Some(list) = self.indexes.get_mut(&table) {
            list.retain(|d| d.id != id);
            if list.is_empty() {
                self.indexes.remove(&table);
            }
        }
        self.changed();
    }

    pub(crate) fn set_schema(&mut self, table: TableId, schema: Option<Schema>) {
        match schema {
            Some(s) => {
                self.schemas.insert(table, Rc::new(s));
            }
            None => {
                self.schemas.remove(&table);
            }
        }
        self.changed();
    }
}

/// The stored catalog generation.
pub(crate) fn stored_generation(kv: &dyn KvRead) -> Result<u64> {
    match kv.get(&KEY_CATALOG_GEN)? {
        Some(b) => decode_u64("catalog generation", &b),
        None => Ok(0),
    }
}
