import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cpuProfileFlags,
  fixed,
  hitRatio,
  int,
  type LoadResult,
  machineLine,
  markdownTable,
  median,
  profileSequence,
  REPO_ROOT,
  requireServices,
  type ServerStats,
  type StrategyServer,
  startLoadGenerator,
  startServer,
  summarizeProfile,
  wholeNumberFlag,
  zipfSequence,
} from '@cachelab/bench';
import { PAGES, pagePath } from './strategies.ts';

/**
 * Lesson 09's tools, pointed at your exercise 15:
 *
 *   npx tsx exercises/15-find-the-bottleneck/load.ts [--profile] [--rounds 3] [--requests 2000]
 *
 * Starts your `src/app.ts` and bare Express serving the same bytes, each in a process of its
 * own, and loads both with the same seeded Zipf sequence of payments pages (10 connections,
 * one load generator in a third process). Your server starts cold: its first run says what
 * hit ratio it reaches against the best any cache can reach on those requests. Then rounds,
 * each a warm run of both servers; per server, the medians of the rounds: requests/s, p99,
 * PostgreSQL queries per request, event-loop delay and server CPU per request. `--profile` then loads a
 * fresh server of yours under a CPU profiler and prints where its CPU time went, function by
 * function, each named by its line in your TypeScript.
 * Each run stops after 20 s, whatever it has sent (its line then says so).
 */
const ROUNDS = wholeNumberFlag('rounds', 3);
const REQUESTS = wholeNumberFlag('requests', 2000);
const PROFILE = process.argv.includes('--profile');
const CONNECTIONS = 10;
const CAP_SEC = 20;
const MODULE = fileURLToPath(new URL('./strategies.ts', import.meta.url));
/** As `npm run bench` runs its servers: no V8 memory reducer (packages/bench/README.md#method). */
const SERVER_FLAGS = ['--no-memory-reducer'];
const NAMES = ['express', 'yours'] as const;

await requireServices();
console.log(`exercise 15, find the bottleneck — ${await machineLine()}`);
const sequence = zipfSequence({ keys: PAGES.length, count: REQUESTS, s: 1, seed: 15 }).map((i) =>
  pagePath(PAGES[i - 1] as (typeof PAGES)[number]),
);
console.log(
  `${PAGES.length} pages of up to 1,000 payments, ${int(REQUESTS)} requests per run (Zipf), ${CONNECTIONS} connections, ${ROUNDS} rounds. Starting the servers (bare Express reads its pages first)…\n`,
);

type Run = { load: LoadResult; stats: ServerStats };
const runs = new Map<string, Run[]>(NAMES.map((n) => [n, []]));
let cold: Run | undefined;
const servers = new Map<string, StrategyServer>();
const generator = startLoadGenerator();

/** One run of the sequence against a server, with its counters from that run only. */
async function measure(name: string): Promise<Run> {
  const server = servers.get(name) as StrategyServer;
  await server.reset();
  const load = await generator.run({
    url: server.url,
    paths: sequence,
    connections: CONNECTIONS,
    amount: REQUESTS,
    durationSec: CAP_SEC,
  });
  return { load, stats: await server.stats() };
}
try {
  for (const name of NAMES)
    servers.set(
      name,
      await startServer({ module: MODULE, strategy: name, execArgv: SERVER_FLAGS, timeoutMs: 180_000 }),
    );
  // Bare Express's JIT is warmed by one run first. Yours starts cold, on purpose: its first run
  // is the cold one, whose hit ratio is read against the best from cold; the rounds that follow,
  // each a run of both servers in alternating order, are warm.
  const reference = servers.get('express') as StrategyServer;
  await generator.run({ url: reference.url, paths: sequence, connections: CONNECTIONS, amount: REQUESTS });
  cold = await measure('yours');
  console.log(`cold    yours   ${describeRun(cold)}`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of round % 2 === 1 ? [...NAMES].reverse() : NAMES) {
      const run = await measure(name);
      runs.get(name)?.push(run);
      console.log(`round ${round} ${name.padEnd(7)} ${describeRun(run)}`);
    }
  }
} finally {
  await generator.close();
  for (const server of servers.values()) await server.close();
}

function describeRun({ load, stats }: Run): string {
  const ratio = hitRatio(load);
  const statuses = Object.entries(load.statuses)
    .map(([s, n]) => `${s}:${n}`)
    .join(',');
  // Fewer than planned, and the time is up: the run met its cap (not an error).
  const stopped =
    load.requests < REQUESTS && load.durationMs >= (CAP_SEC - 1) * 1000 ? ` (stopped at ${CAP_SEC} s)` : '';
  return `${int(load.rps)} req/s, p99 ${fixed(load.latency.p99)} ms, ${int(load.requests)} requests${stopped} {${statuses}}, X-Cache ${JSON.stringify(load.xCache)}${ratio === undefined ? '' : ` (${fixed(ratio * 100, 1)} % hits)`}, ${int(stats.queries)} queries`;
}

const expressRuns = runs.get('express') ?? [];
const rows = NAMES.map((name) => {
  const warm = runs.get(name) ?? [];
  const first = name === 'yours' ? cold : undefined;
  return {
    label: name === 'yours' ? 'your src/app.ts' : 'bare Express 5 (same bytes)',
    rps: median(warm.map((r) => r.load.rps)),
    ratio: median(warm.map((r, i) => r.load.rps / (expressRuns[i]?.load.rps ?? Number.NaN))),
    p99: median(warm.map((r) => r.load.latency.p99)),
    coldHits: first ? hitRatio(first.load) : undefined,
    ceiling: first ? profileSequence(sequence.slice(0, first.load.requests).map(keyOf)).coldHitRatioCeiling : 0,
    warmHits: median(warm.map((r) => hitRatio(r.load) ?? Number.NaN)),
    queriesPerRequest: median(warm.map((r) => r.stats.queries / Math.max(1, r.load.requests))),
    loopP99: median(warm.map((r) => r.stats.eventLoop.p99)),
    cpuUs: median(warm.map((r) => (r.stats.cpuMs * 1000) / Math.max(1, r.load.requests))),
  };
});
const pct = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '—' : `${fixed(v * 100, 1)} %`);
console.log(
  `\n${markdownTable(
    [
      { header: 'server', value: (r: (typeof rows)[number]) => r.label },
      { header: 'requests/s', value: (r) => int(r.rps), numeric: true },
      { header: '× Express', value: (r) => `${fixed(r.ratio)}×`, numeric: true },
      { header: 'p99 ms', value: (r) => fixed(r.p99), numeric: true },
      { header: 'hits, cold run', value: (r) => pct(r.coldHits), numeric: true },
      { header: 'best from cold', value: (r) => pct(r.coldHits === undefined ? undefined : r.ceiling), numeric: true },
      { header: 'hits, warm', value: (r) => pct(r.warmHits), numeric: true },
      { header: 'db queries/request, warm', value: (r) => fixed(r.queriesPerRequest, 2), numeric: true },
      { header: 'loop delay p99 ms', value: (r) => fixed(r.loopP99), numeric: true },
      { header: 'CPU µs/req', value: (r) => int(r.cpuUs), numeric: true },
    ],
    rows,
  )}\n`,
);
console.log(
  "Medians of the warm rounds; the hit ratio from cold is the cold run's. A cache that works reaches about the best hit ratio from cold (a few misses more are requests that came while their page was loading: lesson 08), 100 % warm, sends no query on a hit, and costs about what bare Express costs per request.",
);

if (PROFILE) {
  // One folder, one profile: cpuProfileFlags profiles the main thread, the one serving requests,
  // and names each function by its line in the TypeScript source.
  const dir = join(REPO_ROOT, '.cachelab/load/profile-15');
  await rm(dir, { recursive: true, force: true });
  console.log(`\nProfiling your server under the same load (${ROUNDS} ${ROUNDS === 1 ? 'run' : 'runs'})…`);
  const server = await startServer({
    module: MODULE,
    strategy: 'yours',
    execArgv: [...SERVER_FLAGS, ...cpuProfileFlags(dir)],
  });
  const profiler = startLoadGenerator();
  try {
    for (let i = 0; i < ROUNDS; i++)
      await profiler.run({
        url: server.url,
        paths: sequence,
        connections: CONNECTIONS,
        amount: REQUESTS,
        durationSec: CAP_SEC,
      });
  } finally {
    await profiler.close();
    await server.close();
  }
  const files = await Promise.all(
    (await readdir(dir)).map(async (f) => ({ file: join(dir, f), size: (await stat(join(dir, f))).size })),
  );
  const file = files.sort((a, b) => b.size - a.size)[0]?.file;
  if (file) {
    const { entries } = await summarizeProfile(file);
    console.log(`CPU profile (${file}; open it in Chrome DevTools → Performance, or VS Code):`);
    console.log('  top self time (share of the busy samples):');
    for (const e of entries.filter((x) => x.name !== '(idle)').slice(0, 12))
      console.log(`  ${fixed(e.selfShare * 100, 1).padStart(5)} %  ${e.name}`);
    console.log('  your code, inclusive (itself and what it calls):');
    for (const e of entries
      .filter((x) => x.name.includes('(exercises/') && x.totalMs > 0)
      .sort((a, b) => b.totalMs - a.totalMs)
      .slice(0, 10))
      console.log(`  ${fixed(e.totalShare * 100, 1).padStart(5)} %  ${e.name}`);
  }
}

/** The page a path asks for, as a number (profileSequence counts distinct keys). */
function keyOf(path: string): number {
  return PAGES.findIndex((q) => pagePath(q) === path);
}
