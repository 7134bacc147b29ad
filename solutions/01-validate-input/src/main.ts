import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createApp } from './app.ts';

// Try your app by hand: npx tsx exercises/01-validate-input/src/main.ts --port 3110
await serveLesson({
  lesson: '01 exercise: validate-input',
  createApp: ({ db }) => createApp({ db }),
  // No cache yet, so no X-Cache: the banner's curl shows the status and Server-Timing.
  headers: ['server-timing'],
});
