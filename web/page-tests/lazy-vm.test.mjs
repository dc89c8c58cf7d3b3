// The Lua VM is created by a store's first call that runs Lua (DESIGN.md
// section 8, "The Lua VM, on first use"): a store used only through the
// data calls never creates it, compute afterwards sees their writes, and
// the VM gets the options the store was opened with, while the options
// are still checked and the memory reserved at open. On the page's thread
// and in a Worker.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { blankPage, closeBlankPage } from './browser.mjs';

let session;
let page;
before(async () => {
  ({ session, page } = await blankPage());
});
after(() => closeBlankPage(session));

for (const worker of [false, true]) {
  const named = (title) => `${title} (${worker ? 'Worker mode' : 'page thread'})`;

  test(named('data calls never create the Lua VM; compute then sees their writes'), async () => {
    const r = await page.evaluate(async (worker) => {
      const { Moonvault } = await import('/pkg/moonvault.js');
      const name = 'lazy-vm-data';
      await Moonvault.delete(name).catch(() => {});
      const started = async (db) => (await db.stats()).luaStarted;
      const out = { seen: [] };
      let db = await Moonvault.open(name, { worker });
      try {
        out.seen.push(['open', await started(db), (await db.stats()).luaMemory]);
        await db.set('users', { u1: { age: 31, name: 'ann' }, u2: { age: 42, name: 'bob' } });
        await db.batch([{ op: 'set', path: 'list', value: [1, 2, 3] }, { op: 'set', path: 'gone', value: 1 }]);
        await db.batchTableOperations([{ type: 'set', table: 'users', key: 'u3', value: { age: 42, name: 'cy' } }]);
        await db.delete('gone');
        await db.createIndex('users', 'age');
        out.query = (await db.query('users', { where: [['age', '=', 42]] })).map((e) => e.key).sort();
        out.listed = (await db.list('users')).entries.length;
        out.checked = (await db.check()).entries > 0;
        out.exported = (await db.export()).length > 0;
        await db.stats({ deep: true });
        out.seen.push(['data calls', await started(db)]);
        await db.close();
        db = await Moonvault.open(name, { worker });
        out.reopened = await db.get('users.u2.name');
        out.seen.push(['reopen + get', await started(db)]);
        out.fromLua = await db.compute(
          'return Memory.users.u1.age, #Memory.list, Memory.gone, Memory.users.u3.name',
        );
        const stats = await db.stats();
        out.seen.push(['compute', stats.luaStarted, stats.luaMemory]);
        // Data calls go on working next to the VM, and the VM sees them.
        await db.set('users.u1.age', 32);
        out.after = await db.compute('return Memory.users.u1.age');
      } finally {
        if (!db.closed) await db.close();
      }
      return out;
    }, worker);
    assert.deepEqual(r.seen.slice(0, 3).map(([what, s]) => [what, s]), [
      ['open', false],
      ['data calls', false],
      ['reopen + get', false],
    ]);
    assert.equal(r.seen[0][2], 0, 'no Lua heap before the VM exists');
    assert.equal(r.seen[3][1], true, 'compute created the VM');
    assert.ok(r.seen[3][2] > 0, 'the VM has a heap');
    assert.deepEqual(r.query, ['u2', 'u3']);
    assert.equal(r.listed, 3);
    assert.ok(r.checked && r.exported);
    assert.equal(r.reopened, 'bob');
    assert.deepEqual(r.fromLua, [31, 3, null, 'cy']);
    assert.equal(r.after, 32);
  });

  test(named('the VM made on first use gets the open options; they are still checked at open'), async () => {
    const r = await page.evaluate(async (worker) => {
      const { Moonvault } = await import('/pkg/moonvault.js');
      const out = {};
      const fail = async (f) => {
        try {
          await f();
          return 'no error';
        } catch (e) {
          return `${e.name}: ${e.message}`;
        }
      };
      // A bad memoryLimit still fails at open, before any Lua runs.
      out.badLimit = await fail(() => Moonvault.open('lazy-vm-bad', { worker, memoryLimit: 1 }));
      // The reservation is taken at open: a store at the largest Lua heap
      // leaves no room for a second one in the module, VM or not (in
      // Worker mode each store has a module of its own).
      const big = await Moonvault.open('lazy-vm-big', { worker, memoryLimit: 1280 * 1024 });
      out.second = await fail(async () => (await Moonvault.open('lazy-vm-second', { worker })).close());
      out.bigStarted = (await big.stats()).luaStarted;
      await big.close();
      // untrusted, limits, print and the smallest memoryLimit, all applied
      // to a VM created after data calls.
      const printed = [];
      await Moonvault.delete('lazy-vm-opts').catch(() => {});
      const db = await Moonvault.open('lazy-vm-opts', {
        worker,
        untrusted: true,
        maxInstructions: 100000,
        memoryLimit: 64 * 1024,
        print: (line) => printed.push(line),
      });
      await db.set('n', 7);
      out.beforeLua = (await db.stats()).luaStarted;
      out.n = await db.compute('print("n is", Memory.n) return Memory.n');
      out.printed = printed;
      try {
        out.binary = await db.compute('local f, err = load(string.dump(function() return 1 end)) return f == nil, err');
        out.runaway = await fail(() => db.compute('while true do end'));
        out.memory = await fail(() => db.compute('local t = {} for i = 1, 1e6 do t[i] = i end'));
        out.limit = (await db.stats()).luaMemoryLimit;
      } finally {
        await db.close();
      }
      // setSchema, migrate and persistFunction run Lua: each creates the VM.
      out.luaCalls = [];
      for (const [what, call] of [
        ['setSchema', (d) => d.setSchema('users', { age: { type: 'integer' } })],
        ['migrate', (d) => d.migrate(1, ['Memory.v = 1'])],
        ['persistFunction', (d) => d.persistFunction('fns', 'add', 'function(a, b) return a + b end')],
      ]) {
        await Moonvault.delete('lazy-vm-calls').catch(() => {});
        const d = await Moonvault.open('lazy-vm-calls', { worker });
        try {
          await call(d);
          out.luaCalls.push([what, (await d.stats()).luaStarted]);
        } finally {
          await d.close();
        }
      }
      return out;
    }, worker);
    assert.match(r.badLimit, /^InvalidArgumentError: .*memoryLimit/);
    assert.match(r.second, worker ? /^no error$/ : /^MemoryBudgetError/);
    assert.equal(r.bigStarted, false);
    assert.equal(r.beforeLua, false);
    assert.equal(r.n, 7);
    assert.deepEqual(r.printed, ['n is\t7']);
    assert.equal(r.binary[0], true, 'untrusted: the VM loads no binary chunk');
    assert.match(r.binary[1], /binary/);
    assert.match(r.runaway, /^LimitError/);
    assert.match(r.memory, /^LuaError: not enough memory/);
    assert.equal(r.limit, 64 * 1024);
    assert.deepEqual(r.luaCalls, [
      ['setSchema', true],
      ['migrate', true],
      ['persistFunction', true],
    ]);
  });
}
