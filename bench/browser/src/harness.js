// The workloads, run on every peer in one page, repeated, medians kept.
//
// Each peer implements the same small interface (src/peers/*.js): init,
// create/open/close/destroy a store, insert (one durable transaction),
// the two indexed queries, point reads, get, and one small durable commit.
// Repetitions go round-robin over the peers, so a slow phase of this
// shared machine lands on all of them rather than on one.
//
// Timings use performance.now(). The server sends COOP/COEP headers, so
// the page is cross-origin isolated and the clock resolves to 5 µs instead
// of 100 µs; operations faster than MIN_SAMPLE_MS are repeated inside one
// sample and the sample divided.
import { countAge, randomKeys, users } from './data.js';
import { floor } from './idb.js';

const MIN_SAMPLE_MS = 2;
const MAX_INNER = 500;

/** The median of `xs` (the mean of the two middle values for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timed(fn) {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

function sizeName(n) {
  return n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/** Collects samples per (group, id) and turns them into result rows. */
class Results {
  #samples = new Map();
  #order = [];
  extra = [];

  add(group, id, ms) {
    const k = `${group}\u0000${id}`;
    if (!this.#samples.has(k)) {
      this.#samples.set(k, []);
      this.#order.push([group, id, k]);
    }
    this.#samples.get(k).push(ms);
  }

  rows() {
    const timings = this.#order.map(([group, id, k]) => {
      const xs = this.#samples.get(k);
      return {
        group,
        id,
        median_ms: median(xs),
        min_ms: Math.min(...xs),
        max_ms: Math.max(...xs),
        samples: xs.length,
      };
    });
    return [...timings, ...this.extra];
  }
}

/**
 * How many times to repeat `op` in one sample so the sample lasts at least
 * MIN_SAMPLE_MS: one warm-up call, which `validate` checks.
 */
async function calibrate(op, validate) {
  const [ms, out] = await timed(op);
  validate(out);
  return Math.min(MAX_INNER, Math.max(1, Math.ceil(MIN_SAMPLE_MS / Math.max(ms, 0.005))));
}

function log(...args) {
  console.log('[bench]', ...args);
}

/**
 * Runs every workload on `peers` with `n` records. `reps` gives the
 * samples per workload. Resolves to the result rows.
 */
export async function runMain(peers, { n, reps }) {
  const results = new Results();
  const size = sizeName(n);
  const rows = users(n);
  const eqMatches = countAge(n, 42);
  const probes = randomKeys(n, 1000, 3);
  for (const p of peers) await p.init();
  const input = new Map(peers.map((p) => [p, p.prepare ? p.prepare(rows) : rows]));

  log(`bulk insert of ${n} records, ${reps.insert} samples`);
  const group = `browser_bulk_insert_${size}`;
  // Round 0 of every timed loop below is a warm-up (wasm tier-up, JIT,
  // IndexedDB's first use of a database) and is not kept.
  for (let r = 0; r <= reps.insert; r++) {
    for (const p of peers) {
      const name = `bench-${p.id}-insert`;
      const h = await p.create(name);
      const [ms] = await timed(() => p.insert(h, input.get(p)));
      if (r > 0) results.add(group, p.id, ms);
      const last = await p.get(h, n);
      check(last?.name === `User ${n}`, `${p.id}: record ${n} after the insert`);
      await p.close(h);
    }
  }
  for (const p of peers) await p.destroy(`bench-${p.id}-insert`);

  log('loading the query stores');
  const handles = new Map();
  // Counted costs (untimed) of peers that report them (moonvault's stats()).
  const counted = new Map();
  for (const p of peers) {
    const h = await p.create(`bench-${p.id}-main`);
    const before = await p.counters?.(h);
    await p.insert(h, input.get(p));
    const after = await p.counters?.(h);
    if (after) {
      counted.set(p, {
        group: `browser_counters_${size}`,
        id: p.id,
        insert_idb_transactions: after.idbTransactions - before.idbTransactions,
        insert_checkpoints: after.checkpoints - before.checkpoints,
        pages: after.pages,
        page_size: after.pageSize,
        stored_bytes: after.storedBytes,
      });
    }
    handles.set(p, h);
  }

  const queries = [
    [`browser_query_age_gt_60_limit_10_${size}`, 'queryGt60Limit10', 10],
    [`browser_query_age_eq_42_${size}`, 'queryEq42', eqMatches],
  ];
  for (const [g, method, expected] of queries) {
    log(`${g}, ${reps.query} samples`);
    const inner = new Map();
    for (const p of peers) {
      const h = handles.get(p);
      inner.set(
        p,
        await calibrate(
          () => p[method](h),
          (out) => check(out.length === expected, `${p.id}: ${method} gave ${out.length} rows, not ${expected}`),
        ),
      );
    }
    for (let r = 0; r < reps.query; r++) {
      for (const p of peers) {
        const h = handles.get(p);
        const k = inner.get(p);
        const [ms] = await timed(async () => {
          for (let i = 0; i < k; i++) await p[method](h);
        });
        results.add(g, p.id, ms / k);
      }
    }
  }

  const reads = `browser_point_read_${size}`;
  log(`${reads}: 1000 random reads, ${reps.query} samples`);
  for (let r = 0; r <= reps.query; r++) {
    for (const p of peers) {
      const [ms, found] = await timed(() => p.pointReads(handles.get(p), probes));
      check(found === probes.length, `${p.id}: ${found} of ${probes.length} point reads found`);
      if (r > 0) results.add(reads, p.id, ms);
    }
  }

  log(`browser_small_commit: ${reps.commit} samples, with the floor`);
  const fl = await floor();
  const written = randomKeys(n, reps.commit + 1, 7);
  const txBefore = new Map();
  for (const p of peers) txBefore.set(p, (await p.counters?.(handles.get(p)))?.idbTransactions);
  for (let r = 0; r <= reps.commit; r++) {
    const [ms] = await timed(() => fl.commit());
    if (r > 0) results.add('browser_small_commit', 'floor', ms);
    const key = written[r];
    const row = { id: key, name: `User ${key}`, age: 20 + (key % 50), score: -r };
    for (const p of peers) {
      const [ms2] = await timed(() => p.smallCommit(handles.get(p), row));
      if (r > 0) results.add('browser_small_commit', p.id, ms2);
    }
  }
  await fl.close();
  for (const [p, c] of counted) {
    const tx = (await p.counters(handles.get(p))).idbTransactions - txBefore.get(p);
    c.small_commit_idb_transactions = tx / (reps.commit + 1);
  }
  const lastKey = written[reps.commit];

  const opened = `browser_open_first_query_${size}`;
  log(`${opened}: ${reps.open} samples`);
  for (const p of peers) await p.close(handles.get(p));
  for (let r = 0; r <= reps.open; r++) {
    for (const p of peers) {
      const name = `bench-${p.id}-main`;
      let h;
      const [ms, first] = await timed(async () => {
        h = await p.open(name);
        return p.queryGt60Limit10(h);
      });
      check(first.length === 10, `${p.id}: first query after open gave ${first.length} rows`);
      if (r > 0) results.add(opened, p.id, ms);
      if (r === 0) {
        // The small commits were durable: the last one is there after a reopen.
        const row = await p.get(h, lastKey);
        check(row?.score === -reps.commit, `${p.id}: user ${lastKey} after reopen has score ${row?.score}`);
        const c = counted.get(p);
        if (c) {
          // The page cache's hit rate over one round of point reads on a
          // freshly opened store (plus the first query and the get above).
          await p.pointReads(h, probes);
          const st = await p.counters(h);
          c.point_read_cache_hit_rate = st.cacheHitRate;
          c.open_loaded_bytes = st.paging === 'lazy' ? st.jsBytes : st.storedBytes;
        }
      }
      await p.close(h);
    }
  }
  for (const p of peers) await p.destroy(`bench-${p.id}-main`);
  results.extra.push(...counted.values());
  return results.rows();
}

/**
 * moonvault alone, in its own page: load `n` records (in durable batches
 * of 10K), close, reopen, run the queries and the point reads, then read
 * the module's linear memory size. A figure, not a ratio.
 */
export async function runMemory(peer, { n }) {
  await peer.init();
  const name = `bench-${peer.id}-memory`;
  const rows = users(n);
  let h = await peer.create(name);
  const batch = 10000;
  for (let i = 0; i < n; i += batch) {
    const part = rows.slice(i, i + batch);
    await peer.insert(h, peer.prepare ? peer.prepare(part) : part);
  }
  const afterLoad = await peer.linearMemory(h);
  await peer.close(h);
  // Open and the first `age = 42` on the large store (one sample, fresh tab aside).
  const t0 = performance.now();
  h = await peer.open(name);
  const first = await peer.queryEq42(h);
  const openFirstEq42 = performance.now() - t0;
  check(first.length === countAge(n, 42), `memory: ${first.length} rows for the first age = 42`);
  const opened = await peer.stats(h);
  const gt = await peer.queryGt60Limit10(h);
  check(gt.length === 10, `memory: ${gt.length} rows for age > 60 limit 10`);
  const eq = await peer.queryEq42(h);
  check(eq.length === countAge(n, 42), `memory: ${eq.length} rows for age = 42`);
  const found = await peer.pointReads(h, randomKeys(n, 1000, 3));
  check(found === 1000, `memory: ${found} of 1000 point reads`);
  const stats = await peer.stats(h);
  await peer.close(h);
  await peer.destroy(name);
  return {
    group: `browser_wasm_memory_${sizeName(n)}`,
    id: peer.id,
    bytes: stats.linearMemory,
    limit_bytes: stats.linearMemoryLimit,
    bytes_after_load: afterLoad,
    lua_memory: stats.luaMemory,
    pages: stats.pages,
    stored_bytes: stats.storedBytes,
    paging: stats.paging,
    open_first_eq42_ms: openFirstEq42,
    js_bytes_after_first_query: opened.jsBytes,
    js_bytes_after_reads: stats.jsBytes,
  };
}

/** The store a large-open run uses. */
const largeName = (p, n) => `bench-${p.id}-large-${n}`;

/** Writes `n` users (batches of 10K) into a fresh store per peer, then closes it. */
export async function loadLarge(peers, { n }) {
  const rows = users(n);
  for (const p of peers) {
    await p.init?.();
    const h = await p.create(largeName(p, n));
    for (let i = 0; i < n; i += 10000) {
      const part = rows.slice(i, i + 10000);
      await p.insert(h, p.prepare ? p.prepare(part) : part);
    }
    await p.close(h);
  }
}

/**
 * One sample, meant for a fresh page: open the large store and run the
 * first `age = 42`. Returns the time and, for moonvault, the bytes of
 * stored blobs it holds in JS memory afterwards.
 */
export async function probeLarge(peer, { n }) {
  await peer.init?.();
  const t0 = performance.now();
  const h = await peer.open(largeName(peer, n));
  const openMs = performance.now() - t0;
  const eq = await peer.queryEq42(h);
  const ms = performance.now() - t0;
  check(eq.length === countAge(n, 42), `${peer.id}: first age = 42 after open gave ${eq.length} rows`);
  const jsBytes = peer.stats ? (await peer.stats(h)).jsBytes : null;
  await peer.close(h);
  return { ms, openMs, jsBytes };
}

/**
 * For a fresh page: open the large store and report the bytes of stored
 * blobs the peer holds in JS memory right after (before any query).
 */
export async function heldAfterOpen(peer, { n }) {
  await peer.init?.();
  const h = await peer.open(largeName(peer, n));
  const { jsBytes } = await peer.stats(h);
  await peer.close(h);
  return jsBytes;
}

/** Deletes the large stores. */
export async function destroyLarge(peers, { n }) {
  for (const p of peers) await p.destroy(largeName(p, n));
}
