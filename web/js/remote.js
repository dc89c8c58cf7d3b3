// Worker mode on the caller's side: `Moonvault.open(name, {worker: true})`
// returns a RemoteMoonvault, the same API with every method returning a
// promise, while the engine and Lua run in a dedicated Worker (worker.js).
// See DESIGN.md, "Worker mode" (protocol, abort, what a restart loses).

import { makeError } from './errors.js';
import { decodeError, detachCallbacks } from './protocol.js';

/** The rejection of a compute stopped by its AbortSignal (a LimitError, limit 'aborted'). */
function aborted(signal) {
  const why = signal?.reason instanceof Error ? `: ${signal.reason.message}` : '';
  return makeError('limit', `compute: stopped by its AbortSignal${why}; the chunk's changes were rolled back`, {
    limit: 'aborted',
  });
}

/** One Worker and the requests waiting for its replies. */
class Channel {
  #worker;
  #next = 1;
  /** id -> {resolve, reject, functions, keep} */
  #pending = new Map();
  #dead = null;

  constructor() {
    // Written out literally so that bundlers (Vite, webpack) find and emit the Worker.
    this.#worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'moonvault' });
    this.#worker.onmessage = ({ data }) => this.#receive(data);
    this.#worker.onerror = (event) => {
      event.preventDefault?.();
      this.#fail(makeError('store', `the moonvault Worker failed: ${event.message ?? 'it could not load (see the console)'}`, {}));
    };
  }

  #receive(data) {
    if (data.id === undefined) return; // the `ready` note
    const p = this.#pending.get(data.id);
    if (!p) return;
    if (data.callback !== undefined) {
      const f = p.functions[data.callback];
      try {
        f?.(...data.args);
      } catch (e) {
        console.error('moonvault: a callback threw', e);
      }
      return;
    }
    if (!p.keep) this.#pending.delete(data.id);
    else p.settled = true;
    if ('error' in data) p.reject(decodeError(data.error));
    else p.resolve(data.ok);
  }

  /**
   * Sends a request; resolves to its reply. `keep`: its callbacks outlive
   * the reply (open's print); `transfer`: objects moved, not copied.
   */
  request(op, method, args, { keep = false, transfer = [] } = {}) {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    const { args: cloneable, functions } = detachCallbacks(args);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, functions, keep });
      try {
        this.#worker.postMessage({ id, op, method, args: cloneable }, transfer);
      } catch (e) {
        this.#pending.delete(id);
        reject(e instanceof DOMException && e.name === 'DataCloneError'
          ? makeError('conversion', `${method ?? op}: an argument cannot be sent to the Worker: ${e.message}`, {})
          : e);
      }
    });
  }

  /** Rejects every request still waiting, with `error`; later requests too. */
  #fail(error) {
    this.#dead ??= error;
    for (const [id, p] of this.#pending) {
      if (!p.settled) p.reject(error);
      this.#pending.delete(id);
    }
  }

  /** Stops the Worker at once (even inside a Lua chunk); pending requests reject with `error`. */
  terminate(error) {
    this.#worker.terminate();
    this.#fail(error);
  }
}

/** Transferable form of an import source: bytes and Blobs clone; anything else becomes a ReadableStream. */
function portable(source) {
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return { value: source, transfer: [] };
  if (typeof Blob !== 'undefined' && source instanceof Blob) return { value: source, transfer: [] };
  let stream = null;
  if (typeof Response !== 'undefined' && source instanceof Response) stream = source.body;
  else if (source && typeof source.getReader === 'function') stream = source;
  else if (source && typeof source[Symbol.asyncIterator] === 'function') {
    const it = source[Symbol.asyncIterator]();
    stream = new ReadableStream({
      async pull(controller) {
        const { done, value } = await it.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      async cancel(reason) {
        await it.return?.(reason);
      },
    });
  }
  if (!stream) return { value: source, transfer: [] }; // the Worker reports it as invalid
  return { value: stream, transfer: [stream] };
}

/** Runs one static operation in a short-lived Worker. */
async function once(op, args, transfer = []) {
  const channel = new Channel();
  try {
    return await channel.request(op, undefined, args, { transfer });
  } finally {
    channel.terminate(makeError('store', 'the moonvault Worker was stopped', {}));
  }
}

/** `Moonvault.delete(name, {worker: true})`. */
export function deleteInWorker(name, options) {
  const { worker: _, ...rest } = options ?? {};
  return once('delete', [name, rest]);
}

/** `Moonvault.import(name, source, {worker: true, onProgress})`: the import runs in a Worker. */
export function importInWorker(name, source, options = {}) {
  const { worker: _, ...rest } = options ?? {};
  const { value, transfer } = portable(source);
  return once('import', [name, value, rest], transfer);
}

/**
 * A store open in a dedicated Worker. Every method returns a promise, as
 * on the calling thread; results, errors, print lines and progress are
 * those of the calling-thread API.
 */
export class RemoteMoonvault {
  #name;
  #options;
  #channel;
  /** Settles once the Worker has the store open (again, after an abort). */
  #ready;
  #closed = false;

  /** @private Use Moonvault.open(name, {worker: true}). */
  constructor(name, options, channel, ready) {
    this.#name = name;
    this.#options = options;
    this.#channel = channel;
    this.#ready = ready;
  }

  /** Opens `name` in a new Worker; `options` as for Moonvault.open (`worker` aside). */
  static async open(name, options = {}) {
    const { worker: _, ...rest } = options ?? {};
    const channel = new Channel();
    const ready = channel.request('open', undefined, [name, rest], { keep: true });
    try {
      await ready;
    } catch (e) {
      channel.terminate(e);
      throw e;
    }
    return new RemoteMoonvault(name, rest, channel, ready);
  }

  /** The store's name. */
  get name() { return this.#name; }

  /** Whether close() has run. */
  get closed() { return this.#closed; }

  /** Always true: this store runs in a Worker. */
  get inWorker() { return true; }

  async #call(method, args) {
    await this.#ready;
    return this.#channel.request('call', method, args);
  }

  /**
   * Runs `code` as one atomic chunk in the Worker. `options.signal` stays
   * here: aborting it stops the Worker (Lua cannot see a message while it
   * runs), rejects with LimitError (limit 'aborted') and reopens the store
   * in a new Worker. Every other option goes to the Worker as it is.
   */
  compute(code, options) {
    const { signal, ...rest } = options ?? {};
    if (!signal) return this.#call('compute', [code, rest]);
    if (signal.aborted) return Promise.reject(aborted(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        reject(aborted(signal));
        this.#restart();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#call('compute', [code, rest]).then(
        (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
        (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
      );
    });
  }

  /**
   * Stops the Worker in the middle of whatever it runs and reopens the
   * store in a new one. Like a crash: the running chunk never committed;
   * other requests still waiting reject with StoreError.
   */
  #restart() {
    this.#channel.terminate(makeError('store',
      'the Worker running this store was stopped to abort a chunk (AbortSignal) before this call finished; '
      + 'the store was reopened with its durable state: retry the call', {}));
    const channel = new Channel();
    this.#channel = channel;
    // The old Worker's lock is released as it stops: wait for it rather than fail.
    this.#ready = channel.request('open', undefined, [this.#name, { ...this.#options, onLocked: 'wait' }], { keep: true });
    this.#ready.catch(() => {}); // reported to the next call
  }

  /** Waits for pending commits, closes the store and stops its Worker. */
  async close() {
    if (this.#closed) return;
    await this.#call('close', []);
    this.#closed = true;
    this.#channel.terminate(makeError('store', 'this store is closed: open it again', {}));
  }

  async computeBatch(codes, options) {
    const results = await this.#call('computeBatch', [codes, options]);
    return results.map((r) => (r.success ? r : { success: false, error: decodeError(r.error) }));
  }

  flush() { return this.#call('flush', []); }
  get(path) { return this.#call('get', [path]); }
  set(path, value, options) { return this.#call('set', [path, value, options]); }
  delete(path, options) { return this.#call('delete', [path, options]); }
  batch(ops, options) { return this.#call('batch', [ops, options]); }
  batchTableOperations(operations, options) { return this.#call('batchTableOperations', [operations, options]); }
  query(table, spec) { return this.#call('query', [table, spec]); }
  queryTable(table, spec) { return this.#call('queryTable', [table, spec]); }
  createIndex(table, field, options, ack) { return this.#call('createIndex', [table, field, options, ack]); }
  dropIndex(table, field, kind, ack) { return this.#call('dropIndex', [table, field, kind, ack]); }
  setSchema(table, schema, options) { return this.#call('setSchema', [table, schema, options]); }
  migrate(target, steps, options) { return this.#call('migrate', [target, steps, options]); }
  persistFunction(table, key, source, options) { return this.#call('persistFunction', [table, key, source, options]); }
  stats(options) { return this.#call('stats', [options]); }
  check() { return this.#call('check', []); }
  list(path, options) { return this.#call('list', [path, options]); }
  export(options) { return this.#call('export', [options]); }
}
