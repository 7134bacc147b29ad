import type { Pool } from '@cachelab/db';
import {
  asBuffer,
  type CacheStore,
  type CacheStoreCapabilities,
  checkKey,
  checkNamespace,
  checkTtlMs,
  checkValue,
} from '@cachelab/lesson-06-custom-backends/cache-store';

/**
 * A CacheStore kept in a PostgreSQL table: the interface of lesson 06
 * (`lessons/06-custom-backends/src/cache-store.ts`), checked by testkit's conformance suite.
 *
 * The tests rely on these names: the table `cache_entries`, its columns `key`, `value` and
 * `expires_at`, and each row's key being `namespace + key`. Keep them.
 */
export const TABLE = 'cache_entries';

/** What this store promises. The tests hold it to exactly this: do not change it. */
export const CAPABILITIES: CacheStoreCapabilities = {
  sharedAcrossProcesses: true,
  survivesRestart: true,
  maxValueBytes: 64 * 1024 * 1024,
  ttlResolutionMs: 1,
};

/** Create the table when it is not there yet (run once at start-up). */
export async function createCacheTable(db: Pool): Promise<void> {
  // UNLOGGED: no write-ahead log, so every set costs one write instead of two. After a crash
  // the table comes back empty, which for a cache only means misses. bytea: raw bytes, any of
  // the 256 values, with no encoding to refuse a NUL or mangle invalid UTF-8 (text would).
  await db.query(`CREATE UNLOGGED TABLE IF NOT EXISTS ${TABLE} (
      key        text        PRIMARY KEY,
      value      bytea       NOT NULL,
      expires_at timestamptz NOT NULL
    )`);
  // The sweep asks for "rows with expires_at <= now()": with this index that is a range scan
  // of the expired rows only, not a read of the whole table.
  await db.query(`CREATE INDEX IF NOT EXISTS ${TABLE}_expires_at_idx ON ${TABLE} (expires_at)`);
}

export interface PostgresStore extends CacheStore {
  readonly namespace: string;
  /** Delete up to `batchSize` expired rows, of any namespace. Resolves to how many were deleted. */
  sweep(batchSize?: number): Promise<number>;
}

export function createPostgresStore(options: { db: Pool; namespace: string }): PostgresStore {
  const { db, namespace } = options;
  checkNamespace(namespace, 'createPostgresStore');
  /** The key of a row: the tests look rows up this way. */
  const full = (key: string) => namespace + key;

  return {
    name: 'postgres (exercise 08)',
    namespace,
    capabilities: CAPABILITIES,

    async get(key) {
      checkKey(key, 'get');
      // Expiry is part of the read: an expired row is a miss whether or not the sweep has run.
      const { rows } = await db.query<{ value: Buffer }>(
        `SELECT value FROM ${TABLE} WHERE key = $1 AND expires_at > now()`,
        [full(key)],
      );
      return rows[0]?.value;
    },

    async set(key, value, { ttlMs }) {
      checkKey(key, 'set');
      checkValue(value, 'set');
      checkTtlMs(ttlMs, 'set');
      if (value.byteLength > CAPABILITIES.maxValueBytes) {
        await db.query(`DELETE FROM ${TABLE} WHERE key = $1`, [full(key)]); // too large: keep nothing, not even the old value
        return;
      }
      // One atomic statement: insert, or replace value *and* expiry of the existing row. Two
      // sets racing on one key both succeed (the second waits for the first's row lock), where
      // SELECT-then-INSERT would fail one of them on the primary key. now() is the server's
      // clock: every instance computes expiry the same way.
      await db.query(
        `INSERT INTO ${TABLE} (key, value, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
        [full(key), asBuffer(value), ttlMs],
      );
    },

    async delete(key) {
      checkKey(key, 'delete');
      await db.query(`DELETE FROM ${TABLE} WHERE key = $1`, [full(key)]);
    },

    async clear() {
      // starts_with() compares the prefix literally. `LIKE namespace || '%'` would not: in LIKE,
      // `_` and `%` inside the namespace are wildcards, and other namespaces would match.
      await db.query(`DELETE FROM ${TABLE} WHERE starts_with(key, $1)`, [namespace]);
    },

    async sweep(batchSize = 1_000) {
      // A bounded batch keeps each DELETE short (few locks, little work at once); call it again
      // while it returns batchSize. SKIP LOCKED: two instances sweeping at once take different
      // rows instead of queueing behind each other.
      const { rowCount } = await db.query(
        `DELETE FROM ${TABLE} WHERE key IN (
           SELECT key FROM ${TABLE} WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
         )`,
        [batchSize],
      );
      return rowCount ?? 0;
    },
  };
}
