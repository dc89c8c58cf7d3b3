//# allFunctionsCalledOnLoad
// (Line 1 is V8's compile hint: see "A fresh page" in DESIGN.md section 8.)
// The errors moonvault throws: one Error subclass per kind of failure.
// The wasm module creates them through the factory below, so `instanceof`
// works for errors thrown by any method and for rejected promises.

/** Base class of every moonvault error. `kind` names the subclass. */
export class MoonvaultError extends Error {
  constructor(message, extra = {}) {
    super(message);
    /** @type {string} */
    this.kind = extra.kind ?? 'moonvault';
  }
}

/** A Lua error raised by a chunk; the chunk was rolled back. */
export class LuaError extends MoonvaultError {
  constructor(message, extra = {}) {
    super(message, extra);
    /** Lua's error message, e.g. `compute:1: attempt to index a nil value`. */
    this.luaMessage = extra.luaMessage ?? message;
    /** Lua's stack traceback, when there is one. */
    this.traceback = extra.traceback ?? null;
  }
}

/** A value that cannot cross between JS and Lua (a JS function, a Lua function, a cycle...). */
export class ConversionError extends MoonvaultError {
  constructor(message, extra = {}) {
    super(message, extra);
    /** Where in the value the conversion failed (`users[3].tags`). */
    this.path = extra.path ?? null;
  }
}

/** The store is open in another tab, window, worker, or in this page. */
export class LockedError extends MoonvaultError {}

/** IndexedDB refused a write for lack of space; unacknowledged commits are lost. */
export class QuotaExceededError extends MoonvaultError {}

/** The store failed (or was closed) and must be reopened; it then holds its last durable state. */
export class StoreError extends MoonvaultError {}

/** A schema, unique-index or index-definition conflict; nothing was written. */
export class ConstraintError extends MoonvaultError {}

/** A malformed argument: path, option, query, operation. */
export class InvalidArgumentError extends MoonvaultError {}

/** The module's 2 MiB memory budget cannot take this (another open store, a larger memoryLimit). */
export class MemoryBudgetError extends MoonvaultError {}

/**
 * A chunk ran past a limit (`timeoutMs`, `maxInstructions`) or its
 * `signal` was aborted; it was stopped and rolled back, and the store is
 * usable. `limit` says which: 'timeout', 'instructions' or 'aborted'.
 */
export class LimitError extends MoonvaultError {
  constructor(message, extra = {}) {
    super(message, extra);
    /** @type {'timeout' | 'instructions' | 'aborted'} */
    this.limit = extra.limit ?? 'aborted';
  }
}

const byKind = {
  lua: LuaError,
  conversion: ConversionError,
  locked: LockedError,
  quota: QuotaExceededError,
  store: StoreError,
  constraint: ConstraintError,
  invalid: InvalidArgumentError,
  memory: MemoryBudgetError,
  limit: LimitError,
};

// Each class's `name`, written out: a minifier renames classes, and
// `e.name` must stay 'LuaError' in a production build.
for (const [Class, name] of [
  [MoonvaultError, 'MoonvaultError'],
  [LuaError, 'LuaError'],
  [ConversionError, 'ConversionError'],
  [LockedError, 'LockedError'],
  [QuotaExceededError, 'QuotaExceededError'],
  [StoreError, 'StoreError'],
  [ConstraintError, 'ConstraintError'],
  [InvalidArgumentError, 'InvalidArgumentError'],
  [MemoryBudgetError, 'MemoryBudgetError'],
  [LimitError, 'LimitError'],
]) {
  Object.defineProperty(Class.prototype, 'name', { value: name, writable: true, configurable: true });
}

/** Called by the wasm module to build the error it throws. */
export function makeError(kind, message, extra) {
  const Class = byKind[kind] ?? MoonvaultError;
  return new Class(message, { ...extra, kind });
}
