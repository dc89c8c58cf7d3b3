// The messages between a Worker-mode store (remote.js, on the caller's
// thread) and the Worker that runs the engine (worker.js). DESIGN.md,
// "Worker mode", describes the protocol; this file holds the pieces both
// sides share: errors and callbacks made cloneable, and back again.

import { makeError, MoonvaultError } from './errors.js';

/**
 * An error as plain data (structured clone keeps neither the subclass nor
 * the extra fields): `{kind, message, extra}` for moonvault's errors,
 * `{name, message}` for anything else.
 */
export function encodeError(e) {
  if (e instanceof MoonvaultError) {
    const extra = {};
    for (const [k, v] of Object.entries(e)) {
      if (k !== 'kind' && k !== 'name' && k !== 'message' && typeof v !== 'function') extra[k] = v;
    }
    return { kind: e.kind, message: e.message, extra };
  }
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

const standard = { TypeError, RangeError, SyntaxError, ReferenceError };

/** The error `encodeError` described, as the same class (so `instanceof` works). */
export function decodeError(data) {
  if (data?.kind !== undefined) return makeError(data.kind, data.message, data.extra ?? {});
  const Class = standard[data?.name] ?? Error;
  const e = new Class(data?.message ?? 'unknown error');
  if (Class === Error && data?.name) e.name = data.name;
  return e;
}

/** Marks a function argument that stays on the caller's side. */
const CALLBACK = '__moonvaultCallback';

/**
 * Replaces every function among `args` and the properties of plain-object
 * arguments by `{__moonvaultCallback: n}`; returns the cloneable
 * arguments and the functions by n.
 */
export function detachCallbacks(args) {
  const functions = [];
  const mark = (f) => {
    functions.push(f);
    return { [CALLBACK]: functions.length - 1 };
  };
  const out = args.map((a) => {
    if (typeof a === 'function') return mark(a);
    if (a && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype) {
      const copy = {};
      for (const [k, v] of Object.entries(a)) copy[k] = typeof v === 'function' ? mark(v) : v;
      return copy;
    }
    return a;
  });
  return { args: out, functions };
}

/** The inverse in the Worker: each marker becomes `(...xs) => call(n, xs)`. */
export function attachCallbacks(args, call) {
  const live = (v) =>
    v && typeof v === 'object' && typeof v[CALLBACK] === 'number' ? (...xs) => call(v[CALLBACK], xs) : v;
  return args.map((a) => {
    if (a && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype && !(CALLBACK in a)) {
      const copy = {};
      for (const [k, v] of Object.entries(a)) copy[k] = live(v);
      return copy;
    }
    return live(a);
  });
}
