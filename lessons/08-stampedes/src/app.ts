import type { Pool } from '@cachelab/db';
import { jsonBody } from '@cachelab/lesson-01-uncached/json-body';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee, investorExists, investorSummary, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { sendJsonBytes } from '@cachelab/lesson-01-uncached/send-bytes';
import { ServerTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, investorId, parse, parseEmployeeId, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { employeePatch, updateEmployee } from '@cachelab/lesson-04-hierarchical/employee-update';
import express, { type Express, type Response } from 'express';
import type { Redis } from 'ioredis';
import {
  type CacheResult,
  createStampedeCache,
  DEFAULT_LEASE,
  type KeyParts,
  type LeaseOptions,
  type StampedeCache,
} from './stampede-cache.ts';

/** A value is served as fresh for one minute (before jitter)… */
export const DEFAULT_FRESH_TTL_MS = 60_000;
/** …then for up to five more minutes as STALE, while one refresh runs or while PostgreSQL fails. */
export const DEFAULT_GRACE_MS = 5 * 60_000;
/** L1: 64 MiB per instance, entries at most 10 s (the staleness budget of a lost invalidation). */
export const DEFAULT_L1 = { maxBytes: 64 * 1024 * 1024, ttlMs: 10_000 };

/**
 * Which stampede defences are on, for the comparison in the README and the tests:
 * - 'none': every request that misses loads (lesson 04's behaviour);
 * - 'single-flight': one load per key per instance;
 * - 'lease': one load per key across instances (single-flight + a Redis lease).
 */
export type Protection = 'none' | 'single-flight' | 'lease';

export interface AppDeps {
  /** PostgreSQL. The app never closes it: whoever created it does. */
  db: Pool;
  /** Redis for L2, leases, generations and publishing invalidations. The app never closes it. */
  redis: Redis;
  /** A second Redis connection that only receives invalidations. The caller owns it; `app.locals.close()` unsubscribes. */
  subscriber: Redis;
  /** Prefix of every Redis key this app writes, and of its pub/sub channel. E.g. 'cachelab:08:'. */
  keyPrefix: string;
  /** This instance's id on the invalidation bus. */
  instanceId?: string;
  /** Default 'lease'. */
  protection?: Protection;
  /** Default DEFAULT_FRESH_TTL_MS. */
  freshTtlMs?: number;
  /** Default DEFAULT_GRACE_MS; 0 turns stale-while-revalidate off. */
  graceMs?: number;
  /** TTL jitter spread (0 to < 1). Default 0.1. */
  jitter?: number;
  /** XFetch β. Default 1; 0 turns early refresh off. */
  earlyRefreshBeta?: number;
  /** Lease timings. Default DEFAULT_LEASE. */
  lease?: LeaseOptions;
  /** Default true. Only the lesson's race demonstration turns it off. */
  generationGuard?: boolean;
  /** Default DEFAULT_L1 (its TTL capped at fresh TTL + grace). */
  l1?: { maxBytes?: number; ttlMs?: number };
  /** Freshness clock, epoch ms (tests inject one). Default Date.now. */
  now?: () => number;
  /** Random source for jitter and XFetch (tests inject one). Default Math.random. */
  random?: () => number;
  /** Where unexpected errors and cache failures are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/** What `createApp` puts on `app.locals`, for main.ts and tests. */
export interface AppLocals {
  cache: StampedeCache;
  /** Resolves once this instance receives other instances' invalidations. */
  ready: Promise<void>;
  /** Unsubscribe from the invalidation bus (the caller then disconnects its clients). */
  close(): Promise<void>;
}

/**
 * Lesson 08: the lesson-01 API behind lesson 04's two levels, protected against stampedes
 * (see stampede-cache.ts for the read path). Returns the app without listening.
 *
 * Every cached response says what happened in `X-Cache`: HIT, MISS, STALE (served past its
 * TTL while a refresh runs, `X-Cache-Stale-Ms` says by how much) or BYPASS (Redis failed),
 * and where its time went in `Server-Timing`: l1, l2, db, json, and `wait` for a request
 * that waited for another request's (or instance's) load instead of querying.
 *
 *   GET   /employees/:id
 *   PATCH /employees/:id   { name?, status? }    updates, then invalidates (generation bump)
 *   GET   /payments?investor=&from=&to=&limit=
 *   GET   /investors/:id/summary
 */
export function createApp(deps: AppDeps): Express {
  const { db } = deps;
  const log = deps.log ?? ((err: unknown) => console.error(err));
  const protection = deps.protection ?? 'lease';
  const freshTtlMs = deps.freshTtlMs ?? DEFAULT_FRESH_TTL_MS;
  const graceMs = deps.graceMs ?? DEFAULT_GRACE_MS;
  const cache = createStampedeCache({
    redis: deps.redis,
    subscriber: deps.subscriber,
    keyPrefix: deps.keyPrefix,
    ...(deps.instanceId ? { instanceId: deps.instanceId } : {}),
    l1: {
      maxBytes: deps.l1?.maxBytes ?? DEFAULT_L1.maxBytes,
      // Never longer than the entry lives in Redis (short TTLs in a demo: FRESH_TTL_MS=5000 GRACE_MS=0).
      ttlMs: deps.l1?.ttlMs ?? Math.min(DEFAULT_L1.ttlMs, freshTtlMs + graceMs),
    },
    freshTtlMs,
    graceMs,
    ...(deps.jitter !== undefined ? { jitter: deps.jitter } : {}),
    ...(deps.earlyRefreshBeta !== undefined ? { earlyRefreshBeta: deps.earlyRefreshBeta } : {}),
    singleFlight: protection !== 'none',
    lease: protection === 'lease' ? (deps.lease ?? DEFAULT_LEASE) : false,
    generationGuard: deps.generationGuard ?? true,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    onError: cacheErrorLog(log),
  });

  /**
   * Answer from the cache (or its one load), and say what happened in the headers. A fresh
   * L1 entry is answered synchronously, as in lesson 04: no promise, no result object, the
   * headers in one writeHead (lesson 09 measures what each of those costs a hit).
   */
  function sendCached(res: Response, parts: KeyParts, load: () => Promise<unknown>): undefined | Promise<void> {
    const timing = new ServerTiming();
    const local = cache.peek(parts, load);
    if (local) {
      timing.record('l1', performance.now() - timing.started);
      sendJsonBytes(res, local, ['X-Cache', 'HIT', 'X-Cache-Level', 'L1', 'Server-Timing', timing.header()]);
      return;
    }
    return cache.get(parts, load).then(
      (result) => send(res, result, timing),
      (err: unknown) => {
        timing.applyTo(res); // a 404 still shows its total
        throw err;
      },
    );
  }

  /** The body, what happened (`X-Cache`, the level, how stale) and where the time went. */
  function send(res: Response, result: CacheResult, timing: ServerTiming): undefined {
    for (const [name, ms] of Object.entries(result.timings)) {
      timing.record(name, ms, name === 'wait' ? "waited for another request's load" : undefined);
    }
    const headers = ['X-Cache', result.status];
    if (result.level !== 'db') headers.push('X-Cache-Level', result.level.toUpperCase());
    if (result.staleForMs !== undefined) headers.push('X-Cache-Stale-Ms', String(Math.round(result.staleForMs)));
    sendJsonBytes(res, result.body, [...headers, 'Server-Timing', timing.header()]);
    return undefined;
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // HTTP caching is lesson 07's; this lesson is about the server's cache.
  // No serverTiming() middleware: every route times itself with a local ServerTiming, so an
  // L1 hit pays for nothing it does not use (lesson 04; lesson 09 measures the difference).
  const locals: AppLocals = { cache, ready: cache.ready, close: () => cache.close() };
  Object.assign(app.locals, locals);

  app.get('/', (_req, res) => {
    res.json({
      lesson: '08-stampedes',
      instance: cache.instanceId,
      protection,
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
    return sendCached(res, { name: 'employee', params: { id } }, async () => {
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
    // After the commit (lesson 04), and with a generation bump: a GET that read the old
    // row before this UPDATE and is still loading will have its write refused.
    const invalidated = await cache.delete({ name: 'employee', params: { id } });
    timing.record('l2', invalidated.durMs);
    if (!invalidated.l2 || !invalidated.published) res.set('X-Cache-Invalidation', 'failed');
    timing.applyTo(res);
    res.set('Cache-Control', 'no-store').json(employee);
  });

  app.get('/payments', (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    return sendCached(res, { name: 'payments', params: q }, async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
      const rows = await listPayments(db, q);
      return { ...q, count: rows.length, rows };
    });
  });

  app.get('/investors/:id/summary', (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    return sendCached(res, { name: 'investor-summary', params: { investor } }, async () => {
      if (!(await investorExists(db, investor))) throw notFound(`There is no investor ${investor}.`);
      return investorSummary(db, investor);
    });
  });

  app.use(notFoundHandler);
  app.use(errorHandler({ log }));
  return app;
}

/**
 * Cache failures are expected conditions (Redis down, PostgreSQL down during a background
 * refresh): one line each, at most one per operation every 10 s, with a count of the rest.
 */
function cacheErrorLog(log: (err: unknown) => void): (error: Error, operation: string) => void {
  const last = new Map<string, { atMs: number; suppressed: number }>();
  return (error, operation) => {
    const now = Date.now();
    const seen = last.get(operation);
    if (seen && now - seen.atMs < 10_000) {
      seen.suppressed += 1;
      return;
    }
    const more = seen?.suppressed ? ` (and ${seen.suppressed} more since the last message)` : '';
    last.set(operation, { atMs: now, suppressed: 0 });
    const what =
      operation === 'refresh'
        ? 'A background refresh failed; the stale value is served until its grace period ends'
        : `Cache ${operation} failed`;
    log(`⚠ ${what}: ${error.message}${more}.`);
  };
}
