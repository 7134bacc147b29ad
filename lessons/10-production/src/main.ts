import { portFromEnv, serveLesson } from '@cachelab/lesson-01-uncached/serve';
import {
  createRedisClient,
  describeRedisUrl,
  keyPrefixFromEnv,
  redisUrlFromEnv,
  whenReady,
} from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type AppLocals, createApp, DEFAULTS } from './app.ts';
import { authSecretFromEnv, DEV_AUTH_SECRET } from './config.ts';

/**
 * Run one instance: `npx tsx lessons/10-production/src/main.ts --port 3200`, then
 * `curl -s localhost:3200/metrics | grep ^cache_`.
 *
 * Unlike lessons 04–08, a missing Redis is NOT fatal: the app starts, answers from
 * PostgreSQL (X-Cache: BYPASS) and starts caching by itself when Redis appears. PostgreSQL
 * is the source of truth, so it is still required.
 *
 * `COMMAND_TIMEOUT_MS` (default DEFAULTS.commandTimeoutMs) bounds what a slow Redis may cost one
 * request before the circuit opens; `BREAKER_FAILURES` (default DEFAULTS.breaker.failureThreshold)
 * is how many failures in a row open it. Both are there to be measured
 * (src/measure-breaker-under-load.ts), not to be tuned by feel.
 */
const commandTimeoutMs = Number(process.env.COMMAND_TIMEOUT_MS || DEFAULTS.commandTimeoutMs);
if (!(Number.isFinite(commandTimeoutMs) && commandTimeoutMs > 0)) {
  console.error(`✗ COMMAND_TIMEOUT_MS must be a positive number of ms, got "${process.env.COMMAND_TIMEOUT_MS}".`);
  process.exit(2);
}
const failureThreshold = Number(process.env.BREAKER_FAILURES || DEFAULTS.breaker.failureThreshold);
if (!(Number.isSafeInteger(failureThreshold) && failureThreshold >= 1)) {
  console.error(`✗ BREAKER_FAILURES must be a whole number ≥ 1, got "${process.env.BREAKER_FAILURES}".`);
  process.exit(2);
}
const port = portFromEnv();
const authSecret = authSecretFromEnv();
const log = (message: unknown) => console.warn(message);
const redis = createRedisClient({ commandTimeoutMs, log });
const subscriber = createRedisClient({ commandTimeoutMs, log });
let locals: AppLocals | undefined;

await serveLesson({
  lesson: '10-production',
  port,
  example: '/employees/42',
  async createApp({ db }) {
    if (authSecret === DEV_AUTH_SECRET) {
      console.warn(
        '⚠ CACHELAB_AUTH_SECRET is not set: tokens are signed with the workshop default. Never in production.',
      );
    }
    const app = createApp({
      db,
      redis,
      subscriber,
      keyPrefix: keyPrefixFromEnv('cachelab:10:'),
      authSecret,
      publicBaseUrl: process.env.PUBLIC_BASE_URL?.trim() || `http://127.0.0.1:${port}`,
      instanceId: process.env.INSTANCE?.trim() || `port-${port}-${Math.random().toString(36).slice(2, 8)}`,
      defaultMetrics: true,
      breaker: { failureThreshold },
      log,
    });
    locals = app.locals as AppLocals;
    if (!(await whenReady(redis, 2_000))) {
      console.warn(
        `⚠ Redis at ${describeRedisUrl(redisUrlFromEnv())} does not answer: serving from PostgreSQL (X-Cache: BYPASS) until it does.`,
      );
    }
    return app;
  },
  async close() {
    await locals?.close();
    redis.disconnect();
    subscriber.disconnect();
  },
});
