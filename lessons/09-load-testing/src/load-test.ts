import { loadavg } from 'node:os';
import {
  type Bar,
  fixed,
  hitRatio,
  htmlReport,
  int,
  type LoadResult,
  machineLine,
  markdownTable,
  megabytes,
  percent,
  profileSequence,
  requireServices,
  type ServerStats,
  startLoadGenerator,
  startServer,
  svgBars,
  terminalBars,
  uniformSequence,
  wholeNumberFlag,
  writeOutput,
  zipfSequence,
} from '@cachelab/bench';
import { EMPLOYEE_ROWS, INVESTOR_COUNT } from '@cachelab/db';
import { CLASSIC_PAYMENTS, STRATEGIES_MODULE } from './strategies.ts';

/**
 * The lesson's load test: every strategy of the workshop, from cold, under the same fixed
 * sequence of requests, with uniform and with Zipf key popularity.
 *
 *   npx tsx lessons/09-load-testing/src/load-test.ts [--requests 20000] [--connections 10]
 *
 * For each strategy and each popularity: a new server process (empty L1) with its own Redis
 * prefix (empty L2), then `--requests` requests of `GET /employees/:id` drawn from 10,000
 * keys by a seeded generator, sent by autocannon from another process. Reported: requests/s,
 * p50/p99 latency, the hit ratio (from X-Cache), PostgreSQL queries per second (counted in
 * the server) and the server's CPU time per request. Each strategy runs with its lesson's
 * own TTLs (lesson 04's L1 lives 10 s).
 *
 * "+ 304" is lesson 07 with clients that already hold each employee's ETag and send
 * If-None-Match: the server's cache is warm (fetching the ETags filled it) and every answer
 * is a 304 with no body. Then the 17.8 MB classic answer under load, 200 vs 304.
 *
 * Tables and bars on stdout; charts in `.cachelab/load/load-test.html`.
 */
const REQUESTS = wholeNumberFlag('requests', 20_000);
const CONNECTIONS = wholeNumberFlag('connections', 10);
const SEED = 2024;

await requireServices();
const machine = await machineLine();
// One autocannon process, warm, for every run (a fresh one per run would set the pace of
// its first thousands of requests itself); closed before the report is written.
const generator = startLoadGenerator();
console.log(`lesson 09 load test — ${machine}, load average ${loadavg()[0]?.toFixed(1)}`);

/**
 * Two routes: `GET /employees/:id` (a primary-key lookup, ~1 ms of PostgreSQL: caching it
 * saves the database more than it saves time) and `GET /investors/:id/summary` (an
 * aggregate over a full scan, ~90 ms: here a hit is worth a hundred misses). The summary
 * runs are bounded by time (20 s), because the uncached one manages only tens of requests/s;
 * their second-by-second timeline shows the cache warming up.
 */
const workloads = [
  {
    route: 'employees',
    keys: EMPLOYEE_ROWS,
    path: (id: number) => `/employees/${id}`,
    bound: { amount: REQUESTS } as { amount?: number; durationSec?: number },
  },
  {
    route: 'summary',
    keys: INVESTOR_COUNT,
    path: (id: number) => `/investors/INV${String(id).padStart(5, '0')}/summary`,
    bound: { durationSec: 20 } as { amount?: number; durationSec?: number },
  },
];
const popularity = (keys: number) => ({
  uniform: uniformSequence({ keys, count: REQUESTS, seed: SEED }),
  zipf: zipfSequence({ keys, count: REQUESTS, s: 1, seed: SEED }),
});
for (const w of workloads) {
  for (const [name, seq] of Object.entries(popularity(w.keys))) {
    const p = profileSequence(seq);
    console.log(
      `${w.route.padEnd(9)} ${name.padEnd(7)}: ${int(w.keys)} keys, ${int(p.distinct)} distinct in ${int(p.requests)} requests, top 1% of keys = ${percent(p.top1PercentShare)} of requests, best hit ratio from cold ${percent(p.coldHitRatioCeiling)}`,
    );
  }
}
console.log(`${CONNECTIONS} connections; every run from cold: a new server process and an empty Redis prefix.\n`);

interface Row {
  route: string;
  strategy: string;
  label: string;
  popularity: string;
  load: LoadResult;
  stats: ServerStats;
}
const rows: Row[] = [];
const qps = (r: Pick<Row, 'stats' | 'load'>) => r.stats.queries / (r.load.durationMs / 1000);

function log(r: Row, outcome = `hits ${percent(hitRatio(r.load)).padStart(7)}`): void {
  console.log(
    `${r.route.padEnd(9)} ${r.label.padEnd(32)} ${r.popularity.padEnd(7)} ${int(r.load.rps).padStart(6)} req/s  p99 ${fixed(r.load.latency.p99).padStart(8)} ms  ${outcome}  ${int(qps(r)).padStart(6)} queries/s`,
  );
}

for (const w of workloads) {
  for (const name of ['uncached', 'lru', 'redis', 'two-level', 'http-cache']) {
    for (const [pop, seq] of Object.entries(popularity(w.keys))) {
      const server = await startServer({ module: STRATEGIES_MODULE, strategy: name });
      try {
        const paths = seq.map(w.path);
        await server.reset();
        const load = await generator.run({
          url: server.url,
          paths,
          connections: CONNECTIONS,
          ...w.bound,
          timeoutSec: 30,
        });
        const row = {
          route: w.route,
          strategy: name,
          label: server.label,
          popularity: pop,
          load,
          stats: await server.stats(),
        };
        rows.push(row);
        log(row);
      } finally {
        await server.close();
      }
    }
  }
}

// Lesson 07 with clients that revalidate: every client holds the current ETag.
for (const [pop, seq] of Object.entries(popularity(EMPLOYEE_ROWS))) {
  const server = await startServer({ module: STRATEGIES_MODULE, strategy: 'http-cache' });
  try {
    const paths = seq.map((id) => `/employees/${id}`);
    const headersByPath: Record<string, Record<string, string>> = {};
    for (const path of new Set(paths)) {
      const res = await fetch(server.url + path);
      await res.arrayBuffer();
      headersByPath[path] = { 'If-None-Match': res.headers.get('etag') ?? '' };
    }
    await server.reset();
    const load = await generator.run({
      url: server.url,
      paths,
      headersByPath,
      connections: CONNECTIONS,
      amount: paths.length,
    });
    const row = {
      route: 'employees',
      strategy: 'http-304',
      label: 'L1 + L2 + 304 (lesson 07, warm)',
      popularity: pop,
      load,
      stats: await server.stats(),
    };
    rows.push(row);
    log(row, `304s ${percent((load.statuses['3xx'] ?? 0) / load.requests).padStart(7)}`);
  } finally {
    await server.close();
  }
}

// The 17.8 MB answer under load: lesson 07 answering 200 (L1 hit) vs 304 (If-None-Match).
console.log('\nthe 17.8 MB classic answer under load, lesson 07, warm…');
const big: { what: string; load: LoadResult; stats: ServerStats }[] = [];
{
  const server = await startServer({ module: STRATEGIES_MODULE, strategy: 'http-cache' });
  try {
    const first = await fetch(server.url + CLASSIC_PAYMENTS);
    await first.arrayBuffer();
    const etag = first.headers.get('etag') ?? '';
    for (const [what, headers] of [
      ['200, the whole body (L1 hit)', {}],
      ['304, If-None-Match (L1 hit)', { 'If-None-Match': etag }],
    ] as const) {
      await server.reset();
      const load = await generator.run({
        url: server.url,
        paths: [CLASSIC_PAYMENTS],
        headersByPath: { [CLASSIC_PAYMENTS]: headers },
        connections: 4,
        amount: what.startsWith('200') ? 200 : 2_000,
        timeoutSec: 30,
      });
      big.push({ what, load, stats: await server.stats() });
    }
  } finally {
    await server.close();
  }
}

// ---- report ---------------------------------------------------------------------------
const label = (r: Row) => r.label;
const table = markdownTable(
  [
    { header: 'route', value: (r) => r.route },
    { header: 'strategy', value: label },
    { header: 'keys', value: (r) => r.popularity },
    { header: 'requests/s', value: (r) => int(r.load.rps), numeric: true },
    { header: 'p50 ms', value: (r) => fixed(r.load.latency.p50), numeric: true },
    { header: 'p99 ms', value: (r) => fixed(r.load.latency.p99), numeric: true },
    {
      header: 'hit ratio',
      value: (r) =>
        r.strategy === 'http-304'
          ? `${percent((r.load.statuses['3xx'] ?? 0) / r.load.requests)} 304`
          : percent(hitRatio(r.load)),
      numeric: true,
    },
    { header: 'db queries/s', value: (r) => int(qps(r)), numeric: true },
    {
      header: 'errors',
      value: (r) =>
        int(
          r.load.requests -
            (r.load.statuses['2xx'] ?? 0) -
            (r.load.statuses['3xx'] ?? 0) +
            r.load.errors +
            r.load.timeouts,
        ),
      numeric: true,
    },
  ],
  rows,
);
console.log(`\n${table}\n`);
const barsOf = (route: string, pick: (r: Row) => number, text: (r: Row) => string): Bar[] =>
  rows
    .filter((r) => r.route === route)
    .map((r) => ({ label: r.label, series: r.popularity, value: pick(r), text: text(r) }));
const charts = workloads.map((w) => ({
  route: w.route,
  title: w.route === 'employees' ? 'GET /employees/:id' : 'GET /investors/:id/summary',
  rps: barsOf(
    w.route,
    (r) => r.load.rps,
    (r) => `${int(r.load.rps)} req/s, ${r.strategy === 'http-304' ? '304s' : `hits ${percent(hitRatio(r.load), 0)}`}`,
  ),
  p99: barsOf(
    w.route,
    (r) => r.load.latency.p99,
    (r) => `${fixed(r.load.latency.p99)} ms`,
  ),
  db: barsOf(w.route, qps, (r) => `${int(qps(r))} queries/s`),
}));
for (const c of charts) {
  console.log(terminalBars(c.rps, { title: `${c.title}: requests/s (higher is better)` }));
  console.log('');
  console.log(terminalBars(c.db, { title: `${c.title}: PostgreSQL queries/s (lower is better)` }));
  console.log('');
}

// The summary runs second by second: a cold cache warms up while PostgreSQL is the limit.
const warming = rows.filter((r) => r.route === 'summary' && r.popularity === 'zipf');
const seconds = Math.max(...warming.map((r) => r.load.timeline.length));
const timelineTable = markdownTable(
  [
    { header: 'second', value: (i: number) => String(i + 1), numeric: true },
    ...warming.map((r) => ({
      header: r.label.replace(/ \(lesson (\d+)\)/, ' ($1)'),
      value: (i: number) => {
        const t = r.load.timeline[i];
        return t ? `${int(t.responses)} (${percent(t.responses ? t.hits / t.responses : 0, 0)} hits)` : '';
      },
      numeric: true,
    })),
  ],
  Array.from({ length: seconds }, (_, i) => i).filter((i) => i < 20),
);
console.log(
  `GET /investors/:id/summary, Zipf, requests completed each second (and the share of hits):\n\n${timelineTable}\n`,
);
const timelineBars: Bar[] = warming
  .filter((r) => r.strategy === 'uncached' || r.strategy === 'two-level')
  .flatMap((r) =>
    r.load.timeline.slice(0, 20).map((t, i) => ({
      label: `second ${String(i + 1).padStart(2)}`,
      series: r.label,
      value: t.responses,
      text: `${int(t.responses)} req, ${percent(t.responses ? t.hits / t.responses : 0, 0)} hits`,
    })),
  )
  .sort((a, b) => a.label.localeCompare(b.label));

const bigTable = markdownTable(
  [
    { header: 'answer', value: (b: (typeof big)[number]) => b.what },
    { header: 'requests/s', value: (b) => int(b.load.rps), numeric: true },
    { header: 'p99 ms', value: (b) => fixed(b.load.latency.p99, 1), numeric: true },
    { header: 'bytes/response', value: (b) => int(b.load.bytes / b.load.requests), numeric: true },
    { header: 'MB/s sent', value: (b) => fixed(b.load.bytes / 1e6 / (b.load.durationMs / 1000), 0), numeric: true },
    { header: 'CPU ms/req', value: (b) => fixed(b.stats.cpuMs / b.load.requests, 2), numeric: true },
  ],
  big,
);
console.log(`\n${CLASSIC_PAYMENTS}, 4 connections:\n\n${bigTable}`);

await generator.close();
const path = await writeOutput(
  'load/load-test.html',
  htmlReport('Lesson 09: load test', `${machine}. ${REQUESTS} requests per run, ${CONNECTIONS} connections.`, [
    ...charts.flatMap((c) => [
      {
        heading: `${c.title}: requests per second`,
        svg: svgBars(c.rps, { title: `${c.title}: requests/s (higher is better)` }),
      },
      { heading: `${c.title}: p99 latency`, svg: svgBars(c.p99, { title: `${c.title}: p99 ms (lower is better)` }) },
      {
        heading: `${c.title}: load on PostgreSQL`,
        svg: svgBars(c.db, { title: `${c.title}: queries/s (lower is better)` }),
      },
    ]),
    {
      heading: 'GET /investors/:id/summary, Zipf: the cache warming up',
      text: 'Requests completed each second of the 20 s run, uncached vs lesson 04.',
      svg: svgBars(timelineBars, { title: 'requests completed per second' }),
      table: timelineTable,
    },
    { heading: 'Every run', table },
    {
      heading: 'The 17.8 MB answer: 200 vs 304',
      svg: svgBars(
        big.map((b) => ({
          label: b.what,
          value: b.load.rps,
          text: `${int(b.load.rps)} req/s, ${megabytes(b.load.bytes / b.load.requests)}/response`,
        })),
        { title: 'requests/s, 4 connections' },
      ),
      table: bigTable,
    },
  ]),
);
console.log(`\nCharts: ${path} (open it in a browser). Load average now ${loadavg()[0]?.toFixed(1)}.`);
