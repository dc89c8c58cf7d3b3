//! Crafted trees whose pages all pass their checksums (they are written
//! through the pager) but whose structure is hostile: walks over them
//! must end with `Corrupted`, not loop, repeat entries or blow up.

use super::model::config;
use crate::node::{build_branch, build_leaf, KeyParts, LeafEntry, ValueRef, KIND_BRANCH};
use crate::{BTree, BTreeError, KIND_LEAF};
use moonvault_pager::store::memory::MemoryStore;
use moonvault_pager::{Page, PageId, Pager};
use std::ops::Bound;

fn pager() -> Pager {
    let (mut pager, _) = Pager::open(Box::new(MemoryStore::new()), config(1024)).unwrap();
    pager.begin().unwrap();
    pager
}

/// Writes a crafted page as the store would hand it back: not checked yet
/// (pages this crate builds count as checked; these must not).
fn write_crafted(pager: &mut Pager, kind: u8, data: Vec<u8>) -> PageId {
    let id = pager.allocate().unwrap();
    pager.write(id, Page::new(kind, data)).unwrap();
    id
}

fn leaf(pager: &mut Pager, keys: &[&[u8]]) -> PageId {
    let entries: Vec<LeafEntry<'_>> = keys
        .iter()
        .map(|k| LeafEntry::new(KeyParts::whole(k), ValueRef::Inline(b"v")))
        .collect();
    write_crafted(pager, KIND_LEAF, build_leaf(&entries))
}

fn branch(pager: &mut Pager, child0: PageId, cells: &[(&[u8], PageId)]) -> PageId {
    write_crafted(pager, KIND_BRANCH, build_branch(child0, cells))
}

/// Every entry forward and backward: the first error of either walk.
fn walk(tree: &BTree, pager: &Pager) -> Result<usize, BTreeError> {
    let mut n = 0;
    for reverse in [false, true] {
        let mut c = tree.range(Bound::Unbounded, Bound::Unbounded, reverse);
        while c.next(tree, pager)?.is_some() {
            n += 1;
            assert!(n < 10_000, "the walk does not end");
        }
    }
    Ok(n)
}

fn assert_corrupted(r: Result<usize, BTreeError>, says: &str) {
    match r {
        Err(e @ BTreeError::Corrupted { .. }) => {
            assert!(e.to_string().contains(says), "{e}")
        }
        other => panic!("expected Corrupted ({says}), got {other:?}"),
    }
}

#[test]
fn a_sound_crafted_tree_walks() {
    let mut p = pager();
    let a = leaf(&mut p, &[b"a", b"b"]);
    let c = leaf(&mut p, &[b"c", b"d"]);
    let root = branch(&mut p, a, &[(b"c", c)]);
    assert_eq!(walk(&BTree::new(Some(root)), &p).unwrap(), 8);
}

#[test]
fn a_branch_pointing_at_one_child_twice_is_an_error() {
    let mut p = pager();
    let a = leaf(&mut p, &[b"a", b"b"]);
    // 40 levels of branches whose two children are the same page: without
    // the check a walk lends every entry 2^40 times.
    let mut top = a;
    for _ in 0..40 {
        top = branch(&mut p, top, &[(b"m", top)]);
    }
    assert_corrupted(walk(&BTree::new(Some(top)), &p), "out of order");
}

#[test]
fn leaves_out_of_order_are_an_error() {
    // A leaf whose first key lies above its last, below a branch.
    let mut p = pager();
    let a = leaf(&mut p, &[b"c", b"d", b"a"]);
    let b = leaf(&mut p, &[b"x", b"y"]);
    let root = branch(&mut p, a, &[(b"m", b)]);
    assert_corrupted(walk(&BTree::new(Some(root)), &p), "out of order");
    // Two leaves whose ranges overlap.
    let mut p = pager();
    let a = leaf(&mut p, &[b"a", b"k"]);
    let b = leaf(&mut p, &[b"c", b"z"]);
    let root = branch(&mut p, a, &[(b"c", b)]);
    assert_corrupted(walk(&BTree::new(Some(root)), &p), "out of order");
}

#[test]
fn keys_out_of_order_inside_a_node_are_an_error_at_first_use() {
    // First and last keys in order, the middle ones not: the cursor's
    // per-leaf check cannot see it; the node's own check (once per loaded
    // page) does, for walks and point lookups alike.
    let mut p = pager();
    let a = leaf(&mut p, &[b"a", b"c", b"b", b"d"]);
    assert_corrupted(walk(&BTree::new(Some(a)), &p), "keys out of order");
    let mut p = pager();
    let a = leaf(&mut p, &[b"a", b"c", b"b", b"d"]);
    match BTree::new(Some(a)).get(&p, b"b") {
        Err(e @ BTreeError::Corrupted { .. }) => {
            assert!(e.to_string().contains("keys out of order"), "{e}")
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
    // The same for a branch's separators.
    let mut p = pager();
    let (x, y, z) = (
        leaf(&mut p, &[b"a"]),
        leaf(&mut p, &[b"m"]),
        leaf(&mut p, &[b"z"]),
    );
    let root = branch(&mut p, x, &[(b"x", y), (b"k", z)]);
    assert_corrupted(walk(&BTree::new(Some(root)), &p), "keys out of order");
}

#[test]
fn one_leaf_under_two_distant_children_is_an_error() {
    // a, b, a: the repeat is not adjacent; the ranges still must increase.
    let mut p = pager();
    let a = leaf(&mut p, &[b"a", b"b"]);
    let b = leaf(&mut p, &[b"c", b"d"]);
    let root = branch(&mut p, a, &[(b"c", b), (b"e", a)]);
    assert_corrupted(walk(&BTree::new(Some(root)), &p), "out of order");
}

#[test]
fn a_cycle_of_child_pointers_is_an_error_at_the_first_repeat() {
    let mut p = pager();
    let a = leaf(&mut p, &[b"a"]);
    // Page ids are allocated in order: the branch written next is `a + 1`,
    // and its second child points at itself.
    let looped = a + 1;
    let root = branch(&mut p, a, &[(b"m", looped)]);
    assert_eq!(root, looped);
    assert_corrupted(
        walk(&BTree::new(Some(root)), &p),
        "twice on one root-to-leaf path",
    );
    let tree = BTree::new(Some(root));
    match tree.get(&p, b"z") {
        Err(e @ BTreeError::Corrupted { .. }) => {
            assert!(e.to_string().contains("twice"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_empty_leaf_below_a_branch_is_an_error() {
    let mut p = pager();
    let empty = leaf(&mut p, &[]);
    let mut top = empty;
    for _ in 0..30 {
        top = branch(&mut p, top, &[(b"m", top)]);
    }
    assert_corrupted(walk(&BTree::new(Some(top)), &p), "empty leaf");
}
