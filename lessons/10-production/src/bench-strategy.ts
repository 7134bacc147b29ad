import type { Strategy } from '@cachelab/bench';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type AppLocals, createApp, DEFAULTS } from './app.ts';
import { DEV_AUTH_SECRET } from './config.ts';

/**
 * Lesson 10's app as one strategy of `npm run bench` (@cachelab/bench starts it by name in a
 * process of its own, like lesson 09's strategies; a lesson never imports a later one, so it
 * lives here and not in lesson 09's list).
 *
 * Wired as main.ts wires it, so that what is measured is what runs: Redis clients with
 * `DEFAULTS.commandTimeoutMs`, the circuit breaker with `DEFAULTS.breaker`, Prometheus
 * metrics with the process metrics on (`defaultMetrics: true`: heap, event-loop lag, GC),
 * a bus, an instance id. The bench's setting `ttl=long` makes every TTL longer than a run,
 * so that a benchmark of hits measures hits, not expiry: the TTLs of lesson 09's LONG_TTL
 * (L1 an hour, L2 two).
 */
export const strategies: Strategy[] = [
  {
    name: 'production',
    label: 'production cache (lesson 10)',
    description: 'L1 + L2 with metrics, a circuit breaker, an epoch bus and stale-if-error, as main.ts runs it.',
    async create(context) {
      const log = (message: unknown) => context.log(message);
      const redis = createRedisClient({ commandTimeoutMs: DEFAULTS.commandTimeoutMs, log });
      const subscriber = createRedisClient({ commandTimeoutMs: DEFAULTS.commandTimeoutMs, log });
      if (!(await whenReady(redis, 3_000))) throw new Error('Redis did not answer within 3 s.');
      const app = createApp({
        db: context.db,
        redis,
        subscriber,
        keyPrefix: context.keyPrefix,
        authSecret: DEV_AUTH_SECRET,
        instanceId: `bench-${process.pid}`,
        defaultMetrics: true,
        breaker: { failureThreshold: DEFAULTS.breaker.failureThreshold },
        log,
        ...(context.settings.ttl === 'long' ? { l1: { ttlMs: 3_600_000 }, l2TtlSeconds: 7_200 } : {}),
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
