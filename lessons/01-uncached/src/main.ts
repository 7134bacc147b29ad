import { createApp } from './app.ts';
import { serveLesson } from './serve.ts';

await serveLesson({
  lesson: '01-uncached',
  createApp: ({ db }) => createApp({ db }),
  // No cache yet, so no X-Cache: the banner's curl shows the status and Server-Timing.
  headers: ['server-timing'],
});
