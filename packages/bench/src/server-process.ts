import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createPool } from '@cachelab/db';
import { Redis } from 'ioredis';
import type { ServerStats, Strategy } from './strategy.ts';

/**
 * One strategy, served alone in its own process (forked by server.ts):
 *
 *   node --import tsx server-process.ts --module <file> --strategy <name> [--pool-max 10] [--set k=v]…
 *
 * A process per strategy, so that strategies do not share a heap, a garbage collector or
 * an event loop with each other or with the load generator, and a cold start is a new
 * process. It listens on a free port of 127.0.0.1 and reports it over IPC, then answers
 * `stats` and `reset` messages with what it counts:
 *
 * - PostgreSQL queries: every statement a pooled connection sends (its `query` is wrapped
 *   when the pool connects it, as testkit's query counter does). Counting in the process,
 *   rather than reading `pg_stat_database.xact_commit`, counts only this app's queries: the
 *   database is shared with every test run on the machine, and the server flushes its
 *   statistics to that view only from time to time.
 * - event-loop delay: `perf_hooks.monitorEventLoopDelay`, how late a 10 ms timer fires,
 *   i.e. how long the loop was blocked by something synchronous (JSON.stringify of
 *   17.8 MB, a big Buffer copy, …).
 * - pool waiting: how many requests queued for a connection at once (pool exhaustion).
 *
 * On exit it removes every Redis key under its prefix.
 */
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const modulePath = arg('module');
const name = arg('strategy');
const poolMax = Number(arg('pool-max') ?? 10);
const settings: Record<string, string> = {};
process.argv.forEach((a, i) => {
  if (a !== '--set') return;
  const [k, ...v] = (process.argv[i + 1] ?? '').split('=');
  if (k) settings[k] = v.join('=');
});
if (!modulePath || !name) {
  console.error('usage: server-process.ts --module <file> --strategy <name> [--pool-max N]');
  process.exit(2);
}
const { strategies } = (await import(pathToFileURL(modulePath).href)) as { strategies: Strategy[] };
const strategy = strategies.find((s) => s.name === name);
if (!strategy) {
  console.error(`✗ No strategy "${name}" in ${modulePath}: ${strategies.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

const db = createPool({ max: poolMax });
let queries = 0;
db.on('connect', (client) => {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    queries++;
    return query(...args);
  };
});
let poolWaitingMax = 0;
const samplePool = () => {
  if (db.waitingCount > poolWaitingMax) poolWaitingMax = db.waitingCount;
};
let sampler: NodeJS.Timeout | undefined;

let errors = 0;
let closing = false;
const log = (err: unknown) => {
  if (closing) return; // requests cut off by the shutdown: not the app's errors
  errors++;
  if (errors <= 3) console.error(`[${name}] ${err instanceof Error ? err.message : String(err)}`);
  if (errors === 3) console.error(`[${name}] (further errors are counted, not printed)`);
};

const keyPrefix = `cachelab:09:${name}:${process.pid}:`;
const running = await strategy.create({ db, keyPrefix, log, settings });
const server = createServer(running.listener);

server.keepAliveTimeout = 30_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

// The two samplers (pool, event loop) wake the process up to 300 times a second. They run
// only while a run is measured, from `reset` to `stats`: the bench keeps ten servers up at
// once, and idle ones waking 3,000 times a second would take CPU from the one being loaded.
const loop = monitorEventLoopDelay({ resolution: 10 });
let since = performance.now();
let cpuSince = process.cpuUsage();

const stats = (): ServerStats => {
  const cpu = process.cpuUsage(cpuSince);
  loop.disable();
  clearInterval(sampler);
  const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0);
  return {
    queries,
    poolWaitingMax,
    eventLoop: {
      p50: ms(loop.percentile(50)),
      p99: ms(loop.percentile(99)),
      max: ms(loop.max),
      mean: ms(loop.mean),
    },
    cpuMs: (cpu.user + cpu.system) / 1000,
    errors,
    rssBytes: process.memoryUsage.rss(),
    elapsedMs: performance.now() - since,
  };
};
const reset = () => {
  queries = 0;
  poolWaitingMax = 0;
  errors = 0;
  loop.reset();
  loop.enable();
  clearInterval(sampler);
  sampler = setInterval(samplePool, 5);
  sampler.unref();
  since = performance.now();
  cpuSince = process.cpuUsage();
};

async function close(): Promise<void> {
  closing = true;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // A handler whose client is gone still finishes its work (a query running, or waiting
  // for a connection): give those up to 15 s, so that they do not meet a closed pool.
  const busy = () => db.waitingCount > 0 || db.totalCount > db.idleCount;
  for (const started = Date.now(); busy() && Date.now() - started < 15_000; ) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 50));
  await running.close?.();
  await db.end().catch(() => {});
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch {
    // Redis is down or was never used: nothing to clean.
  } finally {
    redis.disconnect();
  }
}

process.on('message', (message: { id: number; type: 'stats' | 'reset' | 'close' }) => {
  const reply = (value: unknown) => process.send?.({ id: message.id, value });
  if (message.type === 'stats') reply(stats());
  else if (message.type === 'reset') {
    reset();
    reply(true);
  } else if (message.type === 'close') {
    void close().then(() => {
      reply(true);
      process.disconnect();
      process.exit(0);
    });
  }
});
// The parent is gone (Ctrl-C, crash): do not outlive it.
process.on('disconnect', () => void close().finally(() => process.exit(0)));

process.send?.({ ready: true, port: (server.address() as AddressInfo).port, label: strategy.label });
