// moonvault's web package (web/pkg, built by scripts/build-web.sh): the
// wasm module with its IndexedDB store, through the documented JS API.
// Records live at Memory.users[i] = {name, age, score}, with an index on
// `age`; writes resolve once durable (the default `durableWrites`).
import { initialize, Moonvault } from 'moonvault';

const TABLE = 'users';

/** The peer with the given open options (`paging`): 'moonvault' pages lazily (the default in Chromium). */
function peer(id, options) {
  return {
  id,

  init: () => initialize(),

  /** The insert's input: one batch operation per row (built outside the timing). */
  prepare: (rows) =>
    rows.map((r) => ({ type: 'set', table: TABLE, key: r.id, value: { name: r.name, age: r.age, score: r.score } })),

  async create(name) {
    await Moonvault.delete(name);
    const mv = await Moonvault.open(name, options);
    await mv.set(TABLE, {});
    await mv.createIndex(TABLE, 'age');
    return mv;
  },

  open: (name) => Moonvault.open(name, options),

  close: (mv) => mv.close(),

  destroy: (name) => Moonvault.delete(name),

  /** All rows in one atomic batch; resolves once the commit is durable. */
  insert: (mv, ops) => mv.batchTableOperations(ops),

  queryGt60Limit10: (mv) => mv.query(TABLE, { where: [['age', '>', 60]], limit: 10 }),

  queryEq42: (mv) => mv.query(TABLE, { where: [['age', '=', 42]] }),

  async pointReads(mv, keys) {
    let found = 0;
    for (const k of keys) {
      const rec = await mv.get([TABLE, k]);
      if (rec?.name === `User ${k}`) found++;
    }
    return found;
  },

  async get(mv, key) {
    const rec = await mv.get([TABLE, key]);
    return rec && { id: key, ...rec };
  },

  /** Sets one user's score; resolves once durable. */
  smallCommit: (mv, row) => mv.set([TABLE, row.id, 'score'], row.score),

  linearMemory: async (mv) => (await mv.stats()).linearMemory,

  /** Counted costs for the report: IndexedDB transactions, pages, cache hit rate. */
  counters: (mv) => mv.stats(),

  stats: (mv) => mv.stats(),
  };
}

// The bench uses the data API only (no Lua runs, so no VM is built), and
// both moonvault peers keep a store open in the same page at once: the
// smallest Lua heap reservation lets the two fit the module's budget
// (web/src/budget.rs; the open reserves the heap whether or not Lua runs).
const DATA_ONLY = { memoryLimit: 64 * 1024 };
export const moonvault = peer('moonvault', DATA_ONLY);
/** The same build with the whole store mirrored at open (the engines without JSPI). */
export const moonvaultMirror = peer('moonvault-mirror', { ...DATA_ONLY, paging: 'mirror' });
