import { LRUCache } from 'lru-cache';

/**
 * L1 with a memory bound that holds in production, and the counts that prove it.
 *
 * Lesson 02's store bounds the bytes it *counts* (body + key). Two things make the memory a
 * process really *holds* larger than that, and both bite under load:
 *
 * 1. **Views on bigger buffers.** A `Buffer` can be a window on a larger `ArrayBuffer`: a
 *    small `Buffer.from(string)` is a slice of Node's shared 8 KiB pool, and a body cut out
 *    of a bigger reply (lesson 08's entry header + body, `subarray`) keeps the whole reply
 *    alive. Counting `body.length` then undercounts; a cache of a thousand 100-byte views
 *    on 64 KiB socket reads holds 64 MB while reporting 100 KB. So a body that does not own
 *    its memory is **copied** into a buffer of its exact size before it is stored: the
 *    count is then what is held.
 * 2. **Evictions nobody sees.** When the bound is too small for the working set, the LRU
 *    evicts continuously and the hit ratio collapses, silently. `evictions` counts them (and
 *    `/metrics` exports it): a rising eviction rate with a falling hit ratio says "L1 is too
 *    small", before anyone profiles anything.
 *
 * Per entry, lru-cache's own bookkeeping (~100 bytes) is not counted; `maxEntries` bounds
 * it for caches of many tiny values.
 */
export interface BoundedL1Options {
  /** Bytes of bodies + keys this L1 may hold. Required, > 0. **The bound of this process's cache memory.** */
  maxBytes: number;
  /** Optional bound on the number of entries. Default: none. */
  maxEntries?: number;
  /** Default life of an entry, ms (> 0). */
  ttlMs: number;
  /** The clock, ms. Default performance.now. Tests inject one. */
  now?: () => number;
  /** Called once per entry evicted to make room (not for expiry, delete or replace). */
  onEvict?: () => void;
}

export interface BoundedL1 {
  get(key: string): Buffer | undefined;
  /** Store `body` (copied when it is a view on a bigger buffer) for `ttlMs` (default: the store's). */
  set(key: string, body: Buffer, ttlMs?: number): void;
  delete(key: string): boolean;
  clear(): void;
  readonly entries: number;
  /** Bytes held now, as counted against maxBytes: never above it. */
  readonly bytes: number;
  readonly maxBytes: number;
  /** Entries evicted to make room, since start. */
  readonly evictions: number;
}

/** A buffer that owns exactly its bytes: `body` itself when it does, else a copy. */
export function ownedCopy(body: Buffer): Buffer {
  if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) return body;
  const copy = Buffer.allocUnsafeSlow(body.byteLength); // never from the shared pool
  body.copy(copy);
  return copy;
}

export function createBoundedL1(options: BoundedL1Options): BoundedL1 {
  const { maxBytes, maxEntries, ttlMs, now, onEvict } = options;
  for (const [name, value] of [
    ['maxBytes', maxBytes],
    ['ttlMs', ttlMs],
    ...(maxEntries !== undefined ? [['maxEntries', maxEntries] as const] : []),
  ] as const) {
    if (!(Number.isSafeInteger(value) && value > 0)) {
      throw new TypeError(`createBoundedL1: \`${name}\` must be a positive whole number, got ${String(value)}.`);
    }
  }
  let evictions = 0;
  const lru = new LRUCache<string, Buffer>({
    maxSize: maxBytes,
    sizeCalculation: (body, key) => Math.max(1, body.byteLength + key.length),
    maxEntrySize: maxBytes,
    ...(maxEntries !== undefined ? { max: maxEntries } : {}),
    ttl: ttlMs,
    ...(now ? { perf: { now: () => now() + 1 }, ttlResolution: 0 } : {}),
    dispose: (_value, _key, reason) => {
      if (reason === 'evict') {
        evictions++;
        onEvict?.();
      }
    },
  });
  return {
    get: (key) => lru.get(key),
    set(key, body, entryTtlMs) {
      lru.set(key, ownedCopy(body), entryTtlMs !== undefined ? { ttl: entryTtlMs } : {});
    },
    delete: (key) => lru.delete(key),
    clear: () => lru.clear(),
    get entries() {
      return lru.size;
    },
    get bytes() {
      return lru.calculatedSize;
    },
    maxBytes,
    get evictions() {
      return evictions;
    },
  };
}
