import { portFromEnv, serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createRedisClient } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { createApp } from './app.ts';

// Try it by hand with two instances, one per terminal:
//   npx tsx exercises/06-invalidate-on-write/src/main.ts --port 3155
//   npx tsx exercises/06-invalidate-on-write/src/main.ts --port 3156
const redis = createRedisClient();
const subscriber = createRedisClient();
let close: (() => Promise<void>) | undefined;

await serveLesson({
  lesson: '06 exercise: invalidate-on-write',
  example: '/departments/Sales/summary',
  createApp({ db }) {
    const app = createApp({
      db,
      redis,
      subscriber,
      keyPrefix: 'cachelab:ex06:',
      instanceId: `port-${portFromEnv()}-${Math.random().toString(36).slice(2, 8)}`,
    });
    close = app.locals.close;
    return app;
  },
  async close() {
    await close?.();
    redis.disconnect();
    subscriber.disconnect();
  },
});
