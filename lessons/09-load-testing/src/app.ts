import type { Pool } from '@cachelab/db';
import { createApp as createUncachedApp } from '@cachelab/lesson-01-uncached';
import { notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { createApp as createLruApp } from '@cachelab/lesson-02-in-memory-lru';
import { createApp as createRedisApp } from '@cachelab/lesson-03-redis-cache-aside';
import { createApp as createTwoLevelApp, type AppLocals as TwoLevelLocals } from '@cachelab/lesson-04-hierarchical';
import { createApp as createHttpApp, type AppLocals as HttpLocals } from '@cachelab/lesson-07-http-caching';
import express, { type Express } from 'express';
import type { Redis } from 'ioredis';

export interface AppDeps {
  /** PostgreSQL. The app never closes it. */
  db: Pool;
  /** Redis for lessons 03, 04 and 07. The app never closes it. */
  redis: Redis;
  /** One subscribed connection for the invalidation buses of lessons 04 and 07 (their channels differ). */
  subscriber: Redis;
  /** Prefix of every Redis key; each mounted lesson adds its number, e.g. `<prefix>04:`. */
  keyPrefix: string;
  /** Where unexpected errors are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/** The strategies side by side, each under the number of the lesson that built it. */
export const MOUNTS = [
  { path: '/01', lesson: '01-uncached', what: 'no cache: every request queries PostgreSQL' },
  { path: '/02', lesson: '02-in-memory-lru', what: "lru-cache in this process's memory" },
  { path: '/03', lesson: '03-redis-cache-aside', what: 'cache-aside in Redis' },
  { path: '/04', lesson: '04-hierarchical', what: 'L1 in memory over L2 in Redis' },
  { path: '/07', lesson: '07-http-caching', what: "lesson 04's cache with ETag, If-None-Match → 304" },
] as const;

/** What `createApp` puts on `app.locals`. */
export interface AppLocals {
  /** Resolves once the invalidation buses of lessons 04 and 07 are subscribed. */
  ready: Promise<void>;
  /** Unsubscribe the buses (the caller then disconnects its clients). */
  close(): Promise<void>;
}

/**
 * Lesson 09: every strategy of the workshop in one app, each lesson's own `createApp`
 * mounted under its number, so the same request can be sent to each and compared:
 *
 *   GET /01/employees/42   uncached          GET /04/employees/42   L1 + L2
 *   GET /02/employees/42   LRU               GET /07/employees/42   L1 + L2 + ETag
 *   GET /03/employees/42   Redis
 *
 * (and the same under each prefix for /payments and /investors/:id/summary). This app is
 * for trying things by hand; the load tests (load-test.ts, stress.ts, framework-limit.ts)
 * run each strategy alone in its own process, because a mount adds a router layer and
 * strategies sharing one process would share one event loop and one heap.
 */
export function createApp(deps: AppDeps): Express {
  const { db, redis, subscriber, keyPrefix } = deps;
  const log = deps.log ?? ((err: unknown) => console.error(err));
  const twoLevel = createTwoLevelApp({ db, redis, subscriber, keyPrefix: `${keyPrefix}04:`, log });
  const http = createHttpApp({ db, redis, subscriber, keyPrefix: `${keyPrefix}07:`, log });
  const buses = [twoLevel.locals as TwoLevelLocals, http.locals as HttpLocals];

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const locals: AppLocals = {
    ready: Promise.all(buses.map((b) => b.ready)).then(() => {}),
    close: () => Promise.all(buses.map((b) => b.close())).then(() => {}),
  };
  Object.assign(app.locals, locals);

  app.get('/', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({
      lesson: '09-load-testing',
      strategies: MOUNTS.map((m) => ({ ...m, try: `GET ${m.path}/employees/42` })),
      load: 'npx tsx lessons/09-load-testing/src/load-test.ts',
    });
  });
  app.use('/01', createUncachedApp({ db, log }));
  app.use('/02', createLruApp({ db, log }));
  app.use('/03', createRedisApp({ db, redis, keyPrefix: `${keyPrefix}03:`, log }));
  app.use('/04', twoLevel);
  app.use('/07', http);
  app.use(notFoundHandler);
  return app;
}
