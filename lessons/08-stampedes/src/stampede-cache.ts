import { type CacheKeyParts, cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import { createRedisStore } from '@cachelab/lesson-03-redis-cache-aside/redis-store';
import { createGenerations } from '@cachelab/lesson-04-hierarchical/generation';
import { createInvalidationBus } from '@cachelab/lesson-04-hierarchical/invalidation-bus';
import type { Redis } from 'ioredis';
import { type CacheEntry, decodeEntry, encodeEntry, freshness } from './cache-entry.ts';
import { shouldRefreshEarly } from './early-refresh.ts';
import { DEFAULT_JITTER_SPREAD, jitterTtl } from './jitter.ts';
import { createLeases, type Lease } from './lease.ts';
import { createSingleFlight } from './single-flight.ts';

/**
 * Lesson 04's two-level cache (L1 in memory over L2 in Redis, L1 invalidated over pub/sub),
 * with every defence against stampedes this lesson teaches, composed in one read path:
 *
 *   get(key, load):
 *     1. L1, then L2. An entry is fresh, stale or expired (cache-entry.ts).
 *        fresh   → HIT. Roll the XFetch die: maybe refresh early, in the background.
 *        stale   → STALE: answer at once with the old value, refresh in the background
 *                  (one refresh per key: single-flight here, the lease across instances).
 *                  A failed refresh keeps the stale value; the grace period bounds how long.
 *        expired / missing → MISS: load now, but
 *     2. single-flight: one load per key in this process; the other requests await it;
 *     3. lease: one load per key across instances; the others poll L2 for its result;
 *     4. generation: read it before loading; write the result only if no delete happened
 *        meanwhile (compare-and-set in Lua);
 *     5. store with a jittered TTL, so keys written together do not expire together.
 *   Redis failing → BYPASS: load (still single-flight), keep it in L1 only.
 *
 *   peek(key, load): step 1 alone, for a fresh entry in L1, without a promise: the commonest
 *   answer. (It rolls the XFetch die too; anything else is left to `get`.)
 *
 *   delete(key): bump the generation and DEL in one MULTI, drop L1, forget flights in
 *   progress, publish to the other instances' L1.
 *
 * Each defence can be switched off (`singleFlight`, `lease`, `generationGuard`,
 * `earlyRefreshBeta: 0`, `graceMs: 0`, `jitter: 0`), which is how the tests and the
 * measurement script show what each one is worth.
 */

export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'BYPASS';
export type Level = 'l1' | 'l2' | 'db';
/** Server-Timing metrics: the levels, the loader, JSON.stringify, and time spent waiting for another load. */
export type Metric = 'l1' | 'l2' | 'db' | 'json' | 'wait';

export interface CacheResult {
  /** The serialized JSON, ready to send. */
  body: Buffer;
  /**
   * HIT: a fresh entry. STALE: an entry past its TTL but within the grace period (a refresh
   * runs in the background). MISS: nothing usable when the request arrived; it loaded the
   * value or waited for the load of another request or instance. BYPASS: Redis failed.
   */
  status: CacheStatus;
  /** Where the body came from. */
  level: Level;
  /** Measured ms, one per thing this request did (`wait`: waiting for someone else's load). */
  timings: Partial<Record<Metric, number>>;
  /** For STALE: how long ago the entry stopped being fresh, in ms. */
  staleForMs?: number;
}

/** The key of a value, without the prefix (the cache adds its own): what cacheKey() takes. */
export type KeyParts = Omit<CacheKeyParts, 'prefix'>;

export interface LeaseOptions {
  /**
   * How long a lease lives, in ms, if its holder never releases it (crash). Longer than a
   * normal load: when it runs out during a slow load, a second instance loads too.
   */
  ttlMs: number;
  /**
   * How long a request waits for another instance's load, in ms, before it loads by itself
   * (availability over protection: a stuck holder must not make everybody fail).
   */
  waitMs: number;
  /** How often a waiting instance looks in L2 for the result, in ms. Each look is one GET. */
  pollMs: number;
}

export const DEFAULT_LEASE: LeaseOptions = { ttlMs: 5_000, waitMs: 5_000, pollMs: 25 };

export interface StampedeCacheOptions {
  /** Redis for L2, leases, generations and publishing invalidations. The cache never closes it. */
  redis: Redis;
  /** A second connection, only for receiving invalidations (lesson 04's bus). */
  subscriber: Redis;
  /** Put in front of every key (values, leases, generations) and of the bus channel. */
  keyPrefix: string;
  /** This instance's id on the bus. Default: host, pid and a random suffix. */
  instanceId?: string;
  /** L1, per instance: memory budget (bytes) and how long an entry may live there (ms). */
  l1: { maxBytes: number; ttlMs: number };
  /** How long a loaded value is served as fresh (HIT), in ms, before jitter. */
  freshTtlMs: number;
  /**
   * How long after that it may still be served (STALE) while a refresh runs or while the
   * database fails, in ms. 0: no stale-while-revalidate, an entry past its TTL is a miss.
   * **This is the bound on how old an answer can be**: fresh TTL + grace.
   */
  graceMs: number;
  /** TTL jitter: the largest fraction taken off `freshTtlMs` (0 to < 1). Default 0.1. */
  jitter?: number;
  /** XFetch β for early refresh. Default 1; 0 turns early refresh off. */
  earlyRefreshBeta?: number;
  /** One load per key in this process. Default true. */
  singleFlight?: boolean;
  /** One load per key across instances (a Redis lease). Default DEFAULT_LEASE; false: off. */
  lease?: LeaseOptions | false;
  /** Refuse writes of loads that started before a delete. Default true. */
  generationGuard?: boolean;
  /** The clock for freshness, in epoch ms. Default Date.now. Tests inject one. */
  now?: () => number;
  /** Uniform in [0, 1), for jitter and XFetch. Default Math.random. Tests inject one. */
  random?: () => number;
  /** Redis failures, failed background refreshes, lease waits that timed out. Must not throw. */
  onError?: (error: Error, operation: string) => void;
}

export interface StampedeCache {
  /** The value under `parts`: see the read path above. What `load` throws propagates on a MISS and is never stored. */
  get(parts: KeyParts, load: () => Promise<unknown>): Promise<CacheResult>;
  /**
   * The body under `parts` when L1 holds a fresh entry (a HIT, level l1), else undefined:
   * then call `get`, which also decides STALE and MISS. Synchronous, no result object: it
   * lets a caller answer the commonest request without a promise (lesson 04's `peek`). Like
   * `get`, it may start an early refresh (XFetch) in the background, with `load`.
   */
  peek(parts: KeyParts, load: () => Promise<unknown>): Buffer | undefined;
  /** Invalidate everywhere, after the database write has committed. Never throws. */
  delete(parts: KeyParts): Promise<{ l2: boolean; published: boolean; durMs: number }>;
  /** The Redis keys of a value (for logs and tests). */
  keys(parts: KeyParts): { value: string; lease: string; generation: string };
  readonly instanceId: string;
  /** Resolves once this instance hears other instances' invalidations. */
  readonly ready: Promise<void>;
  /** Resolves when every background refresh running now has finished (tests wait on it). */
  settled(): Promise<void>;
  /** Stop listening to the bus. Does not disconnect the Redis clients. */
  close(): Promise<void>;
}

interface Loaded {
  body: Buffer;
  level: Level;
  timings: Partial<Record<Metric, number>>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createStampedeCache(options: StampedeCacheOptions): StampedeCache {
  const { redis, keyPrefix, freshTtlMs, graceMs } = validate(options);
  const clock = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const spread = options.jitter ?? DEFAULT_JITTER_SPREAD;
  const beta = options.earlyRefreshBeta ?? 1;
  const lease = options.lease === undefined ? DEFAULT_LEASE : options.lease;
  const useSingleFlight = options.singleFlight ?? true;
  const guard = options.generationGuard ?? true;
  const onError = options.onError ?? (() => {});

  const l1 = createMemoryStore({
    maxBytes: options.l1.maxBytes,
    ttlMs: options.l1.ttlMs,
    ...(options.now ? { now: options.now } : {}),
  });
  // L2 reads (and unguarded deletes) go through lesson 03's store: GET as bytes, failures as
  // values, never throws. Its ttlSeconds is unused here: writes carry their own PX, in ms.
  const l2 = createRedisStore({ redis, ttlSeconds: 60, onError });
  const leases = createLeases(redis, onError);
  const generations = createGenerations(redis, onError);
  const loads = createSingleFlight();
  const refreshes = createSingleFlight();
  const running = new Set<Promise<unknown>>();

  /** Bumped by every invalidation: a load that started before one must not fill L1 (lesson 04). */
  let invalidations = 0;
  const forgetLocally = (key: string) => {
    invalidations++;
    l1.delete(key);
    loads.forget(key);
    refreshes.forget(key);
  };
  const bus = createInvalidationBus({
    publisher: redis,
    subscriber: options.subscriber,
    channel: cacheKey({ prefix: keyPrefix, name: 'l1-invalidation' }),
    ...(options.instanceId ? { instanceId: options.instanceId } : {}),
    onInvalidate: (keys) => {
      for (const key of keys) forgetLocally(key);
    },
    onResubscribe: () => {
      invalidations++;
      l1.clear();
    },
    onError,
  });

  /** The key of the value alone: what an L1 hit needs (the lease and generation keys cost as much each). */
  const valueKeyOf = (parts: KeyParts) => cacheKey({ ...parts, prefix: keyPrefix });
  const keysOf = (parts: KeyParts) => ({
    value: valueKeyOf(parts),
    lease: cacheKey({ ...parts, prefix: `${keyPrefix}lease:` }),
    generation: cacheKey({ ...parts, prefix: `${keyPrefix}generation:` }),
  });
  type Keys = ReturnType<typeof keysOf>;

  /**
   * L1 holds the very bytes of L2 (header + body, lesson 04's backfill). Their header is
   * decoded once per buffer, on its first hit, and kept here: parsing it on every hit cost
   * about 0.8 µs of JSON.parse (lesson 09's hit-path-costs.ts). A WeakMap, keyed on the buffer
   * L1 holds: when L1 drops the buffer, its decoded entry goes with it. The entry's body is a
   * view into that buffer, so nothing is held twice.
   */
  const decodedL1 = new WeakMap<Buffer, CacheEntry>();
  const decodeL1 = (bytes: Buffer): CacheEntry | undefined => {
    let entry = decodedL1.get(bytes);
    if (!entry) {
      entry = decodeEntry(bytes);
      if (entry) decodedL1.set(bytes, entry);
    }
    return entry;
  };

  /** Keep `bytes` in L1, no longer than L1's TTL nor than the entry may be served at all. */
  function fillL1(key: string, bytes: Buffer, entry: CacheEntry, startedAt: number): void {
    if (invalidations !== startedAt) return;
    const ttlMs = Math.min(options.l1.ttlMs, Math.ceil(entry.staleUntilMs - clock()));
    if (ttlMs > 0) l1.set(key, bytes, ttlMs);
  }

  /** A usable entry in L2 stored after `seen` (or any usable one when nothing was seen). */
  async function newerInL2(keys: Keys, seen: CacheEntry | undefined): Promise<Buffer | undefined> {
    const lookup = await l2.get(keys.value);
    if (lookup.status !== 'hit') return undefined;
    const entry = decodeEntry(lookup.body);
    if (!entry || freshness(entry, clock()) === 'expired') return undefined;
    if (seen && entry.storedAtMs <= seen.storedAtMs) return undefined;
    return lookup.body;
  }

  /**
   * Load the value and store it, as the one loader of this key across instances when the
   * lease is on. `wait`: a request needs the value (cold key), so if another instance holds
   * the lease, poll L2 for its result; without `wait` (a background refresh), just leave it
   * to them and resolve undefined.
   */
  async function loadFresh(
    keys: Keys,
    load: () => Promise<unknown>,
    how: { wait: boolean; seen?: CacheEntry; redisDown: boolean; startedAt: number },
  ): Promise<Loaded | undefined> {
    const timings: Loaded['timings'] = {};
    const inL2 = async <T>(fn: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      try {
        return await fn();
      } finally {
        timings.l2 = (timings.l2 ?? 0) + performance.now() - t;
      }
    };

    let held: Lease | undefined;
    if (lease && !how.redisDown) {
      const waitStarted = performance.now();
      const deadline = waitStarted + lease.waitMs;
      for (;;) {
        const attempt = await inL2(() => leases.acquire(keys.lease, lease.ttlMs));
        if (attempt.status === 'error') break; // Redis failing: load without a lease
        if (attempt.status === 'acquired') {
          held = attempt.lease;
          // Double-check: another instance may have stored a newer value between our read
          // and our lease (it released just before we asked). Then there is nothing to load.
          const found = await inL2(() => newerInL2(keys, how.seen));
          if (found) {
            await leases.release(held);
            const entry = decodeEntry(found) as CacheEntry;
            fillL1(keys.value, found, entry, how.startedAt);
            return { body: entry.body, level: 'l2', timings };
          }
          break;
        }
        // Another holder is loading this key.
        if (!how.wait) return undefined;
        if (performance.now() >= deadline) {
          onError(
            new Error(`Waited ${lease.waitMs} ms for another instance to load ${keys.value}; loading it here.`),
            'lease wait',
          );
          break;
        }
        await sleep(lease.pollMs);
        const found = await inL2(() => newerInL2(keys, how.seen));
        if (found) {
          const entry = decodeEntry(found) as CacheEntry;
          fillL1(keys.value, found, entry, how.startedAt);
          timings.wait = performance.now() - waitStarted;
          return { body: entry.body, level: 'l2', timings };
        }
      }
    }

    try {
      // The generation BEFORE loading: a delete from now on makes our write a refused one.
      const generation = guard && !how.redisDown ? await inL2(() => generations.read(keys.generation)) : undefined;

      const loadStartedAt = clock();
      let t = performance.now();
      const value = await load();
      timings.db = performance.now() - t;
      const deltaMs = Math.max(0, clock() - loadStartedAt);
      t = performance.now();
      const body = Buffer.from(JSON.stringify(value));
      timings.json = performance.now() - t;

      const now = clock();
      const freshUntilMs = now + jitterTtl(freshTtlMs, { spread, random });
      const entry: CacheEntry = { body, storedAtMs: now, freshUntilMs, staleUntilMs: freshUntilMs + graceMs, deltaMs };
      const bytes = encodeEntry(entry);
      const ttlMs = Math.ceil(entry.staleUntilMs - now);

      if (how.redisDown) {
        fillL1(keys.value, bytes, entry, how.startedAt);
      } else if (guard) {
        const stored =
          generation === undefined
            ? 'error'
            : await inL2(() => generations.setIfCurrent(keys.value, keys.generation, bytes, ttlMs, generation));
        // 'refused': a delete happened while we loaded. Our value may be the old one: it
        // answers the requests that asked before the write, and is kept nowhere.
        if (stored !== 'refused') fillL1(keys.value, bytes, entry, how.startedAt);
      } else {
        await inL2(async () => {
          try {
            await redis.set(keys.value, bytes, 'PX', ttlMs);
          } catch (err) {
            onError(err as Error, 'set');
          }
        });
        // Without the guard we cannot tell an old value from a new one: store it anyway.
        l1.set(keys.value, bytes, Math.min(options.l1.ttlMs, ttlMs));
      }
      return { body, level: 'db', timings };
    } finally {
      // After the write: whoever polls next finds the value instead of the lease.
      if (held) await leases.release(held);
    }
  }

  /** Refresh in the background (once per key in this process); failures keep the old entry. */
  function refreshInBackground(keys: Keys, load: () => Promise<unknown>, seen: CacheEntry): void {
    const how = { wait: false, seen, redisDown: false, startedAt: invalidations };
    const run = () => loadFresh(keys, load, how);
    const { promise, leader } = useSingleFlight ? refreshes.join(keys.value, run) : { promise: run(), leader: true };
    if (!leader) return;
    const tracked = promise.then(
      () => {},
      (err: unknown) => onError(err instanceof Error ? err : new Error(String(err)), 'refresh'),
    );
    running.add(tracked);
    void tracked.finally(() => running.delete(tracked));
  }

  /** XFetch's roll for a fresh entry: refresh it now, in the background? */
  const earlyRefreshDue = (entry: CacheEntry, now: number) =>
    beta > 0 &&
    shouldRefreshEarly({ nowMs: now, expiresAtMs: entry.freshUntilMs, deltaMs: entry.deltaMs, beta, random });

  /** HIT or STALE from an entry, starting a background refresh when due; undefined when expired. */
  function answer(
    entry: CacheEntry,
    level: 'l1' | 'l2',
    keys: Keys,
    load: () => Promise<unknown>,
    timings: CacheResult['timings'],
  ): CacheResult | undefined {
    const now = clock();
    const state = freshness(entry, now);
    if (state === 'fresh') {
      if (earlyRefreshDue(entry, now)) refreshInBackground(keys, load, entry);
      return { body: entry.body, status: 'HIT', level, timings };
    }
    if (state === 'stale') {
      refreshInBackground(keys, load, entry);
      return { body: entry.body, status: 'STALE', level, timings, staleForMs: now - entry.freshUntilMs };
    }
    return undefined;
  }

  return {
    instanceId: bus.instanceId,
    ready: bus.ready,
    keys: keysOf,

    peek(parts, load) {
      const local = l1.get(valueKeyOf(parts));
      const entry = local && decodeL1(local.body);
      if (!entry) return undefined;
      const now = clock();
      if (freshness(entry, now) !== 'fresh') return undefined; // STALE or expired: get() decides
      if (earlyRefreshDue(entry, now)) refreshInBackground(keysOf(parts), load, entry);
      return entry.body;
    },

    async get(parts, load) {
      const keys = keysOf(parts);
      const startedAt = invalidations;
      const timings: CacheResult['timings'] = {};

      // 1. L1: this process's memory.
      let t = performance.now();
      const local = l1.get(keys.value);
      const localEntry = local && decodeL1(local.body);
      timings.l1 = performance.now() - t;
      if (localEntry) {
        const result = answer(localEntry, 'l1', keys, load, timings);
        if (result) return result;
      }

      // 2. L2: Redis, shared by every instance.
      t = performance.now();
      const remote = await l2.get(keys.value);
      timings.l2 = performance.now() - t;
      if (remote.status === 'hit') {
        const entry = decodeEntry(remote.body);
        const result = entry && answer(entry, 'l2', keys, load, timings);
        if (entry && result) {
          fillL1(keys.value, remote.body, entry, startedAt); // backfill, as in lesson 04
          return result;
        }
      }

      // 3. Nothing we may serve: load it, once.
      const redisDown = remote.status === 'error';
      const run = async () => {
        const loaded = await loadFresh(keys, load, { wait: true, redisDown, startedAt });
        return loaded as Loaded; // with wait: true, loadFresh always resolves a value
      };
      const waitStarted = performance.now();
      const { promise, leader } = useSingleFlight ? loads.join(keys.value, run) : { promise: run(), leader: true };
      const loaded = await promise;
      if (leader) {
        for (const [name, ms] of Object.entries(loaded.timings) as [Metric, number][]) {
          timings[name] = (timings[name] ?? 0) + ms;
        }
      } else {
        timings.wait = performance.now() - waitStarted;
      }
      return { body: loaded.body, status: redisDown ? 'BYPASS' : 'MISS', level: loaded.level, timings };
    },

    async delete(parts) {
      const keys = keysOf(parts);
      const started = performance.now();
      // 1. L2 and the generation, atomically: from now on, loads that started before are refused.
      const l2Deleted = guard ? await generations.invalidate(keys.value, keys.generation) : await l2.delete(keys.value);
      // 2. This instance: L1, and flights in progress (a new request must not join an old load).
      forgetLocally(keys.value);
      // 3. The other instances' L1.
      const published = await bus.publish([keys.value]);
      return { l2: l2Deleted, published, durMs: performance.now() - started };
    },

    async settled() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },

    close: () => bus.close(),
  };
}

function validate(options: StampedeCacheOptions): StampedeCacheOptions {
  const positive = (value: unknown, name: string, example: string) => {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return;
    throw new TypeError(
      `createStampedeCache: ${name} must be a positive whole number of ms (${example}), got ${String(value)}.`,
    );
  };
  positive(options.freshTtlMs, 'freshTtlMs', 'e.g. 60_000');
  if (!(Number.isSafeInteger(options.graceMs) && options.graceMs >= 0)) {
    throw new TypeError(
      `createStampedeCache: graceMs must be a whole number of ms, 0 for no stale-while-revalidate (e.g. 300_000), got ${String(options.graceMs)}.`,
    );
  }
  positive(options.l1?.ttlMs, 'l1.ttlMs', 'e.g. 10_000');
  if (options.l1.ttlMs > options.freshTtlMs + options.graceMs) {
    throw new TypeError(
      `createStampedeCache: l1.ttlMs (${options.l1.ttlMs}) must not be longer than freshTtlMs + graceMs (${options.freshTtlMs + options.graceMs}), the life of the entry in Redis: L1 copies are the ones an invalidation may miss.`,
    );
  }
  if (options.lease) {
    positive(options.lease.ttlMs, 'lease.ttlMs', 'e.g. 5_000');
    positive(options.lease.waitMs, 'lease.waitMs', 'e.g. 5_000');
    positive(options.lease.pollMs, 'lease.pollMs', 'e.g. 25');
  }
  return options;
}
