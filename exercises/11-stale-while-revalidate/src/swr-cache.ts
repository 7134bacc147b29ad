import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';

/**
 * An in-memory cache that can answer with a value that is a little too old, instead of making
 * the reader wait for the database:
 *
 *     age < freshMs                     HIT    the entry as it is
 *     freshMs ≤ age < freshMs + graceMs STALE  the entry as it is, and a refresh in the background
 *     no entry, or older than that      MISS   load now, store, answer
 *
 * `age` is `now() - storedAtMs`, on the cache's clock.
 */
export type CacheOutcome = 'HIT' | 'MISS' | 'STALE';

export interface SwrCacheOptions {
  /** How long an answer is fresh, in ms: served as a HIT. */
  freshMs: number;
  /** How long after that it may still be served as STALE, while it is refreshed, in ms. */
  graceMs: number;
  /** The clock, in ms. Default Date.now; the tests pass their own and move it forward. */
  now?: () => number;
  /** Called with the error of a background refresh that failed (the app logs it). */
  onRefreshError?: (error: unknown) => void;
}

export interface SwrCache {
  /** The answer for `key`, and which of HIT, MISS or STALE it was. What `load` throws on a MISS propagates. */
  get(key: string, load: () => Promise<unknown>): Promise<{ body: Buffer; cache: CacheOutcome }>;
}

export function createSwrCache(options: SwrCacheOptions): SwrCache {
  const { freshMs } = options;
  const now = options.now ?? Date.now;
  const store = createMemoryStore({
    maxBytes: 64 * 1024 * 1024,
    // TODO: keep an entry long enough to be served STALE during the grace period, and no longer.
    ttlMs: freshMs,
    ...(options.now ? { now: options.now } : {}),
  });

  /** Load, serialize once, store (storedAtMs is now), return the bytes. */
  async function loadAndStore(key: string, load: () => Promise<unknown>): Promise<Buffer> {
    const body = Buffer.from(JSON.stringify(await load()));
    store.set(key, body);
    return body;
  }

  return {
    async get(key, load) {
      const entry = store.get(key);
      if (entry && now() - entry.storedAtMs < freshMs) return { body: entry.body, cache: 'HIT' };
      // TODO: an entry past freshMs but within the grace period: answer it at once as STALE and
      // refresh it in the background: one refresh per key at a time; a refresh that fails keeps
      // the stale entry and reports its error to options.onRefreshError.
      return { body: await loadAndStore(key, load), cache: 'MISS' };
    },
  };
}
