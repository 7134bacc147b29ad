import {
  compareStrategies,
  fixed,
  htmlReport,
  int,
  machineLine,
  markdownTable,
  requireServices,
  type StrategyServer,
  startServer,
  svgBars,
  terminalBars,
  wholeNumberFlag,
  writeOutput,
  zipfSequence,
} from '@cachelab/bench';
import { EMPLOYEE_ROWS } from '@cachelab/db';
import { STRATEGIES_MODULE } from './strategies.ts';

/**
 * Where the time goes once caching works. Every server here answers `GET /employees/:id`
 * with the same bytes, from memory; none touches PostgreSQL or Redis. What is left is the
 * HTTP server, the framework and our own code around the lookup:
 *
 *   npx tsx lessons/09-load-testing/src/framework-limit.ts [--rounds 5] [--requests 10000]
 *
 * From bare node:http, through bare Express 5 and each piece of lesson 02's hit path
 * added one at a time (cost-ladder.ts), to lessons 02 and 04 themselves. Same Zipf
 * sequence, rounds in rotating order, medians; ratios within a round (see
 * @cachelab/bench's compare.ts). Charts in `.cachelab/load/framework-limit.html`.
 */
const ROUNDS = wholeNumberFlag('rounds', 5);
const REQUESTS = wholeNumberFlag('requests', 10_000);
const NAMES = [
  'node-http',
  'express',
  'ladder-timing',
  'ladder-validation',
  'ladder-key',
  'ladder-lookup',
  'lru',
  'two-level',
  'ladder-lean',
];

await requireServices();
const machine = await machineLine();
console.log(`lesson 09 framework limit — ${machine}`);
console.log(`${ROUNDS} rounds × ${int(REQUESTS)} requests, 10 connections.\n`);

const paths = zipfSequence({ keys: EMPLOYEE_ROWS, count: REQUESTS, s: 1, seed: 42 }).map((id) => `/employees/${id}`);
const everyKey = Array.from({ length: EMPLOYEE_ROWS }, (_, i) => `/employees/${i + 1}`);
const servers = new Map<string, StrategyServer>();
try {
  for (const name of NAMES) {
    servers.set(name, await startServer({ module: STRATEGIES_MODULE, strategy: name, settings: { ttl: 'long' } }));
  }
  const { results } = await compareStrategies({
    servers,
    names: NAMES,
    reference: 'express',
    paths,
    warmPaths: everyKey,
    rounds: ROUNDS,
    requests: REQUESTS,
    connections: 10,
    onRound: (line) => console.log(line),
  });

  const rows = results.map((r, i) => ({
    ...r,
    // What this rung adds to the one before it, in server CPU per request.
    addedUs:
      i >= 2 && r.name !== 'ladder-lean'
        ? r.cpuUsPerRequest - (results[i - 1]?.cpuUsPerRequest ?? Number.NaN)
        : Number.NaN,
  }));
  const table = markdownTable(
    [
      { header: 'server', value: (r: (typeof rows)[number]) => r.label },
      { header: 'requests/s', value: (r) => int(r.rps), numeric: true },
      { header: '× Express', value: (r) => `${fixed(r.ratio)}×`, numeric: true },
      { header: 'p99 ms', value: (r) => fixed(r.p99Ms), numeric: true },
      { header: 'CPU µs/req', value: (r) => int(r.cpuUsPerRequest), numeric: true },
      { header: 'CPU × Express', value: (r) => `${fixed(r.cpuRatio)}×`, numeric: true },
      {
        header: 'adds µs/req',
        value: (r) => (Number.isFinite(r.addedUs) ? `${r.addedUs >= 0 ? '+' : ''}${int(r.addedUs)}` : ''),
        numeric: true,
      },
    ],
    rows,
  );
  console.log(`\n${table}\n`);
  const bars = rows.map((r) => ({
    label: r.label,
    value: r.rps,
    text: `${int(r.rps)} req/s, ${int(r.cpuUsPerRequest)} µs CPU/req`,
  }));
  const cpuBars = rows.map((r) => ({ label: r.label, value: r.cpuUsPerRequest, text: `${int(r.cpuUsPerRequest)} µs` }));
  console.log(terminalBars(bars, { title: 'requests/s (higher is better)' }));
  console.log('');
  console.log(terminalBars(cpuBars, { title: 'server CPU per request, µs (lower is better)' }));
  const path = await writeOutput(
    'load/framework-limit.html',
    htmlReport(
      'Lesson 09: where the time goes once caching works',
      `${machine}. ${ROUNDS} rounds × ${REQUESTS} requests.`,
      [
        { heading: 'Requests per second', svg: svgBars(bars, { title: 'requests/s (higher is better)' }), table },
        {
          heading: 'Server CPU per request',
          svg: svgBars(cpuBars, { title: 'µs of CPU per request (lower is better)' }),
        },
      ],
    ),
  );
  console.log(`\nCharts: ${path} (open it in a browser).`);
} finally {
  await Promise.allSettled([...servers.values()].map((s) => s.close()));
}
