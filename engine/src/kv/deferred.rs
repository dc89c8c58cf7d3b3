//! Writes a transaction holds back to apply later in key order.
//!
//! Index entries are written in the order of the records that move them:
//! 10,000 users loaded in key order insert their `age` entries all over the
//! index, one random leaf each. Where memory holds only a few pages (the
//! browser's page cache is 32 KiB) nearly every such insert loads a leaf,
//! and a later spill compresses and writes it again. Held back and applied
//! in key order, a run of entries for one leaf edits that leaf once.
//! A load's records, appended in key order, are held back too: applied as
//! a run, they fill new leaves whole instead of splitting the last one
//! every few dozen records.
//!
//! A reader must never see the tree without the writes held back: the
//! write transaction applies them before any read whose key range holds one
//! of their keys (`WriteTxn::settle`; DESIGN.md section 4, "Deferred index
//! writes").
//!
//! The writes are kept apart by their key's first byte (its namespace:
//! table entries `01`, index entries `02`), each part with its own key
//! span. A read of one namespace applies only that namespace's writes, and
//! a part's keys share a longer prefix, which its sort leaves out of the
//! heads it compares ([`head`]).

use moonvault_btree::{common_prefix, SortedWrites};
use smallvec::SmallVec;
use std::ops::Bound;

/// Marks a held-back delete in [`Write::value_len`].
const DELETE: u32 = u32::MAX;

/// One held-back write: its key at `bytes[start..start + key_len]`, then
/// its value (unless it is a delete).
#[derive(Clone, Copy)]
struct Write {
    /// The key's sixteen bytes after the common prefix of every held key
    /// ([`head`]), set when the writes are sorted.
    head: u128,
    start: u32,
    key_len: u32,
    value_len: u32,
}

/// Bookkeeping bytes of one held-back write besides its key and value.
const WRITE_COST: usize = std::mem::size_of::<Write>();

/// From this many held writes on, a drain sorts them by their heads
/// ([`head`]): a pass to take the heads, then comparisons of numbers
/// instead of byte strings (10K index entries: 9.4M -> 6.2M instructions).
/// Below it, the pass costs more than it saves.
const HEADS_FROM: usize = 64;

/// Held-back puts and deletes, kept apart by their key's first byte.
/// Invariant: `parts` ascend by that byte, and each holds only keys that
/// start with it (the empty key goes with byte 0, below every other key
/// of that part), so the parts' runs, one after the other, are in key
/// order.
#[derive(Default)]
pub(crate) struct Deferred {
    parts: SmallVec<[Part; 2]>,
}

/// The held-back writes of keys with one first byte, in the order they
/// were made. Invariant: when any write is held, the keys of writes
/// `lowest` and `highest` (positions in `writes`) span every held key.
#[derive(Default)]
struct Part {
    first: u8,
    bytes: Vec<u8>,
    writes: Vec<Write>,
    lowest: usize,
    highest: usize,
}

/// One write of a [`SortedRun`]: a key and its value, or `None` to delete
/// it.
pub(crate) type SortedWrite<'a> = (&'a [u8], Option<&'a [u8]>);

impl Deferred {
    pub(crate) fn is_empty(&self) -> bool {
        self.parts.iter().all(Part::is_empty)
    }

    /// Memory held, counted by capacity.
    pub(crate) fn memory(&self) -> usize {
        self.parts.iter().map(Part::memory).sum()
    }

    /// Hold `key = value`, or a delete of `key` (`None`), unless that would
    /// take [`Deferred::memory`] past `room` bytes: then hold nothing more
    /// and answer false. The buffers grow by doubling, but never past
    /// `room` together.
    pub(crate) fn try_push(&mut self, key: &[u8], value: Option<&[u8]>, room: usize) -> bool {
        let first = key.first().copied().unwrap_or(0);
        let at = match self.parts.binary_search_by_key(&first, |p| p.first) {
            Ok(at) => at,
            Err(at) => {
                let part = Part {
                    first,
                    ..Part::default()
                };
                self.parts.insert(at, part);
                at
            }
        };
        let others = self.memory() - self.parts[at].memory();
        if self.parts[at].try_push(key, value, room.saturating_sub(others)) {
            return true;
        }
        // Parts drained earlier keep their buffers for their next writes;
        // those that hold nothing give their room up to this one.
        let mut freed = false;
        for (i, part) in self.parts.iter_mut().enumerate() {
            if i != at && part.is_empty() && part.memory() > 0 {
                (part.bytes, part.writes) = (Vec::new(), Vec::new());
                freed = true;
            }
        }
        let others = self.memory() - self.parts[at].memory();
        freed && self.parts[at].try_push(key, value, room.saturating_sub(others))
    }

    /// Whether a read of the keys between `lower` and `upper` could see a
    /// held key.
    pub(crate) fn overlaps(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> bool {
        self.parts.iter().any(|p| p.overlaps(lower, upper))
    }

    /// Hand `f` every held key a read between `lower` and `upper` could
    /// see, once each, in key order, with its last write, as one run it
    /// reads by position ([`SortedRun`]); then hold none of those writes
    /// (the buffers keep their capacity), whatever `f` returns. Whole
    /// parts are drained: those the read cannot see stay held (their keys
    /// start with other bytes, so no write of theirs is of a key drained).
    /// `Unbounded` both ways drains everything.
    pub(crate) fn drain_overlapping<R>(
        &mut self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        f: impl FnOnce(&SortedRun<'_>) -> R,
    ) -> R {
        let mut taken: SmallVec<[(usize, Vec<Write>); 2]> = SmallVec::new();
        for (at, part) in self.parts.iter_mut().enumerate() {
            if part.overlaps(lower, upper) {
                taken.push((at, part.take_sorted()));
            }
        }
        let segments: SmallVec<[(&Part, &[Write]); 2]> = taken
            .iter()
            .map(|(at, writes)| (&self.parts[*at], writes.as_slice()))
            .collect();
        let result = f(&SortedRun { segments });
        for (at, mut writes) in taken {
            writes.clear();
            let part = &mut self.parts[at];
            part.writes = writes;
            part.bytes.clear();
        }
        result
    }
}

impl Part {
    fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    fn memory(&self) -> usize {
        self.bytes.capacity() + self.writes.capacity() * WRITE_COST
    }

    /// [`Deferred::try_push`] into this part, within `room` for it.
    fn try_push(&mut self, key: &[u8], value: Option<&[u8]>, room: usize) -> bool {
        let bytes = self.bytes.len() + key.len() + value.map_or(0, <[u8]>::len);
        let writes = self.writes.len() + 1;
        if bytes <= self.bytes.capacity()
            && writes <= self.writes.capacity()
            && self.memory() <= room
        {
            self.push(key, value);
            return true;
        }
        let doubled = |cap: usize, need: usize| {
            if need <= cap {
                cap
            } else {
                (cap * 2).max(need)
            }
        };
        let fits = |b: usize, w: usize| b.saturating_add(w.saturating_mul(WRITE_COST)) <= room;
        let (mut b, mut w) = (
            doubled(self.bytes.capacity(), bytes),
            doubled(self.writes.capacity(), writes),
        );
        if !fits(b, w) {
            // Doubling would pass the room: take the rest of it, shared
            // between the two buffers as the writes so far use them, so
            // that the last stretch before a drain grows them a few times
            // rather than at every push.
            let per_write = bytes.div_ceil(writes);
            let fitting = room / (per_write + WRITE_COST);
            (b, w) = (
                bytes.max(self.bytes.capacity()).max(fitting * per_write),
                writes.max(self.writes.capacity()).max(fitting),
            );
            if !fits(b, w) {
                (b, w) = (
                    bytes.max(self.bytes.capacity()),
                    writes.max(self.writes.capacity()),
                );
            }
            if !fits(b, w) {
                return false;
            }
        }
        self.bytes.reserve_exact(b - self.bytes.len());
        self.writes.reserve_exact(w - self.writes.len());
        self.push(key, value);
        true
    }

    fn push(&mut self, key: &[u8], value: Option<&[u8]>) {
        let at = self.writes.len();
        if at == 0 {
            (self.lowest, self.highest) = (0, 0);
        } else if key > self.highest_key() {
            // First: a load's writes come in ascending order.
            self.highest = at;
        } else if key < self.lowest_key() {
            self.lowest = at;
        }
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(key);
        let value_len = match value {
            Some(v) => {
                self.bytes.extend_from_slice(v);
                v.len() as u32
            }
            None => DELETE,
        };
        self.writes.push(Write {
            head: 0,
            start,
            key_len: key.len() as u32,
            value_len,
        });
    }

    fn overlaps(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> bool {
        if self.writes.is_empty() {
            return false;
        }
        let (lowest, highest) = (self.lowest_key(), self.highest_key());
        let below_upper = match upper {
            Bound::Included(u) => lowest <= u,
            Bound::Excluded(u) => lowest < u,
            Bound::Unbounded => true,
        };
        // Most reads are of keys below every held one (records below index
        // entries, meta below records): the first comparison answers them.
        below_upper
            && match lower {
                Bound::Included(l) => highest >= l,
                Bound::Excluded(l) => highest > l,
                Bound::Unbounded => true,
            }
    }

    fn lowest_key(&self) -> &[u8] {
        self.key(&self.writes[self.lowest])
    }

    fn highest_key(&self) -> &[u8] {
        self.key(&self.writes[self.highest])
    }

    fn key(&self, w: &Write) -> &[u8] {
        let start = w.start as usize;
        &self.bytes[start..start + w.key_len as usize]
    }

    fn value(&self, w: &Write) -> Option<&[u8]> {
        if w.value_len == DELETE {
            return None;
        }
        let start = (w.start + w.key_len) as usize;
        Some(&self.bytes[start..start + w.value_len as usize])
    }

    /// The writes taken out, each key once with its last write, in key
    /// order; `bytes` still holds their keys and values.
    fn take_sorted(&mut self) -> Vec<Write> {
        // Every held key lies between the lowest and the highest, so it
        // starts with their common prefix.
        let shared = match self.writes.is_empty() {
            true => 0,
            false => common_prefix(self.lowest_key(), self.highest_key()),
        };
        let mut writes = std::mem::take(&mut self.writes);
        // In place: a stable sort would allocate a scratch copy of
        // `writes`, memory the room does not count. Among writes of one
        // key the last made (the highest start) sorts last, and is the one
        // kept: `dedup_by` keeps the first of a run, so it takes the later
        // write's place.
        if writes.len() < HEADS_FROM {
            writes
                .sort_unstable_by(|a, b| self.key(a).cmp(self.key(b)).then(a.start.cmp(&b.start)));
        } else {
            // Each key is compared by its sixteen bytes after the shared
            // prefix as one number, by its bytes only on a tie.
            for w in &mut writes {
                w.head = head(self.key(w).get(shared..).unwrap_or_default());
            }
            self.sort_by_heads(&mut writes);
        }
        writes.dedup_by(|later, kept| {
            // Keys whose heads differ differ (heads are all 0 when unset).
            let same = later.head == kept.head && self.key(later) == self.key(kept);
            if same {
                *kept = *later;
            }
            same
        });
        writes
    }

    /// Sort `writes` (their heads set) by head, then key, then start.
    fn sort_by_heads(&self, writes: &mut Vec<Write>) {
        let by_key =
            |a: &Write, b: &Write| self.key(a).cmp(self.key(b)).then(a.start.cmp(&b.start));
        if cfg!(target_arch = "wasm32") || writes.len() < RADIX_FROM {
            writes.sort_unstable_by(|a, b| a.head.cmp(&b.head).then_with(|| by_key(a, b)));
            return;
        }
        // Stable: writes of equal heads stay in the order they were made
        // (by start); those whose keys differ past the head are put in key
        // order after.
        super::radix::sort_by_u128(writes, |w| w.head);
        let mut rest = writes.as_mut_slice();
        while let Some(first) = rest.first() {
            let tied = rest.iter().take_while(|w| w.head == first.head).count();
            let (run, after) = rest.split_at_mut(tied);
            if tied > 1 {
                run.sort_unstable_by(by_key);
            }
            rest = after;
        }
    }
}

/// From this many held writes on, natively, a drain sorts them by head
/// with a radix sort (module `radix`): 10K users' index entries, 5.34M ->
/// 2.59M instructions.
const RADIX_FROM: usize = 256;

/// The first sixteen bytes of `bytes` as a big-endian number, zero-padded.
/// Byte strings whose heads differ order as their heads do: at the first
/// differing byte either both have a byte, or the shorter one ends there
/// and is a prefix of the other.
fn head(bytes: &[u8]) -> u128 {
    let mut word = [0u8; 16];
    let n = bytes.len().min(16);
    word[..n].copy_from_slice(&bytes[..n]);
    u128::from_be_bytes(word)
}

/// The held writes of [`Deferred::drain_overlapping`]: keys strictly increasing,
/// each with its last write (a value, or `None` to delete it). One
/// segment a part drained, in the parts' order.
pub(crate) struct SortedRun<'a> {
    segments: SmallVec<[(&'a Part, &'a [Write]); 2]>,
}

impl SortedRun<'_> {
    /// How many writes.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.segments.iter().map(|(_, w)| w.len()).sum()
    }
}

impl SortedWrites for SortedRun<'_> {
    fn write(&self, mut i: usize) -> Option<SortedWrite<'_>> {
        for (part, writes) in &self.segments {
            match writes.get(i) {
                Some(w) => return Some((part.key(w), part.value(w))),
                None => i -= writes.len(),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(d: &mut Deferred) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        d.drain_overlapping(Bound::Unbounded, Bound::Unbounded, |run| {
            (0..run.len())
                .map(|i| {
                    let (k, v) = run.write(i).expect("a write");
                    (k.to_vec(), v.map(<[u8]>::to_vec))
                })
                .collect()
        })
    }

    #[test]
    fn drains_in_key_order_with_each_keys_last_write() {
        let mut d = Deferred::default();
        for (k, v) in [
            (b"m", Some(&b"1"[..])),
            (b"c", Some(b"2")),
            (b"m", None),
            (b"x", Some(b"")),
            (b"c", Some(b"3")),
            (b"a", None),
        ] {
            assert!(d.try_push(k, v, usize::MAX));
        }
        assert!(d.overlaps(Bound::Included(b"b"), Bound::Excluded(b"c\0")));
        assert!(!d.overlaps(Bound::Excluded(b"x"), Bound::Unbounded));
        assert!(!d.overlaps(Bound::Unbounded, Bound::Excluded(b"a")));
        assert!(d.overlaps(Bound::Unbounded, Bound::Included(b"a")));
        assert_eq!(
            drained(&mut d),
            vec![
                (b"a".to_vec(), None),
                (b"c".to_vec(), Some(b"3".to_vec())),
                (b"m".to_vec(), None),
                (b"x".to_vec(), Some(Vec::new())),
            ]
        );
        assert!(d.is_empty());
        assert!(!d.overlaps(Bound::Unbounded, Bound::Unbounded));
        // Bounds start afresh after a drain.
        assert!(d.try_push(b"q", Some(b"v"), usize::MAX));
        assert!(!d.overlaps(Bound::Included(b"a"), Bound::Included(b"p")));
        assert_eq!(drained(&mut d), vec![(b"q".to_vec(), Some(b"v".to_vec()))]);
    }

    /// Keys that share long prefixes, differ in length and repeat: the
    /// drain gives what a map of each key's last write holds.
    #[test]
    fn drains_as_a_map_of_last_writes_does() {
        fn prop(shape: Vec<(u8, u8, bool)>) -> bool {
            let mut d = Deferred::default();
            let mut model = std::collections::BTreeMap::new();
            for (i, &(a, b, delete)) in shape.iter().enumerate() {
                // Two namespaces (parts); in each a shared head, then 2 to
                // 21 varying bytes: keys that tie on their sixteen bytes
                // after it are told apart by the rest.
                let mut key = match a % 8 < 5 {
                    true => b"\x02index-7/".to_vec(),
                    false => b"\x01table-7/".to_vec(),
                };
                key.extend(std::iter::repeat_n(a % 4, usize::from(b % 20) + 1));
                key.push(b % 5);
                let value = (!delete).then(|| (i as u32).to_le_bytes().to_vec());
                assert!(d.try_push(&key, value.as_deref(), usize::MAX));
                model.insert(key, value);
            }
            drained(&mut d) == model.into_iter().collect::<Vec<_>>()
        }
        // Runs of up to 200 writes: both sides of `HEADS_FROM`.
        quickcheck::QuickCheck::new()
            .tests(300)
            .rng(quickcheck::Gen::new(200))
            .quickcheck(prop as fn(Vec<(u8, u8, bool)>) -> bool);
    }

    /// A run long enough to be sorted by heads, whose keys tie on their
    /// sixteen bytes after the shared prefix and differ only after them
    /// (or in length), pushed in descending order.
    #[test]
    fn keys_that_tie_on_their_heads_sort_by_their_bytes() {
        let mut d = Deferred::default();
        let mut model = std::collections::BTreeMap::new();
        for i in (0..3 * HEADS_FROM).rev() {
            let mut key = b"shared/".to_vec();
            key.extend([(i % 3) as u8; 16]);
            key.extend(std::iter::repeat_n((i / 3) as u8, i % 4));
            assert!(d.try_push(&key, Some(b"v"), usize::MAX));
            model.insert(key, Some(b"v".to_vec()));
        }
        assert_eq!(drained(&mut d), model.into_iter().collect::<Vec<_>>());
    }

    /// A read of one namespace applies its writes only; the others stay
    /// held, and drain later in key order.
    #[test]
    fn a_read_drains_only_the_namespace_it_reaches() {
        let mut d = Deferred::default();
        for k in [
            &b"\x02age/30/u9"[..],
            b"\x01users/7",
            b"\x02age/20/u7",
            b"\x01users/9",
        ] {
            assert!(d.try_push(k, Some(b"v"), usize::MAX));
        }
        let (lower, upper) = (
            Bound::Included(&b"\x01users/"[..]),
            Bound::Excluded(&b"\x01users0"[..]),
        );
        assert!(d.overlaps(lower, upper));
        let read = d.drain_overlapping(lower, upper, |run| {
            (0..run.len())
                .map(|i| run.write(i).expect("a write").0.to_vec())
                .collect::<Vec<_>>()
        });
        assert_eq!(read, vec![b"\x01users/7".to_vec(), b"\x01users/9".to_vec()]);
        assert!(!d.overlaps(lower, upper), "the table's writes are applied");
        assert!(!d.is_empty(), "the index's are still held");
        assert!(d.try_push(b"\x00meta", None, usize::MAX));
        let keys: Vec<Vec<u8>> = drained(&mut d).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            vec![
                b"\x00meta".to_vec(),
                b"\x02age/20/u7".to_vec(),
                b"\x02age/30/u9".to_vec()
            ]
        );
        assert!(d.is_empty());
    }

    /// A namespace that holds nothing gives up its buffers to another
    /// that needs the room.
    #[test]
    fn an_empty_part_gives_its_room_up() {
        let mut d = Deferred::default();
        let room = 4096;
        let mut held = 0u32;
        while d.try_push(&[&[1][..], &held.to_be_bytes()].concat(), Some(b"v"), room) {
            held += 1;
        }
        drained(&mut d);
        assert!(d.memory() > room / 2, "the drained part kept its buffers");
        assert!(
            d.try_push(&[2; 8], Some(&[0; 64]), room),
            "room for another part"
        );
        assert!(d.memory() <= room);
    }

    #[test]
    fn holds_no_more_than_its_room() {
        let mut d = Deferred::default();
        let room = 400;
        let mut held = 0;
        while d.try_push(&[held as u8; 10], Some(b"v"), room) {
            held += 1;
            assert!(d.memory() <= room, "{} bytes held", d.memory());
        }
        assert!(held >= 5, "only {held} writes fit in {room} bytes");
        assert!(
            !d.try_push(&[0; 500], None, room),
            "a write alone too large"
        );
        assert_eq!(drained(&mut d).len(), held);
        assert!(d.try_push(b"k", None, room), "room again after the drain");
    }

    #[test]
    fn fills_its_room_growing_a_few_times() {
        let mut d = Deferred::default();
        let room = 1 << 20;
        let (mut held, mut grew, mut last) = (0usize, 0, d.memory());
        while d.try_push(&(held as u64).to_be_bytes(), Some(&[7; 19]), room) {
            held += 1;
            if d.memory() != last {
                (grew, last) = (grew + 1, d.memory());
            }
        }
        assert!(d.memory() <= room);
        // Doubling to near the room, then its rest in one step or two: no
        // growth at every push of the last stretch.
        assert!(grew < 40, "grew {grew} times for {held} writes");
        let each = 8 + 19 + WRITE_COST;
        assert!(
            held * each >= room * 9 / 10,
            "{held} writes of {each} bytes in {room}"
        );
    }

    #[test]
    fn a_failed_drain_still_drops_the_writes() {
        let mut d = Deferred::default();
        for k in [b"a", b"b", b"c"] {
            assert!(d.try_push(k, Some(k), usize::MAX));
        }
        let r: Result<(), &str> = d.drain_overlapping(Bound::Unbounded, Bound::Unbounded, |run| {
            assert!(run.write(2).is_some() && run.write(3).is_none());
            Err("full")
        });
        assert_eq!(r, Err("full"));
        assert!(d.is_empty());
        assert!(d.memory() > 0, "the buffers keep their capacity");
    }
}
