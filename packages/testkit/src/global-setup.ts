import {
  createPool,
  databaseUrl,
  describeDatabase,
  ensureDatabase,
  POSTGRES_FIX,
  probeDatabase,
  seedIfEmpty,
} from '@cachelab/db';
import { describeRedis, probeRedis, REDIS_FIX, readServiceNeeds, redisUrl } from './services.ts';

/**
 * vitest globalSetup: make sure the services the package under test uses answer, and that
 * the database is migrated and seeded, before any test file starts. Fails with one line that
 * names the fix, never a stack trace from the middle of a test. Seeding is idempotent and
 * locked, so parallel packages calling this at once seed once.
 *
 * Which services: the `cachelab.services` of the package.json in vitest's root (the package,
 * or a graded run's workspace, which has the pristine exercise's package.json); see
 * readServiceNeeds. PostgreSQL is always checked: the seed lives there.
 *
 * Rows seeded when the database is empty: `CACHELAB_SEED_ROWS`, default 1,000,000.
 */
export default async function setup(project?: { config?: { root?: string } }): Promise<void> {
  const needs = readServiceNeeds(project?.config?.root ?? process.cwd());
  const [pgError, redisError] = await Promise.all([
    probeDatabase(),
    needs.redis ? probeRedis() : Promise.resolve(null),
  ]);
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
