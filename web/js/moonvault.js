//# allFunctionsCalledOnLoad
// (Line 1 is V8's compile hint: see "A fresh page" in DESIGN.md section 8.)
// moonvault in the browser: a Lua 5.4 store persisted in IndexedDB.
// The package entry. `Moonvault.open(name)` runs the engine on the calling
// thread (core.js); `Moonvault.open(name, {worker: true})` runs it in a
// dedicated Worker (remote.js, worker.js) behind the same API, every method
// returning a promise. Types: moonvault.d.ts.

import { Moonvault as LocalMoonvault, initialize, evalLua, hasJspi, loadedBuild } from './core.js';
import { RemoteMoonvault, deleteInWorker, importInWorker } from './remote.js';

export * from './errors.js';
export { initialize, evalLua, hasJspi, loadedBuild, RemoteMoonvault };

/** An open store. Create one with `await Moonvault.open(name, options)`. */
export class Moonvault extends LocalMoonvault {
  /**
   * Opens (creating if missing) the store `name`. With `{worker: true}`
   * the store runs in a dedicated Worker and the result is a
   * RemoteMoonvault (also `instanceof Moonvault`).
   */
  static open(name, options = {}) {
    if (options?.worker) return RemoteMoonvault.open(name, options);
    const { worker: _, ...rest } = options ?? {};
    return super.open(name, rest);
  }

  /** Deletes the store `name`; `{worker: true}` does it in a Worker (the module never loads here). */
  static delete(name, options) {
    return options?.worker ? deleteInWorker(name, options) : super.delete(name, options);
  }

  /** Imports an export into the new store `name`; `{worker: true}` runs the import in a Worker. */
  static import(name, source, options) {
    if (options?.worker) return importInWorker(name, source, options);
    return super.import(name, source, options);
  }

  /** Both modes' stores are Moonvaults. */
  static [Symbol.hasInstance](value) {
    return Function.prototype[Symbol.hasInstance].call(this, value) || value instanceof RemoteMoonvault;
  }
}

export default Moonvault;
