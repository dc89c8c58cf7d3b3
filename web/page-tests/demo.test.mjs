// The demo page in headless Chromium: run Lua, reload, and find data and
// functions again; a second tab gets the lock error. Each test runs on the
// page's thread and in Worker mode (the demo's ?worker=1).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoServer, launch, openDemo, runInEditor } from './browser.mjs';

let session;
before(async () => { session = await launch(); });
after(async () => {
  await session?.close();
  await (await demoServer()).close();
});

for (const worker of [false, true]) {
  const mode = worker ? 'Worker mode' : 'page thread';

  test(`the demo runs Lua; after a reload and a browser restart data and functions are still there (${mode})`, async () => {
    const { page } = await openDemo(session.context, `reload-${worker}`, { worker });
    let out = await runInEditor(
      page,
      `Memory.greeting = "hello"
  local base = 40
  Memory.add = function(a, b) return a + b + base - 40 end
  Memory.users = {alice = {age = 31}, bob = {age = 67}}
  print("printed", 1 + 1)
  return Memory.add(2, 3)`,
    );
    assert.match(out, /printed\t2/);
    assert.match(out, /= 5 /);
    await page.waitForFunction(() => document.getElementById('tree').innerText.includes('greeting'));
    const tree = await page.locator('#tree').innerText();
    assert.match(tree, /greeting = "hello"/);
    assert.match(tree, /add = function/);
    assert.match(tree, /users\s+table \(2\)/);
    const stats = await page.locator('#stats').innerText();
    assert.match(stats, /records in Memory\s+3/);
    assert.match(stats, /compression ratio\s+[0-9.]+ : 1/);

    await page.reload();
    await page.evaluate(() => window.moonvaultDemo.ready);
    out = await runInEditor(page, 'return Memory.add(20, 22), Memory.greeting, Memory.users.bob.age');
    assert.match(out, /= \{42, "hello", 67\}/);

    await session.restart();
    const again = await openDemo(session.context, `reload-${worker}`, { worker });
    out = await runInEditor(again.page, 'return Memory.add(1, 1)');
    assert.match(out, /= 2 /);
    assert.deepEqual(again.page.pageErrors, []);
  });

  test(`a second tab on the same store gets a clear lock error, and gets in once the first closes (${mode})`, async () => {
    const first = await openDemo(session.context, `two-tabs-${worker}`, { worker });
    const second = await openDemo(session.context, `two-tabs-${worker}`, { expectError: true, worker });
    assert.match(second.outcome, /^LockedError: .*open in another tab/);
    const banner = await second.page.locator('#status').innerText();
    assert.match(banner, /LockedError/);
    assert.equal(await second.page.locator('#run').isDisabled(), true);
    // The first tab is unaffected.
    assert.match(await runInEditor(first.page, 'Memory.x = 1 return Memory.x'), /= 1 /);
    await first.page.close();
    await second.page.reload();
    const outcome = await second.page.evaluate(() =>
      window.moonvaultDemo.ready.then(() => 'open', (e) => e.name),
    );
    assert.equal(outcome, 'open');
    assert.match(await runInEditor(second.page, 'return Memory.x'), /= 1 /);
  });
}
