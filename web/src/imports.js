// The JavaScript the wasm module imports (wasm-bindgen `module =` in the
// files named below): steps that cost fewer boundary crossings in JS than
// as calls from Rust, and the callbacks IndexedDB and Web Locks need.
//
// One module on purpose: a page fetches each imported module separately,
// and wasm-bindgen-test-runner's server stalls now and then when the
// browser opens several connections at once (tiny_http 0.12's pool can
// queue a connection for a thread that is already taken, leaving it with
// none to serve it): six modules hung a wasm test binary in about one run
// of three, one never did.

// src/idb/open.rs
export function openDatabase(name, version, stores, required) {
  if (typeof indexedDB === 'undefined' || indexedDB === null) return Promise.resolve([2]);
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version);
    let foreign = null;
    request.onupgradeneeded = () => {
      // Runs inside the versionchange transaction, before `success`.
      const db = request.result;
      const existing = db.objectStoreNames;
      if (existing.length > 0) {
        foreign = required.find((n) => !existing.contains(n)) ?? null;
        if (foreign !== null) {
          request.transaction.abort();
          return;
        }
      }
      // A failure aborts the upgrade, and the request reports it.
      for (const n of stores) if (!existing.contains(n)) db.createObjectStore(n);
    };
    request.onsuccess = () => {
      const db = request.result;
      const missing = stores.find((n) => !db.objectStoreNames.contains(n));
      if (missing === undefined) {
        resolve([0, db]);
      } else {
        db.close();
        resolve([1, missing]);
      }
    };
    request.onerror = () => {
      if (foreign !== null) resolve([1, foreign]);
      else reject(request.error ?? 'the open request failed');
    };
  });
}

// src/idb/lock.rs
export function acquireLock(name, ifAvailable) {
  const locks = globalThis.navigator?.locks;
  if (locks === null || typeof locks !== 'object') {
    return Promise.resolve([2, 'navigator.locks is missing']);
  }
  if (typeof locks.request !== 'function') {
    return Promise.resolve([2, 'navigator.locks.request is missing']);
  }
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  return new Promise((resolve, reject) => {
    const options = ifAvailable ? { mode: 'exclusive', ifAvailable: true } : { mode: 'exclusive' };
    let released;
    try {
      // The callback runs later, never inside request(): `released` is set.
      released = locks.request(name, options, (lock) => {
        if (lock === null || lock === undefined) {
          resolve([1]);
          return undefined;
        }
        resolve([0, release, released]);
        return held;
      });
    } catch (e) {
      resolve([2, String(e)]);
      return;
    }
    // A request refused later (a document that is not fully active) must
    // not leave the opener waiting for a grant that never comes.
    Promise.resolve(released).catch(reject);
  });
}

// src/idb/request.rs
function settle(tx, requests, result, aborted) {
  return new Promise((resolve, reject) => {
    const fail = () => {
      for (let i = requests.length - 1; i >= 0; i--) {
        let error = null;
        try { error = requests[i].error; } catch (_) { /* not done yet */ }
        if (error) { reject(error); return; }
      }
      reject(aborted);
    };
    for (const r of requests) r.onerror = fail;
    tx.onabort = fail;
    if (requests.length === 0) resolve(result(requests));
    else requests[requests.length - 1].onsuccess = () => resolve(result(requests));
  });
}
export function requestDone(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => {
      request.onsuccess = request.onerror = null;
      resolve(request.result);
    };
    request.onerror = () => {
      request.onsuccess = request.onerror = null;
      reject(request.error ?? 'request failed');
    };
  });
}
export function readSpans(db, store, spans, recordStore, records) {
  const tx = db.transaction(records.length > 0 ? [store, recordStore] : [store], 'readonly');
  const requests = [];
  if (spans.length > 0) {
    const objects = tx.objectStore(store);
    for (let i = 0; i < spans.length; i += 2) {
      const range = IDBKeyRange.bound(spans[i], spans[i + 1]);
      requests.push(objects.getAllKeys(range), objects.getAll(range));
    }
  }
  const spanRequests = requests.length;
  if (records.length > 0) {
    const objects = tx.objectStore(recordStore);
    for (const k of records) requests.push(objects.get(k));
  }
  return settle(tx, requests, (all) => {
    const keys = [], values = [], found = [];
    for (let i = 0; i < all.length; i++) {
      const got = all[i].result;
      if (i >= spanRequests) { found.push(got); continue; }
      const into = i % 2 === 0 ? keys : values;
      for (const v of got) into.push(v);
    }
    return [keys, values, found];
  }, 'a page read failed or was aborted');
}
export function readRange(db, store, from, count) {
  const tx = db.transaction(store, 'readonly');
  const objects = tx.objectStore(store);
  const range = IDBKeyRange.lowerBound(from);
  const requests = [objects.getAllKeys(range, count), objects.getAll(range, count)];
  return settle(tx, requests, (r) => [r[0].result, r[1].result], 'the read was aborted');
}
export function readAreas(db, scope, areas, edges, pagesStore) {
  const tx = db.transaction(scope, 'readonly');
  const requests = [];
  for (const a of areas) {
    const objects = tx.objectStore(a);
    requests.push(objects.getAllKeys(), objects.getAll());
  }
  if (edges) {
    const pages = tx.objectStore(pagesStore);
    requests.push(pages.count(0), pages.openKeyCursor(null, 'prev'));
  }
  return settle(tx, requests, (all) => {
    const results = all.map((r) => r.result);
    if (edges) {
      const cursor = results[results.length - 1];
      results[results.length - 1] = cursor === null ? null : cursor.key;
    }
    return results;
  }, 'the load was aborted');
}
export function listKeys(db, store, lower, upper) {
  const tx = db.transaction(store, 'readonly');
  const range = upper === undefined ? IDBKeyRange.lowerBound(lower) : IDBKeyRange.bound(lower, upper);
  return settle(tx, [tx.objectStore(store).getAllKeys(range)], (r) => r[0].result,
    'the key listing was aborted');
}

// src/idb/groups.rs
export function liveMask(chunks, first, chunkIds) {
  const inner = chunks.get(Math.floor(first / chunkIds));
  return inner === undefined ? 0 : inner.get(first) ?? 0;
}
export function liveLocate(chunks, id, chunkIds, maxPages) {
  for (let first = id; first >= 0 && first > id - maxPages; first--) {
    if (((liveMask(chunks, first, chunkIds) >>> (id - first)) & 1) === 1) return first;
  }
  return -1;
}

// src/convert/js.rs
/**
 * What `v` is, in the low four bits (the codes `classify` matches), and
 * its length above them for a string (UTF-16 units), byte array, array or
 * Map: below 2^32, so the number stays an exact integer.
 */
export function jsKind(v) {
  if (v === null || v === undefined) return 0;
  switch (typeof v) {
    case 'boolean': return v ? 2 : 1;
    case 'number': return 3;
    case 'string': return 4 + 16 * v.length;
    case 'bigint': return 5;
    case 'function': return 6;
    case 'symbol': return 7;
  }
  if (v instanceof Uint8Array) return 8 + 16 * v.length;
  if (v instanceof ArrayBuffer) return 9 + 16 * v.byteLength;
  if (Array.isArray(v)) return 10 + 16 * v.length;
  if (v instanceof Map) return 11 + 16 * v.size;
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype ? 12 : 13;
}

// src/convert/to_store.rs
export function flatEntries(v) {
  const out = [];
  for (const [k, x] of v instanceof Map ? v : Object.entries(v)) out.push(k, x);
  return out;
}

// src/api/batch_ops.rs
/**
 * A batch's operations (an array), `1 + names.length` slots each: a code (0 not an
 * object, 1 'set', 2 'delete', 3 any other value of `op[kind]`; +4 when
 * its first operand is the same string as the previous operation's), then
 * `op[name]` for each of `names`.
 */
export function flatOps(ops, kind, names) {
  const width = 1 + names.length;
  const out = new Array(ops.length * width);
  let previous;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const at = width * i;
    let code = 0;
    if (op !== null && typeof op === 'object') {
      const type = op[kind];
      code = type === 'set' ? 1 : type === 'delete' ? 2 : 3;
      const first = op[names[0]];
      if (typeof first === 'string' && first === previous) code += 4;
      previous = first;
      out[at + 1] = first;
      for (let j = 1; j < names.length; j++) out[at + 1 + j] = op[names[j]];
    } else {
      previous = undefined;
    }
    out[at] = code;
  }
  return out;
}
