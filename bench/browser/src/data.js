// The seed's users data set and the probes, the same as the native
// benches (bench/src/lib.rs `users`): keys 1..n, records
// {name = "User "..i, age = 20 + i % 50, score = i * 10}.

/** The i-th user (1-based) without its key. */
export function user(i) {
  return { name: `User ${i}`, age: 20 + (i % 50), score: i * 10 };
}

/**
 * Users 1..n as rows with the key inline (`id`), the shape the IndexedDB
 * peers store (an object store with keyPath `id`).
 */
export function users(n) {
  const rows = new Array(n);
  for (let i = 1; i <= n; i++) rows[i - 1] = { id: i, ...user(i) };
  return rows;
}

/** How many users of 1..n have `age === a`. */
export function countAge(n, a) {
  let c = 0;
  for (let i = 1; i <= n; i++) if (20 + (i % 50) === a) c++;
  return c;
}

/** A deterministic generator (mulberry32), so every peer reads the same keys. */
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` keys drawn uniformly from 1..n. */
export function randomKeys(n, count, seed) {
  const next = rng(seed);
  const keys = new Array(count);
  for (let i = 0; i < count; i++) keys[i] = 1 + Math.floor(next() * n);
  return keys;
}
