import { DEPARTMENTS, type Pool } from '@cachelab/db';
import { jsonBody } from '@cachelab/lesson-01-uncached/json-body';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { investorExists, investorSummary, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { record, serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, investorId, parse, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { redisErrorLog } from '@cachelab/lesson-03-redis-cache-aside/redis-error-log';
import express, { type Express, type Response } from 'express';
import type { Redis } from 'ioredis';
import { createDeptVersions, type DeptVersions } from './dept-version.ts';
import {
  composeEmployee,
  departmentSummary,
  departmentsOverview,
  type EmployeeProfile,
  type EmployeeStatus,
  getProfile,
  getStatus,
  listDepartmentPage,
} from './directory-queries.ts';
import {
  departmentFromPath,
  employeeChanges,
  employeeReplacement,
  newEmployee,
  pageQuery,
} from './directory-validation.ts';
import { type Change, createEmployee, patchEmployee, removeEmployee, replaceEmployee } from './employee-writes.ts';
import { createInvalidator, type Invalidator } from './invalidation.ts';
import { type DirectoryKeys, directoryKeys } from './keys.ts';
import { createKindCaches, type KindCaches } from './kind-caches.ts';
import { sendComposed, sendResult } from './respond.ts';
import { createTagIndex, type TagIndex } from './tags.ts';
import { type CacheKind, type KindPolicy, resolveTtlPolicy, type TtlPolicy } from './ttl-policy.ts';

export interface AppDeps {
  /** PostgreSQL. The app never closes it. */
  db: Pool;
  /** Redis for the caches, the list versions, the tag sets and publishing invalidations. The app never closes it. */
  redis: Redis;
  /** A second Redis connection that only receives invalidations (lesson 04). The caller disconnects it. */
  subscriber: Redis;
  /** Prefix of every Redis key and channel, e.g. 'cachelab:05:'. */
  keyPrefix: string;
  /** This instance's id on the invalidation buses. Default: host, pid and a random suffix. */
  instanceId?: string;
  /**
   * TTLs per kind of data, over the defaults of ttl-policy.ts. Checked against each kind's
   * staleness budget: a policy that could serve a value older than its budget is a TypeError.
   */
  ttls?: Partial<Record<CacheKind, Partial<KindPolicy>>>;
  /** L1's clock, in ms (tests). Default performance.now. */
  now?: () => number;
  /**
   * Where unexpected errors (500s) and Redis command failures are logged: one line per kind of
   * failure at most every 10 s, like lesson 03 (redis-error-log.ts). Default console.error.
   */
  log?: (err: unknown) => void;
}

/** What `createApp` puts on `app.locals`, for main.ts, tests and the measurement script. */
export interface AppLocals {
  caches: KindCaches;
  keys: DirectoryKeys;
  versions: DeptVersions;
  tags: TagIndex;
  invalidator: Invalidator;
  policy: TtlPolicy;
  /** Resolves once this instance receives other instances' invalidations. */
  ready: Promise<void>;
  /** Unsubscribe from the buses (the caller then disconnects its clients). */
  close(): Promise<void>;
}

/**
 * Lesson 05: the employee directory, cached by kind of data with a TTL fit to each, and
 * invalidated after every write, on every instance.
 *
 *   GET    /employees/:id                      profile (12 h) + status (50 s), composed
 *   POST   /employees                          { name, email, department, status? }  → 201
 *   PUT    /employees/:id                      { name, email, department, status }
 *   PATCH  /employees/:id                      any of those
 *   DELETE /employees/:id                      → 204
 *   GET    /departments/:name/employees?page=  versioned keys: one INCR drops every page
 *   GET    /departments/:name/summary          in/out counts, tagged dept=<name>
 *   GET    /departments                        every department's counts, tagged with each
 *   GET    /payments?…, /investors/:id/summary lesson 01's reports, cached as in lesson 04
 *
 * Writes answer 400 problem+json on bad input, 404 for an unknown id, 409 for an email
 * already taken; they invalidate once the transaction has committed.
 */
export function createApp(deps: AppDeps): Express {
  const { db, redis } = deps;
  const log = deps.log ?? ((err: unknown) => console.error(err));
  // A Redis failure is a BYPASS, a version or tag not read or not bumped: say so, never silently.
  const onError = redisErrorLog(redis, (line) => log(line));
  const keys = directoryKeys(deps.keyPrefix);
  const policy = resolveTtlPolicy(deps.ttls);
  const caches = createKindCaches({
    redis,
    subscriber: deps.subscriber,
    keys,
    policy,
    ...(deps.instanceId ? { instanceId: deps.instanceId } : {}),
    ...(deps.now ? { now: deps.now } : {}),
    onError,
  });
  const versions = createDeptVersions({ redis, keys, onError });
  // A tag set lives as long as the aggregates it indexes (it is refreshed on every fill).
  const tags = createTagIndex({ redis, ttlSeconds: policy.aggregate.l2TtlSeconds, onError });
  const invalidator = createInvalidator({ caches, versions, tags, keys });
  const reportKey = (name: string, params: Record<string, string | number>) =>
    cacheKey({ prefix: deps.keyPrefix, name, params });

  const locals: AppLocals = {
    caches,
    keys,
    versions,
    tags,
    invalidator,
    policy,
    ready: caches.ready,
    close: () => caches.close(),
  };

  /** After the commit: drop what the change made stale, everywhere; say in the response if Redis missed it. */
  async function invalidate(res: Response, change: Change): Promise<void> {
    const report = await invalidator.afterCommit(change);
    record(res, 'l2', report.durMs);
    // A committed write is never undone for a cache: what Redis missed expires with its TTL.
    if (!report.ok) res.set('X-Cache-Invalidation', 'failed');
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // HTTP caching is lesson 07.
  app.use(serverTiming());
  Object.assign(app.locals, locals);
  const json = jsonBody();

  app.get('/', (_req, res) => {
    res.json({
      lesson: '05-invalidation',
      instance: caches.profile.instanceId,
      routes: [
        'GET /employees/:id',
        'POST /employees  {"name", "email", "department", "status"?}',
        'PUT /employees/:id  {"name", "email", "department", "status"}',
        'PATCH /employees/:id  {"name"?, "email"?, "department"?, "status"?}',
        'DELETE /employees/:id',
        'GET /departments',
        'GET /departments/:name/employees?page=1',
        'GET /departments/:name/summary',
        'GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000',
        'GET /investors/:id/summary',
      ],
    });
  });

  // --- The employee: two parts, two TTLs -------------------------------------------------

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const found = <T>(row: T | undefined): T => {
      if (!row) throw notFound(`There is no employee with id ${id}.`); // thrown: never cached
      return row;
    };
    // Two keys, two TTLs, looked up in parallel: a status miss does not reload the profile.
    const [profile, status] = await Promise.all([
      caches.profile.get(keys.profile(id), async () => found(await getProfile(db, id))),
      caches.status.get(keys.status(id), async () => found(await getStatus(db, id))),
    ]);
    sendComposed(
      res,
      [
        { name: 'profile', result: profile },
        { name: 'status', result: status },
      ],
      ([p, s]) => composeEmployee(p as EmployeeProfile, s as EmployeeStatus),
    );
  });

  // --- Writes: commit, then invalidate ---------------------------------------------------

  app.post('/employees', json, async (req, res) => {
    const input = parse(newEmployee, req.body, 'body');
    const change = await time(res, 'db', () => createEmployee(db, input));
    await invalidate(res, change);
    const employee = change.after as NonNullable<Change['after']>;
    res.status(201).location(`/employees/${employee.id}`).set('Cache-Control', 'no-store').json(employee);
  });

  app.put('/employees/:id', json, async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const replacement = parse(employeeReplacement, req.body, 'body');
    const change = await time(res, 'db', () => replaceEmployee(db, id, replacement));
    if (!change) throw notFound(`There is no employee with id ${id}.`);
    await invalidate(res, change);
    res.set('Cache-Control', 'no-store').json(change.after);
  });

  app.patch('/employees/:id', json, async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const changes = parse(employeeChanges, req.body, 'body');
    const change = await time(res, 'db', () => patchEmployee(db, id, changes));
    if (!change) throw notFound(`There is no employee with id ${id}.`);
    await invalidate(res, change);
    res.set('Cache-Control', 'no-store').json(change.after);
  });

  app.delete('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const change = await time(res, 'db', () => removeEmployee(db, id));
    if (!change) throw notFound(`There is no employee with id ${id}.`);
    await invalidate(res, change);
    res.status(204).end();
  });

  // --- Department lists: versioned keys -------------------------------------------------

  app.get('/departments/:name/employees', async (req, res) => {
    const department = departmentFromPath(req.params.name);
    const { page } = parse(pageQuery, req.query, 'query string');
    const started = performance.now();
    const version = await versions.current(department);
    const versionMs = performance.now() - started;
    if (version.status === 'error') {
      // Without the version there is no key to read or write: answer from PostgreSQL.
      record(res, 'l2', versionMs);
      const value = await time(res, 'db', () => listDepartmentPage(db, department, page));
      res.set('X-Cache', 'BYPASS').json(value);
      return;
    }
    const result = await caches.list.get(keys.deptPage(department, version.version, page), () =>
      listDepartmentPage(db, department, page),
    );
    sendResult(res, result, { l2: versionMs });
  });

  // --- Aggregates: tags -----------------------------------------------------------------

  /** Serve an aggregate; when it was just stored, register it under `tagKeys` (after the fill: see tags.ts). */
  async function sendTagged(res: Response, key: string, tagKeys: string[], load: () => Promise<unknown>) {
    const result = await caches.aggregate.get(key, load);
    let tagMs = 0;
    if (result.status === 'MISS') {
      const started = performance.now();
      await tags.add(key, tagKeys);
      tagMs = performance.now() - started;
    }
    sendResult(res, result, tagMs > 0 ? { l2: tagMs } : {});
  }

  app.get('/departments', async (_req, res) => {
    await sendTagged(
      res,
      keys.overview(),
      DEPARTMENTS.map((d) => keys.deptTag(d)),
      () => departmentsOverview(db),
    );
  });

  app.get('/departments/:name/summary', async (req, res) => {
    const department = departmentFromPath(req.params.name);
    await sendTagged(res, keys.deptSummary(department), [keys.deptTag(department)], () =>
      departmentSummary(db, department),
    );
  });

  // --- Lesson 01's routes, cached as in lesson 04 ----------------------------------------

  app.get('/payments', async (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    const result = await caches.report.get(reportKey('payments', q), async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
      const rows = await listPayments(db, q);
      return { ...q, count: rows.length, rows };
    });
    sendResult(res, result);
  });

  app.get('/investors/:id/summary', async (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    const result = await caches.report.get(reportKey('investor-summary', { investor }), async () => {
      if (!(await investorExists(db, investor))) throw notFound(`There is no investor ${investor}.`);
      return investorSummary(db, investor);
    });
    sendResult(res, result);
  });

  app.use(notFoundHandler);
  app.use(errorHandler({ log }));
  return app;
}
