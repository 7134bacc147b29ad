import { randomBytes } from 'node:crypto';
import { createPool, type Pool } from '@cachelab/db';
import type { Redis } from 'ioredis';
import { connectRedis } from './services.ts';

/** A short random id, safe in a schema name and a Redis key. */
export function isolationId(): string {
  return `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

/** Tables small enough to copy per test file, so that tests may write to them. */
const COPIED_TABLES = ['employees'] as const;

export interface IsolatedDatabase {
  /** A pool whose search_path is `<schema>, public`: its own employees, the shared payments. */
  pool: Pool;
  schema: string;
  /** Drop the schema and close the pool. */
  dispose(): Promise<void>;
}

/**
 * A PostgreSQL schema of one's own: a copy of the small tables (employees), so that
 * tests that write never collide, while `borrower_payments` and `investors` resolve to the
 * shared, read-only tables in `public` (copying a million rows per file would cost seconds).
 */
export async function createIsolatedDatabase(options: { id?: string; max?: number } = {}): Promise<IsolatedDatabase> {
  const schema = `t_${options.id ?? isolationId()}`;
  const admin = createPool({ max: 1 });
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
    for (const table of COPIED_TABLES) {
      await admin.query(`CREATE TABLE ${schema}.${table} (LIKE public.${table} INCLUDING ALL)`);
      await admin.query(`INSERT INTO ${schema}.${table} SELECT * FROM public.${table}`);
      // LIKE … INCLUDING ALL gives the copy its own identity sequence, starting at 1.
      await admin.query(
        `SELECT setval(pg_get_serial_sequence('${schema}.${table}', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM ${schema}.${table}), false)`,
      );
    }
  } finally {
    await admin.end();
  }
  // Tests hold table locks on purpose (holdTable, "a slow load") while a loaded CI machine
  // sends hundreds of requests: a 30 s statement timeout, not the lessons' 8 s, so that only
  // a test's own timeout ends such a wait. Fault tests build pools with the defaults.
  const pool = createPool({ searchPath: [schema, 'public'], max: options.max ?? 10, statementTimeoutMs: 30_000 });
  return {
    pool,
    schema,
    async dispose() {
      await pool.end().catch(() => {});
      const cleaner = createPool({ max: 1 });
      try {
        await cleaner.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await cleaner.end();
      }
    },
  };
}

export interface IsolatedRedis {
  redis: Redis;
  /** Every key a test writes must start with this (the lessons take it as `keyPrefix`). */
  prefix: string;
  /** Keys under the prefix, for assertions. */
  keys(): Promise<string[]>;
  /** Delete every key under the prefix. */
  clear(): Promise<void>;
  /** Clear and disconnect. */
  dispose(): Promise<void>;
}

/** Delete every key that starts with `prefix`, with SCAN (never KEYS on a shared server). */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

/** The key prefix of isolation `id`: `cachelab:test:<id>:`. */
export function isolatedPrefix(id: string): string {
  // CACHELAB_REDIS_PREFIX: set by the grader's sandbox, whose Redis user may only touch keys under it.
  return `${process.env.CACHELAB_REDIS_PREFIX ?? 'cachelab:test:'}${id}:`;
}

/** A Redis key namespace of one's own on the shared server, removed on dispose. */
export function createIsolatedRedis(options: { id?: string } = {}): IsolatedRedis {
  const prefix = isolatedPrefix(options.id ?? isolationId());
  const redis = connectRedis();
  const keys = async () => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${escapeGlob(prefix)}*`, 'COUNT', 500);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found.sort();
  };
  return {
    redis,
    prefix,
    keys,
    async clear() {
      await deleteByPrefix(redis, prefix);
    },
    async dispose() {
      try {
        await deleteByPrefix(redis, prefix);
      } finally {
        redis.disconnect();
      }
    },
  };
}
