import { createPool, describeDatabase, POSTGRES_FIX, probeDatabase } from '@cachelab/db';

/**
 * What does UNLOGGED save? The same upsert the PostgreSQL store runs, into an ordinary (logged)
 * table and into an unlogged one, with the same index:
 *
 *   npx tsx lessons/06-custom-backends/src/measure-unlogged.ts [--sets 2000] [--runs 5]
 *
 * - WAL written by one upsert, from `EXPLAIN (ANALYZE, WAL)` (that statement's own WAL, not the
 *   server's: other sessions writing at the same time do not count);
 * - the time of `sets` sequential upserts of a 208-byte value (each its own transaction, as the
 *   store runs them), median of `runs` runs. A logged table's commit waits for its WAL to reach
 *   the disk (fdatasync, with synchronous_commit on); an unlogged table's has nothing to wait for.
 *
 * The tables live in a scratch schema that is dropped at the end.
 *
 * With `--json`, the table goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's README).
 */
export const FIGURES = ['{logged,unlogged}.{walBytes,walRecords,upsertUs}'];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;
const figures: Record<string, { walBytes: number; walRecords: number; upsertUs: number }> = {};
const flag = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) {
    console.error(`✗ --${name} must be a whole number ≥ 1`);
    process.exit(2);
  }
  return value;
};
const SETS = flag('sets', 2_000);
const RUNS = flag('runs', 5);

const problem = await probeDatabase();
if (problem) {
  console.error(`✗ Can't reach PostgreSQL at ${describeDatabase()} (${problem}). ${POSTGRES_FIX}`);
  process.exit(1);
}
const schema = `measure_unlogged_${process.pid}`;
const db = createPool({ max: 1, searchPath: [schema] });
const value = Buffer.alloc(208, 'x');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const settings = (
  await db.query<{ name: string; setting: string }>(
    "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_level') ORDER BY name",
  )
).rows
  .map((r) => `${r.name}=${r.setting}`)
  .join(', ');

try {
  await db.query(`CREATE SCHEMA ${schema}`);
  say(`${SETS} sequential upserts of a 208-byte value per run, median of ${RUNS} runs. Server: ${settings}.\n`);
  say('| table    | WAL per upsert | WAL records | time per upsert |');
  say('| -------- | -------------: | ----------: | --------------: |');
  for (const kind of ['logged', 'unlogged'] as const) {
    const table = `cache_${kind}`;
    await db.query(
      `CREATE ${kind === 'unlogged' ? 'UNLOGGED ' : ''}TABLE ${table} (key text PRIMARY KEY, value bytea NOT NULL, expires_at timestamptz NOT NULL)`,
    );
    await db.query(`CREATE INDEX ON ${table} (expires_at)`);
    const upsert = `INSERT INTO ${table} (key, value, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`;

    const perSet: number[] = [];
    for (let run = 0; run <= RUNS; run++) {
      const started = performance.now();
      for (let i = 0; i < SETS; i++) await db.query(upsert, [`k${i}`, value, 60_000]);
      if (run > 0) perSet.push((performance.now() - started) / SETS); // run 0 inserts; the others update, as a warm cache does
    }

    // One more upsert of an existing key, explained: its own WAL, measured by PostgreSQL.
    await db.query('BEGIN');
    const { rows } = await db.query<{ 'QUERY PLAN': [{ Plan: { 'WAL Records': number; 'WAL Bytes': number } }] }>(
      `EXPLAIN (ANALYZE, WAL, FORMAT JSON) ${upsert}`,
      ['k1', value, 60_000],
    );
    await db.query('ROLLBACK');
    const plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
    figures[kind] = {
      walBytes: plan?.['WAL Bytes'] ?? Number.NaN,
      walRecords: plan?.['WAL Records'] ?? Number.NaN,
      upsertUs: median(perSet) * 1000,
    };
    say(
      `| ${kind.padEnd(8)} | ${`${plan?.['WAL Bytes']} B`.padStart(14)} | ${String(plan?.['WAL Records']).padStart(11)} | ${`${(median(perSet) * 1000).toFixed(0)} µs`.padStart(15)} |`,
    );
  }
} finally {
  await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await db.end();
}
if (json) console.log(JSON.stringify(figures));
