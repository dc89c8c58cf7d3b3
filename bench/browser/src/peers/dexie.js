// Dexie 4 (npm) over the same IndexedDB layout as the raw peer: table
// `users` with primary key `id` and an index on `age`, strict durability.
import Dexie from 'dexie';

function db(name) {
  const d = new Dexie(name, { chromeTransactionDurability: 'strict' });
  d.version(1).stores({ users: 'id, age' });
  return d;
}

export const dexie = {
  id: 'dexie',

  async init() {},

  async create(name) {
    await Dexie.delete(name);
    const d = db(name);
    await d.open();
    return d;
  },

  async open(name) {
    const d = db(name);
    await d.open();
    return d;
  },

  async close(d) {
    d.close();
  },

  destroy: (name) => Dexie.delete(name),

  /** bulkPut: all rows in one transaction. */
  insert: (d, rows) => d.users.bulkPut(rows),

  queryGt60Limit10: (d) => d.users.where('age').above(60).limit(10).toArray(),

  queryEq42: (d) => d.users.where('age').equals(42).toArray(),

  /** One get after the other, inside one read transaction. */
  pointReads: (d, keys) =>
    d.transaction('r', d.users, async () => {
      let found = 0;
      for (const k of keys) {
        const row = await d.users.get(k);
        if (row?.id === k) found++;
      }
      return found;
    }),

  get: (d, key) => d.users.get(key),

  smallCommit: (d, row) => d.users.put(row),
};
