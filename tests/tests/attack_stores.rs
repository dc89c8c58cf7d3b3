//! Crafted but checksum-valid stores (DESIGN.md, trust model: budgets and
//! walk checks): each opens and reads to a `Corrupted` error, without
//! exhausting memory or looping, and the inputs the fuzz targets once
//! crashed on (`fixtures/fuzz/`) open or fail without a panic.

use moonvault_engine::Db;
use moonvault_pager::store::memory::MemoryStore;
use moonvault_pager::store::{Area, BlobStore, WriteOp};
use moonvault_tests::crafted::{decode_store, fix_trailer, read_all, small_options};

const FUZZ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/fuzz");

#[test]
fn inputs_the_fuzzers_crashed_on_give_an_error_or_data() {
    let mut seen = 0;
    for entry in std::fs::read_dir(format!("{FUZZ}/open_store")).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        // Any outcome but a panic (the helper fixes up checksums as the
        // fuzz target does).
        let _ = read_all(Box::new(decode_store(&data)));
        seen += 1;
    }
    assert!(seen >= 10, "the fixtures are there");
}

/// A store with some data, checkpointed: its blobs and the newest
/// superblock's generation.
fn store() -> (MemoryStore, u64) {
    let blobs = MemoryStore::new();
    let db = Db::open(Box::new(blobs.clone()), small_options()).unwrap();
    let mut txn = db.begin().unwrap();
    for i in 0..200u32 {
        txn.put(format!("k{i:04}").as_bytes(), &[7; 40]).unwrap();
    }
    txn.commit().unwrap();
    db.checkpoint().unwrap();
    drop(db);
    let generation = (0..2)
        .filter_map(|slot| blobs.get(Area::Meta, slot).unwrap())
        .map(|b| u64::from_le_bytes(b[8..16].try_into().unwrap()))
        .max()
        .unwrap();
    (blobs, generation)
}

#[test]
fn a_superblock_free_run_of_two_to_the_32_ids_is_refused_before_it_is_expanded() {
    let (blobs, generation) = store();
    let slot = generation % 2;
    let old = blobs.get(Area::Meta, slot).unwrap().unwrap().to_vec();
    // Same header and root record, a newer generation, next page id 2^40
    // and a free list of two runs of 2^32 - 1 ids each.
    let crafted = |generation: u64| {
        let runs = u32::from_le_bytes(old[20..24].try_into().unwrap()) as usize;
        let app = old[36 + 12 * runs..old.len() - 4].to_vec();
        let mut sb = old[..36].to_vec();
        sb[8..16].copy_from_slice(&generation.to_le_bytes());
        sb[20..24].copy_from_slice(&2u32.to_le_bytes());
        sb[24..32].copy_from_slice(&(1u64 << 40).to_le_bytes());
        for start in [1u64 << 20, 1 << 36] {
            sb.extend_from_slice(&start.to_le_bytes());
            sb.extend_from_slice(&u32::MAX.to_le_bytes());
        }
        sb.extend_from_slice(&app);
        sb.extend_from_slice(&[0; 4]);
        fix_trailer(&mut sb);
        WriteOp::Put {
            area: Area::Meta,
            key: generation % 2,
            value: sb.into(),
        }
    };
    // In the newest slot only: damage, so open falls back to the other
    // slot (without expanding the runs).
    let mut one = MemoryStore::from_contents(blobs.snapshot());
    one.write(vec![crafted(generation + 1)], true).unwrap();
    let db = Db::open(Box::new(one), small_options()).unwrap();
    assert_eq!(moonvault_tests::contents(&db).len(), 200);
    // In both slots: the open fails, naming the free list.
    let mut both = MemoryStore::from_contents(blobs.snapshot());
    both.write(vec![crafted(generation + 1), crafted(generation + 2)], true)
        .unwrap();
    let e = Db::open(Box::new(both), small_options()).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("free list names more than"), "{text}");
}

#[test]
fn the_open_store_fuzz_seeds_are_real_stores() {
    // The fuzz target starts from these (fuzz/seeds/, made by
    // `make_seeds`): they must still open and read whole, or the fuzzer
    // would start from noise.
    let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds/open_store");
    let mut seen = 0;
    for entry in std::fs::read_dir(seeds).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let entries = read_all(Box::new(decode_store(&data))).unwrap();
        assert!(entries > 100, "{entries} entries");
        seen += 1;
    }
    assert_eq!(seen, 2);
}
