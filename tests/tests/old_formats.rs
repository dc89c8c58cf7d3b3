//! Stores written by older code still open and read back the same.
//!
//! `tests/fixtures/v1` holds stores and an export written at commit f549674,
//! `tests/fixtures/v2` to `v6` the next format generations (their READMEs say how). Each test works on a copy, since opening recovers
//! and may write. For each store: every blob passes the checks `moonvault
//! check` makes before opening, the probe script prints exactly the golden
//! `probe.out` (queries through every index, values and their subtypes, the
//! stored functions called, schemas and the user version, refused writes),
//! the tree and every index verify, and the store takes new writes that
//! survive a reopen next to the old data. The export imports to the same
//! content. (`cli/tests/old_formats.rs` runs the `moonvault` binary on the
//! same fixtures: `check`, and `dump` against the golden `dump.txt`.)
//!
//! A store claiming a format version newer than this build must be refused
//! with an error, not misread: see the tests at the end.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use moonvault_engine::export::Importer;
use moonvault_engine::index::verify_index;
use moonvault_engine::kv::{wal, RootRecord};
use moonvault_engine::{Db, Options, Store, TableRead, ROOT};
use moonvault_lua_bind::{Vault, VaultOptions};
use moonvault_pager::frame;
use moonvault_pager::store::file::FileStore;
use moonvault_pager::store::memory::{Contents, MemoryStore};
use moonvault_pager::store::{Area, BlobStore};
use moonvault_pager::superblock::Superblock;

/// One committed generation of fixtures and what is known of its content.
#[derive(Clone, Copy, Debug)]
struct Generation {
    dir: &'static str,
    /// The root record's format version its stores were written with.
    format: u8,
    /// Entries below `Memory` (every table's, sub-tables counted as entries).
    entries: usize,
    /// WAL records of store-wal that no checkpoint covers (phase B's commits).
    pending_wal_records: u64,
    /// Index definitions.
    indexes: usize,
    /// Writes made after the checks, on top of the ones every generation
    /// takes, and what the reopened store must then answer.
    writes: &'static str,
    queries: &'static str,
}

const V1: Generation = Generation {
    dir: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/v1"),
    format: 1,
    entries: 1452,
    pending_wal_records: 7,
    indexes: 4,
    writes: "",
    queries: "",
};

/// Adds packed records (`Memory.pets`) with a plain and a unique index.
const V2: Generation = Generation {
    dir: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/v2"),
    format: 2,
    // v1's, plus `pets` and its 120 records of 4 fields, less pets[5] (5),
    // pets[4]'s dropped fields (2), plus pets[6]'s collar table (2).
    entries: 1452 + 1 + 120 * 5 - 5 - 2 + 2,
    pending_wal_records: 7,
    indexes: 6,
    writes: r#"
        Memory.pets[7].legs = 9
        Memory.pets[8].weight = 0.25
        Memory.pets[121] = {name = "pet 121", legs = 9}
        Memory.pets[9] = nil
    "#,
    queries: r#"
        local pets = store.query("pets")
        eq(table.concat(pets:where("legs", "=", 9):keys(), ","), "7,121", "legs index")
        eq(pets:where("legs", "=", 1):where("weight", "<", 1):first().weight, 0.25, "a field written")
        eq(pets:where("name", "=", "pet 009"):count(), 0, "unique index after a delete")
        eq(pets:count(), 119, "pets")
    "#,
};

/// v2's content written by format 3: index entries carry the small
/// packed records they name (section 5 of DESIGN.md).
const V3: Generation = Generation {
    dir: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/v3"),
    format: 3,
    ..V2
};

/// v2's content written by format 4: a run of packed records made in
/// order is named by one meta entry (section 5 of DESIGN.md, "Meta runs").
const V4: Generation = Generation {
    dir: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/v4"),
    format: 4,
    ..V2
};

/// v2's content written by format 5: B-tree leaves of page kind 5, their
/// slot directory after their cells (section 3 of DESIGN.md).
const V5: Generation = Generation {
    dir: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/v5"),
    format: 5,
    ..V2
};

/// v2's content written by format 6, whose branches may be larger than a
/// page (section 2 of DESIGN.md, "Branch size"; superblock version 2), and
/// a third store of it on 1 KiB pages whose branches are.
const V6: Generation = Generation {
    dir: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/v6"),
    format: 6,
    ..V2
};

const GENERATIONS: [Generation; 6] = [V1, V2, V3, V4, V5, V6];

/// The page size every generation's fixtures were written with.
const FIXTURE_PAGE_SIZE: usize = 4096;

fn fixture(generation: &Generation, name: &str) -> PathBuf {
    Path::new(generation.dir).join(name)
}

fn read_text(generation: &Generation, name: &str) -> String {
    std::fs::read_to_string(fixture(generation, name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A copy of fixture store `name` in a new temporary directory.
fn copy_store(generation: &Generation, name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(fixture(generation, name)).expect("the fixture exists") {
        let entry = entry.expect("dir entry");
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).expect("copy");
    }
    tmp
}

// ---- what `moonvault check` looks at before opening ----------------------

/// What the blob pass found.
#[derive(Debug, Default)]
struct Blobs {
    /// The root record's format version.
    format: u8,
    /// Page blobs by page kind (1 leaf, 2 branch, 3 overflow).
    kinds: BTreeMap<u8, u64>,
    /// Page blobs stored raw (not lz4).
    raw_frames: u64,
    /// The store's page size, and the logical length of its largest branch.
    page_size: usize,
    largest_branch: usize,
    wal_records: u64,
    pending_wal_records: u64,
}

/// The raw checks of `moonvault check` (cli/src/check.rs, steps 2-4), on
/// the bytes as found: both superblock slots, every page frame, every WAL
/// record.
fn check_blobs(store: &dyn BlobStore) -> Blobs {
    let mut slots = Vec::new();
    for slot in 0..2 {
        let bytes = store.get(Area::Meta, slot).unwrap();
        let bytes = bytes.unwrap_or_else(|| panic!("superblock slot {slot} is missing"));
        slots.push(Superblock::decode(&bytes).expect("superblock"));
    }
    let sb = slots.into_iter().max_by_key(|s| s.generation).unwrap();
    let root = RootRecord::decode(&sb.app).expect("root record");
    let mut found = Blobs {
        format: root.format,
        page_size: sb.page_size as usize,
        ..Blobs::default()
    };
    let largest = sb.largest_page() as usize;
    for id in store.keys(Area::Pages).unwrap() {
        assert!(
            id > 0 && id < sb.next_page_id,
            "page blob {id} is unreferenced"
        );
        let blob = store.get(Area::Pages, id).unwrap().unwrap();
        let page = frame::decode(id, &blob, largest).expect("page frame");
        *found.kinds.entry(page.kind).or_default() += 1;
        if page.kind == moonvault_btree::KIND_BRANCH {
            found.largest_branch = found.largest_branch.max(page.data.len());
        } else {
            assert!(
                page.data.len() <= found.page_size,
                "page {id} outgrew its page"
            );
        }
        found.raw_frames += u64::from(blob[6] == 0);
    }
    for seq in store.keys(Area::Wal).unwrap() {
        let record = store.get(Area::Wal, seq).unwrap().unwrap();
        wal::decode(seq, &record).expect("WAL record");
        found.wal_records += 1;
        found.pending_wal_records += u64::from(seq > root.wal_applied);
    }
    found
}

/// The engine checks of `moonvault check` (steps 6-8): every reachable
/// page and tree invariant, every entry of every table decodes and links
/// up, every index equals a rebuild.
fn check_engine(generation: &Generation, store: &Store) {
    let tree = store.db().check().expect("tree check");
    assert!(
        tree.branch_pages > 0 && tree.overflow_pages >= 3,
        "{tree:?}"
    );
    let snap = store.read().unwrap();
    let tables = snap.table_stats(ROOT).expect("every table decodes");
    assert!(tables.tables > 400, "{tables:?}");
    let defs: Vec<_> = snap.catalog().all_indexes().cloned().collect();
    assert_eq!(defs.len(), generation.indexes, "{defs:?}");
    for def in &defs {
        verify_index(&snap, def).unwrap_or_else(|e| panic!("index on {}: {e}", def.field));
    }
}

// ---- running Lua on a store ----------------------------------------------

/// Runs `code` and returns what it printed, lines as `moonvault run` prints
/// them.
fn printed(vault: &Vault, code: &str, name: &str) -> String {
    let out = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&out);
    vault.set_print_sink(Some(Box::new(move |line: &[u8]| {
        let mut out = sink.borrow_mut();
        out.extend_from_slice(line);
        out.push(b'\n');
    })));
    let result = vault.exec(code, name);
    vault.set_print_sink(None);
    if let Err(e) = result {
        panic!("{name}: {e}\n{}", e.traceback().unwrap_or_default());
    }
    let bytes = out.borrow().clone();
    String::from_utf8(bytes).expect("the probe prints ASCII")
}

/// The fixture's probe script must print the golden output.
fn assert_probe(generation: &Generation, vault: &Vault) {
    let out = printed(vault, &read_text(generation, "probe.lua"), "probe.lua");
    let golden = read_text(generation, "probe.out");
    for (i, (got, want)) in out.lines().zip(golden.lines()).enumerate() {
        assert_eq!(got, want, "probe.out line {}", i + 1);
    }
    assert_eq!(out, golden, "probe output differs in length");
}

/// Every entry below `Memory`: path -> value (`{}` for a table; values
/// shown as the probe shows them).
fn listing(vault: &Vault) -> BTreeMap<String, String> {
    let code = r#"
        local function show(v)
          if type(v) == "string" then
            return '"' .. v:gsub('[%c"\\\128-\255]', function(c) return ("\\%03d"):format(c:byte()) end) .. '"'
          elseif type(v) == "function" then
            return "function"
          elseif v ~= v then
            return "nan:float"
          elseif math.type(v) == "float" then
            return ("%.17g:float"):format(v)
          end
          return tostring(v)
        end
        local function walk(t, path)
          for k, v in pairs(t) do
            local p = path .. "[" .. show(k) .. "]"
            if type(v) == "table" then
              print(p, "{}")
              walk(v, p)
            else
              print(p, show(v))
            end
          end
        end
        walk(Memory, "Memory")
    "#;
    printed(vault, code, "listing.lua")
        .lines()
        .map(|line| {
            let (path, value) = line.split_once('\t').expect("path TAB value");
            (path.to_string(), value.to_string())
        })
        .collect()
}

fn open_vault(dir: &Path) -> Vault {
    Vault::open_path(dir, VaultOptions::default()).expect("the fixture opens")
}

// ---- the stores ------------------------------------------------------------

/// Opens a copy of store `name`, checks everything, writes, reopens, and
/// checks the old data next to the new.
fn store_reads_back_and_takes_writes(generation: &Generation, name: &str) -> Blobs {
    let dir = copy_store(generation, name);
    let blobs = check_blobs(&FileStore::open(dir.path()).expect("the log opens"));
    assert_eq!(blobs.format, generation.format, "the fixture's format");
    assert!(
        blobs.kinds.len() == 3,
        "leaf, branch and overflow pages: {blobs:?}"
    );
    assert!(
        blobs.raw_frames > 0,
        "a frame lz4 could not shrink: {blobs:?}"
    );

    let vault = open_vault(dir.path());
    assert_probe(generation, &vault);
    check_engine(generation, &vault.store().unwrap());
    let before = listing(&vault);
    assert_eq!(before.len(), generation.entries, "entries below Memory");

    // New writes into the old structures: a record (index entries), an
    // update, a deletion, a new table.
    let write = r#"
        Memory.users[201] = {name = "user 201", age = 99, score = 0.5, profile = {city = "Reykjavik"}}
        Memory.users[5].score = 1234.5
        Memory.users[6] = nil
        Memory.later = {note = "written by the current code", n = 1}
    "#;
    vault
        .exec(write, "write.lua")
        .expect("the old store takes writes");
    vault
        .exec(generation.writes, "writes.lua")
        .expect("the old store takes writes");
    let after = listing(&vault);
    vault.close().unwrap();

    let mut expected = before;
    expected.retain(|path, _| !path.starts_with("Memory[\"users\"][6]"));
    // The generation's own writes: whatever they left, read back alike.
    for (path, value) in after {
        if !path.starts_with("Memory[\"users\"]") && !path.starts_with("Memory[\"later\"]") {
            expected.insert(path, value);
        }
    }
    expected.retain(|path, _| !path.starts_with("Memory[\"pets\"][9]"));
    let u201 = "Memory[\"users\"][201]";
    for (path, value) in [
        (u201.to_string(), "{}"),
        (format!("{u201}[\"name\"]"), "\"user 201\""),
        (format!("{u201}[\"age\"]"), "99"),
        (format!("{u201}[\"score\"]"), "0.5:float"),
        (format!("{u201}[\"profile\"]"), "{}"),
        (format!("{u201}[\"profile\"][\"city\"]"), "\"Reykjavik\""),
        ("Memory[\"users\"][5][\"score\"]".into(), "1234.5:float"),
        ("Memory[\"later\"]".into(), "{}"),
        ("Memory[\"later\"][\"n\"]".into(), "1"),
        (
            "Memory[\"later\"][\"note\"]".into(),
            "\"written by the current code\"",
        ),
    ] {
        expected.insert(path, value.to_string());
    }

    let vault = open_vault(dir.path());
    assert_eq!(listing(&vault), expected, "old and new data after a reopen");
    check_engine(generation, &vault.store().unwrap());
    let queries = r#"
        local function eq(got, want, what)
          if got ~= want then error(("%s: got %s, want %s"):format(what, got, want), 2) end
        end
        local users = store.query("users")
        eq(table.concat(users:where("age", "=", 99):keys(), ","), "201", "age index")
        eq(users:where("profile.city", "=", "Reykjavik"):first().name, "user 201", "city index")
        eq(users:where("name", "=", "user 006"):count(), 0, "unique index after a delete")
        eq(table.concat(users:where("score", "=", 1234.5):keys(), ","), "5", "score index")
        eq(users:count(), 199, "users")
        eq(store.version(), 2, "user version")
        local inc, get = Memory.counter[1], Memory.counter[2]
        eq(inc(2), 12, "inc")
        eq(get(), 12, "the shared upvalue")
        eq(Memory.fact(5), 120, "fact")
        eq(Memory.area(6, 7), 42, "area")
        eq(Memory.greet("Bo"), ">> Hello, Bo! (x0.5, 7)", "greet")
        eq(pcall(function() Memory.users[1].age = "old" end), false, "the schema")
    "#;
    let queries = format!("{queries}\n{}", generation.queries);
    vault
        .exec(&queries, "queries.lua")
        .unwrap_or_else(|e| panic!("{e}"));
    vault.close().unwrap();
    blobs
}

#[test]
fn clean_store_reads_back_and_takes_writes() {
    for generation in &GENERATIONS {
        let blobs = store_reads_back_and_takes_writes(generation, "store-clean");
        assert_eq!(blobs.wal_records, 0, "store-clean has an empty WAL");
    }
}

#[test]
fn store_with_pending_wal_reads_back_and_takes_writes() {
    for generation in &GENERATIONS {
        let blobs = store_reads_back_and_takes_writes(generation, "store-wal");
        assert_eq!(blobs.pending_wal_records, generation.pending_wal_records);
    }
}

/// Since v6: store-clean's content on 1 KiB pages, branches of 4 KiB.
#[test]
fn small_page_store_with_large_branches_reads_back_and_takes_writes() {
    for generation in &GENERATIONS[5..] {
        let blobs = store_reads_back_and_takes_writes(generation, "store-small-pages");
        assert_eq!(blobs.page_size, 1024);
        assert!(
            (1025..=4096).contains(&blobs.largest_branch),
            "a branch larger than a page: {blobs:?}"
        );
    }
}

#[test]
fn export_imports_to_the_same_content() {
    for generation in &GENERATIONS {
        export_imports_to_the_same_content_of(generation);
    }
}

fn export_imports_to_the_same_content_of(generation: &Generation) {
    let bytes = std::fs::read(fixture(generation, "export.mvx")).unwrap();
    // The fixtures' page size (the default when they were written), so
    // the imported tree has the shape check_engine expects.
    let mut options = Options::default();
    options.pager.page_size = FIXTURE_PAGE_SIZE;
    let db = Db::open(Box::new(MemoryStore::new()), options).unwrap();
    let mut importer = Importer::new(&db).unwrap();
    // In pieces, as a stream arrives.
    for piece in bytes.chunks(10_000) {
        importer.feed(piece).expect("the export parses");
    }
    importer.finish().expect("the export imports");
    let vault = Vault::with_store(Store::open(db).unwrap(), VaultOptions::default()).unwrap();
    assert_probe(generation, &vault);
    check_engine(generation, &vault.store().unwrap());
}

// ---- a newer format version ------------------------------------------------
//
// A store written by a newer build than this one must give an error that
// names the version: never a misread of the bytes, an older state, or a
// panic. Each case sets one version byte to NEWER (checksums recomputed):
// in the blobs of store-clean or store-wal loaded into a memory store, in
// the file store's log, or in the export.

/// A format version no build will reach (2 is already taken by the
/// generation after v1).
const NEWER: u8 = 255;

/// Every blob of fixture store `name`.
fn load_blobs(name: &str) -> Contents {
    let dir = copy_store(&V1, name);
    let file = FileStore::open(dir.path()).expect("the log opens");
    let mut contents = Contents::new();
    for area in Area::ALL {
        for key in file.keys(area).unwrap() {
            contents.insert((area, key), file.get(area, key).unwrap().unwrap());
        }
    }
    contents
}

/// Opens `contents` and reads everything (the probe script): the first
/// error, or the number of entries read. An open that fails leaves the
/// store as it was.
fn open_and_read(contents: Contents) -> Result<u64, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let store = MemoryStore::from_contents(contents.clone());
    let db = Db::open(Box::new(store.clone()), Options::default()).map_err(|e| {
        assert!(
            store.snapshot() == contents,
            "a failed open changed the store: {e}"
        );
        err(&e)
    })?;
    let store = Store::open(db).map_err(|e| err(&e))?;
    let vault = Vault::with_store(store, VaultOptions::default()).map_err(|e| err(&e))?;
    vault.set_print_sink(Some(Box::new(|_: &[u8]| {})));
    let probe = read_text(&V1, "probe.lua");
    vault.exec(probe, "probe.lua").map_err(|e| err(&e))?;
    let snap = vault.store().unwrap().read().map_err(|e| err(&e))?;
    let stats = snap.table_stats(ROOT).map_err(|e| err(&e))?;
    Ok(stats.entries)
}

/// The newest superblock slot of `contents`.
fn newest_slot(contents: &Contents) -> (u64, Superblock) {
    (0..2)
        .filter_map(|slot| {
            let bytes = contents.get(&(Area::Meta, slot))?;
            Some((slot, Superblock::decode(bytes).ok()?))
        })
        .max_by_key(|(_, sb)| sb.generation)
        .expect("a valid superblock")
}

/// `bytes` with byte `at` set to [`NEWER`] and the trailing crc32
/// recomputed over everything before it.
fn bump_trailing_crc(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] = NEWER;
    let body = b.len() - 4;
    let crc = crc32fast::hash(&b[..body]);
    b[body..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// A structure of a fixture claiming version [`NEWER`].
#[derive(Clone, Copy, Debug)]
enum Newer {
    /// The superblock in the newest slot (a newer build checkpointed once).
    SuperblockNewestSlot,
    /// The superblocks in both slots.
    SuperblockBothSlots,
    /// The engine's root record in the newest superblock.
    RootRecord,
    /// The frame of the B-tree's root page.
    PageFrame,
    /// The newest WAL record of store-wal.
    NewestWalRecord,
    /// A WAL record with another one after it.
    EarlierWalRecord,
    /// The first batch of the file store's log.
    FileStoreLog,
    /// The export file.
    Export,
}

impl Newer {
    const ALL: [Newer; 8] = [
        Newer::SuperblockNewestSlot,
        Newer::SuperblockBothSlots,
        Newer::RootRecord,
        Newer::PageFrame,
        Newer::NewestWalRecord,
        Newer::EarlierWalRecord,
        Newer::FileStoreLog,
        Newer::Export,
    ];

    /// Opens and reads the patched fixture: entries read, or the error.
    fn open(self) -> Result<u64, String> {
        let clean = || {
            let blobs = load_blobs("store-clean");
            let (slot, sb) = newest_slot(&blobs);
            (blobs, slot, sb)
        };
        let wal = || {
            let blobs = load_blobs("store-wal");
            let (_, last) = *blobs.keys().filter(|(a, _)| *a == Area::Wal).max().unwrap();
            (blobs, last)
        };
        match self {
            // Superblock: version at byte 4, crc32 trailer.
            Newer::SuperblockNewestSlot | Newer::SuperblockBothSlots => {
                let (mut c, slot, sb) = clean();
                c.insert(
                    (Area::Meta, slot),
                    bump_trailing_crc(&sb.encode(), 4).into(),
                );
                if matches!(self, Newer::SuperblockBothSlots) {
                    let other = c[&(Area::Meta, 1 - slot)].clone();
                    c.insert((Area::Meta, 1 - slot), bump_trailing_crc(&other, 4).into());
                }
                open_and_read(c)
            }
            // Root record: byte 4 of the superblock's application bytes.
            Newer::RootRecord => {
                let (mut c, slot, mut sb) = clean();
                sb.app[4] = NEWER;
                c.insert((Area::Meta, slot), sb.encode().into());
                open_and_read(c)
            }
            // Page frame: version at byte 4, crc32 at 24..28 over the header
            // before it and the payload after it.
            Newer::PageFrame => {
                let (mut c, _, sb) = clean();
                let root = RootRecord::decode(&sb.app).unwrap().tree_root.unwrap();
                let mut page = c[&(Area::Pages, root)].to_vec();
                page[4] = NEWER;
                let mut crc = crc32fast::Hasher::new();
                crc.update(&page[..24]);
                crc.update(&page[28..]);
                page[24..28].copy_from_slice(&crc.finalize().to_le_bytes());
                c.insert((Area::Pages, root), page.into());
                open_and_read(c)
            }
            // WAL record: version at byte 4, crc32 trailer.
            Newer::NewestWalRecord | Newer::EarlierWalRecord => {
                let (mut c, last) = wal();
                let seq = if matches!(self, Newer::NewestWalRecord) {
                    last
                } else {
                    last - 1
                };
                let record = bump_trailing_crc(&c[&(Area::Wal, seq)], 4);
                c.insert((Area::Wal, seq), record.into());
                open_and_read(c)
            }
            // The log's first batch: u16 version at byte 4, read before the
            // batch's crc32 (a newer version may frame batches otherwise);
            // payload length at 28, crc32 after the payload over everything
            // before it. With the crc left as it was, only the version field
            // would differ from a valid version-1 batch: that is damage.
            Newer::FileStoreLog => {
                let dir = copy_store(&V1, "store-clean");
                let log = dir.path().join("log");
                let mut bytes = std::fs::read(&log).unwrap();
                bytes[4] = NEWER;
                bytes[5] = 0;
                let mut payload_len = [0u8; 8];
                payload_len.copy_from_slice(&bytes[28..36]);
                let end = 36 + u64::from_le_bytes(payload_len) as usize;
                let crc = crc32fast::hash(&bytes[..end]);
                bytes[end..end + 4].copy_from_slice(&crc.to_le_bytes());
                std::fs::write(&log, &bytes).unwrap();
                let opened = FileStore::open(dir.path());
                assert_eq!(
                    std::fs::read(&log).unwrap(),
                    bytes,
                    "the log is left as it was"
                );
                opened.map(|_| 0).map_err(|e| e.to_string())
            }
            // The export: version at byte 8, crc32 trailer.
            Newer::Export => {
                let export = std::fs::read(fixture(&V1, "export.mvx")).unwrap();
                let export = bump_trailing_crc(&export, 8);
                let db = Db::open(Box::new(MemoryStore::new()), Options::default()).unwrap();
                let mut importer = Importer::new(&db).unwrap();
                let imported = importer.feed(&export).and_then(|()| importer.finish());
                imported.map_err(|e| e.to_string())
            }
        }
    }
}

#[test]
fn newer_versions_are_refused() {
    for case in Newer::ALL {
        match case.open() {
            Err(e) => assert!(
                e.contains("version") || e.contains("format"),
                "{case:?}: {e}"
            ),
            Ok(entries) => panic!("{case:?}: not refused, {entries} entries read"),
        }
    }
}

/// What a user should read when a store is newer than the build: the
/// version found, that it is newer, and not that the data is damaged
/// (restoring a backup over a newer store would lose its newer data).
/// Returns what is wrong instead.
fn says_newer(case: Newer) -> Result<(), String> {
    match case.open() {
        Ok(entries) => Err(format!("{case:?}: not refused, {entries} entries read")),
        Err(e) if !e.contains(&NEWER.to_string()) || !e.contains("newer") => {
            Err(format!("{case:?}: {e}"))
        }
        Err(e) if e.to_lowercase().contains("corrupt") => Err(format!("{case:?}: {e}")),
        Err(_) => Ok(()),
    }
}

#[test]
fn newer_superblock_in_the_newest_slot_is_refused() {
    says_newer(Newer::SuperblockNewestSlot).unwrap();
}

#[test]
fn newer_wal_record_at_the_end_is_refused() {
    says_newer(Newer::NewestWalRecord).unwrap();
}

#[test]
fn newer_versions_are_reported_as_newer() {
    let wrong: Vec<String> = Newer::ALL
        .into_iter()
        .filter_map(|c| says_newer(c).err())
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
