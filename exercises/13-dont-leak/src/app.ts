import type { Pool } from '@cachelab/db';
import { errorHandler, HttpProblem, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { type Employee, getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse } from '@cachelab/lesson-01-uncached/validation';
import { createTokens } from '@cachelab/lesson-10-production/auth';
import express, { type Express, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { keyFor, type RequestFacts } from './cache-rules.ts';

export interface AppDeps {
  db: Pool;
  /** Redis for the cache. The app never closes it. */
  redis: Redis;
  /** In front of every key, e.g. 'cachelab:ex13:'. */
  keyPrefix: string;
  /** Signs and verifies the bearer tokens (`<employee id>.<HMAC>`): at least 16 characters. */
  authSecret: string;
  log?: (err: unknown) => void;
}

/**
 * The employee directory with sign-in. This file is done: the cache's rules are in
 * cache-rules.ts.
 *
 *   GET /employees/:id   anyone; a signed-in caller also sees the employee's `email`
 *   GET /me              Authorization: Bearer <token>; the caller's own profile
 *
 * Every answer goes through `keyFor(facts)`: a key → cache-aside in Redis (X-Cache: HIT or
 * MISS); null → not cached at all (X-Cache: BYPASS). The tests read X-Cache.
 */
export function createApp(deps: AppDeps): Express {
  const { db, redis, keyPrefix } = deps;
  const tokens = createTokens(deps.authSecret);

  /** The employee the bearer token proves (verified signature), undefined without one, 401 for a bad one. */
  function verifiedUser(req: Request, res: Response): number | undefined {
    const header = req.get('authorization');
    if (header === undefined) return undefined;
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const user = match ? tokens.verify(match[1] as string) : undefined;
    if (user !== undefined) return user;
    res.set('WWW-Authenticate', 'Bearer realm="cachelab"');
    throw new HttpProblem(401, 'unauthorized', 'Authentication required', 'The bearer token is not valid.');
  }

  async function sendCached(res: Response, facts: RequestFacts, load: () => Promise<unknown>): Promise<void> {
    let key = keyFor(facts, keyPrefix);
    if (key !== null) {
      // Fail open (lesson 03): Redis down or slow is a BYPASS answered from PostgreSQL, never a 500.
      const hit = await redis.getBuffer(key).catch(() => {
        key = null;
        return null;
      });
      if (hit) {
        res.set('X-Cache', 'HIT').type('application/json').send(hit);
        return;
      }
    }
    const body = Buffer.from(JSON.stringify(await time(res, 'db', load)));
    const stored =
      key !== null &&
      (await redis.set(key, body, 'EX', 60).then(
        () => true,
        () => false,
      ));
    res
      .set('X-Cache', stored ? 'MISS' : 'BYPASS')
      .type('application/json')
      .send(body);
  }

  const profile = (e: Employee, withEmail: boolean) => ({
    id: e.id,
    name: e.name,
    department: e.department,
    status: e.status,
    ...(withEmail ? { email: e.email } : {}),
  });
  const load = (id: number) => async () => {
    const e = await getEmployee(db, id);
    if (!e) throw notFound(`There is no employee with id ${id}.`); // thrown: never cached
    return e;
  };

  const app = express();
  app.disable('x-powered-by');
  // No automatic ETag: a signed-in answer (with the email) must not carry a validator a
  // shared cache could confirm for somebody else.
  app.set('etag', false);
  app.use(serverTiming());

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    // The answer depends on who asks (the email): every HTTP cache on the way must know it.
    res.vary('Authorization');
    const user = verifiedUser(req, res);
    res.set('Cache-Control', user === undefined ? 'no-cache' : 'private, no-store');
    const facts: RequestFacts = { route: 'employee', params: { id }, user, headers: req.headers };
    // Signed-in callers see the email address; anonymous callers must never see it.
    await sendCached(res, facts, async () => profile(await load(id)(), user !== undefined));
  });

  app.get('/me', async (req, res) => {
    res.set('Cache-Control', 'private, no-store');
    const user = verifiedUser(req, res);
    if (user === undefined) {
      res.set('WWW-Authenticate', 'Bearer realm="cachelab"');
      throw new HttpProblem(401, 'unauthorized', 'Authentication required', 'Send `Authorization: Bearer <token>`.');
    }
    const facts: RequestFacts = { route: 'me', params: {}, user, headers: req.headers };
    await sendCached(res, facts, async () => profile(await load(user)(), true));
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
