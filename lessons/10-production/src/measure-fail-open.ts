import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createPool, describeDatabase, POSTGRES_FIX, probeDatabase } from '@cachelab/db';
import { createRedisClient, redisUrlFromEnv, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { startChaosProxy } from '@cachelab/testkit';
import { type AppLocals, createApp } from './app.ts';

/**
 * What does a request cost when Redis is healthy, dead, slow or black-holed, with and
 * without the circuit breaker? And how long until latency is back to normal when Redis
 * returns?
 *
 *   npx tsx lessons/10-production/src/measure-fail-open.ts [--requests 200]
 *
 * Redis is never stopped: the app talks to it through testkit's chaos proxy (cut, delay,
 * black hole). Each scenario sends `--requests` sequential GETs for different employees
 * (each one past L1, so each one asks Redis unless the circuit is open), after 20 warm-up
 * requests, and reports p50 / p99 / max of the client-side time, plus the commands the app
 * sent Redis (a miss on a healthy Redis: GET of the entry, GET of its generation, the guarded
 * store by EVALSHA). "Without the breaker" is the same app with a failure threshold nobody reaches.
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's README).
 */
export const FIGURES = [
  '{healthy,cut,cutNoBreaker,slow,slowNoBreaker,blackHole,blackHoleNoBreaker,blackHoleThenBack,back}.{p50Ms,p99Ms,maxMs,redisCommands,miss,bypass}',
  'closedAfterMs',
];
const { values } = parseArgs({
  options: { requests: { type: 'string', default: '200' }, json: { type: 'boolean', default: false } },
});
const say = values.json ? console.error : console.log;
const figures: Record<string, unknown> = {};
const N = Number(values.requests);
if (!Number.isInteger(N) || N < 10) {
  console.error('✗ --requests must be a whole number ≥ 10');
  process.exit(2);
}
const problem = await probeDatabase();
if (problem) {
  console.error(`✗ Can't reach PostgreSQL at ${describeDatabase()} (${problem}). ${POSTGRES_FIX}`);
  process.exit(1);
}

// This script's own settings, not main.ts's (DEFAULTS: 1,000 ms and 20 failures, chosen under load by
// measure-breaker-under-load.ts): short, so that the rows without a breaker take 20 s, not 200.
const COMMAND_TIMEOUT_MS = 100;
const db = createPool({ max: 4 });
let nextId = 1_000;

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};

async function run(scenario: {
  key: string;
  name: string;
  breaker: boolean;
  chaos: (proxy: Awaited<ReturnType<typeof startChaosProxy>>) => void;
  recover?: boolean;
}) {
  const proxy = await startChaosProxy({ upstream: redisUrlFromEnv() });
  const redis = createRedisClient({ url: proxy.url, commandTimeoutMs: COMMAND_TIMEOUT_MS, log: () => {} });
  const subscriber = createRedisClient({ url: proxy.url, commandTimeoutMs: COMMAND_TIMEOUT_MS, log: () => {} });
  await whenReady(redis);
  let commands = 0;
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    // The app's commands, not the client's handshake (INFO, CLIENT SETINFO), which ioredis repeats
    // on every reconnection: how often it reconnects depends on timing, not on the app.
    if (command.name !== 'info' && command.name !== 'client') commands++;
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
  const app = createApp({
    db,
    redis,
    subscriber,
    keyPrefix: `cachelab:measure:${process.pid}:`,
    authSecret: 'measure-fail-open-secret-0123456789',
    breaker: scenario.breaker ? { failureThreshold: 5, coolDownMs: 2_000 } : { failureThreshold: 1e9 },
    log: () => {},
  });
  const locals = app.locals as AppLocals;
  await Promise.race([locals.ready, new Promise((r) => setTimeout(r, 2_000))]);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = async () => {
    const started = performance.now();
    const res = await fetch(`${base}/employees/${nextId++}`);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    return { ms: performance.now() - started, cache: res.headers.get('x-cache') ?? '-' };
  };
  const measure = async (n: number) => {
    const times: number[] = [];
    const caches = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await get();
      times.push(r.ms);
      caches.set(r.cache, (caches.get(r.cache) ?? 0) + 1);
    }
    return { times, caches };
  };
  for (let i = 0; i < 20; i++) await get(); // warm-up: connections, JIT
  scenario.chaos(proxy);
  commands = 0;
  const before = await measure(N);
  const sent = commands;
  const row = (key: string, label: string, m: { times: number[]; caches: Map<string, number> }, cmds: number) => {
    figures[key] = {
      p50Ms: percentile(m.times, 50),
      p99Ms: percentile(m.times, 99),
      maxMs: Math.max(...m.times),
      redisCommands: cmds,
      miss: m.caches.get('MISS') ?? 0,
      bypass: m.caches.get('BYPASS') ?? 0,
    };
    say(
      `${label.padEnd(44)} p50 ${percentile(m.times, 50).toFixed(1).padStart(6)} ms   p99 ${percentile(m.times, 99)
        .toFixed(1)
        .padStart(6)} ms   max ${Math.max(...m.times)
        .toFixed(1)
        .padStart(6)} ms   Redis commands ${String(cmds).padStart(4)}   ${[...m.caches]
        .map(([c, n]) => `${c} ${n}`)
        .join(', ')}`,
    );
  };
  row(scenario.key, scenario.name, before, sent);
  if (scenario.recover) {
    proxy.restore();
    const backAt = performance.now();
    await whenReady(redis, 5_000);
    // Until the circuit closes, requests are BYPASS; time until the first HIT-capable answer.
    let r = await get();
    while (r.cache === 'BYPASS') {
      await new Promise((resolve) => setTimeout(resolve, 20));
      r = await get();
    }
    const closedAfterMs = performance.now() - backAt;
    figures.closedAfterMs = closedAfterMs;
    say(`  Redis back: circuit ${locals.cache.circuit} after ${closedAfterMs.toFixed(0)} ms (cool-down 2,000 ms)`);
    commands = 0;
    const back = await measure(N);
    row('back', '  then, with Redis back', back, commands);
  }
  server.closeAllConnections();
  server.close();
  await locals.close();
  redis.disconnect();
  subscriber.disconnect();
  await proxy.close();
}

say(
  `${N} sequential GET /employees/:id, each a different employee (L1 cannot answer), commandTimeout ${COMMAND_TIMEOUT_MS} ms\n`,
);
await run({ key: 'healthy', name: 'Redis healthy', breaker: true, chaos: () => {} });
await run({ key: 'cut', name: 'Redis down (cut), breaker on', breaker: true, chaos: (p) => p.cut() });
await run({ key: 'cutNoBreaker', name: 'Redis down (cut), no breaker', breaker: false, chaos: (p) => p.cut() });
await run({
  key: 'slow',
  name: 'Redis slow (+500 ms each way), breaker on',
  breaker: true,
  chaos: (p) => p.delay(500),
});
await run({
  key: 'slowNoBreaker',
  name: 'Redis slow (+500 ms each way), no breaker',
  breaker: false,
  chaos: (p) => p.delay(500),
});
await run({ key: 'blackHole', name: 'Redis black hole, breaker on', breaker: true, chaos: (p) => p.blackhole() });
await run({
  key: 'blackHoleNoBreaker',
  name: 'Redis black hole, no breaker',
  breaker: false,
  chaos: (p) => p.blackhole(),
});
await run({
  key: 'blackHoleThenBack',
  name: 'Redis black hole, breaker on, then back',
  breaker: true,
  chaos: (p) => p.blackhole(),
  recover: true,
});
await db.end();
if (values.json) console.log(JSON.stringify(figures));
