import type { Pool } from '@cachelab/db';
import {
  asBuffer,
  type CacheStore,
  type CacheStoreCapabilities,
  CacheStoreError,
  checkKey,
  checkNamespace,
  checkTtlMs,
  checkValue,
} from './cache-store.ts';

/** The table's default name. It lands in the first schema of the pool's search_path. */
export const DEFAULT_TABLE = 'cache_entries';

/**
 * Largest value stored. PostgreSQL itself takes up to 1 GB in a bytea, but every byte of a hit
 * travels as hex text (two characters a byte) and is decoded in this process: a cache in a
 * table is for values of kilobytes to a few megabytes, not for blobs.
 */
export const POSTGRES_MAX_VALUE_BYTES = 64 * 1024 * 1024;

export const POSTGRES_CAPABILITIES: CacheStoreCapabilities = {
  sharedAcrossProcesses: true,
  survivesRestart: true, // a clean restart, yes; a *crash* of PostgreSQL empties an UNLOGGED table
  maxValueBytes: POSTGRES_MAX_VALUE_BYTES,
  ttlResolutionMs: 1, // timestamptz keeps microseconds
};

/**
 * Create the cache table (and its index) when it is not there yet. Run it once at start-up,
 * as a migration would, not on every request.
 *
 *   CREATE UNLOGGED TABLE cache_entries (
 *     key        text        PRIMARY KEY,      -- namespace + key, compared exactly
 *     value      bytea       NOT NULL,         -- raw bytes: any byte value, no encoding
 *     expires_at timestamptz NOT NULL          -- on the server's clock: one clock for every instance
 *   );
 *   CREATE INDEX … ON cache_entries (expires_at);   -- lets the sweep find expired rows
 *
 * **UNLOGGED**: PostgreSQL writes every change to an ordinary table twice, first to the
 * write-ahead log (WAL), so that it can replay it after a crash and send it to replicas. An
 * unlogged table skips the WAL: writes cost less (no WAL record to write and flush for every
 * set). The price is that after a crash, or an unclean shutdown, the table is **emptied**, and it is not
 * replicated to standbys. For a cache both are fine: losing it costs misses, never data.
 * (A clean restart keeps it.)
 */
export async function createCacheTable(db: Pool, table: string = DEFAULT_TABLE): Promise<void> {
  const t = quoteTable(table);
  const index = quoteIdentifier(`${table.split('.').pop()}_expires_at_idx`);
  try {
    await db.query(`CREATE UNLOGGED TABLE IF NOT EXISTS ${t} (
        key        text        PRIMARY KEY,
        value      bytea       NOT NULL,
        expires_at timestamptz NOT NULL
      )`);
    await db.query(`CREATE INDEX IF NOT EXISTS ${index} ON ${t} (expires_at)`);
  } catch (err) {
    // Two instances starting at once: IF NOT EXISTS is checked before the catalog insert, so the
    // loser of the race gets a unique violation (23505) or "already exists" (42P07). It exists: fine.
    const code = (err as { code?: string }).code;
    if (code !== '23505' && code !== '42P07') throw err;
  }
}

export interface PostgresStoreOptions {
  /** The pool the store queries with. The store never closes it. A small pool of its own keeps
   *  cache queries from queueing behind slow report queries (and the other way round). */
  db: Pool;
  /** Put in front of every key, e.g. `cachelab:06:`. `clear()` deletes exactly the rows that start with it. */
  namespace: string;
  /** The table, created by createCacheTable. Default `cache_entries`. */
  table?: string;
}

export interface Sweeper {
  /** Stop sweeping: no new sweep starts, and the promise resolves when the one running (if any) is done. */
  stop(): Promise<void>;
}

export interface SweeperOptions {
  /** How often to sweep, ms. Default 60,000. */
  intervalMs?: number;
  /** Most rows one DELETE removes. Default 1,000: short statements, short locks. */
  batchSize?: number;
  /** Most batches per sweep, so one sweep cannot run for minutes after an outage. Default 10. */
  maxBatches?: number;
  /** Called when a sweep fails (PostgreSQL down). Default: ignore; the next sweep tries again. */
  onError?: (error: Error) => void;
}

export interface PostgresStore extends CacheStore {
  readonly namespace: string;
  /** Milliseconds before the entry under `key` expires, or undefined when there is none. */
  remainingTtlMs(key: string): Promise<number | undefined>;
  /** Delete up to `batchSize` expired rows (of every namespace: they are garbage). Returns how many. */
  sweep(batchSize?: number): Promise<number>;
  /** Sweep periodically until stopped. The timer does not keep the process alive. */
  startSweeper(options?: SweeperOptions): Sweeper;
}

/**
 * A cache in a PostgreSQL table. Why would you? When PostgreSQL is already there and Redis is
 * not (one service less to run, back up and secure), for values that are expensive to compute
 * and cheap to read (a report that takes seconds), or when cached data must sit next to the
 * data it comes from. It is slower than Redis for small hot keys, and every hit is a query:
 * see the README for the numbers measured here.
 *
 * - `set` is one statement, `INSERT … ON CONFLICT (key) DO UPDATE`: insert, or replace value and
 *   expiry, atomically, however many instances set the same key at once. (SELECT-then-INSERT,
 *   or DELETE-then-INSERT, races: two sets at once and one fails on the primary key.)
 * - `get` ignores expired rows (`expires_at > now()`): expiry is part of the read, not a job
 *   that has to run in time. Expired rows stay until the sweep removes them.
 * - Expiry times are computed by the server (`now() + ttl`), so instances whose clocks differ
 *   still agree on what has expired.
 * - `clear` deletes the rows whose key *starts with* the namespace, with `starts_with()`, never
 *   `LIKE namespace || '%'`: in LIKE, `_` and `%` in the namespace are wildcards, and
 *   `cache_a_` would clear `cache_ab…` too.
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const { db, namespace } = options;
  checkNamespace(namespace, 'createPostgresStore');
  const table = options.table ?? DEFAULT_TABLE;
  const t = quoteTable(table);
  const full = (key: string) => namespace + key;

  /** Run a statement; a failure becomes a CacheStoreError, with a hint when the table is missing. */
  async function run<R extends Record<string, unknown>>(
    operation: 'get' | 'set' | 'delete' | 'clear' | 'sweep',
    sql: string,
    params: unknown[],
  ) {
    try {
      return await db.query<R>(sql, params);
    } catch (err) {
      const cause =
        (err as { code?: string }).code === '42P01'
          ? new Error(`the table ${table} does not exist: call createCacheTable(db) once at start-up`, { cause: err })
          : err;
      throw new CacheStoreError('postgres', operation, { cause });
    }
  }

  const store: PostgresStore = {
    name: 'postgres',
    namespace,
    capabilities: POSTGRES_CAPABILITIES,

    async get(key) {
      checkKey(key, 'postgres store get');
      const { rows } = await run<{ value: Buffer }>(
        'get',
        `SELECT value FROM ${t} WHERE key = $1 AND expires_at > now()`,
        [full(key)],
      );
      return rows[0]?.value;
    },

    async set(key, value, { ttlMs }) {
      checkKey(key, 'postgres store set');
      checkValue(value, 'postgres store set');
      checkTtlMs(ttlMs, 'postgres store set');
      if (value.byteLength > POSTGRES_MAX_VALUE_BYTES) {
        await store.delete(key); // too large: keep nothing, not even the older value
        return;
      }
      // A Buffer parameter goes to PostgreSQL as binary: no encoding, every byte value intact.
      await run(
        'set',
        `INSERT INTO ${t} (key, value, expires_at)
         VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
        [full(key), asBuffer(value), ttlMs],
      );
    },

    async delete(key) {
      checkKey(key, 'postgres store delete');
      await run('delete', `DELETE FROM ${t} WHERE key = $1`, [full(key)]);
    },

    async clear() {
      await run('clear', `DELETE FROM ${t} WHERE starts_with(key, $1)`, [namespace]);
    },

    async remainingTtlMs(key) {
      const { rows } = await run<{ ms: number }>(
        'get',
        `SELECT (extract(epoch FROM expires_at - now()) * 1000)::float8 AS ms FROM ${t} WHERE key = $1 AND expires_at > now()`,
        [full(key)],
      );
      return rows[0]?.ms;
    },

    async sweep(batchSize = 1_000) {
      if (!Number.isSafeInteger(batchSize) || batchSize <= 0) {
        throw new TypeError(`sweep: \`batchSize\` must be a positive whole number, got ${String(batchSize)}.`);
      }
      // One bounded batch: short statement, few locks. SKIP LOCKED: two instances sweeping at
      // once take different rows instead of waiting for each other, and a row a set is
      // rewriting right now is skipped (it is about to be fresh anyway).
      const { rowCount } = await run(
        'sweep',
        `DELETE FROM ${t} WHERE key IN (
           SELECT key FROM ${t} WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
         )`,
        [batchSize],
      );
      return rowCount ?? 0;
    },

    startSweeper(sweeperOptions = {}) {
      const { intervalMs = 60_000, batchSize = 1_000, maxBatches = 10 } = sweeperOptions;
      const onError = sweeperOptions.onError ?? (() => {});
      let stopped = false;
      let running: Promise<void> = Promise.resolve();
      const sweepOnce = async () => {
        try {
          // Full batches mean there is more: go on, up to maxBatches, then wait for the next tick.
          for (let i = 0; i < maxBatches && !stopped; i++) {
            if ((await store.sweep(batchSize)) < batchSize) break;
          }
        } catch (err) {
          onError(err instanceof Error ? err : new Error(String(err)));
        }
      };
      const timer = setInterval(() => {
        running = running.then(sweepOnce); // never two sweeps of one sweeper at once
      }, intervalMs);
      timer.unref();
      return {
        async stop() {
          stopped = true;
          clearInterval(timer);
          await running;
        },
      };
    },
  };
  return store;
}

/** `name` or `schema.name`, each part a plain identifier, quoted. Anything else is refused. */
function quoteTable(table: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/.test(table)) {
    throw new TypeError(
      `postgres store: \`table\` must be a plain name like cache_entries (letters, digits, _), optionally schema.name, got ${JSON.stringify(table)}.`,
    );
  }
  return table.split('.').map(quoteIdentifier).join('.');
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
