import { HttpProblem } from '@cachelab/lesson-01-uncached/problem';
import { type CacheKeyParts, cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createRedisStore, type RedisLookup } from '@cachelab/lesson-03-redis-cache-aside/redis-store';
import { createGenerations } from '@cachelab/lesson-04-hierarchical/generation';
import { type CacheEntry, decodeEntry, encodeEntry, freshness } from '@cachelab/lesson-08-stampedes/cache-entry';
import { createSingleFlight } from '@cachelab/lesson-08-stampedes/single-flight';
import type { Cluster, Redis } from 'ioredis';
import { createBoundedL1 } from './bounded-l1.ts';
import { type CircuitBreakerOptions, type CircuitState, createCircuitBreaker } from './circuit-breaker.ts';
import { type BusRecovery, createReliableBus, type FlushReason } from './reliable-bus.ts';

/**
 * The workshop's two-level cache, ready to run: lesson 04's L1 over L2, lesson 08's
 * single-flight and entry format, and what production adds.
 *
 *   get(parts, load):
 *     1. L1 (bounded by bytes; bodies own their memory)                      → HIT
 *     2. L2, only if the circuit breaker allows a call                      → HIT (backfill L1)
 *        Redis failed or the circuit is open                                → remember: BYPASS
 *     3. load once per key in this process (single-flight), store in L2 (if the circuit
 *        allows, and only if no delete came since the load began) and L1   → MISS | BYPASS
 *     4. the load failed (PostgreSQL down, not a 404) and L2 had an entry past its TTL but
 *        within `staleIfErrorMs`                                             → STALE
 *   peek(parts): step 1 alone, without a promise: the body of a fresh L1 entry (a HIT, counted
 *     like one), else undefined and the caller calls `get`. The commonest answer (lesson 04).
 *   delete(parts): L2 and its generation, this L1, flights in progress, then the bus. Always
 *     attempted, whatever the breaker says; what failed is remembered and retried (below).
 *
 * Lesson 08's generation guard (generation.ts) closes the stale-write race: a load reads the
 * key's generation before it starts, and its SET runs only if the generation is unchanged
 * (compare-and-set in Lua); `delete` bumps the generation and DELs in one MULTI. Without it, a
 * slow GET that read the row before a PATCH writes the old row into Redis after the PATCH's
 * DEL, for a whole TTL. The `invalidations` counter below only guards this process's L1.
 *
 * Every Redis *read* (and the SET of a load) goes through one circuit breaker: after
 * `failureThreshold` failures in a row, Redis is not called at all for `coolDownMs`; then
 * one request probes it. So with Redis dead, slow or black-holed, a request costs at most
 * one `commandTimeout` until the circuit opens, and nothing after. The bus is the epoch bus
 * (reliable-bus.ts): an instance that missed invalidations while disconnected drops its L1
 * when it reconnects.
 *
 * Invalidations do NOT go through the breaker: a skipped delete is an old value served by
 * every instance for a whole L2 TTL once Redis is back. A delete is always attempted (a PATCH
 * with Redis black-holed waits for the `commandTimeout`; writes are rare, stale reads are not), and
 * one that fails (the DEL and generation bump, or the bus message) is remembered, per key,
 * and retried until it succeeds:
 *   - before any Redis read or store of this instance: while one is pending, L2 is not read
 *     (the request is a BYPASS) until the retry has succeeded, so the writer never reads
 *     the old value back, and the breaker's probe cannot close the circuit before it;
 *   - every `invalidationRetryMs` (default 1 s) in the background, so the OTHER instances,
 *     which cannot know, read the old value from L2 at most that long after Redis answers
 *     again. The retry bumps the generation (loads that began before are refused) and
 *     publishes on the bus (their L1 copies are dropped).
 * What is pending lives in this process: one that exits with invalidations pending leaves
 * those keys to expire with the L2 TTL.
 *
 * Keys: `cacheKey({ prefix, ...parts })` (lesson 02): every parameter, encoded, hashed when
 * long. A value's generation key holds, between `{…}`, exactly the part of the value key that
 * Redis Cluster hashes, so both are in one slot and the script and MULTI that touch both are
 * not refused with CROSSSLOT. Metric labels use `parts.name` only, never the key: a label per key would be one
 * time series per employee.
 */
export type CacheStatus = 'HIT' | 'MISS' | 'STALE' | 'BYPASS';
export type Level = 'l1' | 'l2' | 'db';
export type Metric = 'l1' | 'l2' | 'db' | 'json' | 'wait';
export type KeyParts = Omit<CacheKeyParts, 'prefix'>;

export interface CacheResult {
  body: Buffer;
  status: CacheStatus;
  level: Level;
  timings: Partial<Record<Metric, number>>;
}

/** What the cache reports as it works; metrics.ts turns it into Prometheus series. Must not throw. */
export interface CacheObserver {
  result(name: string, status: CacheStatus, level: Level): void;
  loaded(name: string, seconds: number, ok: boolean): void;
  l2Error(operation: string): void;
  /** A Redis call not made because the circuit is open. */
  l2Skipped(operation: string): void;
  circuit(state: CircuitState): void;
  /** How long a Redis call that was made took, failed or not (what `commandTimeout` must exceed). */
  l2Duration(operation: string, seconds: number): void;
  evicted(): void;
  busFlush(reason: FlushReason): void;
}

export interface ProductionCacheOptions {
  /** Redis (or a Cluster) for L2 and publishing. Create it with short timeouts (redis-client.ts). Never closed here. */
  redis: Redis | Cluster;
  /** A second connection (or Cluster), only for receiving invalidations. Never closed here. */
  subscriber: Redis | Cluster;
  /** In front of every key and of the bus's names, e.g. 'cachelab:10:'. */
  keyPrefix: string;
  instanceId?: string;
  /** L1 per instance: bytes (the bound), and how long a copy lives (the worst staleness after a lost invalidation). */
  l1: { maxBytes: number; ttlMs: number };
  /** L2: how long an entry is fresh, in seconds. */
  l2: { ttlSeconds: number };
  /** How long past its TTL an L2 entry may still answer while the loader fails, ms. 0: never. */
  staleIfErrorMs: number;
  /** The breaker in front of every Redis read and store (not of invalidations). Defaults: 5 failures, 2 s cool-down. */
  breaker?: CircuitBreakerOptions;
  /**
   * How often an invalidation that failed is tried again in the background, in ms. Default
   * 1,000. It bounds how long, after Redis answers again, the other instances may still read
   * the old value from L2 (this instance never does). Shorter costs one more failed command
   * per interval while Redis is still down.
   */
  invalidationRetryMs?: number;
  /**
   * Runs `fn` after `ms` (the background retries). Default: setTimeout, unref'd so that it never
   * keeps a process alive. Tests inject one to fire a retry when they say.
   */
  setTimer?: (fn: () => Promise<void>, ms: number) => { cancel(): void };
  /** Bus recovery after a reconnection. Default 'epoch'. */
  busRecovery?: BusRecovery;
  /** SPUBLISH/SSUBSCRIBE for the bus (Redis Cluster ≥ 7). Default false. */
  shardedPubSub?: boolean;
  observer?: Partial<CacheObserver>;
  /** Clock for freshness (epoch ms). Default Date.now. */
  now?: () => number;
  /** Redis failures and bus trouble, for a log that says it once. Must not throw. */
  onError?: (error: Error, operation: string) => void;
  /**
   * Lesson 08's guard against a slow load writing an old value after a delete. Default true.
   * **false is for the lesson's demonstration of the race only.**
   */
  generationGuard?: boolean;
}

export interface ProductionCache {
  get(parts: KeyParts, load: () => Promise<unknown>): Promise<CacheResult>;
  /**
   * The body of a fresh entry in L1 (a HIT at level l1, reported to the observer as `get`
   * reports one), or undefined: then call `get`. Synchronous and without a result object, so
   * that a caller can answer the commonest request without a promise.
   */
  peek(parts: KeyParts): Buffer | undefined;
  /** Invalidate everywhere, after the write committed. Never throws. */
  delete(parts: KeyParts): Promise<{ l2: boolean; published: boolean; durMs: number }>;
  /** The full key of `parts`, as stored in L1 and Redis. */
  key(parts: KeyParts): string;
  /** The key of its generation counter in Redis (same Cluster slot as `key(parts)`). */
  generationKey(parts: KeyParts): string;
  readonly instanceId: string;
  readonly ready: Promise<void>;
  readonly circuit: CircuitState;
  /** Keys whose invalidation failed and is being retried. While > 0, this instance reads nothing from L2. */
  readonly invalidationsPending: number;
  readonly bus: { readonly connected: boolean; readonly reconnects: number };
  readonly l1: {
    readonly entries: number;
    readonly bytes: number;
    readonly maxBytes: number;
    readonly evictions: number;
  };
  close(): Promise<void>;
}

/**
 * The part of a key that Redis Cluster hashes to choose its slot: the content of the first
 * `{…}` when it is not empty, otherwise the whole key (the cluster specification's rule).
 */
export function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** Default `invalidationRetryMs`. */
export const DEFAULT_INVALIDATION_RETRY_MS = 1_000;

function unrefTimer(fn: () => Promise<void>, ms: number): { cancel(): void } {
  const timer = setTimeout(() => void fn(), ms);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
}

const circuitOpen = () =>
  Object.assign(new Error('Redis is not called: the circuit breaker is open'), { code: 'E_CIRCUIT_OPEN' });

export function createProductionCache(options: ProductionCacheOptions): ProductionCache {
  const { keyPrefix, staleIfErrorMs } = options;
  if (!(options.l1.ttlMs > 0 && options.l1.ttlMs < options.l2.ttlSeconds * 1000)) {
    throw new TypeError(
      `createProductionCache: l1.ttlMs (${options.l1.ttlMs}) must be more than 0 and shorter than l2.ttlSeconds (${options.l2.ttlSeconds} s): L1 copies are the ones an invalidation can miss.`,
    );
  }
  if (!(Number.isSafeInteger(staleIfErrorMs) && staleIfErrorMs >= 0)) {
    throw new TypeError(
      `createProductionCache: staleIfErrorMs must be a whole number of ms, 0 to never serve stale, got ${String(staleIfErrorMs)}.`,
    );
  }
  const invalidationRetryMs = options.invalidationRetryMs ?? DEFAULT_INVALIDATION_RETRY_MS;
  if (!(Number.isFinite(invalidationRetryMs) && invalidationRetryMs > 0)) {
    throw new TypeError(
      `createProductionCache: invalidationRetryMs must be a positive number of ms (e.g. 1000), got ${String(invalidationRetryMs)}.`,
    );
  }
  const setTimer = options.setTimer ?? unrefTimer;
  const clock = options.now ?? Date.now;
  const observe: Partial<CacheObserver> = options.observer ?? {};
  const onError = options.onError ?? (() => {});

  const breaker = createCircuitBreaker({
    ...options.breaker,
    onStateChange(to, from) {
      observe.circuit?.(to);
      options.breaker?.onStateChange?.(to, from);
    },
  });
  const l1 = createBoundedL1({
    maxBytes: options.l1.maxBytes,
    ttlMs: options.l1.ttlMs,
    onEvict: () => observe.evicted?.(),
  });
  // Lesson 03's store uses getBuffer / SET … EX / DEL, which a Cluster client has too.
  const l2 = createRedisStore({ redis: options.redis as Redis, ttlSeconds: options.l2.ttlSeconds, onError });
  const flights = createSingleFlight();
  const guard = options.generationGuard ?? true;
  const generations = createGenerations(options.redis as Redis, onError);

  /** One Redis call, timed; its failure counted. */
  async function timed<T>(operation: string, call: () => Promise<T>, failed: (value: T) => boolean): Promise<T> {
    const t = performance.now();
    const value = await call();
    observe.l2Duration?.(operation, (performance.now() - t) / 1000);
    if (failed(value)) observe.l2Error?.(operation);
    return value;
  }

  /**
   * One Redis read or store through the breaker: skipped while open; not made either while an
   * invalidation is pending and its retry fails (Redis would hand back the old value); its
   * outcome reported after.
   */
  async function guarded<T>(
    operation: string,
    call: () => Promise<T>,
    failed: (value: T) => boolean,
  ): Promise<T | undefined> {
    if (!breaker.allow()) {
      observe.l2Skipped?.(operation);
      return undefined;
    }
    if (pending.size > 0 && !(await retryPending())) {
      breaker.failure();
      return undefined;
    }
    const value = await timed(operation, call, failed);
    if (failed(value)) breaker.failure();
    else breaker.success();
    return value;
  }

  // Invalidations that failed, by key, each with the number of its latest failure: a retry
  // that began before a newer failure of the same key must not forget that one.
  const pending = new Map<string, number>();
  let failuresSeen = 0;
  let retrying: Promise<boolean> | undefined;
  let retryTimer: { cancel(): void } | undefined;
  let closed = false;

  /** DEL and generation bump in one MULTI (lesson 04's generation.ts), or a plain DEL without the guard. */
  const invalidateL2 = (key: string) =>
    timed(
      'delete',
      () => (guard ? generations.invalidate(key, generationKeyOf(key)) : l2.delete(key)),
      (ok) => !ok,
    );
  const publish = (keys: string[]) =>
    timed(
      'publish',
      () => bus.publish(keys),
      (ok) => !ok,
    );

  function remember(key: string): void {
    pending.set(key, ++failuresSeen);
    scheduleRetry();
  }
  function scheduleRetry(): void {
    if (retryTimer || closed || pending.size === 0) return;
    retryTimer = setTimer(async () => {
      retryTimer = undefined;
      await retryPending();
      scheduleRetry();
    }, invalidationRetryMs);
  }

  /**
   * Try every pending invalidation again: DEL + generation bump per key, then one bus message
   * for those that succeeded. Resolves true when nothing is pending any more. One retry at a
   * time; callers that arrive meanwhile share it. Never throws.
   */
  function retryPending(): Promise<boolean> {
    retrying ??= (async () => {
      const batch = [...pending];
      const deleted = await Promise.all(batch.map(([key]) => invalidateL2(key)));
      const done = batch.filter((_, i) => deleted[i]);
      if (done.length > 0 && (await publish(done.map(([key]) => key)))) {
        for (const [key, failure] of done) if (pending.get(key) === failure) pending.delete(key);
      }
      return pending.size === 0;
    })().finally(() => {
      retrying = undefined;
    });
    return retrying;
  }

  let invalidations = 0;
  const forgetLocally = (key: string) => {
    invalidations++;
    l1.delete(key);
    flights.forget(key);
  };
  const bus = createReliableBus({
    publisher: options.redis,
    subscriber: options.subscriber,
    name: `${keyPrefix}bus`,
    sharded: options.shardedPubSub ?? false,
    recovery: options.busRecovery ?? 'epoch',
    ...(options.instanceId ? { instanceId: options.instanceId } : {}),
    onInvalidate(keys) {
      for (const key of keys) forgetLocally(key);
    },
    onFlush(reason) {
      invalidations++;
      l1.clear();
      observe.busFlush?.(reason);
    },
    onError: (error, operation) => onError(error, `bus ${operation}`),
  });

  const keyOf = (parts: KeyParts) => cacheKey({ ...parts, prefix: keyPrefix });
  // `{…}` around what the cluster hashes of the value key: one slot for both keys.
  const generationKeyOf = (valueKey: string) => `${keyPrefix}generation:{${hashedPart(valueKey)}}`;
  const sample = keyOf({ name: 'sample' });
  if (hashedPart(generationKeyOf(sample)) !== hashedPart(sample)) {
    throw new TypeError(
      `createProductionCache: keyPrefix ${JSON.stringify(keyPrefix)} has braces that would put a value and its generation in different Redis Cluster slots; use a complete hash tag ({app}:) or none.`,
    );
  }

  /**
   * L1's buffers hold lesson 08's entries (header + body). A header is decoded once per
   * buffer, on its first hit, and kept by the buffer: parsing it on every hit cost about
   * 0.8 µs of JSON.parse (lesson 09's hit-path-costs.ts). A WeakMap: when L1 drops a buffer,
   * its decoded entry goes with it, and the entry's body is a view into that buffer, so
   * nothing is held twice and L1's byte count stays what is held.
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

  function fillL1(key: string, bytes: Buffer, entry: CacheEntry, startedAt: number): void {
    if (invalidations !== startedAt) return; // an invalidation happened meanwhile (lesson 04)
    const ttlMs = Math.min(options.l1.ttlMs, Math.ceil(entry.staleUntilMs - clock()));
    if (ttlMs > 0) l1.set(key, bytes, ttlMs);
  }

  /** Load, serialize once, store in L2 (when Redis answered the lookup) and L1. */
  async function loadAndStore(
    name: string,
    key: string,
    load: () => Promise<unknown>,
    storeInL2: boolean,
    startedAt: number,
  ): Promise<{ body: Buffer; timings: CacheResult['timings'] }> {
    const timings: CacheResult['timings'] = {};
    const generationKey = generationKeyOf(key);
    let t = performance.now();
    // The generation BEFORE loading (lesson 08): a delete from now on makes our SET a refused one.
    const generation =
      storeInL2 && guard
        ? await guarded(
            'generation',
            () => generations.read(generationKey),
            (g) => g === undefined,
          )
        : undefined;
    if (storeInL2 && guard) timings.l2 = performance.now() - t;
    t = performance.now();
    let value: unknown;
    let ok = false;
    try {
      value = await load();
      ok = true;
    } finally {
      const ms = performance.now() - t;
      timings.db = ms;
      observe.loaded?.(name, ms / 1000, ok);
    }
    t = performance.now();
    const body = Buffer.from(JSON.stringify(value));
    timings.json = performance.now() - t;
    const now = clock();
    const freshUntilMs = now + options.l2.ttlSeconds * 1000;
    const entry: CacheEntry = {
      body,
      storedAtMs: now,
      freshUntilMs,
      staleUntilMs: freshUntilMs + staleIfErrorMs,
      deltaMs: timings.db ?? 0,
    };
    const bytes = encodeEntry(entry);
    if (storeInL2 && guard) {
      // No generation (Redis failed, circuit open): we cannot tell old from new, so no SET.
      if (generation !== undefined) {
        t = performance.now();
        const ttlMs = Math.ceil(entry.staleUntilMs - now);
        const stored = await guarded(
          'set',
          () => generations.setIfCurrent(key, generationKey, bytes, ttlMs, generation),
          (s) => s === 'error',
        );
        timings.l2 = (timings.l2 ?? 0) + performance.now() - t;
        // 'refused': a delete happened while we loaded. What we loaded may be the old row: it
        // answers the requests that asked before the write, and is kept nowhere.
        if (stored === 'refused') return { body, timings };
      }
    } else if (storeInL2) {
      // generationGuard: false, the demonstration: a plain SET, whatever happened meanwhile.
      t = performance.now();
      const ttlSeconds = Math.ceil((entry.staleUntilMs - now) / 1000);
      await guarded(
        'set',
        () => l2.set(key, bytes, ttlSeconds),
        (ok) => !ok,
      );
      timings.l2 = performance.now() - t;
    }
    fillL1(key, bytes, entry, startedAt);
    return { body, timings };
  }

  return {
    instanceId: bus.instanceId,
    ready: bus.ready,
    key: keyOf,
    generationKey: (parts) => generationKeyOf(keyOf(parts)),
    get circuit() {
      return breaker.state;
    },
    get invalidationsPending() {
      return pending.size;
    },
    bus: {
      get connected() {
        return bus.connected;
      },
      get reconnects() {
        return bus.reconnects;
      },
    },
    l1: {
      get entries() {
        return l1.entries;
      },
      get bytes() {
        return l1.bytes;
      },
      maxBytes: l1.maxBytes,
      get evictions() {
        return l1.evictions;
      },
    },

    peek(parts) {
      const local = l1.get(keyOf(parts));
      const entry = local && decodeL1(local);
      if (!entry || freshness(entry, clock()) !== 'fresh') return undefined;
      observe.result?.(parts.name, 'HIT', 'l1');
      return entry.body;
    },

    async get(parts, load) {
      const key = keyOf(parts);
      const startedAt = invalidations;
      const timings: CacheResult['timings'] = {};
      const answer = (body: Buffer, status: CacheStatus, level: Level): CacheResult => {
        observe.result?.(parts.name, status, level);
        return { body, status, level, timings };
      };

      // 1. L1: this process's memory.
      let t = performance.now();
      const local = l1.get(key);
      const localEntry = local && decodeL1(local);
      timings.l1 = performance.now() - t;
      if (localEntry && freshness(localEntry, clock()) === 'fresh') return answer(localEntry.body, 'HIT', 'l1');

      // 2. L2, if the breaker lets us call Redis at all.
      t = performance.now();
      const lookup: RedisLookup = (await guarded(
        'get',
        () => l2.get(key),
        (r) => r.status === 'error',
      )) ?? { status: 'error', error: circuitOpen() };
      timings.l2 = performance.now() - t;
      let fallback: CacheEntry | undefined;
      if (lookup.status === 'hit') {
        const entry = decodeEntry(lookup.body);
        const state = entry && freshness(entry, clock());
        if (entry && state === 'fresh') {
          fillL1(key, lookup.body, entry, startedAt);
          return answer(entry.body, 'HIT', 'l2');
        }
        if (entry && state === 'stale') fallback = entry;
      }
      const redisDown = lookup.status === 'error';

      // 3. Load once per key; the other requests for it wait for that load.
      const waitStarted = performance.now();
      const flight = flights.join(key, () => loadAndStore(parts.name, key, load, !redisDown, startedAt));
      try {
        const loaded = await flight.promise;
        if (flight.leader)
          Object.assign(timings, { ...loaded.timings, l2: (timings.l2 ?? 0) + (loaded.timings.l2 ?? 0) });
        else timings.wait = performance.now() - waitStarted;
        return answer(loaded.body, redisDown ? 'BYPASS' : 'MISS', 'db');
      } catch (err) {
        // 4. A 404 is an answer, never replaced by an old value; a failing database is not.
        if (fallback && !(err instanceof HttpProblem)) return answer(fallback.body, 'STALE', 'l2');
        throw err;
      }
    },

    async delete(parts) {
      const key = keyOf(parts);
      const started = performance.now();
      // Not through the breaker: attempted even while reads bypass Redis. DEL and INCR of the
      // generation in one MULTI: loads that began before are refused.
      const deleted = await invalidateL2(key);
      forgetLocally(key);
      // Without the DEL, the message would most likely fail too, after another timeout: the retry sends both.
      const published = deleted && (await publish([key]));
      // Either failed: retried (both again) until it succeeds; meanwhile this instance reads no L2.
      if (!(deleted && published)) remember(key);
      return { l2: deleted, published, durMs: performance.now() - started };
    },

    async close() {
      closed = true;
      retryTimer?.cancel();
      retryTimer = undefined;
      await bus.close();
    },
  };
}
