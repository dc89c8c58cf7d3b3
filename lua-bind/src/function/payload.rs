//! The byte format of a persisted Lua function (the payload inside an
//! engine `Value::Function`).
//!
//! The format is drawn once, in DESIGN.md section 6, "What a closure stores";
//! this module is its only reader and writer.
//!
//! Varints are the engine's canonical LEB128. Two upvalues with the same
//! `(share group, cell)` were one upvalue when stored and are joined again
//! when loaded, within one payload and across payloads of the same group.
//!
//! [`parse`] checks the whole structure (crc, tags, lengths, object
//! references, key validity, code signatures) into borrowed [`Object`]s
//! before anything is handed to Lua's `load`. The engine's value encoding
//! already carries a crc32 of the payload; the inner one makes the payload
//! verifiable on its own wherever it travels (exports, tests, other
//! containers).

use std::collections::TryReserveError;

use super::error::FunctionError;
use moonvault_engine::codec::varint;

/// First bytes of every payload.
pub(crate) const MAGIC: [u8; 4] = *b"MVFN";
/// The only format version written and read.
pub(crate) const VERSION: u8 = 1;
/// Bytes before the first object.
pub(crate) const HEADER_LEN: usize = 17;
/// Where the crc32 sits and where the bytes it covers start.
const CRC_AT: usize = 5;
const CRC_FROM: usize = 9;

/// Lua's binary chunk signature and the 5.4 version byte.
const LUA_SIGNATURE: &[u8] = b"\x1bLua\x54";

const OBJ_BYTECODE: u8 = 0x01;
const OBJ_SOURCE: u8 = 0x02;
const OBJ_TABLE: u8 = 0x03;

const V_NIL: u8 = 0x00;
const V_FALSE: u8 = 0x01;
const V_TRUE: u8 = 0x02;
const V_INT: u8 = 0x03;
const V_FLOAT: u8 = 0x04;
const V_STR: u8 = 0x05;
const V_OBJ: u8 = 0x06;
const V_PROXY: u8 = 0x07;
const V_NATIVE_FN: u8 = 0x08;
const V_NATIVE_TABLE: u8 = 0x09;
const V_GLOBALS: u8 = 0x0A;

/// How a closure's code is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeKind {
    /// `string.dump` output; loaded with mode "b" (trusted stores only).
    Bytecode,
    /// Source text; loaded with mode "t" (always allowed).
    Source,
}

/// One value as stored, borrowing from the payload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Val<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a [u8]),
    /// Index of an object in the same payload.
    Obj(u32),
    /// An external table by its engine id.
    Proxy(u64),
    NativeFn(&'a str),
    NativeTable(&'a str),
    Globals,
}

/// One object of a parsed payload.
#[derive(Debug)]
pub(crate) enum Object<'a> {
    Closure {
        kind: CodeKind,
        code: &'a [u8],
        /// `(cell, value)` per upvalue, in upvalue order.
        upvalues: Vec<(u32, Val<'a>)>,
    },
    Table {
        meta: Option<u32>,
        pairs: Vec<(Val<'a>, Val<'a>)>,
    },
}

/// A payload whose structure has been fully checked.
#[derive(Debug)]
pub(crate) struct Parsed<'a> {
    pub group: u64,
    pub objects: Vec<Object<'a>>,
}

/// Bytes reserved past a large closure's code for its upvalues.
const CLOSURE_SLACK: usize = 1024;

/// Appends a payload object by object. The caller writes objects in index
/// order; [`Writer::finish`] seals the crc.
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Starts a payload for share group `group`.
    pub fn new(group: u64) -> Writer {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&MAGIC);
        buf.push(VERSION);
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&group.to_le_bytes());
        Writer { buf }
    }

    /// Starts a closure object; `nups` upvalues must follow. Fails when
    /// the payload cannot grow by the code (see [`Writer::closure_with`]).
    pub fn closure(
        &mut self,
        kind: CodeKind,
        code: &[u8],
        nups: u8,
    ) -> Result<(), TryReserveError> {
        self.closure_with(
            kind,
            code.len(),
            nups,
            |e| e,
            |buf| {
                buf.extend_from_slice(code);
                Ok(())
            },
        )
    }

    /// [`Writer::closure`] whose `len` bytes of code `fill` appends to the
    /// payload itself (a dump written straight into it, never held in a
    /// buffer of its own). `fill` must append exactly `len` bytes or fail;
    /// so does the call when the payload cannot grow by `len`, with `full`'s
    /// error (an allocation failure would abort the process, and the
    /// browser's module has only a few hundred KiB of heap).
    pub fn closure_with<E>(
        &mut self,
        kind: CodeKind,
        len: usize,
        nups: u8,
        full: impl FnOnce(TryReserveError) -> E,
        fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        // Room for the code and what usually follows it, reserved exactly:
        // left to doubling, the first small write after a large code
        // doubles the buffer (a 124 KiB dump took 248 KiB), which the
        // browser's 2 MiB module has to hold next to the dump itself.
        if len > CLOSURE_SLACK {
            self.buf
                .try_reserve_exact(len + CLOSURE_SLACK)
                .map_err(full)?;
        }
        self.buf.push(match kind {
            CodeKind::Bytecode => OBJ_BYTECODE,
            CodeKind::Source => OBJ_SOURCE,
        });
        varint::encode_u64(len as u64, &mut self.buf);
        let start = self.buf.len();
        fill(&mut self.buf)?;
        assert_eq!(
            self.buf.len() - start,
            len,
            "a closure's code is the length announced"
        );
        self.buf.push(nups);
        Ok(())
    }

    /// Writes an upvalue's cell; its value must follow.
    pub fn cell(&mut self, cell: u32) {
        varint::encode_u64(u64::from(cell), &mut self.buf);
    }

    /// Starts a table object; pairs follow, then [`Writer::end_table`].
    pub fn table(&mut self, meta: Option<u32>) {
        self.buf.push(OBJ_TABLE);
        varint::encode_u64(meta.map_or(0, |m| u64::from(m) + 1), &mut self.buf);
    }

    /// Ends the pairs of a table (a nil key).
    pub fn end_table(&mut self) {
        self.buf.push(V_NIL);
    }

    /// Writes one value.
    pub fn value(&mut self, v: Val<'_>) {
        let out = &mut self.buf;
        match v {
            Val::Nil => out.push(V_NIL),
            Val::Bool(false) => out.push(V_FALSE),
            Val::Bool(true) => out.push(V_TRUE),
            Val::Int(n) => {
                out.push(V_INT);
                varint::encode_u64(varint::zigzag_encode(n), out);
            }
            Val::Float(x) => {
                out.push(V_FLOAT);
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            Val::Str(s) => {
                out.push(V_STR);
                self.bytes(s);
            }
            Val::Obj(k) => {
                out.push(V_OBJ);
                varint::encode_u64(u64::from(k), out);
            }
            Val::Proxy(id) => {
                out.push(V_PROXY);
                varint::encode_u64(id, out);
            }
            Val::NativeFn(name) => {
                out.push(V_NATIVE_FN);
                self.bytes(name.as_bytes());
            }
            Val::NativeTable(name) => {
                out.push(V_NATIVE_TABLE);
                self.bytes(name.as_bytes());
            }
            Val::Globals => out.push(V_GLOBALS),
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        varint::encode_u64(b.len() as u64, &mut self.buf);
        self.buf.extend_from_slice(b);
    }

    /// Seals the crc and returns the payload.
    pub fn finish(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.buf[CRC_FROM..]);
        self.buf[CRC_AT..CRC_FROM].copy_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

/// The crc32 a payload claims, for cache keys (not verified here).
pub(crate) fn stored_crc(payload: &[u8]) -> Option<u32> {
    let b = payload.get(CRC_AT..CRC_FROM)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// Cursor over untrusted bytes: every read is bounds-checked and errors
/// carry the offset.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, detail: impl Into<String>) -> FunctionError {
        FunctionError::corrupted(self.pos, detail)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn u8(&mut self, what: &str) -> Result<u8, FunctionError> {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.err(format!("truncated: {what} missing"))),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FunctionError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.err(format!(
                "truncated: {what} of {n} bytes overruns the payload ({} left)",
                self.bytes.len() - self.pos
            ))),
        }
    }

    fn varint(&mut self, what: &str) -> Result<u64, FunctionError> {
        let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
        match varint::decode_u64(rest) {
            Ok((v, used)) => {
                self.pos += used;
                Ok(v)
            }
            Err(e) => Err(self.err(format!("{what}: {e}"))),
        }
    }

    fn u32(&mut self, what: &str) -> Result<u32, FunctionError> {
        let at = self.pos;
        let v = self.varint(what)?;
        u32::try_from(v)
            .map_err(|_| FunctionError::corrupted(at, format!("{what} {v} is out of range")))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], FunctionError> {
        let at = self.pos;
        let len = self.varint(what)?;
        let len = usize::try_from(len)
            .map_err(|_| FunctionError::corrupted(at, format!("{what} length {len} too large")))?;
        self.take(len, what)
    }

    fn name(&mut self, what: &str) -> Result<&'a str, FunctionError> {
        let at = self.pos;
        let b = self.bytes(what)?;
        std::str::from_utf8(b)
            .map_err(|e| FunctionError::corrupted(at, format!("{what} is not UTF-8: {e}")))
    }

    fn value(&mut self) -> Result<Val<'a>, FunctionError> {
        let at = self.pos;
        Ok(match self.u8("value tag")? {
            V_NIL => Val::Nil,
            V_FALSE => Val::Bool(false),
            V_TRUE => Val::Bool(true),
            V_INT => Val::Int(varint::zigzag_decode(self.varint("integer")?)),
            V_FLOAT => {
                let b = self.take(8, "float")?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Val::Float(f64::from_bits(u64::from_le_bytes(a)))
            }
            V_STR => Val::Str(self.bytes("string")?),
            V_OBJ => Val::Obj(self.u32("object reference")?),
            V_PROXY => Val::Proxy(self.varint("external table id")?),
            V_NATIVE_FN => Val::NativeFn(self.name("native function name")?),
            V_NATIVE_TABLE => Val::NativeTable(self.name("library table name")?),
            V_GLOBALS => Val::Globals,
            t => {
                return Err(FunctionError::corrupted(
                    at,
                    format!("unknown value tag {t:#04x}"),
                ))
            }
        })
    }
}

/// Checks and splits a payload. Nothing here trusts a count or length
/// read from the bytes: collections grow only as items actually parse.
pub(crate) fn parse(payload: &[u8]) -> Result<Parsed<'_>, FunctionError> {
    if payload.len() < HEADER_LEN {
        return Err(FunctionError::corrupted(
            0,
            format!(
                "{} bytes is shorter than the {HEADER_LEN}-byte header",
                payload.len()
            ),
        ));
    }
    if payload[..4] != MAGIC {
        return Err(FunctionError::corrupted(
            0,
            "not a moonvault function (bad magic)",
        ));
    }
    if payload[4] != VERSION {
        return Err(FunctionError::corrupted(
            4,
            format!("unsupported function format version {}", payload[4]),
        ));
    }
    let stored = stored_crc(payload).unwrap_or(0);
    let actual = crc32fast::hash(&payload[CRC_FROM..]);
    if stored != actual {
        return Err(FunctionError::corrupted(
            CRC_AT,
            format!("checksum mismatch (stored {stored:#010x}, computed {actual:#010x})"),
        ));
    }
    let mut group = [0u8; 8];
    group.copy_from_slice(&payload[CRC_FROM..HEADER_LEN]);
    let group = u64::from_le_bytes(group);

    let mut r = Reader {
        bytes: payload,
        pos: HEADER_LEN,
    };
    // (offset, object index) of every object reference, checked once the
    // object count is known.
    let mut refs: Vec<(usize, u32)> = Vec::new();
    let mut metas: Vec<(usize, u32)> = Vec::new();
    let mut objects = Vec::new();
    let mut note = |v: &Val<'_>, at: usize| {
        if let Val::Obj(k) = v {
            refs.push((at, *k));
        }
    };
    while !r.at_end() {
        let at = r.pos;
        let obj = match r.u8("object tag")? {
            tag @ (OBJ_BYTECODE | OBJ_SOURCE) => {
                let kind = if tag == OBJ_BYTECODE {
                    CodeKind::Bytecode
                } else {
                    CodeKind::Source
                };
                let code_at = r.pos;
                let code = r.bytes("function code")?;
                let is_binary = code.first() == Some(&LUA_SIGNATURE[0]);
                match kind {
                    CodeKind::Bytecode if !code.starts_with(LUA_SIGNATURE) => {
                        return Err(FunctionError::corrupted(
                            code_at,
                            "bytecode is not a Lua 5.4 binary chunk",
                        ))
                    }
                    CodeKind::Source if is_binary => {
                        return Err(FunctionError::corrupted(
                            code_at,
                            "source-text function holds a binary chunk",
                        ))
                    }
                    _ => {}
                }
                let nups = r.u8("upvalue count")?;
                let mut upvalues = Vec::with_capacity(usize::from(nups));
                for _ in 0..nups {
                    let cell = r.u32("upvalue cell")?;
                    let vat = r.pos;
                    let v = r.value()?;
                    note(&v, vat);
                    upvalues.push((cell, v));
                }
                Object::Closure {
                    kind,
                    code,
                    upvalues,
                }
            }
            OBJ_TABLE => {
                let mat = r.pos;
                let meta = match r.u32("metatable reference")? {
                    0 => None,
                    m => {
                        metas.push((mat, m - 1));
                        Some(m - 1)
                    }
                };
                let mut pairs = Vec::new();
                loop {
                    let kat = r.pos;
                    let k = r.value()?;
                    match k {
                        Val::Nil => break,
                        Val::Float(x) if x.is_nan() => {
                            return Err(FunctionError::corrupted(kat, "table key is NaN"))
                        }
                        _ => {}
                    }
                    note(&k, kat);
                    let vat = r.pos;
                    let v = r.value()?;
                    note(&v, vat);
                    pairs.push((k, v));
                }
                Object::Table { meta, pairs }
            }
            t => {
                return Err(FunctionError::corrupted(
                    at,
                    format!("unknown object tag {t:#04x}"),
                ))
            }
        };
        objects.push(obj);
    }
    match objects.first() {
        Some(Object::Closure { .. }) => {}
        Some(Object::Table { .. }) => {
            return Err(FunctionError::corrupted(
                HEADER_LEN,
                "first object is a table, not the stored function",
            ))
        }
        None => {
            return Err(FunctionError::corrupted(
                HEADER_LEN,
                "payload holds no function",
            ))
        }
    }
    for (at, k) in refs {
        if k as usize >= objects.len() {
            return Err(FunctionError::corrupted(
                at,
                format!("reference to object {k} of {}", objects.len()),
            ));
        }
    }
    for (at, m) in metas {
        if !matches!(objects.get(m as usize), Some(Object::Table { .. })) {
            return Err(FunctionError::corrupted(
                at,
                format!("metatable reference {m} is not a table object"),
            ));
        }
    }
    Ok(Parsed { group, objects })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(7);
        w.closure(CodeKind::Source, b"return 1", 2).unwrap();
        w.cell(0);
        w.value(Val::Globals);
        w.cell(1);
        w.value(Val::Obj(1));
        w.table(Some(1));
        w.value(Val::Int(-3));
        w.value(Val::Float(f64::NEG_INFINITY));
        w.value(Val::Str(b"k"));
        w.value(Val::Obj(0));
        w.value(Val::Bool(true));
        w.value(Val::NativeFn("math.sin"));
        w.end_table();
        w.finish()
    }

    #[test]
    fn a_large_code_is_not_doubled_by_what_follows_it() {
        let code = vec![b' '; 124 * 1024];
        let mut w = Writer::new(1);
        w.closure(CodeKind::Source, &code, 2).unwrap();
        w.cell(0);
        w.value(Val::Globals);
        w.cell(1);
        w.value(Val::Str(b"a short upvalue"));
        let p = w.finish();
        assert!(
            p.capacity() <= p.len() + CLOSURE_SLACK + 16,
            "{} for {}",
            p.capacity(),
            p.len()
        );
        assert!(
            matches!(&parse(&p).unwrap().objects[0], Object::Closure { code: c, .. } if c.len() == code.len())
        );
    }

    #[test]
    fn round_trip() {
        let p = sample();
        assert_eq!(&p[..4], b"MVFN");
        let parsed = parse(&p).unwrap();
        assert_eq!(parsed.group, 7);
        assert_eq!(parsed.objects.len(), 2);
        match &parsed.objects[1] {
            Object::Table { meta, pairs } => {
                assert_eq!(*meta, Some(1));
                assert_eq!(pairs.len(), 3);
                assert_eq!(pairs[2], (Val::Bool(true), Val::NativeFn("math.sin")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_truncation_and_flip_is_an_error() {
        let p = sample();
        for n in 0..p.len() {
            assert!(parse(&p[..n]).is_err(), "truncated to {n}");
        }
        for at in 0..p.len() {
            let mut d = p.clone();
            d[at] ^= 0x20;
            assert!(parse(&d).is_err(), "flip at {at}");
        }
    }

    #[test]
    fn structural_checks_with_a_valid_crc() {
        let bad_ref = {
            let mut w = Writer::new(1);
            w.closure(CodeKind::Source, b"x", 1).unwrap();
            w.cell(0);
            w.value(Val::Obj(5));
            w.finish()
        };
        assert!(parse(&bad_ref)
            .unwrap_err()
            .to_string()
            .contains("object 5"));
        let binary_source = {
            let mut w = Writer::new(1);
            w.closure(CodeKind::Source, b"\x1bLua", 0).unwrap();
            w.finish()
        };
        assert!(parse(&binary_source).is_err());
        let text_bytecode = {
            let mut w = Writer::new(1);
            w.closure(CodeKind::Bytecode, b"return 1", 0).unwrap();
            w.finish()
        };
        assert!(parse(&text_bytecode).is_err());
        let table_first = {
            let mut w = Writer::new(1);
            w.table(None);
            w.end_table();
            w.finish()
        };
        assert!(parse(&table_first).is_err());
        let nan_key = {
            let mut w = Writer::new(1);
            w.closure(CodeKind::Source, b"x", 1).unwrap();
            w.cell(0);
            w.value(Val::Obj(1));
            w.table(None);
            w.value(Val::Float(f64::NAN));
            w.value(Val::Int(1));
            w.end_table();
            w.finish()
        };
        assert!(parse(&nan_key).unwrap_err().to_string().contains("NaN"));
        let meta_closure = {
            let mut w = Writer::new(1);
            w.closure(CodeKind::Source, b"x", 1).unwrap();
            w.cell(0);
            w.value(Val::Obj(1));
            w.table(Some(0));
            w.end_table();
            w.finish()
        };
        assert!(parse(&meta_closure).is_err());
    }
}
