import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createApp } from './app.ts';
import { createRedisClient } from './redis-client.ts';

// Try it: npx tsx exercises/12-fail-open/src/main.ts --port 3212
// then stop Redis (or point REDIS_URL at a port where nothing listens) and keep curling:
//   curl -si http://127.0.0.1:3212/employees/42 | grep -iE '^(HTTP|x-cache|server-timing)'
const redis = createRedisClient(process.env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379');
await serveLesson({
  lesson: '12 exercise: fail-open',
  example: '/employees/42',
  createApp: ({ db }) => createApp({ db, redis, keyPrefix: 'cachelab:ex12:' }),
  close: () => redis.disconnect(),
});
