//! A stable sort by a 128-bit number, a byte at a time (least significant
//! radix sort), for the writes a transaction held back.
//!
//! A drain of 10K index entries spent 530 instructions a write in a
//! comparison sort of 32-byte records (callgrind `bulk_load`). Their keys
//! differ in a few bytes only (an age, a record id), so a pass per byte
//! that varies, each a count and a scatter, is several times cheaper. It
//! needs a second buffer as long as the input, which is why only native
//! builds use it (in the 2 MiB web module the held-back writes share the
//! log's budget, and the sort stays in place).

/// Sort `items` by `key`, keeping the order of items with equal keys (and
/// the vector's capacity). Bytes of the key that are equal in every item
/// take no pass; nor do the lowest varying bytes when the items already
/// come in their order (see [`presorted_bytes`]).
pub(crate) fn sort_by_u128<T: Copy>(items: &mut Vec<T>, key: impl Fn(&T) -> u128) {
    let n = items.len();
    if n < 2 {
        return;
    }
    let mut from = std::mem::take(items);
    let mut to: Vec<T> = Vec::with_capacity(n);
    let mut moved = false;
    // The bits in which some key differs from the first: only the bytes
    // holding such bits take a pass.
    let first = key(&from[0]);
    let varying = from
        .iter()
        .fold(0u128, |acc, item| acc | (key(item) ^ first));
    let bytes: Vec<u32> = (0..16)
        .filter(|b| (varying >> (8 * b)) & 0xFF != 0)
        .collect();
    let skip = presorted_bytes(&from, &bytes, &key);
    for &byte in &bytes[skip..] {
        let shift = 8 * byte;
        let digit = |item: &T| ((key(item) >> shift) & 0xFF) as usize;
        let mut counts = [0usize; 256];
        for item in &from {
            counts[digit(item)] += 1;
        }
        let mut starts = [0usize; 256];
        let mut at = 0;
        for (start, count) in starts.iter_mut().zip(counts) {
            *start = at;
            at += count;
        }
        // Every slot of `to` is written exactly once: the starts partition
        // 0..n by digit. (Filled once to have its length; after a swap it
        // holds the previous pass's items, all overwritten.)
        if to.len() != n {
            to.clear();
            to.extend_from_slice(&from);
        }
        for item in &from {
            let d = digit(item);
            to[starts[d]] = *item;
            starts[d] += 1;
        }
        std::mem::swap(&mut from, &mut to);
        moved = !moved;
    }
    if moved {
        // The sorted items are in the scratch buffer: back into the
        // caller's.
        to.clear();
        to.extend_from_slice(&from);
        from = to;
    }
    *items = from;
}

/// How many of the lowest varying `bytes` (ascending) need no pass: the
/// most such that `items` already come in order by the key's bytes up to
/// the last of them. The passes over those bytes would leave the items
/// where they are (each pass is stable, and the order they sort by is
/// the one the items have), so they are skipped. Index entries held back
/// by a load are the case: they come in record order, and only the
/// indexed value's bytes need passes (10K users' index entries: one pass
/// instead of three). A check stops at the first pair out of order, so
/// the checks that fail are short.
fn presorted_bytes<T>(items: &[T], bytes: &[u32], key: &impl Fn(&T) -> u128) -> usize {
    for (taken, &byte) in bytes.iter().enumerate().rev() {
        let mask = u128::MAX >> (8 * (15 - byte));
        if items
            .windows(2)
            .all(|w| key(&w[0]) & mask <= key(&w[1]) & mask)
        {
            return taken + 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    /// Whether the radix sort orders `items` (key, place) as the
    /// library's stable sort does.
    fn sorts_as_the_library(items: Vec<(u128, usize)>) -> bool {
        let mut radix = items.clone();
        sort_by_u128(&mut radix, |&(k, _)| k);
        let mut want = items;
        want.sort_by_key(|&(k, _)| k);
        radix == want
    }

    quickcheck! {
        fn sorts_stably_as_the_library_does(keys: Vec<(u8, u64, u16)>) -> bool {
            // Keys with few distinct bytes (many ties, many equal bytes)
            // and the item's place to check stability.
            sorts_as_the_library(keys
                .iter()
                .enumerate()
                .map(|(i, &(a, b, c))| {
                    ((u128::from(a) << 120) | (u128::from(b % 1000) << 40) | u128::from(c % 3), i)
                })
                .collect())
        }
    }

    quickcheck! {
        fn sorts_items_presorted_by_their_low_bytes(highs: Vec<u8>, cut: u8) -> bool {
            // An index entry's shape: a value that cycles, then a record
            // id that ascends (from `cut` on, a second run starts over).
            let cut = usize::from(cut);
            sorts_as_the_library(highs
                .iter()
                .enumerate()
                .map(|(i, &h)| {
                    let id = if i < cut { i } else { i - cut } as u128;
                    ((u128::from(h % 5) << 64) | (id * 257), i)
                })
                .collect())
        }
    }

    #[test]
    fn skips_the_passes_of_bytes_already_in_order() {
        let items: Vec<u128> = (0..1000u128).map(|i| ((i % 7) << 64) | i).collect();
        let bytes = [0, 1, 8];
        assert_eq!(presorted_bytes(&items, &bytes, &|&k| k), 2);
        let sorted: Vec<u128> = (0..1000u128).collect();
        assert_eq!(presorted_bytes(&sorted, &[0, 1], &|&k| k), 2);
        let reversed: Vec<u128> = (0..1000u128).rev().collect();
        assert_eq!(presorted_bytes(&reversed, &[0, 1], &|&k| k), 0);
    }

    #[test]
    fn equal_keys_keep_their_order_and_the_buffer() {
        let mut items: Vec<(u128, u32)> = Vec::with_capacity(5000);
        items.extend((0..1000).map(|i| (u128::from(i % 7 == 0), i)));
        sort_by_u128(&mut items, |&(k, _)| k);
        assert_eq!(items.capacity(), 5000);
        assert!(items.windows(2).all(|w| w[0].0 < w[1].0 || w[0].1 < w[1].1));
        assert_eq!(items.iter().filter(|(k, _)| *k == 1).count(), 143);
    }
}
