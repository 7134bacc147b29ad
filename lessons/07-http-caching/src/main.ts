import { keyPrefixFromEnv } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { serveWithBus } from '@cachelab/lesson-04-hierarchical/serve-with-bus';
import { createApp } from './app.ts';

/**
 * Run one instance: `npx tsx lessons/07-http-caching/src/main.ts --port 3170`, then ask
 * twice, the second time with the ETag of the first:
 *
 *   curl -si http://127.0.0.1:3170/employees/42
 *   curl -si -H 'If-None-Match: "<the ETag>"' http://127.0.0.1:3170/employees/42   # 304
 *
 * Step 3 (compression is on here): `curl -s --compressed -D - -o /dev/null <a payments URL>`.
 */
await serveWithBus({
  lesson: '07-http-caching',
  createApp: ({ db, redis, subscriber, instanceId }) =>
    // compression: {} = step 3's defaults (br and gzip, bodies of 1 KiB and more).
    createApp({ db, redis, subscriber, keyPrefix: keyPrefixFromEnv('cachelab:07:'), instanceId, compression: {} }),
});
