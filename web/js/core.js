// moonvault in the browser, on the calling thread: wraps the wasm-bindgen
// module (moonvault_web.js) in the documented `Moonvault` class. The
// package entry (moonvault.js) re-exports it and adds Worker mode
// (remote.js); the Worker (worker.js) runs this same class. Types:
// moonvault.d.ts.

import init, { RawVault, RawImport, setErrorFactory, evalLua as rawEvalLua } from './moonvault_web.js';
import { makeError } from './errors.js';

export * from './errors.js';

let ready = null;

/**
 * Loads the wasm module once. Called by `Moonvault.open` and friends; call
 * it yourself to load the module from elsewhere (a URL, a Response, bytes
 * or a compiled WebAssembly.Module). Default: moonvault_web_bg.wasm next
 * to this file.
 */
export function initialize(module) {
  if (!ready) {
    const arg = module === undefined ? undefined : { module_or_path: module };
    ready = init(arg).then(() => {
      setErrorFactory(makeError);
    });
  }
  return ready;
}

/** Runs Lua without a store (a fresh VM per call); results via tostring, tab-separated. */
export async function evalLua(code) {
  await initialize();
  return rawEvalLua(code);
}

/** Import feeds the engine at most this much at once, reporting progress between pieces. */
const FEED_PIECE = 64 * 1024;

/** The byte length of an import source when it is known up front, else null. */
export function sourceSize(source) {
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return source.byteLength;
  if (typeof Blob !== 'undefined' && source instanceof Blob) return source.size;
  if (typeof Response !== 'undefined' && source instanceof Response) {
    const n = Number(source.headers.get('content-length'));
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  }
  return null;
}

/** Calls `onProgress` (if any) with `{phase, done, total}`; a throwing callback does not stop the work. */
export function report(onProgress, phase, done, total) {
  if (typeof onProgress !== 'function') return;
  try {
    onProgress({ phase, done, total });
  } catch (e) {
    console.error('moonvault: onProgress threw', e);
  }
}

/** The import source as Uint8Array pieces, in order. */
export async function* chunksOf(source) {
  if (source instanceof Uint8Array) {
    yield source;
  } else if (source instanceof ArrayBuffer) {
    yield new Uint8Array(source);
  } else if (ArrayBuffer.isView(source)) {
    yield new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  } else if (typeof Blob !== 'undefined' && source instanceof Blob) {
    yield* chunksOf(source.stream());
  } else if (typeof Response !== 'undefined' && source instanceof Response) {
    yield* chunksOf(source.body);
  } else if (source && typeof source.getReader === 'function') {
    const reader = source.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  } else if (source && typeof source[Symbol.asyncIterator] === 'function') {
    for await (const c of source) yield c;
  } else {
    throw makeError('invalid', 'import: the source must be a Uint8Array, ArrayBuffer, Blob, Response, ReadableStream or async iterable of Uint8Array', {});
  }
}

/** An open store. Create one with `await Moonvault.open(name, options)`. */
export class Moonvault {
  #raw;
  #durableWrites;

  /** @private Use Moonvault.open. */
  constructor(raw, durableWrites) {
    this.#raw = raw;
    this.#durableWrites = durableWrites;
  }

  /** Opens (creating if missing) the store `name`. */
  static async open(name, options = {}) {
    await initialize();
    const raw = await RawVault.open(name, options ?? {});
    return new this(raw, options?.durableWrites ?? true);
  }

  /** Deletes the store `name` and everything in it (it must not be open anywhere). */
  static async delete(name) {
    await initialize();
    await RawVault.deleteStore(name);
  }

  /**
   * Imports an export (from `export()` or the CLI's `moonvault export`) into
   * the new store `name`, streaming. Resolves to the number of entries once
   * the store is durable; on any error nothing is imported. A file holding
   * functions stored as Lua bytecode needs `{trust: true}` (Lua does not
   * verify bytecode); without it the import fails naming the first one.
   */
  static async import(name, source, options = {}) {
    await initialize();
    const onProgress = options?.onProgress;
    const total = sourceSize(source);
    const imp = await RawImport.begin(name, options?.trust === true);
    if (total != null) imp.expectLength(total);
    let done = 0;
    report(onProgress, 'import', done, total);
    try {
      for await (const chunk of chunksOf(source)) {
        for (let at = 0; at < chunk.length; at += FEED_PIECE) {
          const piece = chunk.subarray(at, Math.min(at + FEED_PIECE, chunk.length));
          imp.feed(piece);
          done += piece.length;
          report(onProgress, 'import', done, total);
        }
      }
    } catch (e) {
      await imp.abort();
      throw e;
    }
    const n = await imp.finish();
    report(onProgress, 'import', done, done);
    return n;
  }

  /** The store's name. */
  get name() { return this.#raw.name; }

  /** Whether close() has run. */
  get closed() { return this.#raw.closed; }

  async #ack(result, options) {
    if (options?.durable ?? this.#durableWrites) await this.#raw.flush();
    return result;
  }

  /** Waits until every commit so far is durable in IndexedDB. */
  flush() { return this.#raw.flush(); }

  /** Waits for pending commits, closes the database and releases the store's lock. */
  close() { return this.#raw.close(); }

  /** Runs `code` as one atomic Lua chunk; resolves to its results (see the conversion rules). */
  async compute(code, options) { return this.#ack(this.#raw.compute(code, options), options); }

  /** Runs each chunk atomically; one {success, result} or {success, error} per chunk. */
  async computeBatch(codes, options) { return this.#ack(this.#raw.computeBatch(codes, options), options); }

  /** The value at `path`, converted to JS; undefined when absent. */
  get(path) { return this.#raw.get(path); }

  /** Assigns `value` at `path` (tables copied whole, null deletes), creating missing tables. */
  async set(path, value, options) { this.#raw.set(path, value); return this.#ack(undefined, options); }

  /** Deletes the value at `path` (with everything below it). */
  async delete(path, options) { this.#raw.delete(path); return this.#ack(undefined, options); }

  /** Applies `[{op: 'set'|'delete', path, value}]` atomically; resolves to the count. */
  async batch(ops, options) { return this.#ack(this.#raw.batch(ops), options); }

  /** The product form of batch: `[{type: 'set'|'delete', table, key, value}]`. */
  async batchTableOperations(operations, options) {
    return this.#ack(this.#raw.batchTableOperations(operations), options);
  }

  /** Records of collection `table` matching `spec`, as [{key, record}]. */
  query(table, spec = {}) { return this.#raw.query(table, spec ?? {}); }

  /** The product query form: queryTable('Memory', {field: 'users.age', operator: '>', value: 60, limit: 10}). */
  queryTable(table, spec = {}) { return this.#raw.queryTable(table, spec ?? {}); }

  /** Creates an index on `field` of the records of `table`: options {unique} or the product's 'btree'. */
  async createIndex(table, field, options, ack) {
    const onProgress = ack?.onProgress ?? options?.onProgress;
    const progress = onProgress ? (done, total) => report(onProgress, 'index', done, total) : undefined;
    this.#raw.createIndex(table, field, options, progress);
    return this.#ack(undefined, ack);
  }

  /** Drops the index on `field` of `table`; resolves to whether it existed. */
  async dropIndex(table, field, kind, ack) {
    return this.#ack(this.#raw.dropIndex(table, field, typeof kind === 'string'), ack);
  }

  /** Sets (null: removes) the schema of the records of `table` (the Lua `store.schema` format). */
  async setSchema(table, schema, options) {
    this.#raw.setSchema(table, schema);
    return this.#ack(undefined, options);
  }

  /** Runs the Lua migration steps from the stored version up to `target`; resolves to the version reached. */
  async migrate(target, steps, options) {
    const onProgress = options?.onProgress;
    const progress = onProgress ? (done, total) => report(onProgress, 'migrate', done, total) : undefined;
    return this.#ack(this.#raw.migrate(target, steps, progress), options);
  }

  /** Stores the Lua function `source` at `table[key]` as source text (works in untrusted stores). */
  async persistFunction(table, key, source, options) {
    this.#raw.persistFunction(table, key, source);
    return this.#ack(undefined, options);
  }

  /** Store figures; {deep: true} also walks the data for entries, logical bytes and the compression ratio. */
  stats(options) { return this.#raw.stats(Boolean(options?.deep)); }

  /** Verifies checksums, B-tree invariants and indexes; throws StoreError on damage. */
  check() { return this.#raw.check(); }

  /** A page of the entries of the table at `path` (for browsing). */
  list(path, options = {}) {
    return this.#raw.list(path, options?.after, options?.limit ?? 100);
  }

  /** The committed state in the CLI's export format. `onChunk` receives the pieces instead of one array. */
  async export(options) {
    const onProgress = options?.onProgress;
    let done = 0;
    const progress = (c) => {
      done += c.length;
      report(onProgress, 'export', done, null);
    };
    if (options?.onChunk) {
      const onChunk = options.onChunk;
      this.#raw.exportTo((c) => { onChunk(c); progress(c); });
      report(onProgress, 'export', done, done);
      return undefined;
    }
    const chunks = [];
    let total = 0;
    this.#raw.exportTo((c) => { chunks.push(c); total += c.length; progress(c); });
    report(onProgress, 'export', done, done);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return out;
  }
}

export default Moonvault;
