import { serveWithBus } from '@cachelab/lesson-04-hierarchical/serve-with-bus';
import { createApp } from './app.ts';

// Try it by hand with two instances, one per terminal:
//   npx tsx exercises/04-two-level-cache/src/main.ts --port 3145
//   npx tsx exercises/04-two-level-cache/src/main.ts --port 3146
await serveWithBus({
  lesson: '04 exercise: two-level-cache',
  example: '/employees/42',
  createApp: ({ db, redis, subscriber, instanceId }) =>
    createApp({ db, redis, subscriber, keyPrefix: 'cachelab:ex04:', instanceId }),
});
