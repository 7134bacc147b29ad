import {
  createPool,
  databaseUrl,
  describeDatabase,
  ensureDatabase,
  POSTGRES_FIX,
  probeDatabase,
  seedIfEmpty,
} from '@cachelab/db';
import { describeRedis, probeRedis, REDIS_FIX, redisUrl } from './services.ts';

/**
 * vitest globalSetup: make sure both services answer and the database is migrated and
 * seeded before any test file starts. Fails with one line that names the fix, never a
 * stack trace from the middle of a test. Seeding is idempotent and locked, so parallel
 * packages calling this at once seed once.
 *
 * Rows seeded when the database is empty: `CACHELAB_SEED_ROWS`, default 1,000,000.
 */
export default async function setup(): Promise<void> {
  const [pgError, redisError] = await Promise.all([probeDatabase(), probeRedis()]);
  const problems: string[] = [];
  if (pgError) problems.push(`Can't reach PostgreSQL at ${describeDatabase()} (${pgError}). ${POSTGRES_FIX}`);
  if (redisError) problems.push(`Can't reach Redis at ${describeRedis(redisUrl())} (${redisError}). ${REDIS_FIX}`);
  if (problems.length > 0) throw new Error(problems.join('\n'));

  await ensureDatabase(databaseUrl());
  const pool = createPool({ max: 2 });
  try {
    const rows = Number(process.env.CACHELAB_SEED_ROWS) || undefined;
    await seedIfEmpty(pool, rows ? { rows } : {});
  } finally {
    await pool.end();
  }
}
