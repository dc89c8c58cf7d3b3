//! Storage encodings of Lua table keys and values (Lua 5.4 semantics).
//!
//! - [`Key`] — a table key — has an **order-preserving, self-delimiting**
//!   encoding: `memcmp` order of encodings is [`Key`] order, and no
//!   encoding is a prefix of another, so keys concatenate into composite
//!   keys (`[field value][record key]` for secondary indexes) that sort
//!   component by component.
//! - [`Value`] — a stored value — has a compact tagged encoding whose
//!   length is given by its container.
//! - [`varint`] — LEB128 and zigzag, shared by the formats above.
//!
//! Every decoder treats its input as untrusted stored bytes: anything
//! malformed, including non-canonical forms, is [`CodecError::Corrupted`],
//! never a panic. Each key and value has exactly one encoding, so byte
//! equality is value identity. Integers are little-endian except inside
//! keys, which are big-endian so that byte order is numeric order.
//!
//! # Key encoding
//!
//! Order: `false < true < numbers < strings`. Numbers compare by exact
//! mathematical value across integers and floats (`Int(2) == Float(2.0)`,
//! `Int(i64::MAX) < Float(2^63)`); strings bytewise.
//!
//! ```text
//! false   10
//! true    11
//!
//! number  20 | image: u64 BE (8) | rem: u16 BE (2)           11 bytes
//!         image = order-preserving bits of r, the value rounded to f64
//!                 (positive: bits | 1<<63, negative: !bits; -0.0 as +0.0)
//!         rem   = (n - r) as i16 ^ 0x8000, the exact rounding error of an
//!                 integer n (|n - r| <= 512 below 2^63); 0 (0x8000) for floats
//!
//! string  30 | bytes, each 00 written as 00 FF | 00 01
//! ```
//!
//! Why the number form sorts exactly: rounding to `f64` is monotone, so
//! `r(a) < r(b)` implies `a < b`; when `r(a) == r(b)` the values differ
//! by their remainders. Which variant a number decodes to needs no extra
//! byte: an integral `r + rem` in `i64` range is `Int` (Lua's rule for
//! float keys), anything else `Float` with `rem == 0`. A decoder accepts
//! only what the encoder produces: NaN, `-0.0`, remainders that are not the
//! round-to-nearest-even error, and integral in-range floats are refused.
//!
//! Why strings sort and delimit: the terminator `00 01` sorts below any
//! content byte and below the escape `00 FF`, so a string sorts before its
//! extensions; `00` is always followed by `01` or `FF`, so the terminator
//! cannot occur inside, and no encoding is a prefix of another.
//!
//! # Value encoding
//!
//! One tag byte, then a body that runs to the end of the record.
//!
//! ```text
//! tag  type             body
//! 01   false            (empty)
//! 02   true             (empty)
//! 03   integer          zigzag LEB128 varint, canonical, 1..10 bytes
//! 04   float            f64 bits, u64 LE, exactly 8 bytes (NaN, inf, -0.0 kept)
//! 05   string           raw bytes
//! 06   table            child table id, LEB128 varint, canonical
//! 07   function         crc32 of payload, u32 LE (4) | payload
//! 08   native function  registry name, UTF-8
//! 09   packed record    table id varint | fields (format 2; see `record.rs`):
//!                       only as a table entry's value, read with
//!                       [`decode_stored`]
//! 00, 0A..FF            unused (00 catches zeroed records; the rest are
//!                       free for future formats such as compressed strings)
//! ```
//!
//! The function checksum is verified on every decode, so a damaged payload
//! is reported as corruption instead of being handed to Lua's `load`.
//!
//! # Varint encoding
//!
//! ```text
//! u64  [1xxxxxxx]* 0xxxxxxx     seven bits a byte, least significant first;
//!                               at most 10 bytes; no trailing zero group
//! i64  zigzag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ... then as u64
//! ```

mod error;
mod key;
mod path;
mod record;
mod record_view;
mod value;
pub mod varint;

pub use error::{CodecError, Result};
pub use key::{decode_key, encode_key, Key, NUMBER_KEY_LEN};
pub(crate) use key::{encode_key_to, encode_number_key, skip_key, ByteSink};
pub use path::fmt_path;
pub use record::{is_packable_value, Record};
pub(crate) use record::{packed_field_len, packed_header_len, record_body_id};
pub use record_view::{
    decode_stored_view, decode_stored_view_vouched, vouch_stored, Fields, RecordView, Scalar,
    StoredView,
};

/// The engine's page aids: the B-tree's search aids, a leaf's vouching
/// for its packed records once they all pass [`vouch_stored`], so that
/// reads of a hot leaf skip the record check
/// ([`decode_stored_view_vouched`]).
pub const VALUE_AID: moonvault_pager::PageAid = moonvault_pager::PageAid {
    words: moonvault_btree::search_aid_words,
    derive: |kind, data| moonvault_btree::search_aid_vouching(kind, data, vouch_stored),
};
pub use value::{
    decode_entry_value, decode_stored, decode_stored_owned, decode_value, encode_value, Stored,
    Value,
};
pub(crate) use value::{encode_stored_to, never_indexed, split_encoding, TAG_RECORD};
