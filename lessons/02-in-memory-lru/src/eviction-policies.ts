import { LRUCache } from 'lru-cache';
import { newCache } from 'transitory';
import { LfuCache } from './lfu-cache.ts';

/**
 * Three eviction policies behind one small interface, so that one loop can replay the same
 * key sequence through each and count hits (step 3, measure-policies.ts):
 *
 * - `LRU`: lru-cache, the library of this lesson, bounded by `max` entries. Evicts the entry
 *   read least recently. Admits every new key.
 * - `LFU`: ./lfu-cache.ts. Evicts the entry read the fewest times (ties: least recently).
 *   Admits every new key; counts are never aged and are forgotten on eviction.
 * - `W-TinyLFU`: transitory, the W-TinyLFU of Caffeine (Java) for JavaScript. A new key goes
 *   into a small LRU window (1% of the entries at first); when the window overflows, its
 *   oldest key is *admitted* into the main part only if a frequency sketch (a count-min
 *   sketch: 4 rows of 8-bit counters, every counter halved after 10 × size increments, so
 *   old popularity fades) says it was asked for more often than the entry it would push out;
 *   the sketch counts keys that are not cached too. The window's share then adapts by hill
 *   climbing on the hit ratio, as Caffeine does.
 *
 * The replay is cache-aside, as the app does it: get; on a miss, set.
 */
export interface PolicyCache {
  /** True on a hit (and counts the use). */
  get(key: number): boolean;
  /** Store the key after a miss. */
  set(key: number): void;
  /** Entries held now. */
  readonly size: number;
}

export const POLICIES = ['LRU', 'LFU', 'W-TinyLFU'] as const;
export type PolicyName = (typeof POLICIES)[number];

/** A cache of `max` entries (keys only: the policy is what is measured, not the values). */
export function createPolicyCache(policy: PolicyName, max: number): PolicyCache {
  switch (policy) {
    case 'LRU': {
      const lru = new LRUCache<number, true>({ max });
      return {
        get: (key) => lru.get(key) !== undefined,
        set: (key) => void lru.set(key, true),
        get size() {
          return lru.size;
        },
      };
    }
    case 'LFU': {
      const lfu = new LfuCache<number, true>(max);
      return {
        get: (key) => lfu.get(key) !== undefined,
        set: (key) => lfu.set(key, true),
        get size() {
          return lfu.size;
        },
      };
    }
    case 'W-TinyLFU': {
      const tiny = newCache<number, true>().maxSize(max).build();
      return {
        get: (key) => tiny.getIfPresent(key) !== null,
        set: (key) => {
          tiny.set(key, true);
          // transitory evicts lazily: on a timer 5 s after a set, or once the cache is 1%
          // (at least 5 entries) over its size. cleanUp() evicts now, so that it never holds
          // more than `max` entries, like the other two: a fair comparison.
          tiny.cleanUp();
        },
        get size() {
          return tiny.size;
        },
      };
    }
  }
}

export interface Replay {
  requests: number;
  hits: number;
  /** Hits / requests, in %. */
  hitPct: number;
  /** The most entries the cache held after any request. */
  maxSize: number;
}

/**
 * Replay `keys` through `cache`, cache-aside. Only the requests at positions in
 * [countFrom, countTo) are counted; the others still go through the cache (they warm it, or
 * they are the sweep being measured against).
 */
export function replay(cache: PolicyCache, keys: readonly number[], countFrom = 0, countTo = keys.length): Replay {
  let hits = 0;
  let maxSize = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as number;
    const hit = cache.get(key);
    if (!hit) cache.set(key);
    if (hit && i >= countFrom && i < countTo) hits += 1;
    if (cache.size > maxSize) maxSize = cache.size;
  }
  const requests = Math.max(0, Math.min(countTo, keys.length) - countFrom);
  return { requests, hits, hitPct: requests === 0 ? 0 : (100 * hits) / requests, maxSize };
}

/**
 * `traffic` with a one-off sweep inserted at position `at`: the keys `sweep` asked for once
 * each, in order (a report job, a crawler, an export reading every employee once).
 */
export function withSweep(traffic: readonly number[], at: number, sweep: readonly number[]): number[] {
  return [...traffic.slice(0, at), ...sweep, ...traffic.slice(at)];
}
