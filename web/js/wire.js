//# allFunctionsCalledOnLoad
// (Line 1 is V8's compile hint: see "A fresh page" in DESIGN.md section 8.)
// Decodes what the module's `get`, `query` and `queryTable` return: values
// written as one byte stream by web/src/convert/wire.rs (its comment draws
// the format), in Uint8Array chunks. Building the objects here, in plain
// JS, costs far less than building them from the module one call at a time.
//
// A table becomes an Array when its keys are exactly 1..n, a plain object
// when every key is a string, a Map otherwise (the rules of
// web/src/convert/container.rs, which Lua results still follow). A record
// of string keys may come as a shape: its keys once per stream, then only
// its values.

const UNDEFINED = 0x00;
const FALSE = 0x01;
const TRUE = 0x02;
const FLOAT = 0x03;
const INT = 0x04;
const BIG_INT = 0x05;
const STRING = 0x06;
const BYTES = 0x07;
const TABLE = 0x08;
const END = 0x09;
const NEW_SHAPE = 0x0a;
const SHAPE = 0x0b;

/** Strings up to this many bytes are decoded by hand when ASCII (cheaper than TextDecoder). */
const SHORT = 32;

const utf8 = new TextDecoder();

/** Eight bytes to read a number from (a DataView per result costs more than the copy). */
const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);

class Reader {
  constructor(chunks) {
    let bytes;
    if (chunks.length === 1) {
      bytes = chunks[0];
    } else {
      bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        bytes.set(c, at);
        at += c.length;
      }
    }
    this.bytes = bytes;
    this.at = 0;
    /** The key lists of the shapes seen so far, by number (made at the first). */
    this.shapes = null;
  }

  copy8() {
    const { bytes, at } = this;
    for (let i = 0; i < 8; i++) scratch[i] = bytes[at + i];
    this.at = at + 8;
  }

  get done() {
    return this.at >= this.bytes.length;
  }

  length() {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = this.bytes[this.at++];
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
    }
  }

  string(len) {
    const { bytes } = this;
    const start = this.at;
    const end = start + len;
    this.at = end;
    if (len <= SHORT) {
      let s = '';
      let i = start;
      for (; i < end; i++) {
        const c = bytes[i];
        if (c > 0x7f) break;
        s += String.fromCharCode(c);
      }
      if (i === end) return s;
    }
    return utf8.decode(bytes.subarray(start, end));
  }

  value() {
    const tag = this.bytes[this.at++];
    switch (tag) {
      case UNDEFINED: return undefined;
      case FALSE: return false;
      case TRUE: return true;
      case FLOAT:
      case INT: {
        this.copy8();
        return scratchView.getFloat64(0, true);
      }
      case BIG_INT: {
        this.copy8();
        return scratchView.getBigInt64(0, true);
      }
      case STRING: return this.string(this.length());
      case BYTES: {
        const len = this.length();
        const b = this.bytes.slice(this.at, this.at + len);
        this.at += len;
        return b;
      }
      case TABLE: return this.table();
      case NEW_SHAPE: {
        const keys = new Array(this.length());
        for (let i = 0; i < keys.length; i++) keys[i] = this.string(this.length());
        (this.shapes ??= []).push(keys);
        return this.shaped(keys);
      }
      case SHAPE: return this.shaped(this.shapes?.[this.length()]);
      default: throw new Error(`moonvault: unknown value tag ${tag} in a module result`);
    }
  }

  /** A record of the shape `keys` (never `__proto__`: the module sends that as a table). */
  shaped(keys) {
    if (keys === undefined) throw new Error('moonvault: a module result names a record shape it never sent');
    const o = {};
    for (let i = 0; i < keys.length; i++) o[keys[i]] = this.value();
    return o;
  }

  table() {
    const keys = [];
    const values = [];
    // Keys so far were 1, 2, ..., n; keys so far were strings.
    let sequence = true;
    let text = true;
    while (this.bytes[this.at] !== END) {
      const tag = this.bytes[this.at];
      const k = this.value();
      values.push(this.value());
      keys.push(k);
      if (tag === INT || tag === BIG_INT) {
        sequence &&= k === keys.length;
        text = false;
      } else if (tag === STRING) {
        sequence = false;
      } else {
        sequence = false;
        text = false;
      }
    }
    this.at++;
    if (keys.length > 0 && sequence) return values;
    if (text) {
      const o = {};
      for (let i = 0; i < keys.length; i++) {
        if (keys[i] === '__proto__') {
          // Data, not the prototype (as Object.fromEntries would have it).
          Object.defineProperty(o, '__proto__', { value: values[i], writable: true, enumerable: true, configurable: true });
        } else {
          o[keys[i]] = values[i];
        }
      }
      return o;
    }
    const map = new Map();
    for (let i = 0; i < keys.length; i++) map.set(keys[i], values[i]);
    return map;
  }
}

/** The one value of a module result. */
export function decodeValue(chunks) {
  return new Reader(chunks).value();
}

/** The rows of a module query result, as `make(key, record)` each. */
export function decodeRows(chunks, make) {
  const rows = [];
  if (chunks.length === 0) return rows;
  const r = new Reader(chunks);
  while (!r.done) {
    const key = r.value();
    rows.push(make(key, r.value()));
  }
  return rows;
}
