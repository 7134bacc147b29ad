import { type ChildProcess, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type LoadResult, machineLine, requireServices, startLoadGenerator, zipfSequence } from '@cachelab/bench';
import { DEFAULTS } from './app.ts';

/**
 * Does the circuit breaker trip on a HEALTHY Redis under load? Two instances of the lesson's
 * API (main.ts, each its own process), each hammered by autocannon (its own process) with
 * lesson 09's load: `GET /employees/:id`, Zipf (s = 1) over 10,000 employees, 10 connections,
 * plus a steady stream of PATCHes (each sets an employee's status to the one it has: only
 * `updated_at` changes, but every PATCH commits and invalidates). No fault is injected.
 *
 *   npx tsx lessons/10-production/src/measure-breaker-under-load.ts [--seconds 30] [--connections 10]
 *       [--command-timeout 100] [--failures 5]
 *
 * Reported per instance, from its /metrics and the answers: reads answered BYPASS, PATCHes
 * that said `X-Cache-Invalidation: failed`, Redis errors, times the circuit opened, the
 * slowest Redis call the app saw (`cache_l2_duration_seconds`, a histogram: "≤ bucket"), and
 * the event loop's longest delay (`nodejs_eventloop_lag_max_seconds`). Run it with a large
 * `--command-timeout` to see how long healthy calls take under this load; then with the
 * values you chose, to see them never trip.
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's README), per instance (a: 3291, b: 3292).
 */
export const FIGURES = [
  '{a,b}.{gets,getsPerSecond,p99Ms,maxMs,bypass,patches,invalidationFailed,errors,redisErrors,circuitOpened,redisCalls,over100Ms,over250Ms,slowestBucketMs,eventLoopDelayMaxMs}',
  'loadAverage',
];
const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '10' },
    'command-timeout': { type: 'string', default: String(DEFAULTS.commandTimeoutMs) },
    failures: { type: 'string', default: String(DEFAULTS.breaker.failureThreshold) },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const TIMEOUT_MS = Number(values['command-timeout']);
const FAILURES = Number(values.failures);
for (const [name, v] of Object.entries({ SECONDS, CONNECTIONS, TIMEOUT_MS, FAILURES })) {
  if (!(Number.isSafeInteger(v) && v >= 1)) {
    console.error(`✗ ${name.toLowerCase()} must be a positive whole number.`);
    process.exit(2);
  }
}
await requireServices();

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const PORTS = [3291, 3292];
const children: ChildProcess[] = [];
const stopAll = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
};
process.on('exit', stopAll);

const warnings = new Map<number, string[]>();
for (const port of PORTS) {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), MAIN, '--port', String(port)], {
    env: {
      ...process.env,
      COMMAND_TIMEOUT_MS: String(TIMEOUT_MS),
      BREAKER_FAILURES: String(FAILURES),
      INSTANCE: `bench-${port}`,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  warnings.set(port, lines);
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)));
}
async function up(port: number) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the instance on port ${port} did not start: ${warnings.get(port)?.join('\n')}`);
}
await Promise.all(PORTS.map(up));

/** Samples of the Prometheus text, by name and labels as written. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z0-9_:]+(?:\{[^}]*\})?) ([0-9.eE+-]+|NaN|\+Inf)$/.exec(line);
    if (m) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}
const scrape = async (port: number) => samples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
const sum = (s: Map<string, number>, prefix: string) =>
  [...s].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
/** The smallest `le` bucket that holds every Redis call (all operations), the count of calls, and how many took longer than 100 and 250 ms. */
function slowest(s: Map<string, number>): {
  le: string;
  slowestMs: number;
  calls: number;
  over100: number;
  over250: number;
} {
  const byLe = new Map<string, number>();
  for (const [k, v] of s) {
    const m = /^cache_l2_duration_seconds_bucket\{.*le="([^"]+)".*\}$/.exec(k);
    if (m) byLe.set(m[1] as string, (byLe.get(m[1] as string) ?? 0) + v);
  }
  const calls = byLe.get('+Inf') ?? 0;
  const les = [...byLe].filter(([le]) => le !== '+Inf').sort((a, b) => Number(a[0]) - Number(b[0]));
  const first = les.find(([, n]) => n === calls);
  return {
    le: first ? `${Number(first[0]) * 1000} ms` : `> ${Number(les.at(-1)?.[0]) * 1000} ms`,
    slowestMs: first ? Number(first[0]) * 1000 : Number.POSITIVE_INFINITY,
    calls,
    over100: calls - (byLe.get('0.1') ?? 0),
    over250: calls - (byLe.get('0.25') ?? 0),
  };
}

// The same sequence as the bench (seed 2024), long enough never to wrap in a run.
const paths = zipfSequence({ keys: 10_000, count: 200_000, s: 1, seed: 2024 }).map((id) => `/employees/${id}`);
const generators = PORTS.map(() => startLoadGenerator());
const before = await Promise.all(PORTS.map(scrape));

/** PATCHes, one at a time per instance, until the load is over. */
let loading = true;
async function patches(port: number) {
  let sent = 0;
  let failed = 0;
  let errors = 0;
  for (let i = 0; loading; i++) {
    const id = 1 + ((i * 7919 + port) % 500);
    try {
      const now = (await (await fetch(`http://127.0.0.1:${port}/employees/${id}`)).json()) as { status: string };
      const res = await fetch(`http://127.0.0.1:${port}/employees/${id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status: now.status }),
      });
      await res.arrayBuffer();
      sent++;
      if (res.headers.get('x-cache-invalidation') === 'failed') failed++;
      if (res.status !== 200) errors++;
    } catch {
      errors++;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { sent, failed, errors };
}

const say = values.json ? console.error : console.log;
const figures: Record<string, unknown> = {};
const machine = await machineLine();
figures.loadAverage = loadavg()[0];
say(
  `${machine}, load average ${loadavg()[0]?.toFixed(1)}\nTwo instances × (autocannon ${CONNECTIONS} connections, Zipf s=1 over 10,000 employees, ${SECONDS} s, + PATCHes every 50 ms); commandTimeout ${TIMEOUT_MS} ms, breaker opens after ${FAILURES} failures in a row. No fault injected.\n`,
);
const patching = PORTS.map(patches);
const loads: LoadResult[] = await Promise.all(
  PORTS.map((port, i) =>
    (generators[i] as ReturnType<typeof startLoadGenerator>).run({
      url: `http://127.0.0.1:${port}`,
      paths,
      connections: CONNECTIONS,
      durationSec: SECONDS,
    }),
  ),
);
loading = false;
const written = await Promise.all(patching);
const after = await Promise.all(PORTS.map(scrape));
await Promise.all(generators.map((g) => g.close()));

PORTS.forEach((port, i) => {
  const s = after[i] as Map<string, number>;
  const b = before[i] as Map<string, number>;
  const load = loads[i] as LoadResult;
  const p = written[i] as Awaited<ReturnType<typeof patches>>;
  const delta = (prefix: string) => sum(s, prefix) - sum(b, prefix);
  const { le, slowestMs, calls, over100, over250 } = slowest(s);
  const lagMax = s.get('nodejs_eventloop_lag_max_seconds') ?? Number.NaN;
  figures[i === 0 ? 'a' : 'b'] = {
    gets: load.requests,
    getsPerSecond: load.rps,
    p99Ms: load.latency.p99,
    maxMs: load.latency.max,
    bypass: load.xCache.BYPASS ?? 0,
    patches: p.sent,
    invalidationFailed: p.failed,
    errors: p.errors,
    redisErrors: delta('cache_l2_errors_total'),
    circuitOpened: delta('cache_circuit_transitions_total{to="open"}'),
    redisCalls: calls,
    over100Ms: over100,
    over250Ms: over250,
    slowestBucketMs: slowestMs,
    eventLoopDelayMaxMs: lagMax * 1000,
  };
  say(
    `instance ${port}: ${load.requests.toLocaleString('en')} GETs (${Math.round(load.rps).toLocaleString('en')}/s, p99 ${load.latency.p99.toFixed(0)} ms, max ${load.latency.max.toFixed(0)} ms), BYPASS ${load.xCache.BYPASS ?? 0}; ` +
      `PATCHes ${p.sent}, invalidation failed ${p.failed}, errors ${p.errors}; Redis errors ${delta('cache_l2_errors_total')}, circuit opened ${delta('cache_circuit_transitions_total{to="open"}')} times; ` +
      `Redis calls ${calls.toLocaleString('en')}: > 100 ms ${over100}, > 250 ms ${over250}, slowest ≤ ${le}; event loop delay max ${(lagMax * 1000).toFixed(0)} ms`,
  );
});
const timeouts = [...warnings.values()].flat().filter((l) => /timed out|circuit/i.test(l));
if (timeouts.length > 0) say(`\nlogs:\n  ${timeouts.slice(0, 10).join('\n  ')}`);
stopAll();
if (values.json) console.log(JSON.stringify(figures));
