import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Load generation with autocannon, in its own process.
 *
 * Why a separate process: a load generator shares the CPU with what it measures. In the
 * same process as the server it would share one event loop too, and every millisecond it
 * spent building requests or parsing responses would show up as server latency. In its
 * own process it has its own event loop (and, on a 2-core machine, roughly its own core).
 * `runLoad` forks `load-process.ts`, sends it the plan over IPC and gets the summary back.
 *
 * Bounded by design: every run stops after `amount` requests or `durationSec` seconds,
 * whichever the plan says, and the parent kills the child if it overruns by `graceMs`.
 * Only 127.0.0.1: `runLoad` refuses any other host.
 */
export interface LoadPlan {
  /** Base URL, e.g. `http://127.0.0.1:3190`. Must be on 127.0.0.1 / localhost. */
  url: string;
  /**
   * The request paths, in order. Each request takes the next one (one sequence shared by
   * all connections), wrapping around at the end. One path repeats it.
   */
  paths: readonly string[];
  /** Extra headers per path (e.g. `If-None-Match` with the ETag a client holds). */
  headersByPath?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Concurrent connections (keep-alive). Default 10. */
  connections?: number;
  /** Stop after this many responses. When set, `durationSec` is only a safety cap. */
  amount?: number;
  /** Stop after this many seconds (when `amount` is not set). Default 5. */
  durationSec?: number;
  /** A request not answered within this many seconds counts as a timeout. Default 10. */
  timeoutSec?: number;
}

export interface LatencySummary {
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  /** Responses received (any status). */
  requests: number;
  /** Wall time of the run, ms. */
  durationMs: number;
  /** Responses per second over the run. */
  rps: number;
  latency: LatencySummary;
  /** Response bytes received (headers and bodies). */
  bytes: number;
  /** Responses per status class, e.g. { '2xx': 9990, '5xx': 10 }. */
  statuses: Record<string, number>;
  /** Responses per `X-Cache` value (`none` when absent), e.g. { HIT: 9000, MISS: 1000 }. */
  xCache: Record<string, number>;
  /** Socket errors (refused, reset) and timeouts. */
  errors: number;
  timeouts: number;
  /** Second by second from the start: responses completed, and how many said `X-Cache: HIT`. */
  timeline: { responses: number; hits: number }[];
}

const LOAD_PROCESS = fileURLToPath(new URL('./load-process.ts', import.meta.url));

/** Share of responses with `X-Cache: HIT` among those that carried an X-Cache header. */
export function hitRatio(result: Pick<LoadResult, 'xCache'>): number | undefined {
  const counted = Object.entries(result.xCache).filter(([k]) => k !== 'none');
  const total = counted.reduce((n, [, v]) => n + v, 0);
  return total === 0 ? undefined : (result.xCache.HIT ?? 0) / total;
}

export function checkLocal(url: string): void {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
    throw new TypeError(`runLoad: only 127.0.0.1 / localhost may be load-tested, got ${host}.`);
  }
}

/** Run one bounded load test in a separate process and return its summary. */
export async function runLoad(plan: LoadPlan, options: { graceMs?: number } = {}): Promise<LoadResult> {
  checkLocal(plan.url);
  if (plan.paths.length === 0) throw new TypeError('runLoad: `paths` must name at least one path.');
  const capSec = plan.amount === undefined ? (plan.durationSec ?? 5) : (plan.durationSec ?? 60);
  const graceMs = options.graceMs ?? 15_000;
  const child = fork(LOAD_PROCESS, [], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    return await new Promise<LoadResult>((resolve, reject) => {
      const killer = setTimeout(
        () => {
          child.kill('SIGKILL');
          reject(new Error(`runLoad: the load process overran ${capSec} s + ${graceMs} ms and was stopped.`));
        },
        capSec * 1000 + graceMs,
      );
      child.once('message', (message: { result?: LoadResult; error?: string }) => {
        clearTimeout(killer);
        if (message.result) resolve(message.result);
        else reject(new Error(`runLoad: ${message.error ?? 'the load process failed'}`));
      });
      child.once('exit', (code) => {
        clearTimeout(killer);
        reject(new Error(`runLoad: the load process exited (${code}) without a result.`));
      });
      child.send({ ...plan, durationSec: capSec });
    });
  } finally {
    if (child.exitCode === null) child.kill();
  }
}
