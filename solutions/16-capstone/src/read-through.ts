import type { TagIndex } from '@cachelab/lesson-05-invalidation/tags';
import type { CacheKind, TtlPolicy } from '@cachelab/lesson-05-invalidation/ttl-policy';
import {
  decodeRepresentation,
  encodeRepresentation,
  httpDate,
  type Representation,
  strongEtag,
} from '@cachelab/lesson-07-http-caching/representation';
import { type CacheEntry, decodeEntry, encodeEntry, freshness } from '@cachelab/lesson-08-stampedes/cache-entry';
import { createSingleFlight } from '@cachelab/lesson-08-stampedes/single-flight';
import type { CapstoneStore, StoreLevel } from './capstone-store.ts';

export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'BYPASS';
export type Level = StoreLevel | 'db';

/** What a route's loader returns: the value to serialize, and when its data last changed. */
export interface Loaded {
  value: unknown;
  /** Default: now ("this answer was built now"). */
  lastModified?: Date | string | number;
}

export interface ReadRequest {
  /** Lesson 05's kind of data: its TTL comes from the policy. */
  kind: CacheKind;
  /** The key inside the store's namespace, from cacheKey(). */
  key: string;
  /** Full Redis keys of the tag sets this entry belongs to (lesson 05's directoryKeys().deptTag). */
  tags?: readonly string[];
  /** Read PostgreSQL. What it throws (a 404) reaches the caller and is never stored. */
  load: () => Promise<Loaded>;
}

export interface ReadResult {
  /** Body, ETag and Last-Modified: what lesson 07's sendRepresentation sends, or answers 304 for. */
  representation: Representation;
  status: CacheStatus;
  /** Where the body came from. */
  level: Level;
  /** Measured ms for Server-Timing: the lookup (`l1` or `l2`) and the loader (`db`). */
  timings: Partial<Record<Level, number>>;
}

export interface ReadThroughOptions {
  store: CapstoneStore;
  /** Lesson 05's tag index, over the same Redis. */
  tags: TagIndex;
  /** Lesson 05's TTLs per kind: an entry is fresh (a HIT) for its kind's `l2TtlSeconds`. */
  ttls: TtlPolicy;
  /** How long past fresh an entry may still answer (STALE) while one refresh runs, ms. 0: never. */
  graceMs: number;
  /** The clock, epoch ms (give the store and its L1 the same one). Default Date.now. */
  now?: () => number;
  /** How an ETag is computed from a body. Default lesson 07's strongEtag. Once per fill, never per request. */
  etagOf?: (body: Buffer) => string;
  /** Lesson 10's metrics observer. Must not throw. */
  observer?: {
    result?(name: string, status: CacheStatus, level: Level): void;
    loaded?(name: string, seconds: number, ok: boolean): void;
  };
  /** Store and Redis failures (the request is still answered). Must not throw. */
  onError?: (error: Error, operation: string) => void;
}

export interface ReadThrough {
  get(request: ReadRequest): Promise<ReadResult>;
  /** After a write committed: drop `keys` and every key carrying one of `tags`, everywhere. Never throws. */
  invalidate(change: { keys: readonly string[]; tags: readonly string[] }): Promise<void>;
  /** Resolves when every background refresh running now has finished (tests wait on it). */
  settled(): Promise<void>;
}

/** An entry as stored: lesson 08's freshness header around lesson 07's representation. */
interface Stored {
  entry: CacheEntry;
  representation: Representation;
}

const asError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));

/**
 * The read-through cache of the capstone, composed from the lessons' pieces:
 *
 *   get:        store.read (L1 → L2, lesson 06 + 10)   failed or refused → BYPASS: load, store nothing
 *               fresh (lesson 08's header)               → HIT
 *               stale, within the grace                  → STALE now, one refresh in the background
 *               missing or expired                       → MISS: one load per key (single-flight)
 *   a fill:     load → JSON.stringify once → ETag once (lesson 07) → entry (lesson 08) → store.set
 *               with the kind's TTL + grace (lesson 05) → register the key in its tags (lesson 05);
 *               skipped when a write came since the load began (the generation guard)
 *   invalidate: bump the generation, take the tags' members, forget their flights, delete each
 *               key from the store (L2, L1, then the bus tells the other instances)
 */
export function createReadThrough(options: ReadThroughOptions): ReadThrough {
  const { store, ttls, graceMs } = options;
  const now = options.now ?? Date.now;
  const etagOf = options.etagOf ?? strongEtag;
  const observer = options.observer ?? {};
  const onError = options.onError ?? (() => {});
  const flights = createSingleFlight();
  const running = new Set<Promise<unknown>>();

  /**
   * Decoding is done once per stored buffer, on its first hit, and kept with it (an L1 hit
   * returns the same Buffer every time): a hit then costs no JSON.parse. This helper is done.
   */
  const decoded = new WeakMap<Buffer, Stored>();
  function decodeStored(bytes: Buffer): Stored | undefined {
    let stored = decoded.get(bytes);
    if (!stored) {
      const entry = decodeEntry(bytes);
      const representation = entry && decodeRepresentation(entry.body);
      if (!entry || !representation) return undefined; // not ours: a miss, overwritten by the fill
      stored = { entry, representation };
      decoded.set(bytes, stored);
    }
    return stored;
  }

  /** The generation guard: bumped by every invalidation; a load that saw an older one stores nothing. */
  let generation = 0;

  /** Load, serialize and hash once, and (unless told not to, or a write overtook the load) store. */
  async function fill(
    request: ReadRequest,
    storeIt: boolean,
  ): Promise<{ representation: Representation; dbMs: number }> {
    const { kind, key } = request;
    const startedAt = generation;
    const started = performance.now();
    let loaded: Loaded;
    try {
      loaded = await request.load();
    } catch (err) {
      // A 404 or a database failure reaches every waiter of this flight, and is never stored.
      observer.loaded?.(kind, (performance.now() - started) / 1000, false);
      throw err;
    }
    const dbMs = performance.now() - started;
    observer.loaded?.(kind, dbMs / 1000, true);
    const body = Buffer.from(JSON.stringify(loaded.value));
    // The ETag is part of the entry: computed here, once per fill, and served with every hit.
    const representation: Representation = {
      body,
      etag: etagOf(body),
      lastModified: httpDate(loaded.lastModified ?? now()),
    };
    // A write committed while we loaded: what we hold may be the old row. Answer it, don't keep it.
    if (!storeIt || generation !== startedAt) return { representation, dbMs };
    const freshMs = ttls[kind].l2TtlSeconds * 1000;
    const storedAtMs = now();
    const bytes = encodeEntry({
      body: encodeRepresentation(representation),
      storedAtMs,
      freshUntilMs: storedAtMs + freshMs,
      staleUntilMs: storedAtMs + freshMs + graceMs,
      deltaMs: Math.round(dbMs),
    });
    try {
      await store.set(key, bytes, { ttlMs: freshMs + graceMs });
      // Value first, then its tags (lesson 05): a write in between finds the key next time.
      if (request.tags && request.tags.length > 0) await options.tags.add(key, request.tags);
    } catch (err) {
      onError(asError(err), 'set');
    }
    return { representation, dbMs };
  }

  /** One refresh per key, in the background; a failure keeps the stale entry (until its grace ends). */
  function refreshInBackground(request: ReadRequest): void {
    const refresh = flights
      .run(request.key, () => fill(request, true))
      .catch((err) => onError(asError(err), 'refresh'));
    running.add(refresh);
    void refresh.finally(() => running.delete(refresh));
  }

  function result(
    kind: CacheKind,
    representation: Representation,
    status: CacheStatus,
    level: Level,
    timings: ReadResult['timings'],
  ): ReadResult {
    observer.result?.(kind, status, level);
    return { representation, status, level, timings };
  }

  return {
    async get(request) {
      const { kind, key } = request;
      const started = performance.now();
      let lookup: Awaited<ReturnType<CapstoneStore['read']>>;
      let lookupFailed = false;
      try {
        lookup = await store.read(key);
      } catch (err) {
        // Redis failed, or the breaker said no: fail open, to PostgreSQL.
        lookupFailed = true;
        onError(asError(err), 'get');
      }
      const lookupMs = performance.now() - started;
      if (lookup) {
        const stored = decodeStored(lookup.value);
        const state = stored && freshness(stored.entry, now());
        if (stored && state === 'fresh') {
          return result(kind, stored.representation, 'HIT', lookup.level, { [lookup.level]: lookupMs });
        }
        if (stored && state === 'stale') {
          refreshInBackground(request);
          return result(kind, stored.representation, 'STALE', lookup.level, { [lookup.level]: lookupMs });
        }
      }
      // One load per key: every request for this key that arrives meanwhile awaits the same one.
      const { representation, dbMs } = await flights.run(key, () => fill(request, !lookupFailed));
      return result(kind, representation, lookupFailed ? 'BYPASS' : 'MISS', 'db', { l2: lookupMs, db: dbMs });
    },

    async invalidate({ keys, tags }) {
      // First: every load in progress now may hold the old row, and must not store it.
      generation++;
      const taken = tags.length > 0 ? await options.tags.take(tags) : { ok: true, keys: [] };
      if (!taken.ok) onError(new Error(`the tags ${tags.join(', ')} could not be read`), 'invalidate-tag');
      const all = new Set([...keys, ...taken.keys]);
      await Promise.all(
        [...all].map(async (key) => {
          // A request that arrives after the write must not join a load that began before it.
          flights.forget(key);
          try {
            await store.delete(key);
          } catch (err) {
            onError(asError(err), 'delete');
          }
        }),
      );
    },

    async settled() {
      await Promise.allSettled([...running]);
    },
  };
}
