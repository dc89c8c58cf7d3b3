//! Leaf bytes, stored bytes and lookup/scan speed of a tree of keys shaped
//! like the engine's, for comparing node formats:
//!
//! ```text
//! cargo run --release -p moonvault-btree --example btree_sizes [sizes|speed]
//! ```
//!
//! Data sets (4 KiB pages):
//! - `records`: table entries `01 01 02 <int key: 20, f64 image, 80 00>`
//!   with 24-byte values;
//! - `small`: the same keys with 8-byte values;
//! - `index`: index entries `02 01 05 <int value key> <record key>` with
//!   empty values.
//!
//! Each is loaded ascending in one transaction and in a random order in
//! transactions of 100, then checkpointed. `speed` times random point gets
//! over the whole set, full forward scans (entry by entry and in runs),
//! seeks with ten steps each, and the random load itself (best of 5); the
//! same workloads run alone for callgrind (see `main`).

use moonvault_btree::{BTree, KIND_BRANCH, KIND_OVERFLOW};
use moonvault_pager::store::memory::MemoryStore;
use moonvault_pager::{Pager, PagerConfig};
use std::hint::black_box;
use std::ops::Bound;
use std::time::Instant;

/// The engine's order-preserving encoding of a non-negative integer key.
fn int_key(n: u64) -> [u8; 11] {
    let image = (n as f64).to_bits() ^ (1 << 63);
    let mut k = [0u8; 11];
    k[0] = 0x20;
    k[1..9].copy_from_slice(&image.to_be_bytes());
    k[9..].copy_from_slice(&[0x80, 0]);
    k
}

/// How a data set's `n`-th key is made.
type KeyFn = fn(u64) -> Vec<u8>;

fn record_key(n: u64) -> Vec<u8> {
    let mut k = vec![0x01, 0x01, 0x02];
    k.extend_from_slice(&int_key(n));
    k
}

fn index_key(n: u64) -> Vec<u8> {
    let mut k = vec![0x02, 0x01, 0x05];
    k.extend_from_slice(&int_key(20 + n % 50));
    k.extend_from_slice(&int_key(n));
    k
}

fn value(n: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (n as u8).wrapping_mul(7).wrapping_add(i as u8))
        .collect()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn shuffled(n: u64, seed: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    let mut rng = Rng(seed);
    for i in (1..v.len()).rev() {
        v.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    v
}

struct Loaded {
    pager: Pager,
    tree: BTree,
}

fn load(n: u64, key: KeyFn, value_len: usize, ascending: bool, cache_bytes: usize) -> Loaded {
    let store = MemoryStore::new();
    let config = PagerConfig {
        page_size: 4096,
        branch_pages: moonvault_pager::DEFAULT_BRANCH_PAGES,
        cache_bytes,
        ..PagerConfig::default()
    };
    let (mut pager, _) = Pager::open(Box::new(store), config).expect("open");
    let mut tree = BTree::default();
    let order = if ascending {
        (0..n).collect()
    } else {
        shuffled(n, 0x9E37_79B9)
    };
    let per_txn = if ascending { order.len().max(1) } else { 100 };
    for chunk in order.chunks(per_txn) {
        pager.begin().expect("begin");
        for &i in chunk {
            tree.insert(&mut pager, &key(i), &value(i, value_len))
                .expect("insert");
        }
        pager.commit().expect("commit");
    }
    pager
        .checkpoint(tree.root.unwrap_or(0).to_le_bytes().to_vec(), vec![])
        .expect("checkpoint");
    Loaded { pager, tree }
}

/// (leaf pages, leaf bytes, branch pages)
fn leaf_bytes(l: &Loaded) -> (u64, u64, u64) {
    let mut ids = Vec::new();
    l.tree
        .pages(&l.pager, &mut |id| ids.push(id))
        .expect("pages");
    let (mut leaves, mut bytes, mut branches) = (0, 0, 0);
    for id in ids {
        let page = l.pager.read(id).expect("read");
        match page.kind {
            KIND_BRANCH => branches += 1,
            KIND_OVERFLOW => {}
            _ => {
                leaves += 1;
                bytes += page.data.len() as u64;
            }
        }
    }
    (leaves, bytes, branches)
}

fn best_of<F: FnMut()>(rounds: usize, mut f: F) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[inline(never)]
fn measured_get(l: &Loaded, probes: &[Vec<u8>]) {
    for k in probes {
        black_box(
            l.tree
                .get_with(&l.pager, k, |v| v.len())
                .expect("get")
                .expect("present"),
        );
    }
}

#[inline(never)]
fn measured_scan(l: &Loaded) -> u64 {
    let mut c = l.tree.range(Bound::Unbounded, Bound::Unbounded, false);
    let mut seen = 0u64;
    while c
        .next_with(&l.tree, &l.pager, |k, v| {
            black_box((k, v));
        })
        .expect("scan")
        .is_some()
    {
        seen += 1;
    }
    seen
}

#[inline(never)]
fn measured_run(l: &Loaded) -> u64 {
    let mut c = l.tree.range(Bound::Unbounded, Bound::Unbounded, false);
    let mut seen = 0u64;
    loop {
        let got = c
            .next_run_with(&l.tree, &l.pager, 64, |k, v| {
                black_box((k, v));
            })
            .expect("scan");
        if got == 0 {
            break;
        }
        seen += got as u64;
    }
    seen
}

#[inline(never)]
fn measured_seek(l: &Loaded, probes: &[Vec<u8>]) {
    for k in probes {
        let mut c = l.tree.range(Bound::Included(k), Bound::Unbounded, false);
        for _ in 0..10 {
            black_box(c.next(&l.tree, &l.pager).expect("scan"));
        }
    }
}

#[inline(never)]
fn measured_load(n: u64) -> Loaded {
    load(n, record_key, 24, false, 256 << 20)
}

fn sizes() {
    let sets: &[(&str, KeyFn, usize)] = &[
        ("records", record_key, 24),
        ("small", record_key, 8),
        ("index", index_key, 0),
    ];
    println!("sizes, 10K entries, 4 KiB pages");
    println!("set      order     leaves  leaf bytes  branches  stored bytes");
    for &(name, key, vlen) in sets {
        for ascending in [true, false] {
            let l = load(10_000, key, vlen, ascending, 1 << 20);
            l.tree.check(&l.pager).expect("check");
            let (leaves, bytes, branches) = leaf_bytes(&l);
            let stored = l.pager.stats().expect("stats").stored_page_bytes;
            println!(
                "{name:8} {:9} {leaves:6} {bytes:11} {branches:9} {stored:13}",
                if ascending { "ascending" } else { "random" }
            );
        }
    }
}

fn speed(n: u64) {
    println!("speed, {n} records (random order), all pages cached, best of 5");
    let l = measured_load(n);
    let probes: Vec<Vec<u8>> = shuffled(n, 7).into_iter().map(record_key).collect();
    let seeks = &probes[..probes.len().min(10_000)];
    let get = best_of(5, || measured_get(&l, &probes));
    let scan = best_of(5, || assert_eq!(measured_scan(&l), n));
    let run = best_of(5, || assert_eq!(measured_run(&l), n));
    let seek = best_of(5, || measured_seek(&l, seeks));
    let insert = best_of(3, || {
        black_box(measured_load(n).tree.root);
    });
    println!("point get        {:7.1} ns/get", get * 1e9 / n as f64);
    println!("scan next_with   {:7.1} ns/entry", scan * 1e9 / n as f64);
    println!("scan next_run    {:7.1} ns/entry", run * 1e9 / n as f64);
    println!(
        "seek + 10 next   {:7.1} ns/seek",
        seek * 1e9 / seeks.len() as f64
    );
    println!("random load      {:7.1} ns/insert", insert * 1e9 / n as f64);
}

/// `sizes` (default), `speed [n]`, or one workload for callgrind (`get`,
/// `scan`, `run`, `seek`, `load`; `[n]` records, default 100,000):
///
/// ```text
/// valgrind --tool=callgrind --collect-atstart=no \
///     --toggle-collect='btree_sizes::measured_get' \
///     target/release/examples/btree_sizes get
/// ```
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000u64);
    let what = args.get(1).map_or("sizes", String::as_str);
    if what == "sizes" {
        return sizes();
    }
    if what == "speed" {
        return speed(n);
    }
    if what == "load" {
        black_box(measured_load(n).tree.root);
        return;
    }
    let l = measured_load(n);
    let probes: Vec<Vec<u8>> = shuffled(n, 7).into_iter().map(record_key).collect();
    match what {
        "get" => measured_get(&l, &probes),
        "scan" => assert_eq!(measured_scan(&l), n),
        "run" => assert_eq!(measured_run(&l), n),
        "seek" => measured_seek(&l, &probes[..probes.len().min(10_000)]),
        other => panic!("unknown workload {other}"),
    }
}
