import { keyPrefixFromEnv } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type AppLocals, createApp } from './app.ts';
import { serveWithBus } from './serve-with-bus.ts';

/**
 * Run one instance: `npx tsx lessons/04-hierarchical/src/main.ts --port 3140`.
 * Run a second one on another port to see L2 shared and L1 invalidated across instances.
 * `INSTANCE=a` names the instance on the bus; it must be unique (default: the port plus a
 * random suffix).
 */
await serveWithBus({
  lesson: '04-hierarchical',
  createApp: ({ db, redis, subscriber, instanceId }) =>
    createApp({ db, redis, subscriber, keyPrefix: keyPrefixFromEnv('cachelab:04:'), instanceId }),
  banner: (app) =>
    `Instance ${(app.locals as AppLocals).cache.instanceId}: L1 in this process, L2 in Redis, invalidations on the bus.`,
});
