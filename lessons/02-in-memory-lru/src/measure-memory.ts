import { createPool, describeDatabase, POSTGRES_FIX, probeDatabase } from '@cachelab/db';
import { listPayments } from '@cachelab/lesson-01-uncached/queries';
import { cacheKey } from './cache-key.ts';
import { createMemoryStore } from './memory-store.ts';

/**
 * How much memory does the classic answer take, as objects and as JSON bytes? The numbers
 * behind the lesson's choice to bound the cache by bytes and to store the serialized body.
 *
 *     node --expose-gc --import tsx lessons/02-in-memory-lru/src/measure-memory.ts
 *
 * `--expose-gc` lets it collect garbage before each reading, so that the difference is what
 * is still referenced, not what is waiting to be collected.
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's README).
 */
export const FIGURES = [
  'rows',
  'objectsMB',
  'jsonMB',
  'jsonBytes',
  'stringifyMs',
  'storeEntries',
  'storeBytes',
  'getMs',
];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('✗ Run it with node --expose-gc --import tsx …: the readings need a garbage collection first.');
  process.exit(2);
}
const problem = await probeDatabase();
if (problem) {
  console.error(`✗ Can't reach PostgreSQL at ${describeDatabase()} (${problem}). ${POSTGRES_FIX}`);
  process.exit(1);
}

/** Heap in use plus memory outside the heap (Buffers), after a full collection. */
function used(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

const db = createPool({ max: 1 });
const q = { investor: 'DEMO_INV', from: '2024-01-01', to: '2025-01-01', limit: 100_000 };

const start = used();
const rows = await listPayments(db, q);
const withRows = used();
say(`${rows.length.toLocaleString('en')} rows as JavaScript objects: ${mb(withRows - start)}`);

let started = performance.now();
const body = Buffer.from(JSON.stringify({ ...q, count: rows.length, rows }));
const stringifyMs = performance.now() - started;
say(
  `the same answer as JSON bytes: ${mb(body.length)} (${body.length.toLocaleString('en')} bytes); JSON.stringify took ${stringifyMs.toFixed(1)} ms`,
);

const store = createMemoryStore({ maxBytes: 64 * 1024 * 1024, ttlMs: 60_000 });
const key = cacheKey({ name: 'payments', params: q });
store.set(key, body);
say(`in a 64 MiB store: ${store.entries} entry, ${store.bytes.toLocaleString('en')} bytes counted`);
started = performance.now();
const hit = store.get(key);
const getMs = performance.now() - started;
say(`a get: ${getMs.toFixed(3)} ms for ${mb(hit?.body.length ?? 0)}`);

await db.end();
if (json) {
  console.log(
    JSON.stringify({
      rows: rows.length,
      objectsMB: (withRows - start) / 1e6,
      jsonMB: body.length / 1e6,
      jsonBytes: body.length,
      stringifyMs,
      storeEntries: store.entries,
      storeBytes: store.bytes,
      getMs,
    }),
  );
}
