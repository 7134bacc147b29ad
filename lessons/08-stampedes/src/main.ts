import { portFromEnv, serveLesson } from '@cachelab/lesson-01-uncached/serve';
import {
  createRedisClient,
  describeRedisUrl,
  redisUrlFromEnv,
  whenReady,
} from '@cachelab/lesson-03-redis-cache-aside/redis-client';
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

let started = false;
const log = (message: string) => {
  if (started) console.warn(message);
};
const redis = createRedisClient({ log });
const subscriber = createRedisClient({ log });
let locals: AppLocals | undefined;

await serveLesson({
  lesson: '08-stampedes',
  example: '/investors/DEMO_INV/summary',
  async createApp({ db }) {
    const app = createApp({
      db,
      redis,
      subscriber,
      keyPrefix: 'cachelab:08:',
      instanceId: process.env.INSTANCE?.trim() || `port-${portFromEnv()}-${Math.random().toString(36).slice(2, 8)}`,
      protection,
      ...durations,
    });
    locals = app.locals as AppLocals;
    const ready = await Promise.race([
      whenReady(redis, 3_000).then(async (ok) => ok && (await locals?.ready.then(() => true))),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 3_000).unref()),
    ]);
    if (!ready) {
      console.error(
        `✗ Can't reach Redis at ${describeRedisUrl(redisUrlFromEnv())}. Start it with \`docker compose up -d\` or \`npx cachelab services up\`, or set REDIS_URL.`,
      );
      process.exit(1);
    }
    started = true;
    console.log(`Instance ${locals.cache.instanceId}: protection "${protection}".`);
    return app;
  },
  async close() {
    await locals?.close();
    redis.disconnect();
    subscriber.disconnect();
  },
});
