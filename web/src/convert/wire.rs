//! Stored values to JS as one byte stream, decoded by `web/js/wire.js`.
//!
//! Building a JS object field by field costs several calls across the
//! wasm boundary per field (a key, a value, a pair, a push; `Reflect::set`
//! for a row): a query of 2,000 records made some 30,000. Written here
//! instead, a result crosses once per chunk and the JS side builds the
//! objects in plain JS. Chunks of `CHUNK` (16 KiB) go to the JS heap as they
//! fill, so linear memory holds one chunk whatever the result's size; a
//! long string goes straight from its stored bytes into a chunk of its own.
//!
//! ```text
//! value := 00                       undefined
//!        | 01 | 02                  false | true
//!        | 03 f64 LE (8)            a float
//!        | 04 f64 LE (8)            an integer within 2^53 - 1 (a number)
//!        | 05 i64 LE (8)            an integer beyond it (a BigInt)
//!        | 06 len varint, UTF-8     a string
//!        | 07 len varint, bytes     a byte string that is not UTF-8 (a Uint8Array)
//!        | 08 (key value)* 09       a table: its entries in key order
//! key    := a value of tags 01..07
//! ```
//!
//! The decoder picks a table's container by the rules of
//! [`super::container`] (Array for keys exactly 1..n, plain object for
//! UTF-8 string keys, Map otherwise), which it applies to the keys' tags:
//! 04/05 are integer keys, 06 string keys.

use js_sys::{Array, Uint8Array};
use moonvault_engine::codec::{varint, Key};
use wasm_bindgen::JsValue;

use super::js::MAX_SAFE_INTEGER;

/// Bytes gathered in linear memory before they move to the JS heap.
const CHUNK: usize = 16 * 1024;

const UNDEFINED: u8 = 0x00;
const FALSE: u8 = 0x01;
const TRUE: u8 = 0x02;
const FLOAT: u8 = 0x03;
const INT: u8 = 0x04;
const BIG_INT: u8 = 0x05;
const STRING: u8 = 0x06;
const BYTES: u8 = 0x07;
const TABLE: u8 = 0x08;
const END: u8 = 0x09;

/// A stream of values on its way to JS.
pub struct Wire {
    buf: Vec<u8>,
    chunks: Array,
}

impl Default for Wire {
    fn default() -> Self {
        Wire::new()
    }
}

impl Wire {
    /// An empty stream.
    pub fn new() -> Wire {
        Wire {
            buf: Vec::new(),
            chunks: Array::new(),
        }
    }

    /// `undefined` (an absent value).
    pub fn undefined(&mut self) {
        self.tag(UNDEFINED);
    }

    /// A boolean.
    pub fn bool(&mut self, b: bool) {
        self.tag(if b { TRUE } else { FALSE });
    }

    /// An integer: a number when exact, a BigInt beyond 2^53 - 1.
    pub fn int(&mut self, n: i64) {
        if (n as f64).abs() <= MAX_SAFE_INTEGER {
            self.fixed(INT, (n as f64).to_le_bytes());
        } else {
            self.fixed(BIG_INT, n.to_le_bytes());
        }
    }

    /// A float.
    pub fn float(&mut self, x: f64) {
        self.fixed(FLOAT, x.to_le_bytes());
    }

    /// A byte string: a JS string when it is UTF-8, else a Uint8Array.
    pub fn bytes(&mut self, b: &[u8]) {
        let tag = if std::str::from_utf8(b).is_ok() {
            STRING
        } else {
            BYTES
        };
        self.buf.push(tag);
        varint::encode_u64(b.len() as u64, &mut self.buf);
        if b.len() >= CHUNK {
            // Not copied twice in linear memory: it becomes a chunk itself.
            self.flush();
            self.chunks.push(&Uint8Array::from(b));
        } else {
            self.buf.extend_from_slice(b);
            self.flush_if_full();
        }
    }

    /// A table key.
    pub fn key(&mut self, k: &Key) {
        match k {
            Key::Bool(b) => self.bool(*b),
            Key::Int(n) => self.int(*n),
            Key::Float(x) => self.float(*x),
            Key::Str(s) => self.bytes(s),
        }
    }

    /// The start of a table: its entries follow, then [`Wire::end_table`].
    pub fn begin_table(&mut self) {
        self.tag(TABLE);
    }

    /// The end of the table last begun.
    pub fn end_table(&mut self) {
        self.tag(END);
    }

    /// The stream as an Array of Uint8Array chunks.
    pub fn finish(mut self) -> JsValue {
        self.flush();
        self.chunks.into()
    }

    fn tag(&mut self, tag: u8) {
        self.buf.push(tag);
        self.flush_if_full();
    }

    fn fixed(&mut self, tag: u8, bytes: [u8; 8]) {
        self.buf.push(tag);
        self.buf.extend_from_slice(&bytes);
        self.flush_if_full();
    }

    fn flush_if_full(&mut self) {
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            self.chunks.push(&Uint8Array::from(self.buf.as_slice()));
            self.buf.clear();
        }
    }
}
