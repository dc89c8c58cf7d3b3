// What larger IndexedDB records would save moonvault (DESIGN.md section 8,
// "One record per page"): raw IndexedDB in Debian's Chromium, the same bytes
// written as one record per 1.5 KB page or as 48 KB groups of 32 pages,
// and a read-ahead of 32 pages as a ranged getAll or as one group's get.
//
//   node record-size.mjs [--rounds N]
//
// Prints the median of each (the first two rounds are warm-up).
import { launch } from './chromium.mjs';
import { serve } from './serve.mjs';

const at = process.argv.indexOf('--rounds');
const rounds = at > 0 ? Number(process.argv[at + 1]) : 12;
const server = await serve();
const browser = await launch('record-size');
const { context } = browser;
try {
  const page = await context.newPage();
  await page.goto(`${server.url}bench/browser/index.html`);
  const times = await page.evaluate(async (rounds) => {
    const request = (r) => new Promise((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const done = (tx) => new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onabort = () => reject(tx.error);
    });
    await request(indexedDB.deleteDatabase('record-size'));
    const opening = indexedDB.open('record-size', 1);
    opening.onupgradeneeded = () => {
      opening.result.createObjectStore('single');
      opening.result.createObjectStore('grouped');
    };
    const db = await request(opening);
    // Page-like bytes: mostly repetitive, every seventh byte random.
    let seed = 1;
    const blob = (n) => {
      const a = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        a[i] = i % 7 === 0 ? seed & 255 : i & 63;
      }
      return a;
    };
    const PAGES = 576; const PAGE = 1500; const GROUP = 32;
    const out = { put_576_records_of_1_5kb: [], put_18_records_of_48kb: [], read_32_records_getall: [], read_1_record_of_48kb: [] };
    const timed = async (name, fn) => {
      const t = performance.now();
      await fn();
      out[name].push(performance.now() - t);
    };
    for (let r = 0; r < rounds; r++) {
      const pages = Array.from({ length: PAGES }, () => blob(PAGE));
      const groups = Array.from({ length: PAGES / GROUP }, () => blob(PAGE * GROUP));
      await timed('put_576_records_of_1_5kb', () => {
        const tx = db.transaction('single', 'readwrite', { durability: 'strict' });
        pages.forEach((p, i) => tx.objectStore('single').put(p, r * 1000 + i));
        return done(tx);
      });
      await timed('put_18_records_of_48kb', () => {
        const tx = db.transaction('grouped', 'readwrite', { durability: 'strict' });
        groups.forEach((g, i) => tx.objectStore('grouped').put(g, r * 1000 + i));
        return done(tx);
      });
      const first = r * 1000 + 100;
      await timed('read_32_records_getall', () =>
        request(db.transaction('single', 'readonly').objectStore('single').getAll(IDBKeyRange.bound(first, first + GROUP - 1))));
      await timed('read_1_record_of_48kb', () =>
        request(db.transaction('grouped', 'readonly').objectStore('grouped').get(r * 1000 + 3)));
    }
    db.close();
    return out;
  }, rounds);
  for (const [name, xs] of Object.entries(times)) {
    const sorted = xs.slice(2).sort((a, b) => a - b);
    console.log(`${name}: median ${sorted[sorted.length >> 1].toFixed(2)} ms over ${sorted.length} rounds`);
  }
} finally {
  await browser.close();
  server.close();
}
