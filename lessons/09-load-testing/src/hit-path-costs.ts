import { formatServerTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import { isNotModified } from '@cachelab/lesson-07-http-caching/conditional';
import {
  decodeRepresentation,
  encodeRepresentation,
  strongEtag,
} from '@cachelab/lesson-07-http-caching/representation';
import { decodeEntry, encodeEntry, freshness } from '@cachelab/lesson-08-stampedes/cache-entry';
import { shouldRefreshEarly } from '@cachelab/lesson-08-stampedes/early-refresh';

/**
 * The pieces of a cache hit, each timed alone, in this process, with no HTTP: how many
 * nanoseconds one call costs. The load tests say how much the whole hit path costs per
 * request; this says which line of it.
 *
 *   npx tsx lessons/09-load-testing/src/hit-path-costs.ts
 *
 * Each piece runs 200,000 times after a warm-up of 50,000 (so the JIT has compiled it),
 * five times; the median is shown. Garbage collection triggered by a piece's allocations
 * is counted in its time, as it is in a real request.
 */
const N = 200_000;
const ids = Array.from({ length: 1000 }, (_, i) => String(1 + ((i * 7919) % 10_000)));
const store = createMemoryStore({ maxBytes: 64 * 1024 * 1024, ttlMs: 3_600_000 });
const body = Buffer.from('{"id":42,"name":"…"}');
for (let id = 1; id <= 10_000; id++) store.set(cacheKey({ name: 'employee', params: { id } }), body);
const keys = ids.map((id) => cacheKey({ name: 'employee', params: { id: Number(id) } }));
const metrics = [
  { name: 'l1', durMs: 0.0123, desc: 'in-memory cache' },
  { name: 'total', durMs: 0.4567, desc: 'total' },
];
// The entries of lessons 07 and 08: a small header (validators, or times) in front of the body.
const now = Date.now();
const entry = encodeEntry({
  body,
  storedAtMs: now,
  freshUntilMs: now + 60_000,
  staleUntilMs: now + 360_000,
  deltaMs: 2,
});
const envelope = encodeRepresentation({ body, etag: strongEtag(body), lastModified: new Date(now).toUTCString() });
const decodedEntry = decodeEntry(entry);
const decoded = new WeakMap<Buffer, unknown>([[entry, decodedEntry]]);
const etag = strongEtag(body);
const conditional = { 'if-none-match': etag };
let sink: unknown;

const pieces: [string, (i: number) => unknown][] = [
  [
    'Number(id) + a regular expression (a hand-written check)',
    (i) => /^\d{1,10}$/.test(ids[i % 1000] as string) && Number(ids[i % 1000]),
  ],
  ['parse(employeeId, id) — zod safeParse', (i) => parse(employeeId, ids[i % 1000], 'id')],
  ["cacheKey({ name: 'employee', params: { id } })", (i) => cacheKey({ name: 'employee', params: { id: i % 10_000 } })],
  ['a template literal key (employee:v1:id=…)', (i) => `employee:v1:id=${i % 10_000}`],
  ['store.get(key) — lru-cache, a hit', (i) => store.get(keys[i % 1000] as string)],
  ['performance.now() × 2', () => performance.now() - performance.now()],
  ['formatServerTiming([l1, total]) — the header', () => formatServerTiming(metrics)],
  ['await of an async function (one promise)', async (i) => i],
  // Lessons 07 and 08 (and 10, which stores lesson 08's entries):
  ['decodeEntry(bytes) — the entry header of lessons 08/10, JSON.parse', () => decodeEntry(entry)],
  ['decodeRepresentation(bytes) — the envelope header of lesson 07', () => decodeRepresentation(envelope)],
  ['a WeakMap get — a header decoded once, kept by its buffer', () => decoded.get(entry)],
  [
    'three cacheKey()s — a value, its lease, its generation (lesson 08)',
    (i) => {
      const params = { id: i % 10_000 };
      return [
        cacheKey({ name: 'employee', params, prefix: 'p:' }),
        cacheKey({ name: 'employee', params, prefix: 'p:lease:' }),
        cacheKey({ name: 'employee', params, prefix: 'p:generation:' }),
      ];
    },
  ],
  [
    'freshness + shouldRefreshEarly — is the entry fresh, roll XFetch (lesson 08)',
    () =>
      decodedEntry &&
      freshness(decodedEntry, Date.now()) === 'fresh' &&
      shouldRefreshEarly({ nowMs: Date.now(), expiresAtMs: decodedEntry.freshUntilMs, deltaMs: 2, beta: 1 }),
  ],
  [
    "isNotModified('GET', { if-none-match }) — lesson 07's precondition",
    () => isNotModified('GET', conditional, { etag, lastModified: '' }),
  ],
];

console.log(`One call of each piece of a cache hit, median of 5 × ${N.toLocaleString('en')} calls:\n`);
for (const [name, fn] of pieces) {
  const runs: number[] = [];
  for (let r = 0; r < 6; r++) {
    const n = r === 0 ? 50_000 : N;
    const started = process.hrtime.bigint();
    if (name.startsWith('await')) {
      for (let i = 0; i < n; i++) sink = await fn(i);
    } else {
      for (let i = 0; i < n; i++) sink = fn(i);
    }
    const ns = Number(process.hrtime.bigint() - started) / n;
    if (r > 0) runs.push(ns);
  }
  runs.sort((a, b) => a - b);
  console.log(`${(runs[2] as number).toFixed(0).padStart(6)} ns  ${name}`);
}
void sink;
