// moonvault's web package (web/pkg, built by scripts/build-web.sh): the
// wasm module with its IndexedDB store, through the documented JS API.
// Records live at Memory.users[i] = {name, age, score}, with an index on
// `age`; writes resolve once durable (the default `durableWrites`).
import { initialize, Moonvault } from 'moonvault';

const TABLE = 'users';

export const moonvault = {
  id: 'moonvault',

  init: () => initialize(),

  /** The insert's input: one batch operation per row (built outside the timing). */
  prepare: (rows) =>
    rows.map((r) => ({ type: 'set', table: TABLE, key: r.id, value: { name: r.name, age: r.age, score: r.score } })),

  async create(name) {
    await Moonvault.delete(name);
    const mv = await Moonvault.open(name);
    await mv.set(TABLE, {});
    await mv.createIndex(TABLE, 'age');
    return mv;
  },

  open: (name) => Moonvault.open(name),

  close: (mv) => mv.close(),

  destroy: (name) => Moonvault.delete(name),

  /** All rows in one atomic batch; resolves once the commit is durable. */
  insert: (mv, ops) => mv.batchTableOperations(ops),

  queryGt60Limit10: (mv) => mv.query(TABLE, { where: [['age', '>', 60]], limit: 10 }),

  queryEq42: (mv) => mv.query(TABLE, { where: [['age', '=', 42]] }),

  /** `get` is synchronous: it reads the store's pages mirrored on the JS heap. */
  async pointReads(mv, keys) {
    let found = 0;
    for (const k of keys) {
      const rec = mv.get([TABLE, k]);
      if (rec?.name === `User ${k}`) found++;
    }
    return found;
  },

  get(mv, key) {
    const rec = mv.get([TABLE, key]);
    return rec && { id: key, ...rec };
  },

  /** Sets one user's score; resolves once durable. */
  smallCommit: (mv, row) => mv.set([TABLE, row.id, 'score'], row.score),

  linearMemory: (mv) => mv.stats().linearMemory,

  /** Counted costs for the report: IndexedDB transactions, pages, cache hit rate. */
  counters: (mv) => mv.stats(),

  stats: (mv) => mv.stats(),
};
