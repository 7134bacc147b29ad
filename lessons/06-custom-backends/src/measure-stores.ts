import { cpus, loadavg } from 'node:os';
import { createPool, describeDatabase, POSTGRES_FIX, probeDatabase } from '@cachelab/db';
import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import type { CacheStore } from './cache-store.ts';
import { type OpenedStore, openStore, type StoreKind } from './stores.ts';

/**
 * How fast is each store, for the same values, on this machine?
 *
 *   npx tsx lessons/06-custom-backends/src/measure-stores.ts [--runs 5] [--ops 500]
 *
 * For each store and two value sizes (a real employee's JSON, ~200 bytes, and 100 KB), one run
 * sets `ops` distinct keys one after the other, timing each set, then gets them back (every get
 * a hit), timing each get; it takes the p50 and p99 of those latencies. A first run warms up
 * connections and JIT and is not counted; the table shows the median over `runs` runs.
 *
 * "two-level" reads its own sets, so its gets are L1 hits; "two-level, other instance" is a
 * second instance reading keys it has never seen: one L2 round trip each, plus the backfill.
 * Everything is sequential: this is latency, not throughput (lesson 09 measures throughput).
 *
 * With `--json`, the table goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's README): a row's key is its store and size.
 */
export const FIGURES = [
  '{memory,redis,twoLevel,twoLevelOther,postgres}.{small,large}.{getP50Us,getP99Us,setP50Us,setP99Us}',
  'smallBytes',
];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;
const figures: Record<string, unknown> = {};
const flag = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) {
    console.error(`✗ --${name} must be a whole number ≥ 1`);
    process.exit(2);
  }
  return value;
};
const RUNS = flag('runs', 5);
const loadBefore = loadavg()
  .map((l) => l.toFixed(1))
  .join(' ');
const OPS = flag('ops', 500);

const problem = await probeDatabase();
if (problem) {
  console.error(`✗ Can't reach PostgreSQL at ${describeDatabase()} (${problem}). ${POSTGRES_FIX}`);
  process.exit(1);
}
const db = createPool({ max: 4 });
const employee = await getEmployee(db, 42);
const SMALL = Buffer.from(JSON.stringify(employee));
const LARGE = Buffer.alloc(100 * 1024);
for (let i = 0; i < LARGE.length; i++) LARGE[i] = 32 + ((i * 31) % 95); // printable, like JSON
const namespace = `cachelab:measure:${process.pid}:`;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

interface RunResult {
  getP50: number;
  getP99: number;
  setP50: number;
  setP99: number;
}

/** One run: set OPS keys on `writer`, then get them all on `reader` (the same store, or another instance). */
async function run(writer: CacheStore, reader: CacheStore, value: Buffer, runId: string): Promise<RunResult> {
  const keys = Array.from({ length: OPS }, (_, i) => `${runId}:${i}`);
  const sets: number[] = [];
  const gets: number[] = [];
  for (const key of keys) {
    const started = performance.now();
    await writer.set(key, value, { ttlMs: 300_000 });
    sets.push(performance.now() - started);
  }
  for (const key of keys) {
    const started = performance.now();
    const got = await reader.get(key);
    gets.push(performance.now() - started);
    if (got?.length !== value.length) throw new Error(`${reader.name}: get(${key}) did not return what was set`);
  }
  sets.sort((a, b) => a - b);
  gets.sort((a, b) => a - b);
  return {
    getP50: percentile(gets, 50),
    getP99: percentile(gets, 99),
    setP50: percentile(sets, 50),
    setP99: percentile(sets, 99),
  };
}

const rows: string[][] = [];
const variants: { key: string; label: string; kind: StoreKind; otherInstance?: boolean }[] = [
  { key: 'memory', label: 'memory', kind: 'memory' },
  { key: 'redis', label: 'redis', kind: 'redis' },
  { key: 'twoLevel', label: 'two-level', kind: 'two-level' },
  { key: 'twoLevelOther', label: 'two-level, other instance', kind: 'two-level', otherInstance: true },
  { key: 'postgres', label: 'postgres', kind: 'postgres' },
];
const quiet = { log: () => {}, commandTimeoutMs: 5_000 };

for (const variant of variants) {
  const writer: OpenedStore = await openStore(variant.kind, { db, namespace, ...quiet });
  const reader: OpenedStore = variant.otherInstance
    ? await openStore(variant.kind, { db, namespace, ...quiet })
    : writer;
  try {
    const sizes: Record<string, unknown> = {};
    figures[variant.key] = sizes;
    for (const [sizeKey, sizeLabel, value] of [
      ['small', `${SMALL.length} B`, SMALL],
      ['large', '100 KB', LARGE],
    ] as const) {
      const results: RunResult[] = [];
      for (let r = 0; r <= RUNS; r++) {
        const result = await run(writer.store, reader.store, value, `${variant.label}:${sizeLabel}:${r}`);
        if (r > 0) results.push(result); // run 0 warms up
        await writer.store.clear();
      }
      const us = (pick: (x: RunResult) => number) => median(results.map(pick)) * 1000;
      const row = {
        getP50Us: us((x) => x.getP50),
        getP99Us: us((x) => x.getP99),
        setP50Us: us((x) => x.setP50),
        setP99Us: us((x) => x.setP99),
      };
      sizes[sizeKey] = row;
      rows.push([variant.label, sizeLabel, ...Object.values(row).map((n) => n.toFixed(1))]);
      process.stderr.write(`measured ${variant.label}, ${sizeLabel}\n`);
    }
  } finally {
    await writer.store.clear();
    if (reader !== writer) await reader.close();
    await writer.close();
  }
}
await db.end();

const header = ['store', 'value', 'get p50 µs', 'get p99 µs', 'set p50 µs', 'set p99 µs'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
const line = (cells: string[]) =>
  `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
say(
  `${OPS} sequential sets then ${OPS} gets per run; median of ${RUNS} runs (after one warm-up run). Load average before: ${loadBefore}, after: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}; ${cpus().length} CPUs.\n`,
);
say(line(header));
say(`| ${widths.map((w, i) => (i < 2 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`);
for (const row of rows) say(line(row));
figures.smallBytes = SMALL.length;
if (json) console.log(JSON.stringify(figures));
