import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPool } from '@cachelab/db';
import { type ChaosProxy, connectRedis, deleteByPrefix, freePort, redisUrl, startChaosProxy } from '@cachelab/testkit';
import { c, mark, progress, UserError } from '../output.ts';
import { updateProgress } from '../progress.ts';
import { findLesson, type Lesson, listLessons } from '../repo.ts';
import { readServiceNeeds } from '../services.ts';
import {
  bar,
  CLIENT_MS_MEANS,
  EMPLOYEE,
  type Measurement,
  ms,
  REQUEST_TIMEOUT_MS,
  RouteNotFound,
  request,
  strip,
} from './demo-kit.ts';
import { renderStrategies, runStrategies, type StrategyComparison, strategiesOf } from './demo-strategies.ts';
import { requireServices } from './doctor.ts';

export { bar, EMPLOYEE, type Measurement } from './demo-kit.ts';

/**
 * `cachelab demo NN` — "try it": start lesson NN's own server (its src/main.ts, exactly
 * what `cachelab run NN` starts), send it a scripted sequence of requests and show what
 * its headers say happened, measured here and now:
 *  1. where the lesson uses Redis, run it under a key prefix of this run's own
 *     (REDIS_KEY_PREFIX, which every lesson's main.ts reads): its cache starts empty, so the
 *     first request is a real MISS, and nobody else's entries on a shared Redis are read or
 *     deleted. (A lesson that does not read it gets a parameter value nobody asked for yet.)
 *  2. start the server on a free port and wait until it answers;
 *  3. GET the classic payments query once, then `hits` more times; GET /employees/42
 *     three times; where the lesson has `PATCH /employees/:id`, change the employee's
 *     status and read it twice more (the first re-read must be a MISS with the new value),
 *     and at the end put the status back as it was (also when a later step fails): a demo
 *     leaves the learner's data as it found it;
 *  4. what the lesson adds, where its answers show it:
 *     - an `ETag` (lesson 07): ask again with `If-None-Match` (a 304 with no body), and
 *       after the PATCH with the old ETag (a 200 with the new value and a new ETag);
 *     - `GET /metrics` (lesson 10): read it, and compare its counters with the X-Cache
 *       headers this demo saw;
 *     - a circuit breaker in front of Redis (lesson 10, `BREAKER_FAILURES`): the server's
 *       Redis connections go through a proxy of this demo's (testkit's chaos proxy; the
 *       Redis itself is never touched), which then holds every byte: the requests that wait
 *       for Redis, the circuit opening, the requests after it, and the circuit closing by
 *       itself once the proxy passes again;
 *  5. stop the server, delete the keys under this run's prefix, then print a table from
 *     X-Cache and Server-Timing and a bar chart of MISS against HIT.
 *
 * A lesson whose `GET /` lists `strategies` (lesson 09 mounts each earlier lesson's app under
 * its number) gets demo-strategies.ts instead of step 3 and 4: the same requests against
 * each strategy, single ones and a short autocannon burst, compared in one table. A request
 * the lesson has no route for (404) stops the demo with one line naming the lesson and what
 * its `GET /` lists, not with a stack trace.
 *
 * Why a child process and not createApp in-process: every lesson builds its dependencies
 * (Redis clients, key prefix, instance id) in its own main.ts, and the numbers should be
 * the ones the learner gets from `run` and curl — real HTTP over loopback, the lesson's
 * own configuration — with no demo-only wiring that could drift from the lesson.
 */

export const CLASSIC_PAYMENTS = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000';
const STARTUP_TIMEOUT_MS = 30_000;
/** Where a lesson's main.ts reads its key prefix from (lesson 03's `keyPrefixFromEnv`). */
export const KEY_PREFIX_ENV = 'REDIS_KEY_PREFIX';
/** Every demo run's own prefix starts with this, then the lesson and a random id. */
export const DEMO_PREFIX = 'cachelab:demo:';
/**
 * Failures in a row that open lesson 10's circuit during the demo (its main.ts reads
 * BREAKER_FAILURES; its own default, 20, chosen under load, would make the outage last
 * 20 command timeouts). The command timeout stays the lesson's own.
 */
export const DEMO_BREAKER_FAILURES = 2;
/** How long the demo waits for the circuit to close once Redis answers again. */
const RECOVERY_TIMEOUT_MS = 15_000;

/** What `GET /metrics` said, as `name{labels}` → value, for the series the demo shows. */
export type MetricSamples = Record<string, number>;

export interface DemoReport {
  lesson: string;
  /** Some response carried X-Cache. */
  cached: boolean;
  /**
   * The key prefix the lesson ran under (this run's own, instead of `lessonPrefix`), and how
   * many keys under it were deleted afterwards: only those, all written by this run.
   */
  keys: { prefix: string; lessonPrefix: string | undefined; deleted: number } | null;
  /** The payments query used a fresh limit because the lesson could not run under a prefix of its own. */
  freshParameters: boolean;
  payments: Measurement[];
  employee: Measurement[];
  /** PATCH and the reads after it, when the lesson has a write route. */
  write: Measurement[];
  /**
   * The employee's status before and after the PATCH, and how it was put back afterwards:
   * `patch` through the lesson's server (its caches invalidated as by any write), `sql` straight
   * in PostgreSQL when the server could not, `null` when neither could.
   */
  statusChange: { from: string; to: string; reread: string | undefined; restored: 'patch' | 'sql' | null } | null;
  /** Requests with `If-None-Match`, when the answers carry an ETag. */
  conditional: Measurement[];
  /** `GET /metrics` after the requests above, when the lesson has it. */
  metrics: MetricSamples | null;
  /** Redis stops answering, then answers again, when the lesson has a circuit breaker. */
  outage: Outage | null;
  /**
   * Lesson 09: every strategy it mounts, the same requests against each (the lists above
   * are then empty).
   */
  strategies: StrategyComparison | null;
}

export interface Outage {
  /** The failures in a row that open the circuit (BREAKER_FAILURES given to the lesson). */
  failureThreshold: number;
  /** GET /employees/:id for employees nobody asked for yet, while the proxy holds every byte. */
  requests: Measurement[];
  /** /metrics before the outage and once its requests are answered. */
  metricsBefore: MetricSamples;
  metrics: MetricSamples;
  /** Once the proxy passes again: a request every 250 ms until one is not a BYPASS. */
  recovery: Measurement[];
  /** From the proxy passing again to the first answer that was not a BYPASS; null if none came. */
  recoveredAfterMs: number | null;
  /** /metrics after the recovery. */
  metricsAfter: MetricSamples;
}

export async function demo(query: string, options: { hits?: number; json?: boolean } = {}): Promise<number> {
  const lesson = findLesson(query);
  if (!lesson) {
    const ids = listLessons()
      .map((l) => l.id)
      .join(', ');
    throw new UserError(`There is no lesson "${query}". Lessons: ${ids}.`, 2);
  }
  const hits = options.hits ?? 5;
  if (!Number.isInteger(hits) || hits < 1 || hits > 50)
    throw new UserError('--hits must be a whole number from 1 to 50.', 2);
  const main = join(lesson.dir, 'src', 'main.ts');
  if (!existsSync(main)) throw new UserError(`Lesson ${lesson.id} has no server to try yet (no src/main.ts).`);
  const source = readFileSync(main, 'utf8');
  // The services the lesson uses. Redis is required where its main.ts uses it, even when its
  // server would start without it (lesson 03): a demo of a cache that answers BYPASS shows nothing.
  const needs = readServiceNeeds(lesson.dir);
  await requireServices(
    {
      ...(needs.postgres ? { postgres: 'required' as const } : {}),
      ...(needs.redis && usesRedis(source) ? { redis: 'required' as const } : {}),
    },
    { who: `lesson ${lesson.id}`, ...(options.json ? { say: (line: string) => console.error(line) } : {}) },
  );

  const say = options.json ? () => {} : (line: string) => console.log(line);
  const lessonPrefix = keyPrefixOf(source);
  const ownPrefix = usesRedis(source) && takesKeyPrefix(source) ? demoPrefix(lesson.id) : null;
  const freshParameters = usesRedis(source) && ownPrefix === null;
  const env: NodeJS.ProcessEnv = {};
  if (ownPrefix) {
    env[KEY_PREFIX_ENV] = ownPrefix;
    say(
      `${mark.info} Lesson ${lesson.id} runs with ${KEY_PREFIX_ENV}=${ownPrefix}${lessonPrefix ? ` (instead of ${lessonPrefix})` : ''}: its cache starts empty, so the first request is a real MISS, and nobody else's entries in Redis are read or deleted.`,
    );
  }
  if (freshParameters)
    say(
      `${mark.warn} Lesson ${lesson.id} uses Redis but its main.ts does not read ${KEY_PREFIX_ENV}: the payments query uses a limit nobody asked for yet, so that the first request is a real MISS.`,
    );
  let proxy: ChaosProxy | null = null;
  if (hasBreaker(source)) {
    proxy = await startChaosProxy({ upstream: redisUrl() });
    env.REDIS_URL = proxy.url;
    env.BREAKER_FAILURES = String(DEMO_BREAKER_FAILURES);
  }

  let report: DemoReport;
  let keys: DemoReport['keys'] = null;
  let spinner = options.json ? null : progress(`Starting lesson ${lesson.id}'s server (src/main.ts)…`);
  try {
    const server = await startLesson(lesson, main, env).finally(() => spinner?.done());
    try {
      spinner = options.json ? null : progress(`Sending requests to ${server.url}…`);
      const onStep = (label: string) => {
        spinner?.done();
        spinner = options.json ? null : progress(label);
      };
      report = await runSequence(lesson, server.url, { hits, freshParameters, proxy, onStep });
    } finally {
      spinner?.done();
      await server.stop();
    }
  } finally {
    await proxy?.close();
    // Only this run's keys: everything under its own prefix, and nothing else.
    if (ownPrefix) keys = { prefix: ownPrefix, lessonPrefix, deleted: await deleteOwnKeys(ownPrefix) };
  }
  report.keys = keys;
  updateProgress((p) => {
    p.visited[lesson.id] = new Date().toISOString();
  });
  if (options.json) console.log(JSON.stringify(report, null, 2));
  else console.log(renderReport(report));
  return 0;
}

function plural(n: number, one: string, many: string): string {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}

/** Lessons 03 onwards: their own Redis client, or lesson 04's `serveWithBus`, which makes two. */
export function usesRedis(mainSource: string): boolean {
  return /ioredis|createRedisClient|REDIS_URL|serveWithBus/.test(mainSource);
}

/** The main.ts takes its key prefix from REDIS_KEY_PREFIX (lesson 03's `keyPrefixFromEnv`). */
function takesKeyPrefix(mainSource: string): boolean {
  return /keyPrefixFromEnv\(|REDIS_KEY_PREFIX/.test(mainSource);
}

/** The main.ts lets BREAKER_FAILURES set its circuit breaker (lesson 10). */
function hasBreaker(mainSource: string): boolean {
  return /BREAKER_FAILURES/.test(mainSource);
}

/** `cachelab:demo:04:1a2b3c4d:` — a prefix nobody else uses, so that this run deletes only its own keys. */
function demoPrefix(lessonId: string): string {
  return `${DEMO_PREFIX}${lessonId}:${randomBytes(4).toString('hex')}:`;
}

/** The lesson's own key prefix, as its main.ts names it (`keyPrefixFromEnv('cachelab:03:')`). */
export function keyPrefixOf(mainSource: string): string | undefined {
  return /keyPrefix(?:FromEnv\(\s*|:\s*)(['"`])([^'"`$]+)\1/.exec(mainSource)?.[2];
}

async function deleteOwnKeys(prefix: string): Promise<number> {
  const redis = connectRedis();
  try {
    return await deleteByPrefix(redis, prefix);
  } catch {
    return 0; // Redis gone meanwhile: the keys expire with their TTLs
  } finally {
    redis.disconnect();
  }
}

interface RunningLesson {
  url: string;
  stop(): Promise<void>;
}

/** Start `main` on a free port and resolve once `GET /` answers; reject with its own error if it exits. */
async function startLesson(lesson: Lesson, main: string, env: NodeJS.ProcessEnv): Promise<RunningLesson> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--port', String(port)], {
    cwd: lesson.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, PORT: String(port), NO_COLOR: '1' },
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM'); // the lesson closes its server and connections on SIGTERM
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (!gone) {
    try {
      const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) return { url, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new UserError(
        `Lesson ${lesson.id}'s server did not answer within ${STARTUP_TIMEOUT_MS / 1000} s. Start it by hand to see why: npx cachelab run ${lesson.id}`,
      );
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  await stop();
  throw new UserError(`Lesson ${lesson.id}'s server did not start: ${whyItStopped(output)}`);
}

/** The line of a crashed server's output that says why, without the stack. */
function whyItStopped(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && !/^node:internal|^\^+$|^Node\.js v/.test(l));
  const line =
    lines.find((l) => /^✗|Error|Can't reach|Cannot find/.test(l)) ?? lines.at(-1) ?? 'it exited without a word.';
  return line.replace(/^✗\s*/, '');
}

/** An ETag, shortened for a label: `"3q2+7w…"`. */
function shortTag(etag: string): string {
  return etag.length > 14 ? `${etag.slice(0, 10)}…"` : etag;
}

/** The samples of a Prometheus text page, `name{labels}` → value. */
export function parseMetrics(text: string): MetricSamples {
  const out: MetricSamples = {};
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) ([0-9.eE+-]+|NaN|[+-]Inf)$/.exec(line);
    if (m) out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/** The cache's series from /metrics (not the process's: heap, GC, …). */
async function scrapeMetrics(base: string): Promise<MetricSamples> {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const all = parseMetrics(await res.text());
  return Object.fromEntries(
    Object.entries(all).filter(
      ([name]) =>
        /^cache_(requests_total|hit_ratio|l1_bytes|l1_entries|circuit_state|circuit_transitions_total|l2_errors_total|l2_skipped_total)\b/.test(
          name,
        ) && !name.includes('_bucket'),
    ),
  );
}

/** Sum of the samples whose name (with labels) starts with `prefix`. */
export function metricSum(samples: MetricSamples, prefix: string): number {
  return Object.entries(samples)
    .filter(([name]) => name.startsWith(prefix))
    .reduce((n, [, v]) => n + v, 0);
}

/** What the lesson's `GET /` says about itself (`routes`, or lesson 09's `strategies`); {} if nothing. */
async function readIndex(base: string): Promise<Record<string, unknown>> {
  try {
    const res = await fetch(`${base}/`, { signal: AbortSignal.timeout(5_000) });
    const index = (await res.json()) as unknown;
    return index && typeof index === 'object' ? (index as Record<string, unknown>) : {};
  } catch {
    return {}; // an older lesson without an index: lesson 01's routes
  }
}

/** A route the demo asked for and the lesson does not have: one line, what it has instead. */
function routeMissing(lesson: Lesson, index: Record<string, unknown>, err: RouteNotFound): UserError {
  const routes = Array.isArray(index.routes) ? index.routes.filter((r) => typeof r === 'string') : [];
  const mounts = strategiesOf(index);
  const has =
    routes.length > 0
      ? ` Its GET / lists: ${routes.join(', ')}.`
      : mounts
        ? ` Its GET / lists the strategies ${mounts.map((m) => m.path).join(', ')}.`
        : '';
  return new UserError(
    `Lesson ${lesson.id}'s server has no route for ${err.method} ${err.path} (404${err.detail ? `: ${err.detail}` : ''}), so this demo cannot try it.${has} Try the lesson by hand: \`npx cachelab run ${lesson.id}\`, then curl what its GET / lists.`,
  );
}

/** The requests of one demo against a lesson's server at `base` (exported for tests). */
export async function runSequence(
  lesson: Lesson,
  base: string,
  options: {
    hits: number;
    freshParameters: boolean;
    proxy: ChaosProxy | null;
    onStep: (label: string) => void;
  },
): Promise<DemoReport> {
  const index = await readIndex(base);
  try {
    return await sendSequence(lesson, base, index, options);
  } catch (err) {
    throw err instanceof RouteNotFound ? routeMissing(lesson, index, err) : err;
  }
}

async function sendSequence(
  lesson: Lesson,
  base: string,
  index: Record<string, unknown>,
  options: {
    hits: number;
    freshParameters: boolean;
    proxy: ChaosProxy | null;
    onStep: (label: string) => void;
  },
): Promise<DemoReport> {
  const mounts = strategiesOf(index);
  if (mounts) {
    const strategies = await runStrategies(base, mounts, {
      hits: options.hits,
      fullLoadTest: typeof index.load === 'string' ? index.load : null,
      onStep: options.onStep,
    });
    return {
      lesson: lesson.name,
      cached: strategies.runs.some((r) => r.burst.hitRatio !== null),
      keys: null,
      freshParameters: false,
      payments: [],
      employee: [],
      write: [],
      statusChange: null,
      conditional: [],
      metrics: null,
      outage: null,
      strategies,
    };
  }
  const routes = Array.isArray(index.routes) ? index.routes.filter((r): r is string => typeof r === 'string') : [];
  const canPatch = routes.some((r) => /^PATCH\s+\/employees\/:id/.test(r));
  const hasMetrics = routes.some((r) => /^GET\s+\/metrics\b/.test(r));
  const paymentsPath = options.freshParameters
    ? CLASSIC_PAYMENTS.replace('limit=100000', `limit=${99_000 + Math.floor(Math.random() * 1000)}`)
    : CLASSIC_PAYMENTS;
  const paymentsLabel = options.freshParameters ? 'GET /payments (classic, fresh limit)' : 'GET /payments (classic)';

  const payments: Measurement[] = [];
  for (let i = 0; i <= options.hits; i++) payments.push(strip(await request(base, paymentsLabel, 'GET', paymentsPath)));
  const employee: Measurement[] = [];
  let last = await request(base, `GET ${EMPLOYEE}`, 'GET', EMPLOYEE);
  employee.push(strip(last));
  for (let i = 0; i < 2; i++) {
    last = await request(base, `GET ${EMPLOYEE}`, 'GET', EMPLOYEE);
    employee.push(strip(last));
  }
  // Lesson 07: the client already has these answers; with their ETags it can ask "changed?".
  const conditional: Measurement[] = [];
  const paymentsTag = payments.at(-1)?.etag;
  if (paymentsTag)
    conditional.push(
      strip(
        await request(base, `GET /payments If-None-Match: ${shortTag(paymentsTag)}`, 'GET', paymentsPath, {
          ifNoneMatch: paymentsTag,
        }),
      ),
    );
  const employeeTag = last.etag;
  if (employeeTag)
    conditional.push(
      strip(
        await request(base, `GET ${EMPLOYEE} If-None-Match: ${shortTag(employeeTag)}`, 'GET', EMPLOYEE, {
          ifNoneMatch: employeeTag,
        }),
      ),
    );
  const write: Measurement[] = [];
  let statusChange: DemoReport['statusChange'] = null;
  let restore: (() => Promise<'patch' | 'sql' | null>) | null = null;
  try {
    if (canPatch) {
      const before = (JSON.parse(last.text) as { status?: string }).status ?? 'in';
      const after = before === 'in' ? 'out' : 'in';
      // Armed before the PATCH is sent: one that timed out may still have been applied.
      restore = () => restoreStatus(base, before);
      statusChange = { from: before, to: after, reread: undefined, restored: null };
      write.push(
        strip(await request(base, `PATCH ${EMPLOYEE} status=${after}`, 'PATCH', EMPLOYEE, { body: { status: after } })),
      );
      const reread = await request(base, `GET ${EMPLOYEE} (re-read)`, 'GET', EMPLOYEE);
      write.push(strip(reread));
      write.push(strip(await request(base, `GET ${EMPLOYEE}`, 'GET', EMPLOYEE)));
      statusChange.reread = (JSON.parse(reread.text) as { status?: string }).status;
      // The copy a client kept from before the write: its old ETag must no longer match.
      if (employeeTag)
        conditional.push(
          strip(
            await request(base, `GET ${EMPLOYEE} If-None-Match: ${shortTag(employeeTag)} (old)`, 'GET', EMPLOYEE, {
              ifNoneMatch: employeeTag,
            }),
          ),
        );
    }
    const metrics = hasMetrics ? await scrapeMetrics(base) : null;
    const outage = options.proxy && metrics ? await runOutage(base, options.proxy, metrics) : null;
    const all = [...payments, ...employee, ...write, ...conditional];
    return {
      lesson: lesson.name,
      cached: all.some((m) => m.cache !== undefined),
      keys: null,
      freshParameters: options.freshParameters,
      payments,
      employee,
      write,
      statusChange,
      conditional,
      metrics,
      outage,
      strategies: null,
    };
  } finally {
    if (restore && statusChange) statusChange.restored = await restore();
  }
}

/**
 * Put employee 42's status back to `status`: through the lesson's PATCH, so that its caches
 * forget the demo's value as they would after any write; if the server cannot (it crashed,
 * Redis is held by the outage step), straight in PostgreSQL. Resolves to how, or null.
 */
async function restoreStatus(base: string, status: string): Promise<'patch' | 'sql' | null> {
  try {
    await request(base, `PATCH ${EMPLOYEE} status=${status} (put back)`, 'PATCH', EMPLOYEE, { body: { status } });
    return 'patch';
  } catch {
    const pool = createPool({ max: 1 });
    try {
      await pool.query(
        'UPDATE employees SET status = $1, status_updated_at = now(), updated_at = now() WHERE id = $2',
        [status, Number(EMPLOYEE.split('/').pop())],
      );
      return 'sql';
    } catch {
      return null;
    } finally {
      await pool.end();
    }
  }
}

/**
 * Redis stops answering (the proxy holds every byte, as a frozen server or a dropped
 * network would), then answers again. The requests are for employees nobody asked for in
 * this run, so that L1 cannot answer them and each one needs Redis.
 */
async function runOutage(base: string, proxy: ChaosProxy, metricsBefore: MetricSamples): Promise<Outage> {
  let nextId = 1_000 + Math.floor(Math.random() * 8_000);
  const get = async (label: string) =>
    strip(await request(base, `${label} /employees/${nextId}`, 'GET', `/employees/${nextId++}`));
  proxy.blackhole();
  const requests: Measurement[] = [];
  for (let i = 0; i < DEMO_BREAKER_FAILURES + 4; i++) requests.push(await get('GET'));
  const metrics = await scrapeMetrics(base);
  proxy.restore();
  const back = performance.now();
  const recovery: Measurement[] = [];
  let recoveredAfterMs: number | null = null;
  while (performance.now() - back < RECOVERY_TIMEOUT_MS) {
    await new Promise((r) => setTimeout(r, 250));
    const m = await get('GET');
    recovery.push(m);
    if (m.cache !== 'BYPASS') {
      recoveredAfterMs = Math.round(performance.now() - back);
      break;
    }
  }
  return {
    failureThreshold: DEMO_BREAKER_FAILURES,
    requests,
    metricsBefore,
    metrics,
    recovery,
    recoveredAfterMs,
    metricsAfter: await scrapeMetrics(base),
  };
}

// ---------------------------------------------------------------------------------------
// Rendering

const METRIC_ORDER = ['db', 'l1', 'l2', 'json', 'total'];

const avg = (ns: number[]) => ns.reduce((a, b) => a + b, 0) / Math.max(1, ns.length);
const serverMs = (m: Measurement) => m.timing.total ?? m.wallMs;

/**
 * How many times `slow` is `fast`, to 2 significant figures (10,134 → "10,000×", 46.3 →
 * "46×", 4.56 → "4.6×"): two timings of a few requests on a shared machine are not known
 * better than that, so more digits would be noise presented as precision.
 */
export function times(slow: number, fast: number): string {
  const ratio = Number((slow / Math.max(fast, 0.05)).toPrecision(2));
  return ratio >= 10 ? `${ratio.toLocaleString('en')}×` : `${ratio.toFixed(1)}×`;
}

function size(bytes: number): string {
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  if (bytes >= 1_000) return `${(bytes / 1_000).toFixed(1)} kB`;
  return `${bytes} B`;
}

function table(rows: Measurement[]): string[] {
  const metrics = [
    ...METRIC_ORDER.filter((name) => rows.some((m) => name in m.timing)),
    ...[...new Set(rows.flatMap((m) => Object.keys(m.timing)))].filter((n) => !METRIC_ORDER.includes(n)),
  ];
  const header = ['#', 'request', 'status', 'X-Cache', ...metrics.map((m) => `${m} ms`), 'client ms', 'size'];
  const body = rows.map((m, i) => [
    String(i + 1),
    m.label,
    String(m.status),
    m.cache ? `${m.cache}${m.level ? ` ${m.level}` : ''}` : '—',
    ...metrics.map((name) => ms(m.timing[name])),
    ms(m.wallMs),
    size(m.bytes),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const left = new Set([1, 3]);
  const line = (cells: string[]) =>
    cells.map((cell, i) => (left.has(i) ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  const colourCache = (text: string) =>
    text.replace(/\b(MISS|HIT|BYPASS|STALE)\b/, (s) =>
      s === 'HIT' ? c.green(s) : s === 'MISS' ? c.yellow(s) : c.red(s),
    );
  return [c.bold(line(header)), ...body.map((r) => colourCache(line(r)))];
}

const BAR = 22;

/**
 * Two bars per row: the server's own time (Server-Timing total: until the headers leave)
 * and what the client waited (to the last byte, so including the download). A cache can
 * only remove the first; the second is what a user feels.
 */
function chart(title: string, rows: Measurement[], cached: boolean): string[] {
  const head = `  ${''.padEnd(8)} ${'server (Server-Timing total)'.padEnd(BAR + 12)}   client (to the last byte)`;
  const lines = [c.bold(title), c.dim(head)];
  const maxServer = Math.max(...rows.map(serverMs));
  const maxClient = Math.max(...rows.map((m) => m.wallMs));
  const cells = (server: number, client: number) =>
    `${bar(server, maxServer, BAR).padEnd(BAR + 1)} ${ms(server).padStart(7)} ms   ${bar(client, maxClient, BAR).padEnd(BAR + 1)} ${ms(client).padStart(7)} ms`;
  if (!cached) {
    rows.forEach((m, i) => {
      lines.push(`  ${`#${i + 1}`.padEnd(8)} ${cells(serverMs(m), m.wallMs)}`);
    });
    return lines;
  }
  const misses = rows.filter((m) => m.cache === 'MISS');
  const hits = rows.filter((m) => m.cache === 'HIT');
  const others = rows.filter((m) => m.cache !== 'MISS' && m.cache !== 'HIT');
  const groups: [string, Measurement[]][] = [
    [misses.length > 1 ? `MISS ×${misses.length}` : 'MISS', misses],
    [hits.length > 1 ? `HIT ×${hits.length}` : 'HIT', hits],
    ...others.map((m): [string, Measurement[]] => [m.cache ?? '—', [m]]),
  ];
  for (const [name, group] of groups) {
    if (group.length === 0) continue;
    lines.push(`  ${name.padEnd(8)} ${cells(avg(group.map(serverMs)), avg(group.map((m) => m.wallMs)))}`);
  }
  return lines;
}

/** The demo's output: what was measured, then what it means. */
export function renderReport(report: DemoReport): string {
  const id = report.lesson.slice(0, 2);
  if (report.strategies) return strategiesReport(report, report.strategies);
  const out: string[] = [''];
  out.push(c.bold(`Lesson ${report.lesson} — measured on this machine just now`));
  // In the order they were sent: each conditional request after the answer whose ETag it sends.
  const again = report.conditional.filter((m) => m.path.startsWith('/payments'));
  const [employeeAgain, afterWrite] = report.conditional.filter((m) => m.path === EMPLOYEE);
  out.push(
    ...table([
      ...report.payments,
      ...again,
      ...report.employee,
      ...(employeeAgain ? [employeeAgain] : []),
      ...report.write,
      ...(afterWrite ? [afterWrite] : []),
    ]),
  );
  out.push('');
  out.push(...chart('GET /payments (classic)', report.payments, report.cached));
  out.push(...chart(`GET ${EMPLOYEE}`, report.employee, report.cached));
  out.push('');
  const p = report.payments;
  const first = p[0];
  if (!report.cached && first) {
    const dbs = p.map((m) => m.timing.db ?? 0);
    out.push(
      `${mark.info} Lesson ${id} has no cache: all ${p.length} requests for the same payments went to PostgreSQL, and each one cost it ${ms(Math.min(...dbs))}–${ms(Math.max(...dbs))} ms again.`,
    );
    const next = listLessons().find((l) => l.id > id);
    if (next)
      out.push(
        `  Next: read lesson ${next.id} (\`npx cachelab read ${next.id}\`), then \`npx cachelab demo ${next.id}\` to see a cache remove that cost.`,
      );
  } else if (first) {
    const hits = p.slice(1).filter((m) => m.cache === 'HIT');
    if (first.cache === 'BYPASS')
      out.push(
        `${mark.warn} The first request was a BYPASS, not a MISS: Redis did not answer in time (or refused), so the server answered from PostgreSQL without caching. Is Redis overloaded? \`npx cachelab doctor\``,
      );
    else if (first.cache !== 'MISS')
      out.push(
        `${mark.warn} The first request was ${first.cache ?? 'not cached'}, not a MISS: something had already cached this answer.`,
      );
    else
      out.push(
        `${mark.ok} The first request was a MISS: ${ms(first.timing.db)} ms in PostgreSQL, ${ms(serverMs(first))} ms in all on the server.`,
      );
    if (hits.length > 0) {
      const mean = avg(hits.map(serverMs));
      const client = avg(hits.map((m) => m.wallMs));
      const touchedDb = hits.filter((m) => m.timing.db !== undefined).length;
      const after =
        hits.length === p.length - 1
          ? `${hits.length === 1 ? 'one' : hits.length} after it`
          : `${hits.length} of the ${p.length - 1} after it`;
      out.push(
        `${mark.ok} The ${after} ${hits.length === 1 ? 'was a HIT' : 'were HITs'}${touchedDb === 0 ? ', without asking PostgreSQL' : ''}: ${ms(mean)} ms on the server on average (${times(serverMs(first), mean)} less time), ${ms(client)} ms for the client (${times(first.wallMs, client)} faster).`,
      );
      const levels = [...new Set(hits.map((m) => m.level).filter(Boolean))];
      if (levels.length > 0) out.push(`  They were served from ${levels.join(' and ')} (X-Cache-Level).`);
      if (client > 10 * mean && report.conditional.length === 0)
        out.push(
          c.dim(
            `  What the client still waits for is the response itself: ${size(first.bytes)} to send and receive, which no server-side cache removes (lesson 07: HTTP caching).`,
          ),
        );
    } else {
      out.push(`${mark.fail} None of the repeated requests was a HIT.`);
    }
  }
  const change = report.statusChange;
  if (change) {
    const [, reread, again] = report.write;
    if (reread && change.reread === change.to && reread.cache !== 'HIT')
      out.push(
        `${mark.ok} PATCH ${EMPLOYEE} set status "${change.from}" → "${change.to}"; the next GET was a ${reread.cache ?? 'fresh read'} that read "${change.to}" from PostgreSQL: the write removed the cached copy${again?.cache === 'HIT' ? ', and the GET after it was a HIT again' : ''}.`,
      );
    else
      out.push(
        `${mark.fail} After PATCH ${EMPLOYEE} set status "${change.to}", the next GET answered "${change.reread}" (${reread?.cache ?? '—'}): the cached copy was not invalidated.`,
      );
    out.push(
      change.restored
        ? `${mark.info} Then the demo put the status back to "${change.from}" (${change.restored === 'patch' ? `PATCH ${EMPLOYEE}` : 'in PostgreSQL, the server could not'}): your data is as it was.`
        : `${mark.warn} The demo could not put employee 42's status back to "${change.from}": \`npx cachelab db seed --force\` restores every row.`,
    );
  }
  out.push(...conditionalLines(report));
  if (report.metrics) out.push('', ...metricsLines(report, report.metrics));
  if (report.outage) out.push(...outageLines(report.outage));
  out.push(...keysLines(report), '');
  out.push(
    c.dim(`Columns: X-Cache and Server-Timing are the response's own headers; "client ms" is ${CLIENT_MS_MEANS}.`),
  );
  out.push(
    `Try it yourself: \`npx cachelab run ${id}\`, then curl -si 'http://127.0.0.1:3000${CLASSIC_PAYMENTS}' | grep -iE '^(x-cache|server-timing)'`,
  );
  return out.join('\n');
}

/** Which keys this run deleted: only its own. */
function keysLines(report: DemoReport): string[] {
  if (!report.keys) return [];
  return [
    `${mark.info} Deleted the ${plural(report.keys.deleted, 'key', 'keys')} this run wrote under ${report.keys.prefix}, and nothing else${report.keys.lessonPrefix ? ` (the lesson's own ${report.keys.lessonPrefix} entries were not touched)` : ''}.`,
  ];
}

/** Lesson 09: the strategies side by side (demo-strategies.ts), then the keys and how to go on. */
function strategiesReport(report: DemoReport, strategies: StrategyComparison): string {
  const id = report.lesson.slice(0, 2);
  const example = strategies.runs.find((r) => r.burst.hitRatio !== null) ?? strategies.runs[0];
  return [
    ...renderStrategies(report.lesson, strategies),
    ...keysLines(report),
    '',
    c.dim(
      `Columns: "first" and "then" are the X-Cache of GET <strategy>${EMPLOYEE} and of the requests after it, "first ms" and "then ms" (the median) what this demo waited for them, request to last byte; req/s, p50, p99, hit ratio (the share of X-Cache: HIT) and errors are the burst's, from every response autocannon received.`,
    ),
    `Try it yourself: \`npx cachelab run ${id}\`, then curl -si http://127.0.0.1:3000${example?.path ?? ''}${EMPLOYEE} | grep -iE '^(x-cache|server-timing)'${strategies.fullLoadTest ? `. Every strategy in a process of its own, 20× the requests: ${strategies.fullLoadTest}` : ''}`,
  ].join('\n');
}

/** Lesson 07: what an ETag saves, from the conditional requests. */
function conditionalLines(report: DemoReport): string[] {
  const out: string[] = [];
  const [paymentsAgain] = report.conditional.filter((m) => m.path.startsWith('/payments'));
  const employeeAgain = report.conditional.filter((m) => m.path === EMPLOYEE);
  const full = report.payments.filter((m) => m.status === 200 && m !== report.payments[0]);
  if (paymentsAgain) {
    const client = avg(full.map((m) => m.wallMs));
    const bytes = avg(full.map((m) => m.bytes));
    if (paymentsAgain.status === 304)
      out.push(
        `${mark.ok} The payments carry ETag ${paymentsAgain.ifNoneMatch}: asked again with If-None-Match, the server answered 304 Not Modified with ${size(paymentsAgain.bytes)} instead of ${size(bytes)}, ${ms(paymentsAgain.wallMs)} ms for the client instead of ${ms(client)} ms (${times(client, paymentsAgain.wallMs)} faster). The server-side cache removed the query; the ETag removes the bytes.${paymentsAgain.cacheControl ? ` (Cache-Control: ${paymentsAgain.cacheControl}.)` : ''}`,
      );
    else
      out.push(
        `${mark.fail} GET /payments with If-None-Match: ${paymentsAgain.ifNoneMatch} answered ${paymentsAgain.status}, not 304: the ETag did not match its own answer.`,
      );
  }
  const [current, old] = employeeAgain;
  if (current)
    out.push(
      current.status === 304
        ? `${mark.ok} GET ${EMPLOYEE} with its ETag: 304 Not Modified, ${size(current.bytes)}, ${ms(current.wallMs)} ms for the client${current.cacheControl ? ` (Cache-Control: ${current.cacheControl})` : ''}.`
        : `${mark.fail} GET ${EMPLOYEE} with If-None-Match: ${current.ifNoneMatch} answered ${current.status}, not 304.`,
    );
  if (old)
    out.push(
      old.status === 200 && old.etag !== old.ifNoneMatch
        ? `${mark.ok} After the PATCH, the old ETag no longer matched: a 200 with the new value, ${size(old.bytes)}, and a new ETag ${old.etag}.`
        : `${mark.fail} After the PATCH, If-None-Match with the old ETag answered ${old.status}${old.etag === old.ifNoneMatch ? ' with the same ETag' : ''}: a client would keep the old copy.`,
    );
  return out;
}

/** Lesson 10: what /metrics says, next to what the headers said. */
function metricsLines(report: DemoReport, metrics: MetricSamples): string[] {
  const out = [c.bold('GET /metrics after these requests (the cache series, as the server wrote them):')];
  for (const [name, value] of Object.entries(metrics)) {
    if (value === 0 && !name.startsWith('cache_circuit_state')) continue;
    out.push(`  ${name} ${Number.isInteger(value) ? value : value.toFixed(3)}`);
  }
  const seen = (result: string) => report.payments.filter((m) => m.cache === result).length;
  const counted = (result: string) =>
    metrics[`cache_requests_total{name="payments",result="${result.toLowerCase()}"}`] ?? 0;
  const agree = ['HIT', 'MISS'].every((r) => seen(r) === counted(r));
  out.push(
    agree
      ? `${mark.ok} /metrics counted ${plural(counted('MISS'), 'miss', 'misses')} and ${plural(counted('HIT'), 'hit', 'hits')} for payments: the same as the X-Cache headers above. A dashboard reads these, not the headers.`
      : `${mark.warn} /metrics counted ${counted('MISS')} misses and ${counted('HIT')} hits for payments; the X-Cache headers above said ${seen('MISS')} and ${seen('HIT')}.`,
  );
  return out;
}

const CIRCUIT = ['closed', 'half-open', 'open'];

/** Lesson 10: the circuit breaker, from the outage's answers and /metrics. */
function outageLines(outage: Outage): string[] {
  const out = [
    '',
    c.bold(
      `Redis stops answering: this demo's proxy between the server and Redis holds every byte (your Redis is untouched); BREAKER_FAILURES=${outage.failureThreshold}, the lesson's own command timeout.`,
    ),
    ...table(outage.requests),
  ];
  // Which requests did not ask Redis: /metrics counts the reads the open circuit skipped, and
  // once it is open every request skips (its cool-down outlasts these fast requests).
  const skippedGets =
    (outage.metrics['cache_l2_skipped_total{operation="get"}'] ?? 0) -
    (outage.metricsBefore['cache_l2_skipped_total{operation="get"}'] ?? 0);
  const split = Math.max(0, outage.requests.length - skippedGets);
  const waited = outage.requests.slice(0, split);
  const skipped = outage.requests.slice(split);
  const state = outage.metrics.cache_circuit_state;
  const opened = outage.metrics['cache_circuit_transitions_total{to="open"}'] ?? 0;
  const bypass = waited.every((m) => m.cache === 'BYPASS');
  if (waited.length > 0)
    out.push(
      `${mark.ok} The first ${plural(waited.length, 'request', 'requests')} waited for Redis until the command timed out (l2 ${waited.map((m) => `${ms(m.timing.l2)} ms`).join(', ')}), then ${bypass ? 'each was answered from PostgreSQL (X-Cache: BYPASS): slow, but no error' : `X-Cache said ${waited.map((m) => m.cache ?? '—').join(', ')}`}.`,
    );
  if (state === 2 && skipped.length > 0)
    out.push(
      `${mark.ok} Then the circuit opened (/metrics: cache_circuit_state ${state} = open, opened ${plural(opened, 'time', 'times')}, ${plural(skippedGets, 'Redis read', 'Redis reads')} skipped): the ${plural(skipped.length, 'request', 'requests')} after it did not ask Redis at all, ${ms(avg(skipped.map((m) => m.wallMs)))} ms on average for the client instead of ${ms(avg(waited.map((m) => m.wallMs)))} ms.`,
    );
  else
    out.push(
      `${mark.fail} The circuit did not open: /metrics says cache_circuit_state ${state ?? '—'} (${CIRCUIT[state ?? -1] ?? 'unknown'}) after ${outage.requests.length} requests.`,
    );
  const closed = outage.metricsAfter.cache_circuit_state;
  const last = outage.recovery.at(-1);
  if (outage.recoveredAfterMs !== null && last)
    out.push(
      `${mark.ok} Redis answering again: after ${outage.recoveredAfterMs.toLocaleString('en')} ms (the cool-down, then one probe) the circuit closed by itself (cache_circuit_state ${closed ?? '—'} = ${CIRCUIT[closed ?? -1] ?? 'unknown'}), and the first request to reach Redis again was a ${last.cache ?? '—'}: caching again, no restart.`,
    );
  else
    out.push(
      `${mark.fail} Redis answered again, but ${outage.recovery.length} requests over ${RECOVERY_TIMEOUT_MS / 1000} s were all BYPASS: the circuit did not close.`,
    );
  return out;
}
