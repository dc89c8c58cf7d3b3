//! The function codec's view of the proxy layer: which Lua values are
//! external tables (stored by id) and the proxy of an id when a function
//! is loaded.

use mlua::{Lua, Value};

use crate::function::ProxyResolver;
use crate::proxy::ProxyRef;
use crate::state::Shared;

/// The function codec's view of the proxy layer.
pub(crate) struct Resolver<'a> {
    pub(crate) shared: &'a Shared,
}

impl ProxyResolver for Resolver<'_> {
    fn table_id(&self, v: &Value) -> Option<u64> {
        match self.shared.proxies.lookup(v) {
            ProxyRef::Live(id) => Some(id),
            _ => None,
        }
    }

    fn proxy(&self, lua: &Lua, id: u64) -> mlua::Result<Value> {
        Ok(Value::Table(self.shared.proxies.get(lua, id)?))
    }
}

impl Shared {
    /// The proxy layer as the codec sees it.
    pub(crate) fn resolver(&self) -> Resolver<'_> {
        Resolver { shared: self }
    }
}
