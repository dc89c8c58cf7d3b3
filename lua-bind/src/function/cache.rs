//! Cache of loaded functions, keyed by payload hash.
//!
//! Reading the same stored function twice returns the same Lua function
//! (as reading a plain table field twice would) and skips `load`. The
//! key is the payload's own crc32 and length, and a hit also compares a
//! 64-bit SipHash of the payload, so a wrong function would take payloads
//! equal in length, crc32 and SipHash (crafting one is a second preimage
//! of SipHash). The cache keeps no copy of the payload: in the browser's
//! 2 MiB module, copies of every recently stored function (up to 4 MiB
//! before) would not fit beside the Lua heap.
//!
//! Two tiers, because cached functions live in the capped Lua heap:
//! - strong: the most recently used entries, bounded by count and bytes,
//!   are kept alive by the cache;
//! - weak: older entries are remembered through [`WeakSlots`], valid as
//!   long as the script still references the function anywhere.
//!
//! The entries themselves are bounded by count (a few dozen bytes each);
//! the oldest go first.

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
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            strong_entries: 64,
            strong_bytes: 256 * 1024,
            entries: 1024,
        }
    }
}

type Key = (u32, usize);

struct Entry {
    /// The payload's length (part of the key) and SipHash.
    len: usize,
    fingerprint: u64,
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
}

fn key(payload: &[u8]) -> Option<Key> {
    payload::stored_crc(payload).map(|crc| (crc, payload.len()))
}

/// SipHash-1-3 of `payload` with fixed keys (std's `DefaultHasher`): the
/// same in every VM of a process, which is all the cache needs.
fn fingerprint(payload: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write(payload);
    h.finish()
}

impl Cache {
    pub fn new(limits: CacheLimits) -> Cache {
        Cache {
            limits,
            entries: HashMap::new(),
            tick: 0,
            strong_count: 0,
            strong_bytes: 0,
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
        if e.fingerprint != fingerprint(payload) {
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
        self.remove(weak, k)?;
        let slot = weak.insert(f)?;
        self.tick += 1;
        self.entries.insert(
            k,
            Entry {
                len: payload.len(),
                fingerprint: fingerprint(payload),
                slot,
                strong: Some(f.clone()),
                used: self.tick,
            },
        );
        self.strong_count += 1;
        self.strong_bytes += payload.len();
        self.enforce_strong();
        if self.entries.len() > self.limits.entries {
            self.shrink(weak)?;
        }
        Ok(())
    }

    fn remove(&mut self, weak: &WeakSlots, k: Key) -> mlua::Result<()> {
        if let Some(e) = self.entries.remove(&k) {
            if e.strong.is_some() {
                self.strong_count -= 1;
                self.strong_bytes -= e.len;
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
            self.strong_bytes -= e.len;
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
        if self.entries.len() > target_entries {
            let mut by_age: Vec<(u64, Key)> =
                self.entries.iter().map(|(k, e)| (e.used, *k)).collect();
            by_age.sort_unstable();
            for (_, k) in by_age {
                if self.entries.len() <= target_entries {
                    break;
                }
                self.remove(weak, k)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::weak::WeakSlots;
    use super::{Cache, CacheLimits};

    #[test]
    fn a_payload_with_the_same_key_but_other_bytes_is_a_miss() {
        let lua = crate::new_vm(crate::DEFAULT_MEMORY_LIMIT).unwrap();
        let mut weak = WeakSlots::new(&lua).unwrap();
        let mut cache = Cache::new(CacheLimits::default());
        let f: mlua::Function = lua.load("return function() return 1 end").eval().unwrap();
        // The key is the crc32 *stored* in the payload and its length: a
        // payload differing after its header has the same key.
        let stored = b"MVFN\x01\xaa\xbb\xcc\xddsome payload bytes".to_vec();
        let mut other = stored.clone();
        *other.last_mut().unwrap() ^= 1;
        cache.insert(&mut weak, &stored, &f).unwrap();
        assert!(cache.get(&weak, &stored).unwrap() == Some(f));
        assert!(cache.get(&weak, &other).unwrap().is_none());
    }
}
