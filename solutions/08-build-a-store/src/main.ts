import { createPool } from '@cachelab/db';
import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createApp } from '@cachelab/lesson-06-custom-backends';
import { createCacheTable, createPostgresStore, TABLE } from './postgres-store.ts';

// Try your store by hand, behind lesson 06's app:
//   npx tsx exercises/08-build-a-store/src/main.ts --port 3168
//   curl -si http://127.0.0.1:3168/employees/42 | grep -iE '^(x-cache|server-timing)'   # twice: MISS, then HIT
//   psql -h 127.0.0.1 -U postgres cachelab -c 'TABLE exercise_08.cache_entries'
//
// The table lives in a schema of its own, `exercise_08`, and is created afresh at every start,
// so it always has the definition your createCacheTable() gives it now.
const SCHEMA = 'exercise_08';
const cacheDb = createPool({ max: 4, searchPath: [SCHEMA] });

await serveLesson({
  lesson: '08 exercise: build-a-store',
  example: '/employees/42',
  async createApp({ db }) {
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await db.query(`DROP TABLE IF EXISTS ${SCHEMA}.${TABLE}`);
    await createCacheTable(cacheDb);
    return createApp({ db, store: createPostgresStore({ db: cacheDb, namespace: 'cachelab:ex08:' }) });
  },
  close: () => cacheDb.end(),
});
