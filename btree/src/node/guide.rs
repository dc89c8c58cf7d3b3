//! Interpolation guides: where among a node's heads (module `aid`) a
//! search should start, computed from the head itself.
//!
//! Heads never decrease. When they rise about evenly (keys numbered in
//! order, the usual case for records), the head of a probe says nearly
//! where it falls: `guess(h) = ((h - first) * slope) >> 64`, with
//! `slope = ceil((n - 1) * 2^64 / (last - first))`. A guide records the slope
//! and its *reach*: the largest distance between a head's guess and its
//! position, measured over every head when the aid is derived.
//!
//! Invariant (what makes a guided search exact): for a probe `h` with
//! `first < h <= last`, the number of heads below `h` lies in
//! `guess(h) - reach ..= guess(h) + reach + 1`. Proof: let `j` be that
//! number; then `0 < j < n` and `heads[j - 1] < h <= heads[j]`. `guess`
//! never decreases, so `guess(h) <= guess(heads[j]) <= j + reach` and
//! `guess(h) >= guess(heads[j - 1]) >= j - 1 - reach`. Nothing here
//! assumes the interpolation is good: the reach measures how bad it is,
//! and a guide whose window would not beat a plain binary search is not
//! kept. Ties, uneven keys and damaged (unsorted) heads only widen the
//! reach or drop the guide; they never change an answer.

/// A kept guide's window (`2 * reach + 2` heads) is at most this
/// fraction of the heads: a smaller gain is not worth the multiply.
const MAX_WINDOW_SHARE: usize = 8;

/// The reach word of a node without a guide.
const NO_GUIDE: u64 = u64::MAX;

/// An interpolation guide over a node's heads, stored in its aid as three
/// words just before the heads: the slope, the reach ([`NO_GUIDE`] for
/// none) and a copy of the last head, so that a guided search reads the
/// guide, the first head and its window, and nothing at the far end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Guide {
    slope: u64,
    reach: u64,
    last: u64,
}

/// Words a guide takes in an aid.
pub(crate) const GUIDE_WORDS: usize = 3;

impl Guide {
    /// No guide: searches binary-search every head.
    pub(crate) const NONE: Guide = Guide {
        slope: 0,
        reach: NO_GUIDE,
        last: 0,
    };

    /// The guide of `heads` (the aid's, in order), or [`Guide::NONE`] if
    /// interpolation would not narrow a search enough.
    pub(crate) fn derive<T>(heads: &[T], head: impl Fn(&T) -> u64) -> Guide {
        let n = heads.len();
        let (Some(first), Some(last)) = (heads.first().map(&head), heads.last().map(&head)) else {
            return Guide::NONE;
        };
        if n < 2 || last <= first {
            return Guide::NONE;
        }
        // Rounded up, so that evenly spaced heads guess exactly; the
        // guess of `last` is still at most `n - 1`, since
        // `span * ceil(x / span) < x + span` and `span < 2^64`.
        let slope = (((n - 1) as u128) << 64)
            .div_ceil(u128::from(last - first))
            .min(u128::from(u64::MAX)) as u64;
        let mut guide = Guide {
            slope,
            reach: 0,
            last,
        };
        let mut reach = 0u64;
        for (i, h) in (0u64..).zip(heads.iter().map(&head)) {
            // Unsorted (damaged) heads below the first guess 0.
            let g = guide.guess(h.saturating_sub(first));
            reach = reach.max(g.abs_diff(i));
        }
        let window = reach.saturating_mul(2).saturating_add(2);
        if window.saturating_mul(MAX_WINDOW_SHARE as u64) > n as u64 {
            return Guide::NONE;
        }
        guide.reach = reach;
        guide
    }

    /// The guide stored as `words` (`[slope, reach, last]`).
    #[inline(always)]
    pub(crate) fn from_words(words: &[u64]) -> Guide {
        match *words {
            [slope, reach, last] => Guide { slope, reach, last },
            _ => Guide::NONE,
        }
    }

    /// The words to store.
    pub(crate) fn words(self) -> [u64; GUIDE_WORDS] {
        [self.slope, self.reach, self.last]
    }

    /// The guessed position of a head `above_first` above the first.
    #[inline(always)]
    fn guess(self, above_first: u64) -> u64 {
        ((u128::from(above_first) * u128::from(self.slope)) >> 64) as u64
    }

    /// How many of `heads` are below `h`: `heads.partition_point(|x|
    /// head(x) < h)`, searched only within the guide's window when it has
    /// one. `heads` must be the heads this guide was derived from.
    #[inline(always)]
    pub(crate) fn lower_bound<T>(self, heads: &[T], head: impl Fn(&T) -> u64, h: u64) -> usize {
        if self.reach != NO_GUIDE {
            if let Some(first) = heads.first().map(&head) {
                if h <= first {
                    return 0;
                }
                // The guide's copy of the last head (a guide kept with
                // another node's heads answers wrongly but stays in bounds).
                if h > self.last {
                    return heads.len();
                }
                // `h - first <= last - first`, so the guess is at most
                // `n - 1`, and the window is never empty (clamped anyway).
                let n = heads.len() as u64;
                let g = self.guess(h - first);
                let mut lo = g.saturating_sub(self.reach).min(n) as usize;
                let mut hi = g.saturating_add(self.reach).saturating_add(1).min(n) as usize;
                // `partition_point` of the window, written out: a window
                // is a few heads, and this inlines where the call did not.
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    match heads.get(mid) {
                        Some(x) if head(x) < h => lo = mid + 1,
                        _ => hi = mid,
                    }
                }
                return lo;
            }
        }
        heads.partition_point(|x| head(x) < h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    fn word(x: &u64) -> u64 {
        *x
    }

    fn agrees(heads: &[u64], probes: &[u64]) -> bool {
        let guide = Guide::derive(heads, word);
        let extremes = [0, 1, u64::MAX - 1, u64::MAX];
        let near = heads
            .iter()
            .flat_map(|&h| [h.wrapping_sub(1), h, h.wrapping_add(1)]);
        probes
            .iter()
            .copied()
            .chain(extremes)
            .chain(near)
            .all(|h| guide.lower_bound(heads, word, h) == heads.partition_point(|&x| x < h))
    }

    #[test]
    fn evenly_rising_heads_get_a_narrow_guide() {
        let heads: Vec<u64> = (0..100u64).map(|i| 5_000 + 7 * i).collect();
        let guide = Guide::derive(&heads, word);
        assert_eq!(guide.reach, 0, "{guide:?}");
        assert!(agrees(&heads, &[4_999, 5_001, 5_700]));
        // Consecutive heads: the slope saturates and still guides.
        let heads: Vec<u64> = (1_000..1_100u64).collect();
        assert!(Guide::derive(&heads, word).reach <= 1);
        assert!(agrees(&heads, &[]));
        // Numbered keys as the engine encodes them (f64 images): evenly
        // spaced within a binade; across one the spacing halves, and the
        // guide is dropped or wide, never wrong.
        let image = |i: u64| (i as f64).to_bits() << 8;
        let heads: Vec<u64> = (4_100..4_300u64).map(image).collect();
        assert_eq!(Guide::derive(&heads, word).reach, 0);
        let heads: Vec<u64> = (3_990..4_200u64).map(image).collect();
        assert!(agrees(&heads, &[]));
    }

    #[test]
    fn uneven_tied_or_unsorted_heads_search_alike() {
        // Clustered: a guide would not narrow the search.
        let mut heads: Vec<u64> = (0..60u64).collect();
        heads.extend((0..40u64).map(|i| u64::MAX / 2 + i));
        assert_eq!(Guide::derive(&heads, word), Guide::NONE);
        assert!(agrees(&heads, &[30, 61, u64::MAX / 2 + 3]));
        // Ties only.
        assert_eq!(Guide::derive(&[9; 20], word), Guide::NONE);
        // Damaged: unsorted heads may keep a guide but never panic.
        let heads: Vec<u64> = (0..64u64)
            .map(|i| if i == 30 { 3 } else { i * 10 })
            .collect();
        let guide = Guide::derive(&heads, word);
        for h in [0, 3, 4, 299, 300, 301, 630, 631, u64::MAX] {
            assert!(guide.lower_bound(&heads, word, h) <= heads.len());
        }
        // Words round-trip; anything else is no guide.
        assert_eq!(Guide::from_words(&guide.words()), guide);
        assert_eq!(Guide::from_words(&[1, 2]), Guide::NONE);
    }

    quickcheck! {
        fn guided_search_is_partition_point(steps: Vec<u16>, base: u64, probes: Vec<u64>, jitter: u8) -> bool {
            // Rising heads with steps of varying evenness (jitter 0: even).
            let spread = u64::from(jitter % 4);
            let mut h = base;
            let mut heads = Vec::new();
            for (i, s) in steps.iter().take(300).enumerate() {
                let step = 1_000 + u64::from(*s) * spread + (i as u64 % 3) * spread;
                h = h.saturating_add(if *s % 17 == 0 { 0 } else { step });
                heads.push(h);
            }
            let probes: Vec<u64> = probes.iter().map(|p| base.wrapping_add(p % 400_000)).collect();
            agrees(&heads, &probes)
        }
    }
}
