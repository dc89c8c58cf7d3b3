// Temporary: CPU profile of the bench page (moonvault only).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';
const server = await serve();
const profile = mkdtempSync('/tmp/prof/p-');
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu'],
});
const page = await context.newPage();
page.on('console', (m) => console.log('page:', m.text()));
await page.goto(`${server.url}bench/browser/index.html`);
await page.waitForFunction(() => window.benchReady === true);
const cdp = await context.newCDPSession(page);
await cdp.send('Profiler.enable');
await cdp.send('Profiler.setSamplingInterval', { interval: 50 });
await cdp.send('Profiler.start');
const rows = await page.evaluate((c) => window.runBench(c), { peers: ['moonvault'], n: 10000, reps: { insert: 3, query: 3, commit: 3, open: 1 }, memoryN: 1000 });
const { profile: prof } = await cdp.send('Profiler.stop');
writeFileSync('/tmp/prof/bench.cpuprofile', JSON.stringify(prof));
console.log(JSON.stringify(rows.map((r) => [r.group, r.median_ms])));
await context.close();
server.close?.();
process.exit(0);
