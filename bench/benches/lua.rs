//! Lua binding benches: a hot external-table read next to the same read on
//! a plain table (same VM, same run), a set plus durable commit (each also
//! `*_limited`: under a time limit and an instruction budget), and
//! persisting plus restoring a typical closure. Records the Lua heap after
//! loading 10K records through external tables, for the report.

use criterion::{criterion_group, criterion_main, Criterion};
use moonvault_bench::facts::{self, Fact};
use moonvault_lua::function::{FunctionCodec, PersistSession, ProxyResolver, Trust};
use moonvault_lua::mlua::{self, Lua};
use moonvault_lua::{new_vm, Limits, RunOptions, Vault, VaultOptions};
use tempfile::TempDir;

const READS: usize = 1000;

/// The limits of the `*_limited` variants: a time limit and a budget that
/// never trip, so the hook runs (a count every 4,096 instructions, a clock
/// read each time) without stopping anything. `None`: no limit, no hook.
fn limits(limited: bool) -> RunOptions {
    RunOptions {
        limits: if limited {
            Limits {
                max_instructions: Some(u64::MAX),
                timeout: Some(std::time::Duration::from_secs(3600)),
            }
        } else {
            Limits::NONE
        },
        abort: None,
    }
}

fn lua_get_hot(c: &mut Criterion) {
    let dir = TempDir::new().expect("tempdir");
    let vault = Vault::open_path(dir.path().join("db"), VaultOptions::default()).expect("vault");
    vault
        .exec(
            "Memory.users = {u1 = {name = 'Ann', age = 31}}
             plain = {users = {u1 = {name = 'Ann', age = 31}}}",
            "setup",
        )
        .expect("setup");
    let mut g = c.benchmark_group("lua_get_hot");
    for (id, table, limited) in [
        ("external", "Memory", false),
        ("external_limited", "Memory", true),
        ("plain", "plain", false),
        ("plain_limited", "plain", true),
    ] {
        let code = format!(
            "local u = {table}.users.u1; local s = 0
             for i = 1, {READS} do s = s + u.age end
             return s"
        );
        g.bench_function(id, |b| {
            b.iter(|| {
                let out = vault
                    .exec_with(&code, "bench", limits(limited))
                    .expect("exec");
                assert_eq!(
                    out.first().and_then(|v| v.as_i64()),
                    Some(31 * READS as i64)
                );
            })
        });
    }
    g.finish();
}

/// The Lua heap (default 2 MB cap) after a script writes the seed's 10K
/// users into `Memory` and reads every one back: external tables keep the
/// records in the store, not on the heap.
fn lua_heap_after_10k() {
    let dir = TempDir::new().expect("tempdir");
    let vault = Vault::open_path(dir.path().join("db"), VaultOptions::default()).expect("vault");
    vault
        .exec(
            "Memory.users = {}
             for i = 1, 10000 do
               Memory.users[i] = {name = 'User ' .. i, age = 20 + i % 50, score = i * 10}
             end
             local sum = 0
             for i = 1, 10000 do sum = sum + Memory.users[i].age end
             assert(sum > 0)
             collectgarbage()",
            "heap",
        )
        .expect("10K users");
    facts::record(&Fact {
        group: "lua_heap_users_10k".into(),
        id: "moonvault".into(),
        values: [
            ("used_bytes".to_string(), vault.used_memory() as f64),
            (
                "limit_bytes".to_string(),
                VaultOptions::default().memory_limit as f64,
            ),
        ]
        .into_iter()
        .collect(),
    });
}

fn lua_set_commit(c: &mut Criterion) {
    let dir = TempDir::new().expect("tempdir");
    let vault = Vault::open_path(dir.path().join("db"), VaultOptions::default()).expect("vault");
    vault.exec("Memory.counter = 0", "setup").expect("setup");
    let mut g = c.benchmark_group("lua_set_commit");
    g.sample_size(30);
    for (id, limited) in [("moonvault", false), ("moonvault_limited", true)] {
        g.bench_function(id, |b| {
            b.iter(|| {
                vault
                    .exec_with(
                        "Memory.counter = Memory.counter + 1",
                        "bench",
                        limits(limited),
                    )
                    .expect("exec")
            })
        });
    }
    g.finish();
}

/// The closure has no external-table upvalues, so proxies never resolve.
struct NoProxies;

impl ProxyResolver for NoProxies {
    fn table_id(&self, _v: &mlua::Value) -> Option<u64> {
        None
    }
    fn proxy(&self, _lua: &Lua, id: u64) -> mlua::Result<mlua::Value> {
        Err(mlua::Error::RuntimeError(format!(
            "no table {id} in this bench"
        )))
    }
}

fn function_persist(c: &mut Criterion) {
    let lua = new_vm(8 << 20).expect("vm");
    let codec = FunctionCodec::new(&lua, Trust::Trusted).expect("codec");
    let make: mlua::Function = lua
        .load(
            "return function(seed)
               local prefix, count, cfg = 'user:', seed, {step = 2, tags = {'a', 'b'}}
               return function(name)
                 count = count + cfg.step
                 return string.format('%s%s#%d', prefix, name, count)
               end
             end",
        )
        .eval()
        .expect("factory");
    // Restored in a second VM; every closure differs (its seed), so the
    // restoring side never answers from its cache.
    let other = new_vm(8 << 20).expect("vm");
    let codec2 = FunctionCodec::new(&other, Trust::Trusted).expect("codec");
    let mut g = c.benchmark_group("function_persist");
    let mut seed = 0;
    g.bench_function("encode_decode", |b| {
        b.iter(|| {
            seed += 1;
            let f: mlua::Function = make.call(seed).expect("closure");
            let value = codec
                .encode(&lua, &f, &mut PersistSession::new(), &NoProxies)
                .expect("encode");
            let g2 = codec2.decode(&other, &value, &NoProxies).expect("decode");
            let out: String = g2.call("ann").expect("call");
            assert_eq!(out, format!("user:ann#{}", seed + 2));
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    lua_heap_after_10k();
    lua_get_hot(c);
    lua_set_commit(c);
    function_persist(c);
}

criterion_group!(lua, benches);
criterion_main!(lua);
