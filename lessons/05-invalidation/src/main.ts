import { portFromEnv, serveLesson } from '@cachelab/lesson-01-uncached/serve';
import {
  createRedisClient,
  describeRedisUrl,
  redisUrlFromEnv,
  whenReady,
} from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type AppLocals, createApp } from './app.ts';

/**
 * Run one instance: `npx tsx lessons/05-invalidation/src/main.ts --port 3150`.
 * Run a second one (`--port 3151`) to see a write on one show on the other.
 * `INSTANCE=a` names the instance on the buses; it must be unique (default: the port plus a
 * random suffix, so that replicas on the same port still hear each other).
 */

// Outages are logged once each, but only once we are up: before that, the check below says it in one line.
let started = false;
const log = (message: string) => {
  if (started) console.warn(message);
};
const redis = createRedisClient({ log });
const subscriber = createRedisClient({ log });
let locals: AppLocals | undefined;

await serveLesson({
  lesson: '05-invalidation',
  example: '/employees/42',
  async createApp({ db }) {
    const app = createApp({
      db,
      redis,
      subscriber,
      keyPrefix: 'cachelab:05:',
      instanceId: process.env.INSTANCE?.trim() || `port-${portFromEnv()}-${Math.random().toString(36).slice(2, 8)}`,
    });
    locals = app.locals as AppLocals;
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
    console.log(
      `Instance ${locals.caches.profile.instanceId}: one two-level cache per kind of data, invalidated after every write.`,
    );
    return app;
  },
  async close() {
    await locals?.close();
    redis.disconnect();
    subscriber.disconnect();
  },
});
