import {
  createPool,
  DEFAULT_QUERY_TIMEOUT_MARGIN_MS,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  databaseUrl,
  isConnectionError,
  isQueryTimeout,
  type Pool,
} from '@cachelab/db';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChaosProxy, startChaosProxy } from '../src/index.ts';

/**
 * @cachelab/db's pool when PostgreSQL stops answering: every lesson's requests go through it,
 * so its bounds are the lessons' bounds. A chaos proxy in front of the shared server holds
 * every byte (the server is never touched: it sees an idle connection).
 */
const opened: { proxy: ChaosProxy; pool: Pool }[] = [];
afterEach(async () => {
  for (const { proxy, pool } of opened.splice(0)) {
    proxy.restore();
    await pool.end().catch(() => {});
    await proxy.close();
  }
});

async function throughProxy(options: { queryTimeoutMs?: number; statementTimeoutMs?: number } = {}) {
  const proxy = await startChaosProxy({ upstream: databaseUrl() });
  const pool = createPool({ url: proxy.url, max: 2, connectionTimeoutMs: 1_000, ...options });
  opened.push({ proxy, pool });
  return { proxy, pool };
}

async function timed<T>(work: Promise<T>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await work.then(
    () => undefined,
    (err: unknown) => err,
  );
  return { error, ms: performance.now() - started };
}

describe('the pool when PostgreSQL stops answering', () => {
  it('gives up a query on an open, pooled connection after the query timeout, then works again', async () => {
    const { proxy, pool } = await throughProxy({ queryTimeoutMs: 600 });
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]); // the connection is pooled
    proxy.blackhole(); // the server "freezes": the connection stays open, nothing comes back

    const { error, ms } = await timed(pool.query('SELECT 2'));
    expect(error, 'a query to a frozen server must fail, not hang').toBeInstanceOf(Error);
    expect(isQueryTimeout(error), `expected the query timeout, got: ${String(error)}`).toBe(true);
    expect(isConnectionError(error), 'a frozen server is an outage, like a refused connection').toBe(true);
    expect(ms, 'it must wait the whole query timeout (not fail at once)').toBeGreaterThanOrEqual(590);
    expect(ms, 'and give up soon after it (the bound a request waits when PostgreSQL freezes)').toBeLessThan(
      600 + 1_500,
    );

    proxy.restore();
    // The timed-out connection was discarded: a late answer can never be read as the next query's.
    expect((await pool.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
  });

  it('lets a slow but alive server cancel first (statement timeout), with its own error', async () => {
    const { pool } = await throughProxy({ statementTimeoutMs: 200 });
    const { error } = await timed(pool.query('SELECT pg_sleep(5)'));
    expect((error as { code?: string }).code, 'statement_timeout cancels with SQLSTATE 57014').toBe('57014');
    expect(isQueryTimeout(error)).toBe(true);
    expect(isConnectionError(error), 'a cancelled statement is not an outage').toBe(false);
  });

  it('sets the bounds the lessons quote by default: 8 s on the server, 10 s on the client, TCP keepalive', () => {
    const pool = createPool({ url: databaseUrl(), max: 1 });
    try {
      const options = pool.options as unknown as Record<string, unknown>;
      expect(DEFAULT_STATEMENT_TIMEOUT_MS).toBe(8_000);
      expect(options.statement_timeout).toBe(DEFAULT_STATEMENT_TIMEOUT_MS);
      expect(options.query_timeout, 'the client must outwait the server, so a slow server cancels first').toBe(
        DEFAULT_STATEMENT_TIMEOUT_MS + DEFAULT_QUERY_TIMEOUT_MARGIN_MS,
      );
      expect(options.keepAlive).toBe(true);
      // Bulk work that turns the statement timeout off turns the client's off too.
      const bulk = createPool({ url: databaseUrl(), max: 1, statementTimeoutMs: 0 });
      expect((bulk.options as unknown as Record<string, unknown>).query_timeout).toBeUndefined();
      void bulk.end();
    } finally {
      void pool.end();
    }
  });
});
