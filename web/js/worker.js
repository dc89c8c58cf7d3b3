// The Worker behind Worker mode (`Moonvault.open(name, {worker: true})`):
// runs the engine and Lua off the caller's thread. One store per Worker.
// Requests `{id, op, method?, args}` come from remote.js; each gets one
// reply `{id, ok}` or `{id, error}`, preceded by any callback messages
// `{id, callback, args}` it caused (print lines, progress, export chunks).
// See DESIGN.md, "Worker mode".

import { Moonvault } from './core.js';
import { attachCallbacks, encodeError } from './protocol.js';

/** The methods of an open store a request may call. */
const METHODS = new Set([
  'flush', 'close', 'compute', 'computeBatch', 'get', 'set', 'delete', 'batch', 'batchTableOperations',
  'query', 'queryTable', 'createIndex', 'dropIndex', 'setSchema', 'migrate', 'persistFunction',
  'stats', 'check', 'list', 'export',
]);

let db = null;

async function run(op, method, args) {
  switch (op) {
    case 'open':
      if (db) throw new Error('moonvault worker: a store is already open in this worker');
      db = await Moonvault.open(...args);
      return db.name;
    case 'delete':
      return Moonvault.delete(...args);
    case 'import':
      return Moonvault.import(...args);
    case 'call': {
      if (!METHODS.has(method)) throw new TypeError(`moonvault worker: no method ${method}`);
      if (!db) throw new Error('moonvault worker: no store is open');
      const value = await db[method](...args);
      if (method === 'computeBatch') {
        return value.map((r) => (r.success ? r : { success: false, error: encodeError(r.error) }));
      }
      return value;
    }
    default:
      throw new TypeError(`moonvault worker: unknown request ${op}`);
  }
}

self.onmessage = async ({ data }) => {
  const { id, op, method } = data;
  const args = attachCallbacks(data.args ?? [], (callback, xs) => self.postMessage({ id, callback, args: xs }));
  try {
    const ok = await run(op, method, args);
    // An export's bytes move instead of being copied.
    const transfer = ok instanceof Uint8Array && ok.byteOffset === 0 && ok.byteLength === ok.buffer.byteLength
      ? [ok.buffer] : [];
    self.postMessage({ id, ok }, transfer);
  } catch (e) {
    self.postMessage({ id, error: encodeError(e) });
  }
};

// Tells the caller the module graph loaded (a failure shows as an error event instead).
self.postMessage({ ready: true });
