import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createApp } from './app.ts';
import { createRedisClient, describeRedisUrl, keyPrefixFromEnv, redisUrlFromEnv, whenReady } from './redis-client.ts';

// npx tsx lessons/03-redis-cache-aside/src/main.ts --port 3130
// Start a second one on another port (--port 3131): both share the same cache in Redis.
const url = redisUrlFromEnv();
const redis = createRedisClient({ url });
if (!(await whenReady(redis, 2_000))) {
  // Not fatal: a cache is an optimisation. Until Redis answers, every request is a BYPASS
  // answered by PostgreSQL, and the client keeps reconnecting in the background.
  console.warn(
    `⚠ Redis at ${describeRedisUrl(url)} does not answer yet: serving from PostgreSQL (X-Cache: BYPASS) until it does. Start it with \`docker compose up -d\` or \`npx cachelab services up\`, or set REDIS_URL.`,
  );
}

await serveLesson({
  lesson: '03-redis-cache-aside',
  createApp: ({ db }) => createApp({ db, redis, keyPrefix: keyPrefixFromEnv('cachelab:03:') }),
  close: async () => {
    // QUIT waits for the replies of commands in flight; disconnect() would drop them.
    await redis.quit().catch(() => redis.disconnect());
  },
});
