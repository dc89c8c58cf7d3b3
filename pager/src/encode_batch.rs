//! Frames for many pages at once, on more than one core where there are
//! several.
//!
//! A checkpoint after a bulk load writes thousands of new pages, and
//! compressing them is most of its time (lz4 was 10% of loading 10K users
//! natively). Each page's frame depends on that page alone, so the batch is
//! cut into one contiguous share per thread and the frames come back in the
//! pages' order: the store sees exactly what one thread would have made.
//! wasm32 has no threads; a platform that refuses to start one encodes that
//! share on the calling thread.

use crate::frame::encode_content;
use crate::PageId;

/// A page to encode: its id, kind and logical bytes.
pub(crate) type PageContent<'a> = (PageId, u8, &'a [u8]);

/// Below this many pages in a batch, starting a thread costs more than it
/// saves (a 4 KiB page takes a few microseconds to compress; starting and
/// joining a thread, tens).
pub(crate) const THREADED_FROM: usize = 64;

/// The threads a checkpoint may use when its config says 0 ("as many as
/// the machine has"): all the cores, at most four.
pub(crate) fn default_threads() -> usize {
    if cfg!(target_arch = "wasm32") {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// The frames of `pages`, in their order, made by up to `threads` threads
/// (the caller's included).
pub(crate) fn encode_batch(pages: &[PageContent<'_>], threads: usize) -> Vec<Vec<u8>> {
    let encode = |share: &[PageContent<'_>]| -> Vec<Vec<u8>> {
        share
            .iter()
            .map(|&(id, kind, data)| encode_content(id, kind, data))
            .collect()
    };
    let threads = threads.clamp(1, pages.len().max(1));
    if threads == 1 || pages.len() < THREADED_FROM || cfg!(target_arch = "wasm32") {
        return encode(pages);
    }
    let share = pages.len().div_ceil(threads);
    let mut shares = pages.chunks(share);
    let own = shares.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let started: Vec<_> = shares
            .map(|rest| {
                let spawned = std::thread::Builder::new()
                    .name("moonvault-encode".into())
                    .spawn_scoped(scope, move || encode(rest));
                (rest, spawned.ok())
            })
            .collect();
        let mut frames = encode(own);
        for (rest, handle) in started {
            // A thread that could not start, or that panicked (it only
            // compresses bytes it was lent), leaves its share to this one.
            match handle.map(|h| h.join()) {
                Some(Ok(done)) => frames.extend(done),
                _ => frames.extend(encode(rest)),
            }
        }
        frames
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame;

    fn pages(n: usize) -> Vec<(PageId, u8, Vec<u8>)> {
        (0..n)
            .map(|i| {
                // Some compress, some do not (raw frames).
                let data: Vec<u8> = if i % 3 == 0 {
                    (0..4096u32)
                        .map(|j| (j.wrapping_mul(2_654_435_761) >> 13) as u8)
                        .collect()
                } else {
                    vec![i as u8; 100 + i]
                };
                (i as PageId + 7, 1 + (i % 3) as u8, data)
            })
            .collect()
    }

    #[test]
    fn frames_come_back_in_order_and_equal_one_threads() {
        for n in [0, 1, THREADED_FROM - 1, THREADED_FROM, 257] {
            let owned = pages(n);
            let lent: Vec<PageContent<'_>> = owned
                .iter()
                .map(|(id, k, d)| (*id, *k, d.as_slice()))
                .collect();
            let one = encode_batch(&lent, 1);
            for threads in [2, 3, 4, 64] {
                assert!(
                    encode_batch(&lent, threads) == one,
                    "{n} pages, {threads} threads"
                );
            }
            assert_eq!(one.len(), n);
            for ((id, kind, data), blob) in owned.iter().zip(&one) {
                let page = frame::decode(*id, blob, 4096).expect("decodes");
                assert_eq!((page.kind, &page.data), (*kind, data));
            }
        }
    }

    #[test]
    fn default_threads_is_at_least_one_and_at_most_four() {
        assert!((1..=4).contains(&default_threads()));
    }
}
