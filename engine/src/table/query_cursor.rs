//! Advancing a [`QueryCursor`] on a reader: the query module works on the
//! raw key/value view; the table API lends it (so `query` never imports
//! the table API that calls into it).

use crate::codec::{Key, StoredView};
use crate::error::Result;
use crate::query::{QueryCursor, Row, StoredRow};
use crate::table::TableRead;

impl QueryCursor {
    /// The next record, or `None` at the end. After an error the cursor
    /// stays finished.
    pub fn next<R: TableRead + ?Sized>(&mut self, reader: &R) -> Result<Option<Row>> {
        self.next_in(reader.kv())
    }

    /// [`QueryCursor::next`] with the record as stored (read in full when
    /// packed).
    pub fn next_stored<R: TableRead + ?Sized>(&mut self, reader: &R) -> Result<Option<StoredRow>> {
        self.next_stored_in(reader.kv())
    }

    /// [`QueryCursor::next_stored`] lending the row instead of decoding it:
    /// `f` gets the row's key and its value as stored, a packed record as a
    /// [`StoredView`] of the page it sits on (reading its fields allocates
    /// nothing). Returns what `f` returns; `None` at the end.
    pub fn next_with<R: TableRead + ?Sized, T>(
        &mut self,
        reader: &R,
        f: impl FnOnce(&Key, StoredView<'_>) -> T,
    ) -> Result<Option<T>> {
        self.next_with_in(reader.kv(), f)
    }
}
