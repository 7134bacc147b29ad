import { keyPrefixFromEnv } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { serveWithBus } from '@cachelab/lesson-04-hierarchical/serve-with-bus';
import { type AppLocals, createApp } from './app.ts';

/**
 * Run one instance: `npx tsx lessons/05-invalidation/src/main.ts --port 3150`.
 * Run a second one (`--port 3151`) to see a write on one show on the other.
 * `INSTANCE=a` names the instance on the buses; it must be unique (default: the port plus a
 * random suffix, so that replicas on the same port still hear each other).
 */
await serveWithBus({
  lesson: '05-invalidation',
  example: '/employees/42',
  createApp: ({ db, redis, subscriber, instanceId }) =>
    createApp({ db, redis, subscriber, keyPrefix: keyPrefixFromEnv('cachelab:05:'), instanceId }),
  banner: (app) =>
    `Instance ${(app.locals as AppLocals).caches.profile.instanceId}: one two-level cache per kind of data, invalidated after every write.`,
});
