import type { Strategy } from '@cachelab/bench';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { CACHE_KINDS, DEFAULT_TTL_POLICY, type TtlPolicy } from '@cachelab/lesson-05-invalidation/ttl-policy';
import { type AppLocals, createApp } from './app.ts';

/**
 * The capstone as one row of `npm run bench` (the row `capstone`; this file is done). The
 * bench starts it by name in a process of its own and serves `GET /employees/:id`, every key
 * warmed first, so the row measures the hit path: L1, the decoded entry, lesson 07's headers.
 * Its target is every L1-hit path's: ≥ 0.95× bare Express in the same run.
 *
 * The bench's setting `ttl=long` makes every TTL longer than a run (L1 an hour, L2 two), as
 * for lessons 09 and 10, so that a benchmark of hits measures hits, not expiry; lesson 05's
 * budgets would refuse such TTLs, so the policy is passed whole (`ttlPolicy`).
 */
export const strategies: Strategy[] = [
  {
    name: 'capstone',
    label: 'capstone (exercise 16)',
    description: 'The read-through cache of exercise 16: L1 over L2 with a breaker, ETags per entry, single-flight.',
    async create(context) {
      const log = (message: unknown) => context.log(message);
      const redis = createRedisClient({ log });
      const subscriber = createRedisClient({ log });
      if (!(await whenReady(redis, 3_000))) throw new Error('Redis did not answer within 3 s.');
      const long = context.settings.ttl === 'long';
      const ttlPolicy = long
        ? (Object.fromEntries(
            CACHE_KINDS.map((kind) => [kind, { ...DEFAULT_TTL_POLICY[kind], l2TtlSeconds: 7_200, l1TtlMs: 3_600_000 }]),
          ) as TtlPolicy)
        : undefined;
      const app = createApp({
        db: context.db,
        redis,
        subscriber,
        keyPrefix: context.keyPrefix,
        instanceId: `bench-${process.pid}`,
        log,
        ...(ttlPolicy ? { ttlPolicy, l1TtlMs: 3_600_000 } : {}),
      });
      const locals = app.locals as AppLocals;
      await locals.ready;
      return {
        listener: app,
        async close() {
          await locals.close();
          redis.disconnect();
          subscriber.disconnect();
        },
      };
    },
  },
];
