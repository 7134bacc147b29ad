/**
 * One interface for every place a cache can keep bytes: this process's memory, Redis, two
 * levels of both, a PostgreSQL table, whatever comes next. The app (app.ts) is written once
 * against it; which store it runs on is a constructor argument. And one conformance suite
 * (`describeCacheStore` in @cachelab/testkit) checks that a store keeps its side of the
 * contract, so a new store is trusted because it passes the suite, not because it looks right.
 *
 * The contract, method by method:
 *
 * - `get(key)` → the bytes stored under `key`, or `undefined` when there are none: never set,
 *   deleted, cleared, or **expired** (an expired entry is a miss, even if the backend has not
 *   removed it yet). An empty value (0 bytes) is a value, not a miss.
 * - `set(key, value, { ttlMs })` stores a copy of `value` for `ttlMs` milliseconds, replacing
 *   any entry under `key` (value and expiry). Every entry has a TTL: a cache without expiry is a
 *   second database nobody maintains. A `ttlMs` that is not a positive whole number is a bug in
 *   the caller: `TypeError`. A value larger than `capabilities.maxValueBytes` is not stored, and
 *   the older entry under that key goes too (it is out of date).
 * - `delete(key)` removes the entry; deleting a key that is not there is not an error.
 * - `clear()` removes every entry **of this store's namespace** and nothing else.
 *
 * Keys are any string (Unicode included, compared exactly: `é` and `e` + U+0301 are two keys),
 * except the NUL character, which PostgreSQL text cannot hold. Keys are taken literally: `*`,
 * `?`, `[`, `%` and `_` are characters, never patterns.
 *
 * Values are bytes (`Uint8Array`; a `Buffer` is one). Strings are encoded by the caller
 * (`Buffer.from(json)`), so the store never guesses an encoding and a hit can be sent as it
 * is. What `get` returns may be shared with other readers: **do not modify it**.
 *
 * Failures: a store rejects when its backend fails (Redis down, PostgreSQL unreachable) with a
 * {@link CacheStoreError}. It never decides what that means for the request: the caller does
 * (send-cached.ts answers from PostgreSQL with `X-Cache: BYPASS`).
 *
 * Why `clear()` of a namespace fixed at construction, and not `clear(prefix)` or
 * `clearMatching(pattern)`: a prefix or a pattern passed at call time is a small query
 * language every backend interprets its own way (Redis globs, SQL LIKE, regular expressions),
 * and every one of them has metacharacters that turn `clear('a_b')` into "delete a lot more
 * than you meant". With the namespace given once, when the store is created, the store owns
 * the only place where keys are matched by prefix, does it literally, and a caller cannot reach
 * another namespace's keys at all. To drop a *family* of keys (all payments), bump the version
 * in their key instead (lesson 05): old entries are never read again and expire by themselves.
 */
export interface CacheStore {
  /** Short name for logs and Server-Timing, e.g. 'memory', 'redis', 'postgres'. */
  readonly name: string;
  /** What this store can and cannot do; the conformance suite adapts its checks to it. */
  readonly capabilities: CacheStoreCapabilities;
  get(key: string): Promise<Buffer | undefined>;
  set(key: string, value: Uint8Array, options: SetOptions): Promise<void>;
  delete(key: string): Promise<void>;
  clear(): Promise<void>;
  /** Stop timers and background work. Does not close clients the caller passed in. */
  close?(): Promise<void>;
}

export interface SetOptions {
  /** How long the entry may be served, in milliseconds. A positive whole number. */
  ttlMs: number;
}

/**
 * What a store can do, as data rather than as scattered `if (store === redis)` in tests and
 * callers. The conformance suite reads these flags to decide which checks apply; the app reads
 * `sharedAcrossProcesses` to name its Server-Timing metric (`l1` in-process, `l2` shared).
 */
export interface CacheStoreCapabilities {
  /**
   * Two store objects over the same namespace, in two processes, see each other's sets,
   * deletes and clears (Redis, PostgreSQL, the two-level store's L2). False for memory: each
   * process has its own copy, and a write in one is invisible to the others.
   */
  sharedAcrossProcesses: boolean;
  /** Entries are still there after the store is closed and opened again (an app restart). */
  survivesRestart: boolean;
  /** Values up to this many bytes are stored. Larger ones are refused quietly (a miss later). */
  maxValueBytes: number;
  /**
   * The TTL's granularity in ms: a TTL is rounded *up* to a multiple of it. 1 for stores that
   * keep milliseconds; 1000 for one that speaks whole seconds (lesson 03's `SET … EX`), so an
   * entry may live up to 999 ms longer than asked, never shorter.
   */
  ttlResolutionMs: number;
}

/**
 * A backend failed (as opposed to a bug in the caller, which is a TypeError). `code` is stable
 * for callers that count failures; `cause` is the backend's own error.
 */
export class CacheStoreError extends Error {
  readonly code = 'E_CACHE_STORE_FAILED';
  constructor(
    readonly store: string,
    readonly operation: 'get' | 'set' | 'delete' | 'clear' | 'sweep',
    options: { cause?: unknown } = {},
  ) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause ?? 'unknown error');
    super(`The ${store} cache store could not ${operation}: ${reason}`, options);
    this.name = 'CacheStoreError';
  }
}

/** Throws the TypeError every store throws for a TTL that is not a positive whole number of ms. */
export function checkTtlMs(ttlMs: unknown, where: string): asserts ttlMs is number {
  if (typeof ttlMs === 'number' && Number.isSafeInteger(ttlMs) && ttlMs > 0) return;
  throw new TypeError(
    `${where}: \`ttlMs\` must be a positive whole number of milliseconds, e.g. { ttlMs: 60_000 }, got ${String(ttlMs)}.`,
  );
}

/** Throws a TypeError for a key that is not a string or contains NUL (see the contract above). */
export function checkKey(key: unknown, where: string): asserts key is string {
  if (typeof key === 'string' && !key.includes('\u0000')) return;
  throw new TypeError(`${where}: a key must be a string without NUL characters, got ${JSON.stringify(key)}.`);
}

/** Throws a TypeError for a value that is not bytes: strings are encoded by the caller. */
export function checkValue(value: unknown, where: string): asserts value is Uint8Array {
  if (value instanceof Uint8Array) return;
  throw new TypeError(
    `${where}: a value must be bytes (a Buffer or Uint8Array), got ${typeof value}. Encode strings yourself: Buffer.from(json).`,
  );
}

/** The namespace every store takes: a non-empty string, used literally as the keys' prefix. */
export function checkNamespace(namespace: unknown, where: string): asserts namespace is string {
  if (typeof namespace === 'string' && namespace.length > 0 && !namespace.includes('\u0000')) return;
  throw new TypeError(
    `${where}: \`namespace\` must be a non-empty string that says whose entries these are, e.g. 'cachelab:06:'.`,
  );
}

/** A Buffer over the same bytes (no copy) when given a plain Uint8Array. */
export function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
