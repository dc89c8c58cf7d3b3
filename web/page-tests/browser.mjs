// Shared by the page tests: Debian's Chromium through playwright-core
// (never a downloaded browser), a fresh profile per test, and the demo
// server on a free port.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from '../demo/serve.mjs';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * MOONVAULT_BUILD=mirror runs every test on the module build without JS
 * Promise Integration (pages mirrored at open), as browsers without JSPI
 * do; unset, the package picks the JSPI build (lazy paging) in Chromium.
 */
export const BUILD = process.env.MOONVAULT_BUILD || undefined;
/** Open options that pick BUILD (none when unset). */
export const buildOpts = BUILD ? { build: BUILD } : {};

// The flags this machine needs (see WASM_TOOLCHAIN.md): without the
// background-networking ones Chromium keeps dialling Google's hosts.
export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** The main Chromium process using `profile` (not its renderers and helpers). */
async function browserPids(profile) {
  const pids = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (args.includes(`--user-data-dir=${profile}`) && !args.some((a) => a.startsWith('--type='))) {
      pids.push(Number(entry));
    }
  }
  return pids;
}

/** Parent pid and state of every process (from /proc/PID/stat). */
async function processTable() {
  const table = new Map();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (ppid) table.set(Number(entry), { state, ppid: Number(ppid) });
  }
  return table;
}

/** `roots` and every process descending from them. */
async function descendants(roots) {
  const table = await processTable();
  const all = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, { ppid }] of table) {
      if (all.has(ppid) && !all.has(pid)) {
        all.add(pid);
        grew = true;
      }
    }
  }
  return [...all];
}

/** Waits until none of `pids` runs any more (exited or a zombie). */
async function waitGone(pids, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const table = await processTable();
    const alive = pids.filter((p) => table.has(p) && table.get(p).state !== 'Z');
    if (alive.length === 0) return;
    if (Date.now() > deadline) throw new Error(`Chromium processes ${alive.join(', ')} outlived SIGKILL`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// What Chromium logs when it finds its own IndexedDB files (LevelDB)
// damaged; it then discards the origin's databases or fails to open them.
const IDB_DAMAGE = /indexed_db.*(corruption|Failed to open LevelDB)/i;

/**
 * A browser on a fresh --user-data-dir; `restart()` reopens the same profile.
 *
 * A profile survives at most one kill. A kill can cut LevelDB's log (under
 * Chromium's IndexedDB) in the middle of a record; the next browser reads
 * past the torn tail, but reuses that log and appends after it, so the open
 * after that finds a checksum mismatch and Chromium discards the origin's
 * IndexedDB data (google/leveldb#1287, the `reuse_logs` option). A second
 * kill on one profile would test that Chromium bug, not moonvault, and fail
 * at random: `restart({kill: true})` refuses it. `idbDamage()` lists
 * what Chromium reported about damaged IndexedDB files.
 */
export async function launch() {
  const profile = await mkdtemp(join(tmpdir(), 'moonvault-page-'));
  // Chromium logs to chrome_debug.log in the profile (--enable-logging):
  // what it says of damaged IndexedDB files is read from there.
  const start = () =>
    chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...FLAGS, '--enable-logging'],
    });
  let killed = false;
  const session = {
    profile,
    context: await start(),
    /** What Chromium logged so far about damaged IndexedDB files of this profile. */
    async idbDamage() {
      const log = await readFile(join(profile, 'chrome_debug.log'), 'utf8').catch(() => '');
      return log.split('\n').filter((line) => IDB_DAMAGE.test(line));
    },
    /** Stops the browser (gracefully, or by SIGKILL: a crash, once per profile) and starts it again on the same profile. */
    async restart({ kill = false } = {}) {
      if (kill) {
        if (killed) {
          throw new Error(
            'this profile went through a kill already: launch() a fresh one per kill (see launch())',
          );
        }
        killed = true;
        // A crash takes the whole browser down: the main process and its
        // helpers, among them the storage service that runs IndexedDB. Killing
        // the main process alone would leave that service running on the
        // profile's files while the next browser opens them.
        const main = await browserPids(profile);
        if (main.length === 0) throw new Error(`no Chromium process found for ${profile}`);
        const tree = await descendants(main);
        for (const pid of tree) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
        await waitGone(tree);
        await session.context.close().catch(() => {});
      } else {
        await session.context.close();
      }
      session.context = await start();
      return session.context;
    },
    async close() {
      await session.context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
  return session;
}

let server = null;
/** The demo server (started once per test file). */
export async function demoServer() {
  server ??= await serve({ port: 0 });
  return server;
}

/**
 * A browser and one page on the blank test page, for a test file's
 * `before`: page errors fail the test. Close with `closeBlankPage(session)`.
 */
export async function blankPage() {
  const session = await launch();
  const { url } = await demoServer();
  const page = await session.context.newPage();
  page.on('pageerror', (e) => { throw e; });
  await page.goto(`${url}/page-tests/blank.html`);
  return { session, page };
}

/** Closes what `blankPage` opened, and the demo server. */
export async function closeBlankPage(session) {
  await session?.close();
  await (await demoServer()).close();
}

/** Opens the demo on store `store` (`worker`: in Worker mode); resolves once it opened (or failed to). */
export async function openDemo(context, store, { expectError = false, worker = false } = {}) {
  const { url } = await demoServer();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  const build = BUILD ? `&build=${BUILD}` : '';
  await page.goto(`${url}/demo/?store=${encodeURIComponent(store)}${worker ? '&worker=1' : ''}${build}`);
  await page.waitForFunction(() => window.moonvaultDemo);
  const outcome = await page.evaluate(() =>
    window.moonvaultDemo.ready.then(() => 'open', (e) => `${e.name}: ${e.message}`),
  );
  if (!expectError && outcome !== 'open') throw new Error(`demo did not open: ${outcome}`);
  page.pageErrors = errors;
  return { page, outcome };
}

/** Runs Lua through the demo's editor and Run button; resolves to the console's new text. */
export async function runInEditor(page, code) {
  const before = await page.locator('#console').innerText();
  await page.fill('#code', code);
  await page.click('#run');
  await page.waitForFunction(
    (n) => {
      const text = document.getElementById('console').innerText;
      return text.length > n && /\n[=!] /.test(text.slice(n));
    },
    before.length,
  );
  return (await page.locator('#console').innerText()).slice(before.length);
}
