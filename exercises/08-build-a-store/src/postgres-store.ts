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
  // TODO: make this a table fit for a cache: nothing in it must survive a crash (spare the
  // write-ahead log), values are raw bytes of any value, and the sweep must find expired rows
  // without reading the whole table.
  await db.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (
      key        text        PRIMARY KEY,
      value      text        NOT NULL,
      expires_at timestamptz NOT NULL
    )`);
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
      // TODO: an entry past its expiry is a miss, even while its row is still in the table.
      const { rows } = await db.query<{ value: Buffer }>(`SELECT value FROM ${TABLE} WHERE key = $1`, [full(key)]);
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
      // TODO: setting a key that already exists must replace its value and its expiry, in one
      // statement: two instances may set the same key at the same moment.
      await db.query(
        `INSERT INTO ${TABLE} (key, value, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')`,
        [full(key), asBuffer(value), ttlMs],
      );
    },

    async delete(key) {
      checkKey(key, 'delete');
      await db.query(`DELETE FROM ${TABLE} WHERE key = $1`, [full(key)]);
    },

    async clear() {
      // TODO: delete only this store's entries: the rows whose key starts with `namespace`,
      // taken literally (a namespace may contain %, _ or other characters with a meaning in SQL).
      await db.query(`DELETE FROM ${TABLE}`);
    },

    async sweep(batchSize = 1_000) {
      // TODO: delete at most `batchSize` expired rows (any namespace: they are garbage to
      // everyone) and resolve to how many were deleted.
      void batchSize;
      return 0;
    },
  };
}
