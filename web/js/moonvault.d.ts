// moonvault in the browser: a Lua 5.4 store persisted in IndexedDB.

/**
 * A value as it crosses between JS and Lua.
 *
 * JS -> Lua: null/undefined -> nil; boolean; an integral number within
 * +-(2^53-1) -> integer, any other number -> float; BigInt (64-bit) ->
 * integer; string -> string; Uint8Array/ArrayBuffer -> (binary) string;
 * Array -> table 1..n; plain object -> table with string keys; Map -> table
 * with converted keys. Functions, Symbols, Dates and class instances throw
 * ConversionError.
 *
 * Lua -> JS: nil -> null (a missing `get` -> undefined); integer -> number,
 * or BigInt beyond 2^53-1; float -> number; string -> string when valid
 * UTF-8, else Uint8Array; table -> Array when its keys are exactly 1..n,
 * plain object when all keys are UTF-8 strings, Map otherwise (an empty
 * table is `{}`). A Lua function throws ConversionError.
 */
export type LuaValue =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | LuaValue[]
  | { [key: string]: LuaValue }
  | Map<LuaKey, LuaValue>;

/** A table key: strings, numbers (integral ones are integer keys), BigInts, booleans, binary strings. */
export type LuaKey = string | number | bigint | boolean | Uint8Array;

/**
 * A table or value below `Memory`: `"users.u1"` (dotted, string segments;
 * `""` or `"Memory"` is Memory itself, a leading `"Memory."` is dropped)
 * or an array of keys: `["scores", 2024]`.
 */
export type Path = string | LuaKey[];

/** A field inside each record: `"age"`, `"profile.city"`, or an array of keys. */
export type FieldPath = string | LuaKey[];

export interface OpenOptions {
  /** Lua heap limit in bytes: 65536 to 1310720 (default 1310720, the module's whole 1.25 MiB Lua arena). Past it, or when the arena is full, Lua raises "not enough memory". */
  memoryLimit?: number;
  /** Never load stored bytecode: only functions stored as source (persistFunction, store.fn) run. */
  untrusted?: boolean;
  /** IndexedDB durability of each write transaction (default 'strict'). */
  durability?: 'strict' | 'relaxed' | 'default';
  /** Receives each line Lua prints (default: console.log). */
  print?: (line: string) => void;
  /** When another tab holds the store: fail with LockedError (default) or wait for it to close. */
  onLocked?: 'error' | 'wait';
  /**
   * Whether write methods resolve only once their commit is durable in
   * IndexedDB (default true). With false they resolve when the commit is
   * applied; `flush()` then acknowledges durability.
   */
  durableWrites?: boolean;
  /** Default time limit of every chunk, in ms: past it the chunk stops with LimitError ('timeout'). */
  timeoutMs?: number;
  /** Default instruction budget of every chunk (Lua VM instructions): past it, LimitError ('instructions'). */
  maxInstructions?: number;
  /**
   * Run the store in a dedicated Worker (Worker mode): the same API, every
   * method returning a promise (a RemoteMoonvault); Lua never runs on the
   * calling thread.
   */
  worker?: boolean;
  /**
   * How pages are read. 'lazy': open reads no page (only the small meta
   * and log areas), and a page is read from IndexedDB the first time a
   * call needs it (the call waits through JS Promise Integration); needs
   * the 'jspi' build. 'mirror': the
   * whole store is read into JS memory at open. 'auto' (default): lazy in
   * the jspi build, else mirror.
   */
  paging?: 'auto' | 'lazy' | 'mirror';
  /** Under lazy paging, the bytes of clean pages kept in JS memory, and again of decoded pages (65536 to 2^30; default 4 MiB each). */
  pageCacheBytes?: number;
  /** Which module build to load if none is loaded yet (see `initialize`). */
  build?: Build;
}

/**
 * The two builds of the wasm module: 'jspi' (engines with JS Promise
 * Integration; lazy paging), 'mirror' (every engine); 'auto' picks jspi
 * where the engine has it.
 */
export type Build = 'auto' | 'jspi' | 'mirror';

/** A long operation's progress: `done` of `total` (null: not known ahead, as for export). */
export interface Progress {
  /** import, export: bytes; index: entries of the table; migrate: steps. */
  phase: 'import' | 'export' | 'index' | 'migrate';
  done: number;
  total: number | null;
}

export interface ProgressOptions {
  /** Called as the work advances, last with `done === total`. */
  onProgress?: (progress: Progress) => void;
}

/**
 * Options of `compute` and `computeBatch` (per chunk): durability, limits and
 * an AbortSignal. A chunk stopped by a limit or the signal rejects with
 * LimitError and is rolled back.
 */
export interface ComputeOptions extends WriteOptions {
  /** This chunk's time limit in ms (overrides the store's `timeoutMs`). */
  timeoutMs?: number;
  /** This chunk's instruction budget (overrides the store's `maxInstructions`). */
  maxInstructions?: number;
  /** Stops the chunk when aborted (LimitError, limit 'aborted'); already aborted: nothing runs. */
  signal?: AbortSignal;
}

/** Per-call override of `durableWrites`. */
export interface WriteOptions {
  durable?: boolean;
}

export type QueryOperator =
  | '=' | '==' | '!=' | '~=' | '<' | '<=' | '>' | '>='
  | 'between' | 'in' | 'not in' | 'notIn'
  | 'startsWith' | 'endsWith' | 'contains' | 'exists' | 'missing';

export type Condition =
  | [field: FieldPath, operator: QueryOperator, value?: LuaValue, value2?: LuaValue]
  | { field: FieldPath; operator?: QueryOperator; op?: QueryOperator; value?: LuaValue; value2?: LuaValue };

export type OrderBy = FieldPath | [field: FieldPath, direction?: 'asc' | 'desc'] | { field: FieldPath; direction?: 'asc' | 'desc' };

export interface QuerySpec {
  /** Conditions, all of which must hold. */
  where?: Condition[];
  orderBy?: OrderBy;
  limit?: number;
  offset?: number;
}

/** The product's query form: `field` is `<collection path>.<field>` relative to the table. */
export interface TableQuerySpec {
  field?: string;
  operator?: QueryOperator;
  value?: LuaValue;
  value2?: LuaValue;
  orderBy?: OrderBy;
  limit?: number;
  offset?: number;
}

export type BatchOp =
  | { op: 'set'; path: Path; value: LuaValue }
  | { op: 'delete'; path: Path };

export type TableOperation =
  | { type: 'set'; table: Path; key: LuaKey; value: LuaValue }
  | { type: 'delete'; table: Path; key: LuaKey };

export type ComputeResult =
  | { success: true; result: LuaValue }
  | { success: false; error: MoonvaultError };

export interface ListEntry {
  key: LuaKey;
  type: 'boolean' | 'number' | 'string' | 'table' | 'function';
  /** Scalars only. */
  value?: LuaValue;
  /** Tables only: number of entries. */
  size?: number;
}

export interface Stats {
  name: string;
  /** Entries of Memory itself. */
  records: number;
  /** Bytes in IndexedDB (pages, WAL, superblocks). */
  storedBytes: number;
  pages: number;
  pageSize: number;
  walRecords: number;
  commits: number;
  checkpoints: number;
  /** Commits applied but not yet durable in IndexedDB. */
  pendingWrites: number;
  idbTransactions: number;
  cacheHitRate: number;
  indexes: number;
  schemas: number;
  version: number;
  /**
   * Whether the store's Lua VM exists: it is created by the first call that
   * runs Lua (compute, computeBatch, setSchema, migrate, persistFunction);
   * get/set/delete/batch/query and the other data calls never create it.
   */
  luaStarted: boolean;
  /** Lua heap in use (0 while luaStarted is false). */
  luaMemory: number;
  luaMemoryLimit: number;
  /** The wasm module's linear memory (at most linearMemoryLimit, 2 MiB). */
  linearMemory: number;
  linearMemoryLimit: number;
  /** How pages are read (see OpenOptions.paging). */
  paging: 'lazy' | 'mirror';
  /** Bytes of stored blobs held in JS memory: the whole store when mirrored, else the page cache, pages not yet durable, and the WAL and superblocks. */
  jsBytes: number;
  /** With {deep: true}: */
  tables?: number;
  entries?: number;
  logicalBytes?: number;
  /** logicalBytes / storedBytes. */
  compressionRatio?: number;
}

export class MoonvaultError extends Error {
  readonly kind: string;
}
/** A Lua error raised by a chunk; the chunk was rolled back. */
export class LuaError extends MoonvaultError {
  readonly luaMessage: string;
  readonly traceback: string | null;
}
/** A value that cannot cross between JS and Lua. */
export class ConversionError extends MoonvaultError {
  readonly path: string | null;
}
/** The store is open elsewhere. */
export class LockedError extends MoonvaultError {}
/** IndexedDB refused a write for lack of space; unacknowledged commits are lost. */
export class QuotaExceededError extends MoonvaultError {}
/** The store failed or was closed; reopen it (it holds its last durable state). */
export class StoreError extends MoonvaultError {}
/** Schema, unique-index or index-definition conflict. */
export class ConstraintError extends MoonvaultError {}
export class InvalidArgumentError extends MoonvaultError {}
/** The 2 MiB module cannot take this (another open store, a larger memoryLimit). */
export class MemoryBudgetError extends MoonvaultError {}
/** A chunk ran past `timeoutMs`/`maxInstructions` or was aborted by its `signal`; it was rolled back. */
export class LimitError extends MoonvaultError {
  readonly limit: 'timeout' | 'instructions' | 'aborted';
}

/** Options of `Moonvault.import`. */
export interface ImportOptions {
  /** Import functions stored as Lua bytecode too (Lua does not verify bytecode: only for files you trust). */
  trust?: boolean;
}

/** Loads the wasm module (done by open/delete/import when needed). */
export function initialize(
  module?: string | URL | Response | BufferSource | WebAssembly.Module,
  options?: { build?: Build },
): Promise<void>;

/** Whether this engine has JS Promise Integration (what the jspi build and lazy paging need). */
export function hasJspi(): boolean;

/** The build loaded by `initialize` ('jspi' or 'mirror'), or null before. */
export function loadedBuild(): 'jspi' | 'mirror' | null;

/** Runs Lua without a store (a fresh VM per call); results through tostring, tab-separated. */
export function evalLua(code: string): Promise<string>;

export class Moonvault {
  private constructor();
  /**
   * Opens (creating if missing) the store `name`. Rejects with LockedError
   * if it is open elsewhere. `{worker: true}`: in a dedicated Worker.
   */
  static open(name: string, options: OpenOptions & { worker: true }): Promise<RemoteMoonvault>;
  static open(name: string, options?: OpenOptions): Promise<Moonvault>;
  /** Deletes the store `name` (LockedError while it is open anywhere); `{worker: true}`: in a Worker. */
  static delete(name: string, options?: { worker?: boolean; build?: Build }): Promise<void>;
  /**
   * Imports an export into the new store `name`; resolves to the number of
   * entries. `{worker: true}`: the import runs in a Worker. Functions stored
   * as Lua bytecode need `{trust: true}` (else InvalidArgumentError, nothing
   * imported).
   */
  static import(
    name: string,
    source: Uint8Array | ArrayBuffer | Blob | Response | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    options?: ImportOptions & ProgressOptions & { worker?: boolean; build?: Build },
  ): Promise<number>;

  readonly name: string;
  readonly closed: boolean;

  /** Resolves when every commit so far is durable; rejects (QuotaExceededError, StoreError) if the store failed. */
  flush(): Promise<void>;
  /** Waits for pending commits, closes the database and releases the lock. */
  close(): Promise<void>;

  /** Runs `code` as one atomic chunk; its results (none: undefined, one: the value, more: an array). */
  compute(code: string, options?: ComputeOptions): Promise<LuaValue | LuaValue[]>;
  /** Each chunk atomically, in order (the options apply to each chunk). */
  computeBatch(codes: string[], options?: ComputeOptions): Promise<ComputeResult[]>;

  get(path: Path): Promise<LuaValue>;
  set(path: Path, value: LuaValue, options?: WriteOptions): Promise<void>;
  delete(path: Path, options?: WriteOptions): Promise<void>;
  batch(ops: BatchOp[], options?: WriteOptions): Promise<number>;
  batchTableOperations(operations: TableOperation[], options?: WriteOptions): Promise<number>;

  query(table: Path, spec?: QuerySpec): Promise<{ key: LuaKey; record: LuaValue }[]>;
  queryTable(table: Path, spec?: TableQuerySpec): Promise<LuaValue[]>;
  createIndex(
    table: Path,
    field: FieldPath,
    options?: { unique?: boolean } | 'btree',
    ack?: WriteOptions & ProgressOptions,
  ): Promise<void>;
  dropIndex(table: Path, field: FieldPath, kind?: 'btree', ack?: WriteOptions): Promise<boolean>;
  /**
   * Sets (null: removes) the schema of the records of `table`, in the Lua
   * `store.schema` format: `{strict: true, name: {type: 'string', required: true,
   * maxLength: 100}, age: {type: 'integer', min: 0}, role: {enum: ['admin', 'user']}}`.
   */
  setSchema(table: Path, schema: LuaValue, options?: WriteOptions): Promise<void>;
  /**
   * Runs the Lua migration steps from the stored version up to `target`:
   * `steps[v]` (Lua source) brings version v - 1 to v (as an array,
   * `steps[i]` reaches version i + 1); resolves to the version reached.
   */
  migrate(target: number, steps: string[] | Record<number, string>, options?: WriteOptions & ProgressOptions): Promise<number>;
  /** Stores a Lua function (`function(x, y) return x + y end`) at table[key], as source. */
  persistFunction(table: Path, key: LuaKey, source: string, options?: WriteOptions): Promise<void>;

  stats(options?: { deep?: boolean }): Promise<Stats>;
  /** Verifies every page checksum, B-tree invariant and index (like `moonvault check`); throws StoreError on damage. */
  check(): Promise<{ entries: number; depth: number; pages: number; indexes: number }>;
  list(path: Path, options?: { after?: LuaKey; limit?: number }): Promise<{ entries: ListEntry[]; more: boolean }>;
  /** The committed state in the CLI's export format. */
  export(options?: ProgressOptions): Promise<Uint8Array>;
  export(options: ProgressOptions & { onChunk: (chunk: Uint8Array) => void }): Promise<undefined>;
}

/** `T`'s methods, each returning a promise of what it returned. */
export type Promised<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : T[K];
};

/**
 * A store in Worker mode (`Moonvault.open(name, {worker: true})`): the
 * Moonvault API with every method returning a promise. An AbortSignal on
 * compute stops the Worker and reopens the store in a new one.
 */
export interface RemoteMoonvault extends Promised<Omit<Moonvault, 'export'>> {
  readonly inWorker: true;
  export(options?: ProgressOptions): Promise<Uint8Array>;
  export(options: ProgressOptions & { onChunk: (chunk: Uint8Array) => void }): Promise<undefined>;
}
export declare const RemoteMoonvault: {
  readonly prototype: RemoteMoonvault;
  open(name: string, options?: OpenOptions): Promise<RemoteMoonvault>;
};

export default Moonvault;
