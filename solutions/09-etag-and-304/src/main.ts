import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createApp } from './app.ts';

// Try it by hand:
//   npx tsx exercises/09-etag-and-304/src/main.ts --port 3179
//   curl -si http://127.0.0.1:3179/employees/42
//   curl -si -H 'If-None-Match: "<the ETag you got>"' http://127.0.0.1:3179/employees/42
await serveLesson({
  lesson: '09 exercise: etag-and-304',
  example: '/employees/42',
  createApp: ({ db }) => createApp({ db }),
});
