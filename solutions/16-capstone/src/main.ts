import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type AppLocals, createApp } from './app.ts';

// Try it: npx tsx solutions/16-capstone/src/main.ts --port 3217
//   curl -si http://127.0.0.1:3217/employees/42 | grep -iE '^(HTTP|x-cache|etag|server-timing)'
const redis = createRedisClient();
const subscriber = createRedisClient();
let locals: AppLocals | undefined;
await serveLesson({
  lesson: '16 exercise: capstone',
  example: '/employees/42',
  headers: ['x-cache', 'etag', 'server-timing'],
  createApp: async ({ db }) => {
    if (!(await whenReady(redis, 3_000)))
      console.warn('⚠ Redis is not answering yet: every answer is a BYPASS until it does.');
    const app = createApp({ db, redis, subscriber, keyPrefix: 'cachelab:16:', defaultMetrics: true });
    locals = app.locals as AppLocals;
    await locals.ready;
    return app;
  },
  close: async () => {
    await locals?.close();
    redis.disconnect();
    subscriber.disconnect();
  },
});
