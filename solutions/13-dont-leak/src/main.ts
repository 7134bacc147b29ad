import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createRedisClient } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { createTokens } from '@cachelab/lesson-10-production/auth';
import { createApp } from './app.ts';

// Try it: npx tsx exercises/13-dont-leak/src/main.ts --port 3213
// The banner prints two tokens; ask for /me as each, then for /employees/7 with and without one.
const authSecret = 'exercise-13-workshop-secret';
// Lesson 03's client: fails fast while Redis is down (no offline queue), reconnects forever.
const redis = createRedisClient();
const tokens = createTokens(authSecret);
console.log(`Token of employee 7: ${tokens.issue(7)}\nToken of employee 8: ${tokens.issue(8)}`);
await serveLesson({
  lesson: '13 exercise: dont-leak',
  example: '/employees/7',
  createApp: ({ db }) => createApp({ db, redis, keyPrefix: 'cachelab:ex13:', authSecret }),
  close: () => redis.disconnect(),
});
