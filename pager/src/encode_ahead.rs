//! Frames made ahead, on a worker thread, for pages the writer is done
//! with, so that a checkpoint after a load finds most of its compression
//! done (DESIGN.md section 4, "Checkpoint").
//!
//! Invariants:
//! - a frame is keyed by the page id and the *version* the page had when
//!   it was copied (the tick of its last write, `DirtyPages`); it is handed
//!   out only for that id and version, so it is always the frame of the
//!   bytes being written.
//! - `held` counts the bytes of every copy and frame this side and the
//!   worker hold, and never passes `budget` by more than one page.

use crate::frame::encode_content;
use crate::PageId;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Pages handed to the worker at once. Waking a thread costs about as
/// much as framing a page or two (more in a VM); the worker is woken only
/// when it waits, and at most once a batch.
const BATCH: usize = 32;

/// How long the worker naps when out of work, and how many naps it takes
/// before it sleeps until woken. Waking a sleeping thread cost the pager
/// about 20 us on the 2-core VM the benches run on (an interrupt to the
/// other core); a load hands a batch over about every millisecond.
const NAP: std::time::Duration = std::time::Duration::from_micros(200);
const NAPS: u32 = 20;

/// Copy buffers kept for reuse: the worker hands each back, so that a
/// buffer is allocated and freed by the same thread (a free into another
/// thread's arena takes that arena's lock, which the load's own
/// allocations contend for).
const SPARE_BUFFERS: usize = BATCH * 2;

/// A page to frame: its id, the version copied, its kind and bytes.
struct Job {
    id: PageId,
    version: u64,
    kind: u8,
    data: Vec<u8>,
}

/// A frame made: the page id and version it is of, the copy (to release
/// from `held` and reuse) and the frame.
struct Made {
    id: PageId,
    version: u64,
    copy: Vec<u8>,
    frame: Vec<u8>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    made: Vec<Made>,
    /// The worker is framing a job taken off the queue.
    busy: bool,
    /// The worker sleeps until signalled.
    waiting: bool,
    /// The pager waits for the job the worker is on.
    settling: bool,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when jobs arrive or the pager closes.
    work: Condvar,
    /// Signalled when the worker finishes a job.
    finished: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The worker only moves bytes under the lock: a panic elsewhere
        // leaves the state consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The worker and the frames it made. Dropping it stops the worker.
pub(crate) struct EncodeAhead {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    /// The worker could not start: nothing more is taken.
    refused: bool,
    /// Jobs not yet handed to the worker.
    pending: Vec<Job>,
    /// Copy buffers the worker handed back.
    spare: Vec<Vec<u8>>,
    /// Frames collected from the worker, by page id.
    frames: HashMap<PageId, (u64, Vec<u8>)>,
    held: usize,
    budget: usize,
}

impl EncodeAhead {
    /// A worker that holds at most about `budget` bytes of copies and
    /// frames. Its thread starts with the first batch.
    pub(crate) fn new(budget: usize) -> EncodeAhead {
        EncodeAhead {
            shared: Arc::default(),
            worker: None,
            refused: false,
            pending: Vec::new(),
            spare: Vec::new(),
            frames: HashMap::new(),
            held: 0,
            budget,
        }
    }

    /// Frame a copy of page `id` (`version`, `kind`, `data`) on the worker,
    /// unless that would hold more than the budget.
    pub(crate) fn submit(&mut self, id: PageId, version: u64, kind: u8, data: &[u8]) {
        if self.refused || self.held + data.len() > self.budget {
            return;
        }
        self.held += data.len();
        let mut copy = self.spare.pop().unwrap_or_default();
        copy.clear();
        copy.extend_from_slice(data);
        self.pending.push(Job {
            id,
            version,
            kind,
            data: copy,
        });
        if self.pending.len() >= BATCH {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        if self.worker.is_none() && !self.start() {
            self.refused = true;
            self.held -= self.pending.iter().map(|j| j.data.len()).sum::<usize>();
            self.pending.clear();
            return;
        }
        let (wake, made) = {
            let mut state = self.shared.lock();
            state.queue.extend(self.pending.drain(..));
            (
                std::mem::take(&mut state.waiting),
                std::mem::take(&mut state.made),
            )
        };
        if wake {
            self.shared.work.notify_one();
        }
        // Frames made so far come along, and their copies are reused.
        self.keep(made);
    }

    fn start(&mut self) -> bool {
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("moonvault-ahead".into())
            .spawn(move || work(&shared));
        self.worker = spawned.ok();
        self.worker.is_some()
    }

    /// Collect the frames made so far, without waiting for more.
    pub(crate) fn collect(&mut self) {
        let made = std::mem::take(&mut self.shared.lock().made);
        self.keep(made);
    }

    /// Collect every frame the worker will make: the jobs it has not
    /// started are dropped (their pages get encoded with the rest), the
    /// one it is on is waited for.
    pub(crate) fn settle(&mut self) {
        let dropped: usize = self.pending.drain(..).map(|j| j.data.len()).sum();
        self.held -= dropped;
        let made = {
            let mut state = self.shared.lock();
            let dropped: usize = state.queue.drain(..).map(|j| j.data.len()).sum();
            self.held -= dropped;
            state.settling = true;
            while state.busy {
                state = self
                    .shared
                    .finished
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            state.settling = false;
            std::mem::take(&mut state.made)
        };
        self.keep(made);
    }

    fn keep(&mut self, made: Vec<Made>) {
        for m in made {
            self.held = self.held - m.copy.len() + m.frame.len();
            if self.spare.len() < SPARE_BUFFERS {
                self.spare.push(m.copy);
            }
            // Versions only grow: a page framed twice keeps the later one.
            let newer = self.frames.get(&m.id).is_none_or(|(v, _)| *v < m.version);
            let replaced = if newer {
                self.frames.insert(m.id, (m.version, m.frame))
            } else {
                Some((0, m.frame))
            };
            if let Some((_, old)) = replaced {
                self.held -= old.len();
            }
        }
    }

    /// The frame of page `id` at `version`, if one was collected.
    pub(crate) fn take(&mut self, id: PageId, version: u64) -> Option<Vec<u8>> {
        match self.frames.get(&id) {
            Some((v, _)) if *v == version => {
                let (_, frame) = self.frames.remove(&id)?;
                self.held -= frame.len();
                Some(frame)
            }
            _ => None,
        }
    }

    /// Forget every frame collected (after a checkpoint: the pages left
    /// dirty, if any, have changed since; after a rollback: their pages
    /// are gone).
    pub(crate) fn forget(&mut self) {
        self.settle();
        let freed: usize = self.frames.drain().map(|(_, (_, f))| f.len()).sum();
        self.held -= freed;
    }

    /// Frames collected so far, after collecting what is ready.
    #[cfg(test)]
    pub(crate) fn ready(&mut self) -> usize {
        self.collect();
        self.frames.len()
    }

    /// Bytes of copies and frames held.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held
    }
}

impl Drop for EncodeAhead {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.closed = true;
            state.queue.clear();
        }
        self.shared.work.notify_all();
        if let Some(worker) = self.worker.take() {
            // The worker only frames bytes; a panic there has nothing to
            // report that the encode at the spill would not.
            let _ = worker.join();
        }
    }
}

/// The worker: frame jobs in the order they came until the pager closes.
fn work(shared: &Shared) {
    let mut state = shared.lock();
    let mut naps = 0;
    loop {
        let Some(job) = state.queue.pop_front() else {
            if state.closed {
                return;
            }
            if naps < NAPS {
                // Out of work during a load: nap rather than sleep, so
                // that the next batch needs no wake-up.
                drop(state);
                std::thread::sleep(NAP);
                naps += 1;
                state = shared.lock();
                continue;
            }
            state.waiting = true;
            state = shared
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting = false;
            continue;
        };
        naps = 0;
        state.busy = true;
        drop(state);
        let frame = encode_content(job.id, job.kind, &job.data);
        state = shared.lock();
        state.made.push(Made {
            id: job.id,
            version: job.version,
            copy: job.data,
            frame,
        });
        state.busy = false;
        if state.settling {
            shared.finished.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(seed: u8) -> Vec<u8> {
        (0..4096u32).map(|i| (i / 64) as u8 ^ seed).collect()
    }

    /// Wait until the worker framed every job handed over.
    fn drain(ahead: &mut EncodeAhead) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            {
                let state = ahead.shared.lock();
                if state.queue.is_empty() && !state.busy {
                    break;
                }
            }
            assert!(std::time::Instant::now() < deadline, "the worker is stuck");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        ahead.collect();
    }

    /// Wait until the worker framed `n` pages in all.
    fn wait_for(ahead: &mut EncodeAhead, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while ahead.frames.len() < n && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
            ahead.collect();
        }
        assert_eq!(
            ahead.frames.len(),
            n,
            "the worker framed what it was handed"
        );
    }

    #[test]
    fn frames_only_the_version_copied() {
        let mut ahead = EncodeAhead::new(1 << 22);
        let n = 2 * BATCH as u64 + 5;
        for id in 1..=n {
            ahead.submit(id, id * 10, 5, &data(id as u8));
        }
        wait_for(&mut ahead, 2 * BATCH);
        ahead.settle();
        for id in 1..=n {
            assert_eq!(ahead.take(id, id * 10 + 1), None, "another version");
            let frame = ahead.take(id, id * 10);
            if id <= 2 * BATCH as u64 {
                assert_eq!(frame, Some(encode_content(id, 5, &data(id as u8))));
            } else {
                // Past the last full batch: never handed over, dropped.
                assert_eq!(frame, None);
            }
            assert_eq!(ahead.take(id, id * 10), None, "taken once");
        }
        assert_eq!(ahead.held(), 0);
    }

    #[test]
    fn a_later_version_replaces_an_earlier_one() {
        let mut ahead = EncodeAhead::new(1 << 22);
        for version in [3, 1, 2] {
            for _ in 0..BATCH {
                ahead.submit(7, version, 5, &data(version as u8));
            }
            drain(&mut ahead);
        }
        assert_eq!(ahead.take(7, 1), None);
        assert_eq!(ahead.take(7, 2), None);
        assert_eq!(ahead.take(7, 3), Some(encode_content(7, 5, &data(3))));
        assert_eq!(ahead.held(), 0);
    }

    #[test]
    fn holds_no_more_than_its_budget() {
        let mut ahead = EncodeAhead::new(3 * 4096);
        for id in 1..=100u64 {
            ahead.submit(id, 1, 5, &data(1));
            assert!(ahead.held() <= 3 * 4096, "{}", ahead.held());
        }
        ahead.forget();
        assert_eq!(ahead.held(), 0);
        ahead.collect();
        assert_eq!(ahead.held(), 0);
    }

    #[test]
    fn collect_takes_what_is_ready_and_forget_drops_it() {
        let mut ahead = EncodeAhead::new(1 << 20);
        for id in 1..=(BATCH as u64) {
            ahead.submit(id, 1, 5, &data(2));
        }
        wait_for(&mut ahead, BATCH);
        assert!(!ahead.spare.is_empty(), "copies come back for reuse");
        ahead.forget();
        assert_eq!(ahead.take(1, 1), None);
        assert_eq!(ahead.held(), 0);
    }
}
