import { portFromEnv, serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createRedisClient } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { createApp } from './app.ts';

// Try it by hand with two instances, one per terminal:
//   npx tsx exercises/07-versioned-keys/src/main.ts --port 3157
//   npx tsx exercises/07-versioned-keys/src/main.ts --port 3158
const redis = createRedisClient();
const subscriber = createRedisClient();
let close: (() => Promise<void>) | undefined;

await serveLesson({
  lesson: '07 exercise: versioned-keys',
  example: '/departments/Sales/employees?page=2&size=25',
  createApp({ db }) {
    const app = createApp({
      db,
      redis,
      subscriber,
      keyPrefix: 'cachelab:ex07:',
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
