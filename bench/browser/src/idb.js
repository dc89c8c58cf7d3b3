// Promises over IndexedDB requests and transactions, and the floor: the
// commit time of an empty durable readwrite transaction.

/** Resolves to the request's result. */
export function request(req) {
  return new Promise((ok, fail) => {
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}

/** Resolves when `tx` has committed (for a strict transaction: durably). */
export function done(tx) {
  return new Promise((ok, fail) => {
    tx.oncomplete = () => ok();
    tx.onerror = () => fail(tx.error);
    tx.onabort = () => fail(tx.error ?? new Error('transaction aborted'));
  });
}

/** Opens `name` at `version`, running `upgrade(db)` when it is created or older. */
export function open(name, version, upgrade) {
  return new Promise((ok, fail) => {
    const req = indexedDB.open(name, version);
    req.onupgradeneeded = () => upgrade?.(req.result);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
    // Blocked: a connection that close() was called on still finishes its
    // transactions; the request goes on once it has (run.mjs's deadline
    // catches one that never does).
    req.onblocked = () => console.warn(`opening ${name} waits for another connection to close`);
  });
}

/** Deletes the database `name` (once every connection to it has closed). */
export function remove(name) {
  return new Promise((ok, fail) => {
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = () => ok();
    req.onerror = () => fail(req.error);
    req.onblocked = () => console.warn(`deleting ${name} waits for a connection to close`);
  });
}

/**
 * The floor under every durable commit in this browser: a database with one
 * object store, and `commit()` times nothing but an empty readwrite
 * transaction with strict durability, from its creation to `complete`.
 */
export async function floor(name = 'bench-floor') {
  await remove(name);
  const db = await open(name, 1, (d) => d.createObjectStore('x'));
  return {
    commit: () => done(db.transaction('x', 'readwrite', { durability: 'strict' })),
    close: async () => {
      db.close();
      await remove(name);
    },
  };
}
