// The moonvault demo: a Lua editor and console over a store in IndexedDB,
// a live tree view of Memory, store figures, export and import.
// Everything goes through the package's public API (../pkg/moonvault.js).
// `?worker=1` runs the store in a Worker (Worker mode): every store call
// is then a promise, so the page awaits them all (harmless on the page's
// thread).
import { Moonvault, MoonvaultError, LuaError, LockedError } from '../pkg/moonvault.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const storeName = params.get('store') || 'demo';
const inWorker = params.get('worker') === '1';
// `?build=mirror` (or jspi) picks the module build (the tests force the
// build without JS Promise Integration this way).
const build = params.get('build') ?? undefined;
const mode = { worker: inWorker, build };
/** The query string that opens `name` in this page's mode. */
const storeSearch = (name) => '?store=' + encodeURIComponent(name) + (inWorker ? '&worker=1' : '')
  + (build ? `&build=${encodeURIComponent(build)}` : '');

const SAMPLE = `-- Memory is a table that persists: reload the page and it is still here.
Memory.visits = (Memory.visits or 0) + 1
Memory.users = Memory.users or {
  alice = {name = "Alice", age = 31, tags = {"admin"}},
  bob = {name = "Bob", age = 67},
}
-- Functions persist too (closures with their upvalues).
local greeting = "Hello"
Memory.greet = function(who) return greeting .. ", " .. who .. "!" end
store.index("users", "age")
for key, user in store.query("users"):where("age", ">", 60) do
  print(key, user.name, user.age)
end
return Memory.greet("visitor " .. Memory.visits), Memory.visits
`;

const state = { vault: null, expanded: new Set(['']), deepSlow: false };

// ---- console ---------------------------------------------------------------

function log(text, cls = 'out') {
  const line = document.createElement('span');
  line.className = cls;
  line.textContent = text + '\n';
  $('console').append(line);
  $('console').scrollTop = $('console').scrollHeight;
}

function status(text, cls = '') {
  $('status').textContent = text;
  $('status').className = 'status ' + cls;
}

/** A JS value as Lua-ish text for the console. */
function show(v, depth = 0) {
  if (v === undefined) return 'undefined';
  if (v === null) return 'nil';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return depth ? JSON.stringify(v) : v;
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (depth > 4) return '{…}';
  if (Array.isArray(v)) return '{' + v.map((x) => show(x, depth + 1)).join(', ') + '}';
  if (v instanceof Map) {
    return '{' + [...v].map(([k, x]) => `[${show(k, depth + 1)}] = ${show(x, depth + 1)}`).join(', ') + '}';
  }
  if (typeof v === 'object') {
    return '{' + Object.entries(v).map(([k, x]) => `${k} = ${show(x, depth + 1)}`).join(', ') + '}';
  }
  return String(v);
}

function showError(e) {
  const name = e?.name ?? 'Error';
  log(`! ${name}: ${e?.message ?? e}`, 'err');
  if (e instanceof LuaError && e.traceback) log(e.traceback, 'err');
}

// ---- running code -----------------------------------------------------------

async function run(code = $('code').value) {
  if (!state.vault) return undefined;
  const lines = code.trim().split('\n');
  const echo = lines.length > 6 ? [...lines.slice(0, 5), `… (${lines.length - 5} more lines)`] : lines;
  log('> ' + echo.join('\n  '), 'in');
  const t0 = performance.now();
  try {
    const result = await state.vault.compute(code, { durable: $('durable').checked });
    const ms = (performance.now() - t0).toFixed(1);
    const shown = result === undefined ? '(no results)' : show(result);
    log(`= ${shown}   [${ms} ms${$('durable').checked ? ', durable' : ''}]`, 'result');
    return result;
  } catch (e) {
    showError(e);
    throw e;
  } finally {
    refresh().catch(showError);
  }
}

// ---- tree view ---------------------------------------------------------------

function keyPath(path, key) {
  return [...path, key];
}

function pathId(path) {
  return JSON.stringify(path, (_, v) => (typeof v === 'bigint' ? v.toString() + 'n' : v));
}

async function renderTable(path, into) {
  const ul = document.createElement('ul');
  into.append(ul);
  let after;
  const page = async () => {
    const { entries, more } = await state.vault.list(path, { after, limit: 100 });
    for (const entry of entries) {
      const li = document.createElement('li');
      const k = typeof entry.key === 'string' ? entry.key : `[${show(entry.key)}]`;
      if (entry.type === 'table') {
        const child = keyPath(path, entry.key);
        const id = pathId(child);
        const toggle = document.createElement('span');
        toggle.className = 'toggle';
        const open = state.expanded.has(id);
        toggle.textContent = `${open ? '▾' : '▸'} ${k}`;
        const size = document.createElement('span');
        size.className = 'type';
        size.textContent = `  table (${entry.size})`;
        toggle.onclick = () => {
          if (state.expanded.has(id)) state.expanded.delete(id);
          else state.expanded.add(id);
          renderTree().catch(showError);
        };
        li.append(toggle, size);
        if (open) await renderTable(child, li);
      } else if (entry.type === 'function') {
        li.append(`${k} = `);
        const f = document.createElement('span');
        f.className = 'fn';
        f.textContent = 'function';
        li.append(f);
      } else {
        li.append(`${k} = `);
        const v = document.createElement('span');
        v.className = entry.type === 'string' ? 'str' : '';
        v.textContent = show(entry.value, 1);
        li.append(v);
      }
      ul.append(li);
    }
    after = entries.length ? entries[entries.length - 1].key : after;
    if (more) {
      const li = document.createElement('li');
      li.className = 'more';
      li.textContent = '… more';
      li.onclick = () => { li.remove(); page().catch(showError); };
      ul.append(li);
    }
  };
  await page();
}

async function renderTree() {
  // Built aside and swapped in whole: renders may overlap.
  const root = document.createElement('ul');
  const li = document.createElement('li');
  li.textContent = 'Memory';
  root.append(li);
  await renderTable([], li);
  $('tree').replaceChildren(root);
}

// ---- figures -------------------------------------------------------------------

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

async function renderStats(deep) {
  const t0 = performance.now();
  const s = await state.vault.stats({ deep });
  if (deep) state.deepSlow = performance.now() - t0 > 150;
  const rows = [
    ['records in Memory', s.records],
    ['entries (all tables)', s.entries ?? '—'],
    ['tables', s.tables ?? '—'],
    ['logical bytes', s.logicalBytes === undefined ? '—' : bytes(s.logicalBytes)],
    ['stored bytes (IndexedDB)', bytes(s.storedBytes)],
    ['compression ratio', s.compressionRatio === undefined ? '— (refresh)' : s.compressionRatio.toFixed(2) + ' : 1'],
    ['pages', `${s.pages} × ${s.pageSize} B`],
    ['commits (this session)', s.commits],
    ['pending IndexedDB writes', s.pendingWrites],
    ['indexes / schemas / version', `${s.indexes} / ${s.schemas} / ${s.version}`],
    ['Lua memory', `${bytes(s.luaMemory)} of ${bytes(s.luaMemoryLimit)}`],
    ['wasm linear memory', `${bytes(s.linearMemory)} of ${bytes(s.linearMemoryLimit)}`],
  ];
  const table = $('stats');
  table.textContent = '';
  for (const [k, v] of rows) {
    const tr = document.createElement('tr');
    const a = document.createElement('td');
    const b = document.createElement('td');
    a.textContent = k;
    b.textContent = String(v);
    tr.append(a, b);
    table.append(tr);
  }
}

async function refresh({ deep = !state.deepSlow } = {}) {
  if (!state.vault) return;
  await renderStats(deep);
  await renderTree();
}

// ---- store lifecycle ----------------------------------------------------------------

async function open() {
  status(`opening store “${storeName}”…`);
  $('store-name').value = storeName;
  try {
    state.vault = await Moonvault.open(storeName, {
      ...mode,
      print: (line) => log(line),
    });
  } catch (e) {
    if (e instanceof LockedError) {
      status(`LockedError: ${e.message}`, 'error');
    } else {
      status(`${e?.name ?? 'Error'}: ${e?.message ?? e}`, 'error');
    }
    throw e;
  }
  status(`store “${storeName}” open${inWorker ? ' in a Worker' : ''}: every run is one atomic commit, durable in IndexedDB when the result shows`, 'ok');
  $('run').disabled = false;
  await refresh();
}

function bind() {
  $('code').value = localStorage.getItem('moonvault-demo-code') ?? SAMPLE;
  $('code').addEventListener('input', () => localStorage.setItem('moonvault-demo-code', $('code').value));
  $('code').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run().catch(() => {});
    }
  });
  $('run').onclick = () => run().catch(() => {});
  $('clear').onclick = () => { $('console').textContent = ''; };
  $('refresh-stats').onclick = () => refresh({ deep: true }).catch(showError);
  $('switch').onclick = () => {
    const name = $('store-name').value.trim();
    if (name) location.search = storeSearch(name);
  };
  $('export').onclick = async () => {
    try {
      const bytesOut = await state.vault.export();
      const url = URL.createObjectURL(new Blob([bytesOut], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${storeName}.mvx`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      log(`exported ${bytes(bytesOut.length)} (the CLI's format: moonvault import --db DIR ${storeName}.mvx)`, 'result');
    } catch (e) {
      showError(e);
    }
  };
  $('import').onchange = async () => {
    const file = $('import').files[0];
    if (!file) return;
    const target = prompt('Import into which new store?', file.name.replace(/\.[^.]*$/, '') + '-imported');
    if (!target) return;
    try {
      const n = await Moonvault.import(target, file, mode);
      log(`imported ${n} entries into “${target}”`, 'result');
      location.search = storeSearch(target);
    } catch (e) {
      showError(e);
    }
  };
  $('delete').onclick = async () => {
    if (!confirm(`Delete store “${storeName}” and everything in it?`)) return;
    try {
      await state.vault.close();
      state.vault = null;
      await Moonvault.delete(storeName, mode);
      location.reload();
    } catch (e) {
      showError(e);
    }
  };
}

bind();
const ready = open();
ready.catch(() => {});

// For the page tests and the curious: the open store and the runner.
window.moonvaultDemo = {
  ready,
  get vault() { return state.vault; },
  run,
  refresh,
  Moonvault,
  MoonvaultError,
};
