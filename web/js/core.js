//# allFunctionsCalledOnLoad
// (Line 1 is V8's compile hint: see "A fresh page" in DESIGN.md section 8.)
// moonvault in the browser, on the calling thread: wraps the wasm-bindgen
// module in the documented `Moonvault` class. There are two builds of the
// module: jspi/moonvault_web.js for engines with JS Promise Integration
// (store calls may suspend on an IndexedDB read: lazy paging) and
// moonvault_web.js for every engine (pages mirrored at open). The
// package entry (moonvault.js) re-exports it and adds Worker mode
// (remote.js); the Worker (worker.js) runs this same class. Types:
// moonvault.d.ts.

import { makeError } from './errors.js';
import { decodeRows, decodeValue } from './wire.js';
// Both builds' glue, imported statically (bundlers then need no code
// splitting, which Worker bundles may not allow); only the chosen build's
// wasm is fetched, by `initialize`. Evaluating a glue module does nothing
// that needs JSPI.
import * as mirrorGlue from './moonvault_web.js';
import * as jspiGlue from './jspi/moonvault_web.js';

export * from './errors.js';

let ready = null;
/** The loaded wasm-bindgen module (either build). */
let glue = null;
/** Whether the loaded build is the JSPI one. */
let jspiBuild = false;

/** Whether this engine has JS Promise Integration (what lazy paging needs). */
export function hasJspi() {
  return typeof WebAssembly === 'object' && typeof WebAssembly.Suspending === 'function'
    && typeof WebAssembly.promising === 'function';
}

const BUILDS = ['auto', 'jspi', 'mirror'];

/**
 * Loads the wasm module once. Called by `Moonvault.open` and friends; call
 * it yourself first to load the module from elsewhere (a URL, a Response,
 * bytes or a compiled WebAssembly.Module of the matching build) or to pick
 * the build: `{build: 'jspi'}` (lazy paging; needs JSPI), `'mirror'` (every
 * engine; stores are mirrored at open) or `'auto'` (the default: jspi where
 * the engine has JSPI). Default module: moonvault_web_bg.wasm next to the
 * build's glue.
 */
export function initialize(module, options) {
  if (!ready) {
    const build = options?.build ?? 'auto';
    if (!BUILDS.includes(build)) {
      return Promise.reject(makeError('invalid', `initialize: build must be one of ${BUILDS.join(', ')}`, {}));
    }
    if (build === 'jspi' && !hasJspi()) {
      return Promise.reject(makeError('invalid',
        'initialize: the jspi build needs JavaScript Promise Integration (WebAssembly.Suspending), which this engine lacks', {}));
    }
    const jspi = build === 'jspi' || (build === 'auto' && hasJspi());
    const arg = module === undefined ? undefined : { module_or_path: module };
    const g = jspi ? jspiGlue : mirrorGlue;
    ready = g.default(arg).then(() => {
      g.setErrorFactory(makeError);
      glue = g;
      jspiBuild = jspi;
    });
  }
  return ready;
}

/** Which build is loaded: 'jspi', 'mirror', or null before `initialize`. */
export function loadedBuild() {
  return glue ? (jspiBuild ? 'jspi' : 'mirror') : null;
}

/**
 * In the JSPI build a store call may suspend the module while IndexedDB
 * reads a page; calls run one at a time, in order (a suspended call holds
 * its store). The mirror build's calls never suspend.
 */
let tail = Promise.resolve();
/** Store calls made and not yet settled (in either build). */
let pending = 0;
function serial(fn) {
  pending++;
  const settled = () => { pending--; };
  if (!jspiBuild) {
    const run = Promise.resolve().then(fn);
    run.then(settled, settled);
    return run;
  }
  const run = tail.then(fn);
  tail = run.then(settled, settled);
  return run;
}

/**
 * Loads the module, as the build `options.build` names if it is given (an
 * option of open, delete and import); fails if another build is loaded.
 */
async function ensure(options) {
  const build = options?.build;
  if (build !== undefined && !BUILDS.includes(build)) {
    throw makeError('invalid', `build must be one of ${BUILDS.join(', ')}`, {});
  }
  await initialize(undefined, build === undefined ? undefined : { build });
  if (build !== undefined && build !== 'auto' && loadedBuild() !== build) {
    throw makeError('invalid', `the ${build} build was asked for, but the module is loaded as the `
      + `${loadedBuild()} build (one build per page or Worker: pick it before any store is used)`, {});
  }
}

/** Runs Lua without a store (a fresh VM per call); results via tostring, tab-separated. */
export async function evalLua(code) {
  await initialize();
  return glue.evalLua(code);
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
    await ensure(options);
    const { build: _, ...rest } = options ?? {};
    const raw = await serial(() => glue.RawVault.open(name, rest));
    return new this(raw, options?.durableWrites ?? true);
  }

  /** Deletes the store `name` and everything in it (it must not be open anywhere). */
  static async delete(name, options) {
    await ensure(options);
    await glue.RawVault.deleteStore(name);
  }

  /**
   * Imports an export (from `export()` or the CLI's `moonvault export`) into
   * the new store `name`, streaming. Resolves to the number of entries once
   * the store is durable; on any error nothing is imported. A file holding
   * functions stored as Lua bytecode needs `{trust: true}` (Lua does not
   * verify bytecode); without it the import fails naming the first one.
   */
  static async import(name, source, options = {}) {
    await ensure(options);
    const onProgress = options?.onProgress;
    const total = sourceSize(source);
    const imp = await glue.RawImport.begin(name, options?.trust === true);
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

  /** Runs `fn(raw)` as one store call (in order with the others; see `serial`). */
  #call(fn) { return serial(() => fn(this.#raw)); }

  async #ack(result, options) {
    const value = await result;
    if (options?.durable ?? this.#durableWrites) await this.#raw.flush();
    return value;
  }

  /** Waits until every commit so far is durable in IndexedDB. */
  flush() { return this.#raw.flush(); }

  /** Waits for pending calls and commits, closes the database and releases the store's lock. */
  close() { return this.#call((raw) => raw.close()); }

  /** Runs `code` as one atomic Lua chunk; resolves to its results (see the conversion rules). */
  async compute(code, options) { return this.#ack(this.#call((raw) => raw.compute(code, options)), options); }

  /** Runs each chunk atomically; one {success, result} or {success, error} per chunk. */
  async computeBatch(codes, options) {
    return this.#ack(this.#call((raw) => raw.computeBatch(codes, options)), options);
  }

  /** The value at `path`, converted to JS; undefined when absent. */
  async get(path) {
    // With no call pending (none suspended, none queued before this one), a
    // read that memory answers runs at once as a plain call; one that needs
    // IndexedDB comes back undefined and goes the usual way.
    if (pending === 0) {
      const now = this.#raw.getNow(path);
      if (now !== undefined) return decodeValue(now);
    }
    return decodeValue(await this.#call((raw) => raw.get(path)));
  }

  /** Assigns `value` at `path` (tables copied whole, null deletes), creating missing tables. */
  async set(path, value, options) { return this.#ack(this.#call((raw) => raw.set(path, value)), options); }

  /** Deletes the value at `path` (with everything below it). */
  async delete(path, options) { return this.#ack(this.#call((raw) => raw.delete(path)), options); }

  /** Applies `[{op: 'set'|'delete', path, value}]` atomically; resolves to the count. */
  async batch(ops, options) { return this.#ack(this.#call((raw) => raw.batch(ops)), options); }

  /** The product form of batch: `[{type: 'set'|'delete', table, key, value}]`. */
  async batchTableOperations(operations, options) {
    return this.#ack(this.#call((raw) => raw.batchTableOperations(operations)), options);
  }

  /** Records of collection `table` matching `spec`, as [{key, record}]. */
  async query(table, spec = {}) {
    return decodeRows(await this.#call((raw) => raw.query(table, spec ?? {})), (key, record) => ({ key, record }));
  }

  /** The product query form: queryTable('Memory', {field: 'users.age', operator: '>', value: 60, limit: 10}). */
  async queryTable(table, spec = {}) {
    return decodeRows(await this.#call((raw) => raw.queryTable(table, spec ?? {})), (_, record) => record);
  }

  /** Creates an index on `field` of the records of `table`: options {unique} or the product's 'btree'. */
  async createIndex(table, field, options, ack) {
    const onProgress = ack?.onProgress ?? options?.onProgress;
    const progress = onProgress ? (done, total) => report(onProgress, 'index', done, total) : undefined;
    await this.#call((raw) => raw.createIndex(table, field, options, progress));
    return this.#ack(undefined, ack);
  }

  /** Drops the index on `field` of `table`; resolves to whether it existed. */
  async dropIndex(table, field, kind, ack) {
    return this.#ack(this.#call((raw) => raw.dropIndex(table, field, typeof kind === 'string')), ack);
  }

  /** Sets (null: removes) the schema of the records of `table` (the Lua `store.schema` format). */
  async setSchema(table, schema, options) {
    return this.#ack(this.#call((raw) => raw.setSchema(table, schema)), options);
  }

  /** Runs the Lua migration steps from the stored version up to `target`; resolves to the version reached. */
  async migrate(target, steps, options) {
    const onProgress = options?.onProgress;
    const progress = onProgress ? (done, total) => report(onProgress, 'migrate', done, total) : undefined;
    return this.#ack(this.#call((raw) => raw.migrate(target, steps, progress)), options);
  }

  /** Stores the Lua function `source` at `table[key]` as source text (works in untrusted stores). */
  async persistFunction(table, key, source, options) {
    return this.#ack(this.#call((raw) => raw.persistFunction(table, key, source)), options);
  }

  /** Store figures; {deep: true} also walks the data for entries, logical bytes and the compression ratio. */
  async stats(options) { return this.#call((raw) => raw.stats(Boolean(options?.deep))); }

  /** Verifies checksums, B-tree invariants and indexes; throws StoreError on damage. */
  async check() { return this.#call((raw) => raw.check()); }

  /** A page of the entries of the table at `path` (for browsing). */
  async list(path, options = {}) {
    return this.#call((raw) => raw.list(path, options?.after, options?.limit ?? 100));
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
      await this.#call((raw) => raw.exportTo((c) => { onChunk(c); progress(c); }));
      report(onProgress, 'export', done, done);
      return undefined;
    }
    const chunks = [];
    let total = 0;
    await this.#call((raw) => raw.exportTo((c) => { chunks.push(c); total += c.length; progress(c); }));
    report(onProgress, 'export', done, done);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return out;
  }
}

export default Moonvault;
