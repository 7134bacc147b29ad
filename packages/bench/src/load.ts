import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Load generation with autocannon, in its own process.
 *
 * Why a separate process: a load generator shares the CPU with what it measures. In the
 * same process as the server it would share one event loop too, and every millisecond it
 * spent building requests or parsing responses would show up as server latency. In its
 * own process it has its own event loop (and, on a 2-core machine, roughly its own core).
 * `runLoad` forks `load-process.ts`, sends it the plan over IPC and gets the summary back;
 * `startLoadGenerator` keeps that process (warm) for run after run.
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

/** Refuse a plan that could not run: a host other than this machine, or no path. */
function checkPlan(plan: LoadPlan): void {
  checkLocal(plan.url);
  if (plan.paths.length === 0) throw new TypeError('runLoad: `paths` must name at least one path.');
}

/**
 * A load generator that stays up between runs: one process, forked once, that runs plan
 * after plan. A benchmark of many short runs should use one: a fresh process starts with
 * a cold JIT, and for its first thousands of requests the generator, not the server, sets
 * the pace, differently every time. That would be noise in exactly the ratio measured.
 */
export interface LoadGenerator {
  /** One bounded run (the plan's `amount` or `durationSec`); runs are queued, one at a time. */
  run(plan: LoadPlan): Promise<LoadResult>;
  /** Stop the process. Runs still queued are rejected. */
  close(): Promise<void>;
}

export function startLoadGenerator(options: { graceMs?: number } = {}): LoadGenerator {
  const graceMs = options.graceMs ?? 15_000;
  const child = fork(LOAD_PROCESS, [], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let dead: Error | undefined;
  let current: { resolve(r: LoadResult): void; reject(e: Error): void } | undefined;
  const stop = (error: Error) => {
    dead ??= error;
    current?.reject(error);
    current = undefined;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  child.on('message', (message: { result?: LoadResult; error?: string }) => {
    const waiting = current;
    current = undefined;
    if (message.result) waiting?.resolve(message.result);
    else waiting?.reject(new Error(`runLoad: ${message.error ?? 'the load process failed'}`));
  });
  child.once('exit', (code, signal) =>
    stop(new Error(`runLoad: the load process exited (${signal ?? code}) without a result.`)),
  );
  // The IPC channel can fail or close before 'exit' arrives: never an uncaught error.
  child.on('error', (error) => stop(new Error(`runLoad: the load process failed: ${error.message}`)));
  child.once('disconnect', () => stop(new Error('runLoad: the load process hung up without a result.')));
  let queue: Promise<unknown> = Promise.resolve();

  const runOne = (plan: LoadPlan): Promise<LoadResult> => {
    if (dead) return Promise.reject(dead);
    const capSec = plan.amount === undefined ? (plan.durationSec ?? 5) : (plan.durationSec ?? 60);
    return new Promise<LoadResult>((resolve, reject) => {
      const killer = setTimeout(
        () => stop(new Error(`runLoad: the load process overran ${capSec} s + ${graceMs} ms and was stopped.`)),
        capSec * 1000 + graceMs,
      );
      current = {
        resolve: (r) => {
          clearTimeout(killer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(killer);
          reject(e);
        },
      };
      child.send({ ...plan, durationSec: capSec });
    });
  };

  return {
    run(plan) {
      try {
        checkPlan(plan);
      } catch (error) {
        return Promise.reject(error);
      }
      const result = queue.then(() => runOne(plan));
      queue = result.catch(() => {});
      return result;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      dead ??= new Error('runLoad: the load generator was closed.');
      if (child.connected) child.disconnect();
      else child.kill();
      await exited;
    },
  };
}

/** Run one bounded load test in a process of its own, started for it and stopped after it. */
export async function runLoad(plan: LoadPlan, options: { graceMs?: number } = {}): Promise<LoadResult> {
  checkPlan(plan); // before a process is started for nothing
  const generator = startLoadGenerator(options);
  try {
    return await generator.run(plan);
  } finally {
    await generator.close();
  }
}
