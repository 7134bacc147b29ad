import type { Pool } from '@cachelab/db';
import { jsonBody } from '@cachelab/lesson-01-uncached/json-body';
import { errorHandler, HttpProblem, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee, investorExists, investorSummary, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { ServerTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, investorId, parse, parseEmployeeId, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { redisErrorLog } from '@cachelab/lesson-03-redis-cache-aside/redis-error-log';
import { employeePatch, updateEmployee } from '@cachelab/lesson-04-hierarchical/employee-update';
import express, { type Express, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { type HttpCachePolicy, POLICIES } from './cache-policy.ts';
import { type Compression, type CompressionOptions, createCompression, type Selected } from './compression.ts';
import type { Representation } from './representation.ts';
import { createRepresentationCache, type Loaded, type RepresentationCache } from './representation-cache.ts';
import { sendRepresentation } from './send-representation.ts';

/** L1: 64 MiB per instance (a few 17.8 MB payment pages, thousands of employees). */
export const DEFAULT_L1_MAX_BYTES = 64 * 1024 * 1024;
/** L1 entries live 10 s, L2 entries 60 s (lesson 04: L1 must expire first). */
export const DEFAULT_L1_TTL_MS = 10_000;
export const DEFAULT_L2_TTL_SECONDS = 60;
/**
 * Version 2 of every key: the entries are envelopes now (validators + body), not lesson
 * 04's bare bodies. Upgrading an app in place, old and new code would otherwise read each
 * other's entries; a new version means new keys, and the old ones just expire.
 */
export const KEY_VERSION = 2;

export interface AppDeps {
  /** PostgreSQL. The app never closes it: whoever created it does. */
  db: Pool;
  /** Redis for L2 and for publishing invalidations. The app never closes it. */
  redis: Redis;
  /** A second Redis connection that only receives invalidations. The caller owns it. */
  subscriber: Redis;
  /** Prefix of every Redis key and of the pub/sub channel, e.g. 'cachelab:07:'. */
  keyPrefix: string;
  /** This instance's id on the invalidation bus. */
  instanceId?: string;
  l1?: { maxBytes?: number; ttlMs?: number; now?: () => number };
  l2TtlSeconds?: number;
  /** How an ETag is computed from a body (default SHA-256). Tests count its calls. */
  etagOf?: (body: Buffer) => string;
  /** Lesson 04's stale-set guard. Default true; false only to watch the race. */
  generationGuard?: boolean;
  /**
   * Step 3: answer in gzip or Brotli when the client accepts it (compression.ts), compressed
   * once per cached entry, with `Vary: Accept-Encoding` and an ETag per coding. Default off
   * (`false`): steps 1 and 2 are read without it, and the later lessons that reuse this app
   * measure the hit path alone. main.ts turns it on.
   */
  compression?: CompressionOptions | false;
  /**
   * Where unexpected errors (500s) and Redis command failures are logged: one line per kind of
   * failure at most every 10 s, like lesson 03 (redis-error-log.ts). Default console.error.
   */
  log?: (err: unknown) => void;
}

/** What `createApp` puts on `app.locals`, for main.ts and tests. */
export interface AppLocals {
  cache: RepresentationCache;
  /** Step 3's compression, when on (its `compressions` count is what the tests read). */
  compression: Compression | undefined;
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * The toy authentication of `GET /me`: `Authorization: Bearer <employee id>`, e.g.
 * `Bearer 42` is employee 42. **There is no secret in it: anyone can be anyone.** It exists
 * to make one response depend on who asks, which is all this lesson needs; real tokens are
 * verified (a session lookup, a JWT signature), and the cache questions stay the same.
 */
export function authenticatedUser(req: Request, res: Response): number {
  const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
  const id = match ? employeeId.safeParse(match[1]) : undefined;
  if (!id?.success) throw unauthorized(res, 'Send `Authorization: Bearer <employee id>`, e.g. `Bearer 42`.');
  return id.data;
}

/** A 401 (problem+json, no-store like every error) that says how to authenticate. */
function unauthorized(res: Response, detail: string): HttpProblem {
  res.set('WWW-Authenticate', 'Bearer realm="cachelab"');
  return new HttpProblem(401, 'unauthorized', 'Authentication required', detail);
}

/**
 * Lesson 07: lesson 04's API (L1 over L2, invalidated across instances) with HTTP caching
 * on top: every cached GET carries `Cache-Control`, a strong `ETag` and `Last-Modified`,
 * and a conditional request whose copy is current gets `304 Not Modified` with no body.
 *
 *   GET   /employees/:id                          no-cache: revalidate each time (304 until it changes)
 *   PATCH /employees/:id  { name?, status? }      updates, invalidates: the ETag changes
 *   GET   /me   (Authorization: Bearer <id>)      private, no-cache, Vary: Authorization
 *   GET   /payments?investor=&from=&to=&limit=    public, max-age=60, s-maxage=300, swr=30
 *   GET   /investors/:id/summary                  public, max-age=60, swr=30
 *
 * `X-Cache` / `X-Cache-Level` say what the server-side cache did, `Server-Timing` where the
 * time went (`etag` appears only when a body was hashed: on a fill). Errors are no-store.
 */
export function createApp(deps: AppDeps): Express {
  const { db, keyPrefix } = deps;
  const log = deps.log ?? ((err: unknown) => console.error(err));
  const cache = createRepresentationCache({
    redis: deps.redis,
    subscriber: deps.subscriber,
    channel: cacheKey({ prefix: keyPrefix, name: 'l1-invalidation' }),
    ...(deps.instanceId ? { instanceId: deps.instanceId } : {}),
    l1: {
      maxBytes: deps.l1?.maxBytes ?? DEFAULT_L1_MAX_BYTES,
      ttlMs: deps.l1?.ttlMs ?? DEFAULT_L1_TTL_MS,
      ...(deps.l1?.now ? { now: deps.l1.now } : {}),
    },
    l2: { ttlSeconds: deps.l2TtlSeconds ?? DEFAULT_L2_TTL_SECONDS },
    ...(deps.etagOf ? { etagOf: deps.etagOf } : {}),
    ...(deps.generationGuard !== undefined ? { generationGuard: deps.generationGuard } : {}),
    // A GET that times out is a BYPASS; say so, or an L2 hit quietly becomes a query.
    onError: redisErrorLog(deps.redis, (line) => log(line)),
  });
  const key = (name: string, params: Record<string, string | number>) =>
    cacheKey({ prefix: keyPrefix, name, version: KEY_VERSION, params });
  const employeeKey = (id: number) => key('employee', { id });
  const compression = deps.compression ? createCompression(deps.compression) : undefined;

  /** Step 3: the representation in the coding this request accepts (identity without compression). */
  const encode = (req: Request, representation: Representation): Selected | Promise<Selected> =>
    compression
      ? compression.select(representation, req.get('accept-encoding'))
      : { representation, coding: 'identity', vary: false, compressMs: 0 };
  /** 200 or 304 in the chosen coding; `compress` in Server-Timing when this request compressed. */
  const send = (
    req: Request,
    res: Response,
    selected: Selected,
    policy: HttpCachePolicy,
    headers: string[],
    timing: ServerTiming,
  ) => {
    if (selected.compressMs > 0) timing.record('compress', selected.compressMs, `${selected.coding} and its ETag`);
    sendRepresentation(
      req,
      res,
      selected.representation,
      policy,
      [...headers, 'Server-Timing', timing.header()],
      selected,
    );
  };

  /**
   * Get the representation (server-side cache), then answer 200 or 304 under `policy`. An L1
   * hit is answered synchronously, as in lesson 04: no promise, no result object.
   */
  function sendCached(
    req: Request,
    res: Response,
    cacheKeyOf: string,
    load: () => Promise<Loaded>,
    policy: HttpCachePolicy,
  ): undefined | Promise<void> {
    const timing = new ServerTiming();
    const local = cache.peek(cacheKeyOf);
    if (local) {
      timing.record('l1', performance.now() - timing.started);
      const headers = ['X-Cache', 'HIT', 'X-Cache-Level', 'L1'];
      const selected = encode(req, local);
      // A kept variant (or identity) is answered synchronously; a first compression waits for zlib.
      if (!(selected instanceof Promise)) {
        send(req, res, selected, policy, headers, timing);
        return;
      }
      return selected.then((s) => send(req, res, s, policy, headers, timing));
    }
    return cache.get(cacheKeyOf, load).then(
      (result) => {
        for (const [name, ms] of Object.entries(result.timings)) {
          timing.record(name, ms, name === 'etag' ? 'ETag (hash of the body)' : undefined);
        }
        const level = result.status === 'HIT' ? ['X-Cache-Level', result.level.toUpperCase()] : [];
        const headers = ['X-Cache', result.status, ...level];
        // Only a representation the cache holds gets here: what `load` throws (404) or a 400
        // thrown before `sendCached` never reaches the compressor, and is never kept.
        return Promise.resolve(encode(req, result.representation)).then((s) =>
          send(req, res, s, policy, headers, timing),
        );
      },
      (err: unknown) => {
        timing.applyTo(res); // a 404 still shows its total
        throw err;
      },
    );
  }

  /** Employee `id` and when it last changed; `missing` is what to throw when there is none. */
  const loadEmployee = (id: number, missing: () => HttpProblem) => async (): Promise<Loaded> => {
    const employee = await getEmployee(db, id);
    if (!employee) throw missing(); // thrown: never cached
    // Last-Modified must cover every field in the body: `status` changes bump
    // status_updated_at without touching updated_at, so it is the later of the two.
    // (pg returns timestamptz columns as Date objects, typed string by lesson 01: accept both.)
    const changed = Math.max(new Date(employee.updated_at).getTime(), new Date(employee.status_updated_at).getTime());
    return { value: employee, lastModified: changed };
  };

  const app = express();
  app.disable('x-powered-by');
  // Express's own ETag would hash every body on every response (sha1, see the README); ours is stored.
  app.set('etag', false);
  // No serverTiming() middleware: each route times itself with a local ServerTiming (lesson 04).
  const locals: AppLocals = { cache, compression, ready: cache.ready, close: () => cache.close() };
  Object.assign(app.locals, locals);

  app.get('/', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({
      lesson: '07-http-caching',
      instance: cache.instanceId,
      routes: [
        'GET /employees/:id',
        'PATCH /employees/:id  {"name"?: string, "status"?: "in" | "out"}',
        'GET /me  (Authorization: Bearer <employee id>)',
        'GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000',
        'GET /investors/:id/summary',
      ],
    });
  });

  app.get('/employees/:id', (req, res) => {
    const id = parseEmployeeId(req.params.id);
    return sendCached(
      req,
      res,
      employeeKey(id),
      loadEmployee(id, () => notFound(`There is no employee with id ${id}.`)),
      POLICIES.employee,
    );
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
    // After the commit (lesson 04): the next GET rebuilds the entry, so its ETag changes and
    // a client revalidating its old copy gets the new row with a 200 instead of a 304.
    const invalidated = await cache.delete(employeeKey(id));
    timing.record('l2', invalidated.durMs);
    // Either failure leaves stale data somewhere: a failed DEL keeps the old entry in Redis (and
    // other instances refill their L1 from it); a failed publish keeps it in their L1.
    if (!invalidated.l2 || !invalidated.published) res.set('X-Cache-Invalidation', 'failed');
    timing.applyTo(res);
    res.set('Cache-Control', 'no-store').json(employee);
  });

  app.get('/me', async (req, res) => {
    // On every answer, the 401 included: what comes back depends on this header.
    res.vary('Authorization');
    const user = authenticatedUser(req, res);
    // The server-side entry is keyed on the user (it is that employee's entry, shared with
    // GET /employees/:id, so a PATCH invalidates both). Never a key without the user: the
    // first caller's profile would be everybody's.
    await sendCached(
      req,
      res,
      employeeKey(user),
      loadEmployee(user, () => unauthorized(res, `There is no employee ${user} to sign in as.`)),
      POLICIES.me,
    );
  });

  app.get('/payments', async (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    await sendCached(
      req,
      res,
      key('payments', q),
      async () => {
        if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
        const rows = await listPayments(db, q);
        // No modification time is stored for payments: Last-Modified is when this answer was built.
        return { value: { ...q, count: rows.length, rows } };
      },
      POLICIES.payments,
    );
  });

  app.get('/investors/:id/summary', async (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    await sendCached(
      req,
      res,
      key('investor-summary', { investor }),
      async () => {
        if (!(await investorExists(db, investor))) throw notFound(`There is no investor ${investor}.`);
        return { value: await investorSummary(db, investor) };
      },
      POLICIES.summary,
    );
  });

  app.use(notFoundHandler);
  app.use(errorHandler({ log }));
  return app;
}
