//! `store.stats([path])`: store-wide figures, or one table's sizes.

use mlua::{Lua, Table, Value};
use moonvault_engine::table::TableRead;

use super::path::{existing_table, target_arg};
use crate::failure::Failure;
use crate::keys::key_to_lua;
use crate::state::Shared;

/// Store-wide figures (the catalog and version as the chunk sees them).
pub(crate) fn store_stats(lua: &Lua, shared: &Shared) -> Result<Table, Failure> {
    let mut tx = shared.tx()?;
    let store = tx
        .store()
        .cloned()
        .ok_or_else(|| Failure::Message("the vault is closed".into()))?;
    let (version, indexes, schemas) = tx.read(|tx| {
        Ok((
            tx.user_version()?,
            tx.catalog().all_indexes().count(),
            tx.catalog().schema_count(),
        ))
    })?;
    drop(tx);
    let s = store.stats()?;
    let p = &s.db.pager;
    let t = lua.create_table()?;
    t.raw_set("page_size", p.page_size)?;
    t.raw_set("pages", p.live_pages)?;
    t.raw_set("free_pages", p.free_pages)?;
    t.raw_set("stored_bytes", p.stored_page_bytes)?;
    t.raw_set("cached_pages", p.cached_pages)?;
    t.raw_set("dirty_pages", p.dirty_pages)?;
    t.raw_set("cache_bytes", p.memory_bytes)?;
    t.raw_set("cache_hit_rate", s.cache_hit_rate)?;
    t.raw_set("checkpoints", p.checkpoints)?;
    t.raw_set("wal_records", s.db.wal_records)?;
    t.raw_set("wal_bytes", s.db.wal_bytes)?;
    t.raw_set("commits", s.db.commits)?;
    t.raw_set("indexes", indexes)?;
    t.raw_set("schemas", schemas)?;
    t.raw_set("version", version)?;
    t.raw_set("lua_memory", lua.used_memory())?;
    t.raw_set("lua_memory_limit", shared.options.memory_limit)?;
    Ok(t)
}

/// Sizes of the table at `path` and everything below it (nil when it
/// does not exist).
pub(crate) fn table_stats(lua: &Lua, shared: &Shared, path: &Value) -> Result<Value, Failure> {
    let target = target_arg(shared, path, "store.stats")?;
    let Some(id) = existing_table(shared, &target)? else {
        return Ok(Value::Nil);
    };
    let st = shared.tx()?.read(|tx| tx.table_stats(id))?;
    let t = lua.create_table()?;
    t.raw_set("name", st.name.as_str())?;
    t.raw_set("records", st.records)?;
    t.raw_set("entries", st.entries)?;
    t.raw_set("tables", st.tables)?;
    t.raw_set("logical_bytes", st.logical_bytes)?;
    t.raw_set("encoded_bytes", st.encoded_bytes)?;
    t.raw_set("stored_bytes", st.stored_bytes)?;
    t.raw_set("stored_per_logical", st.stored_per_logical())?;
    let list = lua.create_table()?;
    for (i, ix) in st.indexes.iter().enumerate() {
        let e = lua.create_table()?;
        let field = lua.create_table()?;
        for (j, k) in ix.field.keys().iter().enumerate() {
            field.raw_set(j + 1, key_to_lua(lua, k)?)?;
        }
        e.raw_set("field", ix.field.to_string())?;
        e.raw_set("field_keys", field)?;
        e.raw_set("unique", ix.unique)?;
        e.raw_set("entries", ix.entries)?;
        e.raw_set("stored_bytes", ix.stored_bytes)?;
        list.raw_set(i + 1, e)?;
    }
    t.raw_set("indexes", list)?;
    Ok(Value::Table(t))
}
