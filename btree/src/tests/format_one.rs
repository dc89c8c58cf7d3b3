//! Trees written by older formats: store format 1 (leaves of kind 1,
//! before prefix compression) and formats 2 to 4 (leaves of kind 4, slot
//! directory first). Read as they are, and turned into kind-5 leaves leaf
//! by leaf as edits copy them, through inserts, splits, removes and
//! merges.

use super::model::{numbered, Harness, Op, Val, B};
use crate::node::{
    build_branch, build_leaf_v1, build_leaf_v2, set_child, shortest_separator, KeyBuf, KeyParts,
    LeafEntry, Node, ValueRef, LEAF_HEADER, SLOT,
};
use crate::tree::write_node;
use crate::{BTree, Result, KIND_BRANCH, KIND_LEAF, KIND_LEAF_V1, KIND_LEAF_V2};
use moonvault_pager::{Page, PageId, Pager};

/// Rewrite the leaves under `id` as older formats wrote them (copy-on-write,
/// as any edit): a leaf on an even page as kind 1 where that fits a page,
/// one on an odd page as kind 4. Returns the subtree's new root. Neither
/// takes less room, so the tree's fill rules still hold.
pub(super) fn downgrade(pager: &mut Pager, id: PageId, depth: usize) -> Result<PageId> {
    assert!(depth < 64);
    let page = pager.read(id)?;
    let node = Node::parse(id, page.kind, &page.data)?;
    if node.is_leaf() {
        if page.kind != KIND_LEAF {
            return Ok(id);
        }
        let mut entries: Vec<(KeyBuf, ValueRef<'_>)> = Vec::new();
        for i in 0..node.count() {
            entries.push((node.key(i)?.to_buf(), node.value(i)?));
        }
        let (kind, data) = old_leaf(id.is_multiple_of(2), &entries);
        if data.len() > pager.page_size() {
            return Ok(id);
        }
        return write_node(pager, id, kind, data);
    }
    let children: Vec<PageId> = (0..=node.count())
        .map(|i| node.child(i))
        .collect::<Result<_>>()?;
    let mut data = page.data.clone();
    drop(page);
    let mut changed = false;
    for (i, child) in children.into_iter().enumerate() {
        let new = downgrade(pager, child, depth + 1)?;
        if new != child {
            data = set_child(&Node::parse(id, KIND_BRANCH, &data)?, i, new)?;
            changed = true;
        }
    }
    if changed {
        write_node(pager, id, KIND_BRANCH, data)
    } else {
        Ok(id)
    }
}

/// A leaf holding `entries` as format 1 wrote it, or (`v1` false) as
/// formats 2 to 4 did: its kind and bytes.
fn old_leaf(v1: bool, entries: &[(KeyBuf, ValueRef<'_>)]) -> (u8, Vec<u8>) {
    if v1 {
        let refs: Vec<(&[u8], ValueRef<'_>)> =
            entries.iter().map(|(k, v)| (k.as_slice(), *v)).collect();
        (KIND_LEAF_V1, build_leaf_v1(&refs))
    } else {
        let refs: Vec<LeafEntry<'_>> = entries
            .iter()
            .map(|(k, v)| LeafEntry::new(KeyParts::whole(k), *v))
            .collect();
        (KIND_LEAF_V2, build_leaf_v2(&refs))
    }
}

fn write_page(pager: &mut Pager, kind: u8, data: Vec<u8>) -> PageId {
    assert!(data.len() <= pager.page_size());
    let id = pager.allocate().unwrap();
    pager.write(id, Page::new(kind, data)).unwrap();
    id
}

/// Split `n` items into `ceil(n / most)` runs of near-equal length.
fn runs(n: usize, most: usize) -> Vec<std::ops::Range<usize>> {
    let count = n.div_ceil(most).max(1);
    (0..count)
        .map(|i| i * n / count..(i + 1) * n / count)
        .collect()
}

/// A tree as format 1 wrote it (`v1`: kind-1 leaves) or formats 2 to 4
/// did (kind-4 leaves), with kind-2 branches, built bottom up from
/// `entries` (sorted, values inline) with `per_leaf` entries and
/// `per_branch` children at most per node.
fn old_tree(
    pager: &mut Pager,
    v1: bool,
    entries: &[(Vec<u8>, Vec<u8>)],
    per_leaf: usize,
    per_branch: usize,
) -> BTree {
    // (first key, page) of each node of the level being built.
    let mut level: Vec<(Vec<u8>, PageId)> = Vec::new();
    let mut last_keys = Vec::new();
    for run in runs(entries.len(), per_leaf) {
        let part = &entries[run];
        let refs: Vec<(KeyBuf, ValueRef<'_>)> = part
            .iter()
            .map(|(k, v)| (KeyBuf::from_slice(k), ValueRef::Inline(v)))
            .collect();
        let (kind, data) = old_leaf(v1, &refs);
        if v1 {
            let cells: usize = part.iter().map(|(k, v)| SLOT + 7 + k.len() + v.len()).sum();
            assert_eq!(data.len(), LEAF_HEADER + cells);
        }
        level.push((part[0].0.clone(), write_page(pager, kind, data)));
        last_keys.push(part[part.len() - 1].0.clone());
    }
    // Separators between leaves are the shortest ones, as splits made them.
    let mut seps: Vec<Vec<u8>> = (1..level.len())
        .map(|i| shortest_separator(&last_keys[i - 1], &level[i].0))
        .collect();
    while level.len() > 1 {
        let mut next = Vec::new();
        let mut next_seps = Vec::new();
        for run in runs(level.len(), per_branch) {
            if run.start > 0 {
                next_seps.push(seps[run.start - 1].clone());
            }
            let cells: Vec<(&[u8], PageId)> = (run.start + 1..run.end)
                .map(|i| (seps[i - 1].as_slice(), level[i].1))
                .collect();
            let data = build_branch(level[run.start].1, &cells);
            next.push((
                level[run.start].0.clone(),
                write_page(pager, KIND_BRANCH, data),
            ));
        }
        level = next;
        seps = next_seps;
    }
    BTree::new(level.first().map(|l| l.1))
}

/// Kinds of the tree's leaves: (kinds 1 and 4, kind 5).
fn leaf_kinds(h: &Harness) -> (usize, usize) {
    let mut ids = Vec::new();
    h.tree.pages(&h.pager, &mut |id| ids.push(id)).unwrap();
    let (mut old, mut new) = (0, 0);
    for id in ids {
        match h.pager.read(id).unwrap().kind {
            KIND_LEAF_V1 | KIND_LEAF_V2 => old += 1,
            KIND_LEAF => new += 1,
            _ => {}
        }
    }
    (old, new)
}

fn ok(h: &mut Harness, ops: &[Op]) {
    for op in ops {
        h.apply(op).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    }
}

fn scan_all() -> Op {
    Op::Range(B::Unbounded, B::Unbounded, false)
}

#[test]
fn a_format_one_tree_is_read_edited_split_and_merged() {
    an_old_tree_is_read_edited_split_and_merged(true);
}

#[test]
fn a_format_four_tree_is_read_edited_split_and_merged() {
    an_old_tree_is_read_edited_split_and_merged(false);
}

fn an_old_tree_is_read_edited_split_and_merged(v1: bool) {
    let mut h = Harness::new(1024);
    // 3000 entries, 16 per leaf (about 3/4 full), 30 children per branch:
    // three levels.
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..3000u32)
        .map(|i| (numbered(2 * i, 0), Val(30, i as u8).bytes()))
        .collect();
    h.tree = old_tree(&mut h.pager, v1, &entries, 16, 30);
    h.model = entries.iter().cloned().collect();
    ok(&mut h, &[Op::Checkpoint, Op::Reopen]);
    let report = h.tree.check(&h.pager).unwrap();
    assert_eq!((report.entries, report.depth), (3000, 3));
    let (old, new) = leaf_kinds(&h);
    assert_eq!((old, new), (188, 0));
    // Reads: gets, scans both ways, bounded ranges, counts, prefixes.
    ok(
        &mut h,
        &[
            scan_all(),
            Op::Range(B::Unbounded, B::Unbounded, true),
            Op::Range(B::In(key(100)), B::Ex(key(2500)), false),
            Op::Range(B::Ex(key(101)), B::In(key(999)), true),
            Op::Count(B::In(key(7)), B::Unbounded),
            Op::Prefix(super::model::Key(b"k01".to_vec()), false),
        ],
    );
    for i in (0..6000).step_by(37) {
        ok(&mut h, &[Op::Get(super::model::Key(numbered(i, 0)))]);
    }
    // Edits: replace values in place of old leaves, insert between old
    // keys until leaves split, in one region; each edit writes kind 5.
    h.insert(&numbered(40, 0), Val(5, 1)).unwrap();
    h.insert(&numbered(41, 0), Val(30, 1)).unwrap();
    ok(
        &mut h,
        &[
            Op::InsertMany {
                start: 1001,
                n: 200,
                step: 2,
                style: 0,
                val: Val(30, 3),
            },
            Op::Commit,
        ],
    );
    let (old2, new2) = leaf_kinds(&h);
    assert!(old2 < old && new2 > 12, "{old2} old and {new2} new leaves");
    // Removes: a run of old leaves empties out, merging with neighbours
    // of both formats; a long, engine-like key shortens prefixes.
    ok(
        &mut h,
        &[
            Op::RemoveMany {
                start: 1500,
                n: 700,
                style: 0,
            },
            Op::Insert(super::model::Key(numbered(7, 4)), Val(12, 0)),
            Op::Insert(super::model::Key(b"k".to_vec()), Val(12, 0)),
            Op::Checkpoint,
            Op::Reopen,
            scan_all(),
        ],
    );
    // Value growth that overflows old leaves, then everything removed.
    for i in (4000..5000u32).step_by(2) {
        h.insert(&numbered(i, 0), Val(90, 2)).unwrap();
    }
    h.check().unwrap();
    let (old3, _) = leaf_kinds(&h);
    assert!(old3 < old2, "{old3} old leaves left");
    ok(
        &mut h,
        &[
            scan_all(),
            Op::RemoveMany {
                start: 0,
                n: 6000,
                style: 0,
            },
            Op::Remove(super::model::Key(numbered(7, 4))),
            Op::Remove(super::model::Key(b"k".to_vec())),
            Op::Checkpoint,
        ],
    );
    assert_eq!(h.tree.root, None);
}

fn key(i: u32) -> super::model::Key {
    super::model::Key(numbered(i, 0))
}

#[test]
fn downgraded_trees_stay_valid_and_readable() {
    let mut h = Harness::new(1024);
    for i in 0..1500u32 {
        h.insert(
            &numbered(i * 7 % 1500, (i % 6) as u8),
            Val(20 + (i % 50) as u16, 1),
        )
        .unwrap();
    }
    ok(
        &mut h,
        &[Op::Commit, Op::Downgrade, Op::Checkpoint, Op::Reopen],
    );
    let (old, new) = leaf_kinds(&h);
    assert!(old > 10, "{old} leaves downgraded, {new} kept");
    ok(
        &mut h,
        &[scan_all(), Op::Range(B::Unbounded, B::Unbounded, true)],
    );
}
