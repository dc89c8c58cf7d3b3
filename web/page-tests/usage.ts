// Type-checked against the package's moonvault.d.ts by types.test.mjs
// (tsc --strict): the documented forms must type-check, misuse must not.
import Moonvault, {
  ConversionError,
  evalLua,
  hasJspi,
  loadedBuild,
  LimitError,
  LuaError,
  QuotaExceededError,
  type Progress,
  type RemoteMoonvault,
  type LuaValue,
  type Stats,
} from '../js/moonvault.js';

export async function usage(): Promise<void> {
  const db = await Moonvault.open('app', { memoryLimit: 256 * 1024, durability: 'relaxed', print: (l) => console.log(l) });
  const r: LuaValue | LuaValue[] = await db.compute('return 1 + 1');
  await db.batchTableOperations([{ type: 'set', table: 'Memory', key: 'users', value: {} }]);
  await db.createIndex('Memory', 'users.age', 'btree');
  const old: LuaValue[] = await db.queryTable('Memory', { field: 'users.age', operator: '>', value: 60, limit: 10 });
  await db.persistFunction('Memory', 'addFunc', 'function(x, y) return x + y end');
  const rows = await db.query(['users'], { where: [['age', 'between', 30, 40]], orderBy: ['age', 'desc'], limit: 5 });
  const k = rows[0]?.key;
  await db.set('users.u1', { name: 'A', tags: ['x'], big: 2n ** 60n, bytes: new Uint8Array(2) }, { durable: false });
  await db.batch([{ op: 'delete', path: 'users.u1' }]);
  const s: Stats = await db.stats({ deep: true });
  const lazy: 'lazy' | 'mirror' = s.paging;
  const bytes: Uint8Array = await db.export();
  const n: number = await Moonvault.import('copy', bytes);
  const trusted: number = await Moonvault.import('copy', bytes, { trust: true });
  const out = await db.computeBatch(['return 1', 'error("x")']);
  for (const o of out) {
    if (!o.success && o.error instanceof LuaError) console.log(o.error.traceback, o.error.luaMessage);
  }
  try {
    await db.flush();
  } catch (e) {
    if (e instanceof QuotaExceededError || e instanceof ConversionError) console.log(e.kind);
  }
  const limited = await Moonvault.open('limited', { timeoutMs: 500, maxInstructions: 1e8 });
  const controller = new AbortController();
  try {
    await limited.compute('while true do end', { timeoutMs: 100, maxInstructions: 1e7, signal: controller.signal });
  } catch (e) {
    if (e instanceof LimitError) {
      const which: 'timeout' | 'instructions' | 'aborted' = e.limit;
      console.log(which);
    }
  }
  await limited.computeBatch(['return 1'], { signal: controller.signal, durable: false });
  await limited.close();
  await db.migrate(2, ['Memory.v1 = true', 'Memory.v2 = true']);
  console.log(r, old, k, s.compressionRatio, n, trusted, (await db.check()).entries, lazy, await evalLua('return 1'));
  await db.close();
  await Moonvault.delete('app');
}

export async function worker(): Promise<void> {
  const db: RemoteMoonvault = await Moonvault.open('app', { worker: true, print: (l) => console.log(l) });
  const v: LuaValue = await db.get('users.u1');
  const rows = await db.query('users', { where: [['age', '>', 3]] });
  const s: Stats = await db.stats();
  const controller = new AbortController();
  try {
    await db.compute('while true do end', { signal: controller.signal });
  } catch (e) {
    if (e instanceof LimitError && e.limit === 'aborted') console.log('stopped');
  }
  const seen: Progress[] = [];
  await db.createIndex('users', 'age', {}, { onProgress: (p) => seen.push(p) });
  await db.migrate(1, ['Memory.v = 1'], { onProgress: (p) => seen.push(p) });
  const bytes: Uint8Array = await db.export({ onProgress: (p) => console.log(p.done, p.total) });
  await Moonvault.import('copy', bytes, { worker: true, onProgress: (p) => console.log(p.phase) });
  console.log(v, rows[0]?.key, s.records, db.inWorker);
  await db.close();
  await Moonvault.delete('app', { worker: true });
}

export async function misuse(db: Moonvault): Promise<void> {
  // @ts-expect-error: durability takes 'strict' | 'relaxed' | 'default'
  await Moonvault.open('x', { durability: 'fast' });
  // @ts-expect-error: functions are not Lua values
  await db.set('f', () => 1);
  // @ts-expect-error: operations need a type
  await db.batchTableOperations([{ table: 'Memory', key: 'k', value: 1 }]);
  // @ts-expect-error: get returns a promise (a page may be read from IndexedDB first)
  const got: LuaValue = db.get('x');
  // @ts-expect-error: paging is 'auto', 'lazy' or 'mirror'
  await Moonvault.open('x', { paging: 'eager' });
  await Moonvault.open('x', { paging: 'lazy', pageCacheBytes: 1 << 22, build: 'jspi' });
  const remote = await Moonvault.open('x', { worker: true });
  // @ts-expect-error: in Worker mode get returns a promise
  const v: LuaValue = remote.get('x');
  // @ts-expect-error: progress phases are named
  await remote.createIndex('t', 'f', {}, { onProgress: (p: { phase: 'build' }) => p });
  console.log(v, got, hasJspi(), loadedBuild());
}
