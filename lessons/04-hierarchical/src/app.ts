import type { Pool } from '@cachelab/db';
import { jsonBody } from '@cachelab/lesson-01-uncached/json-body';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee, investorExists, investorSummary, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { sendJsonBytes } from '@cachelab/lesson-01-uncached/send-bytes';
import { ServerTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, investorId, parse, parseEmployeeId, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { redisErrorLog } from '@cachelab/lesson-03-redis-cache-aside/redis-error-log';
import express, { type Express, type Response } from 'express';
import type { Redis } from 'ioredis';
import { employeePatch, updateEmployee } from './employee-update.ts';
import { type CacheResult, createTwoLevelCache, type TwoLevelCache } from './two-level-cache.ts';

/** L1: 64 MiB per instance, enough for a few of the 17.8 MB payment pages and thousands of small entries. */
export const DEFAULT_L1_MAX_BYTES = 64 * 1024 * 1024;
/** L1 entries live 10 s: the longest an instance may serve a value after a lost invalidation. */
export const DEFAULT_L1_TTL_MS = 10_000;
/** L2 entries live 60 s in Redis; a delete removes them for every instance at once. */
export const DEFAULT_L2_TTL_SECONDS = 60;

export interface AppDeps {
  /** PostgreSQL. The app never closes it: whoever created it does. */
  db: Pool;
  /** Redis for L2 and for publishing invalidations. The app never closes it. */
  redis: Redis;
  /**
   * A second Redis connection for receiving invalidations (a subscribed connection can do
   * nothing else). The caller owns it and disconnects it; `app.locals.close()` unsubscribes.
   */
  subscriber: Redis;
  /** Prefix of every Redis key this app writes, and of its pub/sub channel. E.g. 'cachelab:04:'. */
  keyPrefix: string;
  /** This instance's id on the invalidation bus. Default: host, pid and a random suffix. */
  instanceId?: string;
  l1?: {
    /** Default DEFAULT_L1_MAX_BYTES. */
    maxBytes?: number;
    /** Default DEFAULT_L1_TTL_MS; must be shorter than the L2 TTL. */
    ttlMs?: number;
    /** L1's clock, in ms, for tests. Default performance.now. */
    now?: () => number;
  };
  /** Default DEFAULT_L2_TTL_SECONDS. */
  l2TtlSeconds?: number;
  /** The stale-set guard (two-level-cache.ts). Default true; false only to watch the race. */
  generationGuard?: boolean;
  /**
   * Where unexpected errors (500s) and Redis command failures are logged: one line per kind of
   * failure at most every 10 s, like lesson 03 (redis-error-log.ts). Default console.error.
   */
  log?: (err: unknown) => void;
}

/** What `createApp` puts on `app.locals`, for main.ts and tests. */
export interface AppLocals {
  cache: TwoLevelCache;
  /** Resolves once this instance receives other instances' invalidations. */
  ready: Promise<void>;
  /** Unsubscribe from the invalidation bus (the caller then disconnects its clients). */
  close(): Promise<void>;
}

/**
 * Lesson 04: the lesson-01 API behind a two-level cache, L1 in memory over L2 in Redis,
 * plus the first write route, whose invalidation reaches every instance's L1 over Redis
 * pub/sub. Returns the app without listening (src/main.ts listens).
 *
 * Every cached response says what happened: `X-Cache: HIT | MISS | BYPASS`, on a hit
 * `X-Cache-Level: L1 | L2`, and Server-Timing with `l1`, `l2`, `db`, `json` as consulted.
 *
 * Routes:
 *   GET   /employees/:id                          cached
 *   PATCH /employees/:id   { name?, status? }     updates, then invalidates everywhere
 *   GET   /payments?investor=&from=&to=&limit=    cached (the classic slow query)
 *   GET   /investors/:id/summary                  cached
 */
export function createApp(deps: AppDeps): Express {
  const { db, keyPrefix } = deps;
  const log = deps.log ?? ((err: unknown) => console.error(err));
  const cache = createTwoLevelCache({
    redis: deps.redis,
    subscriber: deps.subscriber,
    // Channels are not keys, so the prefix does not apply by itself: put it in the name.
    channel: cacheKey({ prefix: keyPrefix, name: 'l1-invalidation' }),
    ...(deps.instanceId ? { instanceId: deps.instanceId } : {}),
    l1: {
      maxBytes: deps.l1?.maxBytes ?? DEFAULT_L1_MAX_BYTES,
      ttlMs: deps.l1?.ttlMs ?? DEFAULT_L1_TTL_MS,
      ...(deps.l1?.now ? { now: deps.l1.now } : {}),
    },
    l2: { ttlSeconds: deps.l2TtlSeconds ?? DEFAULT_L2_TTL_SECONDS },
    ...(deps.generationGuard !== undefined ? { generationGuard: deps.generationGuard } : {}),
    // A GET that times out is a BYPASS; say so, or an L2 hit quietly becomes a query.
    onError: redisErrorLog(deps.redis, (line) => log(line)),
  });
  const employeeKey = (id: number) => cacheKey({ prefix: keyPrefix, name: 'employee', params: { id } });

  /**
   * Answer from the cache, or load, store and answer; say which in the headers. An L1 hit
   * is answered synchronously (no promise); L2 and the database return one for Express.
   */
  function sendCached(res: Response, key: string, load: () => Promise<unknown>): undefined | Promise<void> {
    const timing = new ServerTiming();
    const local = cache.peek(key);
    if (local) {
      // The commonest answer, as lean as lesson 02's: no promise, no result object.
      timing.record('l1', performance.now() - timing.started);
      sendJsonBytes(res, local, ['X-Cache', 'HIT', 'X-Cache-Level', 'L1', 'Server-Timing', timing.header()]);
      return;
    }
    return cache.get(key, load).then(
      (result) => send(res, result, timing),
      (err: unknown) => {
        timing.applyTo(res); // a 404 still shows its total
        throw err;
      },
    );
  }

  /** The stored bytes with what happened (`X-Cache`, and the level of a hit) and where the time went. */
  function send(res: Response, result: CacheResult, timing: ServerTiming): undefined {
    for (const name in result.timings)
      timing.record(name, result.timings[name as keyof CacheResult['timings']] as number);
    const level = result.status === 'HIT' ? ['X-Cache-Level', result.level === 'l1' ? 'L1' : 'L2'] : [];
    sendJsonBytes(res, result.body, ['X-Cache', result.status, ...level, 'Server-Timing', timing.header()]);
    return undefined;
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // HTTP caching is lesson 07.
  // No serverTiming() middleware: every route times itself with a local ServerTiming, so an
  // L1 hit pays for nothing it does not use (lesson 09 measures what the middleware costs).
  const locals: AppLocals = { cache, ready: cache.ready, close: () => cache.close() };
  Object.assign(app.locals, locals);

  app.get('/', (_req, res) => {
    res.json({
      lesson: '04-hierarchical',
      instance: cache.instanceId,
      l1: cache.l1,
      routes: [
        'GET /employees/:id',
        'PATCH /employees/:id  {"name"?: string, "status"?: "in" | "out"}',
        'GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000',
        'GET /investors/:id/summary',
      ],
    });
  });

  app.get('/employees/:id', (req, res) => {
    const id = parseEmployeeId(req.params.id);
    return sendCached(res, employeeKey(id), async () => {
      const employee = await getEmployee(db, id);
      if (!employee) throw notFound(`There is no employee with id ${id}.`); // thrown: never cached
      return employee;
    });
  });

  app.patch('/employees/:id', jsonBody(), async (req, res) => {
    const timing = new ServerTiming();
    const id = parse(employeeId, req.params.id, 'id');
    const patch = parse(employeePatch, req.body, 'body');
    const employee = await timing.time('db', () => updateEmployee(db, id, patch));
    if (!employee) {
      timing.applyTo(res);
      throw notFound(`There is no employee with id ${id}.`);
    }
    // The UPDATE has committed: only now may the cached copies go. Invalidating before the
    // commit lets a concurrent reader cache the old row again, with nobody left to remove it.
    const invalidated = await cache.delete(employeeKey(id));
    timing.record('l2', invalidated.durMs);
    // A failed invalidation (Redis down) does not undo a committed write: other instances'
    // L1 copies expire within the L1 TTL. The header says so, for the curious.
    // Either failure leaves stale data somewhere: a failed DEL keeps the old entry in Redis (and
    // other instances refill their L1 from it); a failed publish keeps it in their L1.
    if (!invalidated.l2 || !invalidated.published) res.set('X-Cache-Invalidation', 'failed');
    timing.applyTo(res);
    res.set('Cache-Control', 'no-store').json(employee);
  });

  app.get('/payments', (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    return sendCached(res, cacheKey({ prefix: keyPrefix, name: 'payments', params: q }), async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
      const rows = await listPayments(db, q);
      return { ...q, count: rows.length, rows };
    });
  });

  app.get('/investors/:id/summary', (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    return sendCached(
      res,
      cacheKey({ prefix: keyPrefix, name: 'investor-summary', params: { investor } }),
      async () => {
        if (!(await investorExists(db, investor))) throw notFound(`There is no investor ${investor}.`);
        return investorSummary(db, investor);
      },
    );
  });

  app.use(notFoundHandler);
  app.use(errorHandler({ log }));
  return app;
}
