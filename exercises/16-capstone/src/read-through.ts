// biome-ignore-all lint/correctness/noUnusedImports: the starter imports the lessons' pieces you will compose
// biome-ignore-all lint/correctness/noUnusedVariables: the helpers below are for the code you write
// biome-ignore-all lint/correctness/noUnusedFunctionParameters: the parameters are what your code reads
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
  // biome-ignore lint/style/useConst: invalidate(), which you write, bumps it
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
    // TODO: unless told not to (storeIt false: the lookup failed) or a write came since this
    // load began (the generation guard), store the entry: lesson 08's entry (encodeEntry) around
    // lesson 07's representation (encodeRepresentation), fresh for the kind's TTL (lesson 05's
    // ttls[kind].l2TtlSeconds) then stale for graceMs, kept by the store for both; then add the
    // key to its tags (options.tags.add, value first). A failure to store is reported to
    // onError, never thrown: the request has its answer.
    return { representation, dbMs };
  }

  /** One refresh per key, in the background; a failure keeps the stale entry (until its grace ends). */
  function refreshInBackground(request: ReadRequest): void {
    // TODO: refresh `request` in the background, one refresh per key however many stale reads
    // ask (lesson 08's single-flight), its failure reported to onError, never thrown. Add its
    // promise to `running` until it settles (settled() waits for them).
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
      // TODO: look the key up first (store.read: L1, then L2). When the lookup fails (Redis
      // down, or the breaker said no), fail open: load, answer BYPASS, store nothing. A stored
      // entry (decodeStored) that is fresh is a HIT; stale (within the grace) is answered at
      // once as STALE while refreshInBackground refreshes it; anything else is a MISS that
      // loads, ONE load per key however many requests miss it at once (lesson 08's single-flight).
      const { representation, dbMs } = await fill(request, false);
      return result(request.kind, representation, 'BYPASS', 'db', { db: dbMs });
    },

    async invalidate({ keys, tags }) {
      // TODO: after a write committed: bump the generation (loads in progress must not store
      // what they read), take the members of `tags` (options.tags.take), and for every key named
      // or taken: forget its flight (a read after the write must not join a load from before
      // it) and delete it from the store (a failure reported to onError, never thrown).
    },

    async settled() {
      await Promise.allSettled([...running]);
    },
  };
}
