//! Scenarios: bulk loads, in-place edits, large values, snapshots, key
//! limits, corruption, and cursors at page edges.

use super::model::{numbered, Harness, Op, Val, B};
use crate::{BTree, BTreeError};
use moonvault_pager::{Page, PageId};
use std::ops::Bound;

fn harness_ok(h: &mut Harness, ops: &[Op]) {
    for op in ops {
        h.apply(op).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    }
}

#[test]
fn bulk_loads_build_balanced_full_trees() {
    let mut h = Harness::new(1024);
    let val = Val(20, 1);
    // Ascending, then descending in a second range, then random removal.
    for i in 0..6000u32 {
        h.insert(&numbered(i, 0), val).unwrap();
    }
    let report = h.tree.check(&h.pager).unwrap();
    let leaf_fill = report.node_bytes as f64 / (report.leaf_pages + report.branch_pages) as f64;
    assert!(
        leaf_fill > 0.6 * 1024.0,
        "ascending load packs pages: {report:?}"
    );
    assert!(report.depth >= 3, "{report:?}");
    for i in (0..3000u32).rev() {
        h.insert(&numbered(i, 1), val).unwrap();
    }
    h.check().unwrap();
    harness_ok(&mut h, &[Op::Checkpoint]);
    let mut x = 12345u32;
    for _ in 0..9000 {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        let key = numbered((x >> 8) % 6000, 0);
        h.remove(&key).unwrap();
    }
    h.check().unwrap();
    harness_ok(
        &mut h,
        &[Op::RemoveMany {
            start: 0,
            n: 6000,
            style: 0,
        }],
    );
    harness_ok(
        &mut h,
        &[Op::RemoveMany {
            start: 0,
            n: 3000,
            style: 1,
        }],
    );
    assert_eq!(h.tree.root, None);
    harness_ok(&mut h, &[Op::Checkpoint, Op::Reopen]);
    assert_eq!(h.pager.stats().unwrap().live_pages, 0);
}

/// Branches of four pages: the same keys stand in fewer levels, branches
/// fill past a page and split only at the branch size, and removals merge
/// them back down to an empty tree.
#[test]
fn branches_larger_than_a_page_make_trees_shallower() {
    let val = Val(20, 1);
    let mut depths = Vec::new();
    for branch_pages in [1, 4] {
        let mut h = Harness::with_branches(1024, branch_pages);
        for i in 0..6000u32 {
            h.insert(&numbered(i, 0), val).unwrap();
        }
        harness_ok(&mut h, &[Op::Checkpoint, Op::Reopen]);
        let report = h.tree.check(&h.pager).unwrap();
        let root = h.pager.read(h.tree.root.unwrap()).unwrap();
        assert_eq!(h.pager.branch_size(), 1024 * branch_pages);
        assert!(root.data.len() <= 1024 * branch_pages);
        if branch_pages > 1 {
            assert!(root.data.len() > 1024, "root of {} bytes", root.data.len());
        }
        depths.push(report.depth);
        let mut x = 7u32;
        for _ in 0..4000 {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            h.remove(&numbered((x >> 8) % 6000, 0)).unwrap();
            if x.is_multiple_of(97) {
                h.check().unwrap();
            }
        }
        h.check().unwrap();
        harness_ok(
            &mut h,
            &[
                Op::RemoveMany {
                    start: 0,
                    n: 6000,
                    style: 0,
                },
                Op::Checkpoint,
                Op::Reopen,
            ],
        );
        assert_eq!(h.tree.root, None);
        assert_eq!(h.pager.stats().unwrap().live_pages, 0);
    }
    assert!(depths[1] < depths[0], "depths {depths:?}");
}

#[test]
fn writable_pages_are_edited_in_place() {
    let mut h = Harness::new(4096);
    for i in 0..2000u32 {
        h.insert(&numbered(i, 0), Val(10, 0)).unwrap();
    }
    harness_ok(&mut h, &[Op::Commit]);
    // The first write copies the path; later writes to the same leaf reuse it.
    h.insert(&numbered(1000, 0), Val(11, 0)).unwrap();
    let root = h.tree.root;
    let live = h.pager.stats().unwrap().live_pages;
    for v in 0..50 {
        h.insert(&numbered(1000, 0), Val(12, v)).unwrap();
        h.insert(&numbered(1001, 0), Val(12, v)).unwrap();
    }
    assert_eq!(h.tree.root, root);
    assert_eq!(h.pager.stats().unwrap().live_pages, live);
    h.check().unwrap();
}

#[test]
fn large_values_round_trip_and_free_their_pages() {
    let mut h = Harness::new(4096);
    let big: Vec<u8> = (0..4 << 20).map(|i: u32| (i ^ (i >> 11)) as u8).collect();
    let other: Vec<u8> = big.iter().rev().copied().collect();
    h.tree.insert(&mut h.pager, b"small", b"v").unwrap();
    harness_ok(&mut h, &[]);
    h.pager.commit().unwrap();
    h.pager.checkpoint(vec![], vec![]).unwrap();
    let baseline = h.pager.stats().unwrap().live_pages;
    h.pager.begin().unwrap();
    assert_eq!(h.tree.insert(&mut h.pager, b"big", &big).unwrap(), None);
    assert_eq!(
        h.tree.get(&h.pager, b"big").unwrap().as_deref(),
        Some(&big[..])
    );
    h.pager.commit().unwrap();
    h.pager.checkpoint(vec![], vec![]).unwrap();
    let report = h.tree.check(&h.pager).unwrap();
    assert_eq!(report.overflow_pages, (4u64 << 20).div_ceil(4096 - 8));
    assert_eq!(report.value_bytes, (4 << 20) + 1);
    h.pager.begin().unwrap();
    assert_eq!(
        h.tree.insert(&mut h.pager, b"big", &other).unwrap(),
        Some(4 << 20)
    );
    let mut cursor = h.tree.prefix(b"b", false);
    let (k, v) = cursor.next(&h.tree, &h.pager).unwrap().unwrap();
    assert_eq!((k.as_slice(), v == other), (&b"big"[..], true));
    h.pager.commit().unwrap();
    h.pager.checkpoint(vec![], vec![]).unwrap();
    // Old chain freed, new one live.
    assert_eq!(
        h.pager.stats().unwrap().live_pages,
        baseline + report.overflow_pages
    );
    h.pager.begin().unwrap();
    assert!(h.tree.remove(&mut h.pager, b"big").unwrap());
    h.pager.commit().unwrap();
    h.pager.checkpoint(vec![], vec![]).unwrap();
    assert_eq!(h.pager.stats().unwrap().live_pages, baseline);
    assert_eq!(h.tree.get(&h.pager, b"small").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn a_value_in_parts_is_stored_as_their_concatenation() {
    let mut h = Harness::new(1024);
    let chunk = 1024 - 8;
    let mut hints = crate::InsertHints::default();
    // Inline, just past inline, page-sized chains and their edges; parts
    // cut so that some end exactly on a page boundary and some are empty.
    let sizes = [
        0,
        1,
        5,
        200,
        300,
        1000,
        chunk,
        chunk + 1,
        3 * chunk,
        3 * chunk + 7,
        20_000,
    ];
    for (n, &len) in sizes.iter().enumerate() {
        let whole: Vec<u8> = (0..len).map(|i| (i * 7 + n) as u8).collect();
        let mut cuts = [0, 1.min(len), len / 3, chunk.min(len), len];
        cuts.sort_unstable();
        let parts: Vec<&[u8]> = cuts.windows(2).map(|w| &whole[w[0]..w[1]]).collect();
        let key = format!("key{n:02}");
        h.tree
            .insert_hinted_parts(&mut h.pager, key.as_bytes(), &parts, &mut hints)
            .unwrap();
        assert_eq!(
            h.tree.get(&h.pager, key.as_bytes()).unwrap().as_deref(),
            Some(&whole[..]),
            "{len} bytes in parts {cuts:?}"
        );
        // Lent: the same bytes, whole or their first few.
        let (n_len, overflowed, head, all) = h
            .tree
            .get_lent(&h.pager, key.as_bytes(), None, |v| {
                let overflowed = matches!(v, crate::Lent::Overflow(_));
                let head = v.prefix(10).unwrap().into_owned();
                (v.len(), overflowed, head, v.read().unwrap().into_owned())
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            (n_len, &head[..], &all[..]),
            (len, &whole[..len.min(10)], &whole[..])
        );
        assert_eq!(
            overflowed,
            len >= 300,
            "{len} bytes (inline up to a quarter page)"
        );
    }
    // A cursor lends the same values, chains read on demand.
    let mut cursor = h.tree.range(
        std::ops::Bound::Unbounded,
        std::ops::Bound::Unbounded,
        false,
    );
    let mut n = 0;
    while let Some((key, value)) = cursor
        .next_lent(&h.tree, &h.pager, |k, v| {
            (k.to_vec(), v.read().unwrap().into_owned())
        })
        .unwrap()
    {
        assert_eq!(h.tree.get(&h.pager, &key).unwrap(), Some(value));
        n += 1;
    }
    assert_eq!(n, sizes.len());
    h.pager.commit().unwrap();
    h.pager.checkpoint(vec![], vec![]).unwrap();
    let report = h.tree.check(&h.pager).unwrap();
    assert_eq!(report.value_bytes, sizes.iter().sum::<usize>() as u64);
}

#[test]
fn snapshots_keep_reading_old_contents() {
    let mut h = Harness::new(1024);
    for i in 0..3000u32 {
        h.insert(
            &numbered(i, i as u8 % 3),
            Val(30 + (i % 400) as u16, i as u8),
        )
        .unwrap();
    }
    harness_ok(&mut h, &[Op::Checkpoint]);
    let snapshot = h.tree;
    let old_model = h.model.clone();
    let pin = h.pager.pin();
    for i in 0..3000u32 {
        if i % 2 == 0 {
            h.remove(&numbered(i, i as u8 % 3)).unwrap();
        } else {
            h.insert(&numbered(i, i as u8 % 3), Val(5, 9)).unwrap();
        }
    }
    h.insert(b"new", Val(3000, 1)).unwrap();
    harness_ok(
        &mut h,
        &[
            Op::Commit,
            Op::Checkpoint,
            Op::Range(B::Unbounded, B::Unbounded, false),
        ],
    );
    // The snapshot sees exactly the old state, in both directions.
    let mut cursor = snapshot.range(Bound::Unbounded, Bound::Unbounded, false);
    let mut got = Vec::new();
    while let Some(e) = cursor.next(&snapshot, &h.pager).unwrap() {
        got.push(e);
    }
    let want: Vec<_> = old_model.into_iter().collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "snapshot changed");
    assert_eq!(snapshot.check(&h.pager).unwrap().entries, want.len() as u64);
    assert_eq!(snapshot.get(&h.pager, b"new").unwrap(), None);
    h.pager.unpin(pin);
    harness_ok(&mut h, &[Op::Checkpoint, Op::Reopen]);
}

#[test]
fn keys_over_the_limit_are_rejected() {
    let mut h = Harness::new(1024);
    let max = BTree::max_key_len(1024);
    assert_eq!(max, 232);
    h.insert(&vec![7; max], Val(10, 0)).unwrap();
    let err = h
        .tree
        .insert(&mut h.pager, &vec![7; max + 1], b"v")
        .unwrap_err();
    assert!(matches!(
        err,
        BTreeError::KeyTooLarge { len: 233, max: 232 }
    ));
    h.check().unwrap();
}

/// Point `tree` at garbage and make sure every operation errors instead of
/// panicking, and that the checker names a page.
fn poke_garbage(page: Page) -> Vec<String> {
    let mut h = Harness::new(1024);
    for i in 0..400u32 {
        h.insert(&numbered(i, 0), Val(20, 0)).unwrap();
    }
    let bad = h.pager.allocate().unwrap();
    h.pager.write(bad, page).unwrap();
    // Garbage as the root, and as a child of a valid root.
    let mut trees = vec![BTree::new(Some(bad))];
    let root = h.pager.read(h.tree.root.unwrap()).unwrap();
    let mut patched = root.data.clone();
    patched[4..12].copy_from_slice(&bad.to_le_bytes());
    let id = h.pager.allocate().unwrap();
    h.pager.write(id, Page::new(root.kind, patched)).unwrap();
    trees.push(BTree::new(Some(id)));
    let mut errors = Vec::new();
    for mut tree in trees {
        let check = tree.check(&h.pager);
        match check {
            Err(BTreeError::Corrupted { .. }) => {}
            other => panic!("check of a damaged tree returned {other:?}"),
        }
        errors.push(check.unwrap_err().to_string());
        let key = numbered(0, 0);
        let _ = tree.get(&h.pager, &key);
        let _ = tree.count(&h.pager, Bound::Unbounded, Bound::Unbounded);
        for rev in [false, true] {
            let mut c = tree.range(Bound::Unbounded, Bound::Unbounded, rev);
            for _ in 0..1000 {
                if !matches!(c.next(&tree, &h.pager), Ok(Some(_))) {
                    break;
                }
            }
        }
        let _ = tree.pages(&h.pager, &mut |_| {});
        let _ = tree.insert(&mut h.pager, &key, &[1; 500]);
        let _ = tree.insert(&mut h.pager, b"zzz", b"1");
        let _ = tree.remove(&mut h.pager, &key);
    }
    errors
}

#[test]
fn corrupt_pages_are_errors_not_panics() {
    let errors = poke_garbage(Page::new(1, vec![0xFF; 300]));
    assert!(errors[0].contains("corrupted B-tree page"), "{errors:?}");
    let mut h = Harness::new(1024);
    let bad = h.pager.allocate().unwrap();
    let garbage = Page::new(2, vec![3, 0, 0, 0, 0xEE, 0xEE]);
    h.pager.write(bad, garbage).unwrap();
    let mut tree = BTree::new(Some(bad));
    for err in [
        tree.get(&h.pager, b"k").unwrap_err(),
        tree.insert(&mut h.pager, b"k", b"v").unwrap_err(),
        tree.remove(&mut h.pager, b"k").unwrap_err(),
        tree.range(Bound::Unbounded, Bound::Unbounded, true)
            .next(&tree, &h.pager)
            .unwrap_err(),
    ] {
        assert!(
            matches!(err, BTreeError::Corrupted { page, .. } if page == bad),
            "{err}"
        );
    }
    // Many random garbage pages of every kind.
    let mut x = 99u64;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as u32
    };
    for round in 0..200 {
        let len = next() as usize % 1025;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8 % 16).collect();
        if round % 2 == 0 && len >= 2 {
            // Plausible small counts reach deeper into the parsing.
            data[0] = (next() % 8) as u8;
            data[1] = 0;
        }
        let kind = [1, 2, 3, 4][next() as usize % 4];
        if kind == 4 && round % 4 == 0 && len >= 4 {
            // A plausible prefix length too.
            data[2] = (next() % 16) as u8;
            data[3] = 0;
        }
        poke_garbage(Page::new(kind, data));
    }
}

#[test]
fn damaged_order_is_reported_by_check() {
    let mut h = Harness::new(1024);
    for i in 0..50u32 {
        h.insert(&numbered(i, 0), Val(4, 0)).unwrap();
    }
    let root = h.tree.root.unwrap();
    let page = h.pager.read(root).unwrap();
    // Swap the first two slots of the (leaf) root: keys go out of order.
    assert_eq!(page.kind, crate::KIND_LEAF);
    let mut data = page.data.clone();
    let slots = 4 + usize::from(u16::from_le_bytes([data[2], data[3]]));
    data.swap(slots, slots + 2);
    data.swap(slots + 1, slots + 3);
    h.pager.write(root, Page::new(page.kind, data)).unwrap();
    match h.tree.check(&h.pager) {
        Err(BTreeError::Corrupted { page, .. }) => assert_eq!(page, root),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reverse_and_bounded_cursors_at_page_edges() {
    let mut h = Harness::new(1024);
    for i in (0..2000u32).step_by(2) {
        h.insert(&numbered(i, 0), Val(16, 3)).unwrap();
    }
    for i in [0u32, 1, 2, 999, 1000, 1001, 1998, 1999, 2000] {
        let k = numbered(i, 0);
        for lo in [
            Bound::Included(&k[..]),
            Bound::Excluded(&k[..]),
            Bound::Unbounded,
        ] {
            for hi in [
                Bound::Included(&k[..]),
                Bound::Excluded(&k[..]),
                Bound::Unbounded,
            ] {
                for rev in [false, true] {
                    h.expect_scan(lo, hi, rev).unwrap();
                }
            }
        }
    }
    let page_id: PageId = h.tree.root.unwrap();
    assert!(h.pager.is_writable(page_id));
}

/// Every entry of `h`'s tree, in key order.
fn everything(h: &Harness) -> Vec<(Vec<u8>, Vec<u8>)> {
    h.scan(Bound::Unbounded, Bound::Unbounded, false).unwrap()
}

#[test]
fn insert_hints_skip_descents_and_agree_with_plain_inserts() {
    // Interleaved ascending runs in three key regions, as a bulk load of
    // records, their fields and an index makes them.
    let keys: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| {
            let region = [b'a', b'm', b'x'][i as usize % 3];
            let mut k = vec![region];
            k.extend_from_slice(&(i / 3).to_be_bytes());
            k
        })
        .collect();
    let mut plain = Harness::new(1024);
    let mut hinted = Harness::hinted(1024);
    let reads = |h: &Harness| {
        let s = h.pager.stats().unwrap();
        s.cache_hits + s.cache_misses + s.dirty_hits
    };
    let (p0, h0) = (reads(&plain), reads(&hinted));
    for (i, k) in keys.iter().enumerate() {
        let val = Val(12, i as u8);
        // Both read the old value first, as the engine does (the hinted
        // harness's insert does it through the fingers).
        plain.tree.get(&plain.pager, k).unwrap();
        plain.insert(k, val).unwrap();
        hinted.insert(k, val).unwrap();
    }
    let (p, h) = (reads(&plain) - p0, reads(&hinted) - h0);
    // 6,316 against 12,580: a plain insert reads the old value and
    // inserts, two descents; a hinted one about two pages.
    assert!(
        h * 5 < p * 3,
        "hinted inserts read {h} pages, plain ones {p}"
    );
    hinted.check().unwrap();
    assert_eq!(everything(&hinted), everything(&plain));
    // Replacing values through fingers, then a remove (which voids them).
    for k in keys.iter().step_by(7) {
        hinted.insert(k, Val(3, 9)).unwrap();
        plain.insert(k, Val(3, 9)).unwrap();
    }
    hinted.remove(&keys[10]).unwrap();
    plain.remove(&keys[10]).unwrap();
    hinted.insert(&keys[11], Val(5, 1)).unwrap();
    plain.insert(&keys[11], Val(5, 1)).unwrap();
    hinted.check().unwrap();
    assert_eq!(everything(&hinted), everything(&plain));
}

#[test]
fn insert_hints_survive_a_shrinking_replace_that_rebalances() {
    // Found by the crash model: the root leaf splits, the left leaf gets a
    // finger, then replacing a value in the right leaf with a short one
    // makes it refill from the left one, moving the left leaf's range.
    let key = |k: u8| format!("key-{k:03}").into_bytes();
    let mut h = Harness::hinted(1024);
    let mut plain = Harness::new(1024);
    for (k, len) in [
        (13u8, 132u16),
        (11, 108),
        (40, 147),
        (15, 179),
        (6, 85),
        (60, 135),
        (63, 196),
        (20, 118),
        (63, 23),
        (53, 173),
    ] {
        h.insert(&key(k), Val(len, k)).unwrap();
        plain.insert(&key(k), Val(len, k)).unwrap();
        h.check().unwrap();
    }
    assert_eq!(
        h.scan(Bound::Unbounded, Bound::Unbounded, false).unwrap(),
        plain
            .scan(Bound::Unbounded, Bound::Unbounded, false)
            .unwrap()
    );
}

#[test]
fn the_end_of_a_first_byte_run_is_cut_from_the_next_run() {
    // A table's records inserted in order before its index entries (first
    // bytes 0x01 and 0x02), as a load whose index entries reached the tree
    // first makes them: the records' run must not keep sharing a leaf with
    // the index, where every later record would land mid-leaf and split it.
    let mut h = Harness::new(1024);
    for i in 0..60u32 {
        let mut k = vec![0x02];
        k.extend_from_slice(&i.to_be_bytes());
        h.insert(&k, Val(20, 1)).unwrap();
    }
    for i in 0..2000u32 {
        let mut k = vec![0x01];
        k.extend_from_slice(&i.to_be_bytes());
        h.insert(&k, Val(20, 2)).unwrap();
    }
    h.check().unwrap();
    let mut ids = Vec::new();
    h.tree.pages(&h.pager, &mut |id| ids.push(id)).unwrap();
    let (mut mixed, mut leaves) = (0, 0);
    for id in ids {
        let page = h.pager.read(id).unwrap();
        if !crate::node::is_leaf_kind(page.kind) {
            continue;
        }
        leaves += 1;
        let node = crate::node::Node::parse(id, page.kind, &page.data).unwrap();
        let first = |i: usize| node.key(i).unwrap().to_vec()[0];
        if first(0) != first(node.count() - 1) {
            mixed += 1;
        }
    }
    assert!(mixed <= 1, "{mixed} leaves hold keys of both runs");
    // Cut evenly, the shared leaf kept half the records at each split and
    // took every later one mid-leaf: 107 leaves; cut after the run's end,
    // the records fill leaves of their own by appends: 76.
    assert!(leaves < 90, "{leaves} leaves");
}

/// A load in key order applied as sorted runs (a transaction's held-back
/// appends): once a leaf is full, the writes after it go into new leaves
/// of their own, each filled to a page (`merge::fresh_leaf`), rather than
/// each round cutting the last leaf and rebuilding its right half.
#[test]
fn appends_in_sorted_runs_fill_leaves_to_a_page() {
    let load = |runs: bool| {
        let mut h = Harness::new(1024);
        let val = Val(20, 1);
        if runs {
            for r in 0..20u16 {
                harness_ok(
                    &mut h,
                    &[Op::SortedMany {
                        start: r * 300,
                        n: 300,
                        step: 1,
                        style: 0,
                        val,
                        remove_every: 0,
                    }],
                );
            }
        } else {
            for i in 0..6000u32 {
                h.insert(&numbered(i, 0), val).unwrap();
            }
        }
        h.check().unwrap();
        h.tree.check(&h.pager).unwrap()
    };
    let (runs, inserts) = (load(true), load(false));
    assert_eq!(runs.entries, 6000);
    // Inserted one at a time, an ascending load leaves every leaf with
    // the room its split kept for the right half.
    assert!(
        runs.leaf_pages * 10 < inserts.leaf_pages * 9,
        "runs: {runs:?}, inserts: {inserts:?}"
    );
    let fill = runs.node_bytes as f64 / ((runs.leaf_pages + runs.branch_pages) * 1024) as f64;
    assert!(fill > 0.9, "{fill:.2} of each page used: {runs:?}");
}
