import type { RunningStrategy, StrategyContext } from '@cachelab/bench';
import { errorHandler, HttpProblem, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { sendJson, serverTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createRedisClient, redisUrlFromEnv, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { Cacheable } from 'cacheable';
import express, { type Express } from 'express';

/**
 * `GET /employees/:id` cached in two levels by two libraries, to compare with lesson 04 on
 * equal terms: the same Express app, the same validation, key, query, 404 handling and
 * headers (X-Cache, Server-Timing); only the cache differs. Each library is used the way
 * its documentation shows: the cache holds the *value* (the employee object) and the
 * route sends it with JSON.stringify, timed as `json` (lesson 01's sendJson). The
 * workshop's cache holds the serialized *bytes*, so its hit skips that step: that choice
 * is part of what the comparison measures.
 *
 * - bentocache 1.6: `bentostore()` with a memory L1 (lru-cache; `serialize: true` by
 *   default, so each L1 hit parses a JSON string), a Redis L2 and a Redis bus.
 * - cacheable 2.5: `new Cacheable({ secondary })` with its default in-memory primary
 *   (CacheableMemory; `useClone: true` by default, so each hit is a structuredClone) and
 *   an @keyv/redis secondary. Its getOrSet swallows the loader's errors unless told
 *   otherwise (`throwErrors`), which would turn our 404 into a 200 with no body.
 * Both bounded like lesson 04's L1: 64 MB (bentocache), and entries live `ttlSeconds`.
 */
export interface LibraryCacheOptions {
  ttlSeconds: number;
}

function employeeApp(
  context: StrategyContext,
  getOrSet: (key: string, load: () => Promise<unknown>) => Promise<unknown>,
): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(serverTiming());
  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    let loaded = false;
    const employee = await getOrSet(cacheKey({ name: 'employee', params: { id } }), async () => {
      loaded = true;
      const row = await getEmployee(context.db, id);
      if (!row) throw notFound(`There is no employee with id ${id}.`); // thrown: never cached
      return row;
    });
    res.set('X-Cache', loaded ? 'MISS' : 'HIT');
    sendJson(res, employee);
  });
  app.use(notFoundHandler);
  app.use(errorHandler({ log: context.log }));
  return app;
}

/** A library wraps what the loader throws (bentocache: FactoryError); answer with the original problem. */
function unwrap(err: unknown): unknown {
  let e = err;
  for (let i = 0; i < 3 && !(e instanceof HttpProblem) && e instanceof Error && e.cause; i++) e = e.cause;
  return e instanceof HttpProblem ? e : err;
}

export async function createBentocacheApp(
  context: StrategyContext,
  options: LibraryCacheOptions,
): Promise<RunningStrategy> {
  const redis = createRedisClient({ log: (m) => context.log(m) });
  if (!(await whenReady(redis, 3_000))) throw new Error('Redis did not answer within 3 s.');
  const url = new URL(redisUrlFromEnv());
  const bento = new BentoCache({
    default: 'cache',
    prefix: context.keyPrefix.replace(/:$/, ''),
    stores: {
      cache: bentostore()
        .useL1Layer(memoryDriver({ maxSize: '64mb', maxItems: 1_000_000 }))
        .useL2Layer(redisDriver({ connection: redis }))
        .useBus(redisBusDriver({ connection: { host: url.hostname, port: Number(url.port || 6379) } })),
    },
  });
  const ttl = `${options.ttlSeconds}s`;
  const app = employeeApp(context, (key, load) =>
    bento.getOrSet({ key, ttl, factory: load }).catch((err: unknown) => {
      throw unwrap(err);
    }),
  );
  return {
    listener: app,
    async close() {
      await bento.disconnectAll().catch(() => {});
      redis.disconnect();
    },
  };
}

export async function createCacheableApp(
  context: StrategyContext,
  options: LibraryCacheOptions,
): Promise<RunningStrategy> {
  const namespace = context.keyPrefix.replace(/:$/, '');
  const secondary = new KeyvRedis(redisUrlFromEnv(), { keyPrefixSeparator: ':' });
  // Cacheable wraps the secondary in a Keyv of its own, whose namespace (default 'keyv')
  // is the one that reaches Redis: set it there, or every key lands under `keyv:keyv:`
  // (with it, keys read `<prefix>:<prefix>:employee…`: Keyv and the store both add it).
  const cache = new Cacheable({ secondary, namespace, ttl: options.ttlSeconds * 1000 });
  await cache.get('warm-up'); // connect before the first request
  // throwErrors 'function': by default getOrSet swallows what the loader throws (emits an
  // 'error' event and resolves undefined), so a 404 would become a 200 with an empty body.
  // Rethrow the loader's errors; keep swallowing the store's (Redis down: fail open).
  const app = employeeApp(context, (key, load) => cache.getOrSet(key, load, { throwErrors: 'function' }));
  return {
    listener: app,
    async close() {
      await cache.disconnect().catch(() => {});
    },
  };
}
