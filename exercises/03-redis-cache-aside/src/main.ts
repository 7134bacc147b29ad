import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createRedisClient } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { createApp } from './app.ts';

// Try your app by hand: npx tsx exercises/03-redis-cache-aside/src/main.ts --port 3135
// then: curl -si http://127.0.0.1:3135/investors/DEMO_INV/summary | grep -iE '^(HTTP|x-cache|server-timing)'
const redis = createRedisClient();
await serveLesson({
  lesson: '03 exercise: redis-cache-aside',
  example: '/investors/DEMO_INV/summary',
  createApp: ({ db }) => createApp({ db, redis, keyPrefix: 'cachelab:exercise-03:' }),
  close: () => redis.disconnect(),
});
