//! Where a table hangs: its parent link and its path from `Memory`, read
//! from its meta. Shared by the table API, queries (messages) and stats
//! (checks), none of which needs the others for it.

use super::keyspace::{TableId, ROOT};
use super::meta::read_link;
use crate::codec::{fmt_path, Key};
use crate::error::{EngineError, Result};
use crate::kv::KvRead;

/// Name of the root table in paths and messages.
pub const ROOT_NAME: &str = "Memory";

/// Longest path followed for a message: deeper is damage (a loop of
/// parent links), and the message names the id instead.
const MAX_MESSAGE_DEPTH: usize = 64;

/// A path from `Memory` for messages.
pub(crate) fn name_of_path(path: &[Key]) -> String {
    let mut full = Vec::with_capacity(path.len() + 1);
    full.push(Key::from(ROOT_NAME));
    full.extend_from_slice(path);
    fmt_path(&full)
}

/// Parent link of `table` from its meta; `None` for the root; an error for
/// a table that does not exist.
pub(crate) fn parent_of(kv: &dyn KvRead, table: TableId) -> Result<Option<(TableId, Key)>> {
    if table == ROOT {
        return Ok(None);
    }
    match read_link(kv, table)? {
        Some((parent, key, _)) => Ok(Some((parent, key))),
        None => Err(EngineError::NoSuchTable { id: table }),
    }
}

/// A table's name for messages, or its id if the name cannot be read.
pub(crate) fn name_for_messages(kv: &dyn KvRead, table: TableId) -> String {
    let mut path = Vec::new();
    let mut cur = table;
    while let Ok(Some((parent, key))) = parent_of(kv, cur) {
        path.push(key);
        if path.len() > MAX_MESSAGE_DEPTH {
            return format!("table {table}");
        }
        cur = parent;
    }
    path.reverse();
    name_of_path(&path)
}
