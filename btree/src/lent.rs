//! A value lent by a lookup, read no further than its reader asks.
//!
//! An inline value is lent as it lies in its leaf. An overflow value is
//! lent as the start of its chain: a reader that needs only its length or
//! first bytes (the engine asks what kind of value an assignment replaces)
//! reads one page, and one that needs it whole gets it in a buffer it then
//! owns, so decoding can take the bytes over instead of copying them.

use crate::error::Result;
use crate::node::ValueRef;
use crate::overflow;
use moonvault_pager::{PageId, Pager};
use std::borrow::Cow;

/// A stored value as [`crate::BTree::get_lent`] found it.
pub enum Lent<'a> {
    /// A value stored in its leaf.
    Inline(&'a [u8]),
    /// A value stored in an overflow chain, not read yet.
    Overflow(Chain<'a>),
}

/// An overflow value not read yet: where its chain starts and its length.
pub struct Chain<'a> {
    pager: &'a Pager,
    head: PageId,
    len: usize,
}

impl<'a> Lent<'a> {
    /// A leaf's `value`, its chain (if any) not read yet.
    pub(crate) fn of(pager: &'a Pager, value: ValueRef<'a>) -> Lent<'a> {
        match value {
            ValueRef::Inline(v) => Lent::Inline(v),
            ValueRef::Overflow { head, len } => Lent::Overflow(Chain { pager, head, len }),
        }
    }

    /// The value's length in bytes (known without reading a chain).
    pub fn len(&self) -> usize {
        match self {
            Lent::Inline(v) => v.len(),
            Lent::Overflow(c) => c.len,
        }
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value's first `n` bytes (all of it when shorter); reads only
    /// the first page of a chain.
    pub fn prefix(&self, n: usize) -> Result<Cow<'a, [u8]>> {
        match self {
            Lent::Inline(v) => Ok(Cow::Borrowed(&v[..n.min(v.len())])),
            Lent::Overflow(c) => overflow::prefix(c.pager, c.head, c.len, n).map(Cow::Owned),
        }
    }

    /// The whole value: borrowed from its leaf, or read into a buffer the
    /// caller owns (every page of the chain checked).
    pub fn read(self) -> Result<Cow<'a, [u8]>> {
        match self {
            Lent::Inline(v) => Ok(Cow::Borrowed(v)),
            Lent::Overflow(c) => overflow::read(c.pager, c.head, c.len).map(Cow::Owned),
        }
    }
}
