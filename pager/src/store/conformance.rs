//! The conformance suite every [`BlobStore`] passes.
//!
//! Each check is a `pub fn` taking a freshly created, empty store, so a
//! backend whose tests cannot use [`run_all`] (the IndexedDB backend under
//! `wasm-bindgen-test`) can call them one by one. Checks that need a restart
//! also take `reopen`, which closes the store and opens the same medium again;
//! they return the reopened store so the caller decides when to close it.
//!
//! `reopen` may behave like a crash (the fault-injecting store rebuilds its
//! durable image): checks only rely on what the contract promises survives,
//! i.e. batches made durable by a durable write or a `sync`.
//!
//! This is a test helper: a failed check panics with a message naming the
//! check and what differed.

use super::memory::Contents;
use super::{Area, BlobKey, BlobStore, StoreResult, WriteOp};
use bytes::Bytes;

/// Run every conformance check, each on its own store. `fresh(n)` makes an
/// empty store for case `n`; `reopen` closes a store and opens the same
/// medium again.
pub fn run_all<S: BlobStore>(fresh: &mut dyn FnMut(usize) -> S, reopen: &mut dyn FnMut(S) -> S) {
    check_missing_key(&mut fresh(0));
    check_put_get_overwrite_delete(&mut fresh(1));
    check_delete_missing(&mut fresh(2));
    check_areas_independent(&mut fresh(3));
    check_keys_ascending(&mut fresh(4));
    check_empty_values(&mut fresh(5));
    check_large_blobs(&mut fresh(6));
    check_batch_order(&mut fresh(7));
    check_stored_bytes(&mut fresh(8));
    drop(check_durable_write_survives_reopen(fresh(9), reopen));
    drop(check_sync_survives_reopen(fresh(10), reopen));
    drop(check_write_after_reopen(fresh(11), reopen));
    drop(check_many_keys(fresh(12), reopen));
    drop(check_deferred_write_reaches_the_store_before_the_next_superblock(fresh(13), reopen));
}

/// A deep copy of everything in `store`, read through the trait (for
/// comparing a store with a model).
pub fn snapshot<S: BlobStore + ?Sized>(store: &S) -> StoreResult<Contents> {
    let mut out = Contents::new();
    for area in Area::ALL {
        for key in store.keys(area)? {
            if let Some(v) = store.get(area, key)? {
                out.insert((area, key), v);
            }
        }
    }
    Ok(out)
}

/// `get` of a key never written returns `None`; a fresh store is empty.
pub fn check_missing_key<S: BlobStore + ?Sized>(store: &mut S) {
    const C: &str = "missing_key";
    for area in Area::ALL {
        expect_value(store, C, "fresh store", area, 0, None);
        expect_value(store, C, "fresh store", area, 42, None);
        expect_value(store, C, "fresh store", area, u64::MAX, None);
        expect_keys(store, C, "fresh store", area, &[]);
        expect_bytes(store, C, "fresh store", area, 0);
    }
    write(
        store,
        C,
        "put key 1",
        vec![put(Area::Pages, 1, b"x")],
        false,
    );
    expect_value(store, C, "neighbour of a present key", Area::Pages, 2, None);
    expect_value(store, C, "neighbour of a present key", Area::Pages, 0, None);
}

/// Put, get, overwrite (longer and shorter), delete.
pub fn check_put_get_overwrite_delete<S: BlobStore + ?Sized>(store: &mut S) {
    const C: &str = "put_get_overwrite_delete";
    write(store, C, "put", vec![put(Area::Pages, 7, b"first")], false);
    expect_value(store, C, "after put", Area::Pages, 7, Some(b"first"));
    write(
        store,
        C,
        "overwrite longer",
        vec![put(Area::Pages, 7, b"second, and longer")],
        false,
    );
    expect_value(
        store,
        C,
        "after longer overwrite",
        Area::Pages,
        7,
        Some(b"second, and longer"),
    );
    write(
        store,
        C,
        "overwrite shorter",
        vec![put(Area::Pages, 7, b"3")],
        true,
    );
    expect_value(
        store,
        C,
        "after shorter overwrite",
        Area::Pages,
        7,
        Some(b"3"),
    );
    expect_keys(store, C, "after overwrites", Area::Pages, &[7]);
    write(store, C, "delete", vec![del(Area::Pages, 7)], false);
    expect_value(store, C, "after delete", Area::Pages, 7, None);
    expect_keys(store, C, "after delete", Area::Pages, &[]);
    write(
        store,
        C,
        "put again",
        vec![put(Area::Pages, 7, b"back")],
        false,
    );
    expect_value(store, C, "put after delete", Area::Pages, 7, Some(b"back"));
}

/// Deleting a key that was never written (or already deleted) is not an error.
pub fn check_delete_missing<S: BlobStore + ?Sized>(store: &mut S) {
    const C: &str = "delete_missing";
    write(
        store,
        C,
        "delete never-written key",
        vec![del(Area::Wal, 5)],
        true,
    );
    expect_keys(store, C, "after deleting a missing key", Area::Wal, &[]);
    write(store, C, "put", vec![put(Area::Wal, 5, b"v")], false);
    write(store, C, "delete", vec![del(Area::Wal, 5)], false);
    write(store, C, "delete twice", vec![del(Area::Wal, 5)], false);
    expect_value(store, C, "after double delete", Area::Wal, 5, None);
    store
        .sync()
        .unwrap_or_else(|e| fail(C, &format!("sync failed: {e}")));
}

/// The same key in different areas names different blobs.
pub fn check_areas_independent<S: BlobStore + ?Sized>(store: &mut S) {
    const C: &str = "areas_independent";
    let ops = Area::ALL
        .iter()
        .map(|&a| put(a, 0, a.name().as_bytes()))
        .chain(Area::ALL.iter().map(|&a| put(a, 1, a.name().as_bytes())))
        .collect();
    write(store, C, "put key 0 and 1 in every area", ops, false);
    for area in Area::ALL {
        expect_value(
            store,
            C,
            "per-area value",
            area,
            0,
            Some(area.name().as_bytes()),
        );
        expect_keys(store, C, "per-area keys", area, &[0, 1]);
    }
    write(store, C, "delete pages/0", vec![del(Area::Pages, 0)], false);
    expect_value(store, C, "pages/0 deleted", Area::Pages, 0, None);
    expect_value(store, C, "meta/0 untouched", Area::Meta, 0, Some(b"meta"));
    expect_value(store, C, "wal/0 untouched", Area::Wal, 0, Some(b"wal"));
    write(
        store,
        C,
        "overwrite wal/1",
        vec![put(Area::Wal, 1, b"new")],
        false,
    );
    expect_value(store, C, "meta/1 untouched", Area::Meta, 1, Some(b"meta"));
    expect_value(
        store,
        C,
        "pages/1 untouched",
        Area::Pages,
        1,
        Some(b"pages"),
    );
    expect_keys(store, C, "pages after delete", Area::Pages, &[1]);
    expect_keys(store, C, "meta after delete", Area::Meta, &[0, 1]);
}

/// `keys` lists one area's keys in ascending order, including extremes.
pub fn check_keys_ascending<S: BlobStore + ?Sized>(store: &mut S) {
    const C: &str = "keys_ascending";
    let scrambled = [
        900u64,
        3,
        u64::MAX,
        0,
        1 << 40,
        17,
        u64::MAX - 1,
        256,
        255,
        1,
    ];
    let ops = scrambled
        .iter()
        .map(|&k| put(Area::Pages, k, b"p"))
        .collect();
    write(store, C, "scrambled puts", ops, false);
    write(
        store,
        C,
        "wal puts",
        vec![put(Area::Wal, 500, b"w"), put(Area::Wal, 2, b"w")],
        false,
    );
    let mut sorted = scrambled.to_vec();
    sorted.sort_unstable();
    expect_keys(store, C, "pages", Area::Pages, &sorted);
    for (range, want) in [
        (0..=0, &[0][..]),
        (2..=900, &[3, 17, 255, 256, 900][..]),
        (901..=u64::MAX, &[1 << 40, u64::MAX - 1, u64::MAX][..]),
        (18..=254, &[][..]),
        (1 << 40..=1 << 40, &[1 << 40][..]),
    ] {
        let ctx = format!("keys_in {range:?}");
        let got = store
            .keys_in(Area::Pages, range)
            .unwrap_or_else(|e| fail(C, &format!("{ctx}: {e}")));
        if got != want {
            fail(C, &format!("{ctx}: got {got:?}, want {want:?}"));
        }
    }
    expect_keys(store, C, "wal", Area::Wal, &[2, 500]);
    expect_keys(store, C, "meta", Area::Meta, &[]);
    write(
        store,
        C,
        "delete some",
        vec![del(Area::Pages, 17), del(Area::Pages, u64::MAX)],
        false,
    );
    sorted.retain(|&k| k != 17 && k != u64::MAX);
    expect_keys(store, C, "pages after deletes", Area::Pages, &sorted);
}

/// Empty values are stored, listed and distinct from absence.
pub fn check_empty_values<S: BlobStore + ?Sized>(store: &mut S) {
    const C: &str = "empty_values";
    write(
        store,
        C,
        "put empty",
        vec![put(Area::Meta, 0, b""), put(Area::Pages, 9, b"")],
        true,
    );
    expect_value(store, C, "empty value", Area::Meta, 0, Some(b""));
    expect_value(store, C, "empty value", Area::Pages, 9, Some(b""));
    expect_keys(store, C, "empty value listed", Area::Meta, &[0]);
    expect_bytes(store, C, "empty values weigh nothing", Area::Meta, 0);
    write(
        store,
        C,
        "empty -> full",
        vec![put(Area::Pages, 9, b"full")],
        false,
    );
    expect_value(store, C, "empty -> full", Area::Pages, 9, Some(b"full"));
    write(
        store,
        C,
        "full -> empty",
        vec![put(Area::Pages, 9, b"")],
        false,
    );
    expect_value(store, C, "full -> empty", Area::Pages, 9, Some(b""));
    expect_bytes(store, C, "full -> empty", Area::Pages, 0);
}

/// 2 MiB blobs round-trip byte for byte, including overwrite by another one.
pub fn check_large_blobs<S: BlobStore + ?Sized>(store: &mut S) {
    const C: &str = "large_blobs";
    const LEN: usize = 2 << 20;
    let a = pattern(1, LEN);
    let b = pattern(2, LEN + 3);
    write(store, C, "put 2 MiB", vec![put(Area::Pages, 1, &a)], true);
    expect_value(store, C, "2 MiB blob", Area::Pages, 1, Some(&a));
    write(
        store,
        C,
        "overwrite + second blob",
        vec![put(Area::Pages, 1, &b), put(Area::Pages, 2, &a)],
        false,
    );
    expect_value(store, C, "overwritten 2 MiB blob", Area::Pages, 1, Some(&b));
    expect_value(store, C, "second 2 MiB blob", Area::Pages, 2, Some(&a));
    expect_bytes(
        store,
        C,
        "two large blobs",
        Area::Pages,
        (2 * LEN + 3) as u64,
    );
}

/// A batch applies its ops in order: later ops on the same key win.
pub fn check_batch_order<S: BlobStore + ?Sized>(store: &mut S) {
    const C: &str = "batch_order";
    write(store, C, "seed", vec![put(Area::Pages, 4, b"old")], false);
    let batch = vec![
        put(Area::Pages, 1, b"a"),
        put(Area::Pages, 1, b"b"),
        put(Area::Pages, 2, b"gone"),
        del(Area::Pages, 2),
        del(Area::Pages, 3),
        put(Area::Pages, 3, b"after delete"),
        del(Area::Pages, 4),
        put(Area::Pages, 4, b"new"),
        put(Area::Pages, 5, b"x"),
        del(Area::Pages, 5),
    ];
    write(store, C, "mixed batch", batch, true);
    expect_value(store, C, "put, put => second", Area::Pages, 1, Some(b"b"));
    expect_value(store, C, "put, delete => absent", Area::Pages, 2, None);
    expect_value(
        store,
        C,
        "delete, put => present",
        Area::Pages,
        3,
        Some(b"after delete"),
    );
    expect_value(
        store,
        C,
        "existing, delete, put",
        Area::Pages,
        4,
        Some(b"new"),
    );
    expect_value(store, C, "put, delete => absent", Area::Pages, 5, None);
    expect_keys(store, C, "after mixed batch", Area::Pages, &[1, 3, 4]);
    write(store, C, "empty batch", Vec::new(), true);
    expect_keys(store, C, "after empty batch", Area::Pages, &[1, 3, 4]);
}

/// `stored_bytes` is the sum of value lengths per area, through overwrites
/// and deletes.
pub fn check_stored_bytes<S: BlobStore + ?Sized>(store: &mut S) {
    const C: &str = "stored_bytes";
    write(
        store,
        C,
        "puts",
        vec![
            put(Area::Pages, 1, &[0; 100]),
            put(Area::Pages, 2, &[0; 50]),
            put(Area::Wal, 1, &[0; 7]),
        ],
        false,
    );
    expect_bytes(store, C, "after puts", Area::Pages, 150);
    expect_bytes(store, C, "after puts", Area::Wal, 7);
    expect_bytes(store, C, "after puts", Area::Meta, 0);
    write(
        store,
        C,
        "overwrite smaller",
        vec![put(Area::Pages, 1, &[1; 10])],
        false,
    );
    expect_bytes(store, C, "after shrinking overwrite", Area::Pages, 60);
    write(
        store,
        C,
        "overwrite larger",
        vec![put(Area::Pages, 2, &[1; 80])],
        false,
    );
    expect_bytes(store, C, "after growing overwrite", Area::Pages, 90);
    write(
        store,
        C,
        "delete",
        vec![del(Area::Pages, 1), del(Area::Pages, 99)],
        false,
    );
    expect_bytes(store, C, "after delete", Area::Pages, 80);
    expect_bytes(store, C, "other area untouched", Area::Wal, 7);
}

/// Everything written before and by a durable write survives a reopen,
/// including deletes, overwrites, empty and large values.
pub fn check_durable_write_survives_reopen<S: BlobStore>(
    mut store: S,
    reopen: &mut dyn FnMut(S) -> S,
) -> S {
    const C: &str = "durable_write_survives_reopen";
    let big = pattern(3, 2 << 20);
    write(
        &mut store,
        C,
        "batch 1",
        vec![put(Area::Pages, 1, b"one"), put(Area::Wal, 1, b"w")],
        false,
    );
    write(
        &mut store,
        C,
        "batch 2",
        vec![
            put(Area::Pages, 2, &big),
            put(Area::Pages, 3, b""),
            del(Area::Wal, 1),
        ],
        false,
    );
    write(
        &mut store,
        C,
        "durable batch 3",
        vec![put(Area::Pages, 1, b"uno"), put(Area::Meta, 0, b"super")],
        true,
    );
    let expected = expect_snapshot_model(&store, C, "before reopen", None);
    let store = reopen(store);
    expect_snapshot_model(&store, C, "after reopen", Some(&expected));
    expect_value(
        &store,
        C,
        "large blob after reopen",
        Area::Pages,
        2,
        Some(&big),
    );
    expect_value(
        &store,
        C,
        "empty value after reopen",
        Area::Pages,
        3,
        Some(b""),
    );
    expect_value(&store, C, "deleted key after reopen", Area::Wal, 1, None);
    expect_bytes(&store, C, "after reopen", Area::Pages, 3 + big.len() as u64);
    store
}

/// Non-durable writes followed by `sync` survive a reopen.
pub fn check_sync_survives_reopen<S: BlobStore>(mut store: S, reopen: &mut dyn FnMut(S) -> S) -> S {
    const C: &str = "sync_survives_reopen";
    for i in 0..20u64 {
        let mut ops = vec![put(Area::Wal, i, &pattern(i, (i * 37 % 500) as usize))];
        if i % 3 == 0 {
            ops.push(del(Area::Wal, i / 2));
        }
        write(&mut store, C, "non-durable batch", ops, false);
    }
    store
        .sync()
        .unwrap_or_else(|e| fail(C, &format!("sync failed: {e}")));
    let expected = expect_snapshot_model(&store, C, "before reopen", None);
    let store = reopen(store);
    expect_snapshot_model(&store, C, "after reopen", Some(&expected));
    store
}

/// A reopened store accepts further writes, and those survive another reopen
/// together with the earlier ones.
pub fn check_write_after_reopen<S: BlobStore>(mut store: S, reopen: &mut dyn FnMut(S) -> S) -> S {
    const C: &str = "write_after_reopen";
    let mut store = {
        write(
            &mut store,
            C,
            "first life",
            vec![put(Area::Pages, 1, b"a")],
            true,
        );
        reopen(store)
    };
    // A fresh-but-reopened store must also be usable: reopen twice in a row.
    store = reopen(store);
    write(
        &mut store,
        C,
        "second life",
        vec![put(Area::Pages, 2, b"b"), put(Area::Pages, 1, b"a2")],
        true,
    );
    let mut store = reopen(store);
    expect_value(
        &store,
        C,
        "second life overwrite",
        Area::Pages,
        1,
        Some(b"a2"),
    );
    expect_value(&store, C, "second life put", Area::Pages, 2, Some(b"b"));
    write(
        &mut store,
        C,
        "third life",
        vec![del(Area::Pages, 1)],
        false,
    );
    store
        .sync()
        .unwrap_or_else(|e| fail(C, &format!("sync failed: {e}")));
    let store = reopen(store);
    expect_keys(&store, C, "third life", Area::Pages, &[2]);
    store
}

/// 10,000 keys over many batches: all readable, listed, counted, and intact
/// after a reopen and a mass delete.
pub fn check_many_keys<S: BlobStore>(mut store: S, reopen: &mut dyn FnMut(S) -> S) -> S {
    const C: &str = "many_keys";
    const N: u64 = 10_000;
    let value = |k: u64| pattern(k, (k % 61) as usize);
    // Insert in an order that is not ascending so `keys` has to sort.
    let order: Vec<u64> = (0..N).map(|i| (i * 7919) % N).collect();
    for chunk in order.chunks(500) {
        let ops = chunk
            .iter()
            .map(|&k| put(Area::Pages, k, &value(k)))
            .collect();
        write(&mut store, C, "bulk put", ops, false);
    }
    let total: u64 = (0..N).map(|k| k % 61).sum();
    expect_bytes(&store, C, "after bulk put", Area::Pages, total);
    expect_keys(
        &store,
        C,
        "after bulk put",
        Area::Pages,
        &(0..N).collect::<Vec<_>>(),
    );
    store
        .sync()
        .unwrap_or_else(|e| fail(C, &format!("sync failed: {e}")));
    let mut store = reopen(store);
    for k in 0..N {
        expect_value(&store, C, "after reopen", Area::Pages, k, Some(&value(k)));
    }
    let ops = (0..N)
        .filter(|k| k % 2 == 0)
        .map(|k| del(Area::Pages, k))
        .collect();
    write(&mut store, C, "delete evens", ops, true);
    let store = reopen(store);
    let odd: Vec<u64> = (0..N).filter(|k| k % 2 == 1).collect();
    expect_keys(
        &store,
        C,
        "after deleting evens and reopen",
        Area::Pages,
        &odd,
    );
    let odd_total: u64 = odd.iter().map(|k| k % 61).sum();
    expect_bytes(&store, C, "after deleting evens", Area::Pages, odd_total);
    for k in [0, 1, 2, N - 2, N - 1] {
        let want = (k % 2 == 1).then(|| value(k));
        expect_value(
            &store,
            C,
            "after deleting evens",
            Area::Pages,
            k,
            want.as_deref(),
        );
    }
    store
}

/// A deferred batch ([`BlobStore::write_deferred`]) is read at once, may
/// wait while batches of WAL records pass it, and is durable with the next
/// durable batch that writes meta; per key, a later page write still wins.
pub fn check_deferred_write_reaches_the_store_before_the_next_superblock<S: BlobStore>(
    mut store: S,
    reopen: &mut dyn FnMut(S) -> S,
) -> S {
    const C: &str = "deferred_write_reaches_the_store_before_the_next_superblock";
    let deferred = |store: &mut S, ops: Vec<WriteOp>| {
        store
            .write_deferred(ops)
            .unwrap_or_else(|e| fail(C, &format!("write_deferred failed: {e}")))
    };
    deferred(
        &mut store,
        vec![put(Area::Pages, 1, b"spilled"), put(Area::Pages, 2, b"two")],
    );
    expect_value(&store, C, "read at once", Area::Pages, 1, Some(b"spilled"));
    write(
        &mut store,
        C,
        "a WAL record",
        vec![put(Area::Wal, 1, b"w")],
        true,
    );
    expect_value(
        &store,
        C,
        "after a WAL record",
        Area::Pages,
        2,
        Some(b"two"),
    );
    deferred(&mut store, vec![put(Area::Pages, 2, b"again")]);
    write(
        &mut store,
        C,
        "a page delete",
        vec![del(Area::Pages, 2)],
        false,
    );
    expect_value(
        &store,
        C,
        "deleted after it was deferred",
        Area::Pages,
        2,
        None,
    );
    write(
        &mut store,
        C,
        "a superblock",
        vec![put(Area::Meta, 0, b"super")],
        true,
    );
    let expected = expect_snapshot_model(&store, C, "before reopen", None);
    let store = reopen(store);
    expect_snapshot_model(&store, C, "after reopen", Some(&expected));
    expect_value(&store, C, "after reopen", Area::Pages, 1, Some(b"spilled"));
    store
}

// ---- helpers ----------------------------------------------------------

fn fail(check: &str, msg: &str) -> ! {
    panic!("BlobStore conformance check `{check}` failed: {msg}")
}

/// A put of a copy of `value` (for tests of any store).
pub fn put(area: Area, key: BlobKey, value: &[u8]) -> WriteOp {
    WriteOp::Put {
        area,
        key,
        value: Bytes::copy_from_slice(value),
    }
}

/// A delete (for tests of any store).
pub fn del(area: Area, key: BlobKey) -> WriteOp {
    WriteOp::Delete { area, key }
}

/// Deterministic, seed-dependent bytes (so a value read from the wrong key
/// or offset differs from the expected one).
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn write<S: BlobStore + ?Sized>(
    store: &mut S,
    check: &str,
    what: &str,
    ops: Vec<WriteOp>,
    durable: bool,
) {
    if let Err(e) = store.write(ops, durable) {
        fail(
            check,
            &format!("write `{what}` (durable={durable}) returned {e}"),
        );
    }
}

fn expect_value<S: BlobStore + ?Sized>(
    store: &S,
    check: &str,
    ctx: &str,
    area: Area,
    key: BlobKey,
    want: Option<&[u8]>,
) {
    let got = store.get(area, key).unwrap_or_else(|e| {
        fail(
            check,
            &format!("{ctx}: get({}, {key}) returned {e}", area.name()),
        )
    });
    let got = got.as_deref();
    if got == want {
        return;
    }
    let describe = |v: Option<&[u8]>| match v {
        None => "absent".to_string(),
        Some(b) if b.len() <= 32 => format!("{} bytes {:?}", b.len(), b),
        Some(b) => format!("{} bytes", b.len()),
    };
    let first_diff = match (got, want) {
        (Some(g), Some(w)) => g
            .iter()
            .zip(w)
            .position(|(a, b)| a != b)
            .map(|i| format!(", first difference at byte {i}"))
            .unwrap_or_default(),
        _ => String::new(),
    };
    fail(
        check,
        &format!(
            "{ctx}: get({}, {key}) gave {}, expected {}{first_diff}",
            area.name(),
            describe(got),
            describe(want)
        ),
    );
}

fn expect_keys<S: BlobStore + ?Sized>(
    store: &S,
    check: &str,
    ctx: &str,
    area: Area,
    want: &[BlobKey],
) {
    let got = store
        .keys(area)
        .unwrap_or_else(|e| fail(check, &format!("{ctx}: keys({}) returned {e}", area.name())));
    if got != want {
        let show = |k: &[BlobKey]| {
            if k.len() <= 20 {
                format!("{k:?}")
            } else {
                format!("{} keys, first {:?}", k.len(), &k[..20])
            }
        };
        fail(
            check,
            &format!(
                "{ctx}: keys({}) gave {}, expected {}",
                area.name(),
                show(&got),
                show(want)
            ),
        );
    }
}

fn expect_bytes<S: BlobStore + ?Sized>(store: &S, check: &str, ctx: &str, area: Area, want: u64) {
    let got = store.stored_bytes(area).unwrap_or_else(|e| {
        fail(
            check,
            &format!("{ctx}: stored_bytes({}) returned {e}", area.name()),
        )
    });
    if got != want {
        fail(
            check,
            &format!(
                "{ctx}: stored_bytes({}) = {got}, expected {want}",
                area.name()
            ),
        );
    }
}

/// Snapshot the store; if `model` is given, require equality with it.
fn expect_snapshot_model<S: BlobStore + ?Sized>(
    store: &S,
    check: &str,
    ctx: &str,
    model: Option<&Contents>,
) -> Contents {
    let got =
        snapshot(store).unwrap_or_else(|e| fail(check, &format!("{ctx}: reading all blobs: {e}")));
    if let Some(want) = model {
        if &got != want {
            let missing: Vec<_> = want
                .keys()
                .filter(|k| !got.contains_key(k))
                .take(5)
                .collect();
            let extra: Vec<_> = got
                .keys()
                .filter(|k| !want.contains_key(k))
                .take(5)
                .collect();
            let changed: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(k).is_some_and(|g| g != *v))
                .map(|(k, _)| k)
                .take(5)
                .collect();
            fail(
                check,
                &format!(
                    "{ctx}: contents differ ({} blobs, expected {}); missing {missing:?}, \
                     unexpected {extra:?}, changed {changed:?}",
                    got.len(),
                    want.len()
                ),
            );
        }
    }
    got
}
