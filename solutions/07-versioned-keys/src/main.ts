import { serveWithBus } from '@cachelab/lesson-04-hierarchical/serve-with-bus';
import { createApp } from './app.ts';

// Try it by hand with two instances, one per terminal:
//   npx tsx solutions/07-versioned-keys/src/main.ts --port 3157
//   npx tsx solutions/07-versioned-keys/src/main.ts --port 3158
await serveWithBus({
  lesson: '07 exercise: versioned-keys',
  example: '/departments/Sales/employees?page=2&size=25',
  createApp: ({ db, redis, subscriber, instanceId }) =>
    createApp({ db, redis, subscriber, keyPrefix: 'cachelab:ex07:', instanceId }),
});
