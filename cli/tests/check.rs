//! `moonvault check` on healthy and damaged stores: damage is named, the
//! exit status is 1, and nothing panics.

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{arg, build_store, open, run, Run};
use moonvault_engine::codec::Key;
use moonvault_engine::KvRead;
use moonvault_pager::frame::{self, FRAME_HEADER};
use moonvault_pager::store::file::FileStore;
use moonvault_pager::store::{Area, BlobStore, WriteOp};
use std::ops::Bound;

/// A store with several pages and several log batches after the last
/// checkpoint-free commit.
fn sample(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("s.db");
    build_store(&db, 300);
    let _guard = common::in_process();
    let store = open(&db);
    for i in 0..3i64 {
        store
            .set(moonvault_engine::ROOT, Key::from(format!("extra{i}")), i)
            .unwrap();
    }
    db
}

fn check(db: &Path) -> Run {
    run(&["check", "--db", arg(db)])
}

fn assert_problem(r: &Run, needle: &str) {
    assert!(
        r.stdout.contains("PROBLEM") && r.stdout.contains(needle),
        "wanted a problem naming {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout,
        r.stderr
    );
    assert!(r.stderr.contains("problem(s)"), "{}", r.stderr);
}

fn put_blob(db: &Path, area: Area, key: u64, value: Vec<u8>) {
    let _guard = common::in_process();
    let mut fs = FileStore::open(db).unwrap();
    fs.write(
        vec![WriteOp::Put {
            area,
            key,
            value: Bytes::from(value),
        }],
        true,
    )
    .unwrap();
}

fn get_blob(db: &Path, area: Area, key: u64) -> Vec<u8> {
    let _guard = common::in_process();
    let fs = FileStore::open(db).unwrap();
    let blob = fs.get(area, key).unwrap().expect("the blob exists");
    blob.to_vec()
}

fn keys(db: &Path, area: Area) -> Vec<u64> {
    let _guard = common::in_process();
    let fs = FileStore::open(db).unwrap();
    fs.keys(area).unwrap()
}

fn page_ids(db: &Path) -> Vec<u64> {
    keys(db, Area::Pages)
}

#[test]
fn healthy_store_passes() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample(dir.path());
    let r = check(&db).expect(0);
    assert!(r.stdout.contains("ok: no problems found"), "{}", r.stdout);
    assert!(
        r.stdout.contains("indexes: 1 of 1 verified"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("PROBLEM"));
}

#[test]
fn missing_store_is_an_error_not_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nothing.db");
    let r = check(&db).expect(1);
    assert!(r.stderr.contains("no moonvault store"), "{}", r.stderr);
    assert!(!db.exists());
}

#[test]
fn flipped_byte_inside_the_log_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample(dir.path());
    let log = db.join("log");
    let mut bytes = std::fs::read(&log).unwrap();
    // Inside the first batch: later batches recorded it as synced, so this
    // is damage to durable data, not a torn tail.
    bytes[60] ^= 0x10;
    std::fs::write(&log, &bytes).unwrap();
    let r = check(&db).expect(1);
    assert_problem(&r, "log cannot be opened");
    // Other commands fail with a message too.
    let r = run(&["dump", "--db", arg(&db)]).expect(1);
    assert!(r.stderr.contains("corrupted"), "{}", r.stderr);
}

#[test]
fn damaged_last_batch_is_reported_as_a_lost_tail() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample(dir.path());
    let log = db.join("log");
    let mut bytes = std::fs::read(&log).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&log, &bytes).unwrap();
    let r = check(&db).expect(1);
    assert_problem(&r, "cut off at open");
}

#[test]
fn damaged_page_blob_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample(dir.path());
    let ids = page_ids(&db);
    assert!(ids.len() > 3, "sample spans several pages: {ids:?}");
    let id = ids[ids.len() / 2];
    let mut blob = get_blob(&db, Area::Pages, id);
    blob[FRAME_HEADER + 3] ^= 0x01;
    put_blob(&db, Area::Pages, id, blob);
    let r = check(&db).expect(1);
    assert_problem(&r, &format!("page blob {id}"));
    assert!(r.stdout.contains("checksum mismatch"), "{}", r.stdout);
}

#[test]
fn damaged_superblock_slot_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample(dir.path());
    let slots = keys(&db, Area::Meta);
    let slot = slots[0];
    let mut sb = get_blob(&db, Area::Meta, slot);
    sb[10] ^= 0x40;
    put_blob(&db, Area::Meta, slot, sb);
    let r = check(&db).expect(1);
    assert_problem(&r, &format!("superblock slot {slot}"));
}

#[test]
fn damaged_wal_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample(dir.path());
    let next = keys(&db, Area::Wal).last().copied().unwrap_or(0) + 1;
    put_blob(&db, Area::Wal, next, b"not a WAL record at all".to_vec());
    let r = check(&db).expect(1);
    assert_problem(&r, &format!("record {next}"));
}

#[test]
fn missing_index_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample(dir.path());
    {
        let _guard = common::in_process();
        let store = open(&db);
        let mut tx = store.db().begin().unwrap();
        let first = tx
            .range(
                Bound::Included(&[2u8][..]),
                Bound::Excluded(&[3u8][..]),
                false,
            )
            .next()
            .expect("the index has entries")
            .unwrap()
            .0;
        assert!(tx.delete(&first).unwrap());
        tx.commit().unwrap();
    }
    let r = check(&db).expect(1);
    assert_problem(&r, "index on Memory.users(age)");
}

/// Pages re-framed with a valid checksum around damaged content reach the
/// B-tree's node decoder: every command must answer with a message.
#[test]
fn damaged_page_content_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    build_store(&db, 300);
    // Settle: recovery and the freed pages' quarantine rewrite the page set
    // on the first opens; after that an open changes no page.
    check(&db).expect(0);
    check(&db).expect(0);
    let ids = page_ids(&db);
    // The largest page: a branch may be larger than a page.
    let max_len = moonvault_pager::DEFAULT_PAGE_SIZE * moonvault_pager::DEFAULT_BRANCH_PAGES;
    let (mut tried, mut detected) = (0, 0);
    for (n, &id) in ids.iter().enumerate().take(6) {
        let original = get_blob(&db, Area::Pages, id);
        let page = frame::decode(id, &original, max_len).unwrap();
        for at in [
            0usize,
            1,
            2,
            5,
            9,
            17,
            40,
            page.data.len() / 2,
            page.data.len() - 1,
        ] {
            let mut damaged = page.clone();
            let Some(b) = damaged.data.get_mut(at) else {
                continue;
            };
            *b ^= 0x5a ^ (n as u8);
            put_blob(&db, Area::Pages, id, frame::encode(id, &damaged));
            for cmd in [&["check"][..], &["dump", "--json"][..], &["stats"][..]] {
                let mut args = cmd.to_vec();
                args.extend(["--db", arg(&db)]);
                let r = run(&args);
                assert!(
                    r.code == 0 || r.code == 1,
                    "{args:?} with page {id} byte {at} damaged: status {}\n{}",
                    r.code,
                    r.stderr
                );
                assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
                if cmd[0] == "check" && r.code == 1 {
                    detected += 1;
                }
                if cmd[0] == "check" && r.code == 0 {
                    // A flip check cannot see must at least leave the data
                    // readable and the tree valid.
                    assert!(r.stdout.contains("ok: no problems found"));
                }
            }
            tried += 1;
        }
        put_blob(&db, Area::Pages, id, original);
    }
    assert!(tried > 20);
    // Most flips break a node's layout, order or fill (a few hit slack).
    assert!(detected * 2 > tried, "check saw {detected} of {tried}");
    assert_eq!(page_ids(&db), ids, "the page set stayed put");
    check(&db).expect(0);
}
