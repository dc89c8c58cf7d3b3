// wa-sqlite (npm `wa-sqlite`, SQLite compiled to wasm with Asyncify) on its
// IndexedDB VFS, IDBBatchAtomicVFS: each SQLite transaction is written as
// one IndexedDB transaction (SQLite's batch-atomic-write), with strict
// durability. Table `users(id INTEGER PRIMARY KEY, name, age, score)` and
// an index on `age`, like the native SQLite peer (bench/benches/peers.rs).
import SQLiteESMFactory from 'wa-sqlite/dist/wa-sqlite-async.mjs';
import * as SQLite from 'wa-sqlite';
import { IDBBatchAtomicVFS } from 'wa-sqlite/src/examples/IDBBatchAtomicVFS.js';
import { remove } from '../idb.js';

let sqlite3 = null;
// SQLite keeps registered VFSes for the module's life and refuses a second
// one with the same name, so each opening registers a fresh name over the
// same IndexedDB database.
let vfsSerial = 0;

const FILE = 'users.db';
const SQL = {
  insert: 'INSERT OR REPLACE INTO users (id, name, age, score) VALUES (?, ?, ?, ?)',
  gt: 'SELECT id, name, age, score FROM users WHERE age > 60 LIMIT 10',
  eq: 'SELECT id, name, age, score FROM users WHERE age = 42',
  get: 'SELECT id, name, age, score FROM users WHERE id = ?',
  score: 'UPDATE users SET score = ? WHERE id = ?',
};

async function exec(db, sql) {
  await sqlite3.exec(db, sql);
}

/** A statement kept prepared for the connection's life. */
async function prepare(db, sql) {
  const str = sqlite3.str_new(db, sql);
  const prepared = await sqlite3.prepare_v2(db, sqlite3.str_value(str));
  return {
    stmt: prepared.stmt,
    finalize: async () => {
      await sqlite3.finalize(prepared.stmt);
      sqlite3.str_finish(str);
    },
  };
}

/** Binds `params`, steps to the end and resets; the rows as objects. */
async function run(s, params) {
  if (params) sqlite3.bind_collection(s.stmt, params);
  const rows = [];
  while ((await sqlite3.step(s.stmt)) === SQLite.SQLITE_ROW) {
    const [id, name, age, score] = sqlite3.row(s.stmt);
    rows.push({ id, name, age, score });
  }
  await sqlite3.reset(s.stmt);
  return rows;
}

async function connect(name) {
  const vfs = new IDBBatchAtomicVFS(name, { durability: 'strict' });
  vfs.name = `bench-${name}-${vfsSerial++}`;
  sqlite3.vfs_register(vfs, false);
  const db = await sqlite3.open_v2(FILE, SQLite.SQLITE_OPEN_CREATE | SQLite.SQLITE_OPEN_READWRITE, vfs.name);
  const stmts = {};
  const handle = { name, vfs, db, stmts };
  handle.stmt = async (key) => (stmts[key] ??= await prepare(db, SQL[key]));
  return handle;
}

export const wasqlite = {
  id: 'wa-sqlite',

  /** Instantiates the SQLite module once per page (like moonvault's `initialize`). */
  async init() {
    if (!sqlite3) sqlite3 = SQLite.Factory(await SQLiteESMFactory());
  },

  async create(name) {
    await remove(name);
    const h = await connect(name);
    await exec(
      h.db,
      'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL, score INTEGER NOT NULL);' +
        'CREATE INDEX users_age ON users(age);',
    );
    return h;
  },

  open: (name) => connect(name),

  async close(h) {
    for (const s of Object.values(h.stmts)) await s.finalize();
    await sqlite3.close(h.db);
    await h.vfs.close();
  },

  destroy: (name) => remove(name),

  /** One SQLite transaction, one prepared INSERT per row. */
  async insert(h, rows) {
    const s = await h.stmt('insert');
    await exec(h.db, 'BEGIN');
    for (const r of rows) await run(s, [r.id, r.name, r.age, r.score]);
    await exec(h.db, 'COMMIT');
  },

  queryGt60Limit10: async (h) => run(await h.stmt('gt')),

  queryEq42: async (h) => run(await h.stmt('eq')),

  /** One prepared SELECT per key, inside one read transaction. */
  async pointReads(h, keys) {
    const s = await h.stmt('get');
    await exec(h.db, 'BEGIN');
    let found = 0;
    for (const k of keys) {
      const rows = await run(s, [k]);
      if (rows[0]?.id === k) found++;
    }
    await exec(h.db, 'COMMIT');
    return found;
  },

  get: async (h, key) => (await run(await h.stmt('get'), [key]))[0],

  /** An autocommit UPDATE of one user's score. */
  smallCommit: async (h, row) => {
    await run(await h.stmt('score'), [row.score, row.id]);
  },
};
