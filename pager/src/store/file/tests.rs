use super::batch::*;
use super::*;
use crate::store::conformance::{self, del, put, snapshot};
use crate::store::memory::{Contents, MemoryStore};
use tempfile::TempDir;

fn reopen(store: FileStore) -> FileStore {
    let dir = store.dir().to_path_buf();
    drop(store);
    FileStore::open(dir).expect("reopen")
}

fn contents(store: &FileStore) -> Contents {
    snapshot(store).expect("snapshot")
}

#[test]
fn passes_conformance() {
    let root = TempDir::new().unwrap();
    let base = root.path().to_path_buf();
    conformance::run_all(
        &mut |n| FileStore::open(base.join(format!("case{n}"))).expect("open fresh"),
        &mut reopen,
    );
}

/// A log of several batches. Returns the batches' end offsets (index 0 is
/// the empty log) and the model contents after each prefix of batches.
fn build_log(dir: &Path, durable: impl Fn(usize) -> bool) -> (Vec<u64>, Vec<Contents>) {
    let batches = vec![
        vec![put(Area::Pages, 1, b"alpha"), put(Area::Meta, 0, b"m")],
        vec![put(Area::Pages, 2, b""), del(Area::Pages, 9)],
        vec![put(Area::Pages, 1, b"alpha-2"), del(Area::Pages, 2)],
        vec![put(Area::Wal, 5, &[0xAB; 300])],
        vec![del(Area::Meta, 0), put(Area::Pages, 3, b"z")],
    ];
    let mut store = FileStore::open(dir).unwrap();
    let mut ends = vec![0];
    let mut states = vec![Contents::new()];
    for (i, ops) in batches.into_iter().enumerate() {
        let mut model = states.last().unwrap().clone();
        MemoryStore::apply(&mut model, ops.clone());
        store.write(ops, durable(i)).unwrap();
        ends.push(store.log_bytes());
        states.push(model);
    }
    assert_eq!(contents(&store), *states.last().unwrap());
    (ends, states)
}

/// Number of whole batches within the first `cut` bytes.
fn batches_within(ends: &[u64], cut: u64) -> usize {
    ends.iter().filter(|&&e| e <= cut).count() - 1
}

#[test]
fn truncation_at_every_byte_leaves_a_prefix_of_batches() {
    let src = TempDir::new().unwrap();
    let (ends, states) = build_log(src.path(), |i| i % 2 == 0);
    let log = fs::read(src.path().join(LOG_FILE)).unwrap();
    assert_eq!(log.len() as u64, *ends.last().unwrap());

    let dir = TempDir::new().unwrap();
    for cut in 0..=log.len() {
        fs::write(dir.path().join(LOG_FILE), &log[..cut]).unwrap();
        let k = batches_within(&ends, cut as u64);
        let mut store = FileStore::open(dir.path())
            .unwrap_or_else(|e| panic!("open after cut at {cut} failed: {e}"));
        assert_eq!(
            contents(&store),
            states[k],
            "cut at {cut}: expected {k} batches"
        );
        assert_eq!(
            store.log_bytes(),
            ends[k],
            "cut at {cut}: tail not truncated"
        );
        assert_eq!(store.truncated_on_open(), cut as u64 - ends[k]);
        assert_eq!(
            fs::metadata(dir.path().join(LOG_FILE)).unwrap().len(),
            ends[k],
            "cut at {cut}: file not truncated"
        );
        // The recovered store keeps working: a new batch lands after the
        // prefix and survives a reopen.
        store
            .write(vec![put(Area::Wal, 77, b"after")], false)
            .unwrap();
        let store = reopen(store);
        let mut want = states[k].clone();
        want.insert((Area::Wal, 77), Bytes::from_static(b"after"));
        assert_eq!(contents(&store), want, "cut at {cut}: write after recovery");
    }
}

/// Flip bytes of a log and open it: never a panic; a prefix or an error.
fn flip_every_byte(durable: bool) {
    let src = TempDir::new().unwrap();
    let (ends, states) = build_log(src.path(), |_| durable);
    let log = fs::read(src.path().join(LOG_FILE)).unwrap();
    let last = ends.len() - 2; // index of the last batch
    let dir = TempDir::new().unwrap();
    for pos in 0..log.len() {
        let batch = batches_within(&ends, pos as u64); // batch holding `pos`
        let is_version = pos as u64 - ends[batch] == 4 || pos as u64 - ends[batch] == 5;
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut bad = log.clone();
            bad[pos] ^= mask;
            fs::write(dir.path().join(LOG_FILE), &bad).unwrap();
            let ctx = format!("byte {pos} (batch {batch}) ^ {mask:#x}, durable={durable}");
            match FileStore::open(dir.path()) {
                Ok(store) => {
                    // The damaged batch and everything after it are gone.
                    assert_eq!(contents(&store), states[batch], "{ctx}");
                    assert!(!is_version, "{ctx}: unknown version must not be truncated");
                    assert!(
                        !durable || batch == last,
                        "{ctx}: damage to synced batch was truncated away"
                    );
                }
                Err(e) => {
                    assert!(matches!(e, StoreError::Corrupted { .. }), "{ctx}: {e}");
                    assert!(
                        is_version || (durable && batch < last),
                        "{ctx}: torn-looking damage must truncate, got {e}"
                    );
                    // Nothing was cut off the file.
                    let on_disk = fs::read(dir.path().join(LOG_FILE)).unwrap();
                    assert_eq!(on_disk, bad, "{ctx}: failed open modified the log");
                }
            }
        }
    }
}

#[test]
fn flipped_bytes_in_unsynced_log_truncate_to_a_prefix() {
    flip_every_byte(false);
}

#[test]
fn flipped_bytes_in_synced_batches_are_reported_not_dropped() {
    flip_every_byte(true);
}

#[test]
fn garbage_logs_never_panic() {
    // Valid-looking headers with hostile fields, and random noise.
    let dir = TempDir::new().unwrap();
    let mut x = 0x1234_5678_9ABC_DEF0u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..300 {
        let mut bytes = Vec::new();
        if round % 2 == 0 {
            bytes.extend_from_slice(&MAGIC);
            bytes.extend_from_slice(&VERSION.to_le_bytes());
        }
        let n = (next() % 120) as usize;
        bytes.extend((0..n).map(|_| next() as u8));
        fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
        match FileStore::open(dir.path()) {
            Ok(store) => assert!(contents(&store).is_empty(), "round {round}"),
            Err(e) => assert!(
                matches!(e, StoreError::Corrupted { .. }),
                "round {round}: {e}"
            ),
        }
    }
}

#[test]
fn crc_valid_but_malformed_batch_is_corrupted() {
    // Hand-build a batch whose crc matches but whose op has a bad area tag.
    let mut b = Vec::new();
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&1u64.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(OP_HEADER_LEN as u64).to_le_bytes());
    b.extend_from_slice(&[TAG_DELETE, 9]);
    b.extend_from_slice(&[0; 12]);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join(LOG_FILE), &b).unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("unknown area tag 9"), "{err}");
}

/// `log` with the version of the batch at `at` set to `version`, its crc
/// redone when `valid_crc` (the batch keeping version 1's framing).
fn with_batch_version(log: &[u8], at: usize, end: usize, version: u16, valid_crc: bool) -> Vec<u8> {
    let mut b = log.to_vec();
    b[at + 4..at + 6].copy_from_slice(&version.to_le_bytes());
    if valid_crc {
        let crc = crc32fast::hash(&b[at..end - CRC_LEN]);
        b[end - CRC_LEN..end].copy_from_slice(&crc.to_le_bytes());
    }
    b
}

#[test]
fn a_newer_batch_is_refused_by_name_and_never_truncated() {
    let src = TempDir::new().unwrap();
    let (ends, _) = build_log(src.path(), |_| false);
    let log = fs::read(src.path().join(LOG_FILE)).unwrap();
    let dir = TempDir::new().unwrap();
    let open = |bytes: &[u8]| {
        fs::write(dir.path().join(LOG_FILE), bytes).unwrap();
        let opened = FileStore::open(dir.path()).map(drop);
        let on_disk = fs::read(dir.path().join(LOG_FILE)).unwrap();
        (opened, on_disk)
    };
    let last = ends.len() - 2;
    // The first batch, and the last one (where a torn write would be cut).
    for batch in [0, last] {
        let (at, end) = (ends[batch] as usize, ends[batch + 1] as usize);
        for version in [VERSION + 1, 255, u16::MAX] {
            let ctx = format!("batch {batch}, version {version}");
            let newer = with_batch_version(&log, at, end, version, true);
            let (opened, on_disk) = open(&newer);
            match opened {
                Err(e @ StoreError::NewerFormat { found, .. }) => {
                    assert_eq!(found, version, "{ctx}");
                    let text = e.to_string();
                    assert!(text.contains("newer moonvault"), "{ctx}: {text}");
                    assert!(text.contains(&version.to_string()), "{ctx}: {text}");
                }
                other => panic!("{ctx}: {other:?}"),
            }
            assert_eq!(on_disk, newer, "{ctx}: the log was changed");

            // Only the version field differs from a valid version-1 batch:
            // that is damage to the field, not a newer batch.
            let damaged = with_batch_version(&log, at, end, version, false);
            let (opened, on_disk) = open(&damaged);
            match opened {
                Err(StoreError::Corrupted { detail }) => {
                    assert!(detail.contains("field is damaged"), "{ctx}: {detail}")
                }
                other => panic!("{ctx}: {other:?}"),
            }
            assert_eq!(on_disk, damaged, "{ctx}: the log was changed");
        }
    }
    // A newer batch framed otherwise (its crc is not where version 1 has
    // it), or torn: still newer, and kept, even when shorter than a
    // version-1 header.
    let end = *ends.last().unwrap() as usize;
    let tails = [
        b"MVLB\x02\x00".to_vec(),
        b"MVLB\x02\x00short".to_vec(),
        [&b"MVLB\x07\x00"[..], &[b'x'; 60]].concat(),
    ];
    for tail in tails {
        let newer = [&log[..], &tail].concat();
        let (opened, on_disk) = open(&newer);
        assert!(
            matches!(opened, Err(StoreError::NewerFormat { .. })),
            "tail {tail:?}: {opened:?}"
        );
        assert_eq!(on_disk.len(), newer.len(), "tail {tail:?}: truncated");
        assert!(on_disk.len() > end);
    }
    // Version 0 was never written: damage, kept as well.
    let mut zero = log.clone();
    zero.extend_from_slice(b"MVLB\x00\x00 and more bytes than a header holds, forty");
    let (opened, on_disk) = open(&zero);
    assert!(
        matches!(opened, Err(StoreError::Corrupted { .. })),
        "{opened:?}"
    );
    assert_eq!(on_disk, zero);
}

#[test]
fn second_open_of_the_same_directory_is_locked() {
    let dir = TempDir::new().unwrap();
    let mut first = FileStore::open(dir.path()).unwrap();
    first.write(vec![put(Area::Pages, 1, b"x")], true).unwrap();
    match FileStore::open(dir.path()) {
        Err(StoreError::Locked { detail }) => assert!(detail.contains("already open")),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(first);
    let second = FileStore::open(dir.path()).unwrap();
    assert_eq!(
        second.get(Area::Pages, 1).unwrap().as_deref(),
        Some(&b"x"[..])
    );
}

#[test]
fn explicit_compaction_keeps_contents_and_survives_reopen() {
    let dir = TempDir::new().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    for i in 0..50u64 {
        store
            .write(
                vec![put(Area::Pages, i % 5, &[i as u8; 100]), del(Area::Wal, i)],
                false,
            )
            .unwrap();
    }
    store
        .write(
            vec![put(Area::Wal, 1, b""), put(Area::Meta, 0, b"sb")],
            false,
        )
        .unwrap();
    let before = contents(&store);
    let old_len = store.log_bytes();
    store.compact().unwrap();
    let live_ops: u64 = before
        .values()
        .map(|v| (OP_HEADER_LEN + v.len()) as u64)
        .sum();
    assert_eq!(store.log_bytes(), (HEADER_LEN + CRC_LEN) as u64 + live_ops);
    assert!(store.log_bytes() < old_len / 5);
    assert_eq!(contents(&store), before);
    assert!(!dir.path().join(COMPACT_FILE).exists());

    // Writes continue after compaction, and everything survives reopen.
    store
        .write(vec![put(Area::Pages, 99, b"new")], false)
        .unwrap();
    let mut store = reopen(store);
    let mut want = before.clone();
    want.insert((Area::Pages, 99), Bytes::from_static(b"new"));
    assert_eq!(contents(&store), want);
    assert_eq!(store.stored_bytes(Area::Pages).unwrap(), 5 * 100 + 3);

    // Compacting an emptied store leaves an empty log.
    let all: Vec<_> = want.keys().map(|&(a, k)| del(a, k)).collect();
    store.write(all, true).unwrap();
    store.compact().unwrap();
    assert_eq!(store.log_bytes(), 0);
    let store = reopen(store);
    assert!(contents(&store).is_empty());
}

#[test]
fn automatic_compaction_bounds_the_log() {
    let dir = TempDir::new().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    let mut model = Contents::new();
    for i in 0..400u64 {
        let ops = vec![put(Area::Pages, i % 10, &vec![(i % 251) as u8; 8 << 10])];
        MemoryStore::apply(&mut model, ops.clone());
        store.write(ops, i % 7 == 0).unwrap();
        assert!(
            store.log_bytes() <= COMPACT_MIN_LOG_BYTES + (9 << 10),
            "write {i}: log grew to {} without compacting",
            store.log_bytes()
        );
    }
    // 400 writes of 8 KiB is over 3 MiB, so compaction must have run.
    assert_eq!(contents(&store), model);
    let store = reopen(store);
    assert_eq!(contents(&store), model);
    assert_eq!(store.truncated_on_open(), 0);
}

#[test]
fn leftover_compaction_file_is_discarded_on_open() {
    let dir = TempDir::new().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    store
        .write(vec![put(Area::Pages, 1, b"kept")], true)
        .unwrap();
    drop(store);
    // A crash mid-compaction, before the rename: a partial (here: a
    // plausible but different) log.compact next to the intact log.
    let other = TempDir::new().unwrap();
    let mut decoy = FileStore::open(other.path()).unwrap();
    decoy
        .write(vec![put(Area::Pages, 1, b"decoy")], true)
        .unwrap();
    drop(decoy);
    fs::copy(other.path().join(LOG_FILE), dir.path().join(COMPACT_FILE)).unwrap();

    let store = FileStore::open(dir.path()).unwrap();
    assert!(!dir.path().join(COMPACT_FILE).exists());
    assert_eq!(
        store.get(Area::Pages, 1).unwrap().as_deref(),
        Some(&b"kept"[..])
    );
}

#[test]
fn sequence_gap_is_corruption() {
    let dir = TempDir::new().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    store.write(vec![put(Area::Pages, 1, b"a")], true).unwrap();
    drop(store);
    let first = fs::read(dir.path().join(LOG_FILE)).unwrap();
    // Append the same batch again: crc-valid, but its sequence repeats.
    let mut doubled = first.clone();
    doubled.extend_from_slice(&first);
    fs::write(dir.path().join(LOG_FILE), &doubled).unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("sequence"), "{err}");
}

#[test]
fn many_batch_headers_after_damage_do_not_make_open_quadratic() {
    // A valid log, then bytes that are no batch (damage), then 30,000
    // batch headers, each claiming the rest of the file and that the
    // damaged bytes had been synced, none with a valid crc. Checking each
    // one's crc reads to the end of the file: 16 GB in all without the
    // budget.
    let dir = TempDir::new().unwrap();
    {
        let mut store = FileStore::open(dir.path()).unwrap();
        store
            .write(vec![put(Area::Pages, 1, b"page")], true)
            .unwrap();
    }
    let path = dir.path().join(LOG_FILE);
    let mut log = fs::read(&path).unwrap();
    let damaged_at = log.len() as u64;
    log.extend_from_slice(b"not a batch");
    const FAKES: usize = 30_000;
    let end = log.len() + FAKES * HEADER_LEN + CRC_LEN;
    for i in 0..FAKES {
        let at = log.len();
        log.extend_from_slice(&MAGIC);
        log.extend_from_slice(&VERSION.to_le_bytes());
        log.extend_from_slice(&[0, 0]);
        log.extend_from_slice(&(i as u64 + 2).to_le_bytes());
        log.extend_from_slice(&(damaged_at + 1).to_le_bytes());
        log.extend_from_slice(&0u32.to_le_bytes());
        let payload = (end - at - HEADER_LEN - CRC_LEN) as u64;
        log.extend_from_slice(&payload.to_le_bytes());
    }
    log.extend_from_slice(&[0; CRC_LEN]);
    assert_eq!(log.len(), end);
    fs::write(&path, &log).unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupted { .. })
            && err.to_string().contains("too many to check"),
        "{err}"
    );
    // Nothing was truncated.
    assert_eq!(fs::read(&path).unwrap().len(), end);
}

#[test]
fn preallocated_zeros_are_free_space_after_a_crash_and_trimmed_on_close() {
    let src = TempDir::new().unwrap();
    let mut store = FileStore::open(src.path()).unwrap();
    store
        .write(
            vec![put(Area::Pages, 1, b"one"), put(Area::Meta, 0, b"m")],
            true,
        )
        .unwrap();
    store.write(vec![put(Area::Wal, 2, b"two")], true).unwrap();
    let len = store.log_bytes();
    let want = contents(&store);
    // While open the file runs ahead of the log, in zeros: what a crash
    // (a kill, a power cut after the syncs) leaves on disk.
    let image = fs::read(src.path().join(LOG_FILE)).unwrap();
    assert_eq!(image.len() as u64, PREALLOCATE_BYTES);
    assert!(image[len as usize..].iter().all(|&b| b == 0));
    drop(store);
    assert_eq!(
        fs::metadata(src.path().join(LOG_FILE)).unwrap().len(),
        len,
        "a clean close trims the zeros"
    );

    let crashed = TempDir::new().unwrap();
    fs::write(crashed.path().join(LOG_FILE), &image).unwrap();
    let mut store = FileStore::open(crashed.path()).unwrap();
    assert_eq!(contents(&store), want);
    assert_eq!(store.log_bytes(), len);
    assert_eq!(store.truncated_on_open(), 0, "zeros are not a torn tail");
    // The next batch lands right after the log, inside the zeros.
    store
        .write(vec![put(Area::Wal, 3, b"three")], true)
        .unwrap();
    assert_eq!(
        fs::metadata(crashed.path().join(LOG_FILE)).unwrap().len(),
        PREALLOCATE_BYTES
    );
    let store = reopen(store);
    let mut after = want.clone();
    after.insert((Area::Wal, 3), Bytes::from_static(b"three"));
    assert_eq!(contents(&store), after);
    drop(store);

    // A batch torn inside the zeros is a torn tail: cut off, the rest kept.
    let mut torn = image.clone();
    let batch = fs::read(src.path().join(LOG_FILE)).unwrap();
    let second = &batch[..len as usize];
    torn[len as usize..len as usize + 20].copy_from_slice(&second[..20]);
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join(LOG_FILE), &torn).unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(contents(&store), want);
    assert_eq!(store.truncated_on_open(), PREALLOCATE_BYTES - len);
    assert_eq!(fs::metadata(dir.path().join(LOG_FILE)).unwrap().len(), len);
}

#[test]
fn the_file_grows_in_preallocation_steps() {
    let dir = TempDir::new().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    let value = vec![7u8; 300 * 1024];
    for i in 0..8 {
        store
            .write(vec![put(Area::Pages, i, &value)], false)
            .unwrap();
        let file = fs::metadata(dir.path().join(LOG_FILE)).unwrap().len();
        assert_eq!(file % PREALLOCATE_BYTES, 0, "after batch {i}");
        assert!(file >= store.log_bytes() && file - store.log_bytes() < PREALLOCATE_BYTES);
    }
    let store = reopen(store);
    assert_eq!(store.truncated_on_open(), 0);
    for i in 0..8 {
        assert_eq!(store.get(Area::Pages, i).unwrap().unwrap(), value);
    }
}
