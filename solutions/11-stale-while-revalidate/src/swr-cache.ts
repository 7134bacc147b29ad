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
  const { freshMs, graceMs } = options;
  const now = options.now ?? Date.now;
  const store = createMemoryStore({
    maxBytes: 64 * 1024 * 1024,
    // The entry must outlive its fresh time to be served stale at all, and must be gone when
    // the grace period ends: freshMs + graceMs is the oldest answer this cache will ever give,
    // and the memory store drops the entry for us right then.
    ttlMs: freshMs + graceMs,
    ...(options.now ? { now: options.now } : {}),
  });
  // The refreshes running now, by key: a map of work in progress, emptied as each settles.
  const refreshing = new Map<string, Promise<void>>();

  /** Load, serialize once, store (storedAtMs is now), return the bytes. */
  async function loadAndStore(key: string, load: () => Promise<unknown>): Promise<Buffer> {
    const body = Buffer.from(JSON.stringify(await load()));
    store.set(key, body);
    return body;
  }

  function refreshInBackground(key: string, load: () => Promise<unknown>): void {
    // One refresh per key: a thousand stale reads must not become a thousand queries, which
    // is the stampede this cache exists to avoid.
    if (refreshing.has(key)) return;
    const refresh = loadAndStore(key, load)
      .then(
        () => {},
        // A failed refresh stores nothing and deletes nothing: the stale entry stays and is
        // served until the grace period ends, and the next stale read tries again. Nobody
        // awaits this promise, so the error is reported here, not left unhandled.
        (error: unknown) => options.onRefreshError?.(error),
      )
      .finally(() => refreshing.delete(key));
    refreshing.set(key, refresh);
  }

  return {
    async get(key, load) {
      const entry = store.get(key);
      if (entry) {
        const age = now() - entry.storedAtMs;
        if (age < freshMs) return { body: entry.body, cache: 'HIT' };
        // Checked here as well as by the store's TTL: the bound is the point of a grace period.
        if (age < freshMs + graceMs) {
          // Not awaited: the reader gets the stale value now, the refresh finishes later.
          refreshInBackground(key, load);
          return { body: entry.body, cache: 'STALE' };
        }
      }
      return { body: await loadAndStore(key, load), cache: 'MISS' };
    },
  };
}
