import { createPool, type Pool } from '@cachelab/db';
import { listPayments, type Payment } from '@cachelab/lesson-01-uncached/queries';
import {
  captureServerLog,
  countQueries,
  type HttpHarness,
  type QueryCounter,
  serve,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp, TTL_SECONDS } from '../src/app.ts';

const services = useServices();
/** What the app logged for its 500s, so a message can say what went wrong inside. */
const serverLog = captureServerLog();
const { log, said } = serverLog;
let http: HttpHarness;
/**
 * The app's own pool (this file's schema first, like services.db): a connection the app takes
 * and never gives back is missing from this pool, not from the one the tests use, and a request
 * that finds none left fails after 1 s instead of hanging the file.
 */
let appDb: Pool;
let queries: QueryCounter;

beforeAll(async () => {
  appDb = createPool({ max: 4, connectionTimeoutMs: 1_000, searchPath: [services.schema, 'public'] });
  queries = countQueries(appDb);
  http = await serve(createApp({ db: appDb, redis: services.redis, keyPrefix: services.prefix, log }));
});
afterAll(async () => {
  await http?.close();
  await endPool(appDb);
});

/**
 * pool.end() waits for every connection to come back, so it never returns while code under
 * test keeps one: give it a second, then leave the rest to the end of the test process.
 */
async function endPool(pool: Pool | undefined): Promise<void> {
  if (pool) await Promise.race([pool.end(), new Promise((r) => setTimeout(r, 1_000))]);
}
beforeEach(async () => {
  await services.clearRedis();
  queries.reset();
  serverLog.clear();
});

interface Query {
  investor: string;
  from: string;
  to: string;
  limit: number;
}

const Q: Query = { investor: 'INV00002', from: '2024-01-01', to: '2024-03-01', limit: 40 };
const path = (q: Query) => `/payments?investor=${q.investor}&from=${q.from}&to=${q.to}&limit=${q.limit}`;
/** What lesson 01's query (ORDER BY transaction_date, id) answers, as JSON would carry it. */
const truth = async (q: Query): Promise<Payment[]> => JSON.parse(JSON.stringify(await listPayments(services.db, q)));

async function ok(q: Query, what: string): Promise<TestResponse> {
  const res = await http.get(path(q));
  expect(res.status, `${what} GET ${path(q)} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
  return res;
}

describe('the first request: a miss, answered from PostgreSQL', () => {
  it('answers 200 with X-Cache: MISS when nothing is cached yet', async () => {
    const res = await http.get(path(Q));
    expect(
      res.status,
      `the first GET ${path(Q)} answered ${res.status}${said(res)}. On a miss Redis answers null: code that reads the cached value (its .length, say) before checking for null crashes on every miss`,
    ).toBe(200);
    expect(res.cache, 'the first request found nothing in Redis: it should say X-Cache: MISS').toBe('MISS');
    expect(res.headers.get('content-type') ?? '', 'the answer is JSON: Content-Type application/json').toMatch(
      /^application\/json/,
    );
  });

  it('answers the earliest payments of the range, in date order: ORDER BY before LIMIT', async () => {
    const q = { ...Q, investor: 'DEMO_INV', from: '2024-01-01', to: '2025-01-01', limit: 5 };
    const rows = (await ok(q, 'the first')).json<Payment[]>();
    const expected = await truth(q);
    expect(
      rows.map((p) => `${p.transaction_date} #${p.id}`),
      `limit=5 of DEMO_INV's 2024 payments should be its first five of the year, by date then id. Without ORDER BY, LIMIT keeps whichever rows PostgreSQL happens to read first (here: ${rows
        .map((p) => `${p.transaction_date} #${p.id}`)
        .join(
          ', ',
        )}), and the cache then keeps serving that accident. Many payments share a date: ORDER BY transaction_date alone leaves their order to chance, so break the tie with id`,
    ).toEqual(expected.map((p) => `${p.transaction_date} #${p.id}`));
    expect(rows, 'the rows should carry the same fields and values as lesson 01 answers').toEqual(expected);
  });
});

describe('the second request: a hit, answered from Redis', () => {
  it('serves the same request from Redis the second time, without a query', async () => {
    await ok(Q, 'the first');
    queries.reset();
    const second = await ok(Q, 'the second');
    expect(
      second.cache,
      `the second GET ${path(Q)} said X-Cache: ${second.cache}. The first request stored the rows: the second should find them. Is the lookup's result used before Redis has answered (a promise not awaited)?`,
    ).toBe('HIT');
    expect(
      queries.matching(/borrower_payments/),
      'the second request reached PostgreSQL: it should have been served from Redis',
    ).toBe(0);
  });

  it('answers a hit with the same JSON as the miss: an array of payments, not a string holding JSON', async () => {
    const first = await ok(Q, 'the first');
    const second = await ok(Q, 'the second');
    expect(second.cache, 'the second request should be a HIT').toBe('HIT');
    const body = second.json<unknown>();
    expect(
      Array.isArray(body),
      `the HIT answered ${typeof body === 'string' ? `a JSON string ("${body.slice(0, 40)}…")` : JSON.stringify(body).slice(0, 60)}, the MISS an array. Redis holds the JSON text: send it as it is, with Content-Type application/json (or decode it first); res.json(text) encodes the text a second time`,
    ).toBe(true);
    expect(body, 'the HIT and the MISS should answer the same payments').toEqual(first.json());
    expect(second.headers.get('content-type') ?? '', 'a HIT is JSON too').toMatch(/^application\/json/);
  });

  it('stores the page for TTL_SECONDS, no longer', async () => {
    await ok(Q, 'the first');
    const keys = await services.redisKeys();
    expect(keys.length, `after one miss, Redis holds ${keys.length} keys under this test's prefix: one expected`).toBe(
      1,
    );
    const pttl = await services.redis.pttl(keys[0] as string);
    expect(
      pttl,
      pttl === -1
        ? `the entry ${keys[0]} never expires (PTTL -1): store it with EX ${TTL_SECONDS}, in the same SET`
        : `the entry ${keys[0]} expires in ${pttl} ms: it should live TTL_SECONDS (${TTL_SECONDS} s)`,
    ).toBeGreaterThan((TTL_SECONDS - 30) * 1000);
    expect(pttl).toBeLessThanOrEqual(TTL_SECONDS * 1000);
  });
});

describe('the key holds every parameter of the query', () => {
  it.each([
    ['investor', { investor: 'INV00003' }],
    ['from', { from: '2024-02-01' }],
    ['to', { to: '2024-02-01' }],
    ['limit', { limit: 3 }],
  ] as const)(
    'answers a request that differs only in %s with its own rows, never the cached ones',
    async (param, change) => {
      await ok(Q, 'the first');
      const other = { ...Q, ...change };
      const res = await ok(other, 'a request with another');
      expect(
        res.cache,
        `GET ${path(other)} was answered from the entry of ${path(Q)}: the two differ only in ${param}, so the key is missing ${param}. Every parameter that changes the answer belongs in the key`,
      ).toBe('MISS');
      expect(res.json(), `GET ${path(other)} answered other rows than the query's`).toEqual(await truth(other));
    },
  );
});

describe('the key is built from the parsed query, not from the text of the request', () => {
  it('serves the same request spelled differently (other order, lower case, limit=040) from the same entry', async () => {
    await ok(Q, 'the first');
    queries.reset();
    const spelled = `/payments?limit=0${Q.limit}&to=${Q.to}&from=${Q.from}&investor=${Q.investor.toLowerCase()}`;
    const res = await http.get(spelled);
    expect(res.status, `GET ${spelled} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
    expect(
      res.cache,
      `GET ${spelled} asks for the same payments as ${path(Q)} (validation upper-cases the investor and reads limit=0${Q.limit} as ${Q.limit}), but said X-Cache: ${res.cache}: the key is made of the request's text (req.query, req.url), so every spelling, and every order of the parameters, gets an entry and a query of its own. Build the key from the values parse returned, in a fixed order`,
    ).toBe('HIT');
    expect(res.json(), `GET ${spelled} should answer the payments of ${path(Q)}`).toEqual(await truth(Q));
  });
});

describe('connections', () => {
  let pool: Pool;
  let small: HttpHarness;
  const MAX = 2;
  beforeAll(async () => {
    // A pool of its own, 2 connections, that gives up waiting for one after 1 s.
    pool = createPool({ max: MAX, connectionTimeoutMs: 1_000 });
    small = await serve(createApp({ db: pool, redis: services.redis, keyPrefix: services.prefix, log }));
  });
  afterAll(async () => {
    await small?.close();
    await endPool(pool);
  });

  it('gives every connection back: three times as many misses as the pool holds all answer', async () => {
    for (let i = 1; i <= 3 * MAX; i++) {
      const q = { ...Q, limit: 100 + i }; // each one a miss, each one a query
      const res = await small.get(path(q));
      expect(
        res.status,
        `miss ${i} of ${3 * MAX} on a pool of ${MAX} connections answered ${res.status}${said(res)}: ${
          i > MAX
            ? `the first ${MAX} requests took a connection each and never gave it back (db.connect() without client.release()). Use db.query(…), which takes one and gives it back, or release it in a finally`
            : 'it should answer 200'
        }`,
      ).toBe(200);
    }
    expect(
      pool.totalCount - pool.idleCount,
      `after ${3 * MAX} requests, ${pool.totalCount - pool.idleCount} connections are still checked out of the pool: each request must give its connection back`,
    ).toBe(0);
  });

  it('serves a hit while every connection of the pool is busy: a hit never needs PostgreSQL', async () => {
    const q = { ...Q, limit: 99 };
    const first = await small.get(path(q));
    expect(first.status, `the first GET ${path(q)} answered ${first.status}${said(first)}: it should answer 200`).toBe(
      200,
    );
    const busy = [];
    try {
      for (let i = 0; i < MAX; i++) busy.push(await pool.connect());
      const hit = await small.get(path(q));
      expect(
        hit.status,
        `the second GET ${path(q)}, a hit, answered ${hit.status}${said(hit)} while all ${MAX} connections of the pool were busy: it waited for a connection it never uses (db.connect() before the Redis lookup). Take a connection only on a miss, after the lookup: db.query(…) does`,
      ).toBe(200);
      expect(hit.cache, 'the second request should be a HIT').toBe('HIT');
    } finally {
      for (const client of busy) client.release();
    }
  });
});

describe('a query that fails', () => {
  let pool: Pool;
  let failing: HttpHarness;
  const MAX = 2;
  beforeAll(async () => {
    // A pool of its own, 2 connections, this file's schema first, that gives up after 1 s.
    pool = createPool({ max: MAX, connectionTimeoutMs: 1_000, searchPath: [services.schema, 'public'] });
    failing = await serve(createApp({ db: pool, redis: services.redis, keyPrefix: services.prefix, log }));
  });
  afterAll(async () => {
    await failing?.close();
    await endPool(pool);
  });

  it('answers 500 when the query fails, stores nothing, and still gives the connection back', async () => {
    // For this test only, a view named borrower_payments in this file's schema makes every query
    // on it fail in PostgreSQL (RAISE EXCEPTION): a query that fails, for real.
    await services.db.query(
      `CREATE FUNCTION ${services.schema}.fail_on_purpose() RETURNS boolean LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'this query fails on purpose (the test''s view)'; END $$`,
    );
    await services.db.query(
      `CREATE VIEW ${services.schema}.borrower_payments AS
         SELECT p.* FROM public.borrower_payments p WHERE (SELECT ${services.schema}.fail_on_purpose())`,
    );
    try {
      for (let i = 1; i <= 3 * MAX; i++) {
        const q = { ...Q, limit: 200 + i };
        const res = await failing.get(path(q));
        expect(
          res.status,
          res.status === 200
            ? `GET ${path(q)} answered 200 (${res.text.slice(0, 40)}) although its query failed in PostgreSQL: an error caught and answered as a page of payments (say []) tells the client this investor has none. Let it reach the error handler, which answers 500`
            : i > MAX && res.status === 503
              ? `failed request ${i} of ${3 * MAX} on a pool of ${MAX} connections answered 503${said(res)}: the first ${MAX} failed requests never gave their connections back (client.release() after the query, skipped when the query throws). Release it in a finally, or use db.query(…), which gives it back whatever happens`
              : `GET ${path(q)}, whose query fails in PostgreSQL, answered ${res.status}${said(res)}: it should answer 500, from the error handler`,
        ).toBe(500);
      }
      const keys = await services.redisKeys();
      expect(
        keys,
        `after ${3 * MAX} failed queries Redis holds ${keys.join(', ')}: a failed query should store nothing`,
      ).toEqual([]);
    } finally {
      await services.db.query(`DROP VIEW IF EXISTS ${services.schema}.borrower_payments`);
      await services.db.query(`DROP FUNCTION IF EXISTS ${services.schema}.fail_on_purpose()`);
    }
    for (let i = 1; i <= MAX + 1; i++) {
      const q = { ...Q, limit: 300 + i };
      const res = await failing.get(path(q));
      expect(
        res.status,
        `after ${3 * MAX} failed queries on a pool of ${MAX}, GET ${path(q)} answered ${res.status}${said(res)}: the failed requests never gave their connections back (client.release() after the query, skipped when the query throws). Release it in a finally, or use db.query(…), which gives it back whatever happens`,
      ).toBe(200);
    }
    expect(
      pool.totalCount - pool.idleCount,
      `${pool.totalCount - pool.idleCount} connections are still checked out of the pool: each request must give its connection back, whether its query succeeded or failed`,
    ).toBe(0);
  });
});

describe('Server-Timing tells the truth', () => {
  it("reports the query's time as db on a miss (300 ms here), and no db on a hit", async () => {
    // For this test only, this file's schema gets a view named borrower_payments in front of the
    // real table that makes every query on it wait 300 ms in PostgreSQL: a slow query, for real.
    await services.db.query(
      `CREATE VIEW ${services.schema}.borrower_payments AS
         SELECT p.* FROM public.borrower_payments p WHERE (SELECT pg_sleep(0.3)) IS NOT NULL`,
    );
    try {
      const miss = await ok(Q, 'the first');
      expect(miss.cache).toBe('MISS');
      expect(
        miss.timing.db,
        `the miss's Server-Timing has no db metric (it says: ${miss.headers.get('server-timing')}): time the query and report it as db`,
      ).toBeDefined();
      expect(
        miss.timing.db,
        `the miss's query took at least 300 ms in PostgreSQL, but Server-Timing says db;dur=${miss.timing.db}: the timer measures something else (the Redis lookup?). Start it before the query and stop it after`,
      ).toBeGreaterThanOrEqual(295);
      const hit = await ok(Q, 'the second');
      expect(hit.cache).toBe('HIT');
      // Each metric is `name;dur=…` with a name (RFC: a token): an empty one is not a metric.
      for (const res of [miss, hit]) {
        const header = res.headers.get('server-timing') ?? '';
        for (const metric of header
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean))
          expect(
            metric,
            `Server-Timing of the ${res.cache} has the metric "${metric}": each needs a name (db, l2, …) before ;dur=`,
          ).toMatch(/^[A-Za-z0-9_-]+(;|$)/);
      }
      expect(
        hit.timing.db,
        `the HIT's Server-Timing says db;dur=${hit.timing.db}, but a hit never asks PostgreSQL: report the Redis lookup under another name (cache, l2) and leave db out`,
      ).toBeUndefined();
    } finally {
      await services.db.query(`DROP VIEW IF EXISTS ${services.schema}.borrower_payments`);
    }
  });
});
