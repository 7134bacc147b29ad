import { keyPrefixFromEnv } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { serveWithBus } from '@cachelab/lesson-04-hierarchical/serve-with-bus';
import { type AppLocals, createApp, type Protection } from './app.ts';

/**
 * Run one instance: `npx tsx lessons/08-stampedes/src/main.ts --port 3180`.
 * Run more on other ports (3181, 3182) to see the lease make one query for all of them.
 * `PROTECTION=none|single-flight|lease` (default lease) picks the defences;
 * `FRESH_TTL_MS` and `GRACE_MS` override the defaults (60 s fresh, 5 min grace).
 */
const protection = (process.env.PROTECTION?.trim() || 'lease') as Protection;
if (!['none', 'single-flight', 'lease'].includes(protection)) {
  console.error(`✗ PROTECTION must be none, single-flight or lease, got "${protection}".`);
  process.exit(2);
}
const durations: { freshTtlMs?: number; graceMs?: number } = {};
for (const [name, option] of [
  ['FRESH_TTL_MS', 'freshTtlMs'],
  ['GRACE_MS', 'graceMs'],
] as const) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') continue;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`✗ ${name} must be a whole number of milliseconds, got "${raw}".`);
    process.exit(2);
  }
  durations[option] = value;
}

await serveWithBus({
  lesson: '08-stampedes',
  example: '/investors/DEMO_INV/summary',
  createApp: ({ db, redis, subscriber, instanceId }) =>
    createApp({
      db,
      redis,
      subscriber,
      keyPrefix: keyPrefixFromEnv('cachelab:08:'),
      instanceId,
      protection,
      ...durations,
    }),
  banner: (app) => `Instance ${(app.locals as AppLocals).cache.instanceId}: protection "${protection}".`,
});
