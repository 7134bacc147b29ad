import { portFromEnv, serveLesson } from '@cachelab/lesson-01-uncached/serve';
import {
  createRedisClient,
  describeRedisUrl,
  redisUrlFromEnv,
  whenReady,
} from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type AppLocals, createApp } from './app.ts';

/**
 * Run one instance: `npx tsx lessons/07-http-caching/src/main.ts --port 3170`, then ask
 * twice, the second time with the ETag of the first:
 *
 *   curl -si http://127.0.0.1:3170/employees/42
 *   curl -si -H 'If-None-Match: "<the ETag>"' http://127.0.0.1:3170/employees/42   # 304
 */
let started = false;
const log = (message: string) => {
  if (started) console.warn(message);
};
const redis = createRedisClient({ log });
const subscriber = createRedisClient({ log });
let locals: AppLocals | undefined;

await serveLesson({
  lesson: '07-http-caching',
  async createApp({ db }) {
    const app = createApp({
      db,
      redis,
      subscriber,
      keyPrefix: 'cachelab:07:',
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
    return app;
  },
  async close() {
    await locals?.close();
    redis.disconnect();
    subscriber.disconnect();
  },
});
