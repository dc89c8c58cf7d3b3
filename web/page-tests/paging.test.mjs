// Lazy paging (DESIGN.md section 8, "Reads: lazy paging") in headless
// Chromium: a store read through many page misses with a JS page cache far
// smaller than the store, writes between misses, the same store opened
// lazily, mirrored and lazily again, and the paging options. Runs on the
// page's thread and in Worker mode. Under MOONVAULT_BUILD=mirror (the build
// without JS Promise Integration) lazy paging must be refused instead.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { blankPage, BUILD, buildOpts, closeBlankPage } from './browser.mjs';

let session;
let page;
before(async () => {
  ({ session, page } = await blankPage());
});
after(() => closeBlankPage(session));

/** Runs `body` (an async function source with `mv` and `opts` in scope) in the page. */
function inPage(body, opts) {
  return page.evaluate(
    async ([body, opts]) => {
      const mv = await import('/pkg/moonvault.js');
      // eslint-disable-next-line no-new-func
      return new Function('mv', 'opts', `return (async () => { ${body} })()`)(mv, opts);
    },
    [body, opts],
  );
}

// One chunk: several chunks writing into one large table currently run
// the module out of memory (a separate bug, on main too).
const RECORDS = 6000;

for (const mode of ['page', 'worker']) {
  const opts = { worker: mode === 'worker', ...buildOpts };
  const named = (title) => `${title} (${mode === 'worker' ? 'Worker mode' : 'page thread'})`;

  test(named('lazy paging: a store far larger than the page cache reads and writes through misses'), { skip: BUILD === 'mirror' }, async () => {
    const r = await inPage(`
      const name = 'paging-' + opts.worker;
      await mv.Moonvault.delete(name, opts);
      let db = await mv.Moonvault.open(name, opts);
      await db.compute('Memory.users = {} for i = 1, ${RECORDS} do Memory.users[i] = {name = "user " .. i, age = i % 80, bio = string.rep("x", i % 50)} end');
      await db.createIndex('users', 'age');
      await db.close();

      const sum = 'local s, n = 0, 0 for _, u in pairs(Memory.users) do s = s + u.age + #u.bio n = n + 1 end return s, n';
      const out = {};
      db = await mv.Moonvault.open(name, { ...opts, paging: 'lazy', pageCacheBytes: 65536 });
      const opened = await db.stats();
      out.paging = opened.paging;
      out.openJs = opened.jsBytes;
      out.stored = opened.storedBytes;
      out.lazySum = await db.compute(sum);
      out.afterScan = (await db.stats()).jsBytes;
      // Writes between misses: every 97th record, then read them back.
      await db.compute('for i = 1, ${RECORDS}, 97 do Memory.users[i].age = 1000 + i end');
      out.written = await db.compute('local s = 0 for i = 1, ${RECORDS}, 97 do s = s + Memory.users[i].age end return s');
      out.eq = (await db.query('users', { where: [['age', '=', 1000 + 97 * 3 + 1]] })).map((x) => x.key);
      out.get = await db.get(['users', 5]);
      // Gets of records all over the store: most miss the cache, so the
      // plain call gives up and the get waits for IndexedDB.
      out.cold = [];
      for (let i = 7; i <= ${RECORDS}; i += 499) out.cold.push((await db.get(['users', i])).bio.length);
      // A get made while a set is still pending sees the set.
      const setting = db.set(['users', 3, 'age'], 4242);
      out.afterSet = (await db.get(['users', 3])).age;
      await setting;
      out.check = (await db.check()).entries > 0;
      out.lazySum2 = await db.compute(sum);
      await db.close();
      // The same store mirrored, then lazily again: the same data.
      db = await mv.Moonvault.open(name, { ...opts, paging: 'mirror' });
      out.mirror = (await db.stats()).paging;
      out.mirrorSum = await db.compute(sum);
      await db.compute('Memory.users[2].age = 7');
      await db.close();
      db = await mv.Moonvault.open(name, { ...opts, paging: 'lazy', pageCacheBytes: 65536 });
      out.lazyAgain = await db.compute('return Memory.users[2].age');
      out.lazySum3 = await db.compute(sum);
      await db.close();
      await mv.Moonvault.delete(name, opts);
      return out;
    `, opts);
    let ages = 0;
    let bios = 0;
    for (let i = 1; i <= RECORDS; i++) { ages += i % 80; bios += i % 50; }
    assert.equal(r.paging, 'lazy');
    assert.deepEqual(r.lazySum, [ages + bios, RECORDS]);
    // The store is several times the cache; what JS holds stays near the cache's bound.
    assert.ok(r.stored > 4 * 65536, `store of ${r.stored} bytes`);
    assert.ok(r.afterScan < 65536 + 64 * 1024, `JS held ${r.afterScan} bytes after the scan`);
    let written = 0;
    for (let i = 1; i <= RECORDS; i += 97) written += 1000 + i;
    assert.equal(r.written, written);
    assert.deepEqual(r.eq, [97 * 3 + 1]);
    assert.deepEqual(r.get, { name: 'user 5', age: 5, bio: 'xxxxx' });
    const cold = [];
    for (let i = 7; i <= RECORDS; i += 499) cold.push(i % 50);
    assert.deepEqual(r.cold, cold);
    assert.equal(r.afterSet, 4242);
    assert.ok(r.check);
    assert.deepEqual(r.lazySum2, r.mirrorSum);
    assert.equal(r.mirror, 'mirror');
    assert.equal(r.lazyAgain, 7);
    assert.equal(r.lazySum3[1], RECORDS);
  });

  test(named('lazy open lists page keys only past a stray, reads only what recovery needs, and still deletes orphaned pages'), { skip: BUILD === 'mirror' }, async () => {
    const r = await inPage(`
      const name = 'paging-open-' + opts.worker;
      await mv.Moonvault.delete(name, opts);
      let db = await mv.Moonvault.open(name, { ...opts, paging: 'mirror' });
      await db.compute('Memory.users = {} for i = 1, 3000 do Memory.users[i] = {name = "user " .. i, age = i % 80} end');
      const before = await db.stats();
      await db.close();

      // Raw IndexedDB: the store's page keys, and stray pages (page 0, a
      // page far past the allocation) as a crashed commit could leave.
      const idb = (fn) => new Promise((resolve, reject) => {
        const open = indexedDB.open('moonvault:' + name);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const conn = open.result;
          const tx = conn.transaction('pages', 'readwrite');
          const got = fn(tx.objectStore('pages'));
          tx.oncomplete = () => { conn.close(); resolve(got.result); };
          tx.onabort = () => { conn.close(); reject(tx.error); };
        };
      });
      // The store's pages as IndexedDB holds them: singles in 'pages',
      // runs in 'groups' records whose live pages 'members' names (DESIGN.md
      // section 8, "Page groups"). Returns [page count, bytes of meta +
      // pages + wal].
      const logical = () => new Promise((resolve, reject) => {
        const open = indexedDB.open('moonvault:' + name);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const conn = open.result;
          const names = ['meta', 'pages', 'wal', 'groups', 'members'];
          const tx = conn.transaction(names, 'readonly');
          const reqs = names.map((n) => [tx.objectStore(n).getAllKeys(), tx.objectStore(n).getAll()]);
          tx.oncomplete = () => {
            conn.close();
            const [meta, pages, wal, groups, members] = reqs.map(([k, v]) => [k.result, v.result]);
            const sizes = new Map(pages[0].map((k, i) => [k, pages[1][i].byteLength]));
            // One record per 4096 page ids: [u16 offset, u32 mask] a group.
            const masks = new Map();
            members[0].forEach((chunk, i) => {
              const r = members[1][i];
              const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
              for (let at = 0; at < r.byteLength; at += 6) masks.set(chunk * 4096 + v.getUint16(at, true), v.getUint32(at + 2, true));
            });
            groups[0].forEach((first, g) => {
              const record = groups[1][g];
              const view = new DataView(record.buffer, record.byteOffset);
              for (let i = 0; i < record[2]; i++) {
                if ((masks.get(first) >>> i) & 1) sizes.set(first + i, view.getUint32(4 + 4 * i, true));
              }
            });
            const sum = (vs) => vs.reduce((b, v) => b + v.byteLength, 0);
            let bytes = sum(meta[1]) + sum(wal[1]);
            for (const n of sizes.values()) bytes += n;
            resolve([sizes.size, bytes]);
          };
          tx.onabort = () => { conn.close(); reject(tx.error); };
        };
      });
      const keysBefore = (await logical())[0];

      // Opens the store lazily, counting what the open asks of the pages
      // object store (page thread: the Worker's IndexedDB is not this one,
      // so only counted here).
      const countedOpen = async () => {
        const asked = { getAll: 0, get: 0, cursor: 0, keyCursor: 0, count: 0, keysListed: 0, listings: 0, runs: 0, groups: 0 };
        const proto = IDBObjectStore.prototype;
        const saved = { getAll: proto.getAll, getAllKeys: proto.getAllKeys, get: proto.get, openCursor: proto.openCursor, openKeyCursor: proto.openKeyCursor, count: proto.count };
        // A run of pages is a getAllKeys and a getAll over one key range
        // (with a count, or over a bounded span); a listing is a
        // getAllKeys alone.
        const keyReads = [];
        proto.getAll = function (...a) {
          if (this.name === 'pages') {
            asked.getAll++;
            const keys = keyReads.findLast((k) => k.range === a[0]);
            if (keys) keys.run = true;
          }
          return saved.getAll.apply(this, a);
        };
        proto.get = function (...a) {
          if (this.name === 'pages') asked.get++;
          if (this.name === 'groups') asked.groups++;
          return saved.get.apply(this, a);
        };
        proto.openCursor = function (...a) { if (this.name === 'pages') asked.cursor++; return saved.openCursor.apply(this, a); };
        proto.openKeyCursor = function (...a) { if (this.name === 'pages') asked.keyCursor++; return saved.openKeyCursor.apply(this, a); };
        proto.count = function (...a) { if (this.name === 'pages') asked.count++; return saved.count.apply(this, a); };
        proto.getAllKeys = function (...a) {
          const req = saved.getAllKeys.apply(this, a);
          if (this.name === 'pages') keyReads.push({ range: a[0], req, run: false });
          return req;
        };
        try {
          db = await mv.Moonvault.open(name, { ...opts, paging: 'lazy' });
        } finally {
          Object.assign(proto, saved);
        }
        for (const k of keyReads) {
          if (k.run) {
            asked.runs++;
          } else {
            asked.listings++;
            asked.keysListed += k.req.result.length;
          }
        }
        return { ...asked };
      };
      const clean = await countedOpen();
      await db.close();
      await idb((s) => { s.put(new Uint8Array([1, 2, 3]), 0); return s.put(new Uint8Array([4]), 1e9); });
      const asked = await countedOpen();
      const out = { clean, asked, pagesBefore: before.pages, storedBefore: before.storedBytes };
      const after = await db.stats();
      out.pagesAfter = after.pages;
      out.storedAfter = after.storedBytes;
      out.sum = await db.compute('local s = 0 for i = 1, 3000 do s = s + Memory.users[i].age end return s');
      // Writes after the sizes were learned, then what IndexedDB holds.
      await db.compute('for i = 3001, 3200 do Memory.users[i] = {name = "more", age = 1} end Memory.users[5] = nil');
      await db.compute('for i = 1, 3200, 3 do Memory.users[i] = nil end');
      // Those two commit through the WAL; the pages they spilled are held
      // until the next superblock. One transaction too large for the WAL
      // commits by checkpoint, which sends them.
      await db.compute('for i = 3201, 5000 do Memory.users[i] = {name = "last", age = 2} end');
      await db.flush();
      const written = await db.stats();
      out.lazyWritten = [written.pages, written.storedBytes];
      out.raw = await logical();
      await db.close();
      out.keysBefore = keysBefore;
      out.strays = (await idb((s) => s.getAllKeys())).filter((k) => k === 0 || k === 1e9);
      // A stray past 2^53 - 1 has its decimal string as key, which
      // IndexedDB orders after every number, as text: the greatest key
      // then tells nothing, and the open lists page keys instead.
      await idb((s) => s.put(new Uint8Array([5]), '9007199254740993'));
      out.far = await countedOpen();
      out.farLast = await db.compute('return Memory.users[5000].name');
      await db.close();
      out.farStrays = (await idb((s) => s.getAllKeys())).filter((k) => typeof k !== 'number');
      await mv.Moonvault.delete(name, opts);
      return out;
    `, opts);
    if (!opts.worker) {
      // The open's own transaction asks whether page 0 exists and for the
      // greatest page key (LoadEdges in web/src/idb/lazy.rs). A store
      // without strays then needs no listing; with them, one (ids past the
      // allocation) finds the far stray, and page 0 was known. The
      // catalog's pages came in a run or two of singles around a missed
      // page, or a group record or two.
      console.log(`# lazy open: ${r.clean.runs} runs of singles and ${r.clean.groups} group records read (clean), ${r.asked.runs} and ${r.asked.groups} (strays)`);
      for (const [asked, listed] of [[r.clean, 0], [r.asked, 1]]) {
        const { runs, getAll, groups, ...rest } = asked;
        assert.deepEqual(rest, { get: 0, cursor: 0, keyCursor: 1, count: 1, keysListed: listed, listings: listed });
        assert.equal(getAll, runs);
        assert.ok(runs + groups >= 1 && runs + groups <= 3, `${runs} runs of pages and ${groups} groups read at open`);
      }
      assert.equal(r.far.keyCursor, 1);
      assert.ok(r.far.listings >= 1, `${r.far.listings} listings with a string key past 2^53 - 1`);
    }
    assert.deepEqual(r.farStrays, [], 'the stray with a string key was deleted at open');
    assert.equal(r.farLast, 'last');
    assert.deepEqual(r.strays, [], 'the stray pages were deleted at open');
    assert.equal(r.pagesAfter, r.pagesBefore);
    assert.equal(r.storedAfter, r.storedBefore);
    assert.equal(r.pagesBefore, r.keysBefore);
    let ages = 0;
    for (let i = 1; i <= 3000; i++) ages += i % 80;
    assert.equal(r.sum, ages);
    assert.deepEqual(r.lazyWritten, r.raw, 'pages and bytes after writes, as IndexedDB holds them');
  });

  // A load in batches leaves the top of the tree as singles (each batch's
  // commit copies the branches and the catalog's leaf into free ids, too
  // few in a row for a group: ten batches, since format 4's stores are
  // smaller and three batches left the top in groups), and a commit copies
  // a leaf before the branches above it, lowest free ids first: the root,
  // read first by a cold descent, has the highest id of its path, and a
  // miss also reads the singles just below it (READ_BEHIND in
  // web/src/idb/lazy.rs; with none this store took three runs). Counted on
  // the page's IndexedDB, so on the page thread only.
  test(named('a cold open and first read fetch the top of the tree in one run of singles'), { skip: BUILD === 'mirror' || opts.worker }, async () => {
    const r = await inPage(`
      const name = 'paging-path-' + opts.worker;
      await mv.Moonvault.delete(name, opts);
      let db = await mv.Moonvault.open(name, opts);
      await db.createIndex('users', 'age');
      for (let b = 0; b < 10; b++) {
        const ops = [];
        for (let i = b * 3000 + 1; i <= (b + 1) * 3000; i++) ops.push({ type: 'set', table: 'users', key: i, value: { name: 'user ' + i, age: i % 80, score: 0 } });
        await db.batchTableOperations(ops);
      }
      await db.close();

      const proto = IDBObjectStore.prototype;
      const saved = { getAll: proto.getAll, get: proto.get };
      const asked = { runs: 0, groups: 0 };
      proto.getAll = function (...a) { if (this.name === 'pages') asked.runs++; return saved.getAll.apply(this, a); };
      proto.get = function (...a) { if (this.name === 'groups') asked.groups++; return saved.get.apply(this, a); };
      let user;
      try {
        db = await mv.Moonvault.open(name, { ...opts, paging: 'lazy' });
        user = await db.get(['users', 3030]);
      } finally {
        Object.assign(proto, saved);
      }
      await db.close();
      await mv.Moonvault.delete(name, opts);
      return { asked, user };
    `, opts);
    console.log(`# cold open + get: ${r.asked.runs} runs of singles, ${r.asked.groups} group records`);
    assert.deepEqual(r.user, { name: 'user 3030', age: 3030 % 80, score: 0 });
    assert.equal(r.asked.runs, 1, 'the root and the pages under it came in one run of singles');
  });

  test(named('paging options are checked'), async () => {
    const r = await inPage(`
      const out = {};
      for (const bad of [{ paging: 'sometimes' }, { pageCacheBytes: 1000 }, { pageCacheBytes: 1.5e6 + 0.5 }]) {
        try { await mv.Moonvault.open('paging-opts', { ...opts, ...bad }); out[JSON.stringify(bad)] = 'opened'; }
        catch (e) { out[JSON.stringify(bad)] = e.name; }
      }
      try {
        const db = await mv.Moonvault.open('paging-opts', { ...opts, paging: 'lazy' });
        out.lazy = (await db.stats()).paging;
        await db.close();
      } catch (e) { out.lazy = e.name + ': ' + e.message; }
      const db = await mv.Moonvault.open('paging-opts', opts);
      out.auto = (await db.stats()).paging;
      await db.close();
      return out;
    `, opts);
    assert.equal(r['{"paging":"sometimes"}'], 'InvalidArgumentError');
    assert.equal(r['{"pageCacheBytes":1000}'], 'InvalidArgumentError');
    assert.equal(r['{"pageCacheBytes":1500000.5}'], 'InvalidArgumentError');
    if (BUILD === 'mirror') {
      assert.match(r.lazy, /^InvalidArgumentError: paging 'lazy' needs JavaScript Promise Integration/);
      assert.equal(r.auto, 'mirror');
    } else {
      assert.equal(r.lazy, 'lazy');
      assert.equal(r.auto, 'lazy');
    }
  });
}
