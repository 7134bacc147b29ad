import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { createRedisClient, whenReady } from '../src/redis-client.ts';
import { freePort, hasRedisServer, type OwnRedis, startOwnRedis } from './redis-server.ts';

const services = useServices();

/**
 * Clients made here get a 2 s command timeout instead of 250 ms: these tests run in parallel
 * with other files on a small machine, and a 17.8 MB GET must not turn into a BYPASS because
 * the CPU was busy. The tests about timeouts set their own.
 */
const clients: Redis[] = [];
async function client(url?: string, commandTimeoutMs = 2_000): Promise<Redis> {
  const redis = createRedisClient({ ...(url ? { url } : {}), commandTimeoutMs, log: () => {} });
  clients.push(redis);
  if (!url) expect(await whenReady(redis), 'the client should connect to the shared Redis').toBe(true);
  return redis;
}

const harnesses: HttpHarness[] = [];
/** One "process" of the API: its own Redis client and its own app, on its own port. */
async function instance(options: { redis?: Redis; ttlSeconds?: number } = {}): Promise<HttpHarness> {
  const redis = options.redis ?? (await client());
  const app = createApp({
    db: services.db,
    redis,
    keyPrefix: services.prefix,
    log: () => {},
    ...(options.ttlSeconds ? { ttlSeconds: options.ttlSeconds } : {}),
  });
  const http = await serve(app);
  harnesses.push(http);
  return http;
}

let http: HttpHarness;
beforeAll(async () => {
  http = await instance();
});
afterAll(async () => {
  await Promise.all(harnesses.map((h) => h.close()));
  for (const redis of clients) redis.disconnect();
});
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

const CLASSIC = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000';
const ROUTES = [
  ['GET /employees/:id', '/employees/42', /FROM employees/],
  ['GET /payments', '/payments?investor=DEMO_INV&from=2024-03-01&to=2024-04-01&limit=50', /borrower_payments/],
  ['GET /investors/:id/summary', '/investors/INV00001/summary', /borrower_payments/],
] as const;

function expectJson(res: TestResponse, cache: string) {
  expect(res.status, res.text.slice(0, 200)).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.cache).toBe(cache);
}

describe('cache-aside: GET, and on a miss PostgreSQL then SET … EX', () => {
  it.each(ROUTES)('%s: the second GET is a HIT with the same bytes and no query', async (_route, path, table) => {
    const miss = await http.get(path);
    expectJson(miss, 'MISS');
    expect(services.queries.matching(table)).toBe(1);
    expect(miss.timing.db).toBeGreaterThan(0);
    expect(miss.timing.l2).toBeGreaterThanOrEqual(0);

    services.queries.reset();
    const hit = await http.get(path);
    expectJson(hit, 'HIT');
    expect(services.queries.count, 'a hit must not reach PostgreSQL').toBe(0);
    expect(hit.text).toBe(miss.text);
    expect(hit.timing.l2).toBeGreaterThan(0);
    expect(hit.timing.db, 'a hit has no db time').toBeUndefined();
    expect(hit.timing.json, 'a hit sends the stored bytes: no JSON.stringify').toBeUndefined();
  });

  it('serves the classic 100,000-row response from Redis byte for byte', async () => {
    const miss = await http.get(CLASSIC);
    expectJson(miss, 'MISS');
    expect(miss.json<{ count: number }>().count).toBe(100_000);
    expect(miss.timing.json, 'a miss serializes once').toBeGreaterThan(0);
    services.queries.reset();
    const hit = await http.get(CLASSIC);
    expectJson(hit, 'HIT');
    expect(services.queries.count).toBe(0);
    expect(hit.text.length).toBe(miss.text.length);
    expect(hit.text === miss.text, 'the HIT body should be the MISS body, byte for byte').toBe(true);
  });

  it('gives every entry a TTL: PTTL of the key is within (0, ttl]', async () => {
    const short = await instance({ ttlSeconds: 30 });
    await short.get('/employees/7');
    const [key] = await services.redisKeys();
    expect(key).toBeDefined();
    const pttl = await services.redis.pttl(key as string);
    expect(pttl, 'PTTL -1 would mean the entry never expires').toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(30_000);
  });
});

describe('one cache for every process, and it survives restarts', () => {
  it('two app instances with their own clients share entries', async () => {
    const a = await instance();
    const b = await instance();
    expect((await a.get('/investors/INV00002/summary')).cache).toBe('MISS');
    services.queries.reset();
    const fromB = await b.get('/investors/INV00002/summary');
    expect(fromB.cache, 'instance B should find what instance A stored').toBe('HIT');
    expect(services.queries.count).toBe(0);
  });

  it('a new instance (a restart) starts warm: the entries are still in Redis', async () => {
    const firstRedis = await client();
    const first = await instance({ redis: firstRedis });
    const before = await first.get('/employees/99');
    expect(before.cache).toBe('MISS');
    await first.close();
    await firstRedis.quit();

    services.queries.reset();
    const restarted = await instance();
    const after = await restarted.get('/employees/99');
    expect(after.cache).toBe('HIT');
    expect(after.text).toBe(before.text);
    expect(services.queries.count).toBe(0);
  });
});

describe('keys', () => {
  it('name every parameter of the normalised query, so equal questions share one entry', async () => {
    await http.get('/payments?limit=5&to=2024-02-01&from=2024-01-01&investor=demo_inv');
    expect(await services.redisKeys()).toEqual([
      `${services.prefix}payments:v1:from=2024-01-01&investor=DEMO_INV&limit=5&to=2024-02-01`,
    ]);
    // Same question, other spelling: a hit.
    expect((await http.get('/payments?investor=DEMO_INV&from=2024-01-01&to=2024-02-01&limit=5')).cache).toBe('HIT');
    // A different limit is a different answer: a miss, and a second key.
    expect((await http.get('/payments?investor=DEMO_INV&from=2024-01-01&to=2024-02-01&limit=6')).cache).toBe('MISS');
    // The default limit is in the key too.
    await http.get('/payments?investor=DEMO_INV&from=2024-01-01&to=2024-02-01');
    expect(await services.redisKeys()).toContain(
      `${services.prefix}payments:v1:from=2024-01-01&investor=DEMO_INV&limit=1000&to=2024-02-01`,
    );
    await http.get('/employees/42');
    await http.get('/investors/demo_inv/summary');
    expect(await services.redisKeys()).toEqual(
      expect.arrayContaining([
        `${services.prefix}employee:v1:id=42`,
        `${services.prefix}investor-summary:v1:investor=DEMO_INV`,
      ]),
    );
  });

  it.each([
    ['an investor id with key syntax in it', '/investors/DEMO_INV:v2/summary'],
    [
      'an investor id that smuggles a parameter',
      '/payments?investor=DEMO_INV%26limit%3D5&from=2024-01-01&to=2024-02-01',
    ],
    ['an investor id with a glob', '/investors/*/summary'],
    ['an investor id with a newline', '/investors/DEMO_INV%0D%0ADEL%20x/summary'],
    ['an employee id with key syntax', '/employees/42:v1'],
  ])('user input cannot forge a key: %s is a 400 that writes nothing', async (_what, path) => {
    const res = await http.get(path);
    expect(res.status).toBe(400);
    expect(res.headers.get('x-cache')).toBeNull();
    expect(await services.redisKeys()).toEqual([]);
    expect(services.queries.count).toBe(0);
  });

  it('encodes parameter values, so even input a looser validation let through could not forge a key', () => {
    const forged = cacheKey({ prefix: 'p:', name: 'payments', params: { investor: 'A&limit=5' } });
    const real = cacheKey({ prefix: 'p:', name: 'payments', params: { investor: 'A', limit: 5 } });
    expect(forged).not.toBe(real);
    expect(forged).toBe('p:payments:v1:investor=A%26limit%3D5');
  });
});

describe('errors are never cached', () => {
  it('a 404 writes no key, so the row created afterwards is found', async () => {
    const { rows } = await services.db.query<{ id: number }>(
      "SELECT nextval(pg_get_serial_sequence('employees', 'id'))::int AS id",
    );
    const id = rows[0]?.id as number;
    const missing = await http.get(`/employees/${id}`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/problem\+json/);
    expect(await services.redisKeys()).toEqual([]);

    await services.db.query(
      "INSERT INTO employees (id, name, email, department, status) VALUES ($1, 'New Hire', $2, 'Sales', 'in')",
      [id, `new.hire.${id}@example.com`],
    );
    const found = await http.get(`/employees/${id}`);
    expect(found.status).toBe(200);
    expect(found.json<{ name: string }>().name).toBe('New Hire');
  });

  it('an unknown investor is a 404 every time, each time asking PostgreSQL', async () => {
    expect((await http.get('/investors/NOBODY/summary')).status).toBe(404);
    expect((await http.get('/payments?investor=NOBODY&from=2024-01-01&to=2025-01-01')).status).toBe(404);
    expect((await http.get('/investors/NOBODY/summary')).status).toBe(404);
    expect(services.queries.matching(/FROM investors/)).toBe(3);
    expect(await services.redisKeys()).toEqual([]);
  });
});

describe('when Redis is down or slow: a miss, BYPASS, never a 500', () => {
  it.each(ROUTES)('%s answers from PostgreSQL with X-Cache: BYPASS when nothing listens', async (_r, path) => {
    const expected = await http.get(path);
    const down = await instance({ redis: await client(`redis://127.0.0.1:${await freePort()}`) });
    services.queries.reset();
    const started = performance.now();
    const res = await down.get(path);
    expectJson(res, 'BYPASS');
    expect(res.json()).toEqual(expected.json());
    expect(res.timing.db).toBeGreaterThan(0);
    expect(services.queries.count).toBeGreaterThan(0);
    expect(performance.now() - started, 'an unreachable Redis must not add seconds').toBeLessThan(2_000);
  });

  it('still answers 404 and 400 as usual when Redis is down', async () => {
    const down = await instance({ redis: await client(`redis://127.0.0.1:${await freePort()}`) });
    expect((await down.get('/employees/999999999')).status).toBe(404);
    expect((await down.get('/employees/abc')).status).toBe(400);
  });

  describe.skipIf(!hasRedisServer)('with a redis-server of our own (needs redis-server on PATH)', () => {
    let own: OwnRedis;
    beforeAll(async () => {
      own = await startOwnRedis();
    });
    afterAll(() => own.kill());
    afterEach(() => own.resume());

    it('recovers by itself: MISS, then BYPASS while Redis is dead, then MISS and HIT once it is back', async () => {
      const app = await instance({ redis: await client(own.url) });
      const path = '/employees/1234';
      expect(await whenReady(clients.at(-1) as Redis)).toBe(true);
      expect((await app.get(path)).cache).toBe('MISS');
      expect((await app.get(path)).cache).toBe('HIT');

      await own.kill();
      for (const [, p] of ROUTES) {
        const res = await app.get(p);
        expect(res.status, `${p} while Redis is dead`).toBe(200);
        expect(res.cache).toBe('BYPASS');
      }

      await own.start(); // a fresh, empty Redis (no persistence)
      expect(await whenReady(clients.at(-1) as Redis, 3_000), 'the app should reconnect without a restart').toBe(true);
      expect((await app.get(path)).cache).toBe('MISS');
      expect((await app.get(path)).cache).toBe('HIT');
    });

    it('a frozen Redis costs at most the command timeout, then BYPASS', async () => {
      const slow = await client(own.url, 200);
      expect(await whenReady(slow)).toBe(true);
      const app = await instance({ redis: slow });
      own.pause();
      const res = await app.get('/employees/5');
      expectJson(res, 'BYPASS');
      expect(res.timing.l2).toBeGreaterThanOrEqual(150);
      expect(res.timing.l2, 'the lookup should give up after the 200 ms command timeout').toBeLessThan(1_000);
    });
  });
});
