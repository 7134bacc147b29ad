import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import { createBoundedL1 } from './bounded-l1.ts';

/**
 * What an L1 counts vs what it holds, when the bodies it stores are views on bigger buffers
 * (a body cut out of a larger reply, a slice of a socket read).
 *
 *     node --expose-gc --import tsx lessons/10-production/src/measure-l1-memory.ts
 *
 * 1,000 entries of 100 bytes, each a view on its own 64 KiB buffer, go into lesson 02's
 * store and into this lesson's bounded L1 (which copies views). For each: the bytes the store
 * counts, and the memory really retained (heap + external, after a full GC).
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with step 2, steps/2-bus-metrics-memory.md).
 */
export const FIGURES = ['{memoryStore,boundedL1}.{countsMB,retainsMB}'];
const json = process.argv.includes('--json');
const figures: Record<string, { countsMB: number; retainsMB: number }> = {};
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('✗ Run it with node --expose-gc --import tsx …: the readings need a garbage collection first.');
  process.exit(2);
}
const used = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const N = 1_000;
/** Fill `store` in a function of its own, so that no temporary of ours keeps the big buffers alive. */
function fill(store: { set(key: string, body: Buffer): void }): void {
  for (let i = 0; i < N; i++) {
    const reply = Buffer.alloc(64 * 1024, i % 251); // one socket read / one large reply
    store.set(`k${i}`, reply.subarray(1_000, 1_100)); // the 100 bytes we keep
  }
}

for (const [key, name, make] of [
  [
    'memoryStore',
    'lesson 02 memory store (stores the view)',
    () => createMemoryStore({ maxBytes: 10_000_000, ttlMs: 60_000 }),
  ],
  [
    'boundedL1',
    'lesson 10 bounded L1 (copies the view)',
    () => createBoundedL1({ maxBytes: 10_000_000, ttlMs: 60_000 }),
  ],
] as const) {
  const before = used();
  const store = make();
  fill(store);
  const after = used();
  figures[key] = { countsMB: store.bytes / 1e6, retainsMB: (after - before) / 1e6 };
  (json ? console.error : console.log)(
    `${name.padEnd(42)} counts ${MB(store.bytes).padStart(8)}   retains ${MB(after - before).padStart(8)}`,
  );
  store.clear();
}
if (json) console.log(JSON.stringify(figures));
