import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createPool, describeDatabase, ensureDatabase, POSTGRES_FIX, probeDatabase, seedIfEmpty } from '@cachelab/db';
import { Redis } from 'ioredis';

/** The repository's root (this file is packages/bench/src/output.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Write `content` under the git-ignored `.cachelab/` folder; returns the path relative to the root. */
export async function writeOutput(path: string, content: string): Promise<string> {
  const file = join(REPO_ROOT, '.cachelab', path);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, content);
  return relative(REPO_ROOT, file);
}

/**
 * PostgreSQL and Redis answer, or one line naming the fix and exit code 1. A database never
 * seeded (a fresh machine, straight to `npm run bench`) is created and seeded first, the
 * same seed as `npx cachelab db seed`: a few seconds, once. A database seeded with another
 * size is left as the learner made it.
 */
export async function requireServices(): Promise<void> {
  await ensureDatabase().catch(() => {}); // an unreachable server is reported just below
  const problem = await probeDatabase();
  if (problem) {
    console.error(`✗ Can't reach PostgreSQL at ${describeDatabase()} (${problem}). ${POSTGRES_FIX}`);
    process.exit(1);
  }
  const url = process.env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379';
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    console.error(
      `✗ Can't reach Redis at ${url} (${(err as Error).message}). Start it with \`docker compose up -d\` or \`npx cachelab services up\`, or set REDIS_URL.`,
    );
    process.exit(1);
  } finally {
    redis.disconnect();
  }
  const pool = createPool({ max: 1, statementTimeoutMs: 0 });
  try {
    const started = performance.now();
    const seeded = await seedIfEmpty(pool, {
      onSeeding: (rows) =>
        console.log(`The database is empty: seeding it once (${rows.toLocaleString('en')} payments)…`),
    });
    if (seeded) {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(`seeded in ${seconds} s (\`npx cachelab db seed\` does the same)\n`);
    }
  } finally {
    await pool.end();
  }
}

/** One line saying what machine the figures come from. */
export async function machineLine(): Promise<string> {
  const os = await import('node:os');
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/**
 * `--name N` (or `--name=N`) from the command line, a positive whole number, or `fallback`:
 * what the load scripts take (lesson 09's, exercise 15's). Anything else ends the script with
 * one line saying what is wanted, exit 2. node:util's parseArgs reads the arguments; the other
 * flags a script has (`--profile`) are its own business.
 */
export function wholeNumberFlag(name: string, fallback: number): number {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { [name]: { type: 'string' } }, strict: false });
  const given = values[name];
  const value = given === undefined ? fallback : Number(given);
  if (!Number.isSafeInteger(value) || value < 1) {
    console.error(`✗ --${name} must be a positive whole number.`);
    process.exit(2);
  }
  return value;
}
