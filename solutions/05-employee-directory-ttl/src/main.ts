import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createRedisClient } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { createApp } from './app.ts';

// Try it by hand:
//   npx tsx exercises/05-employee-directory-ttl/src/main.ts --port 3155
//   curl -si http://127.0.0.1:3155/employees/42 | grep -iE '^x-cache|^\{'
//   redis-cli --scan --pattern 'cachelab:ex05:*' | while read k; do echo "$k  PTTL $(redis-cli pttl "$k")"; done
const redis = createRedisClient();

await serveLesson({
  lesson: '05 exercise: employee-directory-ttl',
  example: '/employees/42',
  createApp: ({ db }) => createApp({ db, redis, keyPrefix: 'cachelab:ex05:' }),
  close: () => {
    redis.disconnect();
  },
});
