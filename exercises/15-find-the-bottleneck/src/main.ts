import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createApp } from './app.ts';

// Try it by hand: npx tsx exercises/15-find-the-bottleneck/src/main.ts --port 3195
// then load it with lesson 09's tools: npx tsx exercises/15-find-the-bottleneck/load.ts
await serveLesson({
  lesson: '15 exercise: find-the-bottleneck',
  example: '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=1000',
  createApp: ({ db }) => createApp({ db }),
});
