import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createApp } from './app.ts';

// Try your app by hand: npx tsx exercises/02-memoize-payments/src/main.ts --port 3120
await serveLesson({ lesson: '02 exercise: memoize-payments', createApp: ({ db }) => createApp({ db }) });
