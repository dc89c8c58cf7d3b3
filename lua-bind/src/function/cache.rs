//! Cache of loaded functions, keyed by payload hash.
//!
//! Reading the same stored function twice returns the same Lua function
//! (as reading a plain table field twice would) and skips `load`. The
//! key is the payload's own crc32 and length, and a hit also compares the
//! bytes, so a collision is a miss, never a wrong function.
//!
//! Two tiers, because cached functions live in the capped Lua heap:
//! - strong: the most recently used entries, bounded by count and bytes,
//!   are kept alive by the cache;
//! - weak: older entries are remembered through [`WeakSlots`], valid as
//!   long as the script still references the function anywhere.
//!
//! Every entry's payload copy is bounded too (count and total bytes); the
//! oldest entries go first.

use std::collections::HashMap;

use mlua::Function;

use super::payload;
use super::weak::{Slot, WeakSlots};

/// Bounds of the cache.
#[derive(Clone, Copy, Debug)]
pub struct CacheLimits {
    /// Functions kept alive by the cache.
    pub strong_entries: usize,
    /// Payload bytes of the functions kept alive by the cache (a proxy for
    /// the Lua heap they hold).
    pub strong_bytes: usize,
    /// Entries remembered at all (strong or weak).
    pub entries: usize,
    /// Payload bytes kept for the equality check, over all entries.
    pub bytes: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            strong_entries: 64,
            strong_bytes: 256 * 1024,
            entries: 1024,
            bytes: 4 * 1024 * 1024,
        }
    }
}

type Key = (u32, usize);

struct Entry {
    payload: Vec<u8>,
    slot: Slot,
    strong: Option<Function>,
    used: u64,
}

/// The bounded two-tier cache.
pub(crate) struct Cache {
    limits: CacheLimits,
    entries: HashMap<Key, Entry>,
    tick: u64,
    strong_count: usize,
    strong_bytes: usize,
    bytes: usize,
}

fn key(payload: &[u8]) -> Option<Key> {
    payload::stored_crc(payload).map(|crc| (crc, payload.len()))
}

impl Cache {
    pub fn new(limits: CacheLimits) -> Cache {
        Cache {
            limits,
            entries: HashMap::new(),
            tick: 0,
            strong_count: 0,
            strong_bytes: 0,
            bytes: 0,
        }
    }

    /// The function loaded from (or stored as) exactly `payload`, if cached
    /// and alive.
    pub fn get(&mut self, weak: &WeakSlots, payload: &[u8]) -> mlua::Result<Option<Function>> {
        let Some(k) = key(payload) else {
            return Ok(None);
        };
        self.tick += 1;
        let tick = self.tick;
        let Some(e) = self.entries.get_mut(&k) else {
            return Ok(None);
        };
        if e.payload != payload {
            return Ok(None);
        }
        e.used = tick;
        if let Some(f) = &e.strong {
            return Ok(Some(f.clone()));
        }
        match weak.get(e.slot)? {
            Some(f) => {
                e.strong = Some(f.clone());
                self.strong_count += 1;
                self.strong_bytes += payload.len();
                self.enforce_strong();
                Ok(Some(f))
            }
            None => {
                self.remove(weak, k)?;
                Ok(None)
            }
        }
    }

    /// Remembers that `payload` is `f`.
    pub fn insert(
        &mut self,
        weak: &mut WeakSlots,
        payload: &[u8],
        f: &Function,
    ) -> mlua::Result<()> {
        let Some(k) = key(payload) else {
            return Ok(());
        };
        if payload.len() > self.limits.bytes {
            return Ok(());
        }
        self.remove(weak, k)?;
        let slot = weak.insert(f)?;
        self.tick += 1;
        self.entries.insert(
            k,
            Entry {
                payload: payload.to_vec(),
                slot,
                strong: Some(f.clone()),
                used: self.tick,
            },
        );
        self.strong_count += 1;
        self.strong_bytes += payload.len();
        self.bytes += payload.len();
        self.enforce_strong();
        if self.entries.len() > self.limits.entries || self.bytes > self.limits.bytes {
            self.shrink(weak)?;
        }
        Ok(())
    }

    fn remove(&mut self, weak: &WeakSlots, k: Key) -> mlua::Result<()> {
        if let Some(e) = self.entries.remove(&k) {
            self.bytes -= e.payload.len();
            if e.strong.is_some() {
                self.strong_count -= 1;
                self.strong_bytes -= e.payload.len();
            }
            weak.remove(e.slot)?;
        }
        Ok(())
    }

    /// Demotes least recently used strong entries to weak until within
    /// the strong bounds.
    fn enforce_strong(&mut self) {
        while self.strong_count > self.limits.strong_entries
            || self.strong_bytes > self.limits.strong_bytes
        {
            let oldest = self
                .entries
                .values_mut()
                .filter(|e| e.strong.is_some())
                .min_by_key(|e| e.used);
            let Some(e) = oldest else { break };
            e.strong = None;
            self.strong_count -= 1;
            self.strong_bytes -= e.payload.len();
        }
    }

    /// Drops entries whose function is gone, then the oldest, until
    /// within bounds (with room to spare, so this runs rarely).
    fn shrink(&mut self, weak: &WeakSlots) -> mlua::Result<()> {
        let mut dead = Vec::new();
        for (k, e) in &self.entries {
            if e.strong.is_none() && weak.get(e.slot)?.is_none() {
                dead.push(*k);
            }
        }
        for k in dead {
            self.remove(weak, k)?;
        }
        let target_entries = self.limits.entries * 3 / 4;
        let target_bytes = self.limits.bytes * 3 / 4;
        if self.entries.len() > target_entries || self.bytes > target_bytes {
            let mut by_age: Vec<(u64, Key)> =
                self.entries.iter().map(|(k, e)| (e.used, *k)).collect();
            by_age.sort_unstable();
            for (_, k) in by_age {
                if self.entries.len() <= target_entries && self.bytes <= target_bytes {
                    break;
                }
                self.remove(weak, k)?;
            }
        }
        Ok(())
    }
}
