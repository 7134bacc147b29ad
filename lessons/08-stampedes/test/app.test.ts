import { createPool, databaseUrl, type Pool } from '@cachelab/db';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import {
  countQueries,
  expectConsistent,
  type HttpHarness,
  hammerEmployeeNames,
  serve,
  startChaosProxy,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppDeps, type AppLocals, createApp } from '../src/app.ts';
import { decodeEntry } from '../src/cache-entry.ts';

const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/**
 * One instance of the API, as a separate process would be: its own L1, single-flight map
 * and Redis connections. `arrivals` counts the requests that reached its server.
 */
async function instance(name: string, options: Partial<AppDeps> = {}) {
  // Generous Redis timeouts: 1,000 requests on a shared 2-core machine must not turn into BYPASS.
  const redis = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
  const subscriber = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
  cleanups.push(() => {
    redis.disconnect();
    subscriber.disconnect();
  });
  await whenReady(redis, 5_000);
  const app = createApp({
    db: services.db,
    redis,
    subscriber,
    keyPrefix: services.prefix,
    instanceId: name,
    log: () => {},
    ...options,
  });
  const locals = app.locals as AppLocals;
  cleanups.push(() => locals.close());
  await locals.ready;
  const counter = { arrivals: 0 };
  const http = await serve((req, res) => {
    counter.arrivals++;
    app(req, res);
  });
  cleanups.push(() => http.close());
  return Object.assign(counter, { http, locals });
}

/** Poll `read` until `done` accepts its value or `timeoutMs` runs out; returns the last value. */
async function eventually<T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = await read();
  }
  return value;
}

/**
 * Hold an ACCESS EXCLUSIVE lock on this test file's `employees` table: every SELECT on it
 * waits until `release()`. That makes a load as slow as the test wants, so that "1,000
 * concurrent requests" really are all in flight while the first load runs.
 */
async function lockEmployees() {
  const client = await services.db.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE employees IN ACCESS EXCLUSIVE MODE');
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await client.query('COMMIT');
    client.release();
  };
  cleanups.push(release);
  return release;
}

/** `n` concurrent GETs of `path`, spread over the instances round-robin. */
function burst(instances: { http: HttpHarness }[], path: string, n: number): Promise<TestResponse[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) => (instances[i % instances.length] as { http: HttpHarness }).http.get(path)),
  );
}

const employeeQueries = () => services.queries.matching(/FROM employees/);
const nameOf = (res: TestResponse) => res.json<{ name: string }>().name;

// These tests send 1,000 requests on a shared 2-core machine: each gets a minute, and waits
// for counts (arrivals, queries), never for a duration.
describe('1,000 concurrent requests for a cold key', () => {
  it('make more than one query with no protection (the stampede; 200 requests are enough to see it)', async () => {
    const a = await instance('a', { protection: 'none' });
    const release = await lockEmployees();
    const responses = burst([a], '/employees/50', 200);
    // Several loads are waiting on the lock at once: each request that missed runs its own.
    const waiting = await eventually(employeeQueries, (n) => n >= 2);
    await release();
    await responses;
    expect(waiting, 'expected several requests to query PostgreSQL for the same cold key').toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('make exactly one query on one instance with single-flight, and every request gets the row', async () => {
    const a = await instance('a', { protection: 'single-flight' });
    const release = await lockEmployees();
    const responses = burst([a], '/employees/51', 1000);
    expect(
      await eventually(
        () => a.arrivals,
        (n) => n === 1000,
        30_000,
      ),
    ).toBe(1000);
    await release(); // all 1,000 were in flight while the one load waited on the lock
    const all = await responses;
    expect(employeeQueries(), '1,000 concurrent requests for one cold key reached PostgreSQL more than once').toBe(1);
    expect(all.every((r) => r.status === 200 && r.json<{ id: number }>().id === 51)).toBe(true);
    expect(new Set(all.map((r) => r.cache))).toEqual(new Set(['MISS']));
    const led = all.filter((r) => r.timing.db !== undefined);
    expect(led, 'exactly one response should show the db time: the one that loaded').toHaveLength(1);
    expect(all.filter((r) => r.timing.wait !== undefined)).toHaveLength(999);
  }, 60_000);

  it('make one query per instance across three instances with single-flight alone', async () => {
    const instances = await Promise.all(['a', 'b', 'c'].map((n) => instance(n, { protection: 'single-flight' })));
    const release = await lockEmployees();
    const responses = burst(instances, '/employees/52', 999);
    await eventually(
      () => instances.map((i) => i.arrivals),
      (n) => n.every((x) => x === 333),
      30_000,
    );
    await release();
    await responses;
    expect(employeeQueries()).toBe(3);
  }, 60_000);

  it('make exactly one query across three instances with the lease', async () => {
    const instances = await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        instance(n, { protection: 'lease', lease: { ttlMs: 30_000, waitMs: 30_000, pollMs: 25 } }),
      ),
    );
    const release = await lockEmployees();
    const responses = burst(instances, '/employees/53', 1000);
    await eventually(
      () => instances.map((i) => i.arrivals),
      (n) => n.reduce((s, x) => s + x) === 1000,
      30_000,
    );
    await release();
    const all = await responses;
    expect(employeeQueries(), 'three instances loaded the same cold key: the lease should make it one load').toBe(1);
    expect(all.every((r) => r.status === 200 && r.json<{ id: number }>().id === 53)).toBe(true);
    expect(await services.redisKeys()).not.toContain(
      instances[0]?.locals.cache.keys({ name: 'employee', params: { id: 53 } }).lease,
    );
  }, 60_000);
});

describe('headers', () => {
  it('says MISS, then HIT from L1 or L2, with the levels in Server-Timing', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const miss = await a.http.get('/investors/DEMO_INV/summary');
    expect(miss.cache).toBe('MISS');
    expect(Object.keys(miss.timing)).toEqual(expect.arrayContaining(['l1', 'l2', 'db', 'json', 'total']));
    const l1 = await a.http.get('/investors/DEMO_INV/summary');
    expect([l1.cache, l1.headers.get('x-cache-level')]).toEqual(['HIT', 'L1']);
    const l2 = await b.http.get('/investors/demo_inv/summary');
    expect([l2.cache, l2.headers.get('x-cache-level')]).toEqual(['HIT', 'L2']);
    expect(l2.text).toBe(miss.text);
    expect(services.queries.matching(/borrower_payments/)).toBe(1);
  });

  it('says STALE past the TTL, answers without waiting for the database, and is fresh again after the refresh', async () => {
    let now = 1_000_000;
    const a = await instance('a', { now: () => now, freshTtlMs: 60_000, graceMs: 300_000, jitter: 0 });
    await a.http.get('/employees/60');
    now += 61_000;
    services.queries.reset();
    const stale = await a.http.get('/employees/60');
    expect(stale.cache).toBe('STALE');
    expect(stale.headers.get('x-cache-stale-ms')).toBe('1000');
    expect(stale.timing.db, 'a STALE answer must not wait for the refresh').toBeUndefined();
    await a.locals.cache.settled();
    expect(employeeQueries()).toBe(1);
    expect((await a.http.get('/employees/60')).cache).toBe('HIT');
  });

  it('never caches a 404, and rejects bad input with a 400 before any query', async () => {
    const a = await instance('a');
    expect((await a.http.get('/employees/999999999')).status).toBe(404);
    expect((await a.http.get('/employees/999999999')).status).toBe(404);
    expect(employeeQueries()).toBe(2);
    const bad = await a.http.get('/employees/abc');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(employeeQueries()).toBe(2);
    expect(await services.redisKeys()).toEqual([]);
  });
});

describe('a PATCH during reads', () => {
  it('shows the new name on every instance after a PATCH on one', async () => {
    const a = await instance('a');
    const b = await instance('b');
    await a.http.get('/employees/70');
    await b.http.get('/employees/70');
    const res = await a.http.request('/employees/70', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Barbara Liskov' }),
    });
    expect(res.status).toBe(200);
    expect(nameOf(await a.http.get('/employees/70'))).toBe('Barbara Liskov');
    const onB = await eventually(
      () => b.http.get('/employees/70'),
      (r) => nameOf(r) === 'Barbara Liskov',
      2_000,
    );
    expect(nameOf(onB)).toBe('Barbara Liskov');
  });
});

describe('when PostgreSQL or Redis fails', () => {
  async function throughProxy(queryTimeoutMs?: number) {
    const proxy = await startChaosProxy({ upstream: databaseUrl() });
    const db: Pool = createPool({
      url: proxy.url,
      searchPath: [services.schema, 'public'],
      connectionTimeoutMs: 1_000,
      ...(queryTimeoutMs ? { queryTimeoutMs } : {}),
    });
    cleanups.push(async () => {
      await db.end().catch(() => {});
      await proxy.close();
    });
    return { proxy, db, queries: countQueries(db) };
  }

  it('serves the stale value while PostgreSQL is down, within the grace period, then a 503', async () => {
    let now = 1_000_000;
    const { proxy, db } = await throughProxy();
    const a = await instance('a', { db, now: () => now, freshTtlMs: 60_000, graceMs: 300_000, jitter: 0 });
    expect((await a.http.get('/employees/80')).cache).toBe('MISS');

    proxy.cut();
    now += 120_000;
    const stale = await a.http.get('/employees/80');
    expect([stale.status, stale.cache]).toEqual([200, 'STALE']);
    await a.locals.cache.settled(); // the background refresh failed
    now += 239_000; // 359 s after the load: 1 s before fresh TTL + grace runs out
    expect((await a.http.get('/employees/80')).cache, 'a failed refresh dropped the stale value').toBe('STALE');
    await a.locals.cache.settled();

    now += 1_000; // fresh TTL + grace is over
    const gone = await a.http.get('/employees/80');
    expect(gone.status, 'past the grace period the stale value must not be served').toBe(503);
    expect(gone.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    proxy.restore();
    const back = await a.http.get('/employees/80');
    expect([back.status, back.cache]).toEqual([200, 'MISS']);
  });

  it('answers every request that joined a load PostgreSQL never answers within the query timeout: STALE within grace, else 503', async () => {
    // PostgreSQL "freezes" on open connections (the proxy holds every byte): connecting is
    // fine, the query never returns. Only the pool's query timeout (here 500 ms) bounds it.
    let now = 1_000_000;
    const { proxy, db, queries } = await throughProxy(500);
    const a = await instance('a', { db, now: () => now, freshTtlMs: 60_000, graceMs: 300_000, jitter: 0 });
    expect((await a.http.get('/employees/83')).cache).toBe('MISS'); // a pooled connection, and a value

    proxy.blackhole();
    queries.reset();
    let started = performance.now();
    // Employee 84 has no value at all: ten requests join one load that never answers.
    const joined = await Promise.all(Array.from({ length: 10 }, () => a.http.get('/employees/84')));
    let waited = performance.now() - started;
    expect(
      joined.map((r) => r.status),
      'with nothing to fall back on, every joined request must end in a 503',
    ).toEqual(Array(10).fill(503));
    expect(joined[0]?.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(
      waited,
      'they must wait no longer than the query timeout (plus a margin), not as long as the outage',
    ).toBeLessThan(500 + 1_500);
    expect(queries.matching(/FROM employees/), 'the ten requests must have joined one load').toBe(1);

    // Employee 83 is past its fresh TTL, within grace: answered STALE at once, and the
    // background refresh that hangs gives up within the same bound.
    now += 120_000;
    started = performance.now();
    const stale = await Promise.all(Array.from({ length: 5 }, () => a.http.get('/employees/83')));
    expect(stale.map((r) => `${r.status} ${r.cache}`)).toEqual(Array(5).fill('200 STALE'));
    await a.locals.cache.settled();
    waited = performance.now() - started;
    expect(waited, 'the hung refresh must give up within the query timeout (plus a margin)').toBeLessThan(500 + 1_500);

    proxy.restore();
    const back = await a.http.get('/employees/84');
    expect([back.status, back.cache]).toEqual([200, 'MISS']);
  });

  it('answers from PostgreSQL with X-Cache: BYPASS when Redis is unreachable, one query for concurrent requests', async () => {
    const redis = createRedisClient({ url: 'redis://127.0.0.1:1', log: () => {} });
    const subscriber = createRedisClient({ url: 'redis://127.0.0.1:1', log: () => {} });
    cleanups.push(() => {
      redis.disconnect();
      subscriber.disconnect();
    });
    const app = createApp({ db: services.db, redis, subscriber, keyPrefix: services.prefix, log: () => {} });
    cleanups.push(() => (app.locals as AppLocals).close());
    const http = await serve(app);
    cleanups.push(() => http.close());
    const all = await Promise.all(Array.from({ length: 20 }, () => http.get('/employees/90')));
    expect(all.every((r) => r.status === 200)).toBe(true);
    // BYPASS for the requests that loaded or waited for the load; later ones are L1 hits.
    expect(all[0]?.cache).toBe('BYPASS');
    expect(all.every((r) => r.cache === 'BYPASS' || r.cache === 'HIT')).toBe(true);
    expect(employeeQueries(), 'single-flight should still make one query while Redis is down').toBe(1);
  });
});

describe('under a hammer', () => {
  it('stays consistent: two instances, readers and PATCHes at once, then every key agrees everywhere', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const report = await hammerEmployeeNames({
      instances: [a, b],
      ids: [94, 95, 96, 97],
      db: services.db,
      cached: async (id) => {
        const stored = await services.redis.getBuffer(a.locals.cache.keys({ name: 'employee', params: { id } }).value);
        const entry = stored && decodeEntry(stored);
        return entry ? (JSON.parse(String(entry.body)) as { name: string }).name : undefined;
      },
    });
    expectConsistent(report);
  });
});
