import type { RequestListener } from 'node:http';
import type { Pool } from '@cachelab/db';

/**
 * One way of serving the API that a load test compares with others: the uncached lesson
 * 01, the LRU of lesson 02, … or a reference (bare node:http, bare Express). A module that
 * exports `strategies: Strategy[]` can be served, one strategy per process, by
 * server-process.ts.
 */
export interface StrategyContext {
  /** PostgreSQL, counted: every statement it sends is one query (see server-process.ts). */
  db: Pool;
  /** Prefix for every Redis key and channel, unique to this process: removed when it exits. */
  keyPrefix: string;
  /** Where the app's unexpected errors go: counted, and only the first few printed. */
  log(err: unknown): void;
  /** Free-form settings from the caller (`--set name=value`), e.g. { ttl: 'long' }. */
  settings: Readonly<Record<string, string>>;
}

export interface RunningStrategy {
  /** The request handler: an Express app is one. Served by a plain node:http server. */
  listener: RequestListener;
  /** Close what `create` opened (Redis clients, subscriptions). The pool is closed for you. */
  close?(): Promise<void> | void;
}

export interface Strategy {
  /** Short id, used on the command line and in JSON: `two-level`. */
  name: string;
  /** What a table shows: `L1 + L2 (lesson 04)`. */
  label: string;
  /** One sentence: what a request does. */
  description: string;
  create(context: StrategyContext): Promise<RunningStrategy> | RunningStrategy;
}

/** What a server process reports: counters since the last reset. */
export interface ServerStats {
  /** Statements the app sent to PostgreSQL. */
  queries: number;
  /** Most requests seen waiting for a pool connection at once (sampled every 5 ms). */
  poolWaitingMax: number;
  /** Event-loop delay, ms (perf_hooks.monitorEventLoopDelay, 10 ms resolution). */
  eventLoop: { p50: number; p99: number; max: number; mean: number };
  /** CPU time the server process used, ms (user + system). */
  cpuMs: number;
  /** Errors the app logged (500s). */
  errors: number;
  /** Resident memory now, bytes. */
  rssBytes: number;
  /** Wall time since the last reset, ms. */
  elapsedMs: number;
}
