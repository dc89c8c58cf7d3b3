//! Writes the committed seed corpora (`fuzz/seeds/<target>/`) from real
//! stores: a Lua script fills a memory store (tables, packed records, an
//! index, a schema, closures with upvalues, source functions), then its
//! blobs (checkpointed, and with the last commits only in the WAL), its
//! export and its function payloads become seeds. Run from `fuzz/`:
//! `cargo +nightly run --example make_seeds`.

use moonvault_engine::codec::{decode_stored, Stored, Value};
use moonvault_engine::export::export;
use moonvault_engine::{Db, KvRead};
use moonvault_lua_bind::{Vault, VaultOptions};
use moonvault_pager::store::memory::MemoryStore;
use moonvault_tests::crafted::{encode_store, small_options};
use std::ops::Bound;
use std::path::Path;

const SCRIPT: &str = r#"
Memory.users = {}
for i = 1, 40 do
  Memory.users[i] = {name = "user" .. i, age = 20 + i % 50, tags = {"a", "b"}}
end
store.index("users", "age")
store.schema("users", {name = {type = "string", required = true}, age = {type = "integer", min = 0}})
Memory.config = {title = "demo", limits = {max = 10, min = 1}, ratio = 0.5, on = true}
local count, unit = 0, "ms"
Memory.counter = function(n) count = count + (n or 1) return count, unit end
Memory.greet = store.fn("local who = ... return 'hello ' .. tostring(who)")
Memory.sin = math.sin
local shared = {hits = 0}
Memory.hooks = {
  a = function() shared.hits = shared.hits + 1 return shared end,
  b = function() return shared.hits end,
}
Memory.text = string.rep("lorem ipsum ", 200)
"#;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn main() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let blobs = MemoryStore::new();
    let options = VaultOptions {
        engine: small_options(),
        ..VaultOptions::default()
    };
    let vault = Vault::open(Box::new(blobs.clone()), options).expect("vault");
    vault.exec(SCRIPT, "seed.lua").expect("script");
    let store = vault.store().expect("store");
    store.db().checkpoint().expect("checkpoint");
    write(
        &seeds.join("open_store"),
        "checkpointed",
        &encode_store(&blobs),
    );
    vault
        .exec(
            "Memory.config.title = 'changed'; Memory.users[41] = {name = 'late', age = 3}",
            "more.lua",
        )
        .expect("more");
    write(&seeds.join("open_store"), "with_wal", &encode_store(&blobs));

    let db: &Db = store.db();
    let mut file = Vec::new();
    export(db, &mut |chunk| {
        file.extend_from_slice(chunk);
        Ok(())
    })
    .expect("export");
    for (name, flags) in [("export", 0u8), ("export_fixed_checked", 3)] {
        let mut seed = vec![flags, 7];
        seed.extend_from_slice(&file);
        write(&seeds.join("import"), name, &seed);
    }

    let snap = db.read().expect("snapshot");
    let mut n = 0;
    for entry in snap.range(Bound::Unbounded, Bound::Unbounded, false) {
        let (_, v) = entry.expect("entry");
        if let Ok(Stored::Value(Value::Function(payload))) = decode_stored(&v) {
            for mode in [0u8, 1] {
                let mut seed = vec![mode];
                seed.extend_from_slice(&payload);
                write(
                    &seeds.join("function_payload"),
                    &format!("fn{n}_{mode}"),
                    &seed,
                );
            }
            n += 1;
        }
    }
    assert!(n >= 3, "the script stores functions");
    println!("seeds written to {}", seeds.display());
}
