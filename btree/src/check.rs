//! The invariant checker and the walk over every page of a tree.
//!
//! [`BTree::check`] verifies, page by page: the node layout (packed cells,
//! reserved bytes, a leaf's prefix the longest common one), key order
//! within nodes, every key inside the bounds its ancestors' separators give
//! it, key lengths, size (a leaf within a page, a branch within the branch
//! size), fill (every non-root node's fill, see `Node::fill`, at least a
//! quarter page, and non-empty), the inline/overflow choice of
//! every value,
//! every overflow chain (kinds, lengths, no cycles), uniform leaf depth, and
//! that no page is reachable twice. The first violation is returned as
//! [`BTreeError::Corrupted`] naming the page where it was found.

use crate::error::{BTreeError, Result};
use crate::node::{inline_fits, max_key_len, min_fill, KeyBuf, Node, ValueRef, MAX_DEPTH};
use crate::{overflow, BTree};
use moonvault_pager::{PageId, Pager};
use std::collections::HashSet;

/// What [`BTree::check`] found in a valid tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeReport {
    /// Entries (keys) in the tree.
    pub entries: u64,
    /// Levels: 0 for an empty tree, 1 for a lone leaf.
    pub depth: usize,
    /// Leaf pages.
    pub leaf_pages: u64,
    /// Branch pages.
    pub branch_pages: u64,
    /// Overflow pages.
    pub overflow_pages: u64,
    /// Total bytes of all keys.
    pub key_bytes: u64,
    /// Total bytes of all values.
    pub value_bytes: u64,
    /// Total bytes of all leaf and branch nodes (their sizes, before the
    /// pager's compression).
    pub node_bytes: u64,
    /// The part of `node_bytes` in leaves.
    pub leaf_bytes: u64,
}

struct Checker<'p> {
    pager: &'p Pager,
    page_size: usize,
    seen: HashSet<PageId>,
    report: TreeReport,
}

impl Checker<'_> {
    fn claim(&mut self, id: PageId) -> Result<()> {
        if !self.seen.insert(id) {
            return Err(BTreeError::corrupted(id, "page is reachable twice"));
        }
        Ok(())
    }

    /// Check the subtree at `id`, whose keys must lie in `[lo, hi)`;
    /// returns its depth.
    fn node(
        &mut self,
        id: PageId,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
        is_root: bool,
        level: usize,
    ) -> Result<usize> {
        if level > MAX_DEPTH {
            return Err(BTreeError::corrupted(id, "tree deeper than any valid tree"));
        }
        self.claim(id)?;
        let page = self.pager.read(id)?;
        let node = Node::of_page(id, &page)?;
        node.validate()?;
        self.report.node_bytes += node.len() as u64;
        if node.is_leaf() && node.len() > self.page_size {
            return Err(node.corrupt("leaf larger than a page"));
        }
        if node.len() > self.pager.branch_size() {
            return Err(node.corrupt("branch larger than the branch size"));
        }
        if !is_root && node.fill() < min_fill(self.page_size) {
            return Err(node.corrupt(format!(
                "node with a fill of {} bytes is under the {}-byte minimum",
                node.fill(),
                min_fill(self.page_size)
            )));
        }
        if node.count() == 0 {
            return Err(node.corrupt(if node.is_leaf() {
                "empty leaf (an empty tree has no root page)"
            } else {
                "branch without keys"
            }));
        }
        let max_key = max_key_len(self.page_size);
        let mut prev: Option<KeyBuf> = None;
        for i in 0..node.count() {
            let key = node.key(i)?.to_buf();
            if key.len() > max_key {
                return Err(node.corrupt(format!("key {i} is longer than {max_key} bytes")));
            }
            if prev.as_ref().is_some_and(|p| *p >= key) {
                return Err(node.corrupt(format!("key {i} is not above key {}", i - 1)));
            }
            let key_bytes = key.as_slice();
            if lo.is_some_and(|lo| key_bytes < lo) || hi.is_some_and(|hi| key_bytes >= hi) {
                return Err(
                    node.corrupt(format!("key {i} lies outside the range its parent assigns"))
                );
            }
            prev = Some(key);
        }
        if node.is_leaf() {
            self.report.leaf_pages += 1;
            self.report.leaf_bytes += node.len() as u64;
            for i in 0..node.count() {
                let key = node.key(i)?;
                let value = node.value(i)?;
                let inline = inline_fits(self.page_size, key.len(), value.len());
                match value {
                    ValueRef::Inline(_) if !inline => {
                        return Err(node.corrupt(format!("value {i} is too large to be inline")))
                    }
                    ValueRef::Overflow { .. } if inline => {
                        return Err(node.corrupt(format!("value {i} should be inline")))
                    }
                    ValueRef::Inline(_) => {}
                    ValueRef::Overflow { head, len } => {
                        let mut ids = Vec::new();
                        overflow::pages(self.pager, head, len, &mut |id| ids.push(id))?;
                        for id in ids {
                            self.claim(id)?;
                            self.report.overflow_pages += 1;
                        }
                    }
                }
                self.report.entries += 1;
                self.report.key_bytes += key.len() as u64;
                self.report.value_bytes += value.len() as u64;
            }
            return Ok(1);
        }
        self.report.branch_pages += 1;
        let mut depth = None;
        for i in 0..=node.count() {
            let child_lo = if i == 0 {
                lo
            } else {
                Some(node.separator(i - 1)?)
            };
            let child_hi = if i == node.count() {
                hi
            } else {
                Some(node.separator(i)?)
            };
            let d = self.node(node.child(i)?, child_lo, child_hi, false, level + 1)?;
            if depth.is_some_and(|depth| depth != d) {
                return Err(node.corrupt("leaves under this branch are at different depths"));
            }
            depth = Some(d);
        }
        Ok(depth.unwrap_or(0) + 1)
    }
}

fn visit_pages(
    pager: &Pager,
    id: PageId,
    level: usize,
    visit: &mut dyn FnMut(PageId),
) -> Result<()> {
    if level > MAX_DEPTH {
        return Err(BTreeError::corrupted(id, "tree deeper than any valid tree"));
    }
    visit(id);
    let page = pager.read(id)?;
    let node = Node::of_page(id, &page)?;
    for i in 0..node.count() {
        if node.is_leaf() {
            if let ValueRef::Overflow { head, len } = node.value(i)? {
                overflow::pages(pager, head, len, visit)?;
            }
        } else {
            visit_pages(pager, node.child(i)?, level + 1, visit)?;
        }
    }
    if !node.is_leaf() {
        visit_pages(pager, node.child(node.count())?, level + 1, visit)?;
    }
    Ok(())
}

impl BTree {
    /// Verify every invariant of the tree (see the module docs) and report
    /// its shape. A violation is [`BTreeError::Corrupted`] naming the page.
    pub fn check(&self, pager: &Pager) -> Result<TreeReport> {
        let Some(root) = self.root else {
            return Ok(TreeReport::default());
        };
        let mut checker = Checker {
            pager,
            page_size: pager.page_size(),
            seen: HashSet::new(),
            report: TreeReport::default(),
        };
        let depth = checker.node(root, None, None, true, 1)?;
        checker.report.depth = depth;
        Ok(checker.report)
    }

    /// Call `visit` with the id of every page reachable from the root:
    /// nodes and overflow pages.
    pub fn pages(&self, pager: &Pager, visit: &mut dyn FnMut(PageId)) -> Result<()> {
        match self.root {
            Some(root) => visit_pages(pager, root, 1, visit),
            None => Ok(()),
        }
    }
}
