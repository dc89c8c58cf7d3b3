// The page's entry: loads the requested peers (each module only when asked
// for, so a missing one fails its own run, not the page) and exposes the
// runs to the driver (run.mjs).
import { destroyLarge, heldAfterOpen, loadLarge, probeLarge, runMain, runMemory } from './harness.js';

const MODULES = {
  moonvault: async () => (await import('./peers/moonvault.js')).moonvault,
  'moonvault-mirror': async () => (await import('./peers/moonvault.js')).moonvaultMirror,
  dexie: async () => (await import('./peers/dexie.js')).dexie,
  indexeddb: async () => (await import('./peers/indexeddb.js')).indexeddb,
  'wa-sqlite': async () => (await import('./peers/wasqlite.js')).wasqlite,
};

async function load(ids) {
  const peers = [];
  for (const id of ids) {
    if (!MODULES[id]) throw new Error(`unknown peer ${id}; known: ${Object.keys(MODULES).join(', ')}`);
    peers.push(await MODULES[id]());
  }
  return peers;
}

const logEl = document.getElementById('log');
const consoleLog = console.log.bind(console);
console.log = (...args) => {
  logEl.textContent += args.join(' ') + '\n';
  consoleLog(...args);
};

/** `{peers: [ids], n, reps: {insert, query, commit, open}}` -> result rows. */
window.runBench = async (config) => runMain(await load(config.peers), config);

/** `{n}` -> moonvault's memory row. */
window.runMemory = async (config) => runMemory((await load(['moonvault']))[0], config);

/** Large stores: `{peers, n}` loads, probes (one peer, one sample) and destroys them. */
window.loadLarge = async (config) => loadLarge(await load(config.peers), config);
window.probeLarge = async (config) => probeLarge((await load([config.peer]))[0], config);
window.destroyLarge = async (config) => destroyLarge(await load(config.peers), config);
window.heldAfterOpen = async (config) => heldAfterOpen((await load([config.peer]))[0], config);

window.benchEnvironment = () => ({
  userAgent: navigator.userAgent,
  crossOriginIsolated: globalThis.crossOriginIsolated === true,
});

window.benchReady = true;
