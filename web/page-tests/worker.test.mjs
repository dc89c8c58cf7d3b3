// Worker mode (`Moonvault.open(name, {worker: true})`) in headless
// Chromium: what differs from the calling-thread API (an AbortSignal
// stops a running chunk, Lua never runs on the page's thread), what must
// not (print, errors, Web Locks, durability), progress reports in both
// modes, and the page's longest task while a large import runs in the
// Worker. MOONVAULT_LONGTASK_RECORDS sets that import's size (default
// 100000).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILD, blankPage, closeBlankPage } from './browser.mjs';

const RECORDS = Number(process.env.MOONVAULT_LONGTASK_RECORDS ?? 100_000);

let session;
let page;
before(async () => {
  ({ session, page } = await blankPage());
});
after(() => closeBlankPage(session));

/**
 * Runs `body` (an async function source with `mv` in scope) in the page.
 * `mv.Moonvault`'s open, delete and import add the build MOONVAULT_BUILD
 * asks for (browser.mjs), so these tests run on both builds like the rest.
 */
function inPage(body, arg) {
  return page.evaluate(
    async ([body, arg, build]) => {
      const real = await import('/pkg/moonvault.js');
      const withBuild = (o) => (build ? { build, ...o } : o);
      const Moonvault = {
        open: (name, o) => real.Moonvault.open(name, withBuild(o)),
        delete: (name, o) => real.Moonvault.delete(name, withBuild(o)),
        import: (name, source, o) => real.Moonvault.import(name, source, withBuild(o)),
        [Symbol.hasInstance]: (x) => x instanceof real.Moonvault,
      };
      const mv = { ...real, Moonvault };
      // eslint-disable-next-line no-new-func
      return new Function('mv', 'arg', `return (async () => { ${body} })()`)(mv, arg);
    },
    [body, arg, BUILD],
  );
}

test('an AbortSignal stops a running chunk: LimitError, rolled back, the store goes on', async () => {
  const r = await inPage(`
    await mv.Moonvault.delete('abort', { worker: true });
    const printed = [];
    const db = await mv.Moonvault.open('abort', { worker: true, print: (l) => printed.push(l) });
    const out = { isMoonvault: db instanceof mv.Moonvault, inWorker: db.inWorker };
    await db.compute('Memory.n = 1 print("before", Memory.n)');
    const early = new AbortController();
    early.abort();
    try { await db.compute('Memory.n = 99', { signal: early.signal }); } catch (e) {
      out.early = [e.name, e instanceof mv.LimitError, e.kind, e.limit];
    }
    const c = new AbortController();
    const t0 = performance.now();
    setTimeout(() => c.abort(), 100);
    const queued = db.compute('return 1');
    try { await db.compute('Memory.n = 2 while true do end', { signal: c.signal }); } catch (e) {
      out.stopped = [e.name, e instanceof mv.LimitError, e instanceof mv.MoonvaultError, e.kind, e.limit];
    }
    out.ms = performance.now() - t0;
    try { await queued; out.queued = 'ran'; } catch (e) { out.queued = e.name; }
    out.n = await db.compute('return Memory.n');
    out.after = await db.compute('Memory.n = Memory.n + 10 return Memory.n');
    out.printed = printed;
    out.check = (await db.check()).entries > 0;
    await db.close();
    out.closed = db.closed;
    return out;
  `);
  assert.deepEqual([r.isMoonvault, r.inWorker], [true, true]);
  assert.deepEqual(r.early, ['LimitError', true, 'limit', 'aborted']);
  assert.deepEqual(r.stopped, ['LimitError', true, true, 'limit', 'aborted']);
  assert.ok(r.ms < 1000, `the abort took ${r.ms} ms`);
  assert.ok(r.queued === 'ran' || r.queued === 'StoreError', r.queued);
  assert.equal(r.n, 1, 'the aborted chunk was rolled back');
  assert.equal(r.after, 11, 'the reopened store runs chunks');
  assert.deepEqual(r.printed, ['before\t1'], 'print lines reach the caller\'s sink');
  assert.equal(r.check, true);
  assert.equal(r.closed, true);
  console.log(`# abort: compute rejected ${r.ms.toFixed(0)} ms after it started (abort at 100 ms)`);
});

test('the Worker holds the Web Lock; errors keep their class and fields; Lua never runs on the page', async () => {
  const r = await inPage(`
    await mv.Moonvault.delete('locks', { worker: true });
    const db = await mv.Moonvault.open('locks', { worker: true });
    const out = { paging: (await db.stats()).paging };
    const locked = async (worker) => {
      try { await mv.Moonvault.open('locks', { worker }); return 'opened'; } catch (e) {
        return [e.name, e instanceof mv.LockedError];
      }
    };
    out.true = await locked(true);
    try { await db.compute('local t = nil\\nreturn t.x'); } catch (e) {
      out.lua = [e.name, e instanceof mv.LuaError, e.luaMessage, /stack traceback/.test(e.traceback)];
    }
    try { await db.set('f', { inner: () => 1 }); } catch (e) { out.conv = [e.name, e.path]; }
    try { await db.set('s', { inner: Symbol('x') }); } catch (e) { out.sym = e.name; }
    // So far the page itself never loaded the module: every call ran in a Worker.
    out.wasmHere = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.wasm')).length;
    out.false = await locked(false);
    await db.set('users', {});
    await db.createIndex('users', 'email', { unique: true });
    await db.set('users.a', { email: 'x' });
    try { await db.set('users.b', { email: 'x' }); } catch (e) { out.unique = e.name; }
    await db.close();
    const again = await mv.Moonvault.open('locks', { worker: true, durableWrites: false });
    await again.set('k', 1);
    await again.flush();
    out.k = await again.get('k');
    await again.close();
    return out;
  `);
  assert.deepEqual(r.false, ['LockedError', true]);
  assert.deepEqual(r.true, ['LockedError', true]);
  assert.deepEqual(r.lua, ['LuaError', true, "compute:2: attempt to index a nil value (local 't')", true]);
  assert.deepEqual(r.conv, ['ConversionError', 'Memory.f.inner'], 'the path names the key being set');
  assert.equal(r.sym, 'ConversionError');
  assert.equal(r.unique, 'ConstraintError');
  assert.equal(r.k, 1);
  assert.equal(r.wasmHere, 0, 'no .wasm fetched by the page');
  assert.equal(r.paging, BUILD === 'mirror' ? 'mirror' : 'lazy', 'the Worker runs the build asked for');
});

for (const worker of [false, true]) {
  test(`onProgress reports import, export, index builds and migrations (${worker ? 'Worker' : 'calling thread'})`, async () => {
    const r = await inPage(`
      const opts = { worker: arg };
      const seen = { import: [], export: [], index: [], migrate: [] };
      const onProgress = (p) => seen[p.phase].push([p.done, p.total]);
      await mv.Moonvault.delete('progress', opts);
      await mv.Moonvault.delete('progress-copy', opts);
      const db = await mv.Moonvault.open('progress', opts);
      await db.compute('Memory.users = {} for i = 1, 3000 do Memory.users[i] = {age = i % 90, name = "user " .. i} end');
      await db.createIndex('users', 'age', {}, { onProgress });
      const bytes = await db.export({ onProgress });
      await db.migrate(3, ['Memory.v1 = 1', 'Memory.v2 = 2', 'Memory.v3 = 3'], { onProgress });
      await db.close();
      await mv.Moonvault.import('progress-copy', bytes, { ...opts, onProgress });
      return { seen, size: bytes.length };
    `, worker);
    const { seen, size } = r;
    const monotonic = (xs) => xs.every((x, i) => i === 0 || x[0] >= xs[i - 1][0]);
    for (const phase of ['import', 'export', 'index', 'migrate']) {
      assert.ok(seen[phase].length >= 2, `${phase}: ${JSON.stringify(seen[phase])}`);
      assert.ok(monotonic(seen[phase]), `${phase}: ${JSON.stringify(seen[phase])}`);
      const last = seen[phase].at(-1);
      assert.equal(last[0], last[1], `${phase} ends with done == total`);
    }
    assert.deepEqual(seen.index[0], [0, 3000]);
    assert.deepEqual(seen.index.at(-1), [3000, 3000]);
    assert.deepEqual(seen.migrate, [[0, 3], [1, 3], [2, 3], [3, 3]]);
    assert.equal(seen.import[0][1], size, 'an import from bytes knows its total');
    assert.equal(seen.import.at(-1)[0], size);
    assert.equal(seen.export.at(-1)[0], size);
  });
}

test(`the page's longest task while ${RECORDS} records import in a Worker stays under 50 ms`, async () => {
  const r = await inPage(`
    const n = arg;
    await mv.Moonvault.delete('bulk-src', { worker: true });
    await mv.Moonvault.delete('bulk-copy', { worker: true });
    const src = await mv.Moonvault.open('bulk-src', { worker: true });
    await src.compute('Memory.users = {}');
    for (let from = 1; from <= n; from += 5000) {
      const to = Math.min(n, from + 4999);
      await src.compute('local u = Memory.users for i = ' + from + ', ' + to + ' do u[i] = {name = "user " .. i, age = i % 90} end');
    }
    const bytes = await src.export();
    await src.close();
    const tasks = [];
    const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) tasks.push(e.duration); });
    observer.observe({ type: 'longtask', buffered: false });
    // The control: a task of 80 ms on the page must be seen.
    const busy = performance.now();
    while (performance.now() - busy < 80) { /* a long task */ }
    await new Promise((r) => setTimeout(r, 100));
    const control = Math.max(0, ...tasks);
    tasks.length = 0;
    // Something for the page to do meanwhile: a frame count.
    let frames = 0;
    let running = true;
    const tick = () => { frames++; if (running) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    const t0 = performance.now();
    let reports = 0;
    const entries = await mv.Moonvault.import('bulk-copy', bytes, { worker: true, onProgress: () => reports++ });
    const ms = performance.now() - t0;
    running = false;
    // Long tasks are reported after they end: let the observer catch up.
    await new Promise((r) => setTimeout(r, 100));
    observer.disconnect();
    const copy = await mv.Moonvault.open('bulk-copy', { worker: true });
    const count = await copy.compute('return #Memory.users, Memory.users[#Memory.users].name');
    await copy.close();
    return { control, ms, entries, count, size: bytes.length, longest: Math.max(0, ...tasks), tasks: tasks.length, frames, reports };
  `, RECORDS);
  assert.deepEqual(r.count, [RECORDS, `user ${RECORDS}`]);
  assert.ok(r.entries > RECORDS);
  assert.ok(r.reports > 2);
  assert.ok(r.control >= 80, `the observer saw the 80 ms control task: ${r.control}`);
  console.log(`# longtask: ${RECORDS} records (${(r.size / 1e6).toFixed(1)} MB export) imported in a Worker in ${r.ms.toFixed(0)} ms; `
    + `page: ${r.tasks} long tasks, longest ${r.longest.toFixed(0)} ms, ${r.frames} frames, ${r.reports} progress reports`);
  assert.ok(r.longest < 50, `the page's longest task was ${r.longest} ms`);
});
