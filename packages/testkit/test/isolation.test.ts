import { createPool } from '@cachelab/db';
import express from 'express';
import { describe, expect, it } from 'vitest';
import {
  countQueries,
  createIsolatedDatabase,
  createIsolatedRedis,
  parseServerTiming,
  serve,
  useServices,
} from '../src/index.ts';

const services = useServices();

describe('useServices', () => {
  it('gives the file its own employees table, while payments resolve to the shared one', async () => {
    const { rows } = await services.db.query<{ schema: string }>(
      "SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 'employees' AND table_schema = current_schema()",
    );
    expect(rows[0]?.schema).toBe(services.schema);
    const { rows: payments } = await services.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM borrower_payments LIMIT 1',
    );
    expect(payments[0]?.n).toBeGreaterThan(0);
  });

  it('lets a test write to employees without touching anybody else’s copy', async () => {
    await services.db.query("UPDATE employees SET name = 'Changed In Test' WHERE id = 1");
    const shared = createPool({ max: 1 });
    try {
      const { rows } = await shared.query<{ name: string }>('SELECT name FROM public.employees WHERE id = 1');
      expect(rows[0]?.name).not.toBe('Changed In Test');
    } finally {
      await shared.end();
    }
  });

  it('counts every statement that reaches PostgreSQL', async () => {
    services.queries.reset();
    await services.db.query('SELECT 1');
    await services.db.query('SELECT * FROM employees WHERE id = $1', [2]);
    expect(services.queries.count).toBe(2);
    expect(services.queries.matching(/FROM employees/)).toBe(1);
  });

  it('keeps Redis keys under the file’s prefix and lists them', async () => {
    await services.redis.set(`${services.prefix}a`, '1');
    expect(await services.redisKeys()).toEqual([`${services.prefix}a`]);
    await services.clearRedis();
    expect(await services.redisKeys()).toEqual([]);
  });
});

describe('isolation is removed afterwards', () => {
  it('drops the schema and the keys on dispose', async () => {
    const db = await createIsolatedDatabase();
    const redis = createIsolatedRedis();
    await redis.redis.set(`${redis.prefix}x`, 'y');
    await db.dispose();
    const probe = createPool({ max: 1 });
    try {
      const { rowCount } = await probe.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [
        db.schema,
      ]);
      expect(rowCount).toBe(0);
    } finally {
      await probe.end();
    }
    const check = createIsolatedRedis();
    await redis.dispose();
    expect(await check.redis.exists(`${redis.prefix}x`)).toBe(0);
    await check.dispose();
  });

  it('counts queries on transactions too', async () => {
    const db = await createIsolatedDatabase();
    const counter = countQueries(db.pool);
    const client = await db.pool.connect();
    await client.query('BEGIN');
    await client.query('SELECT 1');
    await client.query('COMMIT');
    client.release();
    expect(counter.count).toBe(3);
    await db.dispose();
  });
});

describe('HTTP harness', () => {
  it('parses Server-Timing and X-Cache from a real response', async () => {
    const app = express();
    app.get('/', (_req, res) => {
      res
        .set('Server-Timing', 'db;dur=12.5;desc="PostgreSQL", l1;dur=0.2, total;dur=13')
        .set('X-Cache', 'hit')
        .send('ok');
    });
    const http = await serve(app);
    try {
      const res = await http.get('/');
      expect(res.cache).toBe('HIT');
      expect(res.timing).toEqual({ db: 12.5, l1: 0.2, total: 13 });
    } finally {
      await http.close();
    }
  });

  it('parses a header without durations', () => {
    expect(parseServerTiming('miss, db;dur=3')).toEqual({ miss: 0, db: 3 });
  });
});
