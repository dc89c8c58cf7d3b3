// The package as a developer consumes it: `npm pack` of web/pkg unpacked
// into a fresh app's node_modules, then (1) a production build with Vite
// and (2) a plain `<script type="module">` page importing the files as
// they are, each running the README's five-minute path (open, compute,
// query, close, an error class) on the page's thread and in Worker mode,
// in headless Chromium. Under MOONVAULT_BUILD=mirror the scenario asks
// for the build without JSPI, so both module builds are loaded from the
// installed package, bundled and not.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { BUILD, launch } from './browser.mjs';
import { serve } from '../demo/serve.mjs';

const pkg = fileURLToPath(new URL('../pkg', import.meta.url));

// The five-minute path of web/js/README.md, for both modes; `mv` is the package.
const SCENARIO = `
window.result = (async () => {
  const out = {};
  const build = ${JSON.stringify(BUILD ? { build: BUILD } : {})};
  for (const worker of [false, true]) {
    const name = 'five-minutes-' + worker;
    await mv.Moonvault.delete(name, { worker, ...build });
    const lines = [];
    const db = await mv.Moonvault.open(name, { worker, ...build, print: (line) => lines.push(line) });
    await db.compute('Memory.users = {} for i = 1, 50 do Memory.users["u" .. i] = {name = "user " .. i, age = 20 + i} end print("stored", 50)');
    await db.createIndex('users', 'age');
    const rows = await db.query('users', { where: [['age', '>', 67]], orderBy: 'age' });
    let error;
    try { await db.compute('error("boom")'); } catch (e) { error = [e.name, e instanceof mv.LuaError, e.luaMessage]; }
    const { paging } = await db.stats();
    await db.close();
    out[worker ? 'worker' : 'page'] = { lines, keys: rows.map((r) => r.key), error, paging, inWorker: db.inWorker === true };
  }
  return out;
})();
`;

let app;
let session;
before(async () => {
  app = await mkdtemp(join(tmpdir(), 'moonvault-app-'));
  // What `npm install moonvault` would unpack: the files the package lists.
  const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', '--json', '--offline', '--ignore-scripts', '--pack-destination', app], { cwd: pkg, encoding: 'utf8' }));
  const into = join(app, 'node_modules', 'moonvault');
  await mkdir(into, { recursive: true });
  execFileSync('tar', ['-xzf', join(app, filename), '-C', into, '--strip-components=1']);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await writeFile(join(app, 'main.js'), `import * as mv from 'moonvault';\n${SCENARIO}`);
  await writeFile(join(app, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="./main.js"></script>');
  await writeFile(join(app, 'plain.html'),
    `<!doctype html><meta charset="utf-8"><script type="module">import * as mv from './node_modules/moonvault/moonvault.js';\n${SCENARIO}</script>`);
  session = await launch();
});
after(async () => {
  await session?.close();
  if (app) await rm(app, { recursive: true, force: true });
});

/** Opens `url` and resolves to the scenario's result. */
async function run(url) {
  const page = await session.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(url);
  await page.waitForFunction(() => window.result);
  const result = await page.evaluate(() => window.result);
  await page.close();
  assert.deepEqual(errors, []);
  return result;
}

function checkScenario(r) {
  for (const mode of ['page', 'worker']) {
    assert.deepEqual(r[mode].lines, ['stored\t50'], mode);
    assert.deepEqual(r[mode].keys, ['u48', 'u49', 'u50'], mode);
    assert.deepEqual(r[mode].error, ['LuaError', true, 'compute:1: boom'], mode);
    assert.equal(r[mode].inWorker, mode === 'worker');
    // Chromium has JSPI: the package pages lazily unless told otherwise.
    assert.equal(r[mode].paging, BUILD === 'mirror' ? 'mirror' : 'lazy', mode);
  }
}

test('the package version is the workspace version', async () => {
  const cargo = await readFile(new URL('../../Cargo.toml', import.meta.url), 'utf8');
  const workspace = cargo.match(/^version = "([^"]+)"/m)[1];
  const installed = JSON.parse(await readFile(join(app, 'node_modules', 'moonvault', 'package.json'), 'utf8'));
  assert.equal(installed.version, workspace);
  assert.ok((await readdir(join(app, 'node_modules', 'moonvault'))).includes('README.md'));
});

test('a production build with Vite runs the package on the page and in a Worker', async () => {
  await build({ root: app, configFile: false, logLevel: 'warn', build: { outDir: 'dist', emptyOutDir: true } });
  const assets = await readdir(join(app, 'dist', 'assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `the module is emitted: ${assets}`);
  assert.ok(assets.some((f) => f.startsWith('worker')), `the Worker is emitted: ${assets}`);
  const server = await serve({ port: 0, root: join(app, 'dist') });
  try {
    checkScenario(await run(`${server.url}/index.html`));
  } finally {
    await server.close();
  }
});

test('a plain <script type="module"> page runs the package on the page and in a Worker', async () => {
  const server = await serve({ port: 0, root: app });
  try {
    checkScenario(await run(`${server.url}/plain.html`));
  } finally {
    await server.close();
  }
});
