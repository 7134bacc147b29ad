import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createApp } from './app.ts';

// Try it by hand with short times: FRESH_MS=5000 GRACE_MS=30000 npx tsx exercises/11-stale-while-revalidate/src/main.ts --port 3186
// Ask for an employee, wait 5 s, ask again (STALE), then again (HIT: refreshed).
const ms = (name: string) => Number(process.env[name]) || undefined;
const freshMs = ms('FRESH_MS');
const graceMs = ms('GRACE_MS');
await serveLesson({
  lesson: '11 exercise: stale-while-revalidate',
  example: '/employees/42',
  createApp: ({ db }) => createApp({ db, ...(freshMs ? { freshMs } : {}), ...(graceMs ? { graceMs } : {}) }),
});
