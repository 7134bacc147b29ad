import { hitRatio, type LoadPlan, type LoadResult, startLoadGenerator } from './load.ts';
import { int } from './render.ts';
import type { StrategyServer } from './server.ts';
import { median } from './stats.ts';
import type { ServerStats } from './strategy.ts';

/**
 * Compare strategies under the same load, in rounds, fairly on a shared machine:
 *
 * 1. every server is warmed with `warmPaths` (every key cached) and then with part of the
 *    sequence (the JIT compiles the hot path);
 * 2. each round runs every strategy once, in an order rotated every round, all loaded by
 *    the same load-generator process (warm, like the servers), each measured run right
 *    after 2,000 unmeasured requests to the same server;
 * 3. each figure is the median over the rounds, and each ratio is computed *within a
 *    round* (this strategy's run ÷ the reference's run of the same round, seconds apart):
 *    when something else on the machine slows a round down, it slows both sides of that
 *    round's ratio.
 *
 * How precise that is on a shared machine, the suite shows by measuring a second,
 * identical reference server like any strategy (an A/A comparison): its ratio should be
 * 1.00×, and how far it lands from it is the noise of the run. (We also tried running the
 * reference before and after every strategy, `ref A ref B ref …`: twice the time, and in
 * A/A comparisons on this 2-core VM no less noisy, so we kept one run per round.)
 *
 * Two ratios are given. `ratio` is requests/s ÷ the reference's: what the brief of a
 * benchmark usually asks. `cpuRatio` is the reference's server CPU time per request ÷
 * this one's: the throughput each would reach with a core of its own. On a machine whose
 * load average is above its core count, the first measures the scheduler as much as the
 * code; the second does not (but it leaves out work done in other processes: Redis's).
 */
export interface CompareOptions {
  servers: ReadonlyMap<string, StrategyServer>;
  /** Strategy names, in the order of the results. */
  names: readonly string[];
  /** The denominator of the ratios. Must be in `names`. */
  reference: string;
  paths: readonly string[];
  /**
   * Extra request headers per strategy, by path (load.ts's `headersByPath`), sent on every
   * request to that strategy: e.g. `If-None-Match` with the ETag a revalidating client holds.
   */
  headersByName?: ReadonlyMap<string, LoadPlan['headersByPath']>;
  /** Requested once before the rounds, by every strategy except those in `noWarm`. */
  warmPaths?: readonly string[];
  noWarm?: readonly string[];
  rounds: number;
  requests: number;
  connections: number;
  /** Called after each round with a one-line summary. */
  onRound?: (line: string) => void;
}

export interface Comparison {
  name: string;
  label: string;
  rps: number;
  rpsRounds: number[];
  p50Ms: number;
  p99Ms: number;
  ratio: number;
  ratioRounds: number[];
  cpuUsPerRequest: number;
  cpuRatio: number;
  hitRatio: number | undefined;
  queriesPerSecond: number;
  /** Responses per status class over every round, e.g. { '2xx': 70000 } or { '3xx': 70000 }. */
  statuses: Record<string, number>;
  /** Responses that were neither 2xx nor 3xx, plus socket errors and timeouts, over every round. */
  failed: number;
  requests: number;
  bytesPerResponse: number;
  eventLoopP99Ms: number;
}

export interface CompareRun {
  load: LoadResult;
  stats: ServerStats;
}

export async function compareStrategies(
  options: CompareOptions,
): Promise<{ results: Comparison[]; runs: Map<string, CompareRun[]> }> {
  const { servers, names, reference, paths, rounds, requests, connections } = options;
  const server = (name: string) => {
    const s = servers.get(name);
    if (!s) throw new TypeError(`compareStrategies: no server for "${name}".`);
    return s;
  };
  if (!names.includes(reference))
    throw new TypeError(`compareStrategies: the reference "${reference}" is not compared.`);

  // One load generator for every run, warmed up with the servers: a fresh one per run
  // would start with a cold JIT and set the pace of its first thousands of requests itself.
  const generator = startLoadGenerator();
  const runs = new Map<string, CompareRun[]>(names.map((n) => [n, []]));
  const warmup = Math.min(2000, Math.ceil(requests / 5));
  const headers = (name: string) => {
    const byPath = options.headersByName?.get(name);
    return byPath ? { headersByPath: byPath } : {};
  };
  try {
    for (const name of names) {
      if (options.warmPaths && !options.noWarm?.includes(name)) {
        await generator.run({
          url: server(name).url,
          paths: options.warmPaths,
          connections,
          amount: options.warmPaths.length,
          ...headers(name),
        });
      }
    }
    for (const name of names) {
      const plan = { url: server(name).url, paths, connections, amount: Math.min(requests, 3000), ...headers(name) };
      await generator.run(plan);
    }

    for (let round = 1; round <= rounds; round++) {
      for (const name of roundOrder(names, round)) {
        const s = server(name);
        // A short unmeasured burst first: the server sat idle while the others ran, and the
        // measured run should start from the state of a server under load, not of an idle one.
        await generator.run({ url: s.url, paths, connections, amount: warmup, ...headers(name) });
        await s.reset();
        const load = await generator.run({ url: s.url, paths, connections, amount: requests, ...headers(name) });
        runs.get(name)?.push({ load, stats: await s.stats() });
      }
      options.onRound?.(
        `round ${round}/${rounds}: ${names.map((n) => `${n} ${int(runs.get(n)?.at(-1)?.load.rps ?? 0)}`).join(' · ')}`,
      );
    }
  } finally {
    await generator.close();
  }
  const cpuPerRequest = (r: CompareRun) => (r.stats.cpuMs * 1000) / Math.max(1, r.load.requests);
  const ref = runs.get(reference) as CompareRun[];
  const results = names.map((name): Comparison => {
    const own = runs.get(name) as CompareRun[];
    const ratio = own.map((r, i) => r.load.rps / (ref[i] as CompareRun).load.rps);
    const cpuRatio = own.map((r, i) => cpuPerRequest(ref[i] as CompareRun) / cpuPerRequest(r));
    const xCache: Record<string, number> = {};
    for (const r of own) for (const [k, v] of Object.entries(r.load.xCache)) xCache[k] = (xCache[k] ?? 0) + v;
    const statuses: Record<string, number> = {};
    for (const r of own) for (const [k, v] of Object.entries(r.load.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
    return {
      name,
      label: server(name).label,
      rps: median(own.map((r) => r.load.rps)),
      rpsRounds: own.map((r) => Math.round(r.load.rps)),
      p50Ms: median(own.map((r) => r.load.latency.p50)),
      p99Ms: median(own.map((r) => r.load.latency.p99)),
      ratio: median(ratio),
      ratioRounds: ratio.map((x) => Number(x.toFixed(3))),
      cpuUsPerRequest: median(own.map(cpuPerRequest)),
      cpuRatio: median(cpuRatio),
      hitRatio: hitRatio({ xCache }),
      queriesPerSecond: median(own.map((r) => r.stats.queries / (r.load.durationMs / 1000))),
      statuses,
      failed: own.reduce(
        (n, r) =>
          n +
          r.load.requests -
          (r.load.statuses['2xx'] ?? 0) -
          (r.load.statuses['3xx'] ?? 0) +
          r.load.errors +
          r.load.timeouts,
        0,
      ),
      requests: own.reduce((n, r) => n + r.load.requests, 0),
      bytesPerResponse: median(own.map((r) => r.load.bytes / Math.max(1, r.load.requests))),
      eventLoopP99Ms: median(own.map((r) => r.stats.eventLoop.p99)),
    };
  });
  return { results, runs };
}

/** The order of one round: the strategies rotated by `round`, so that none is always first or last. */
export function roundOrder(names: readonly string[], round: number): string[] {
  return names.map((_, i) => names[(i + round) % names.length] as string);
}

/**
 * Median over rounds of a's ratio to the reference ÷ b's, round by round: a's requests/s
 * ÷ b's in the same round, the way every ratio of the table is taken.
 */
export function roundRatio(results: readonly Comparison[], a: string, b: string): number {
  const ra = results.find((r) => r.name === a)?.ratioRounds ?? [];
  const rb = results.find((r) => r.name === b)?.ratioRounds ?? [];
  if (ra.length === 0 || ra.length !== rb.length) return Number.NaN;
  return median(ra.map((x, i) => x / (rb[i] as number)));
}
