import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createRedisClient } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { createApp } from './app.ts';

// Try the pull request by hand: npx tsx exercises/14-review-the-cache/src/main.ts --port 3144
// then, twice: curl -si 'http://127.0.0.1:3144/payments?investor=INV00002&from=2024-01-01&to=2024-03-01&limit=5'
const redis = createRedisClient();
await serveLesson({
  lesson: '14 exercise: review-the-cache',
  example: '/payments?investor=INV00002&from=2024-01-01&to=2024-03-01&limit=5',
  createApp: ({ db }) => createApp({ db, redis, keyPrefix: 'cachelab:exercise-14:' }),
  close: () => redis.disconnect(),
});
