import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createApp } from './app.ts';

// Try it by hand: npx tsx exercises/10-stop-the-stampede/src/main.ts --port 3185
// then fire 200 requests at once at a cold key and time them (each waiter says MISS too):
//   time (seq 200 | xargs -P 200 -I{} curl -s -o /dev/null http://127.0.0.1:3185/investors/DEMO_INV/summary)
await serveLesson({
  lesson: '10 exercise: stop-the-stampede',
  example: '/investors/DEMO_INV/summary',
  createApp: ({ db }) => createApp({ db }),
});
