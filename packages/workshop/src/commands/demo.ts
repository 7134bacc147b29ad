import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectRedis, deleteByPrefix, freePort, parseServerTiming } from '@cachelab/testkit';
import { c, mark, progress, UserError } from '../output.ts';
import { updateProgress } from '../progress.ts';
import { findLesson, type Lesson, listLessons } from '../repo.ts';
import { requireServices } from './doctor.ts';

/**
 * `cachelab demo NN` — "try it": start lesson NN's own server (its src/main.ts, exactly
 * what `cachelab run NN` starts), send it a scripted sequence of requests and show what
 * its headers say happened, measured here and now:
 *  1. clear the lesson's keys in Redis (or, failing that, use a parameter value nobody
 *     asked for yet), so that the first request is a real MISS;
 *  2. start the server on a free port and wait until it answers;
 *  3. GET the classic payments query once, then `hits` more times; GET /employees/42
 *     three times; where the lesson has `PATCH /employees/:id`, change the employee's
 *     status and read it twice more (the first re-read must be a MISS with the new value);
 *  4. stop the server, then print a table from X-Cache and Server-Timing and a bar chart
 *     of MISS against HIT.
 *
 * Why a child process and not createApp in-process: every lesson builds its dependencies
 * (Redis clients, key prefix, instance id) in its own main.ts, and the numbers should be
 * the ones the learner gets from `run` and curl — real HTTP over loopback, the lesson's
 * own configuration — with no demo-only wiring that could drift from the lesson.
 */

export const CLASSIC_PAYMENTS = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000';
export const EMPLOYEE = '/employees/42';
const STARTUP_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 60_000;

export interface Measurement {
  /** What the request is, for people: `GET /payments (classic)`. */
  label: string;
  method: string;
  path: string;
  status: number;
  /** `X-Cache` (HIT, MISS, STALE, BYPASS), undefined when the lesson has no cache. */
  cache: string | undefined;
  /** `X-Cache-Level` (L1, L2) on a hit, when the lesson says. */
  level: string | undefined;
  /** Server-Timing metrics in ms: db, l1, l2, json, total, … */
  timing: Record<string, number>;
  /** What the client waited, request sent to last byte read, ms. */
  wallMs: number;
  bytes: number;
}

export interface DemoReport {
  lesson: string;
  /** Some response carried X-Cache. */
  cached: boolean;
  /** The Redis keys deleted before the first request, when the lesson uses Redis. */
  cleared: { prefix: string; keys: number } | null;
  /** The payments query used a fresh limit because the lesson's keys could not be cleared. */
  freshParameters: boolean;
  payments: Measurement[];
  employee: Measurement[];
  /** PATCH and the reads after it, when the lesson has a write route. */
  write: Measurement[];
  /** The employee's status before and after the PATCH. */
  statusChange: { from: string; to: string; reread: string | undefined } | null;
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
  await requireServices();

  const say = options.json ? () => {} : (line: string) => console.log(line);
  const source = readFileSync(main, 'utf8');
  const cleared = await clearLessonKeys(source);
  const freshParameters = usesRedis(source) && cleared === null;
  if (cleared)
    say(
      `${mark.info} Cleared ${plural(cleared.keys, 'cached entry', 'cached entries')} under ${cleared.prefix} in Redis, so that the first request is a real MISS.`,
    );
  if (freshParameters)
    say(
      `${mark.warn} Lesson ${lesson.id} uses Redis but its key prefix is not in src/main.ts: the payments query uses a limit nobody asked for yet, so that the first request is a real MISS.`,
    );

  let spinner = options.json ? null : progress(`Starting lesson ${lesson.id}'s server (src/main.ts)…`);
  const server = await startLesson(lesson, main).finally(() => spinner?.done());
  let report: DemoReport;
  try {
    spinner = options.json ? null : progress(`Sending requests to ${server.url}…`);
    report = await runSequence(lesson, server.url, { hits, freshParameters, cleared });
  } finally {
    spinner?.done();
    await server.stop();
  }
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

function usesRedis(mainSource: string): boolean {
  return /ioredis|createRedisClient|REDIS_URL/.test(mainSource);
}

/** The lesson's key prefix, as its main.ts passes it (`keyPrefix: 'cachelab:03:'`). */
export function keyPrefixOf(mainSource: string): string | undefined {
  return /keyPrefix:\s*(['"`])([^'"`$]+)\1/.exec(mainSource)?.[2];
}

async function clearLessonKeys(mainSource: string): Promise<DemoReport['cleared']> {
  if (!usesRedis(mainSource)) return null;
  const prefix = keyPrefixOf(mainSource);
  if (!prefix) return null;
  const redis = connectRedis();
  try {
    return { prefix, keys: await deleteByPrefix(redis, prefix) };
  } finally {
    redis.disconnect();
  }
}

interface RunningLesson {
  url: string;
  stop(): Promise<void>;
}

/** Start `main` on a free port and resolve once `GET /` answers; reject with its own error if it exits. */
async function startLesson(lesson: Lesson, main: string): Promise<RunningLesson> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--port', String(port)], {
    cwd: lesson.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: String(port), NO_COLOR: '1' },
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

async function request(
  base: string,
  label: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Measurement & { text: string }> {
  const started = performance.now();
  const res = await fetch(`${base}${path}`, {
    method,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const buffer = Buffer.from(await res.arrayBuffer());
  const wallMs = performance.now() - started;
  const measurement = {
    label,
    method,
    path,
    status: res.status,
    cache: res.headers.get('x-cache')?.toUpperCase() ?? undefined,
    level: res.headers.get('x-cache-level')?.toUpperCase() ?? undefined,
    timing: parseServerTiming(res.headers.get('server-timing')),
    wallMs: Math.round(wallMs * 10) / 10,
    bytes: buffer.length,
  };
  if (res.status >= 400) {
    throw new UserError(
      `${method} ${path} answered ${res.status}: ${buffer.toString('utf8').slice(0, 300)}. Is the database seeded? \`npx cachelab doctor\``,
    );
  }
  // Only the small bodies are read back (the employee's status); 17.8 MB of payments are not.
  return { ...measurement, text: buffer.length < 100_000 ? buffer.toString('utf8') : '' };
}

function strip({ text: _text, ...m }: Measurement & { text: string }): Measurement {
  return m;
}

async function runSequence(
  lesson: Lesson,
  base: string,
  options: { hits: number; freshParameters: boolean; cleared: DemoReport['cleared'] },
): Promise<DemoReport> {
  let routes: string[] = [];
  try {
    const res = await fetch(`${base}/`, { signal: AbortSignal.timeout(5_000) });
    routes = ((await res.json()) as { routes?: string[] }).routes ?? [];
  } catch {
    // an older lesson without an index: lesson 01's routes
  }
  const canPatch = routes.some((r) => /^PATCH\s+\/employees\/:id/.test(r));
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
  const write: Measurement[] = [];
  let statusChange: DemoReport['statusChange'] = null;
  if (canPatch) {
    const before = (JSON.parse(last.text) as { status?: string }).status ?? 'in';
    const after = before === 'in' ? 'out' : 'in';
    write.push(strip(await request(base, `PATCH ${EMPLOYEE} status=${after}`, 'PATCH', EMPLOYEE, { status: after })));
    const reread = await request(base, `GET ${EMPLOYEE} (re-read)`, 'GET', EMPLOYEE);
    write.push(strip(reread));
    write.push(strip(await request(base, `GET ${EMPLOYEE}`, 'GET', EMPLOYEE)));
    statusChange = { from: before, to: after, reread: (JSON.parse(reread.text) as { status?: string }).status };
  }
  const all = [...payments, ...employee, ...write];
  return {
    lesson: lesson.name,
    cached: all.some((m) => m.cache !== undefined),
    cleared: options.cleared,
    freshParameters: options.freshParameters,
    payments,
    employee,
    write,
    statusChange,
  };
}

// ---------------------------------------------------------------------------------------
// Rendering

const METRIC_ORDER = ['db', 'l1', 'l2', 'json', 'total'];

// Server-Timing durations carry one decimal: showing more would be precision we do not have.
const ms = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(1));
const avg = (ns: number[]) => ns.reduce((a, b) => a + b, 0) / Math.max(1, ns.length);
const serverMs = (m: Measurement) => m.timing.total ?? m.wallMs;

function times(slow: number, fast: number): string {
  const ratio = slow / Math.max(fast, 0.05);
  return ratio >= 10 ? `${Math.round(ratio).toLocaleString('en')}×` : `${ratio.toFixed(1)}×`;
}

function size(bytes: number): string {
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  if (bytes >= 1_000) return `${(bytes / 1_000).toFixed(1)} kB`;
  return `${bytes} B`;
}

/** A bar of `value` on a scale where `max` is `width` cells, with eighth-cell precision. */
export function bar(value: number, max: number, width = 40): string {
  if (max <= 0 || value <= 0) return '';
  const eighths = Math.max(1, Math.round((value / max) * width * 8));
  const partial = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8] ?? '';
  return '█'.repeat(Math.floor(eighths / 8)) + partial;
}

function table(report: DemoReport): string[] {
  const rows = [...report.payments, ...report.employee, ...report.write];
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
  const out: string[] = [''];
  out.push(c.bold(`Lesson ${report.lesson} — measured on this machine just now`));
  out.push(...table(report));
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
    if (first.cache !== 'MISS')
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
        hits.length === p.length - 1 ? `${hits.length} after it` : `${hits.length} of the ${p.length - 1} after it`;
      out.push(
        `${mark.ok} The ${after} were HITs${touchedDb === 0 ? ', without asking PostgreSQL' : ''}: ${ms(mean)} ms on the server on average (${times(serverMs(first), mean)} less time), ${ms(client)} ms for the client (${times(first.wallMs, client)} faster).`,
      );
      const levels = [...new Set(hits.map((m) => m.level).filter(Boolean))];
      if (levels.length > 0) out.push(`  They were served from ${levels.join(' and ')} (X-Cache-Level).`);
      if (client > 10 * mean)
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
  }
  out.push('');
  out.push(
    c.dim(
      `Columns: X-Cache and Server-Timing are the response's own headers; "client ms" is measured by this demo, request to last byte.`,
    ),
  );
  out.push(
    `Try it yourself: \`npx cachelab run ${id}\`, then curl -si 'http://127.0.0.1:3000${CLASSIC_PAYMENTS}' | grep -iE '^(x-cache|server-timing)'`,
  );
  return out.join('\n');
}
