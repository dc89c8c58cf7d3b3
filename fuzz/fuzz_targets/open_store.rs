//! `Db::open` and a full read (both directions, the tree check, the
//! catalog, the table walk) of a memory store built from arbitrary blobs,
//! each with its checksums fixed up (format: `moonvault_tests::crafted`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use moonvault_tests::crafted::{decode_store, read_all};

fuzz_target!(|data: &[u8]| {
    let store = decode_store(data);
    let _ = read_all(Box::new(store));
});
