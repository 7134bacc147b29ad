import { randomBytes } from 'node:crypto';
import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import type { Redis } from 'ioredis';

/**
 * An L1 that Redis itself keeps honest: server-assisted client-side caching (Redis 6+,
 * `CLIENT TRACKING`), the alternative to step 2's hand-built invalidation bus.
 *
 * Redis remembers which keys a tracked connection read (default mode), or which key
 * prefixes it cares about (BCAST mode), and when one of those keys is modified — by
 * anybody: SET, DEL, EXPIRE running out, eviction — it sends the key's name to the
 * connection named in `REDIRECT`. ioredis speaks RESP2, where that connection receives
 * it as a pub/sub message on `__redis__:invalidate` (RESP3 would push it on the tracked
 * connection itself). So this cache owns two connections, both made with
 * `redis.duplicate()`:
 *
 *   invalidations  CLIENT ID → SUBSCRIBE __redis__:invalidate
 *   reads          CLIENT TRACKING ON REDIRECT <that id> [BCAST PREFIX …] [OPTIN], then GETs
 *
 * The coordination, on every (re)connection of either:
 *   1. either connection closes → stop using L1 and empty it: Redis forgets the tracking of a
 *      closed read connection, and drops what it had for a closed invalidation connection
 *      (under RESP2 nobody is told: `CLIENT TRACKINGINFO` just says `broken_redirect`);
 *   2. once both are up again: CLIENT ID and SUBSCRIBE on the new invalidation connection,
 *      `CLIENT TRACKING OFF` then `ON REDIRECT <new id>` on the read connection;
 *   3. only then does L1 serve and fill again.
 *
 * A read fills L1 only when tracking was on before its GET was sent, nothing closed while
 * it ran, and no invalidation of its key arrived meanwhile (the message travels on the other
 * connection and may overtake the GET's reply).
 *
 * Limits we accept: a connection that hangs without closing (a frozen network) is noticed
 * only by ioredis's own timeouts, not by a heartbeat; the L1 TTL bounds the damage, as in
 * step 2. Writes that never touch Redis (PostgreSQL only) invalidate nothing: see the step.
 */

/** The RESP2 channel Redis sends redirected invalidations on. */
export const INVALIDATE_CHANNEL = '__redis__:invalidate';

export interface TrackedL1Options {
  /**
   * Where to connect. The cache reads and listens on two duplicates of it that it owns
   * (`redis.duplicate()`: same server, same options), so tracking, which is per connection,
   * never touches this client. The cache never closes `redis` itself.
   */
  redis: Redis;
  /**
   * BCAST mode: Redis notifies every write to a key under one of these prefixes, whether
   * this client read it or not, and keeps no per-key table for it. Keys outside the prefixes
   * are read but never kept in L1 (nobody would tell us they changed). Default: the default
   * mode, where Redis tracks each key this client read and notifies its next modification once.
   */
  bcast?: { prefixes: readonly string[] };
  /**
   * OPTIN (default mode only): a read is tracked, and kept in L1, only when asked with
   * `get(key, { keep: true })` (the cache sends `CLIENT CACHING YES` just before its GET).
   * The other reads cost Redis no tracking-table entry. Default false: every read is kept.
   */
  optIn?: boolean;
  l1: {
    /** L1's memory budget in bytes (values + keys). Required, as in lesson 02. */
    maxBytes: number;
    /**
     * How long an entry lives, in ms, even if no invalidation ever comes: the safety net for
     * a connection that hangs without closing. Keep it short, as step 1 explains.
     */
    ttlMs: number;
    /** Clock for the TTL, in ms (tests inject one). Default performance.now. */
    now?: () => number;
  };
  /**
   * Names the two connections `<name>-reads` and `<name>-invalidations` (CLIENT LIST shows
   * them). Default: `tracked-l1-` and a random suffix.
   */
  name?: string;
  /** Called with the keys of every invalidation message; null means "everything" (FLUSHALL, FLUSHDB). */
  onInvalidate?: (keys: readonly string[] | null) => void;
  /** Called whenever L1 was emptied because a connection closed (or Redis said "everything"). */
  onFlush?: (reason: string) => void;
  /** Setup failures (a refused CLIENT TRACKING, a failed SUBSCRIBE). Default: ignore (the next reconnect retries). */
  onError?: (error: Error, operation: string) => void;
}

export interface TrackedGet {
  /** The value, or null when Redis has no such key (absences are not kept in L1). */
  value: Buffer | null;
  /** Who answered. */
  level: 'l1' | 'redis';
}

export interface TrackedL1Stats {
  /** Invalidation messages received. */
  messages: number;
  /** Key names those messages carried (one message may carry several). */
  keys: number;
  /** Of those, keys that L1 held and dropped. */
  dropped: number;
  /** Times L1 was emptied whole: a connection closed while it held entries, or a FLUSHALL. */
  flushes: number;
}

export interface TrackedL1 {
  /** Resolves once tracking is on the first time. Never rejects: await it with a timeout if Redis may be down. */
  readonly ready: Promise<void>;
  /** True while Redis is tracking for us and listening works: only then does L1 serve or fill. */
  readonly tracking: boolean;
  /**
   * The value under `key`: from L1 when it holds it (and tracking is on), else a GET on the
   * tracked connection, kept in L1 when Redis will tell us about its next change.
   * `keep: true` is what OPTIN mode needs to track (and keep) a read; other modes ignore it.
   */
  get(key: string, options?: { keep?: boolean }): Promise<TrackedGet>;
  /** Does L1 hold `key` now? (For tests and measurements: it does not count as a read.) */
  holds(key: string): boolean;
  readonly stats: Readonly<TrackedL1Stats>;
  /** Turn tracking off and close both connections. */
  close(): Promise<void>;
}

export function createTrackedL1(options: TrackedL1Options): TrackedL1 {
  const { bcast, optIn = false } = options;
  if (bcast && (bcast.prefixes.length === 0 || bcast.prefixes.some((p) => typeof p !== 'string' || p === ''))) {
    throw new TypeError(
      'createTrackedL1: `bcast.prefixes` must list at least one non-empty key prefix (e.g. your keyPrefix): BCAST without a prefix would notify every write on the whole server.',
    );
  }
  if (bcast && optIn) {
    throw new TypeError('createTrackedL1: `optIn` applies to the default mode only; remove it or remove `bcast`.');
  }
  const onError = options.onError ?? (() => {});
  const l1 = createMemoryStore({ maxBytes: options.l1.maxBytes, ttlMs: options.l1.ttlMs, now: options.l1.now });
  const name = options.name ?? `tracked-l1-${randomBytes(3).toString('hex')}`;
  // Both ours: tracking state lives on a connection, and an auto-resubscribe would subscribe
  // before we could ask the new connection its CLIENT ID (a subscribed RESP2 connection may not).
  const reader = options.redis.duplicate({ connectionName: `${name}-reads` });
  const listener = options.redis.duplicate({ connectionName: `${name}-invalidations`, autoResubscribe: false });

  const stats: TrackedL1Stats = { messages: 0, keys: 0, dropped: 0, flushes: 0 };
  let tracking = false;
  let closed = false;
  /** Bumped whenever a connection closes: a read or a setup that began before is void. */
  let epoch = 0;
  /** Reads in flight, by key: an invalidation of their key voids their fill. */
  const inflight = new Map<string, Set<{ invalidated: boolean }>>();
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });

  /** Empty L1 and void the reads in flight. Counted (and reported) when it held something or Redis said "everything". */
  const flush = (reason: string, always: boolean) => {
    for (const reads of inflight.values()) for (const r of reads) r.invalidated = true;
    if (!always && l1.entries === 0) return; // a reconnect attempt that failed again: nothing to drop
    l1.clear();
    stats.flushes++;
    options.onFlush?.(reason);
  };

  const onMessage = (channel: Buffer, payload: unknown) => {
    if (channel.toString() !== INVALIDATE_CHANNEL) return;
    stats.messages++;
    if (payload === null || !Array.isArray(payload)) {
      // A null payload: the whole database was flushed (FLUSHALL / FLUSHDB).
      options.onInvalidate?.(null);
      flush('Redis invalidated every key', true);
      return;
    }
    const keys = payload.map((k) => String(k));
    stats.keys += keys.length;
    for (const key of keys) {
      if (l1.delete(key)) stats.dropped++;
      for (const r of inflight.get(key) ?? []) r.invalidated = true;
    }
    options.onInvalidate?.(keys);
  };

  /** The invalidation connection's CLIENT ID once it subscribed; undefined while it is down. */
  let listenerId: number | undefined;
  const lost = () => {
    epoch++;
    tracking = false;
    flush('a connection to Redis closed', false);
  };

  /** Steps 2 and 3 above, once both connections are ready; a close meanwhile voids it. */
  let setup: Promise<void> = Promise.resolve();
  const enable = () => {
    setup = setup.then(async () => {
      if (closed || tracking || reader.status !== 'ready' || listener.status !== 'ready') return;
      const at = epoch;
      try {
        if (listenerId === undefined) {
          // Ask first: once subscribed, a RESP2 connection answers nothing but (un)subscribe and PING.
          const id = await listener.client('ID');
          await listener.subscribe(INVALIDATE_CHANNEL);
          if (at !== epoch) return;
          listenerId = id;
        }
        const args: (string | number)[] = ['ON', 'REDIRECT', listenerId];
        if (bcast) {
          args.push('BCAST');
          for (const p of bcast.prefixes) args.push('PREFIX', p);
        } else if (optIn) args.push('OPTIN');
        // OFF first: Redis refuses to switch BCAST on or off without it, and it drops what a
        // previous redirect tracked (L1 was emptied with it).
        await reader.client('TRACKING', 'OFF');
        await reader.client('TRACKING', ...(args as [string, ...(string | number)[]]));
      } catch (error) {
        onError(error as Error, 'enable tracking');
        return;
      }
      if (closed || at !== epoch) return; // something closed meanwhile: its 'ready' runs us again
      tracking = true;
      resolveReady();
    });
  };

  listener.on('messageBuffer', onMessage);
  listener.on('close', () => {
    listenerId = undefined;
    lost();
  });
  reader.on('close', lost);
  for (const connection of [reader, listener]) {
    connection.on('ready', enable);
    connection.on('error', (error: Error) => onError(error, 'connection'));
  }

  /** May this key live in L1 at all? In BCAST mode only under a tracked prefix. */
  const trackable = (key: string, keep: boolean) => {
    if (bcast) return bcast.prefixes.some((p) => key.startsWith(p));
    return optIn ? keep : true;
  };

  return {
    ready,
    get tracking() {
      return tracking;
    },
    stats,
    holds: (key) => tracking && l1.get(key) !== undefined,
    async get(key, getOptions = {}) {
      const keep = trackable(key, getOptions.keep === true);
      if (tracking && keep) {
        const hit = l1.get(key);
        if (hit) return { value: hit.body, level: 'l1' };
      }
      const fill = tracking && keep;
      const read = { invalidated: false };
      const at = epoch;
      const reads = inflight.get(key) ?? new Set();
      inflight.set(key, reads);
      reads.add(read);
      let value: Buffer | null;
      try {
        if (optIn && keep) {
          // CLIENT CACHING YES applies to the very next command of this connection: one pipeline.
          const replies = await reader.pipeline().client('CACHING', 'YES').getBuffer(key).exec();
          const [error, reply] = replies?.[1] ?? [new Error('no reply')];
          if (error) throw error;
          value = reply as Buffer | null;
        } else {
          value = await reader.getBuffer(key);
        }
      } finally {
        reads.delete(read);
        if (reads.size === 0) inflight.delete(key);
      }
      if (fill && value !== null && tracking && at === epoch && !read.invalidated) l1.set(key, value);
      return { value, level: 'redis' };
    },
    async close() {
      if (closed) return;
      closed = true;
      tracking = false;
      l1.clear();
      await setup;
      if (reader.status === 'ready') await reader.client('TRACKING', 'OFF').catch(() => {});
      reader.disconnect();
      listener.disconnect();
    },
  };
}
