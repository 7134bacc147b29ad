import pg from 'pg';
import { databaseUrl, describeDatabase } from './config.ts';
import { DatabaseUnavailableError, isConnectionError } from './errors.ts';

// PostgreSQL returns bigint (int8) and numeric as strings to avoid losing precision.
// Our counts fit comfortably in a double and amounts are shown to the cent, so parse them:
// the JSON the lessons send is then numbers, as a client would expect.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number.parseFloat(v));
// A DATE is a calendar day, not an instant: keep it as 'YYYY-MM-DD' rather than a
// midnight-in-local-time Date that shifts with the server's time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  /** Connection string. Default: `DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/cachelab`. */
  url?: string;
  /** Most connections the pool opens. Default 10; a 2-core laptop gains nothing from more. */
  max?: number;
  /**
   * Schemas searched for unqualified table names, first match wins. Default: the server's
   * (`public`). testkit puts a per-file schema first so that each test file has its own
   * `employees` while `borrower_payments` still resolves to the shared, read-only table.
   */
  searchPath?: string[];
  /** How long to wait for a connection before failing. Default 3000 ms: never hang a request. */
  connectionTimeoutMs?: number;
  /**
   * The server cancels a statement that runs longer than this (SQLSTATE 57014). Default
   * 8000 ms; 0 means never (the seed's bulk inserts).
   */
  statementTimeoutMs?: number;
  /**
   * The client gives up on a query whose answer has not arrived after this long: the bound
   * that holds when PostgreSQL stops answering altogether (a frozen server, a network that
   * drops packets), which `statement_timeout` cannot give, since the server enforces it and
   * never sees the query. The pool then discards that connection. Default: the statement
   * timeout plus 2000 ms (10000 ms), so that a server that is merely slow cancels first, with
   * its own error; 0 means never.
   */
  queryTimeoutMs?: number;
}

/** The defaults, in one place: the README's bounds quote them and the tests measure them. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 8_000;
export const DEFAULT_QUERY_TIMEOUT_MARGIN_MS = 2_000;

/** A pg Pool configured the one way every part of cachelab expects. */
export function createPool(options: PoolOptions = {}): Pool {
  const url = options.url ?? databaseUrl();
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const queryTimeoutMs =
    options.queryTimeoutMs ?? (statementTimeoutMs === 0 ? 0 : statementTimeoutMs + DEFAULT_QUERY_TIMEOUT_MARGIN_MS);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 3000,
    statement_timeout: statementTimeoutMs,
    // pg's own timer: the query's callback fails with "Query read timeout" and pool.query
    // destroys the connection (a late answer can never be read as the next query's).
    ...(queryTimeoutMs > 0 ? { query_timeout: queryTimeoutMs } : {}),
    // TCP keepalive on every connection: an idle pooled connection whose peer vanished
    // (a restarted server, a NAT that forgot it) is found dead by the kernel, not by a request.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    idleTimeoutMillis: 10_000,
    application_name: 'cachelab',
    ...(options.searchPath ? { options: `-c search_path=${options.searchPath.join(',')}` } : {}),
  });
  // An idle client whose server went away emits 'error' on the pool; without a listener
  // that would crash the process. The next query reports the outage instead.
  pool.on('error', () => {});
  return pool;
}

/**
 * Create the database named in `url` when it does not exist yet (the server must be up).
 * Connects to the server's `postgres` database to do it.
 */
export async function ensureDatabase(url: string = databaseUrl()): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres';
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (err) {
    throw isConnectionError(err) ? new DatabaseUnavailableError(describeDatabase(url), { cause: err }) : err;
  }
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } catch (err) {
        // 42P04: another process created it between our check and our CREATE.
        if ((err as { code?: string }).code !== '42P04') throw err;
      }
    }
  } finally {
    await client.end();
  }
}

/** Is PostgreSQL answering at `url`? Resolves to an error message or null. */
export async function probeDatabase(url: string = databaseUrl()): Promise<string | null> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    return (err instanceof Error ? err.message || String((err as { code?: string }).code) : String(err)).replace(
      /\.+$/,
      '',
    );
  } finally {
    await client.end().catch(() => {});
  }
}
