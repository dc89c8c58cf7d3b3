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

/** The key of a marker object standing for something structured clone cannot carry. */
const MARK = '__moonvaultMarker';

/** Objects structured clone copies with their type (everything else is a user class instance). */
function cloneable(v) {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v) || v instanceof Date || v instanceof RegExp
    || v instanceof Set || v instanceof Error || (typeof Blob !== 'undefined' && v instanceof Blob);
}

/**
 * The arguments of a request, made cloneable: every function becomes a
 * callback marker (the Worker calls back through it: print, onProgress,
 * onChunk), every Symbol and class instance a marker the Worker turns back
 * into one (so a value the engine refuses is refused there with the same
 * ConversionError as on the calling thread; structured clone would fail on
 * the first and flatten the second into a plain object). Arrays, plain
 * objects and Maps are copied (cycles kept); anything else goes as it is.
 * Returns the cloneable arguments and the functions by callback number.
 */
export function detachCallbacks(args) {
  const functions = [];
  const seen = new Map();
  const walk = (v) => {
    if (typeof v === 'function') {
      functions.push(v);
      return { [MARK]: 'callback', n: functions.length - 1 };
    }
    if (typeof v === 'symbol') return { [MARK]: 'symbol', description: v.description };
    if (v === null || typeof v !== 'object' || cloneable(v)) return v;
    if (seen.has(v)) return seen.get(v);
    if (Array.isArray(v)) {
      const out = [];
      seen.set(v, out);
      for (let i = 0; i < v.length; i++) out[i] = walk(v[i]);
      return out;
    }
    if (v instanceof Map) {
      const out = new Map();
      seen.set(v, out);
      for (const [k, x] of v) out.set(walk(k), walk(x));
      return out;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== null && proto !== Object.prototype) {
      return { [MARK]: 'instance', name: v.constructor?.name ?? 'object' };
    }
    const out = {};
    seen.set(v, out);
    for (const k of Object.keys(v)) out[k] = walk(v[k]);
    return out;
  };
  return { args: args.map(walk), functions };
}

/** The inverse, in the Worker: callbacks become `(...xs) => call(n, xs)`. */
export function attachCallbacks(args, call) {
  const seen = new Set();
  const live = (m) => {
    if (m[MARK] === 'callback') return (...xs) => call(m.n, xs);
    if (m[MARK] === 'symbol') return Symbol(m.description);
    // An instance of a class of the same name, refused like the original.
    const { [m.name]: Class } = { [m.name]: class {} };
    return new Class();
  };
  const walk = (v) => {
    if (v === null || typeof v !== 'object' || cloneable(v) || seen.has(v)) return v;
    if (typeof v[MARK] === 'string') return live(v);
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = walk(v[i]);
    } else if (v instanceof Map) {
      for (const [k, x] of [...v]) {
        const k2 = walk(k);
        if (k2 !== k) v.delete(k);
        v.set(k2, walk(x));
      }
    } else {
      for (const k of Object.keys(v)) v[k] = walk(v[k]);
    }
    return v;
  };
  return args.map(walk);
}
