import { portFromEnv, serveLesson } from '@cachelab/lesson-01-uncached/serve';
import {
  createRedisClient,
  describeRedisUrl,
  redisUrlFromEnv,
  whenReady,
} from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type AppLocals, createApp } from './app.ts';

/**
 * Run one instance: `npx tsx lessons/04-hierarchical/src/main.ts --port 3140`.
 * Run a second one on another port to see L2 shared and L1 invalidated across instances.
 * `INSTANCE=a` names the instance on the bus; it must be unique, since an instance ignores
 * messages carrying its own id (default: the port plus a random suffix, so that replicas
 * listening on the same port in different containers still hear each other).
 */

// Two connections: one to read and write the cache and publish, one that only listens
// (a subscribed Redis connection can do nothing else).
// Outages are logged once each, but only once we are up: before that, the check below says it in one line.
let started = false;
const log = (message: string) => {
  if (started) console.warn(message);
};
const redis = createRedisClient({ log });
const subscriber = createRedisClient({ log });
let locals: AppLocals | undefined;

await serveLesson({
  lesson: '04-hierarchical',
  async createApp({ db }) {
    const app = createApp({
      db,
      redis,
      subscriber,
      keyPrefix: 'cachelab:04:',
      instanceId: process.env.INSTANCE?.trim() || `port-${portFromEnv()}-${Math.random().toString(36).slice(2, 8)}`,
    });
    locals = app.locals as AppLocals;
    // Connect before listening: one clear line if Redis is missing, not a BYPASS on every request.
    const ready = await Promise.race([
      whenReady(redis, 3_000).then(async (ok) => ok && (await locals?.ready.then(() => true))),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 3_000).unref()),
    ]);
    if (!ready) {
      console.error(
        `✗ Can't reach Redis at ${describeRedisUrl(redisUrlFromEnv())}. Start it with \`docker compose up -d\` or \`npx cachelab services up\`, or set REDIS_URL.`,
      );
      process.exit(1);
    }
    started = true;
    console.log(`Instance ${locals.cache.instanceId}: L1 in this process, L2 in Redis, invalidations on the bus.`);
    return app;
  },
  async close() {
    await locals?.close();
    redis.disconnect();
    subscriber.disconnect();
  },
});
