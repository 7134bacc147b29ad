import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compareStrategies, roundRatio } from './compare.ts';
import { cpuProfileFlags } from './cpu-profile.ts';
import { type LoadPlan, runLoad } from './load.ts';
import { machineLine, REPO_ROOT, requireServices, writeOutput } from './output.ts';
import { summarizeProfile } from './profile.ts';
import { fixed, htmlReport, int, markdownTable, megabytes, percent, svgBars, terminalBars } from './render.ts';
import { type StrategyServer, startServer } from './server.ts';
import { parseServerTiming } from './server-timing.ts';
import { median } from './stats.ts';
import { curlVersion, type TimingClient, timedGet } from './timed-request.ts';
import { collectValidators } from './validators.ts';
import { profileSequence, zipfSequence } from './zipf.ts';

/**
 * The benchmark suite: `npm run bench` (never part of `npm test`).
 *
 * Every strategy of the workshop serves `GET /employees/:id` in its own process, warmed so
 * that every key is cached; then, in rounds, each is loaded with the same seeded Zipf
 * sequence of requests by autocannon in another process. Each figure is the median over
 * the rounds, and each ratio is taken *within a round* against bare Express serving the
 * same bytes from a constant (the framework's limit on this machine), so that a machine
 * busy with something else slows both sides of a ratio alike; a second, identical Express
 * server measured like the strategies shows how precise that is (its ratio should be
 * 1.00×). Then the 100,000-row answer: PostgreSQL vs a Redis hit vs an L1 hit, end to end.
 *
 * The strategies are lesson 09's (lessons 01–08, bentocache, cacheable, the references) and
 * lesson 10's production cache, each a lesson's own createApp wired as its main.ts wires it, and
 * the capstone (exercise 16): the reference solution's, or with `--capstone exercises` the
 * learner's own.
 * Lesson 07 runs twice: with clients that hold nothing (a 200 with its ETag) and with clients
 * that revalidate (every request carries the If-None-Match of its path: a 304).
 *
 *   npm run bench                       7 rounds of 10,000 requests per strategy
 *   npm run bench -- --rounds 3 --requests 5000
 *   npm run bench -- --only production,stampede   those rows, with the reference and the A/A row
 *   npm run bench -- --only capstone --capstone exercises   your capstone (exercise 16), not the reference's
 *   npm run bench -- --list              the names of the rows
 *   npm run bench -- --profile two-level   also CPU-profile that server under the same load
 *
 * Results: the tables on stdout, `.cachelab/bench/latest.json`, `.cachelab/bench/latest.html`.
 */
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    requests: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '10' },
    profile: { type: 'string', multiple: true, default: [] },
    only: { type: 'string' },
    list: { type: 'boolean', default: false },
    capstone: { type: 'string', default: 'solutions' },
  },
});
const ROUNDS = Number(args.rounds);
const REQUESTS = Number(args.requests);
const CONNECTIONS = Number(args.connections);
for (const [name, value] of [
  ['--rounds', ROUNDS],
  ['--requests', REQUESTS],
  ['--connections', CONNECTIONS],
] as const) {
  if (!Number.isSafeInteger(value) || value < 1) {
    console.error(`✗ ${name} must be a positive whole number.`);
    process.exit(2);
  }
}

/** Lesson 09 lists every strategy of lessons 01–08; lesson 10, which comes after it, lists its own. */
const MODULE = join(REPO_ROOT, 'lessons/09-load-testing/src/strategies.ts');
const PRODUCTION_MODULE = join(REPO_ROOT, 'lessons/10-production/src/bench-strategy.ts');
/** The capstone (exercise 16) is an exercise: `--capstone exercises` measures the learner's, by default the reference solution's. */
if (args.capstone !== 'solutions' && args.capstone !== 'exercises') {
  console.error(
    `✗ --capstone must be "solutions" (the reference) or "exercises" (yours), got ${JSON.stringify(args.capstone)}.`,
  );
  process.exit(2);
}
const CAPSTONE_MODULE = join(REPO_ROOT, args.capstone, '16-capstone/src/bench-strategy.ts');
for (const module of [MODULE, PRODUCTION_MODULE, CAPSTONE_MODULE]) {
  if (!existsSync(module)) {
    console.error(`✗ The strategies to benchmark live in ${module}, which is missing.`);
    process.exit(1);
  }
}
const EMPLOYEES = 10_000;
const CLASSIC = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000';

/** The strategies of the hit table, in the order they are shown. `ref` is the denominator of ratios. */
const ALL_STRATEGIES = [
  'node-http',
  'express',
  'express-again',
  'lru',
  'two-level',
  'http-cache',
  'http-304',
  'stampede',
  'production',
  'capstone',
  'redis',
  'bentocache',
  'cacheable',
  'uncached',
];
const REF = 'express';
/**
 * A second, identical bare-Express server, measured like any strategy (an A/A comparison):
 * its ratio should be 1.00×, and how far it lands from it is the noise of this run.
 */
const CONTROL = 'express-again';
/**
 * Rows that are not a strategy of their own: the server a row starts (module and strategy
 * name) when it is not `MODULE`'s strategy of the same name, and the label it shows.
 */
const ROWS: Record<string, { module?: string; strategy?: string; label?: string }> = {
  [CONTROL]: { strategy: REF, label: 'bare Express 5 again (A/A: the noise)' },
  // Its own server, the same code as http-cache: its clients hold an ETag for every path.
  'http-cache': { label: 'L1 + L2 + ETag, a 200 (lesson 07)' },
  'http-304': { strategy: 'http-cache', label: 'L1 + L2 + ETag, a 304 (lesson 07)' },
  production: { module: PRODUCTION_MODULE },
  capstone: {
    module: CAPSTONE_MODULE,
    label: args.capstone === 'exercises' ? 'capstone, yours (exercise 16)' : 'capstone (exercise 16)',
  },
};
/** Rows whose clients revalidate: each request carries the If-None-Match of its path. */
const REVALIDATING = ['http-304'];
if (args.list) {
  console.log(ALL_STRATEGIES.join('\n'));
  process.exit(0);
}
/** `--only lru,redis`: those, the reference and the control, for a quicker look (the targets need them all). */
const only = args.only?.split(',').map((s) => s.trim());
const unknown = only?.filter((s) => !ALL_STRATEGIES.includes(s)) ?? [];
if (unknown.length > 0) {
  console.error(`✗ --only: no row named ${unknown.join(', ')}. The rows: ${ALL_STRATEGIES.join(', ')}.`);
  process.exit(2);
}
const HIT_STRATEGIES = only
  ? ALL_STRATEGIES.filter((s) => s === REF || s === CONTROL || only.includes(s))
  : ALL_STRATEGIES;

/**
 * Node flags of every server the suite starts, the references included. Between two of its
 * runs a server sits idle for as long as the other strategies take (10 to 60 s), and after
 * 8 s of idleness V8's memory reducer runs full collections and shrinks the heap: the next
 * run then starts in a state that a server under steady load never is in, and pays for it
 * in proportion to its heap (a cache's is bigger than bare Express's). Measured: with the
 * reducer, the L1 hits of lessons 02 and 04 read 0.91x and 0.90x in a full run; without it,
 * 0.96x and 0.92x (the A/A row at 1.01x both times, the warm-up burst in both). Runs of 30,000
 * requests back to back, with no idle time, had put both at Express's CPU per request
 * (medians 114 and 115 µs against 113).
 */
const SERVER_FLAGS = ['--no-memory-reducer'];

await requireServices();
const machine = await machineLine();
console.log(`cachelab bench — ${machine}`);
console.log(
  `${ROUNDS} rounds × ${int(REQUESTS)} requests per strategy, ${CONNECTIONS} connections, autocannon in its own process; servers run with ${SERVER_FLAGS.join(' ')}.\n`,
);

const sequence = zipfSequence({ keys: EMPLOYEES, count: REQUESTS, s: 1, seed: 42 });
const paths = sequence.map((id) => `/employees/${id}`);
const everyKey = Array.from({ length: EMPLOYEES }, (_, i) => `/employees/${i + 1}`);
const shape = profileSequence(sequence);

const servers = new Map<string, StrategyServer>();
const cleanup = async () => {
  await Promise.allSettled([...servers.values()].map((s) => s.close()));
};
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

try {
  for (const name of HIT_STRATEGIES) {
    process.stdout.write(`starting ${name}… `);
    const row = ROWS[name];
    const started = await startServer({
      module: row?.module ?? MODULE,
      strategy: row?.strategy ?? name,
      settings: { ttl: 'long' },
      execArgv: SERVER_FLAGS,
    });
    servers.set(name, { ...started, name, label: row?.label ?? started.label });
    console.log('ok');
  }
  const server = (name: string) => servers.get(name) as StrategyServer;

  // A revalidating client holds the ETag of every path it asks for: get each once (which also
  // fills that server's cache), and send it back as If-None-Match on every request.
  const headersByName = new Map<string, LoadPlan['headersByPath']>();
  for (const name of REVALIDATING.filter((n) => servers.has(n))) {
    headersByName.set(name, await collectValidators(server(name).url, new Set(paths)));
  }

  const loadBefore = loadavg()[0] ?? 0;
  const { results } = await compareStrategies({
    servers,
    names: HIT_STRATEGIES,
    reference: REF,
    paths,
    warmPaths: everyKey,
    noWarm: ['uncached'],
    headersByName,
    rounds: ROUNDS,
    requests: REQUESTS,
    connections: CONNECTIONS,
    onRound: (line) => console.log(line),
  });
  const loadAfter = loadavg()[0] ?? 0;

  // The 100,000-row answer: one request at a time, end to end, median of 5 after the first,
  // timed by curl when there is one (node's own client spends ~10 ms of JavaScript receiving 17.8 MB).
  const curl = await curlVersion();
  const client: TimingClient = curl ? 'curl' : 'node';
  const clientName = curl ?? `node ${process.version} http (no curl on the PATH)`;
  console.log('\nthe 100,000-row answer, one request at a time…');
  const paymentCases = [
    { name: 'uncached', what: 'PostgreSQL (lesson 01, every request)' },
    { name: 'redis', what: 'Redis hit (lesson 03)' },
    { name: 'two-level', what: 'L1 hit (lesson 04)' },
    { name: 'lru', what: 'L1 hit (lesson 02)' },
    { name: 'express', what: 'bare Express, constant bytes' },
    { name: 'node-http', what: 'bare node:http, constant bytes' },
  ];
  const payments: {
    name: string;
    what: string;
    firstMs: number;
    firstCache: string;
    ms: number;
    runsMs: number[];
    bytes: number;
    cache: string;
    serverTiming: string;
    status: number;
  }[] = [];
  for (const c of paymentCases) {
    if (!servers.has(c.name)) continue;
    const url = server(c.name).url + CLASSIC;
    const first = await timedGet(url, {}, client);
    const timed = [];
    for (let i = 0; i < 5; i++) timed.push(await timedGet(url, {}, client));
    const last = timed.at(-1) ?? first;
    payments.push({
      name: c.name,
      what: c.what,
      firstMs: first.ms,
      firstCache: first.cache ?? '—',
      ms: median(timed.map((t) => t.ms)),
      runsMs: timed.map((t) => Number(t.ms.toFixed(1))),
      bytes: last.bytes,
      cache: last.cache ?? '—',
      serverTiming: last.serverTiming,
      status: last.status,
    });
  }

  // Profiles, on request: the same load against a fresh server started with a CPU profiler.
  const profiles: {
    name: string;
    file: string;
    top: { name: string; selfMs: number; selfShare: number; totalMs: number; totalShare: number }[];
    lessons: { name: string; totalMs: number; totalShare: number; selfShare: number }[];
  }[] = [];
  for (const name of args.profile) {
    // One folder per strategy. cpuProfileFlags profiles the main thread, the one serving
    // requests, and names the lines of the TypeScript source (--cpu-prof would name line 1 of
    // tsx's compiled code for every function of a file).
    const dir = join(REPO_ROOT, '.cachelab/bench/profiles', name);
    await rm(dir, { recursive: true, force: true });
    const s = await startServer({
      module: ROWS[name]?.module ?? MODULE,
      strategy: ROWS[name]?.strategy ?? name,
      settings: { ttl: 'long' },
      execArgv: [...SERVER_FLAGS, ...cpuProfileFlags(dir)],
    });
    await runLoad({ url: s.url, paths: everyKey, connections: CONNECTIONS, amount: everyKey.length });
    const headers = REVALIDATING.includes(name)
      ? { headersByPath: await collectValidators(s.url, new Set(paths)) }
      : {};
    for (let i = 0; i < 3; i++) {
      await runLoad({ url: s.url, paths, connections: CONNECTIONS, amount: REQUESTS, ...headers });
    }
    await s.close();
    const files = await Promise.all(
      (await readdir(dir)).map(async (f) => ({ file: join(dir, f), size: (await stat(join(dir, f))).size })),
    );
    const file = files.sort((a, b) => b.size - a.size)[0]?.file;
    if (!file) continue;
    const summary = await summarizeProfile(file);
    profiles.push({
      name,
      file,
      top: summary.entries
        .filter((e) => e.name !== '(idle)')
        .slice(0, 30)
        .map((e) => ({
          name: e.name,
          selfMs: e.selfMs,
          selfShare: e.selfShare,
          totalMs: e.totalMs,
          totalShare: e.totalShare,
        })),
      lessons: summary.entries
        .filter((e) => e.name.includes('(lessons/') && e.totalMs > 0)
        .sort((a, b) => b.totalMs - a.totalMs)
        .slice(0, 30)
        .map((e) => ({ name: e.name, totalMs: e.totalMs, totalShare: e.totalShare, selfShare: e.selfShare })),
    });
  }

  // ---- report -------------------------------------------------------------------------
  const ref = results.find((r) => r.name === REF);
  console.log(
    `\nGET /employees/:id, Zipf (s = 1) over ${int(EMPLOYEES)} keys, ${int(shape.distinct)} distinct in ${int(REQUESTS)} requests, every key cached beforehand.`,
  );
  console.log(
    `Medians over ${ROUNDS} rounds. "× Express" = requests/s ÷ bare Express's in the same round; "CPU × Express" = Express's server CPU per request ÷ this one's.\n`,
  );
  const hitTable = markdownTable(
    [
      { header: 'strategy', value: (r) => r.label },
      { header: 'requests/s', value: (r) => int(r.rps), numeric: true },
      { header: '× Express', value: (r) => `${fixed(r.ratio)}×`, numeric: true },
      { header: 'p50 ms', value: (r) => fixed(r.p50Ms), numeric: true },
      { header: 'p99 ms', value: (r) => fixed(r.p99Ms), numeric: true },
      { header: 'p99 × Express', value: (r) => `${fixed(r.p99Ms / (ref?.p99Ms ?? Number.NaN))}×`, numeric: true },
      { header: 'CPU µs/req', value: (r) => int(r.cpuUsPerRequest), numeric: true },
      { header: 'CPU × Express', value: (r) => `${fixed(r.cpuRatio)}×`, numeric: true },
      { header: 'hits', value: (r) => percent(r.hitRatio), numeric: true },
      { header: 'db queries/s', value: (r) => int(r.queriesPerSecond), numeric: true },
    ],
    results,
  );
  console.log(hitTable);
  const hitBars = results.map((r) => ({
    label: r.label,
    value: r.rps,
    text: `${int(r.rps)} req/s  ${fixed(r.ratio)}× Express  p99 ${fixed(r.p99Ms)} ms`,
  }));
  console.log(`\n${terminalBars(hitBars, { title: 'requests/s (median)' })}`);

  console.log(`\nThe 100,000-row answer (${CLASSIC}), timed by ${clientName}, request to last byte, median of 5:\n`);
  const paymentsTable = markdownTable(
    [
      { header: 'served from', value: (p) => p.what },
      { header: 'X-Cache', value: (p) => p.cache },
      { header: 'ms', value: (p) => fixed(p.ms, 1), numeric: true },
      { header: 'runs (ms)', value: (p) => p.runsMs.map((x) => x.toFixed(0)).join(' ') },
      { header: 'bytes', value: (p) => `${int(p.bytes)} (${megabytes(p.bytes)})`, numeric: true },
      { header: 'Server-Timing', value: (p) => p.serverTiming.replace(/;desc="[^"]*"/g, '').replace(/;dur=/g, ' ') },
    ],
    payments,
  );
  console.log(paymentsTable);

  const get = (name: string) => results.find((r) => r.name === name);
  /** Share of a row's responses that were 304 Not Modified (3xx), over every round. */
  const notModifiedShare = (name: string) => {
    const statuses = get(name)?.statuses ?? {};
    const all = Object.values(statuses).reduce((a, b) => a + b, 0);
    return all === 0 ? 0 : (statuses['3xx'] ?? 0) / all;
  };
  const pay = (name: string) => payments.find((p) => p.name === name);
  const serverTotal = (name: string) => parseServerTiming(pay(name)?.serverTiming).total;
  const cpuOver = (a: string, b: string) =>
    (get(b)?.cpuUsPerRequest ?? Number.NaN) / (get(a)?.cpuUsPerRequest ?? Number.NaN);
  /**
   * Each target is judged on the figure it names (requests/s ratio within a round; ms to
   * the last byte), and shown with a second view of the same thing (server CPU per request;
   * Server-Timing total, i.e. the server's own time without the transfer).
   */
  const targets = [
    {
      rows: ['lru'],
      what: 'L1-hit endpoint (lesson 02) ≥ 0.95× bare Express',
      measured: get('lru')?.ratio,
      other: get('lru')?.cpuRatio,
      min: 0.95,
    },
    {
      rows: ['two-level'],
      what: 'two-level with L1 hits (lesson 04) ≥ 0.95× bare Express',
      measured: get('two-level')?.ratio,
      other: get('two-level')?.cpuRatio,
      min: 0.95,
    },
    {
      rows: ['http-cache'],
      what: 'L1 hit with its ETag, a 200 (lesson 07) ≥ 0.95× bare Express',
      measured: get('http-cache')?.ratio,
      other: get('http-cache')?.cpuRatio,
      min: 0.95,
    },
    {
      // Judged only when the clients did get 304s: an ETag that never matches would be a 200 row.
      rows: ['http-304'],
      what: '304 to If-None-Match (lesson 07) ≥ 1.00× bare Express sending the 200',
      measured: notModifiedShare('http-304') >= 0.99 ? get('http-304')?.ratio : undefined,
      other: get('http-304')?.cpuRatio,
      min: 1,
      note: `${percent(notModifiedShare('http-304'))} of its answers were 304`,
    },
    {
      rows: ['stampede'],
      what: 'stampede cache with L1 hits (lesson 08) ≥ 0.95× bare Express',
      measured: get('stampede')?.ratio,
      other: get('stampede')?.cpuRatio,
      min: 0.95,
    },
    {
      rows: ['production'],
      what: 'production cache with L1 hits (lesson 10: metrics, breaker) ≥ 0.95× bare Express',
      measured: get('production')?.ratio,
      other: get('production')?.cpuRatio,
      min: 0.95,
    },
    {
      rows: ['capstone'],
      what: 'capstone with L1 hits (exercise 16: every lesson’s pieces) ≥ 0.95× bare Express',
      measured: get('capstone')?.ratio,
      other: get('capstone')?.cpuRatio,
      min: 0.95,
    },
    {
      rows: ['redis'],
      what: 'Redis-only hit (lesson 03) ≥ 0.85× bare Express',
      measured: get('redis')?.ratio,
      other: get('redis')?.cpuRatio,
      min: 0.85,
    },
    {
      rows: ['redis'],
      what: '100,000 rows, Redis hit (lesson 03) < 60 ms',
      measured: pay('redis')?.ms,
      other: serverTotal('redis'),
      max: 60,
    },
    {
      rows: ['two-level'],
      what: '100,000 rows, L1 hit (lesson 04) < 10 ms',
      measured: pay('two-level')?.ms,
      other: serverTotal('two-level'),
      max: 10,
    },
    {
      rows: ['lru'],
      what: '100,000 rows, L1 hit (lesson 02) < 10 ms',
      measured: pay('lru')?.ms,
      other: serverTotal('lru'),
      max: 10,
    },
    {
      rows: ['two-level', 'bentocache'],
      what: 'final cache (lesson 04) hit throughput ≥ 1.15× bentocache',
      measured: servers.has('bentocache') ? roundRatio(results, 'two-level', 'bentocache') : undefined,
      other: cpuOver('two-level', 'bentocache'),
      min: 1.15,
    },
    {
      rows: ['two-level', 'cacheable'],
      what: 'final cache (lesson 04) hit throughput ≥ 1.15× cacheable',
      measured: servers.has('cacheable') ? roundRatio(results, 'two-level', 'cacheable') : undefined,
      other: cpuOver('two-level', 'cacheable'),
      min: 1.15,
    },
  ].map((t) => ({
    ...t,
    /** A row it needs was left out (`--only`): neither met nor missed. */
    skipped: t.rows.some((row) => !servers.has(row)),
    met:
      t.measured !== undefined &&
      Number.isFinite(t.measured) &&
      ('min' in t ? t.measured >= (t.min as number) : t.measured < (t.max as number)),
  }));
  console.log(
    `\nTargets (load average ${fixed(loadBefore, 1)} before the rounds, ${fixed(loadAfter, 1)} after, on ${cpus().length} cores):`,
  );
  for (const t of targets) {
    if (t.skipped) {
      console.log(`· ${t.what}: not measured in this run (--only)`);
      continue;
    }
    const [value, second] =
      'min' in t
        ? [
            `${fixed(t.measured ?? Number.NaN)}× requests/s`,
            `${fixed(t.other ?? Number.NaN)}× by server CPU per request`,
          ]
        : [
            `${fixed(t.measured ?? Number.NaN, 1)} ms to the last byte`,
            `server's own time ${fixed(t.other ?? Number.NaN, 1)} ms`,
          ];
    const note = 'note' in t ? `; ${t.note}` : '';
    console.log(`${t.met ? '✓' : '✗'} ${t.what}: measured ${value} (${second}${note})`);
  }
  const control = get(CONTROL);
  if (control) {
    const spread = control.ratioRounds.map((x) => fixed(x)).join(' ');
    console.log(
      `The noise of this run: a second, identical bare Express measured ${fixed(control.ratio)}× (rounds: ${spread}).`,
    );
    const noise = Math.max(Math.abs(1 - control.ratio), 0.02);
    const close = targets.filter(
      (t) => 'min' in t && Math.abs((t.measured ?? Number.NaN) - (t.min as number)) <= noise,
    );
    if (close.length > 0)
      console.log(
        `Within that noise of its target: ${close.map((t) => t.what.split(' ≥')[0]).join('; ')}. Run again, or with more --rounds, before concluding.`,
      );
  }

  for (const p of profiles) {
    console.log(`\nCPU profile of ${p.name} (${p.file}):`);
    console.log('  top self time (share of the busy samples):');
    for (const e of p.top.slice(0, 12)) {
      console.log(`  ${fixed(e.selfShare * 100, 1).padStart(5)} %  ${e.name}`);
    }
    console.log("  the workshop's own code, inclusive (itself and what it calls):");
    for (const e of p.lessons.slice(0, 15)) {
      console.log(`  ${fixed(e.totalShare * 100, 1).padStart(5)} %  ${e.name}`);
    }
  }

  const json = {
    generatedAt: new Date().toISOString(),
    machine,
    command: `npm run bench -- --rounds ${ROUNDS} --requests ${REQUESTS} --connections ${CONNECTIONS}`,
    serverFlags: SERVER_FLAGS,
    loadAverage: { before: loadBefore, after: loadAfter, cores: cpus().length },
    workload: {
      route: 'GET /employees/:id',
      keys: EMPLOYEES,
      zipfS: 1,
      seed: 42,
      requests: REQUESTS,
      distinct: shape.distinct,
      connections: CONNECTIONS,
      rounds: ROUNDS,
    },
    strategies: results,
    paymentsClient: clientName,
    payments,
    targets,
    profiles,
  };
  const jsonPath = await writeOutput('bench/latest.json', `${JSON.stringify(json, null, 2)}\n`);
  const htmlPath = await writeOutput(
    'bench/latest.html',
    htmlReport('cachelab bench', `${machine}. ${json.command}. ${json.generatedAt}.`, [
      {
        heading: 'Cache hits: requests/s per strategy',
        text: `GET /employees/:id, Zipf over ${EMPLOYEES} keys, every key cached; medians of ${ROUNDS} rounds; ratio to bare Express in the same round.`,
        svg: svgBars(hitBars, { title: 'requests/s (median of rounds)' }),
        table: hitTable,
      },
      {
        heading: 'p99 latency',
        svg: svgBars(
          results.map((r) => ({ label: r.label, value: r.p99Ms, text: `${fixed(r.p99Ms)} ms` })),
          { title: 'p99 latency, ms (lower is better)' },
        ),
      },
      {
        heading: 'The 100,000-row answer',
        text: `Timed by ${clientName}, request to last byte, median of 5.`,
        svg: svgBars(
          payments.map((p) => ({ label: p.what, value: p.ms, text: `${fixed(p.ms, 1)} ms` })),
          { title: 'The 100,000-row answer: ms to the last byte (lower is better)' },
        ),
        table: paymentsTable,
      },
    ]),
  );
  console.log(`\nWrote ${jsonPath} and ${htmlPath}.`);
} finally {
  await cleanup();
}
