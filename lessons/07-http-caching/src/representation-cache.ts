import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import { createRedisStore } from '@cachelab/lesson-03-redis-cache-aside/redis-store';
import { createGenerations } from '@cachelab/lesson-04-hierarchical/generation';
import { createInvalidationBus } from '@cachelab/lesson-04-hierarchical/invalidation-bus';
import type { Redis } from 'ioredis';
import {
  decodeRepresentation,
  encodeRepresentation,
  httpDate,
  type Representation,
  strongEtag,
} from './representation.ts';

/**
 * Lesson 04's two-level cache (L1 in memory over L2 in Redis, invalidated across instances
 * over pub/sub), storing *representations* instead of bare bodies: the body bytes together
 * with their ETag and Last-Modified, in one envelope (see representation.ts).
 *
 *   read:    L1 → hit? the header, decoded on the envelope's first hit and kept, done
 *            (`peek` is this step alone, without a promise)
 *            L2 → hit? put the same envelope into L1, decode, done
 *            load → JSON.stringify once, hash once (the ETag), encode once → L2 (unless a
 *                   delete overtook the load: lesson 04's generation guard), then L1
 *   delete:  L2 and the key's generation, then this L1, then publish so every other
 *            instance drops its L1
 *
 * The hash runs only on a fill. Every instance serves the envelope some instance built, so
 * they all send the same ETag and Last-Modified for the same entry: a client revalidating
 * through a load balancer gets its 304 from whichever instance answers.
 */
export type Level = 'l1' | 'l2' | 'db';

/** What `load` returns: the value to serialize, and when its data last changed, if known. */
export interface Loaded {
  value: unknown;
  /** Default: now, i.e. "this answer was built now" (for data with no modification time). */
  lastModified?: Date | string | number;
}

export interface RepresentationResult {
  representation: Representation;
  level: Level;
  /** For `X-Cache`. BYPASS: Redis failed and the value came from the loader. */
  status: 'HIT' | 'MISS' | 'BYPASS';
  /**
   * Measured ms per step taken, for Server-Timing: `l1`, `l2` (all Redis time), `db` (the
   * loader), `json` (JSON.stringify) and `etag` (hashing). `json` and `etag` only on a fill.
   */
  timings: Partial<Record<Level | 'json' | 'etag', number>>;
}

export interface RepresentationCacheOptions {
  /** Redis for L2 and for publishing invalidations. The cache never closes it. */
  redis: Redis;
  /** A second connection, only for receiving invalidations (lesson 04's bus). */
  subscriber: Redis;
  /** The pub/sub channel shared by every instance; include the key prefix in it. */
  channel: string;
  /** This instance's id on the bus. Default: host, pid and a random suffix. */
  instanceId?: string;
  /** L1 bounds, per instance; `ttlMs` must be shorter than `l2.ttlSeconds` (lesson 04). */
  l1: { maxBytes: number; ttlMs: number; now?: () => number };
  l2: { ttlSeconds: number };
  /**
   * How an ETag is computed from the body. Default `strongEtag` (SHA-256). Called once per
   * fill, never per request; tests pass a counting wrapper to prove it.
   */
  etagOf?: (body: Buffer) => string;
  /**
   * Lesson 04's stale-set guard: a load that a delete overtook is not stored, so a 304 can
   * never confirm the old ETag after a write. Default true; false only to watch the race.
   */
  generationGuard?: boolean;
  /** Redis failures, for logging. Must not throw. */
  onError?: (error: Error, operation: string) => void;
}

export interface RepresentationCache {
  /**
   * The representation under `key` when L1 holds it, else undefined (then call `get`).
   * Synchronous and without a result object, so that a caller can answer the commonest
   * request, an L1 hit, without a promise (lesson 04's `peek`).
   */
  peek(key: string): Representation | undefined;
  /**
   * The representation under `key` from the fastest level that has it; on a miss `load()`
   * runs and the result is serialized, tagged and stored in both levels. What `load` throws
   * (a 404) propagates and nothing is stored.
   */
  get(key: string, load: () => Promise<Loaded>): Promise<RepresentationResult>;
  /** Invalidate `key` in L2, this L1 and every other L1. Never throws; see lesson 04. */
  delete(key: string): Promise<{ l2: boolean; published: boolean; durMs: number }>;
  readonly instanceId: string;
  readonly ready: Promise<void>;
  readonly l1: { readonly entries: number; readonly bytes: number };
  close(): Promise<void>;
}

export function createRepresentationCache(options: RepresentationCacheOptions): RepresentationCache {
  const { l1: l1Options, l2: l2Options, onError } = options;
  if (!(l1Options.ttlMs > 0 && l1Options.ttlMs < l2Options.ttlSeconds * 1000)) {
    throw new TypeError(
      `createRepresentationCache: l1.ttlMs (${l1Options.ttlMs}) must be more than 0 and shorter than l2.ttlSeconds (${l2Options.ttlSeconds} s): L1 copies must expire first (lesson 04), e.g. 10000 over 60.`,
    );
  }
  const etagOf = options.etagOf ?? strongEtag;
  const l1 = createMemoryStore({
    maxBytes: l1Options.maxBytes,
    ttlMs: l1Options.ttlMs,
    ...(l1Options.now ? { now: l1Options.now } : {}),
  });
  const l2 = createRedisStore({
    redis: options.redis,
    ttlSeconds: l2Options.ttlSeconds,
    ...(onError ? { onError } : {}),
  });

  const guard = options.generationGuard ?? true;
  const generations = createGenerations(options.redis, onError);
  const generationKey = (key: string) => `${key}#generation`;

  /**
   * L1 holds envelopes, the same bytes as L2. Each one's header is decoded once, on its first
   * hit, and kept by its buffer: parsing it on every hit cost about 0.7 µs of JSON.parse
   * (lesson 09's hit-path-costs.ts). A WeakMap: when L1 drops a buffer, its representation
   * goes with it; the body is a view into that buffer, so nothing is held twice.
   */
  const decodedL1 = new WeakMap<Buffer, Representation>();
  const decodeL1 = (envelope: Buffer): Representation | undefined => {
    let representation = decodedL1.get(envelope);
    if (!representation) {
      representation = decodeRepresentation(envelope);
      if (representation) decodedL1.set(envelope, representation);
    }
    return representation;
  };

  // Bumped on every invalidation: a read in flight across one must not refill L1 (lesson 04).
  let invalidations = 0;
  const fillL1 = (key: string, envelope: Buffer, startedAt: number) => {
    if (invalidations === startedAt) l1.set(key, envelope);
  };

  const bus = createInvalidationBus({
    publisher: options.redis,
    subscriber: options.subscriber,
    channel: options.channel,
    ...(options.instanceId ? { instanceId: options.instanceId } : {}),
    onInvalidate(keys) {
      invalidations++;
      for (const key of keys) l1.delete(key);
    },
    onResubscribe() {
      invalidations++;
      l1.clear();
    },
    ...(onError ? { onError } : {}),
  });

  return {
    instanceId: bus.instanceId,
    ready: bus.ready,
    get l1() {
      return { entries: l1.entries, bytes: l1.bytes };
    },

    peek(key) {
      const local = l1.get(key);
      return local && decodeL1(local.body);
    },

    async get(key, load) {
      const startedAt = invalidations;
      const timings: RepresentationResult['timings'] = {};

      // 1. L1: a Map lookup, then the envelope's header (decoded on its first hit; the body is a view, not a copy).
      let t = performance.now();
      const local = l1.get(key);
      const fromL1 = local && decodeL1(local.body);
      timings.l1 = performance.now() - t;
      if (fromL1) return { representation: fromL1, level: 'l1', status: 'HIT', timings };

      // 2. L2: one round trip. A hit is backfilled into L1 as the same bytes.
      t = performance.now();
      const remote = await l2.get(key);
      // decodeL1: the envelope goes into L1 as it is, so its later L1 hits find this same
      // object (step 3 keeps an entry's compressed copies by it).
      const fromL2 = remote.status === 'hit' ? decodeL1(remote.body) : undefined;
      timings.l2 = performance.now() - t;
      if (remote.status === 'hit' && fromL2) {
        fillL1(key, remote.body, startedAt);
        return { representation: fromL2, level: 'l2', status: 'HIT', timings };
      }
      // (A hit that does not decode is an entry from other code under our key: treat it as a miss.)

      // 3. The key's generation before loading (lesson 04): a delete from now on refuses our SET.
      let generation: string | undefined = 'unguarded';
      if (guard && remote.status === 'miss') {
        t = performance.now();
        generation = await generations.read(generationKey(key));
        timings.l2 += performance.now() - t;
      }

      // 4. The loader, then serialize, tag and encode, each once: the only place a body is hashed.
      t = performance.now();
      const loaded = await load();
      timings.db = performance.now() - t;
      t = performance.now();
      const body = Buffer.from(JSON.stringify(loaded.value));
      timings.json = performance.now() - t;
      t = performance.now();
      const representation: Representation = {
        body,
        etag: etagOf(body),
        lastModified: httpDate(loaded.lastModified ?? Date.now()),
      };
      timings.etag = performance.now() - t;
      const envelope = encodeRepresentation(representation);
      // Serve the body inside the envelope: the standalone `body` can then be collected. Decoded
      // as L1 will find it, so that this MISS and the hits after it share one object.
      const stored = decodeL1(envelope) ?? representation;

      if (remote.status === 'error' || generation === undefined) {
        fillL1(key, envelope, startedAt);
        return { representation: stored, level: 'db', status: 'BYPASS', timings };
      }
      t = performance.now();
      const outcome = guard
        ? await generations.setIfCurrent(key, generationKey(key), envelope, l2Options.ttlSeconds * 1000, generation)
        : (await l2.set(key, envelope))
          ? 'stored'
          : 'error';
      timings.l2 += performance.now() - t;
      // Refused: a delete overtook the load. This request still gets what it loaded; no cache keeps it.
      if (outcome !== 'refused') fillL1(key, envelope, startedAt);
      return { representation: stored, level: 'db', status: 'MISS', timings };
    },

    async delete(key) {
      const started = performance.now();
      const l2Deleted = guard ? await generations.invalidate(key, generationKey(key)) : await l2.delete(key);
      invalidations++;
      l1.delete(key);
      const published = await bus.publish([key]);
      return { l2: l2Deleted, published, durMs: performance.now() - started };
    },

    close: () => bus.close(),
  };
}
