//! Lua binding benches: a hot external-table read next to the same read on
//! a plain table (same VM, same run), plain-table library calls in a
//! moonvault VM next to a stock mlua VM (the binding's dispatch toll), a
//! set plus durable commit (each also `*_timed`, under a time limit, and
//! `*_budget`, under an instruction budget, both checked by the VM's
//! interrupt), and persisting plus restoring a typical
//! closure. Records the Lua heap after
//! loading 10K records through external tables, for the report.

// criterion_group! defines public functions without docs.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use moonvault_bench::facts::{self, Fact};
use moonvault_bench::setup::{lua_get_hot_chunk, lua_get_hot_vault};
use moonvault_lua_bind::function::{FunctionCodec, PersistSession, ProxyResolver, Trust};
use moonvault_lua_bind::mlua::{self, Lua, LuaOptions, StdLib};
use moonvault_lua_bind::{new_vm, Limits, RunOptions, Vault, VaultOptions};
use tempfile::TempDir;

const READS: usize = 1000;

/// Which limit a variant runs under. The limits never trip, so their checks
/// run without stopping anything.
#[derive(Clone, Copy)]
enum Limit {
    /// No limit: the VM counts, nothing checks.
    None,
    /// A 1 h time limit: the VM's interrupt reads the clock every 4,096
    /// instructions.
    Timed,
    /// An instruction budget (and the same time limit): the interrupt also
    /// adds up the count.
    Budget,
}

impl Limit {
    const ALL: [(Limit, &'static str); 3] = [
        (Limit::None, ""),
        (Limit::Timed, "_timed"),
        (Limit::Budget, "_budget"),
    ];

    fn options(self) -> RunOptions {
        let hour = Some(std::time::Duration::from_secs(3600));
        let limits = match self {
            Limit::None => Limits::NONE,
            Limit::Timed => Limits {
                max_instructions: None,
                timeout: hour,
            },
            Limit::Budget => Limits {
                max_instructions: Some(u64::MAX),
                timeout: hour,
            },
        };
        RunOptions {
            limits,
            abort: None,
        }
    }
}

fn lua_get_hot(c: &mut Criterion) {
    let dir = TempDir::new().expect("tempdir");
    let vault = lua_get_hot_vault(dir.path());
    let mut g = c.benchmark_group("lua_get_hot");
    let variants = ["external", "plain"]
        .into_iter()
        .flat_map(|kind| Limit::ALL.map(|(limit, suffix)| (kind, limit, suffix)));
    for (kind, limit, suffix) in variants {
        let table = if kind == "external" {
            "Memory"
        } else {
            "plain"
        };
        let id = format!("{kind}{suffix}");
        let code = lua_get_hot_chunk(table, READS);
        g.bench_function(id, |b| {
            b.iter(|| {
                let out = vault
                    .exec_with(&code, "bench", limit.options())
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
    for (limit, suffix) in Limit::ALL {
        g.bench_function(format!("moonvault{suffix}"), |b| {
            b.iter(|| {
                vault
                    .exec_with(
                        "Memory.counter = Memory.counter + 1",
                        "bench",
                        limit.options(),
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

/// Plain-table workloads for [`plain_table_toll`]: one iteration each.
const PLAIN_TABLE_WORK: [(&str, &str); 6] = [
    (
        "insert",
        "local t = {} for i = 1, 10000 do table.insert(t, i) end return #t",
    ),
    (
        "remove",
        "local t = {} for i = 1, 10000 do t[i] = i end
         for i = 1, 10000 do table.remove(t) end return #t",
    ),
    (
        "concat",
        "local t = {} for i = 1, 1000 do t[i] = 'item' .. i end
         local n = 0 for r = 1, 20 do n = n + #table.concat(t, ',') end return n",
    ),
    (
        "sort_cmp",
        "local t, x = {}, 7 for i = 1, 2000 do x = (x * 1103515245 + 12345) % 2147483648 t[i] = x end
         table.sort(t, function(a, b) return a > b end) return #t",
    ),
    (
        "unpack",
        "local t, s = {1, 2, 3, 4}, 0
         for i = 1, 10000 do local a, b, c, d = table.unpack(t) s = s + d end return s",
    ),
    (
        "next_pairs",
        "local t = {} for i = 1, 2000 do t['k' .. i] = i end
         local s = 0 for r = 1, 5 do for k, v in pairs(t) do s = s + v end end
         for i = 1, 2000 do if next(t) == nil then s = 0 end end return s",
    ),
];

/// The dispatch toll on plain tables: the same chunks in a moonvault VM
/// (whose `next` and `table.insert/remove/sort` dispatch between plain and
/// external tables) and in a stock mlua VM with the same libraries. The
/// chunks run as plain functions in both (no transaction around them), so
/// the ratio is the dispatch alone.
fn plain_table_toll(c: &mut Criterion) {
    let vault = Vault::memory(VaultOptions::default()).expect("vault");
    let stock = Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default()).expect("stock lua");
    stock
        .set_memory_limit(VaultOptions::default().memory_limit)
        .expect("limit");
    for (op, code) in PLAIN_TABLE_WORK {
        let mut g = c.benchmark_group(format!("plain_table_{op}"));
        for (id, lua) in [("moonvault", vault.lua()), ("mlua_stock", &stock)] {
            let f: mlua::Function = lua.load(code).into_function().expect("chunk");
            let expected: i64 = f.call(()).expect("first run");
            g.bench_function(id, |b| {
                b.iter(|| {
                    let n: i64 = f.call(()).expect("run");
                    assert_eq!(n, expected);
                })
            });
        }
        g.finish();
    }
}

fn benches(c: &mut Criterion) {
    lua_heap_after_10k();
    lua_get_hot(c);
    plain_table_toll(c);
    lua_set_commit(c);
    function_persist(c);
}

criterion_group!(lua, benches);
criterion_main!(lua);
