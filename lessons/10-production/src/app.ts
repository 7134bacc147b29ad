import type { Pool } from '@cachelab/db';
import { jsonBody } from '@cachelab/lesson-01-uncached/json-body';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import {
  type Employee,
  getEmployee,
  investorExists,
  investorSummary,
  listPayments,
} from '@cachelab/lesson-01-uncached/queries';
import { sendJsonBytes } from '@cachelab/lesson-01-uncached/send-bytes';
import { ServerTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, investorId, parse, parseEmployeeId, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { employeePatch, updateEmployee } from '@cachelab/lesson-04-hierarchical/employee-update';
import express, { type Express, type Request, type Response } from 'express';
import type { Cluster, Redis } from 'ioredis';
import { authenticatedUser, createTokens, hasCredentials } from './auth.ts';
import type { CircuitBreakerOptions } from './circuit-breaker.ts';
import { type CacheMetrics, createCacheMetrics } from './metrics.ts';
import {
  createProductionCache,
  type KeyParts,
  type Metric,
  type ProductionCache,
  type ProductionCacheOptions,
} from './production-cache.ts';
import type { BusRecovery } from './reliable-bus.ts';

/**
 * L1: 64 MiB per instance, copies live 10 s; L2: fresh 60 s, then served for 5 min more only while
 * PostgreSQL fails. `commandTimeoutMs` is for the Redis client main.ts creates (the app receives
 * clients, it does not create them); it and the breaker's threshold were chosen by measuring
 * (the README's "Choosing the timeout and the threshold").
 */
export const DEFAULTS = {
  commandTimeoutMs: 1_000,
  l1: { maxBytes: 64 * 1024 * 1024, ttlMs: 10_000 },
  l2TtlSeconds: 60,
  staleIfErrorMs: 5 * 60_000,
  breaker: { failureThreshold: 20, coolDownMs: 2_000 },
  publicBaseUrl: 'http://127.0.0.1:3200',
} as const;

/** Languages of `GET /employees/:id/card`. The negotiated one (never the raw header) goes into the key. */
export const LANGUAGES = ['en', 'fr', 'de'] as const;
export type Language = (typeof LANGUAGES)[number];
const GREETING: Record<Language, (name: string) => string> = {
  en: (name) => `Hello, ${name}`,
  fr: (name) => `Bonjour, ${name}`,
  de: (name) => `Hallo, ${name}`,
};

export interface AppDeps {
  /** PostgreSQL. The app never closes it. */
  db: Pool;
  /** Redis or a Cluster, with short timeouts and no offline queue (redis-client.ts). The app never closes it. */
  redis: Redis | Cluster;
  /** A second connection (or Cluster) that only receives invalidations. */
  subscriber: Redis | Cluster;
  /** Prefix of every key and bus name, e.g. 'cachelab:10:'. */
  keyPrefix: string;
  /** Signs and verifies bearer tokens (auth.ts). Shared by every instance. */
  authSecret: string;
  /**
   * The public address of this API, for links in bodies. From configuration, **never from
   * the request's Host or X-Forwarded-Host**: those are the attacker's to set, and a link
   * built from them and cached is served to everybody (cache poisoning).
   */
  publicBaseUrl?: string;
  instanceId?: string;
  l1?: { maxBytes?: number; ttlMs?: number };
  l2TtlSeconds?: number;
  staleIfErrorMs?: number;
  breaker?: CircuitBreakerOptions;
  /** How often an invalidation that failed is retried in the background, ms. Default 1,000 (production-cache.ts). */
  invalidationRetryMs?: number;
  /** The timer of those retries. Tests only: they fire a retry when they say. */
  setTimer?: ProductionCacheOptions['setTimer'];
  busRecovery?: BusRecovery;
  /** SPUBLISH/SSUBSCRIBE for the bus (Redis Cluster). Default false. */
  shardedPubSub?: boolean;
  /**
   * **The lesson's stale-write demonstration only**: false turns off lesson 08's generation
   * guard, so a slow GET can write the old row into Redis after a PATCH. Default true.
   */
  generationGuard?: boolean;
  /**
   * **The lesson's attack demonstration only.** The card's key ignores the language and its
   * link comes from X-Forwarded-Host: what a first version of this route typically does.
   */
  insecureCardKey?: boolean;
  /** Process metrics (heap, event loop) on /metrics too. Default false (main.ts turns them on). */
  defaultMetrics?: boolean;
  /** Freshness clock (epoch ms), tests only. */
  now?: () => number;
  /** Where errors and cache warnings go, one line each. Default console.error. */
  log?: (message: unknown) => void;
}

/** What a route declares about who its answer is for (see createApp). */
export interface RouteSharing {
  /** Can the answer differ with who asks? false: one shared entry for everybody, credentials or not. */
  variesByUser: boolean;
  /** The key holds the user the token proved (/me): an entry per user, so credentials do not bypass it. */
  keyedOnVerifiedUser?: boolean;
}

/** Same answer whoever asks: the loader uses the key's parameters and nothing else from the request. */
const PUBLIC: RouteSharing = { variesByUser: false };
/** Might differ for a signed-in viewer, and the key does not say who: credentials bypass the cache. */
const SHARED_WHEN_ANONYMOUS: RouteSharing = { variesByUser: true };
/** Per user, keyed on the verified user. */
const PER_USER: RouteSharing = { variesByUser: true, keyedOnVerifiedUser: true };

export interface AppLocals {
  cache: ProductionCache;
  metrics: CacheMetrics;
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Lesson 10: the API behind a cache a team could run (production-cache.ts).
 *
 *   GET   /employees/:id                         shared entry per employee
 *   PATCH /employees/:id  { name?, status? }     invalidates the employee, its card, its /me
 *   GET   /employees/:id/card                    localized (Accept-Language), entry per language
 *   GET   /me   Authorization: Bearer <token>    entry per verified user; never shared
 *   GET   /payments?investor=&from=&to=&limit=
 *   GET   /investors/:id/summary
 *   GET   /metrics                               Prometheus text format
 *
 * Each route says whether its answer can depend on who asks (`variesByUser`):
 * - no (payments, the summary): one shared entry serves everybody, credentials or not. A
 *   browser sends its cookie with every request; bypassing on it would send each of those
 *   requests to PostgreSQL, the 17.8 MB payments query included, without single-flight.
 * - yes, and the key holds the user the token proved (/me): an entry per user, never shared.
 * - yes, and the key does not hold the user (an employee and its card: the kind of record an
 *   app shows more of to a signed-in viewer, as exercise 13 does): a request with credentials
 *   is answered from PostgreSQL, `X-Cache: BYPASS`, and never reads or fills the shared entry.
 */
export function createApp(deps: AppDeps): Express {
  const { db } = deps;
  const log = deps.log ?? ((message: unknown) => console.error(message));
  const tokens = createTokens(deps.authSecret);
  const publicBaseUrl = (deps.publicBaseUrl ?? DEFAULTS.publicBaseUrl).replace(/\/+$/, '');
  const metrics = createCacheMetrics({ defaultMetrics: deps.defaultMetrics ?? false });
  const warn = onceEvery(10_000, log);
  const cache = createProductionCache({
    redis: deps.redis,
    subscriber: deps.subscriber,
    keyPrefix: deps.keyPrefix,
    ...(deps.instanceId ? { instanceId: deps.instanceId } : {}),
    l1: { maxBytes: deps.l1?.maxBytes ?? DEFAULTS.l1.maxBytes, ttlMs: deps.l1?.ttlMs ?? DEFAULTS.l1.ttlMs },
    l2: { ttlSeconds: deps.l2TtlSeconds ?? DEFAULTS.l2TtlSeconds },
    staleIfErrorMs: deps.staleIfErrorMs ?? DEFAULTS.staleIfErrorMs,
    breaker: {
      ...DEFAULTS.breaker,
      ...deps.breaker,
      onStateChange(to, from) {
        // One line per change of state, not one per request: an outage is two lines.
        if (to === 'open') log('⚠ Redis keeps failing: circuit open, answering from PostgreSQL (X-Cache: BYPASS).');
        if (to === 'closed') log('✓ Redis answers again: circuit closed, caching again.');
        deps.breaker?.onStateChange?.(to, from);
      },
    },
    ...(deps.invalidationRetryMs ? { invalidationRetryMs: deps.invalidationRetryMs } : {}),
    ...(deps.setTimer ? { setTimer: deps.setTimer } : {}),
    ...(deps.busRecovery ? { busRecovery: deps.busRecovery } : {}),
    ...(deps.shardedPubSub ? { shardedPubSub: true } : {}),
    ...(deps.generationGuard === false ? { generationGuard: false } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    observer: metrics.observer,
    // Messages only: an ioredis error's text names the command, never a value or a password.
    onError: (error, operation) => warn(operation, `⚠ Cache ${operation} failed: ${error.message}.`),
  });
  metrics.attach(cache);

  /**
   * Answer from the cache, or — when the answer may depend on who asks, the key does not say
   * who, and the request carries credentials — from PostgreSQL alone. A fresh L1 entry is
   * answered synchronously, headers in one writeHead: lesson 04's hit path (lesson 09
   * measures what a promise, the middleware and Express's header helpers cost a hit).
   */
  function sendCached(
    req: Request,
    res: Response,
    parts: KeyParts,
    route: RouteSharing,
    load: () => Promise<unknown>,
  ): undefined | Promise<void> {
    const timing = new ServerTiming();
    // An answer that may depend on who asks says so to every cache on the way (a browser, a
    // CDN): `Vary: Authorization`, on the anonymous answer as much as on the signed-in one, or
    // a shared cache could hand the anonymous copy to a signed-in caller and back. It goes in
    // the answer's one writeHead (an error sets it when it is thrown), unless the route has a
    // Vary of its own already (the card: Accept-Language), which it is then added to.
    let vary: string[] = [];
    if (route.variesByUser) {
      if (res.hasHeader('Vary')) res.vary('Authorization');
      else vary = ['Vary', 'Authorization'];
    }
    const shared = route.variesByUser && !route.keyedOnVerifiedUser;
    if (shared && hasCredentials(req)) {
      // A shared entry must not answer a request that says who it is (its answer may depend
      // on who asks), nor be filled by it (the next anonymous caller would get it). A route
      // that does not vary by user never gets here: its loader reads nothing from the request
      // but what is in its key, so whoever fills the entry fills it with everybody's answer.
      return timing.time('db', load).then(
        (value) => {
          metrics.observer.result(parts.name, 'BYPASS', 'db');
          const body = Buffer.from(JSON.stringify(value));
          const headers = [...vary, 'X-Cache', 'BYPASS', 'Cache-Control', 'private, no-store'];
          sendJsonBytes(res, body, [...headers, 'Server-Timing', timing.header()]);
        },
        (err: unknown) => failed(res, err, timing, vary),
      );
    }
    // The shared anonymous answer: a cache may keep it (per Authorization, by the Vary above)
    // but must ask again before reusing it, since a write here is not a purge there.
    const policy = shared ? [...vary, 'Cache-Control', 'no-cache'] : vary;
    const local = cache.peek(parts);
    if (local) {
      timing.record('l1', performance.now() - timing.started);
      const headers = [...policy, 'X-Cache', 'HIT', 'X-Cache-Level', 'L1', 'Server-Timing', timing.header()];
      sendJsonBytes(res, local, headers);
      return;
    }
    return cache.get(parts, load).then(
      (result) => {
        for (const name in result.timings) timing.record(name, result.timings[name as Metric] as number);
        const level = result.level === 'db' ? [] : ['X-Cache-Level', result.level.toUpperCase()];
        const headers = [...policy, 'X-Cache', result.status, ...level, 'Server-Timing', timing.header()];
        sendJsonBytes(res, result.body, headers);
      },
      (err: unknown) => failed(res, err, timing, vary),
    );
  }

  const loadEmployee = (id: number) => async (): Promise<Employee> => {
    const employee = await getEmployee(db, id);
    if (!employee) throw notFound(`There is no employee with id ${id}.`);
    return employee;
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Never trust X-Forwarded-* here: nothing in this app reads the client's idea of the host.
  app.set('trust proxy', false);
  // No serverTiming() middleware: every route times itself with a local ServerTiming, so an
  // L1 hit pays for nothing it does not use (lesson 04; lesson 09 measures the difference).
  const locals: AppLocals = { cache, metrics, ready: cache.ready, close: () => cache.close() };
  Object.assign(app.locals, locals);

  app.get('/', (_req, res) => {
    res.json({
      lesson: '10-production',
      instance: cache.instanceId,
      routes: [
        'GET /employees/:id',
        'PATCH /employees/:id  {"name"?: string, "status"?: "in" | "out"}',
        'GET /employees/:id/card  (Accept-Language: en, fr or de)',
        'GET /me  (Authorization: Bearer <token>)',
        'GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000',
        'GET /investors/:id/summary',
        'GET /metrics',
      ],
    });
  });

  app.get('/metrics', async (_req, res) => {
    res
      .set('Cache-Control', 'no-store')
      .type(metrics.registry.contentType)
      .send(await metrics.registry.metrics());
  });

  app.get('/employees/:id', (req, res) => {
    const id = parseEmployeeId(req.params.id);
    return sendCached(req, res, { name: 'employee', params: { id } }, SHARED_WHEN_ANONYMOUS, loadEmployee(id));
  });

  app.get('/employees/:id/card', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    if (deps.insecureCardKey) {
      // THE BUG, for the demonstration: the body depends on two headers the key ignores.
      const lang = (req.acceptsLanguages(...LANGUAGES) || 'en') as Language;
      const base = `http://${req.get('x-forwarded-host') ?? req.get('host')}`;
      await sendCached(req, res, { name: 'card', params: { id } }, SHARED_WHEN_ANONYMOUS, async () => {
        const e = await loadEmployee(id)();
        return { id, lang, greeting: GREETING[lang](e.name), profile: `${base}/employees/${id}` };
      });
      return;
    }
    // The language is negotiated against a list of three: the key holds one of them, never
    // the raw header (a raw Accept-Language in the key is one entry per distinct header
    // value an attacker cares to send). The link comes from configuration, not from Host.
    const lang = (req.acceptsLanguages(...LANGUAGES) || 'en') as Language;
    res.vary('Accept-Language').set('Content-Language', lang);
    await sendCached(req, res, { name: 'card', params: { id, lang } }, SHARED_WHEN_ANONYMOUS, async () => {
      const e = await loadEmployee(id)();
      return { id, lang, greeting: GREETING[lang](e.name), profile: `${publicBaseUrl}/employees/${id}` };
    });
  });

  app.get('/me', async (req, res) => {
    res.vary('Authorization').set('Cache-Control', 'private, no-store');
    const user = authenticatedUser(req, res, tokens);
    // Keyed on the user the token PROVED (not the token, not a header the client sets).
    await sendCached(req, res, { name: 'me', params: { user } }, PER_USER, loadEmployee(user));
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
    // After the commit: every entry built from this row, on every instance.
    const results = await Promise.all([
      cache.delete({ name: 'employee', params: { id } }),
      cache.delete({ name: 'me', params: { user: id } }),
      ...LANGUAGES.map((lang) => cache.delete({ name: 'card', params: { id, lang } })),
    ]);
    timing.record('l2', Math.max(...results.map((r) => r.durMs)));
    if (results.some((r) => !r.l2 || !r.published)) res.set('X-Cache-Invalidation', 'failed');
    timing.applyTo(res);
    res.set('Cache-Control', 'no-store').json(employee);
  });

  app.get('/payments', async (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    await sendCached(req, res, { name: 'payments', params: q }, PUBLIC, async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
      const rows = await listPayments(db, q);
      return { ...q, count: rows.length, rows };
    });
  });

  app.get('/investors/:id/summary', async (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    await sendCached(req, res, { name: 'investor-summary', params: { investor } }, PUBLIC, async () => {
      if (!(await investorExists(db, investor))) throw notFound(`There is no investor ${investor}.`);
      return investorSummary(db, investor);
    });
  });

  app.use(notFoundHandler);
  app.use(errorHandler({ log }));
  return app;
}

/**
 * An answer that failed (a 404, PostgreSQL down) still carries what `sendCached` would have
 * sent with it: the Vary of its route and its Server-Timing total. Then the error handler.
 * Outside `sendCached`, so that a hit does not make this closure (nor name it: tsx does).
 */
function failed(res: Response, err: unknown, timing: ServerTiming, vary: readonly string[]): never {
  if (vary.length > 0) res.vary('Authorization');
  timing.applyTo(res); // a 404 still shows its total
  throw err;
}

/** At most one line per `what` every `ms`, with a count of the ones held back. */
function onceEvery(ms: number, log: (message: string) => void): (what: string, message: string) => void {
  const last = new Map<string, { atMs: number; held: number }>();
  return (what, message) => {
    const now = Date.now();
    const seen = last.get(what);
    if (seen && now - seen.atMs < ms) {
      seen.held++;
      return;
    }
    last.set(what, { atMs: now, held: 0 });
    log(seen?.held ? `${message} (and ${seen.held} more since the last message)` : message);
  };
}
