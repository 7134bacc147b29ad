import { LRUCache } from 'lru-cache';

/**
 * An in-process cache of response bodies, bounded by bytes: lru-cache underneath.
 *
 * What is stored is the serialized JSON (a Buffer), not the object it came from:
 * - its size is known exactly (`body.length`), so the bound is in real bytes, not a guess;
 * - a hit sends the stored bytes as they are (`res.end(body)`): no JSON.stringify per hit
 *   (on the 100,000-row result that is tens of milliseconds saved on every request);
 * - nobody can mutate a cached object by accident and change the next caller's answer.
 *
 * Limits we accept: the memory is this process's. Two instances behind a load balancer
 * have two caches (and may answer differently until both expire); a restart empties it.
 * Lesson 03 moves the cache to Redis; lesson 04 keeps this one in front of Redis.
 */
export interface CachedBody {
  /** The serialized JSON exactly as it is sent. Do not modify it: it is shared by every hit. */
  body: Buffer;
  /** When it was stored, in ms on the store's clock (the injected `now`, else Date.now()). */
  storedAtMs: number;
}

export interface MemoryStoreOptions {
  /**
   * Upper bound on the memory the entries take, in bytes: the sum over entries of body
   * bytes + key length. When a set would go over it, the least recently used entries are
   * evicted until it fits. A single value larger than this is not stored at all.
   * Required: **an in-memory cache without a byte bound grows until the process dies**.
   * Counted: the bodies and keys; not counted: lru-cache's bookkeeping (a few dozen bytes
   * per entry), which is why {@link maxEntries} exists for caches of many tiny values.
   */
  maxBytes: number;
  /**
   * Optional upper bound on the number of entries (lru-cache's `max`). Default: none, the
   * bytes bound alone. Note lru-cache allocates its index for `max` entries up front, so
   * a huge value costs memory even when the cache is empty.
   */
  maxEntries?: number;
  /**
   * How long an entry is served, in ms, counted from when it was set (reading it does not
   * extend it). An entry is fresh while its age is at most ttlMs, and gone after. Expired
   * entries are dropped when read or evicted, not by a timer: until then they count in
   * {@link MemoryStore.bytes}, which stays under maxBytes regardless.
   */
  ttlMs: number;
  /**
   * The clock, in ms. Default performance.now() for expiry and Date.now() for
   * `storedAtMs`. Inject one in tests to expire entries without sleeping; it must
   * never go backwards.
   */
  now?: () => number;
}

export interface MemoryStore {
  /** The entry under `key`, or undefined when there is none or it has expired. Marks it recently used. */
  get(key: string): CachedBody | undefined;
  /** Store `body` under `key` (replacing any entry) for `ttlMs` (default: the store's). Too large → not stored. */
  set(key: string, body: Buffer, ttlMs?: number): void;
  /** Remove the entry; true when there was one. */
  delete(key: string): boolean;
  /** Remove every entry. */
  clear(): void;
  /** Entries held now (expired ones included until they are read or evicted). */
  readonly entries: number;
  /** Bytes held now, as counted for {@link MemoryStoreOptions.maxBytes}; never above it. */
  readonly bytes: number;
}

export function createMemoryStore(options: MemoryStoreOptions): MemoryStore {
  const { maxBytes, maxEntries, ttlMs, now } = validate(options);
  const clock = now ?? Date.now;
  const lru = new LRUCache<string, CachedBody>({
    maxSize: maxBytes,
    // The entry's cost: its body and its key. Never 0: lru-cache wants a positive size.
    sizeCalculation: (value, key) => Math.max(1, value.body.length + key.length),
    // A value larger than maxBytes is refused (and any older entry under its key removed).
    maxEntrySize: maxBytes,
    ...(maxEntries !== undefined ? { max: maxEntries } : {}),
    ttl: ttlMs,
    ...(now
      ? {
          // lru-cache treats a start time of 0 as "no TTL", and a test clock often starts
          // at 0: shift by 1 ms (only differences matter). ttlResolution 0 makes it read
          // the clock on every check instead of caching it for 1 ms of real time, which
          // would hide a test clock that just jumped.
          perf: { now: () => now() + 1 },
          ttlResolution: 0,
        }
      : {}),
  });

  return {
    get: (key) => lru.get(key),
    set(key, body, entryTtlMs) {
      if (entryTtlMs !== undefined) requirePositiveInteger(entryTtlMs, 'ttlMs', 'set(key, body, ttlMs)');
      lru.set(key, { body, storedAtMs: clock() }, entryTtlMs !== undefined ? { ttl: entryTtlMs } : {});
    },
    delete: (key) => lru.delete(key),
    clear: () => lru.clear(),
    get entries() {
      return lru.size;
    },
    get bytes() {
      return lru.calculatedSize;
    },
  };
}

/** Wrong options fail here, at construction, naming the option and the fix. */
function validate(options: MemoryStoreOptions): MemoryStoreOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('createMemoryStore: pass options, e.g. { maxBytes: 64 * 1024 * 1024, ttlMs: 60_000 }.');
  }
  requirePositiveInteger(options.maxBytes, 'maxBytes', 'createMemoryStore', 'e.g. 64 * 1024 * 1024 for 64 MiB');
  requirePositiveInteger(options.ttlMs, 'ttlMs', 'createMemoryStore', 'e.g. 60_000 for one minute');
  if (options.maxEntries !== undefined) {
    requirePositiveInteger(options.maxEntries, 'maxEntries', 'createMemoryStore', 'or leave it out');
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new TypeError(
      'createMemoryStore: `now` must be a function returning ms, e.g. () => Date.now(), or left out.',
    );
  }
  return options;
}

function requirePositiveInteger(value: unknown, name: string, where: string, example = ''): void {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return;
  throw new TypeError(
    `${where}: \`${name}\` must be a positive whole number${example ? ` (${example})` : ''}, got ${String(value)}.`,
  );
}
