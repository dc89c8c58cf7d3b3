// Durability in headless Chromium: a commit interrupted by closing the page
// or killing the browser leaves the last durable state (whole commits
// only), and a quota failure is reported and loses nothing acknowledged.
// Each test runs with the store on the page's thread and in a Worker
// (Worker mode).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoServer, launch, BUILD } from './browser.mjs';
import { serve } from '../demo/serve.mjs';

let session;
before(async () => { session = await launch(); });
after(async () => {
  await session?.close();
  await (await demoServer()).close();
});

async function blank(context, server) {
  const { url } = server ?? (await demoServer());
  const page = await context.newPage();
  await page.goto(`${url}/page-tests/blank.html`);
  return { page, origin: url };
}

/** Opens `store` in `page` as window.db (waiting for a lock a closed page may still hold). */
async function openStore(page, store, worker) {
  await page.evaluate(async ([name, worker, build]) => {
    const { Moonvault } = await import('/pkg/moonvault.js');
    window.db = await Moonvault.open(name, { onLocked: 'wait', worker, build });
  }, [store, worker, BUILD]);
}

const N = 40000;
const BIG = (n) => `local t = Memory.big for i = 1, ${n} do t[i] = {n = i, s = "record " .. i} end`;

for (const [how, worker] of ['close the page', 'kill the browser'].flatMap((h) => [[h, false], [h, true]])) {
  const mode = worker ? 'Worker mode' : 'page thread';
  const kill = how === 'kill the browser';
  test(`a commit interrupted (${how}) leaves the last durable state (${mode})`, async () => {
    const store = `interrupt-${how.replace(/ /g, '-')}-${worker ? 'worker' : 'page'}`;
    const seen = { before: 0, after: 0 };
    for (let round = 0; round < 3; round++) {
      // A kill gets a browser profile of its own (see launch() in
      // browser.mjs: Chromium's IndexedDB does not survive two kills of one
      // profile), so each round after the first writes the N records the
      // acknowledged commit then replaces: a large transaction, committed
      // by checkpoint, as when an earlier interrupted commit had landed.
      const own = kill ? await launch() : null;
      try {
        const context = (own ?? session).context;
        const { page } = await blank(context);
        await openStore(page, store, worker);
        if (kill && round > 0) {
          await page.evaluate((code) => db.compute(`Memory.big = {} ${code}`), BIG(N));
        }
        // Acknowledged: the promise resolved once IndexedDB committed.
        const acked = await page.evaluate(async (r) => {
          await db.compute(`Memory.acked = ${r} Memory.big = {}`);
          return await db.get('acked');
        }, round);
        assert.equal(acked, round);
        // Not acknowledged: applied in the module, its IndexedDB transaction
        // queued or in flight when the page goes away.
        await page.evaluate((code) => { window.pending = db.compute(code, { durable: false }); }, BIG(N));
        if (kill) {
          await own.restart({ kill: true });
        } else {
          await page.close({ runBeforeUnload: false });
        }
        const { page: check } = await blank((own ?? session).context);
        await openStore(check, store, worker);
        const state = await check.evaluate(async () => ({
          acked: await db.get('acked'),
          big: await db.compute('return Memory.big and #Memory.big'),
          report: await db.check(),
        }));
        assert.deepEqual(await (own ?? session).idbDamage(), [], 'Chromium found its IndexedDB files intact');
        const big = state.big;
        assert.equal(state.acked, round, 'the acknowledged commit survived');
        assert.ok(big === 0 || big === N, `the interrupted commit is whole or absent, found ${big} records`);
        seen[big === 0 ? 'before' : 'after'] += 1;
        assert.ok(state.report.entries > 0);
        await check.evaluate(() => db.close());
        await check.close();
      } finally {
        await own?.close();
      }
    }
    console.log(`# ${how} (${mode}): interrupted commit absent ${seen.before}x, complete ${seen.after}x`);
  });
}

for (const worker of [false, true]) {
  test(`a quota failure is reported and loses nothing acknowledged (${worker ? 'Worker mode' : 'page thread'})`, async (t) => {
    // An origin of its own (another port): Chromium applies a quota override
    // from the origin's first storage use, so no other test may touch it.
    const own = await serve({ port: 0 });
    t.after(() => own.close());
    const { page, origin } = await blank(session.context, own);
    const cdp = await session.context.newCDPSession(page);
    // A small quota for the origin, set before its first IndexedDB use
    // (Chromium reads it when the origin's storage is first opened):
    // IndexedDB then refuses commits that would go past it.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 600 * 1024 });
    await openStore(page, 'quota', worker);
    await page.evaluate(() => db.compute('Memory.kept = "before the quota"'));
    const outcome = await page.evaluate(async () => {
      const { QuotaExceededError, MoonvaultError } = await import('/pkg/moonvault.js');
      const acked = [];
      // 100 KB of incompressible data per commit until the quota bites.
      for (let i = 1; i <= 40; i++) {
        try {
          await db.compute(`local parts = {} for j = 1, 100 do local b = {} for k = 1, 1000 do b[k] = math.random(0, 255) end parts[j] = string.char(table.unpack(b)) end Memory.blob${i} = table.concat(parts)`);
          acked.push(i);
        } catch (e) {
          let later;
          try { await db.get('kept'); } catch (e2) { later = `${e2.name}: ${e2.message}`; }
          return { acked, name: e.name, quota: e instanceof QuotaExceededError, base: e instanceof MoonvaultError, message: e.message, later };
        }
      }
      return { acked, name: 'none' };
    });
    assert.equal(outcome.name, 'QuotaExceededError', JSON.stringify(outcome));
    assert.ok(outcome.quota && outcome.base);
    assert.match(outcome.message, /space|quota/i);
    assert.match(outcome.later, /QuotaExceededError|StoreError/, 'later calls refuse with the cause');
    assert.ok(outcome.acked.length >= 1, 'some commits fit before the quota');
    console.log(`# quota: ${outcome.acked.length} commits of 100 KB acknowledged, then: ${outcome.message}`);

    // Lift the quota, reopen: every acknowledged commit is there, whole.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    await page.reload();
    await openStore(page, 'quota', worker);
    const after = await page.evaluate(async (acked) => ({
      kept: await db.get('kept'),
      lengths: await Promise.all(acked.map((i) => db.compute(`return #Memory.blob${i}`))),
      report: await db.check(),
    }), outcome.acked);
    assert.equal(after.kept, 'before the quota');
    for (const len of after.lengths) assert.equal(len, 100000);
    // The store works again.
    assert.equal(await page.evaluate(() => db.compute('Memory.after = 1 return Memory.after')), 1);
  });
}

test('small commits send only their WAL record; a page closed before the next checkpoint loses nothing acknowledged', async () => {
  const store = 'held-pages';
  const { page } = await blank(session.context);
  await openStore(page, store, false);
  // 3,000 records in one transaction: committed by checkpoint.
  await page.evaluate(() => db.compute('Memory.users = {} for i = 1, 3000 do Memory.users[i] = {n = i, s = "user " .. i} end'));
  const puts = await page.evaluate(async () => {
    const counted = {};
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function (...args) {
      counted[this.name] = (counted[this.name] ?? 0) + 1;
      return put.apply(this, args);
    };
    // Each commit copies a leaf and its branches: more than the module's
    // page cache keeps, so the pager spills them.
    for (let r = 1; r <= 40; r++) await db.set(['users', 1 + ((r * 577) % 3000), 'n'], -r);
    IDBObjectStore.prototype.put = put;
    return counted;
  });
  assert.deepEqual(puts, { wal: 40 }, 'one WAL record per commit, no page');
  await page.close({ runBeforeUnload: false });

  const { page: check } = await blank(session.context);
  await openStore(check, store, false);
  const state = await check.evaluate(async () => {
    const ns = [];
    for (let r = 1; r <= 40; r++) ns.push(await db.get(['users', 1 + ((r * 577) % 3000), 'n']));
    return { ns, count: await db.compute('return #Memory.users'), report: await db.check() };
  });
  assert.deepEqual(state.ns, Array.from({ length: 40 }, (_, i) => -(i + 1)));
  assert.equal(state.count, 3000);
  assert.ok(state.report.entries > 0);
  await check.evaluate(() => db.close());
  await check.close();
});
