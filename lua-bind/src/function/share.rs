//! Shared upvalues across separately loaded payloads.
//!
//! Closures stored by one [`PersistSession`](super::PersistSession) carry
//! its share group and, per upvalue, a cell number; equal `(group, cell)`
//! means one variable when stored. Loading a payload looks each cell up
//! here: if a live function loaded (or stored) earlier holds that cell,
//! the new upvalue is joined to it (`debug.upvaluejoin`), so
//! `inc`/`get` closures stored together keep sharing their counter even
//! when read one at a time, in any later VM.
//!
//! Holders are weak ([`WeakSlots`]): the map never keeps a function
//! alive. It is bounded; past the bound, dead holders go first, then the
//! oldest (a cell forgotten that way only stops being rejoined with
//! functions loaded much earlier).

use std::collections::HashMap;

use mlua::Function;

use super::weak::{Slot, WeakSlots};

/// Holders remembered before pruning.
const MAX_HOLDERS: usize = 8192;

struct Holder {
    slot: Slot,
    upvalue: u8,
    used: u64,
}

/// `(group, cell)` -> a live function holding that upvalue.
pub(crate) struct ShareMap {
    holders: HashMap<(u64, u32), Holder>,
    tick: u64,
}

impl ShareMap {
    pub fn new() -> ShareMap {
        ShareMap {
            holders: HashMap::new(),
            tick: 0,
        }
    }

    /// A live function whose upvalue `.1` is cell `(group, cell)`.
    pub fn find(
        &mut self,
        weak: &WeakSlots,
        group: u64,
        cell: u32,
    ) -> mlua::Result<Option<(Function, u8)>> {
        self.tick += 1;
        let Some(h) = self.holders.get_mut(&(group, cell)) else {
            return Ok(None);
        };
        match weak.get(h.slot)? {
            Some(f) => {
                h.used = self.tick;
                Ok(Some((f, h.upvalue)))
            }
            None => {
                let slot = h.slot;
                self.holders.remove(&(group, cell));
                weak.remove(slot)?;
                Ok(None)
            }
        }
    }

    /// Records that upvalue `upvalue` of `f` is cell `(group, cell)`,
    /// unless a live holder is already known (it then holds the same
    /// variable, since the caller joined to it).
    pub fn register(
        &mut self,
        weak: &mut WeakSlots,
        group: u64,
        cell: u32,
        f: &Function,
        upvalue: u8,
    ) -> mlua::Result<()> {
        if self.find(weak, group, cell)?.is_some() {
            return Ok(());
        }
        let slot = weak.insert(f)?;
        self.holders.insert(
            (group, cell),
            Holder {
                slot,
                upvalue,
                used: self.tick,
            },
        );
        if self.holders.len() > MAX_HOLDERS {
            self.shrink(weak)?;
        }
        Ok(())
    }

    fn shrink(&mut self, weak: &WeakSlots) -> mlua::Result<()> {
        let mut doomed = Vec::new();
        for (k, h) in &self.holders {
            if weak.get(h.slot)?.is_none() {
                doomed.push(*k);
            }
        }
        if self.holders.len() - doomed.len() > MAX_HOLDERS / 2 {
            let mut by_age: Vec<(u64, (u64, u32))> =
                self.holders.iter().map(|(k, h)| (h.used, *k)).collect();
            by_age.sort_unstable();
            let excess = self.holders.len() - doomed.len() - MAX_HOLDERS / 2;
            doomed.extend(by_age.into_iter().take(excess).map(|(_, k)| k));
        }
        for k in doomed {
            if let Some(h) = self.holders.remove(&k) {
                weak.remove(h.slot)?;
            }
        }
        Ok(())
    }
}
