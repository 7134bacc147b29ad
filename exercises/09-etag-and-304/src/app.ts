import type { Pool } from '@cachelab/db';
import { jsonBody } from '@cachelab/lesson-01-uncached/json-body';
import { errorHandler, HttpProblem, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee, investorExists, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { serverTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { employeePatch, updateEmployee } from '@cachelab/lesson-04-hierarchical/employee-update';
import express, { type Express, type Request, type Response } from 'express';
import { LRUCache } from 'lru-cache';
import {
  type ClientCachePolicy,
  type EtagOf,
  type Representation,
  represent,
  sendRepresentation,
  strongEtag,
} from './http-cache.ts';

export interface AppDeps {
  /** PostgreSQL. The app never closes it. */
  db: Pool;
  /** How ETags are computed. Default `strongEtag`. The tests pass a wrapper that counts calls. */
  etagOf?: EtagOf;
  /** Where unexpected errors are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/** Who may keep a copy downstream, and for how long (the tests read these headers). */
const POLICIES = {
  /** Written by PATCH: a client may keep a copy but must revalidate it before each use. */
  employee: { cacheControl: 'no-cache' },
  /** Past payments do not change: any cache may keep them a minute. */
  payments: { cacheControl: 'public, max-age=60' },
  // TODO: /me is one user's own profile: only that user's browser may keep it, and the answer depends on the Authorization header.
  me: { cacheControl: 'public, max-age=60' },
} satisfies Record<string, ClientCachePolicy>;

/**
 * Exercise 09: the employee directory with a server-side cache of representations (an LRU
 * in this process) and, once you are done, HTTP validators on top.
 *
 *   GET   /employees/:id                         cached; no-cache downstream
 *   PATCH /employees/:id  { name?, status? }     updates, then drops the cached copy
 *   GET   /me   (Authorization: Bearer <id>)     the caller's own employee record
 *   GET   /payments?investor=&from=&to=&limit= cached; public, max-age=60
 */
export function createApp(deps: AppDeps): Express {
  const { db } = deps;
  const etagOf = deps.etagOf ?? strongEtag;
  // Representations by key: bounded by bytes, one minute at most.
  const cache = new LRUCache<string, Representation>({
    maxSize: 64 * 1024 * 1024,
    sizeCalculation: (r, key) => Math.max(1, r.body.length + key.length),
    ttl: 60_000,
  });

  /** The cached representation under `key`, or load → represent → store. X-Cache says which. */
  async function cached(res: Response, key: string, load: () => Promise<unknown>): Promise<Representation> {
    const hit = cache.get(key);
    res.set('X-Cache', hit ? 'HIT' : 'MISS');
    if (hit) return hit;
    const representation = represent(await load(), etagOf); // what load throws (a 404) is never cached
    cache.set(key, representation);
    return representation;
  }

  const employeeKey = (id: number) => cacheKey({ name: 'employee', params: { id } });
  const loadEmployee = (id: number, missing: () => HttpProblem) => async () => {
    const employee = await getEmployee(db, id);
    if (!employee) throw missing();
    return employee;
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // Express's own ETag hashes every body on every response: we store ours.
  app.use(serverTiming());

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const employee = await cached(
      res,
      employeeKey(id),
      loadEmployee(id, () => notFound(`No employee ${id}.`)),
    );
    sendRepresentation(req, res, employee, POLICIES.employee);
  });

  app.patch('/employees/:id', jsonBody(), async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const employee = await updateEmployee(db, id, parse(employeePatch, req.body, 'body'));
    if (!employee) throw notFound(`No employee ${id}.`);
    cache.delete(employeeKey(id)); // after the commit: the next GET builds a new representation
    res.set('Cache-Control', 'no-store').json(employee);
  });

  app.get('/me', async (req, res) => {
    const user = authenticatedUser(req, res);
    // Keyed on the user: the cache entry is that employee's (never one entry for everybody).
    const me = await cached(
      res,
      employeeKey(user),
      loadEmployee(user, () => unauthorized(res)),
    );
    sendRepresentation(req, res, me, POLICIES.me);
  });

  app.get('/payments', async (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    const payments = await cached(res, cacheKey({ name: 'payments', params: q }), async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`No investor ${q.investor}.`);
      const rows = await listPayments(db, q);
      return { ...q, count: rows.length, rows };
    });
    sendRepresentation(req, res, payments, POLICIES.payments);
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {})); // errors: problem+json, Cache-Control: no-store
  return app;
}

/**
 * Toy authentication, for this exercise only: `Authorization: Bearer <employee id>` signs
 * you in as that employee. There is no secret: anyone can be anyone. Never do this for real.
 */
function authenticatedUser(req: Request, res: Response): number {
  const token = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
  const id = employeeId.safeParse(token);
  if (!id.success) throw unauthorized(res);
  return id.data;
}

function unauthorized(res: Response): HttpProblem {
  res.set('WWW-Authenticate', 'Bearer realm="cachelab"');
  return new HttpProblem(401, 'unauthorized', 'Authentication required', 'Send `Authorization: Bearer <employee id>`.');
}
