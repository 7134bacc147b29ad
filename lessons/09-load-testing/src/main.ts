import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import {
  createRedisClient,
  describeRedisUrl,
  keyPrefixFromEnv,
  redisUrlFromEnv,
  whenReady,
} from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type AppLocals, createApp } from './app.ts';

/**
 * Every strategy side by side: `npx tsx lessons/09-load-testing/src/main.ts --port 3190`,
 * then `curl -si http://127.0.0.1:3190/04/employees/42` (01, 02, 03, 04, 07).
 * The load tests are separate scripts: see the lesson's README.
 */
const redis = createRedisClient();
const subscriber = createRedisClient();
let locals: AppLocals | undefined;

await serveLesson({
  lesson: '09-load-testing',
  example: '/04/employees/42',
  async createApp({ db }) {
    const app = createApp({ db, redis, subscriber, keyPrefix: keyPrefixFromEnv('cachelab:09:') });
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
    return app;
  },
  async close() {
    await locals?.close();
    redis.disconnect();
    subscriber.disconnect();
  },
});
