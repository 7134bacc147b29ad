import {
  type Bar,
  fixed,
  htmlReport,
  int,
  type LoadResult,
  machineLine,
  markdownTable,
  requireServices,
  runLoad,
  type ServerStats,
  startServer,
  svgBars,
  terminalBars,
  writeOutput,
} from '@cachelab/bench';
import { CLASSIC_PAYMENTS, STRATEGIES_MODULE } from './strategies.ts';

/**
 * Stress until something breaks, and show what broke:
 *
 *   npx tsx lessons/09-load-testing/src/stress.ts [pool] [redis] [loop]
 *
 * 1. pool  — the uncached aggregate (`/investors/DEMO_INV/summary`, ~90 ms of PostgreSQL)
 *            at 1 → 400 connections. Ten pooled connections serve them all: the rest
 *            queue, latency grows with the queue, and past the pool's 3 s connection
 *            timeout the requests fail. Then lesson 02 at 400 connections, for contrast.
 * 2. redis — the 17.8 MB classic answer as a Redis hit (lesson 03) at 1 → 16 connections:
 *            Redis sends every copy over one connection per client, and lesson 03's
 *            client gives a command 250 ms. Then lesson 04 (L1 hits) at 16.
 * 3. loop  — lesson 04 serving employees from L1 while a client asks for 100,000-row
 *            answers that are not cached: perf_hooks.monitorEventLoopDelay in the server
 *            shows how long the loop is blocked, and the employees' p99 shows who pays.
 *
 * Every run is bounded in time; only 127.0.0.1. Charts in `.cachelab/load/stress.html`.
 */
const parts = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const want = (part: string) => parts.length === 0 || parts.includes(part);

await requireServices();
const machine = await machineLine();
console.log(`lesson 09 stress — ${machine}\n`);

interface Step {
  label: string;
  load: LoadResult;
  stats: ServerStats;
}
const sections: { heading: string; text: string; table: string; bars: Bar[]; barsTitle: string }[] = [];
const failed = (l: LoadResult) =>
  l.requests - (l.statuses['2xx'] ?? 0) - (l.statuses['3xx'] ?? 0) + l.errors + l.timeouts;

async function step(
  strategy: string,
  label: string,
  plan: { paths: string[]; connections: number; durationSec: number },
): Promise<Step> {
  const server = await startServer({ module: STRATEGIES_MODULE, strategy });
  try {
    // One request first: a cache strategy then serves hits only (and the JIT is warm).
    const warm = await fetch(server.url + plan.paths[0]);
    await warm.arrayBuffer();
    await server.reset();
    const load = await runLoad({ url: server.url, ...plan, timeoutSec: 20 });
    const stats = await server.stats();
    console.log(
      `${label.padEnd(40)} ${int(load.rps).padStart(6)} req/s  p50 ${fixed(load.latency.p50, 0).padStart(6)} ms  p99 ${fixed(load.latency.p99, 0).padStart(6)} ms  failed ${int(failed(load)).padStart(5)}  pool queue ≤ ${int(stats.poolWaitingMax)}  loop p99 ${fixed(stats.eventLoop.p99, 0)} ms`,
    );
    return { label, load, stats };
  } finally {
    await server.close();
  }
}

if (want('pool')) {
  console.log('1. Pool exhaustion: GET /investors/DEMO_INV/summary, uncached, pool of 10 connections');
  const paths = ['/investors/DEMO_INV/summary'];
  const steps: Step[] = [];
  for (const connections of [1, 10, 50, 200, 400]) {
    steps.push(await step('uncached', `uncached, ${connections} connections`, { paths, connections, durationSec: 8 }));
  }
  steps.push(await step('lru', 'LRU (lesson 02), 400 connections', { paths, connections: 400, durationSec: 8 }));
  const table = markdownTable(
    [
      { header: 'run', value: (s: Step) => s.label },
      {
        header: '200s per second',
        value: (s) => int((s.load.statuses['2xx'] ?? 0) / (s.load.durationMs / 1000)),
        numeric: true,
      },
      { header: 'p50 ms', value: (s) => fixed(s.load.latency.p50, 0), numeric: true },
      { header: 'p99 ms', value: (s) => fixed(s.load.latency.p99, 0), numeric: true },
      { header: '200s', value: (s) => int(s.load.statuses['2xx'] ?? 0), numeric: true },
      { header: 'failed', value: (s) => int(failed(s.load)), numeric: true },
      { header: 'statuses', value: (s) => JSON.stringify(s.load.statuses).replace(/"/g, '') },
      { header: 'pool queue (max)', value: (s) => int(s.stats.poolWaitingMax), numeric: true },
      { header: 'db queries/s', value: (s) => int(s.stats.queries / (s.load.durationMs / 1000)), numeric: true },
    ],
    steps,
  );
  console.log(`\n${table}\n`);
  sections.push({
    heading: '1. Pool exhaustion',
    text: 'Uncached aggregate at growing concurrency: throughput stays flat, latency grows with the queue, then requests fail.',
    table,
    barsTitle: 'p99 latency, ms',
    bars: steps.map((s) => ({
      label: s.label,
      value: s.load.latency.p99,
      text: `${fixed(s.load.latency.p99, 0)} ms, ${int(failed(s.load))} failed`,
    })),
  });
}

if (want('redis')) {
  console.log('2. Redis bandwidth: the 17.8 MB classic answer, a Redis hit (lesson 03)');
  const paths = [CLASSIC_PAYMENTS];
  const steps: Step[] = [];
  for (const connections of [1, 2, 4, 8, 16]) {
    steps.push(
      await step('redis', `Redis hit (lesson 03), ${connections} connections`, { paths, connections, durationSec: 6 }),
    );
  }
  steps.push(await step('two-level', 'L1 hit (lesson 04), 16 connections', { paths, connections: 16, durationSec: 6 }));
  const table = markdownTable(
    [
      { header: 'run', value: (s: Step) => s.label },
      { header: 'requests/s', value: (s) => fixed(s.load.rps, 1), numeric: true },
      { header: 'MB/s to clients', value: (s) => int(s.load.bytes / 1e6 / (s.load.durationMs / 1000)), numeric: true },
      { header: 'p50 ms', value: (s) => fixed(s.load.latency.p50, 0), numeric: true },
      { header: 'p99 ms', value: (s) => fixed(s.load.latency.p99, 0), numeric: true },
      { header: 'X-Cache', value: (s) => JSON.stringify(s.load.xCache).replace(/"/g, '') },
      { header: 'db queries', value: (s) => int(s.stats.queries), numeric: true },
      { header: 'loop p99 ms', value: (s) => fixed(s.stats.eventLoop.p99, 0), numeric: true },
    ],
    steps,
  );
  console.log(`\n${table}\n`);
  sections.push({
    heading: '2. Redis bandwidth',
    text: 'Each hit moves 17.8 MB from Redis to the app; past the client’s 250 ms command timeout a hit becomes a BYPASS to PostgreSQL.',
    table,
    barsTitle: 'MB/s delivered to clients',
    bars: steps.map((s) => ({
      label: s.label,
      value: s.load.bytes / 1e6 / (s.load.durationMs / 1000),
      text: `${int(s.load.bytes / 1e6 / (s.load.durationMs / 1000))} MB/s, ${JSON.stringify(s.load.xCache).replace(/"/g, '')}`,
    })),
  });
}

if (want('loop')) {
  console.log('3. Event-loop lag: lesson 04 serving employees from L1, with and without 100,000-row misses alongside');
  const employees = Array.from({ length: 200 }, (_, i) => `/employees/${i + 1}`);
  // A different `from` each time: every one is a miss (a query, then JSON.stringify of ~17 MB).
  const misses = Array.from({ length: 60 }, (_, i) => {
    const day = new Date(Date.UTC(2024, 0, 1 + i)).toISOString().slice(0, 10);
    return `/payments?investor=DEMO_INV&from=${day}&to=2025-01-01&limit=100000`;
  });
  const rows: { phase: string; employees: LoadResult; other?: LoadResult; stats: ServerStats }[] = [];
  for (const phase of ['employees only', '+ 1 client of 100,000-row misses', '+ 1 client of 100,000-row L1 hits']) {
    const server = await startServer({ module: STRATEGIES_MODULE, strategy: 'two-level' });
    try {
      for (const p of [...employees, CLASSIC_PAYMENTS]) await (await fetch(server.url + p)).arrayBuffer();
      await server.reset();
      const other = phase.includes('misses') ? misses : phase.includes('hits') ? [CLASSIC_PAYMENTS] : undefined;
      const [load, big] = await Promise.all([
        runLoad({ url: server.url, paths: employees, connections: 10, durationSec: 8 }),
        other ? runLoad({ url: server.url, paths: other, connections: 1, durationSec: 8, timeoutSec: 20 }) : undefined,
      ]);
      const stats = await server.stats();
      rows.push({ phase, employees: load, ...(big ? { other: big } : {}), stats });
      console.log(
        `${phase.padEnd(36)} employees ${int(load.rps)} req/s, p99 ${fixed(load.latency.p99, 1)} ms, max ${fixed(load.latency.max, 0)} ms; loop delay p99 ${fixed(stats.eventLoop.p99, 1)} ms, max ${fixed(stats.eventLoop.max, 0)} ms`,
      );
    } finally {
      await server.close();
    }
  }
  const table = markdownTable(
    [
      { header: 'phase', value: (r: (typeof rows)[number]) => r.phase },
      { header: 'employees req/s', value: (r) => int(r.employees.rps), numeric: true },
      { header: 'employees p50 ms', value: (r) => fixed(r.employees.latency.p50, 1), numeric: true },
      { header: 'employees p99 ms', value: (r) => fixed(r.employees.latency.p99, 1), numeric: true },
      { header: 'employees max ms', value: (r) => fixed(r.employees.latency.max, 0), numeric: true },
      { header: '100k-row answers', value: (r) => (r.other ? int(r.other.requests) : '—'), numeric: true },
      { header: 'loop delay p99 ms', value: (r) => fixed(r.stats.eventLoop.p99, 1), numeric: true },
      { header: 'loop delay max ms', value: (r) => fixed(r.stats.eventLoop.max, 0), numeric: true },
    ],
    rows,
  );
  console.log(`\n${table}\n`);
  sections.push({
    heading: '3. Event-loop lag',
    text: 'perf_hooks.monitorEventLoopDelay in the server: a 100,000-row miss blocks the loop while it serializes, and every cached request waits.',
    table,
    barsTitle: 'employees p99 latency, ms',
    bars: rows.map((r) => ({
      label: r.phase,
      value: r.employees.latency.p99,
      text: `${fixed(r.employees.latency.p99, 1)} ms (loop p99 ${fixed(r.stats.eventLoop.p99, 0)} ms)`,
    })),
  });
}

for (const s of sections) console.log(`${terminalBars(s.bars, { title: `${s.heading}: ${s.barsTitle}` })}\n`);
const path = await writeOutput(
  'load/stress.html',
  htmlReport(
    'Lesson 09: what breaks first',
    machine,
    sections.map((s) => ({
      heading: s.heading,
      text: s.text,
      svg: svgBars(s.bars, { title: s.barsTitle }),
      table: s.table,
    })),
  ),
);
console.log(`Charts: ${path} (open it in a browser).`);
