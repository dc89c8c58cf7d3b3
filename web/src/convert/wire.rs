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
//!        | 0A n varint, (len varint, UTF-8)^n, value^n
//!                                   a record of a new shape: its n keys,
//!                                   then its values in key order
//!        | 0B shape varint, value^n  a record of shape number `shape`
//!                                   (numbered from 0 as they were first
//!                                   sent in this stream)
//! key    := a value of tags 01..07
//! ```
//!
//! The decoder picks a table's container by the rules of
//! [`super::container`] (Array for keys exactly 1..n, plain object for
//! UTF-8 string keys, Map otherwise), which it applies to the keys' tags:
//! 04/05 are integer keys, 06 string keys. A packed record whose keys are
//! all UTF-8 strings (a plain object; `__proto__` aside, which the
//! decoder must define rather than assign) goes as a *shape*: a query's
//! rows mostly share their field names, which then cross once per result
//! instead of once per row, and the decoder assigns values to a known
//! list of keys.

use js_sys::{Array, Uint8Array};
use moonvault_engine::codec::{varint, Key, Scalar};
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
const NEW_SHAPE: u8 = 0x0A;
const SHAPE: u8 = 0x0B;

/// Most shapes one stream defines.
const MAX_SHAPES: usize = 64;

/// A stream of values on its way to JS.
pub struct Wire {
    buf: Vec<u8>,
    chunks: Array,
    /// The record shapes sent so far, by number: their keys as
    /// [`NEW_SHAPE`] lists them. Searched in order: a result has a few
    /// (at most [`MAX_SHAPES`]; later new ones go as tables).
    shapes: Vec<Vec<u8>>,
    /// A record's keys in that form, while it is written.
    keys: Vec<u8>,
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
            shapes: Vec::new(),
            keys: Vec::new(),
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
        self.scalar(Scalar::of_key(k));
    }

    /// A scalar.
    pub fn scalar(&mut self, v: Scalar<'_>) {
        match v {
            Scalar::Bool(b) => self.bool(b),
            Scalar::Int(n) => self.int(n),
            Scalar::Float(x) => self.float(x),
            Scalar::Str(s) => self.bytes(s),
        }
    }

    /// A packed record's fields, in key order: a shaped record when every
    /// key is a UTF-8 string other than `__proto__`, else a table.
    pub fn record<'a>(&mut self, fields: impl Iterator<Item = (Scalar<'a>, Scalar<'a>)> + Clone) {
        self.keys.clear();
        let mut n = 0u64;
        for (k, _) in fields.clone() {
            match k {
                Scalar::Str(s) if s != b"__proto__" && std::str::from_utf8(s).is_ok() => {
                    varint::encode_u64(s.len() as u64, &mut self.keys);
                    self.keys.extend_from_slice(s);
                    n += 1;
                }
                _ => return self.record_as_table(fields),
            }
        }
        if n == 0 {
            return self.record_as_table(fields);
        }
        match self.shapes.iter().position(|keys| *keys == self.keys) {
            Some(shape) => {
                self.buf.push(SHAPE);
                varint::encode_u64(shape as u64, &mut self.buf);
            }
            None if self.shapes.len() < MAX_SHAPES => {
                self.buf.push(NEW_SHAPE);
                varint::encode_u64(n, &mut self.buf);
                self.buf.extend_from_slice(&self.keys);
                self.shapes.push(self.keys.clone());
            }
            None => return self.record_as_table(fields),
        }
        for (_, v) in fields {
            self.scalar(v);
        }
    }

    fn record_as_table<'a>(&mut self, fields: impl Iterator<Item = (Scalar<'a>, Scalar<'a>)>) {
        self.begin_table();
        for (k, v) in fields {
            self.scalar(k);
            self.scalar(v);
        }
        self.end_table();
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
