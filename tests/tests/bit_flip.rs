//! Flip single bits of every stored blob of a small store, open it and read
//! everything: the result must be an error or the right data, never a panic,
//! and never an error saying the store is of a newer format.

use moonvault_engine::{Db, KvRead, Options};
use moonvault_pager::store::memory::MemoryStore;
use moonvault_pager::store::Area;
use moonvault_pager::PagerConfig;
use moonvault_tests::Model;
use std::ops::Bound;

fn options() -> Options {
    Options {
        pager: PagerConfig {
            page_size: 1024,
            // Branches larger than a page, in trees still several deep.
            branch_pages: 2,
            cache_bytes: 16 * 1024,
            ..PagerConfig::default()
        },
        ..Options::default()
    }
}

/// Open and read everything, or the first error.
fn read_all(store: MemoryStore) -> Result<Model, String> {
    let db = Db::open(Box::new(store), options()).map_err(|e| e.to_string())?;
    let snap = db.read().map_err(|e| e.to_string())?;
    let mut out = Model::new();
    for entry in snap.range(Bound::Unbounded, Bound::Unbounded, false) {
        let (k, v) = entry.map_err(|e| e.to_string())?;
        out.insert(k, v);
    }
    drop(snap);
    db.check().map_err(|e| e.to_string())?;
    Ok(out)
}

#[test]
fn single_bit_flips_give_an_error_or_the_right_data() {
    let store = MemoryStore::new();
    let db = Db::open(Box::new(store.clone()), options()).unwrap();
    let mut model = Model::new();
    let mut txn = db.begin().unwrap();
    for i in 0..150u32 {
        let (k, v) = (
            format!("key{i:04}").into_bytes(),
            format!("value {i} ")
                .repeat(1 + i as usize % 9)
                .into_bytes(),
        );
        txn.put(&k, &v).unwrap();
        model.insert(k, v);
    }
    let big = vec![0xA5u8; 3000];
    txn.put(b"big", &big).unwrap();
    model.insert(b"big".to_vec(), big);
    txn.commit().unwrap();
    db.checkpoint().unwrap();
    // Two more commits stay in the WAL.
    let before_last = model.clone();
    for round in 0..2u8 {
        let mut txn = db.begin().unwrap();
        let k = format!("wal{round}").into_bytes();
        txn.put(&k, &[round; 40]).unwrap();
        model.insert(k, vec![round; 40]);
        txn.commit().unwrap();
    }
    let mut before_last = before_last;
    before_last.insert(b"wal0".to_vec(), vec![0; 40]);
    drop(db);
    let pristine = store.snapshot();
    assert_eq!(
        read_all(MemoryStore::from_contents(pristine.clone())).unwrap(),
        model
    );
    let newest_wal = pristine
        .keys()
        .filter(|(a, _)| *a == Area::Wal)
        .map(|(_, k)| *k)
        .max()
        .unwrap();

    let (mut errors, mut intact, mut flips) = (0, 0, 0);
    for ((area, key), blob) in &pristine {
        for at in 0..blob.len() {
            for bit in [0x01u8, 0x80] {
                let mut contents = pristine.clone();
                let mut damaged = blob.to_vec();
                damaged[at] ^= bit;
                contents.insert((*area, *key), damaged.into());
                flips += 1;
                match read_all(MemoryStore::from_contents(contents)) {
                    // Every version byte is under a checksum: damage is
                    // never taken for a newer format.
                    Err(e) if e.contains("newer") => {
                        panic!("flip {bit:#x} at byte {at} of {area:?}/{key} read as newer: {e}")
                    }
                    Err(_) => errors += 1,
                    Ok(got) if got == model => intact += 1,
                    // A damaged newest WAL record is indistinguishable from a
                    // torn write of it: recovery ends the log before it.
                    Ok(got) if *area == Area::Wal && *key == newest_wal && got == before_last => intact += 1,
                    Ok(got) => panic!(
                        "flip {bit:#x} at byte {at} of {area:?}/{key} gave wrong data silently ({} keys)",
                        got.len()
                    ),
                }
            }
        }
    }
    assert!(
        flips > 10_000,
        "the store was too small to mean much ({flips} flips)"
    );
    assert!(errors > 0 && intact > 0, "{errors} errors, {intact} intact");
}
