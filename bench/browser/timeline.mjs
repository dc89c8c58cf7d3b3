// A diagnostic, not a benchmark: the IndexedDB requests and transactions
// of a fresh-page open + first `age = 42` (the bench's probeLarge), each
// with its start and end time, so that round trips can be told from the
// CPU time between them (bench/analysis.md uses it).
//
//   node timeline.mjs [records (default 100000)] [peer (default moonvault)] [rounds (default 2)]
//
// Loads the store once, then opens it in `rounds` fresh pages; times are
// ms since the page's probe started. BENCH_WEB_PKG picks the web package,
// as for run.mjs.
import { launch } from './chromium.mjs';
import { serve } from './serve.mjs';

const n = Number(process.argv[2] ?? 100000);
const peer = process.argv[3] ?? 'moonvault';
const rounds = Number(process.argv[4] ?? 2);

/** Runs in the page before its scripts: wraps the IndexedDB calls. */
function record() {
  window.timeline = [];
  const since = () => window.probeStart ?? 0;
  const keyOf = (a) => (a instanceof IDBKeyRange ? `[${a.lower}..${a.upper}]` : a === undefined ? '' : String(a));
  const wrap = (cls, names) => {
    for (const name of names) {
      const original = cls.prototype[name];
      cls.prototype[name] = function (...args) {
        const start = performance.now();
        const req = original.apply(this, args);
        const what = `${this.name ?? 'factory'}.${name}(${keyOf(args[0])})`;
        req.addEventListener('success', () => window.timeline.push([start - since(), performance.now() - since(), what]));
        return req;
      };
    }
  };
  wrap(IDBObjectStore, ['get', 'getAll', 'getAllKeys', 'getKey', 'count', 'openCursor', 'openKeyCursor', 'put', 'delete']);
  wrap(IDBIndex, ['get', 'getAll', 'getAllKeys', 'count', 'openCursor']);
  wrap(IDBFactory, ['open']);
  const transaction = IDBDatabase.prototype.transaction;
  IDBDatabase.prototype.transaction = function (...args) {
    const start = performance.now();
    const tx = transaction.apply(this, args);
    tx.addEventListener('complete', () => window.timeline.push([start - since(), performance.now() - since(), `transaction(${args[0]}, ${args[1] ?? 'readonly'})`]));
    return tx;
  };
}

const server = await serve();
const browser = await launch('timeline');
const { context } = browser;
async function inPage(fn, init) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  if (init) await page.addInitScript(init);
  await page.goto(`${server.url}bench/browser/index.html`);
  await page.waitForFunction(() => window.benchReady === true);
  try {
    return await fn(page);
  } finally {
    await page.close();
  }
}
try {
  await inPage((p) => p.evaluate((c) => window.loadLarge(c), { peers: [peer], n }));
  for (let r = 0; r < rounds; r++) {
    const { result, timeline } = await inPage(async (p) => {
      const result = await p.evaluate(async (c) => {
        window.probeStart = performance.now();
        return window.probeLarge(c);
      }, { peer, n });
      return { result, timeline: await p.evaluate(() => window.timeline) };
    }, record);
    console.log(`round ${r}: open ${result.openMs.toFixed(1)} ms, open + first age = 42 ${result.ms.toFixed(1)} ms (calls after that are the probe's stats())`);
    for (const [start, end, what] of timeline.sort((a, b) => a[0] - b[0])) {
      console.log(`${start.toFixed(1).padStart(8)} ${end.toFixed(1).padStart(8)} ${(end - start).toFixed(1).padStart(6)}  ${what}`);
    }
  }
  await inPage((p) => p.evaluate((c) => window.destroyLarge(c), { peers: [peer], n }));
} finally {
  await browser.close();
  server.close();
}
