import type { PaymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { LRUCache } from 'lru-cache';

export interface PaymentsCacheOptions {
  /** Most bytes of response bodies the cache may hold at once. */
  maxBytes: number;
  /** How long an answer may be served from the cache after it was stored, in ms. */
  ttlMs: number;
  /** The clock, in ms. The tests inject one to expire answers without waiting. Default: the real clock. */
  now?: () => number;
}

/**
 * The memory behind GET /payments: response bodies (JSON bytes) by query.
 * app.ts calls `get` and `set`; GET /cache/stats reports `entries` and `bytes`.
 */
export interface PaymentsCache {
  /** The body stored for this query, or undefined. */
  get(q: PaymentsQuery): Buffer | undefined;
  /** Remember the body of a successful answer to this query. */
  set(q: PaymentsQuery, body: Buffer): void;
  readonly entries: number;
  readonly bytes: number;
}

export function createPaymentsCache(options: PaymentsCacheOptions): PaymentsCache {
  const { maxBytes, ttlMs, now } = options;
  const lru = new LRUCache<string, Buffer>({
    // Bounded by bytes, because answers range from 2 kB (limit=10) to 17.8 MB (limit=100000):
    // a count of entries says nothing about memory. Every set adds the entry's size and evicts
    // the least recently used entries until the total fits; a body larger than maxBytes on its
    // own is not stored at all (lru-cache's maxEntrySize defaults to maxSize).
    maxSize: maxBytes,
    // The size of an entry is its body's bytes plus its key: exact, because we store bytes.
    sizeCalculation: (body, key) => body.length + key.length,
    // How stale an answer may be: at most ttlMs after it was stored, then it is loaded again.
    ttl: ttlMs,
    // The injected clock drives the TTL. ttlResolution 0: read it on every check, rather than
    // reusing a reading for 1 ms of real time, which could hide a jump of the test's clock.
    ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
  });

  // Every parameter the answer depends on, from the validated `q` (investor upper-cased, limit
  // defaulted), sorted and encoded by lesson 02's cacheKey. Leave one out and a request is
  // answered with the rows of another.
  const keyOf = (q: PaymentsQuery): string => cacheKey({ name: 'payments', params: q });

  return {
    get: (q) => lru.get(keyOf(q)),
    set(q, body) {
      lru.set(keyOf(q), body);
    },
    get entries() {
      return lru.size;
    },
    // GET /cache/stats reports this and the tests read it: keep it the sum of the bodies held.
    get bytes() {
      let total = 0;
      for (const body of lru.values()) total += body.length;
      return total;
    },
  };
}
