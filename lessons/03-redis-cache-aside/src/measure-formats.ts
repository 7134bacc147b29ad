import { createPool } from '@cachelab/db';
import { getEmployee, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { createRedisClient, whenReady } from './redis-client.ts';
import { CODECS } from './value-codecs.ts';

/**
 * JSON, MessagePack (msgpackr, with and without its records extension) and v8.serialize on
 * the lesson's real answers: how many bytes each puts in Redis, and what encoding and
 * decoding cost. Step 4's table.
 *
 *   npx tsx lessons/03-redis-cache-aside/src/measure-formats.ts [--batches 5]
 *
 * The answers, as the routes load them from PostgreSQL: employee 42 (one row, two timestamps),
 * a page of 1,000 payments and the classic 100,000. For each answer and codec: the encoded
 * size, what Redis says the key takes (`MEMORY USAGE`, after a SET under a temporary key that is
 * deleted at the end), and the CPU time of one encode and one decode: the median over BATCHES
 * batches, each of enough operations to last a few milliseconds (a 1-row encode takes
 * microseconds), after one warm-up batch.
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's text).
 */
export const FIGURES = [
  '{employee,page,classic}.{json,msgpack,msgpack-records,v8}.{bytes,redisBytes,encodeMs,decodeMs}',
];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;
const batchesAt = process.argv.indexOf('--batches');
const BATCHES = batchesAt >= 0 ? Number(process.argv[batchesAt + 1]) : 5;
if (!Number.isInteger(BATCHES) || BATCHES < 1) {
  console.error('✗ --batches must be a whole number ≥ 1');
  process.exit(2);
}

const db = createPool({ max: 1 });
const redis = createRedisClient({ commandTimeoutMs: 5_000 });
if (!(await whenReady(redis))) {
  console.error('✗ Redis does not answer: start it with `docker compose up -d` or `npx cachelab services up`.');
  process.exit(1);
}
const key = (name: string) => `cachelab:measure:${process.pid}:${name}`;
const payments = (limit: number) => {
  const q = { investor: 'DEMO_INV', from: '2024-01-01', to: '2025-01-01', limit };
  return listPayments(db, q).then((rows) => ({ ...q, count: rows.length, rows }));
};
const answers = {
  employee: { label: 'employee 42 (1 row)', value: await getEmployee(db, 42), perBatch: 2_000 },
  page: { label: '1,000 payments', value: await payments(1_000), perBatch: 20 },
  classic: { label: '100,000 payments', value: await payments(100_000), perBatch: 1 },
};
await db.end();

/**
 * Microseconds of CPU per call of `fn` (process.cpuUsage, user + system: a batch that waits for
 * a core is not counted as work): the median of BATCHES batches of `n` calls, after one warm-up.
 */
function microseconds(n: number, fn: () => unknown): number {
  const perCall: number[] = [];
  for (let batch = 0; batch <= BATCHES; batch++) {
    const before = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const used = process.cpuUsage(before);
    if (batch > 0) perCall.push((used.user + used.system) / n);
  }
  perCall.sort((a, b) => a - b);
  return perCall[Math.floor(perCall.length / 2)] ?? 0;
}
const time = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us.toFixed(1)} µs`);

const figures: Record<string, Record<string, Record<string, number>>> = {};
say(`CPU time, median of ${BATCHES} batches; MEMORY USAGE after SET`);
for (const [name, answer] of Object.entries(answers)) {
  say(`\n${answer.label}:`);
  say(
    `  ${'format'.padEnd(16)} ${'bytes'.padStart(11)} ${'in Redis'.padStart(11)} ${'encode'.padStart(10)} ${'decode'.padStart(10)}`,
  );
  figures[name] = {};
  for (const codec of CODECS) {
    const bytes = codec.encode(answer.value);
    await redis.set(key(name), bytes, 'EX', 300);
    const redisBytes = Number(await redis.call('MEMORY', 'USAGE', key(name), 'SAMPLES', '0'));
    const encodeUs = microseconds(answer.perBatch, () => codec.encode(answer.value));
    const decodeUs = microseconds(answer.perBatch, () => codec.decode(bytes));
    figures[name][codec.name] = {
      bytes: bytes.length,
      redisBytes,
      encodeMs: encodeUs / 1000,
      decodeMs: decodeUs / 1000,
    };
    say(
      `  ${codec.name.padEnd(16)} ${bytes.length.toLocaleString('en').padStart(11)} ${redisBytes.toLocaleString('en').padStart(11)} ${time(encodeUs).padStart(10)} ${time(decodeUs).padStart(10)}`,
    );
  }
  await redis.del(key(name));
}
await redis.quit();
if (json) console.log(JSON.stringify(figures));
