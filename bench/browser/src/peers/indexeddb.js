// Hand-written IndexedDB: one object store `users` (keyPath `id`) with an
// index on `age`; every write transaction has strict durability.
import { done, open, remove, request } from '../idb.js';

function upgrade(db) {
  const users = db.createObjectStore('users', { keyPath: 'id' });
  users.createIndex('age', 'age');
}

const ageAbove60 = () => IDBKeyRange.lowerBound(60, true);

export const indexeddb = {
  id: 'indexeddb',

  async init() {},

  async create(name) {
    await remove(name);
    return open(name, 1, upgrade);
  },

  open: (name) => open(name, 1, upgrade),

  async close(db) {
    db.close();
  },

  destroy: (name) => remove(name),

  /** All rows in one readwrite transaction; resolves once it is durable. */
  async insert(db, rows) {
    const tx = db.transaction('users', 'readwrite', { durability: 'strict' });
    const store = tx.objectStore('users');
    for (const row of rows) store.put(row);
    await done(tx);
  },

  queryGt60Limit10(db) {
    const tx = db.transaction('users', 'readonly');
    return request(tx.objectStore('users').index('age').getAll(ageAbove60(), 10));
  },

  queryEq42(db) {
    const tx = db.transaction('users', 'readonly');
    return request(tx.objectStore('users').index('age').getAll(42));
  },

  /** One get after the other (each waits for the previous), in one transaction. */
  async pointReads(db, keys) {
    const store = db.transaction('users', 'readonly').objectStore('users');
    let found = 0;
    for (const k of keys) {
      const row = await request(store.get(k));
      if (row?.id === k) found++;
    }
    return found;
  },

  async get(db, key) {
    return request(db.transaction('users', 'readonly').objectStore('users').get(key));
  },

  /** Sets one user's score in its own durable transaction (a put of the whole row). */
  async smallCommit(db, row) {
    const tx = db.transaction('users', 'readwrite', { durability: 'strict' });
    tx.objectStore('users').put(row);
    await done(tx);
  },
};
