import { cpus, loadavg } from 'node:os';
import { hitRatio, type LoadResult, startLoadGenerator } from '@cachelab/bench/load';
import { machineLine } from '@cachelab/bench/output';
import { median } from '@cachelab/bench/stats';
import { profileSequence, zipfSequence } from '@cachelab/bench/zipf';
import { EMPLOYEE_ROWS } from '@cachelab/db';
import { c, mark, UserError } from '../output.ts';
import { bar, EMPLOYEE, type Measurement, ms, request, strip } from './demo-kit.ts';

/**
 * `cachelab demo 09` — lesson 09's idea, measured: the same requests against every
 * strategy of the workshop, in one run, side by side. Lesson 09's server mounts each
 * lesson's own app under its number (/01 uncached, /02 LRU, /03 Redis, /04 L1 + L2,
 * /07 + ETag) and its `GET /` lists them as `strategies`; demo.ts hands those here.
 *
 *  1. for each strategy: `GET <mount>/employees/42` once (a MISS, or uncached), then
 *     `hits` more (HITs), timed by this process, request to last byte;
 *  2. for each strategy, one after the other: a burst of BURST_REQUESTS requests of
 *     `GET <mount>/employees/:id`, the SAME seeded Zipf sequence over the 10,000 employees
 *     for every strategy (the lesson's load test draws its keys the same way), sent by
 *     autocannon from a process of its own (@cachelab/bench) over BURST_CONNECTIONS
 *     keep-alive connections; each strategy starts it cold but for employee 42 (its L1
 *     fresh, its Redis keys under this run's own prefix), so the hit ratio is the one this
 *     traffic earns;
 *  3. the machine and its load average before and after, because every figure above is
 *     shared with whatever else the machine was doing.
 *
 * Warm-up requests come first and are not reported (WARMUP_REQUESTS says why). Limits we
 * accept, to stay within ~20 s: 1,000 requests per strategy, not the lesson's
 * 20,000; the strategies share one server process (lesson 09's app, as `cachelab run 09`
 * serves it), so a burst runs after the previous one's garbage; and the classic payments
 * query is left out: uncached, each request takes over a second, and five strategies of
 * it would be most of the demo. The full picture is the lesson's load test, which runs
 * each strategy in a process of its own.
 */

/** Requests per strategy under the burst: the same paths, in the same order, for each. */
export const BURST_REQUESTS = 1_000;
/** Concurrent keep-alive connections of the burst (the lesson's load test uses 10 too). */
export const BURST_CONNECTIONS = 10;
/**
 * A burst that has not sent its requests after this many seconds stops there (a stalled
 * strategy must not stall the demo); the report then says how many it did send.
 */
export const BURST_CAP_SEC = 4;
/** Zipf's skew and the seed of the key sequence: lesson 09's load test uses the same. */
export const ZIPF_S = 1;
export const SEED = 2024;
/**
 * Warm-up requests, not reported. Before anything is timed, `GET /` (cheap): so that
 * autocannon's process has started and compiled, instead of taking CPU from the single
 * requests. Before the first burst, `GET /employees/:id` of the strategy without a cache
 * (another seed's sequence, and no cache to fill): the server's JIT would otherwise make
 * whichever strategy goes first look slower, and autocannon's own cold JIT set its pace.
 */
const WARMUP_START = 200;
export const WARMUP_REQUESTS = 500;

/** One strategy as lesson 09's `GET /` lists it. */
export interface StrategyMount {
  /** Where the lesson mounts it: `/04`. */
  path: string;
  /** The lesson that built it: `04-hierarchical`. */
  lesson: string;
  /** One line saying what it is. */
  what: string;
}

/** What the burst against one strategy measured (autocannon's responses, X-Cache of each). */
export interface Burst extends Omit<LoadResult, 'timeline'> {
  /** HITs among the responses that carried X-Cache; null when none did (no cache). */
  hitRatio: number | null;
}

export interface StrategyRun extends StrategyMount {
  /** `GET <path>/employees/42`, then the repeats. */
  requests: Measurement[];
  burst: Burst;
}

export interface StrategyComparison {
  /** CPUs, memory, Node.js and OS, as @cachelab/bench's machineLine says them. */
  machine: string;
  cores: number;
  /** The 1-minute load average when the first request left and after the last burst. */
  loadAverage: { before: number; after: number };
  /** What every strategy's burst was. */
  burst: {
    route: string;
    /** Requests planned per strategy (a burst that hits the cap sends fewer: see `burst.requests`). */
    requests: number;
    connections: number;
    capSec: number;
    /** Zipf over `keys` employees, skew `zipfS`, seeded with `seed`. */
    keys: number;
    zipfS: number;
    seed: number;
    /** Distinct employees in the sequence. */
    distinct: number;
    /** Requests sent before the first burst and not reported, and where (see WARMUP_REQUESTS). */
    warmup: { requests: number; path: string };
    /**
     * The best hit ratio a cache can reach on the sequence from where this run left it (every
     * employee asked for the first time misses once; employee 42 was cached before).
     */
    bestHitRatio: number;
  };
  runs: StrategyRun[];
  /** The lesson's full load test, as its `GET /` names it. */
  fullLoadTest: string | null;
  /** From the first request to the end of the last burst, ms. */
  elapsedMs: number;
}

/** The strategies in lesson 09's index, or null when `index.strategies` is not that list. */
export function strategiesOf(index: unknown): StrategyMount[] | null {
  const list = (index as { strategies?: unknown } | null)?.strategies;
  if (!Array.isArray(list) || list.length === 0) return null;
  const mounts: StrategyMount[] = [];
  for (const item of list) {
    const { path, lesson, what } = (item ?? {}) as Record<string, unknown>;
    if (typeof path !== 'string' || !/^\/[\w-]+$/.test(path)) return null;
    mounts.push({ path, lesson: typeof lesson === 'string' ? lesson : path.slice(1), what: String(what ?? '') });
  }
  return mounts;
}

/** Non-2xx responses and connection errors (autocannon counts its timeouts among them). */
export function burstErrors(b: Pick<Burst, 'requests' | 'statuses' | 'errors'>): number {
  return b.requests - (b.statuses['2xx'] ?? 0) + b.errors;
}

export async function runStrategies(
  base: string,
  mounts: StrategyMount[],
  options: { hits: number; fullLoadTest: string | null; onStep: (label: string) => void },
): Promise<StrategyComparison> {
  const before = loadavg()[0] ?? 0;
  const started = performance.now();
  const sequence = zipfSequence({ keys: EMPLOYEE_ROWS, count: BURST_REQUESTS, s: ZIPF_S, seed: SEED });
  const employee42 = Number(EMPLOYEE.split('/').at(-1));
  const profile = profileSequence(sequence);
  const firstTimes = profile.distinct - (sequence.includes(employee42) ? 1 : 0);
  const generator = startLoadGenerator();
  try {
    // First, so that autocannon's process has started (and compiled) before anything is
    // timed: its start would otherwise take CPU from the single requests below.
    await burst(generator, { url: base, paths: ['/'], amount: WARMUP_START }, 'the warm-up');
    options.onStep(`GET <strategy>${EMPLOYEE} once, then ${options.hits} more, for ${mounts.length} strategies…`);
    const sequences: Measurement[][] = [];
    for (const m of mounts) {
      const path = `${m.path}${EMPLOYEE}`;
      const requests: Measurement[] = [];
      for (let i = 0; i <= options.hits; i++) requests.push(strip(await request(base, `GET ${path}`, 'GET', path)));
      sequences.push(requests);
    }
    const uncached = mounts.find((_, i) => sequences[i]?.every((m) => m.cache === undefined));
    const warmup = uncached
      ? zipfSequence({ keys: EMPLOYEE_ROWS, count: WARMUP_REQUESTS, s: ZIPF_S, seed: SEED + 1 }).map(
          (id) => `${uncached.path}/employees/${id}`,
        )
      : ['/'];
    const warmupPath = uncached ? `${uncached.path}/employees/:id` : '/';
    options.onStep(`Warming up: ${WARMUP_REQUESTS} requests to ${warmupPath}, not reported…`);
    await burst(generator, { url: base, paths: warmup, amount: WARMUP_REQUESTS }, 'the warm-up');
    const runs: StrategyRun[] = [];
    for (const [i, m] of mounts.entries()) {
      options.onStep(
        `Burst ${i + 1}/${mounts.length}: ${BURST_REQUESTS.toLocaleString('en')} requests to ${m.path}/employees/:id (${m.lesson})…`,
      );
      const { timeline: _timeline, ...load } = await burst(
        generator,
        { url: base, paths: sequence.map((id) => `${m.path}/employees/${id}`), amount: BURST_REQUESTS },
        m.path,
      );
      runs.push({ ...m, requests: sequences[i] ?? [], burst: { ...load, hitRatio: hitRatio(load) ?? null } });
    }
    return {
      machine: await machineLine(),
      cores: cpus().length,
      loadAverage: { before, after: loadavg()[0] ?? 0 },
      burst: {
        route: '/employees/:id',
        requests: BURST_REQUESTS,
        connections: BURST_CONNECTIONS,
        capSec: BURST_CAP_SEC,
        keys: EMPLOYEE_ROWS,
        zipfS: ZIPF_S,
        seed: SEED,
        distinct: profile.distinct,
        warmup: { requests: WARMUP_REQUESTS, path: warmupPath },
        bestHitRatio: 1 - firstTimes / BURST_REQUESTS,
      },
      runs,
      fullLoadTest: options.fullLoadTest,
      elapsedMs: Math.round(performance.now() - started),
    };
  } finally {
    await generator.close();
  }
}

async function burst(
  generator: ReturnType<typeof startLoadGenerator>,
  plan: { url: string; paths: string[]; amount: number },
  what: string,
): Promise<LoadResult> {
  try {
    return await generator.run({
      ...plan,
      connections: BURST_CONNECTIONS,
      durationSec: BURST_CAP_SEC,
      timeoutSec: BURST_CAP_SEC,
    });
  } catch (err) {
    throw new UserError(
      `The load burst against ${what} failed: ${(err as Error).message} Try it alone: npx tsx lessons/09-load-testing/src/load-test.ts`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Rendering

const int = (n: number) => Math.round(n).toLocaleString('en');
const pct = (r: number | null) => (r === null ? '—' : `${(r * 100).toFixed(1)}%`);
const name = (r: StrategyMount) => `${r.path} ${r.lesson.replace(/^\d+-/, '')}`;
const isCached = (r: StrategyRun) => r.burst.hitRatio !== null || r.requests.some((m) => m.cache !== undefined);
/** The median client time of the requests after the first. */
export const thenMs = (r: StrategyRun) => median(r.requests.slice(1).map((m) => m.wallMs));

/** `HIT ×5`, `— ×5`, or `HIT ×4, MISS` for the requests after the first. */
function thenCell(r: StrategyRun): string {
  const groups: [string, number][] = [];
  for (const m of r.requests.slice(1)) {
    const cache = m.cache ?? '—';
    const last = groups.at(-1);
    if (last && last[0] === cache) last[1]++;
    else groups.push([cache, 1]);
  }
  return groups.map(([cache, n]) => (n > 1 ? `${cache} ×${n}` : cache)).join(', ');
}

function grid(header: string[], body: string[][], left: Set<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (left.has(i) ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  const colour = (text: string) =>
    text.replace(/\b(MISS|HIT|BYPASS|STALE)\b/g, (s) =>
      s === 'HIT' ? c.green(s) : s === 'MISS' ? c.yellow(s) : c.red(s),
    );
  return [c.bold(line(header)), ...body.map((r) => colour(line(r)))];
}

/** Lesson 09's report: one table, a bar per strategy, then what the figures say. */
export function renderStrategies(lessonName: string, s: StrategyComparison): string[] {
  const out: string[] = [''];
  const hits = Math.max(0, (s.runs[0]?.requests.length ?? 1) - 1);
  const b = s.burst;
  out.push(c.bold(`Lesson ${lessonName} — every strategy, the same requests, measured on this machine just now`));
  out.push(
    `Each strategy: GET <strategy>${EMPLOYEE} once, then ${hits} more; then a burst of ${int(b.requests)} requests of GET <strategy>${b.route}, the same for each: Zipf s=${b.zipfS} over ${int(b.keys)} employees (seed ${b.seed}, ${int(b.distinct)} distinct), ${b.connections} connections, autocannon in a process of its own; before the first burst, ${int(b.warmup.requests)} unreported requests to ${b.warmup.path} warmed up the server and autocannon.`,
  );
  const baseline = s.runs.find((r) => !isCached(r));
  const header = [
    'strategy',
    'first',
    'first ms',
    'then',
    'then ms',
    'req/s',
    ...(baseline ? [`vs ${baseline.path}`] : []),
    'p50 ms',
    'p99 ms',
    'hit ratio',
    'errors',
  ];
  const body = s.runs.map((r) => {
    const first = r.requests[0];
    return [
      name(r),
      first?.cache ?? '—',
      ms(first?.wallMs),
      thenCell(r),
      ms(thenMs(r)),
      int(r.burst.rps),
      ...(baseline ? [`${(r.burst.rps / Math.max(1, baseline.burst.rps)).toFixed(1)}×`] : []),
      ms(r.burst.latency.p50),
      ms(r.burst.latency.p99),
      pct(r.burst.hitRatio),
      int(burstErrors(r.burst)),
    ];
  });
  out.push('', ...grid(header, body, new Set([0, 1, 3])), '');

  const maxRps = Math.max(...s.runs.map((r) => r.burst.rps));
  const width = Math.max(...s.runs.map((r) => name(r).length));
  out.push(c.bold('Requests per second under the burst (higher is better)'));
  for (const r of s.runs)
    out.push(`  ${name(r).padEnd(width)}  ${bar(r.burst.rps, maxRps, 30).padEnd(31)} ${int(r.burst.rps)}`);
  out.push('');
  out.push(...answeredLines(s, hits), ...firstLines(s), ...burstLines(s, baseline), ...machineLines(s));
  return out;
}

/** Every strategy answered every request, or which did not. */
function answeredLines(s: StrategyComparison, hits: number): string[] {
  const out: string[] = [];
  const failing = s.runs.filter((r) => burstErrors(r.burst) > 0);
  for (const r of failing) {
    const non2xx = Object.entries(r.burst.statuses)
      .filter(([k]) => k !== '2xx')
      .map(([k, n]) => `${k}: ${int(n)}`);
    const parts = [
      ...non2xx,
      ...(r.burst.errors > 0 ? [`connection errors and timeouts: ${int(r.burst.errors)}`] : []),
    ];
    out.push(
      `${mark.fail} ${name(r)}: ${int(burstErrors(r.burst))} of ${int(r.burst.requests)} requests under the burst failed (${parts.join(', ')}).`,
    );
  }
  for (const r of s.runs.filter((r) => r.burst.requests < s.burst.requests))
    out.push(
      `${mark.warn} ${name(r)}'s burst reached its ${s.burst.capSec} s cap after ${int(r.burst.requests)} of ${int(s.burst.requests)} requests: its figures are over those.`,
    );
  const all = s.runs.every((r) => r.burst.requests === s.burst.requests);
  if (failing.length === 0)
    out.push(
      `${mark.ok} All ${s.runs.length} strategies answered: ${hits + 1} requests each to GET <strategy>${EMPLOYEE}, then ${all ? `${int(s.burst.requests)} each` : 'every request'} under the burst, every one with a 2xx.`,
    );
  return out;
}

/** The single requests: a MISS, then HITs, in every cache; what that saved. */
function firstLines(s: StrategyComparison): string[] {
  const out: string[] = [];
  const cached = s.runs.filter(isCached);
  const good = cached.filter(
    (r) => r.requests[0]?.cache === 'MISS' && r.requests.slice(1).every((m) => m.cache === 'HIT'),
  );
  for (const r of s.runs.filter((r) => !isCached(r)))
    out.push(
      `${mark.info} ${name(r)} has no cache: all ${r.requests.length} GETs of ${EMPLOYEE} went to PostgreSQL (db ${ms(Math.min(...r.requests.map((m) => m.timing.db ?? 0)))}–${ms(Math.max(...r.requests.map((m) => m.timing.db ?? 0)))} ms each), ${ms(thenMs(r))} ms median for the client.`,
    );
  if (good.length > 0)
    out.push(
      `${mark.ok} ${good.length === cached.length ? 'In every cache' : `In ${good.map((r) => r.path).join(', ')}`} the first GET was a MISS and the ones after it HITs; first → median of the HITs, for the client: ${good.map((r) => `${r.path} ${ms(r.requests[0]?.wallMs)} → ${ms(thenMs(r))} ms`).join(', ')}.`,
    );
  for (const r of cached.filter((r) => !good.includes(r))) {
    const first = r.requests[0]?.cache ?? 'not cached';
    out.push(
      `${mark.fail} ${name(r)}: the first GET was ${first}${first === 'BYPASS' ? ' (Redis did not answer in time)' : ''}, then ${thenCell(r)}; expected a MISS, then HITs.`,
    );
  }
  return out;
}

/** What the burst says: the hit ratio is the traffic's, the requests/s are the strategy's. */
function burstLines(s: StrategyComparison, baseline: StrategyRun | undefined): string[] {
  const out: string[] = [];
  const cached = s.runs.filter((r) => r.burst.hitRatio !== null);
  const ratios = cached.map((r) => r.burst.hitRatio as number);
  if (ratios.length > 0) {
    const low = Math.min(...ratios);
    const high = Math.max(...ratios);
    const range = high - low < 0.0005 ? pct(low) : `${pct(low)} to ${pct(high)}`;
    out.push(
      `${mark.info} Under the burst, ${cached.length === 1 ? 'the cache' : `the ${cached.length} caches`} served ${range} of the requests as HITs${high - low < 0.05 && cached.length > 1 ? ': the same requests, about the same hit ratio, whatever the strategy' : ''}. From cold, these ${int(s.burst.requests)} requests allow at most ${pct(s.burst.bestHitRatio)} (each employee's first request must miss): the traffic decides the hit ratio, the strategy decides what a hit and a miss cost.`,
    );
  }
  const best = [...s.runs].sort((a, b) => b.burst.rps - a.burst.rps)[0];
  if (best && baseline && best !== baseline)
    out.push(
      `${mark.info} Most requests per second: ${name(best)}, ${int(best.burst.rps)} req/s with p99 ${ms(best.burst.latency.p99)} ms, ${(best.burst.rps / Math.max(1, baseline.burst.rps)).toFixed(1)}× the ${int(baseline.burst.rps)} req/s (p99 ${ms(baseline.burst.latency.p99)} ms) of ${name(baseline)}, which has no cache.`,
    );
  else if (best && baseline)
    out.push(
      `${mark.warn} No cache answered more requests per second than ${name(baseline)}, which has none (${int(baseline.burst.rps)} req/s): a primary-key lookup is cheap for PostgreSQL, and every miss pays the cache's own costs on top${busy(s) ? '; on a busy machine, noise alone can do it: run it again' : ''}.`,
    );
  if (baseline)
    for (const r of cached.filter((r) => r.burst.rps < baseline.burst.rps && r !== best))
      out.push(
        `  ${name(r)} answered fewer requests per second than no cache (${int(r.burst.rps)} vs ${int(baseline.burst.rps)}): each of its misses does more than no cache at all (ask the cache, query PostgreSQL, write the cache), and ${pct(1 - (r.burst.hitRatio ?? 0))} of its requests missed${busy(s) ? '; on a busy machine, noise alone can do it: run it again' : ''}.`,
      );
  return out;
}

/** The load average reached 70% of the cores: other processes competed for the CPU. */
const busy = (s: StrategyComparison) => Math.max(s.loadAverage.before, s.loadAverage.after) >= 0.7 * s.cores;

function machineLines(s: StrategyComparison): string[] {
  const { before, after } = s.loadAverage;
  const out = [
    `${mark.info} Measured on ${s.machine}; load average ${before.toFixed(1)} before and ${after.toFixed(1)} after, on ${s.cores} cores; server, autocannon and this demo on the same machine (${(s.elapsedMs / 1000).toFixed(1)} s of requests).`,
  ];
  if (busy(s))
    out.push(
      `${mark.warn} The machine was busy (load average ${Math.max(before, after).toFixed(1)} on ${s.cores} cores): other processes took CPU from the server and from autocannon, so the requests/s are lower and noisier than on an idle machine, and two close strategies may swap places from run to run.`,
    );
  return out;
}
