import { randomBytes } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createPool, databaseUrl, type Pool } from '@cachelab/db';
import { SET_IF_GENERATION } from '@cachelab/lesson-04-hierarchical/generation';
import { connectRedis, deleteByPrefix, redisUrl } from '@cachelab/testkit';
import { startPostgresProxy } from './postgres-proxy.ts';
import { startRedisProxy } from './redis-proxy.ts';
import type { SocketListener } from './unix-listener.ts';

/**
 * The services side of a graded run's sandbox: a PostgreSQL role and a Redis ACL user of
 * its own, and two proxies on Unix sockets through which the run reaches them as those
 * identities and no other. Inside the sandbox (its own network namespace, so no route to
 * the real servers), `forward.mjs` listens on the addresses `env` names and pipes each
 * connection to these sockets.
 *
 * createRunServices:
 *  1. removes what an earlier run with the same id may have left (idempotent);
 *  2. creates the role and its grants, under a lock (concurrent GRANTs on one table fail);
 *  3. creates the ACL user;
 *  4. starts both proxies in `socketDir`.
 * If a step fails, what the earlier ones made is removed before the error is thrown.
 */

/** Role names are `cachelab_run_<runId>`. */
export const RUN_ROLE_PREFIX = 'cachelab_run_';
/** ACL user names are `cachelab-run-<runId>`. */
export const RUN_REDIS_USER_PREFIX = 'cachelab-run-';
/** Every key and channel of a run starts with `cachelab:grade:<runId>:`. */
export const RUN_REDIS_KEY_PREFIX = 'cachelab:grade:';

/**
 * Most connections a run's role may hold at once. A test file's pool opens up to 10, the
 * test kit's set-up and clean-up one each, the app under test maybe a pool of its own; more
 * than that is a run hogging the server's max_connections (100 by default), which every
 * parallel run shares.
 */
export const RUN_CONNECTION_LIMIT = 25;

/**
 * Defaults set on the role. A session may SET them otherwise (they are user-settable):
 * they stop a run that forgot a transaction or a query, not a run that means harm.
 */
const ROLE_SETTINGS: Readonly<Record<string, string>> = {
  statement_timeout: '60s',
  idle_in_transaction_session_timeout: '60s',
  lock_timeout: '30s',
};

/** Serialises every GRANT and DROP OWNED of run roles: two at once on one table fail with "tuple concurrently updated". */
const GRANT_LOCK = 7_417_002;

/** A run id becomes part of a role name, an ACL user, a key prefix: keep it to what all three take unquoted. */
const RUN_ID = /^[a-z0-9][a-z0-9_]{0,39}$/;

/**
 * Commands the run's ACL user may not run, on top of `-@admin -@dangerous` (CONFIG,
 * SHUTDOWN, DEBUG, FLUSHALL, FLUSHDB, KEYS, MONITOR, CLIENT LIST/KILL, SLOWLOG, ACL SETUSER…).
 * - `-@scripting -script -function +evalsha`: no script of the run's own. A script runs on
 *   Redis's single thread: `while true do end` would stop Redis for every run grading in
 *   parallel, and only SCRIPT KILL (ours, not theirs) ends it. SCRIPT FLUSH and FUNCTION
 *   FLUSH would also empty every other client's scripts. EVALSHA stays: it runs only a
 *   script Redis already holds, and the grader loads the course's own before each run
 *   (COURSE_SCRIPTS: lesson 04's generation guard, which exercises 06 and 07 use through
 *   lesson 04's cache). A script's commands and keys are checked against the ACL too.
 * - `-acl`: the whole family, WHOAMI and DRYRUN included: nothing to learn about the users.
 * - `-select +select|0`: database 0 only, the one every cleanup scans.
 * - `-move -copy`: MOVE and COPY … DB n put a key in another database, where no cleanup looks.
 * - `-randomkey -client|tracking -pubsub`: they name other runs' keys and channels.
 * - `+info`: ioredis's ready check sends INFO on every connect (it is in @dangerous).
 */
/** The scripts the course's own code runs (by EVALSHA, EVAL only when Redis lacks them). */
export const COURSE_SCRIPTS = [SET_IF_GENERATION] as const;

const ACL_RULES = [
  '+@all',
  '-@admin',
  '-@dangerous',
  '-@scripting',
  '-script',
  '-function',
  '+evalsha',
  '-acl',
  '-select',
  '+select|0',
  '-move',
  '-copy',
  '-randomkey',
  '-client|tracking',
  '-pubsub',
  '+info',
] as const;

export interface RunServicesOptions {
  /** Names the role, the ACL user and the key prefix: lower-case letters, digits, `_`; at most 40. */
  runId: string;
  /** Where the two Unix sockets go (created, mode 0755). Keep it short: a socket path has 107 bytes at most. */
  socketDir: string;
  /** Admin connection string. Default: DATABASE_URL, else `postgres://postgres@127.0.0.1:5432/cachelab`. */
  databaseUrl?: string;
  /** Admin Redis URL. Default: REDIS_URL, else `redis://127.0.0.1:6379`. Database 0 is used whatever it says. */
  redisUrl?: string;
}

export interface RunServices {
  /**
   * The environment the run's processes get: DATABASE_URL and PG* (the run's role, no
   * password: the proxy checks the role), REDIS_URL (no user, no password: the proxy logs
   * in, and refuses AUTH), CACHELAB_REDIS_PREFIX. Addresses are `listen`'s.
   */
  env: Record<string, string>;
  /** The proxies' Unix sockets, for the sandbox to bind-mount. */
  sockets: { postgres: string; redis: string };
  /**
   * Where `forward.mjs` listens inside the sandbox: the admin URLs' host and port (a
   * loopback address; any other host becomes 127.0.0.1), so the run uses the usual ports.
   */
  listen: { postgres: { host: string; port: number }; redis: { host: string; port: number } };
  /**
   * Close the proxies and every connection through them; terminate the role's sessions,
   * drop everything it owns (its schemas, even of a run killed mid-way) and the role; kill
   * the ACL user's connections, delete the user and every key under the prefix.
   * Never throws; resolves to what failed ([] when all went), the same on every call.
   */
  dispose(): Promise<string[]>;
}

export interface RunNames {
  role: string;
  redisUser: string;
  redisPrefix: string;
}

export function runNames(runId: string): RunNames {
  if (!RUN_ID.test(runId)) {
    throw new TypeError(
      `runId must be 1 to 40 lower-case letters, digits or '_', starting with a letter or digit; got ${JSON.stringify(runId)}`,
    );
  }
  return {
    role: `${RUN_ROLE_PREFIX}${runId}`,
    redisUser: `${RUN_REDIS_USER_PREFIX}${runId}`,
    redisPrefix: `${RUN_REDIS_KEY_PREFIX}${runId}:`,
  };
}

export async function createRunServices(options: RunServicesOptions): Promise<RunServices> {
  const names = runNames(options.runId);
  const adminDatabaseUrl = options.databaseUrl ?? databaseUrl();
  const adminRedisUrl = options.redisUrl ?? redisUrl();
  const pgTarget = parseTarget(adminDatabaseUrl, 5432);
  const redisTarget = parseTarget(adminRedisUrl, 6379);
  const database = decodeURIComponent(new URL(adminDatabaseUrl).pathname.replace(/^\//, '')) || 'postgres';
  const password = randomBytes(32).toString('hex');
  const sockets = { postgres: join(options.socketDir, 'postgres.sock'), redis: join(options.socketDir, 'redis.sock') };
  const urls = { databaseUrl: adminDatabaseUrl, redisUrl: adminRedisUrl };

  // What an earlier run of this id left (a killed grader): start clean rather than fail on "role exists".
  const leftovers = await removeRun(names, urls);
  if (leftovers.length > 0)
    throw new Error(`could not clear what an earlier run ${options.runId} left: ${leftovers.join('; ')}`);

  const listeners: SocketListener[] = [];
  const undo = async () => {
    await Promise.allSettled(listeners.map((l) => l.close()));
    await removeRun(names, urls);
  };
  try {
    await withAdminPool(adminDatabaseUrl, (pool) => createRole(pool, names.role, database));
    await withAdminRedis(adminRedisUrl, async (redis) => {
      await redis.call(
        'ACL',
        'SETUSER',
        names.redisUser,
        'reset',
        'on',
        `>${password}`,
        'resetkeys',
        `~${names.redisPrefix}*`,
        'resetchannels',
        `&${names.redisPrefix}*`,
        ...ACL_RULES,
      );
      for (const script of COURSE_SCRIPTS) await redis.call('SCRIPT', 'LOAD', script);
    });
    await mkdir(options.socketDir, { recursive: true });
    await chmod(options.socketDir, 0o755);
    listeners.push(
      await startPostgresProxy({
        socketPath: sockets.postgres,
        upstream: pgTarget,
        role: names.role,
        databases: database === 'postgres' ? ['postgres'] : [database, 'postgres'],
      }),
    );
    listeners.push(
      await startRedisProxy({ socketPath: sockets.redis, upstream: redisTarget, user: names.redisUser, password }),
    );
  } catch (err) {
    await undo();
    throw err;
  }

  const listen = { postgres: loopback(pgTarget), redis: loopback(redisTarget) };
  const pgHost = urlHost(listen.postgres.host);
  const env: Record<string, string> = {
    DATABASE_URL: `postgres://${names.role}@${pgHost}:${listen.postgres.port}/${encodeURIComponent(database)}`,
    PGHOST: listen.postgres.host,
    PGPORT: String(listen.postgres.port),
    PGUSER: names.role,
    PGDATABASE: database,
    REDIS_URL: `redis://${urlHost(listen.redis.host)}:${listen.redis.port}`,
    CACHELAB_REDIS_PREFIX: names.redisPrefix,
  };

  let disposing: Promise<string[]> | undefined;
  return {
    env,
    sockets,
    listen,
    dispose() {
      disposing ??= (async () => {
        // Proxies first: no new command from the run can race the clean-up below.
        const closed = await Promise.allSettled(listeners.map((l) => l.close()));
        const failures = closed.flatMap((r) =>
          r.status === 'rejected' ? [`closing a proxy: ${message(r.reason)}`] : [],
        );
        return [...failures, ...(await removeRun(names, urls))];
      })();
      return disposing;
    },
  };
}

export interface SweepReport {
  /** Run ids whose role, ACL user or keys were removed. */
  removed: string[];
  /** What could not be removed, one line each. */
  failures: string[];
}

/**
 * Remove every run role, ACL user and key prefix whose run id is not active: what a grader
 * that was killed (SIGKILL, a reboot) never disposed of. Call it when a batch starts, with
 * the ids of the runs that are still going (none, for a single grader), or a predicate
 * asked at the moment each id is found, for graders that share the servers and start runs
 * while this one sweeps.
 */
export async function sweepStaleRunServices(
  activeRunIds: Iterable<string> | ((runId: string) => boolean),
  options: { databaseUrl?: string; redisUrl?: string } = {},
): Promise<SweepReport> {
  const urls = { databaseUrl: options.databaseUrl ?? databaseUrl(), redisUrl: options.redisUrl ?? redisUrl() };
  const isActive =
    typeof activeRunIds === 'function'
      ? activeRunIds
      : (
          (ids: Set<string>) => (id: string) =>
            ids.has(id)
        )(new Set(activeRunIds));
  const found = new Set<string>();
  const failures: string[] = [];
  try {
    await withAdminPool(urls.databaseUrl, async (pool) => {
      const { rows } = await pool.query<{ rolname: string }>(
        'SELECT rolname FROM pg_catalog.pg_roles WHERE starts_with(rolname, $1)',
        [RUN_ROLE_PREFIX],
      );
      for (const { rolname } of rows) found.add(rolname.slice(RUN_ROLE_PREFIX.length));
    });
  } catch (err) {
    failures.push(`listing run roles: ${message(err)}`);
  }
  try {
    await withAdminRedis(urls.redisUrl, async (redis) => {
      const users = (await redis.call('ACL', 'USERS')) as string[];
      for (const user of users)
        if (user.startsWith(RUN_REDIS_USER_PREFIX)) found.add(user.slice(RUN_REDIS_USER_PREFIX.length));
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${RUN_REDIS_KEY_PREFIX}*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) found.add(key.slice(RUN_REDIS_KEY_PREFIX.length).split(':')[0] ?? '');
      } while (cursor !== '0');
    });
  } catch (err) {
    failures.push(`listing run users and keys: ${message(err)}`);
  }
  const removed: string[] = [];
  for (const id of [...found].sort()) {
    if (!RUN_ID.test(id) || isActive(id)) continue;
    const problems = await removeRun(runNames(id), urls);
    if (problems.length === 0) removed.push(id);
    else failures.push(...problems);
  }
  return { removed, failures };
}

/** The role, with only what the test kit and the exercises need. */
async function createRole(pool: Pool, role: string, database: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_catalog.pg_advisory_xact_lock($1)', [GRANT_LOCK]);
    const seeded = await client.query<{ ok: boolean }>(
      "SELECT pg_catalog.to_regclass('public.employees') IS NOT NULL AS ok",
    );
    if (!seeded.rows[0]?.ok) {
      throw new Error(
        `${database} has no public.employees: migrate and seed it (npm test, or cachelab services up) before grading`,
      );
    }
    await client.query(
      `CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT ${RUN_CONNECTION_LIMIT}`,
    );
    for (const [name, value] of Object.entries(ROLE_SETTINGS)) {
      await client.query(`ALTER ROLE ${role} SET ${name} = '${value}'`);
    }
    // CREATE on the database is CREATE SCHEMA: the test kit makes one schema per test file
    // (t_<id>), owned by the role, so the role may do anything inside it and nothing outside.
    await client.query(`GRANT CONNECT, CREATE ON DATABASE ${quoteIdent(database)} TO ${role}`);
    // The test kit's global set-up probes the server through the `postgres` database.
    if (database !== 'postgres') await client.query(`GRANT CONNECT ON DATABASE postgres TO ${role}`);
    await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
    await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    // PostgreSQL 15 no longer lets PUBLIC create in schema public, but a database made by an
    // older server keeps the old grant: the run could then plant functions that another
    // role's unqualified call would run. Refuse rather than change the database's ACL behind its owner's back.
    const planted = await client.query<{ can: boolean }>(
      "SELECT pg_catalog.has_schema_privilege($1, 'public', 'CREATE') AS can",
      [role],
    );
    if (planted.rows[0]?.can) {
      throw new Error(
        `every role may create objects in ${database}'s schema public; run REVOKE CREATE ON SCHEMA public FROM PUBLIC in ${database} before grading`,
      );
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Remove a run's role (with all it owns) and ACL user (with all its keys); what failed, one
 * line each. Each half runs even when the other fails, and each does nothing when there
 * is nothing left, so it is safe to call twice.
 */
async function removeRun(names: RunNames, urls: { databaseUrl: string; redisUrl: string }): Promise<string[]> {
  const failures: string[] = [];
  try {
    await withAdminRedis(urls.redisUrl, async (redis) => {
      // The user first: once it and its connections are gone, nothing can add a key.
      await redis.call('CLIENT', 'KILL', 'USER', names.redisUser).catch(() => {}); // "No such user" when already gone
      await redis.call('ACL', 'DELUSER', names.redisUser);
      await deleteByPrefix(redis, names.redisPrefix);
    });
  } catch (err) {
    failures.push(`Redis user ${names.redisUser} and keys ${names.redisPrefix}*: ${message(err)}`);
  }
  try {
    await withAdminPool(urls.databaseUrl, (pool) => dropRole(pool, names.role));
  } catch (err) {
    failures.push(`PostgreSQL role ${names.role}: ${message(err)}`);
  }
  return failures;
}

async function dropRole(pool: Pool, role: string): Promise<void> {
  const exists = await pool.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [role]);
  if (exists.rowCount === 0) return;
  // NOLOGIN first, committed, so that no new session starts while we end the others.
  await pool.query(`ALTER ROLE ${role} NOLOGIN`);
  // Wait up to 5 s for each to exit: their locks would otherwise make DROP OWNED wait.
  await pool.query(
    'SELECT pg_catalog.pg_terminate_backend(pid, 5000) FROM pg_catalog.pg_stat_activity WHERE usename = $1',
    [role],
  );
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_catalog.pg_advisory_xact_lock($1)', [GRANT_LOCK]);
    // Drops every object the role owns in this database (its t_<id> schemas and what is in
    // them) and revokes its grants, here and on databases.
    await client.query(`DROP OWNED BY ${role} CASCADE`);
    await client.query(`DROP ROLE ${role}`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * An admin pool whose search_path is pg_catalog alone. A run may create a schema of any
 * name, `postgres` included, which an admin's default search_path ("$user", public) would
 * search first: a function planted there could stand in for one we call. Everything here is
 * qualified too.
 */
async function withAdminPool<T>(url: string, fn: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = createPool({ url, max: 1, searchPath: ['pg_catalog'] });
  try {
    return await fn(pool);
  } finally {
    await pool.end().catch(() => {});
  }
}

type AdminRedis = ReturnType<typeof connectRedis>;

async function withAdminRedis<T>(url: string, fn: (redis: AdminRedis) => Promise<T>): Promise<T> {
  // Database 0 whatever the URL says: the run's connections never SELECT another.
  const redis = connectRedis({ url, db: 0, lazyConnect: true, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

function parseTarget(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(u.port) || defaultPort };
}

/** Inside the sandbox only loopback exists: keep a loopback address, make anything else 127.0.0.1. */
function loopback(target: { host: string; port: number }): { host: string; port: number } {
  const isLoopback = /^127\.\d+\.\d+\.\d+$/.test(target.host) || target.host === '::1';
  return { host: isLoopback ? target.host : '127.0.0.1', port: target.port };
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
