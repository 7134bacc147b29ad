import { describeCacheStore, holdTable, useServices } from '@cachelab/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCacheTable, createPostgresStore } from '../src/postgres-store.ts';

const services = useServices();

// Your table is created in this test file's own schema (first on the search_path).
beforeAll(() => createCacheTable(services.db));

/** How many ms the row of `key` has before it expires, read straight from the table. */
async function remainingTtlMs(fullKey: string): Promise<number | undefined> {
  const { rows } = await services.db.query<{ ms: number }>(
    'SELECT (extract(epoch FROM expires_at - now()) * 1000)::float8 AS ms FROM cache_entries WHERE key = $1',
    [fullKey],
  );
  return rows[0]?.ms;
}

/**
 * Make every row whose key starts with `prefix` `ms` older: its expires_at moves back by `ms`.
 * To your store, that is PostgreSQL's clock moved forward for those rows, which a test cannot do
 * to now() itself: expiry is checked without waiting for it.
 */
async function ageRows(prefix: string, ms: number): Promise<void> {
  await services.db.query(
    `UPDATE cache_entries SET expires_at = expires_at - $2 * interval '1 millisecond' WHERE starts_with(key, $1)`,
    [prefix, ms],
  );
}

// The conformance suite every store of lesson 06 passes: it is the grader of this exercise.
describeCacheStore(
  'your PostgreSQL store',
  ({ namespace }) => {
    const full = services.prefix + namespace;
    const store = createPostgresStore({ db: services.db, namespace: full });
    return {
      store,
      // The TTL your set() wrote, bounded from both sides; expiry checked by ageing the rows; and
      // two concurrent sets of one new key held at their write (the table is held) until both wait.
      remainingTtlMs: (key) => remainingTtlMs(full + key),
      ageEntries: (ms) => ageRows(full, ms),
      holdWrites: () => holdTable(services.db, 'cache_entries'),
    };
  },
  {
    sharedAcrossProcesses: true,
    survivesRestart: true,
    maxValueBytes: 64 * 1024 * 1024,
    ttlResolutionMs: 1,
  },
);

describe('your cache table', () => {
  const describeTable = async () =>
    (
      await services.db.query<{ persistence: string; value_type: string; expires_index: boolean }>(
        `SELECT c.relpersistence AS persistence,
                format_type(a.atttypid, a.atttypmod) AS value_type,
                EXISTS (
                  SELECT 1 FROM pg_index i JOIN pg_attribute ia ON ia.attrelid = c.oid AND ia.attnum = i.indkey[0]
                   WHERE i.indrelid = c.oid AND ia.attname = 'expires_at'
                ) AS expires_index
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'value'
          WHERE n.nspname = $1 AND c.relname = 'cache_entries'`,
        [services.schema],
      )
    ).rows[0];

  it('is UNLOGGED: a cache does not need the write-ahead log', async () => {
    const table = await describeTable();
    expect(table, 'createCacheTable() did not create a table named cache_entries with a value column').toBeDefined();
    expect(
      table?.persistence,
      'cache_entries is an ordinary (logged) table: every set is written twice, once to the WAL. A cache may be lost in a crash: create it UNLOGGED',
    ).toBe('u');
  });

  it('keeps values in a bytea column', async () => {
    expect(
      (await describeTable())?.value_type,
      'the value column should be bytea: values are raw bytes, and a text column refuses or changes some of them',
    ).toBe('bytea');
  });

  it('has an index on expires_at, so the sweep finds expired rows without reading every row', async () => {
    expect(
      (await describeTable())?.expires_index,
      'no index starts with expires_at: every sweep would read the whole table to find the expired rows',
    ).toBe(true);
  });
});

describe('the sweep', () => {
  const rowsOf = async (prefix: string) =>
    (
      await services.db.query<{ key: string }>(
        'SELECT key FROM cache_entries WHERE starts_with(key, $1) ORDER BY key',
        [prefix],
      )
    ).rows.map((r) => r.key.slice(prefix.length));

  it('deletes expired rows, at most batchSize at a time, and keeps the fresh ones', async () => {
    const ns = `${services.prefix}sweep:`;
    const store = createPostgresStore({ db: services.db, namespace: ns });
    const other = createPostgresStore({ db: services.db, namespace: `${services.prefix}other-sweep:` });
    await store.sweep(100_000); // start with no expired rows
    for (let i = 0; i < 5; i++) await store.set(`old${i}`, Buffer.from('x'), { ttlMs: 1_000 });
    await other.set('old', Buffer.from('x'), { ttlMs: 1_000 });
    await store.set('fresh', Buffer.from('y'), { ttlMs: 60_000 });
    // Two seconds later, as far as the rows can tell: the six `old` rows have expired, `fresh` has not.
    await ageRows(ns, 2_000);
    await ageRows(`${services.prefix}other-sweep:`, 2_000);

    expect(await store.sweep(4), 'sweep(4) should delete exactly 4 of the 6 expired rows and say so').toBe(4);
    expect(await store.sweep(4), 'the second sweep(4) should delete the 2 expired rows left').toBe(2);
    expect(await store.sweep(4), 'with nothing expired left, sweep() should delete nothing').toBe(0);
    expect(await rowsOf(ns), 'the sweep deleted a row that had not expired, or left an expired one').toEqual(['fresh']);
    expect(await rowsOf(`${services.prefix}other-sweep:`), 'expired rows of every namespace are garbage').toEqual([]);
  });
});

describe('set, beyond the conformance suite', () => {
  it('two sets of a new key that both checked before either wrote: both succeed, and one value wins', async () => {
    const ns = `${services.prefix}race:`;
    const store = createPostgresStore({ db: services.db, namespace: ns });
    // The test holds the table (SHARE mode: reads go on, writes wait), starts two sets of a key
    // that is not there, and waits until PostgreSQL reports both waiting at their write. Whatever
    // each set looked at first, it looked before the other wrote: the race two instances run when
    // they fill the same missing entry at the same moment, made exact.
    const table = await holdTable(services.db, 'cache_entries');
    const sets = [
      store.set('contended', Buffer.from('from A'), { ttlMs: 60_000 }),
      store.set('contended', Buffer.from('from B'), { ttlMs: 60_000 }),
    ];
    try {
      await table.blocked(2);
    } finally {
      await table.release();
    }
    const results = await Promise.allSettled(sets);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(
      failed.length,
      `of two sets of one new key at the same moment, ${failed.length} failed (${String(failed[0]?.reason?.message ?? failed[0]?.reason)}): looking first and then inserting lets both see "not there" and both insert. Insert or replace in one statement (INSERT … ON CONFLICT … DO UPDATE)`,
    ).toBe(0);
    const got = (await store.get('contended'))?.toString();
    expect(['from A', 'from B'], `after two concurrent sets, get() answered ${JSON.stringify(got)}`).toContain(got);
  });

  it('stores the TTL it is asked for, to the millisecond: never longer, never shorter', async () => {
    const ns = `${services.prefix}ttl:`;
    const store = createPostgresStore({ db: services.db, namespace: ns });
    await store.get('warm-up');
    for (const ttlMs of [1_500, 60_000, 86_400_000]) {
      // The row is read right after the set; `elapsed` covers both, so the TTL the row was given
      // lies between `remaining` and `remaining + elapsed`: bounded from both sides without
      // trusting the machine to be fast.
      const started = performance.now();
      await store.set(`ttl-${ttlMs}`, Buffer.from('v'), { ttlMs });
      const remaining = await remainingTtlMs(`${ns}ttl-${ttlMs}`);
      const elapsed = performance.now() - started;
      expect(remaining, `set(…, { ttlMs: ${ttlMs} }) left no row with an expires_at`).toBeDefined();
      expect(
        remaining as number,
        `set with ttlMs ${ttlMs}, the row expires in ${Math.round(remaining as number)} ms: longer than asked. ttlMs is milliseconds`,
      ).toBeLessThanOrEqual(ttlMs + 1);
      expect(
        (remaining as number) + elapsed,
        `set with ttlMs ${ttlMs}, the row expires in ${Math.round(remaining as number)} ms (${Math.round(elapsed)} ms after the set began): shorter than asked. The expiry is now() plus exactly ttlMs milliseconds`,
      ).toBeGreaterThanOrEqual(ttlMs - 1);
    }
  });
});
