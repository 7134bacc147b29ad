import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createPool, describeDatabase, POSTGRES_FIX, type Pool, probeDatabase } from '@cachelab/db';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type AppLocals, createApp, type Protection } from './app.ts';

/**
 * How many database queries do N concurrent requests for one cold key cost, for each
 * defence, on one instance and on three (three apps on three ports, each with its own
 * PostgreSQL pool, L1 and Redis connections, sharing one Redis)?
 *
 *     npx tsx lessons/08-stampedes/src/measure-stampede.ts
 *     npx tsx lessons/08-stampedes/src/measure-stampede.ts --route /employees/42 --requests 1000
 *
 * The queries are counted on the pools themselves (every statement each client sends), not
 * estimated. Every run uses a new key prefix, so the key is cold; its keys are deleted after.
 *
 * With `--json`, the table goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's README): per protection and number of
 * instances, the queries, the answers (200 MISS, 200 HIT, not a 200), and the times.
 */
export const FIGURES = [
  '{none,singleFlight,lease}.{one,three}.{queries,miss,hit,failed,allAnsweredS,medianMs,slowestMs}',
];
const { values: args } = parseArgs({
  options: {
    route: { type: 'string', default: '/investors/DEMO_INV/summary' },
    requests: { type: 'string', default: '1000' },
    json: { type: 'boolean', default: false },
  },
});
const say = args.json ? console.error : console.log;
const figures: Record<string, Record<string, Record<string, number>>> = {};
const route = args.route;
const requests = Number(args.requests);
if (!Number.isSafeInteger(requests) || requests < 1) {
  console.error(`✗ --requests must be a positive whole number, got "${args.requests}".`);
  process.exit(2);
}
const problem = await probeDatabase();
if (problem) {
  console.error(`✗ Can't reach PostgreSQL at ${describeDatabase()} (${problem}). ${POSTGRES_FIX}`);
  process.exit(1);
}

/** Count the statements a pool sends (each client's query is wrapped once, when it connects). */
function countStatements(pool: Pool): { statements: string[] } {
  const counter = { statements: [] as string[] };
  pool.on('connect', (client) => {
    const original = client.query.bind(client) as (...a: unknown[]) => unknown;
    (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
      const first = a[0];
      counter.statements.push(typeof first === 'string' ? first : String((first as { text?: string })?.text ?? ''));
      return original(...a);
    };
  });
  return counter;
}

interface Run {
  protection: Protection;
  instances: number;
  queries: number;
  statuses: Map<string, number>;
  wallMs: number;
  p50Ms: number;
  maxMs: number;
}

/** The table the route's loader reads: what counts as "a query for this key". */
const table = route.startsWith('/employees') ? /FROM employees/ : /borrower_payments/;

async function measure(protection: Protection, count: number): Promise<Run> {
  const keyPrefix = `cachelab:08:measure:${Date.now().toString(36)}:`;
  const started: {
    server: Server;
    pool: Pool;
    locals: AppLocals;
    close: () => void;
    counter: { statements: string[] };
  }[] = [];
  for (let i = 0; i < count; i++) {
    const pool = createPool();
    const counter = countStatements(pool);
    const redis = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
    const subscriber = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
    await whenReady(redis, 5_000);
    const app = createApp({ db: pool, redis, subscriber, keyPrefix, instanceId: `i${i}`, protection, log: () => {} });
    const locals = app.locals as AppLocals;
    await locals.ready;
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    started.push({
      server,
      pool,
      locals,
      counter,
      close: () => {
        redis.disconnect();
        subscriber.disconnect();
      },
    });
  }
  const urls = started.map(({ server }) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${route}`);

  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: requests }, async (_, i) => {
      const sent = performance.now();
      try {
        const res = await fetch(urls[i % urls.length] as string);
        await res.arrayBuffer();
        return { status: `${res.status} ${res.headers.get('x-cache') ?? '-'}`, ms: performance.now() - sent };
      } catch (err) {
        return { status: `error ${(err as Error).message}`, ms: performance.now() - sent };
      }
    }),
  );
  const wallMs = performance.now() - t0;

  const statuses = new Map<string, number>();
  for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  const times = results.map((r) => r.ms).sort((a, b) => a - b);
  const queries = started.reduce((n, s) => n + s.counter.statements.filter((q) => table.test(q)).length, 0);

  // Clean up: servers, bus, clients, pools, and the keys this run wrote.
  const cleaner = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
  await whenReady(cleaner, 5_000);
  let cursor = '0';
  do {
    const [next, keys] = await cleaner.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await cleaner.unlink(...keys);
  } while (cursor !== '0');
  cleaner.disconnect();
  for (const s of started) {
    s.server.closeAllConnections();
    await new Promise<void>((resolve) => s.server.close(() => resolve()));
    await s.locals.close();
    s.close();
    await s.pool.end();
  }
  return {
    protection,
    instances: count,
    queries,
    statuses,
    wallMs,
    p50Ms: times[Math.floor(times.length / 2)] ?? 0,
    maxMs: times[times.length - 1] ?? 0,
  };
}

say(`${requests.toLocaleString('en')} concurrent GET ${route} on a cold key\n`);
say(
  '| protection    | instances | queries | responses                                    | all answered | median | slowest |',
);
say(
  '| ------------- | --------- | ------- | -------------------------------------------- | ------------ | ------ | ------- |',
);
for (const protection of ['none', 'single-flight', 'lease'] as const) {
  for (const count of [1, 3]) {
    const r = await measure(protection, count);
    const responses = [...r.statuses].map(([s, n]) => `${n.toLocaleString('en')}× ${s}`).join(', ');
    const answered = (status: string) => r.statuses.get(status) ?? 0;
    const key = protection === 'single-flight' ? 'singleFlight' : protection;
    figures[key] ??= {};
    (figures[key] as Record<string, Record<string, number>>)[count === 1 ? 'one' : 'three'] = {
      queries: r.queries,
      miss: answered('200 MISS'),
      hit: answered('200 HIT'),
      failed: [...r.statuses].reduce((n, [status, k]) => (status.startsWith('200 ') ? n : n + k), 0),
      allAnsweredS: r.wallMs / 1000,
      medianMs: r.p50Ms,
      slowestMs: r.maxMs,
    };
    say(
      `| ${r.protection.padEnd(13)} | ${String(r.instances).padStart(9)} | ${String(r.queries).padStart(7)} | ${responses.padEnd(44)} | ${`${(r.wallMs / 1000).toFixed(2)} s`.padStart(12)} | ${`${Math.round(r.p50Ms)} ms`.padStart(6)} | ${`${Math.round(r.maxMs)} ms`.padStart(7)} |`,
    );
  }
}
if (args.json) console.log(JSON.stringify(figures));
