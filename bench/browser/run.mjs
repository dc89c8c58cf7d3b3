// Drives the browser benchmark: serves the page on loopback (serve.mjs),
// starts Debian's Chromium headless through playwright-core (never a
// downloaded browser) with a fresh profile, runs the workloads of
// src/harness.js, prints medians and ratios, and writes the rows as JSON
// ([{group, id, median_ms, ...}], read by bench/src/report.rs).
//
//   node run.mjs [--quick] [--out FILE] [--peers moonvault,dexie,...] [--no-memory] [--no-open-large]
//                [--open-sizes 10000,100000,1000000]
//
// --quick: 1K records and a few samples (CI's check that the harness runs).
// Exits non-zero if a peer fails a workload or a result check.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { launch } from './chromium.mjs';
import { REPO_ROOT, serve } from './serve.mjs';

/** Fresh-page samples of each large open. */
const OPEN_LARGE_SAMPLES = 5;
const ALL_PEERS = ['moonvault', 'moonvault-mirror', 'dexie', 'indexeddb', 'wa-sqlite'];

function parseArgs(argv) {
  const args = { quick: false, out: null, peers: ALL_PEERS, memory: true, openLarge: true, openSizes: [10000, 100000] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--no-memory') args.memory = false;
    else if (a === '--no-open-large') args.openLarge = false;
    else if (a === '--open-sizes') args.openSizes = argv[++i].split(',').map(Number).filter((n) => n >= 10000 && n % 10000 === 0);
    else if (a === '--out') args.out = argv[++i];
    else if (a === '--peers') args.peers = argv[++i].split(',').filter(Boolean);
    else throw new Error(`unknown argument ${a}; usage: node run.mjs [--quick] [--out FILE] [--peers a,b] [--no-memory] [--no-open-large] [--open-sizes 10000,100000,1000000]`);
  }
  // Where the report looks: $CARGO_TARGET_DIR (relative to the repository), else target/.
  const target = resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
  args.out ??= join(target, args.quick ? 'browser-bench-quick.json' : 'browser-bench.json');
  return args;
}

const args = parseArgs(process.argv.slice(2));
const config = args.quick
  ? { peers: args.peers, n: 1000, reps: { insert: 2, query: 3, commit: 3, open: 2 }, memoryN: 100000 }
  : { peers: args.peers, n: 10000, reps: { insert: 7, query: 21, commit: 41, open: 11 }, memoryN: 100000 };

// A run that hangs (a blocked IndexedDB open, a lost promise) must not hang CI.
const deadline = setTimeout(
  () => {
    console.error(`bench-browser: no result after ${args.quick ? 5 : 30} minutes; giving up`);
    process.exit(1);
  },
  (args.quick ? 5 : 30) * 60_000,
);
deadline.unref();

function human(ms) {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${(ms * 1000).toFixed(1)} µs`;
}

/** A plain-text table: per group, each id's median and its ratio to moonvault. */
function table(rows) {
  const groups = new Map();
  for (const r of rows) {
    if (r.median_ms === undefined) continue;
    if (!groups.has(r.group)) groups.set(r.group, new Map());
    groups.get(r.group).set(r.id, r.median_ms);
  }
  const ids = [...new Set(rows.filter((r) => r.median_ms !== undefined).map((r) => r.id))];
  const lines = [['group', ...ids.map((id) => (id === 'moonvault' ? id : `${id} (x mv)`))]];
  for (const [g, m] of groups) {
    const base = m.get('moonvault');
    lines.push([
      g,
      ...ids.map((id) => {
        const v = m.get(id);
        if (v === undefined) return '-';
        return id === 'moonvault' || base === undefined ? human(v) : `${human(v)} (${(v / base).toFixed(2)}x)`;
      }),
    ]);
  }
  const widths = lines[0].map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  return lines.map((l) => l.map((cell, c) => cell.padEnd(widths[c])).join('  ')).join('\n');
}

async function withPage(context, base, fn) {
  const page = await context.newPage();
  page.on('console', (m) => {
    const text = m.text();
    if (text.startsWith('[bench]') || m.type() === 'error' || m.type() === 'warning') console.log(`page: ${text}`);
  });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${base}bench/browser/index.html`);
  await page.waitForFunction(() => window.benchReady === true);
  try {
    return await fn(page);
  } finally {
    await page.close();
  }
}

/** Median, least and most of sample times (ms), for a result row. */
function spread(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    median_ms: sorted[Math.floor(sorted.length / 2)],
    min_ms: sorted[0],
    max_ms: sorted[sorted.length - 1],
    samples: sorted.length,
  };
}

const server = await serve();
let browser;
let failed = false;
try {
  browser = await launch('bench-chromium');
  const { context } = browser;
  const started = Date.now();
  const rows = await withPage(context, server.url, async (page) => {
    const env = await page.evaluate(() => window.benchEnvironment());
    console.log(`bench-browser: ${env.userAgent}; cross-origin isolated: ${env.crossOriginIsolated}`);
    console.log(`bench-browser: ${config.n} records, peers ${config.peers.join(', ')}, samples ${JSON.stringify(config.reps)}`);
    return page.evaluate((c) => window.runBench(c), config);
  });
  if (args.memory && config.peers.includes('moonvault')) {
    console.log(`bench-browser: moonvault's linear memory with ${config.memoryN} records (fresh page)`);
    rows.push(await withPage(context, server.url, (page) => page.evaluate((c) => window.runMemory(c), { n: config.memoryN })));
  }
  if (!args.quick && args.openLarge) {
    // Open + first `age = 42` on stores of 10K and 100K users, each sample
    // in a fresh page (nothing of the store cached in the page's JS heap).
    const peers = config.peers.filter((p) => ['moonvault', 'moonvault-mirror', 'indexeddb'].includes(p));
    for (const n of args.openSizes) {
      console.log(`bench-browser: open + first age = 42 on ${n} users: ${peers.join(', ')}, ${OPEN_LARGE_SAMPLES} fresh pages each`);
      await withPage(context, server.url, (page) => page.evaluate((c) => window.loadLarge(c), { peers, n }));
      const samples = new Map(peers.map((p) => [p, []]));
      for (let r = 0; r < OPEN_LARGE_SAMPLES; r++) {
        for (const peer of peers) {
          samples.get(peer).push(await withPage(context, server.url, (page) => page.evaluate((c) => window.probeLarge(c), { peer, n })));
        }
      }
      // What each moonvault peer holds in JS memory right after an open
      // (one more fresh page each, untimed).
      const heldAfterOpen = new Map();
      for (const peer of peers.filter((p) => p.startsWith('moonvault'))) {
        heldAfterOpen.set(peer, await withPage(context, server.url, (page) => page.evaluate((c) => window.heldAfterOpen(c), { peer, n })));
      }
      await withPage(context, server.url, (page) => page.evaluate((c) => window.destroyLarge(c), { peers, n }));
      for (const [id, xs] of samples) {
        rows.push({
          group: `browser_open_first_eq42_${n / 1000}k`,
          id,
          ...spread(xs.map((x) => x.ms)),
          ...(xs[0].jsBytes != null ? { js_bytes_after_open: xs[0].jsBytes } : {}),
        });
        // The open alone (the same samples, timed up to the open's end).
        rows.push({
          group: `browser_open_only_${n / 1000}k`,
          id,
          ...spread(xs.map((x) => x.openMs)),
          ...(heldAfterOpen.has(id) ? { js_bytes_right_after_open: heldAfterOpen.get(id) } : {}),
        });
      }
    }
  }
  console.log(`\n${table(rows)}\n`);
  for (const r of rows.filter((r) => r.group.startsWith('browser_counters_'))) {
    const { group, id, ...c } = r;
    console.log(`${group}: ${id} ${Object.entries(c).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`).join(' ')}`);
  }
  for (const r of rows.filter((r) => r.js_bytes_right_after_open !== undefined)) {
    console.log(`${r.group}: ${r.id} holds ${(r.js_bytes_right_after_open / 1024).toFixed(0)} KiB of stored blobs in JS memory right after open`);
  }
  for (const r of rows.filter((r) => r.js_bytes_after_open !== undefined)) {
    console.log(`${r.group}: ${r.id} holds ${(r.js_bytes_after_open / 1024).toFixed(0)} KiB of stored blobs in JS memory after open + first query`);
  }
  for (const r of rows.filter((r) => r.bytes !== undefined)) {
    const kib = (b) => `${(b / 1024).toFixed(0)} KiB`;
    console.log(
      `${r.group}: ${r.id} linear memory ${kib(r.bytes)} of ${kib(r.limit_bytes)} ` +
        `(${kib(r.bytes_after_load)} after loading; Lua heap ${kib(r.lua_memory)}; ${r.pages} pages, ${kib(r.stored_bytes)} in IndexedDB)`,
    );
    if (!(r.bytes <= 2 * 1024 * 1024)) {
      console.error(`bench-browser: ${r.id}'s linear memory ${r.bytes} exceeds the 2 MiB budget`);
      failed = true;
    }
  }
  mkdirSync(dirname(resolve(args.out)), { recursive: true });
  writeFileSync(args.out, JSON.stringify(rows, null, 2) + '\n');
  console.log(`bench-browser: wrote ${args.out} (${rows.length} rows) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
} catch (e) {
  console.error(`bench-browser: ${e.stack ?? e}`);
  failed = true;
} finally {
  await browser?.close();
  await server.close();
}
process.exit(failed ? 1 : 0);
