import { createPool } from '@cachelab/db';
import { describeCacheStore, holdTable, useServices } from '@cachelab/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { CacheStoreError } from '../src/cache-store.ts';
import { createCacheTable, createPostgresStore, POSTGRES_CAPABILITIES } from '../src/postgres-store.ts';

const services = useServices();

// The table lives in this file's own schema (useServices puts it first on the search_path).
beforeAll(() => createCacheTable(services.db));

describeCacheStore(
  'postgres (an UNLOGGED table)',
  ({ namespace }) => {
    const full = services.prefix + namespace;
    const store = createPostgresStore({ db: services.db, namespace: full });
    // PostgreSQL's clock (now()) cannot be moved: the suite ages the rows instead (expires_at
    // moved back), reads expires_at − now() for the TTL the table holds, and holds the table to
    // make concurrent sets meet at their write.
    return {
      store,
      remainingTtlMs: (key) => store.remainingTtlMs(key),
      ageEntries: async (ms) => {
        await services.db.query(
          `UPDATE cache_entries SET expires_at = expires_at - $2 * interval '1 millisecond' WHERE starts_with(key, $1)`,
          [full, ms],
        );
      },
      holdWrites: () => holdTable(services.db, 'cache_entries'),
    };
  },
  POSTGRES_CAPABILITIES,
);

const rowsOf = async (prefix: string) =>
  (
    await services.db.query<{ key: string; expired: boolean }>(
      'SELECT key, expires_at <= now() AS expired FROM cache_entries WHERE starts_with(key, $1) ORDER BY key',
      [prefix],
    )
  ).rows;

describe('the PostgreSQL store, beyond the contract', () => {
  it('keeps entries in an UNLOGGED table with a bytea value and an index on expires_at', async () => {
    const { rows } = await services.db.query<{ persistence: string; value_type: string; indexed: boolean }>(
      `SELECT c.relpersistence AS persistence,
              (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'value') AS value_type,
              EXISTS (SELECT 1 FROM pg_indexes i WHERE i.schemaname = $1 AND i.tablename = 'cache_entries' AND i.indexdef LIKE '%(expires_at)%') AS indexed
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = 'cache_entries'`,
      [services.schema],
    );
    expect(rows[0]).toEqual({ persistence: 'u', value_type: 'bytea', indexed: true });
  });

  it('creating the table again is harmless (every instance runs it at start-up)', async () => {
    await Promise.all([createCacheTable(services.db), createCacheTable(services.db)]);
  });

  it('does not serve an expired row that is still in the table, and the sweep then deletes it', async () => {
    const ns = `${services.prefix}sweep:`;
    const store = createPostgresStore({ db: services.db, namespace: ns });
    await store.set('old', Buffer.from('x'), { ttlMs: 1 });
    await store.set('fresh', Buffer.from('y'), { ttlMs: 60_000 });
    await new Promise((r) => setTimeout(r, 20));
    expect(await store.get('old'), 'an expired row must read as a miss').toBeUndefined();
    expect(await rowsOf(ns), 'until the sweep, the expired row is still there').toEqual([
      { key: `${ns}fresh`, expired: false },
      { key: `${ns}old`, expired: true },
    ]);
    expect(await store.sweep()).toBeGreaterThanOrEqual(1);
    expect(await rowsOf(ns)).toEqual([{ key: `${ns}fresh`, expired: false }]);
  });

  it('sweeps in bounded batches', async () => {
    const ns = `${services.prefix}batch:`;
    const store = createPostgresStore({ db: services.db, namespace: ns });
    await store.sweep(100_000); // start from no expired rows at all
    await Promise.all(Array.from({ length: 25 }, (_, i) => store.set(`k${i}`, Buffer.from('x'), { ttlMs: 1 })));
    await new Promise((r) => setTimeout(r, 20));
    expect(await store.sweep(10), 'one sweep deletes at most batchSize rows').toBe(10);
    expect(await store.sweep(10)).toBe(10);
    expect(await store.sweep(10)).toBe(5);
    expect(await store.sweep(10)).toBe(0);
  });

  it('sweeps periodically until stopped', async () => {
    const ns = `${services.prefix}periodic:`;
    const store = createPostgresStore({ db: services.db, namespace: ns });
    await store.set('a', Buffer.from('x'), { ttlMs: 1 });
    const sweeper = store.startSweeper({ intervalMs: 50, batchSize: 2 });
    const deadline = Date.now() + 2_000;
    while ((await rowsOf(ns)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(await rowsOf(ns), 'the sweeper should have deleted the expired row').toEqual([]);
    await sweeper.stop();
    await store.set('b', Buffer.from('x'), { ttlMs: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(await rowsOf(ns), 'a stopped sweeper must not sweep any more').toEqual([{ key: `${ns}b`, expired: true }]);
  });

  it('names the fix when the table is missing', async () => {
    const store = createPostgresStore({ db: services.db, namespace: 'x:', table: 'no_such_table' });
    await expect(store.get('k')).rejects.toThrow(/does not exist: call createCacheTable\(db\)/);
  });

  it('rejects with a CacheStoreError when PostgreSQL is unreachable', async () => {
    const down = createPool({ url: 'postgres://postgres@127.0.0.1:1/cachelab', connectionTimeoutMs: 500 });
    try {
      const store = createPostgresStore({ db: down, namespace: 'x:' });
      await expect(store.get('k')).rejects.toBeInstanceOf(CacheStoreError);
    } finally {
      await down.end();
    }
  });

  it('refuses a table name that is not a plain identifier', () => {
    expect(() =>
      createPostgresStore({ db: services.db, namespace: 'x:', table: 'cache; DROP TABLE employees' }),
    ).toThrow(TypeError);
  });
});
