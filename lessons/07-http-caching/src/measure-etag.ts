import { createHash } from 'node:crypto';
import { createPool, describeDatabase, POSTGRES_FIX, probeDatabase } from '@cachelab/db';
import { listPayments } from '@cachelab/lesson-01-uncached/queries';
import { decodeRepresentation, encodeRepresentation, httpDate, strongEtag } from './representation.ts';

/**
 * What does an ETag cost on the classic 100,000-row answer? The numbers behind the lesson's
 * rule "compute the ETag once, when the entry is cached, and store it with the entry".
 *
 *     npx tsx lessons/07-http-caching/src/measure-etag.ts [--runs 4]
 *
 * For each hash Node ships, hashes the serialized body ROUNDS times and prints the median
 * and the range. With `--runs N`, it does that N times per hash and prints the median of the N
 * medians and the range of all N × ROUNDS (its fastest is the cost on an otherwise idle core). `sha1 → base64` is what Express does for its built-in ETag (the `etag`
 * package), on every response, when `app.set('etag', …)` is on. Then the cost of what this
 * lesson does per request instead: decoding the stored envelope (header only).
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's README).
 */
export const FIGURES = [
  'rows',
  'bytes',
  '{sha256,sha1,md5,sha512,sha512-256,blake2b512,expressEtag,strongEtag,encode}.{medianMs,fastestMs,slowestMs}',
  'decode.{medianUs,fastestUs,slowestUs}',
];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;
const figures: Record<string, unknown> = {};
const ROUNDS = 21;
const runsAt = process.argv.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(process.argv[runsAt + 1]) : 1;
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error('✗ --runs must be a whole number ≥ 1');
  process.exit(2);
}

const problem = await probeDatabase();
if (problem) {
  console.error(`✗ Can't reach PostgreSQL at ${describeDatabase()} (${problem}). ${POSTGRES_FIX}`);
  process.exit(1);
}
const db = createPool({ max: 1 });
const q = { investor: 'DEMO_INV', from: '2024-01-01', to: '2025-01-01', limit: 100_000 };
const rows = await listPayments(db, q);
await db.end();
const body = Buffer.from(JSON.stringify({ ...q, count: rows.length, rows }));
figures.rows = rows.length;
figures.bytes = body.length;
say(`body: ${rows.length.toLocaleString('en')} rows, ${body.length.toLocaleString('en')} bytes`);

const middle = (sorted: number[]) => sorted[Math.floor(sorted.length / 2)] ?? 0;
function measure(fn: () => unknown): { median: number; min: number; max: number } {
  const medians: number[] = [];
  const all: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    fn(); // warm up
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const started = performance.now();
      fn();
      times.push(performance.now() - started);
    }
    medians.push(middle(times.sort((a, b) => a - b)));
    all.push(...times);
  }
  all.sort((a, b) => a - b);
  return { median: middle(medians.sort((a, b) => a - b)), min: all[0] ?? 0, max: all.at(-1) ?? 0 };
}
const show = (key: string, name: string, r: { median: number; min: number; max: number }, unit = 'ms', scale = 1) => {
  const u = unit === 'ms' ? 'Ms' : 'Us';
  figures[key] = { [`median${u}`]: r.median * scale, [`fastest${u}`]: r.min * scale, [`slowest${u}`]: r.max * scale };
  say(
    `${name.padEnd(32)} median ${(r.median * scale).toFixed(unit === 'ms' ? 1 : 2).padStart(7)} ${unit}   (${(r.min * scale).toFixed(unit === 'ms' ? 1 : 2)}–${(r.max * scale).toFixed(unit === 'ms' ? 1 : 2)})`,
  );
};

say(`\nhashing the body once (${RUNS > 1 ? `${RUNS} runs × ` : ''}${ROUNDS} rounds):`);
for (const algorithm of ['sha256', 'sha1', 'md5', 'sha512', 'sha512-256', 'blake2b512']) {
  show(
    algorithm,
    algorithm,
    measure(() => createHash(algorithm).update(body).digest('base64url')),
  );
}
show(
  'expressEtag',
  'sha1 → base64 (Express `etag`)',
  measure(() => createHash('sha1').update(body).digest('base64')),
);
show(
  'strongEtag',
  'strongEtag() (this lesson)',
  measure(() => strongEtag(body)),
);

say(`\nwhat a request pays instead (${RUNS > 1 ? `${RUNS} runs × ` : ''}${ROUNDS} rounds):`);
const envelope = encodeRepresentation({ body, etag: strongEtag(body), lastModified: httpDate(Date.now()) });
show(
  'encode',
  'encode the envelope (on a fill)',
  measure(() => encodeRepresentation({ body, etag: '"x"', lastModified: 'x' })),
);
show(
  'decode',
  'decode the envelope (per hit)',
  measure(() => decodeRepresentation(envelope)),
  'µs',
  1000,
);
if (json) console.log(JSON.stringify(figures));
