/**
 * Where PostgreSQL is. One place reads the environment so that the CLI, the lessons and
 * the tests all agree.
 *
 * - `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/cachelab`): the database
 *   the workshop uses. It is created on first use if the server lets us.
 */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/cachelab';

export function databaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
}

/** `host:port` of a connection string, for messages that say what we tried to reach. */
export function describeDatabase(url: string = databaseUrl()): string {
  try {
    const u = new URL(url);
    return `${u.hostname || '127.0.0.1'}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return url;
  }
}

/** The fix we print whenever PostgreSQL cannot be reached. */
export const POSTGRES_FIX = 'Start it with `docker compose up -d` or `npx cachelab services up`, or set DATABASE_URL.';
