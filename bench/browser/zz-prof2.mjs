import { mkdtempSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';
const server = await serve();
const profile = mkdtempSync('/tmp/prof/p-');
const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const page = await context.newPage();
page.on('console', (m) => console.log('page:', m.text()));
await page.goto(`${server.url}bench/browser/index.html`);
await page.waitForFunction(() => window.benchReady === true);
await page.evaluate(async () => {
  const { moonvault } = await import('./src/peers/moonvault.js');
  const { users, randomKeys } = await import('./src/data.js');
  await moonvault.init();
  const h = await moonvault.create('zz-prof');
  await moonvault.insert(h, moonvault.prepare(users(10000)));
  window.zz = { p: moonvault, h, keys: randomKeys(10000, 1000, 3) };
});
const cdp = await context.newCDPSession(page);
await cdp.send('Profiler.enable');
await cdp.send('Profiler.setSamplingInterval', { interval: 25 });
await cdp.send('Profiler.start');
const ms = await page.evaluate(async (what) => {
  const { p, h, keys } = window.zz;
  const t = performance.now();
  for (let r = 0; r < 20; r++) {
    if (what === 'point') await p.pointReads(h, keys); else await p.queryEq42(h);
  }
  return (performance.now() - t) / 20;
}, process.argv[2] ?? 'point');
const { profile: prof } = await cdp.send('Profiler.stop');
writeFileSync('/tmp/prof/p2.cpuprofile', JSON.stringify(prof));
console.log('ms per rep', ms);
await context.close();
process.exit(0);
