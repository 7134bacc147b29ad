import type { PaymentsQuery } from '@cachelab/lesson-01-uncached/validation';
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

// biome-ignore lint/correctness/noUnusedFunctionParameters: the starter ignores its options (see the TODOs).
export function createPaymentsCache(options: PaymentsCacheOptions): PaymentsCache {
  // TODO: bound the cache by options.maxBytes (bytes of bodies), not by a number of entries.
  // TODO: expire answers options.ttlMs after they were stored, on the options.now clock when there is one.
  const lru = new LRUCache<string, Buffer>({ max: 100 });

  // TODO: key on every parameter the answer depends on, not only the investor.
  const keyOf = (q: PaymentsQuery): string => q.investor;

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
