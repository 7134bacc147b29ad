import { serveWithBus } from '@cachelab/lesson-04-hierarchical/serve-with-bus';
import { createApp } from './app.ts';

// Try it by hand with two instances, one per terminal:
//   npx tsx solutions/06-invalidate-on-write/src/main.ts --port 3155
//   npx tsx solutions/06-invalidate-on-write/src/main.ts --port 3156
await serveWithBus({
  lesson: '06 exercise: invalidate-on-write',
  example: '/employees/42',
  createApp: ({ db, redis, subscriber, instanceId }) =>
    createApp({ db, redis, subscriber, keyPrefix: 'cachelab:ex06:', instanceId }),
});
