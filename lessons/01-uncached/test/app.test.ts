import { createPool, databaseUrl } from '@cachelab/db';
import { expectProblem, type HttpHarness, serve, startChaosProxy, useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';

const services = useServices();
let http: HttpHarness;

beforeAll(async () => {
  http = await serve(createApp({ db: services.db, log: () => {} }));
});
afterAll(() => http.close());
beforeEach(() => services.queries.reset());

const CLASSIC = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000';

describe('GET /employees/:id', () => {
  it('returns the employee with a measured db time in Server-Timing', async () => {
    const res = await http.get('/employees/42');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: 42, status: expect.stringMatching(/^(in|out)$/) });
    expect(res.timing.db).toBeGreaterThan(0);
    expect(res.timing.total).toBeGreaterThanOrEqual(res.timing.db as number);
  });

  it('goes to PostgreSQL on every request: this is the uncached baseline', async () => {
    await http.get('/employees/7');
    await http.get('/employees/7');
    expect(services.queries.matching(/FROM employees/)).toBe(2);
  });

  it('answers 404 problem+json for an id that does not exist', async () => {
    const body = expectProblem(await http.get('/employees/999999999'), 404);
    expect(body.detail).toContain('999999999');
  });

  it.each(['abc', '-1', '0', '1.5', '99999999999', '1e3'])(
    'rejects the id %s with a 400 that names the parameter',
    async (id) => {
      const body = expectProblem(await http.get(`/employees/${id}`), 400);
      expect(body.detail).toContain('`id`');
      expect(services.queries.count).toBe(0);
    },
  );
});

describe('GET /payments (the classic slow query)', () => {
  it('returns up to 100,000 rows of one investor in one year, in date order', async () => {
    const res = await http.get(CLASSIC);
    expect(res.status).toBe(200);
    const body = res.json<{ count: number; rows: { transaction_date: string; amount: number }[] }>();
    expect(body.count).toBe(body.rows.length);
    expect(body.count).toBeGreaterThan(0);
    expect(body.count).toBeLessThanOrEqual(100_000);
    const dates = body.rows.map((r) => r.transaction_date);
    expect(dates.every((d) => d >= '2024-01-01' && d < '2025-01-01')).toBe(true);
    expect([...dates].sort()).toEqual(dates);
    expect(typeof body.rows[0]?.amount).toBe('number');
    expect(res.timing.db).toBeGreaterThan(0);
  });

  it('respects limit', async () => {
    const res = await http.get('/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=10');
    expect(res.json<{ count: number }>().count).toBe(10);
  });

  it('treats the investor id case-insensitively', async () => {
    const res = await http.get('/payments?investor=demo_inv&from=2024-01-01&to=2024-02-01&limit=5');
    expect(res.status).toBe(200);
    expect(res.json<{ investor: string }>().investor).toBe('DEMO_INV');
  });

  it('answers 404 for an investor that does not exist, without scanning the big table', async () => {
    const body = expectProblem(await http.get('/payments?investor=NOBODY&from=2024-01-01&to=2025-01-01'), 404);
    expect(body.detail).toContain('NOBODY');
    expect(services.queries.matching(/borrower_payments/)).toBe(0);
  });

  it.each([
    ['a missing investor', '/payments?from=2024-01-01&to=2025-01-01', 'investor'],
    ['a negative limit', '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=-1', 'limit'],
    ['a zero limit', '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=0', 'limit'],
    ['a huge limit', '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100001', 'limit'],
    ['a limit that is not a number', '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=ten', 'limit'],
    ['a malformed date', '/payments?investor=DEMO_INV&from=2024-1-1&to=2025-01-01', 'from'],
    ['a date that does not exist', '/payments?investor=DEMO_INV&from=2024-02-30&to=2025-01-01', 'from'],
    ['a range that ends before it starts', '/payments?investor=DEMO_INV&from=2025-01-01&to=2024-01-01', 'to'],
    ['an investor id with SQL in it', "/payments?investor=x'%20OR%201=1--&from=2024-01-01&to=2025-01-01", 'investor'],
    [
      'a parameter given twice',
      '/payments?investor=DEMO_INV&investor=INV00001&from=2024-01-01&to=2025-01-01',
      'investor',
    ],
    ['an unknown parameter', '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&sort=amount', 'sort'],
  ])('rejects %s with a 400 naming the parameter, before any query', async (_what, path, parameter) => {
    const body = expectProblem(await http.get(path), 400) as { detail: string; errors?: { parameter: string }[] };
    expect(body.detail).toContain(parameter);
    expect(body.errors?.map((e) => e.parameter)).toContain(parameter);
    expect(services.queries.count).toBe(0);
  });
});

describe('GET /investors/:id/summary', () => {
  it('aggregates every payment of the investor by year', async () => {
    const res = await http.get('/investors/DEMO_INV/summary');
    expect(res.status).toBe(200);
    const body = res.json<{ payments: number; by_year: { year: number; payments: number }[] }>();
    expect(body.payments).toBeGreaterThan(0);
    expect(body.by_year.reduce((n, y) => n + y.payments, 0)).toBe(body.payments);
    expect(res.timing.db).toBeGreaterThan(0);
  });

  it('answers 404 for an unknown investor and 400 for a malformed one', async () => {
    expectProblem(await http.get('/investors/NOBODY/summary'), 404);
    expectProblem(await http.get('/investors/no%20body!/summary'), 400);
  });
});

describe('errors', () => {
  it('turns a value PostgreSQL refuses (a NUL byte in text) into a 400, never a 500', async () => {
    const { default: express } = await import('express');
    const { errorHandler } = await import('../src/problem.ts');
    const app = express();
    app.get('/echo', async (req, res) => {
      const { rows } = await services.db.query('SELECT $1::text AS v', [String(req.query.v)]);
      res.json(rows[0]);
    });
    app.use(errorHandler({ log: () => {} }));
    const echo = await serve(app);
    try {
      expect((await echo.get('/echo?v=ok')).status).toBe(200);
      const body = expectProblem(await echo.get('/echo?v=a%00b'), 400);
      expect(body.detail).toMatch(/PostgreSQL refused a value/);
    } finally {
      await echo.close();
    }
  });

  it('answers 404 problem+json for a route that does not exist', async () => {
    expectProblem(await http.get('/nope'), 404);
  });

  it('answers 503 saying the database is overloaded, not unreachable, when the pool is exhausted', async () => {
    // PostgreSQL is up; the pool's only connection is checked out and never returned, so
    // the request waits for one until the pool's connection timeout.
    const tiny = createPool({ max: 1, connectionTimeoutMs: 200 });
    const held = await tiny.connect();
    const app = await serve(createApp({ db: tiny, log: () => {} }));
    try {
      const res = await app.get('/employees/1');
      const body = expectProblem(res, 503);
      expect(body.type).toBe('urn:cachelab:problem:database-overloaded');
      expect(body.detail).toMatch(/overloaded.*pool exhausted/);
      expect(body.detail).not.toMatch(/docker compose|Can't reach/);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(res.headers.get('cache-control')).toBe('no-store');
    } finally {
      held.release();
      await app.close();
      await tiny.end();
    }
  });

  it('answers 503 problem+json naming the fix when PostgreSQL is unreachable', async () => {
    // A real pool pointed at a port where nothing listens: the connection is refused.
    const down = createPool({ url: 'postgres://postgres@127.0.0.1:1/cachelab', connectionTimeoutMs: 1000 });
    const logged: unknown[] = [];
    const app = await serve(createApp({ db: down, log: (err) => logged.push(err) }));
    try {
      const res = await app.get('/employees/1');
      const body = expectProblem(res, 503);
      expect(body.detail).toMatch(/docker compose up -d|cachelab services up/);
      expect(body.detail, "the database's address is for the server log, not for every client").not.toMatch(
        /127\.0\.0\.1|:1\b|\/cachelab/,
      );
      expect(String(logged[0]), 'the server log says where it tried').toMatch(
        /Can't reach PostgreSQL.*127\.0\.0\.1:1\b/,
      );
      expect(res.headers.get('retry-after')).toBe('5');
    } finally {
      await app.close();
      await down.end();
    }
  });

  it('answers 503 within the query timeout when PostgreSQL stops answering on an open connection', async () => {
    // The pool's connection is open and idle when the server "freezes" (the proxy holds every
    // byte): connecting is not the problem, so only the pool's query timeout can bound it.
    const proxy = await startChaosProxy({ upstream: databaseUrl() });
    const frozen = createPool({ url: proxy.url, max: 1, queryTimeoutMs: 500 });
    const app = await serve(createApp({ db: frozen, log: () => {} }));
    try {
      expect((await app.get('/employees/1')).status).toBe(200);
      proxy.blackhole();
      const started = performance.now();
      const res = await app.get('/employees/2');
      const waited = performance.now() - started;
      const body = expectProblem(res, 503);
      expect(body.type).toBe('urn:cachelab:problem:database-timeout');
      expect(body.detail).toMatch(/did not answer in time/);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(waited, 'the request must wait no longer than the query timeout (plus a margin)').toBeLessThan(
        500 + 1_500,
      );
    } finally {
      proxy.restore();
      await app.close();
      await frozen.end();
      await proxy.close();
    }
  });
});
