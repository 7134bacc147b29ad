import { describe, expect, it } from 'vitest';
import {
  asDatabaseError,
  createPool,
  DatabaseUnavailableError,
  DEMO_INVESTOR,
  describeDatabase,
  isConnectionError,
  migrate,
  seed,
  seedIfEmpty,
  seedStatus,
} from '../src/index.ts';

describe('configuration', () => {
  it('describes a connection string as host:port/database for messages', () => {
    expect(describeDatabase('postgres://u@db.example:6543/shop')).toBe('db.example:6543/shop');
    expect(describeDatabase('postgres://u@localhost/shop')).toBe('localhost:5432/shop');
  });
});

describe('connection errors', () => {
  it('recognises a refused connection from a real pool and wraps it with the fix', async () => {
    const pool = createPool({ url: 'postgres://postgres@127.0.0.1:1/cachelab', connectionTimeoutMs: 1000 });
    const err = await pool.query('SELECT 1').catch((e: unknown) => e);
    await pool.end();
    expect(isConnectionError(err)).toBe(true);
    const wrapped = asDatabaseError(err, 'postgres://postgres@127.0.0.1:1/cachelab');
    expect(wrapped).toBeInstanceOf(DatabaseUnavailableError);
    expect((wrapped as Error).message).toMatch(/127\.0\.0\.1:1\/cachelab.*docker compose up -d/);
  });

  it('does not mistake a bad query for an outage', async () => {
    const pool = createPool({ max: 1 });
    const err = await pool.query('SELECT * FROM no_such_table').catch((e: unknown) => e);
    await pool.end();
    expect(isConnectionError(err)).toBe(false);
  });
});

describe('migrations and seed', () => {
  it('migrate is idempotent', async () => {
    const pool = createPool({ max: 1 });
    try {
      await migrate(pool);
      expect(await migrate(pool)).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  it('seedIfEmpty leaves a seeded database alone, whatever size is asked for', async () => {
    const pool = createPool({ max: 2 });
    try {
      const before = await seedStatus(pool);
      const announced: number[] = [];
      expect(await seedIfEmpty(pool, { rows: 800, onSeeding: (rows) => announced.push(rows) })).toBe(false);
      expect(announced, 'nothing to seed, nothing to announce').toEqual([]);
      expect(await seedStatus(pool)).toEqual(before);
    } finally {
      await pool.end();
    }
  });

  it('re-running the seed with the same size leaves the data alone (no duplicates)', async () => {
    const pool = createPool({ max: 2 });
    try {
      const before = await seedStatus(pool);
      const rows = before.get('borrower_payments');
      expect(rows, 'the global setup seeds the database before any test').toBeGreaterThan(0);
      const reports = await seed(pool, { rows });
      expect(reports.every((r) => !r.seeded)).toBe(true);
      const { rows: count } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM public.borrower_payments',
      );
      expect(count[0]?.n).toBe(rows);
    } finally {
      await pool.end();
    }
  });

  it('seeds DEMO_INV with one row in eight, all in 2024, and no index on the filtered columns', async () => {
    const pool = createPool({ max: 1 });
    try {
      const total = (await seedStatus(pool)).get('borrower_payments') ?? 0;
      const { rows } = await pool.query<{ n: number; outside: number }>(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE extract(year FROM transaction_date) <> 2024)::int AS outside
           FROM public.borrower_payments WHERE investor_id = $1`,
        [DEMO_INVESTOR],
      );
      expect(rows[0]?.n).toBe(Math.floor(total / 8));
      expect(rows[0]?.outside).toBe(0);
      const { rows: indexes } = await pool.query<{ indexdef: string }>(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'borrower_payments'",
      );
      expect(indexes.map((i) => i.indexdef).join('\n')).not.toMatch(/investor_id|transaction_date/);
    } finally {
      await pool.end();
    }
  });

  it('rejects a seed size that cannot hold the demo investor', async () => {
    const pool = createPool({ max: 1 });
    try {
      await expect(seed(pool, { rows: 10 })).rejects.toThrow(/at least 800/);
    } finally {
      await pool.end();
    }
  });
});
