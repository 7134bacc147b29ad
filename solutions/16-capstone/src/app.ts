import type { Pool } from '@cachelab/db';
import { jsonBody } from '@cachelab/lesson-01-uncached/json-body';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { ServerTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse, parseEmployeeId } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { departmentSummary } from '@cachelab/lesson-05-invalidation/directory-queries';
import { departmentFromPath, employeeChanges } from '@cachelab/lesson-05-invalidation/directory-validation';
import { patchEmployee } from '@cachelab/lesson-05-invalidation/employee-writes';
import { directoryKeys } from '@cachelab/lesson-05-invalidation/keys';
import { createTagIndex } from '@cachelab/lesson-05-invalidation/tags';
import {
  type CacheKind,
  type KindPolicy,
  resolveTtlPolicy,
  type TtlPolicy,
} from '@cachelab/lesson-05-invalidation/ttl-policy';
import { createMemoryCacheStore } from '@cachelab/lesson-06-custom-backends/memory-cache-store';
import { createRedisCacheStore } from '@cachelab/lesson-06-custom-backends/redis-cache-store';
import { type HttpCachePolicy, POLICIES } from '@cachelab/lesson-07-http-caching/cache-policy';
import { sendRepresentation } from '@cachelab/lesson-07-http-caching/send-representation';
import {
  type CircuitBreaker,
  type CircuitBreakerOptions,
  createCircuitBreaker,
} from '@cachelab/lesson-10-production/circuit-breaker';
import { type CacheMetrics, createCacheMetrics } from '@cachelab/lesson-10-production/metrics';
import express, { type Express, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { type CapstoneStore, createCapstoneStore } from './capstone-store.ts';
import { createReadThrough, type ReadResult, type ReadThrough } from './read-through.ts';

export interface AppDeps {
  /** PostgreSQL. The app never closes it. */
  db: Pool;
  /** Redis for L2, tags and publishing (lesson 03's createRedisClient: fails fast). Never closed here. */
  redis: Redis;
  /** A second connection, only for receiving invalidations (lesson 04's bus). Never closed here. */
  subscriber: Redis;
  /** In front of every Redis key and of the bus channel, e.g. 'cachelab:16:'. */
  keyPrefix: string;
  /** The clock of entries, L1 and the L2 expiry, epoch ms. Default Date.now. The tests move their own. */
  now?: () => number;
  /** Longest a copy stays in one instance's L1, ms. Default 10 s (the shortest L1 TTL of lesson 05's policy). */
  l1TtlMs?: number;
  /** How long past its TTL an entry may answer STALE while one refresh runs, ms. Default 5 s. */
  graceMs?: number;
  /** Lesson 05's TTLs per kind, overridden (shorter is always allowed). */
  ttls?: Partial<Record<CacheKind, Partial<KindPolicy>>>;
  /**
   * A whole policy, used as it is, **without lesson 05's staleness-budget check**: for the
   * bench only, whose runs outlast every real TTL. Wins over `ttls`.
   */
  ttlPolicy?: TtlPolicy;
  /** Lesson 10's breaker. Defaults: 5 failures in a row, 2 s cool-down. The tests pass their own clock. */
  breaker?: CircuitBreakerOptions;
  /** How an ETag is computed from a body. Default lesson 07's strongEtag. The tests count the calls. */
  etagOf?: (body: Buffer) => string;
  /** Process metrics (heap, GC, event loop) on /metrics. Default false. */
  defaultMetrics?: boolean;
  instanceId?: string;
  /** Unexpected errors and cache failures. Default console.error. */
  log?: (err: unknown) => void;
}

/** What createApp puts on app.locals (main.ts, the bench and the tests use it). */
export interface AppLocals {
  store: CapstoneStore;
  cache: ReadThrough;
  breaker: CircuitBreaker;
  metrics: CacheMetrics;
  /** Resolves once this instance hears the others' invalidations. */
  ready: Promise<void>;
  /** Stop the bus. Does not close Redis or PostgreSQL. */
  close(): Promise<void>;
}

/** The key of one employee's entry, inside the store's namespace. */
export const employeeKey = (id: number) => cacheKey({ name: 'employee', version: 1, params: { id } });
/** The key of one department's in/out counts. */
export const summaryKey = (department: string) =>
  cacheKey({ name: 'dept-summary', version: 1, params: { department } });

/**
 * The capstone: lesson 05's employee directory, cached by the read-through cache you assemble
 * (read-through.ts over capstone-store.ts). This file wires the pieces; the one place it asks
 * you to change is the PATCH route's invalidation (its TODO).
 *
 *   GET   /employees/:id                    kind 'status' (it holds the status)
 *   GET   /departments/:name/summary        kind 'aggregate', tagged with its department
 *   PATCH /employees/:id                    { name?, email?, department?, status? }
 *   GET   /metrics                          lesson 10's Prometheus series
 *
 * Every cached answer has X-Cache (HIT | MISS | STALE | BYPASS), Server-Timing, ETag,
 * Last-Modified and Cache-Control, and is a 304 with no body when If-None-Match matches.
 */
export function createApp(deps: AppDeps): Express {
  const { db, redis, keyPrefix } = deps;
  const log = deps.log ?? ((err: unknown) => console.error(err));
  const now = deps.now ?? Date.now;
  const keys = directoryKeys(keyPrefix);
  const metrics = createCacheMetrics({ defaultMetrics: deps.defaultMetrics ?? false });
  const onError = (error: Error, operation: string) => log(`⚠ cache ${operation} failed: ${error.message}`);

  const breaker = createCircuitBreaker({
    ...deps.breaker,
    onStateChange(to, from) {
      metrics.observer.circuit(to);
      deps.breaker?.onStateChange?.(to, from);
    },
  });
  const store = createCapstoneStore({
    l1: createMemoryCacheStore({ maxBytes: 64 * 1024 * 1024, now }),
    l2: createRedisCacheStore({ redis, namespace: keyPrefix }),
    breaker,
    bus: {
      publisher: redis,
      subscriber: deps.subscriber,
      channel: `${keyPrefix}l1-invalidation`,
      ...(deps.instanceId ? { instanceId: deps.instanceId } : {}),
    },
    l1TtlMs: deps.l1TtlMs ?? 10_000,
    now,
    observer: metrics.observer,
    onError,
  });
  const ttls = deps.ttlPolicy ?? resolveTtlPolicy(deps.ttls);
  // Tag sets live as long as the longest entry they index.
  const tagTtlSeconds = Math.max(...Object.values(ttls).map((p) => p.l2TtlSeconds)) + 60;
  const cache = createReadThrough({
    store,
    tags: createTagIndex({ redis, ttlSeconds: tagTtlSeconds, onError }),
    ttls,
    graceMs: deps.graceMs ?? 5_000,
    now,
    ...(deps.etagOf ? { etagOf: deps.etagOf } : {}),
    observer: metrics.observer,
    onError,
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // the ETag is the entry's, computed once per fill (read-through.ts)
  const locals: AppLocals = { store, cache, breaker, metrics, ready: store.ready, close: () => store.close() };
  Object.assign(app.locals, locals);

  /**
   * A cached answer: X-Cache and Server-Timing, then lesson 07's 200 or 304, every header in one
   * writeHead. No serverTiming() middleware: lesson 09 measures what it costs every hit.
   */
  function send(req: Request, res: Response, result: ReadResult, policy: HttpCachePolicy, timing: ServerTiming): void {
    for (const name in result.timings)
      timing.record(name, result.timings[name as keyof ReadResult['timings']] as number);
    sendRepresentation(req, res, result.representation, policy, [
      'X-Cache',
      result.status,
      'Server-Timing',
      timing.header(),
    ]);
  }

  app.get('/employees/:id', async (req, res) => {
    const timing = new ServerTiming();
    const id = parseEmployeeId(req.params.id); // a 400 before any cache or query
    const result = await cache.get({
      kind: 'status',
      key: employeeKey(id),
      load: async () => {
        const employee = await getEmployee(db, id);
        if (!employee) throw notFound(`There is no employee with id ${id}.`); // never cached
        const changed = Math.max(
          new Date(employee.updated_at).getTime(),
          new Date(employee.status_updated_at).getTime(),
        );
        return { value: employee, lastModified: changed };
      },
    });
    send(req, res, result, POLICIES.employee, timing);
  });

  app.get('/departments/:name/summary', async (req, res) => {
    const timing = new ServerTiming();
    const department = departmentFromPath(req.params.name);
    const result = await cache.get({
      kind: 'aggregate',
      key: summaryKey(department),
      tags: [keys.deptTag(department)],
      load: async () => ({ value: await departmentSummary(db, department) }),
    });
    send(req, res, result, POLICIES.summary, timing);
  });

  app.patch('/employees/:id', jsonBody(), async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const changes = parse(employeeChanges, req.body, 'body');
    const change = await patchEmployee(db, id, changes);
    if (!change?.before || !change.after) throw notFound(`There is no employee with id ${id}.`);
    // After COMMIT: the employee's own entry, and every entry tagged with a department the
    // write changed: the one it left AND the one it joined (only `before` knows the first).
    await cache.invalidate({
      keys: [employeeKey(id)],
      tags: [keys.deptTag(change.before.department), keys.deptTag(change.after.department)],
    });
    res.set('Cache-Control', 'no-store').json(change.after);
  });

  app.get('/metrics', async (_req, res) => {
    res
      .set('Cache-Control', 'no-store')
      .type(metrics.registry.contentType)
      .send(await metrics.registry.metrics());
  });

  app.use(notFoundHandler);
  app.use(errorHandler({ log }));
  return app;
}
