import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { type CacheOptions, createApp } from './app.ts';

// npx tsx lessons/02-in-memory-lru/src/main.ts --port 3120
// Start a second one on another port (--port 3121): each has its own cache.
// CACHE_MAX_BYTES and CACHE_TTL_MS override the defaults (64 MiB, 60 s).
const cache: CacheOptions = {};
for (const [name, option] of [
  ['CACHE_MAX_BYTES', 'maxBytes'],
  ['CACHE_TTL_MS', 'ttlMs'],
] as const) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') continue;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    console.error(`✗ ${name} must be a positive whole number, got "${raw}".`);
    process.exit(2);
  }
  cache[option] = value;
}

await serveLesson({ lesson: '02-in-memory-lru', createApp: ({ db }) => createApp({ db, cache }) });
