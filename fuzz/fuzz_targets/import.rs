//! The importer fed an export file in random pieces. Byte 0: bit 0 fixes
//! up the file's crc32 trailer (so damaged content can commit and is then
//! read back whole), bit 1 installs the source-only function check; byte 1
//! seeds the piece sizes. The rest is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moonvault_engine::export::Importer;
use moonvault_engine::Db;
use moonvault_pager::store::memory::MemoryStore;
use moonvault_tests::crafted::{fix_trailer, read_all, small_options};

fuzz_target!(|data: &[u8]| {
    let [flags, seed, file @ ..] = data else {
        return;
    };
    let mut file = file.to_vec();
    if flags & 1 == 1 {
        fix_trailer(&mut file);
    }
    let store = MemoryStore::new();
    let db = Db::open(Box::new(store.clone()), small_options()).expect("open");
    let Ok(mut importer) = Importer::new(&db) else {
        return;
    };
    if flags & 2 == 2 {
        importer.check_functions(moonvault_lua_bind::function::source_only_import());
    }
    let mut state = u32::from(*seed) | 1;
    let mut rest = &file[..];
    let mut fed = Ok(());
    while !rest.is_empty() && fed.is_ok() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (1 + state as usize % 97).min(rest.len());
        fed = importer.feed(&rest[..n]);
        rest = &rest[n..];
    }
    if fed.is_ok() && importer.finish().is_ok() {
        db.checkpoint().expect("checkpoint");
        drop(db);
        let _ = read_all(Box::new(store));
    }
});
