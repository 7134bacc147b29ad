import { createPool, databaseUrl } from '@cachelab/db';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import {
  expectConsistent,
  expectMalformedJson,
  type HttpHarness,
  hammerEmployeeNames,
  holdTheStoreOf,
  redisUrl,
  serve,
  startChaosProxy,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppDeps, type AppLocals, createApp } from '../src/app.ts';

const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** Every command a Redis client sends (it still runs: this only watches, like testkit's query counter). */
function watchRedis(redis: Redis) {
  const sent: string[] = [];
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    sent.push(command.name);
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
  return {
    get count() {
      return sent.length;
    },
    reset: () => {
      sent.length = 0;
    },
  };
}

/** One instance of the API, as a separate process would be: its own L1, Redis connections, bus subscription. */
async function instance(name: string, options: Partial<AppDeps> = {}) {
  // A healthy Redis here: a command timeout of 5 s (not the lesson's 250 ms), so that a
  // machine loaded by other test files does not turn a HIT into a BYPASS. The tests of a
  // Redis that is down build their clients themselves.
  const quiet = { log: () => {}, commandTimeoutMs: 5_000 };
  const redis = createRedisClient(quiet);
  const subscriber = createRedisClient(quiet);
  cleanups.push(() => {
    redis.disconnect();
    subscriber.disconnect();
  });
  await whenReady(redis);
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
  const http = await serve(app);
  cleanups.push(() => http.close());
  return { http, client: redis, redis: watchRedis(redis), subscriber, locals };
}

/** Poll `read` until `done` accepts its result or `timeoutMs` runs out; returns the last result. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = await read();
  }
  return value;
}

const CLASSIC = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000';
const nameOf = (res: TestResponse) => res.json<{ name: string }>().name;
const patch = (http: HttpHarness, path: string, body: unknown) =>
  http.request(path, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('the read path: L1, then L2, then PostgreSQL', () => {
  it('answers a first GET from PostgreSQL and says so: MISS, with l1, l2 and db in Server-Timing', async () => {
    const a = await instance('a');
    const res = await a.http.get('/employees/42');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: 42 });
    expect(res.cache).toBe('MISS');
    expect(Object.keys(res.timing)).toEqual(expect.arrayContaining(['l1', 'l2', 'db']));
    expect(services.queries.matching(/FROM employees/)).toBe(1);
  });

  it('serves a second GET from L1 without touching Redis or PostgreSQL', async () => {
    const a = await instance('a');
    const first = await a.http.get('/employees/42');
    services.queries.reset();
    a.redis.reset();
    const second = await a.http.get('/employees/42');
    expect(second.cache).toBe('HIT');
    expect(second.headers.get('x-cache-level')).toBe('L1');
    expect(second.text).toBe(first.text);
    expect(services.queries.count, 'an L1 hit reached PostgreSQL').toBe(0);
    expect(a.redis.count, 'an L1 hit sent a command to Redis').toBe(0);
    expect(second.timing.l1).toBeGreaterThanOrEqual(0);
    expect(second.timing.l2).toBeUndefined();
    expect(second.timing.db).toBeUndefined();
  });

  // Three requests for the 17.8 MB answer, the first a full scan: seconds on a loaded machine.
  it('serves another instance from L2, then backfills its L1 so its next read stays in memory', {
    timeout: 60_000,
  }, async () => {
    const a = await instance('a');
    const b = await instance('b');
    expect((await a.http.get(CLASSIC)).cache).toBe('MISS');
    services.queries.reset();

    const fromL2 = await b.http.get(CLASSIC);
    expect(fromL2.cache).toBe('HIT');
    expect(fromL2.headers.get('x-cache-level')).toBe('L2');
    expect(fromL2.timing.l2).toBeGreaterThan(0);
    expect(fromL2.timing.db).toBeUndefined();
    expect(services.queries.matching(/borrower_payments/), 'an L2 hit reached PostgreSQL').toBe(0);

    b.redis.reset();
    const fromL1 = await b.http.get(CLASSIC);
    expect(fromL1.headers.get('x-cache-level'), 'b did not keep the L2 value in its L1').toBe('L1');
    expect(b.redis.count).toBe(0);
    expect(fromL1.json<{ count: number }>().count).toBe(fromL2.json<{ count: number }>().count);
  });

  it('never caches a 404', async () => {
    const a = await instance('a');
    await a.http.get('/employees/999999999');
    const again = await a.http.get('/employees/999999999');
    expect(again.status).toBe(404);
    expect(again.cache).toBeUndefined();
    expect(services.queries.matching(/FROM employees/)).toBe(2);
    expect(await services.redisKeys()).toEqual([]);
  });

  it('caches the investor summary too', async () => {
    const a = await instance('a');
    expect((await a.http.get('/investors/DEMO_INV/summary')).cache).toBe('MISS');
    const hit = await a.http.get('/investors/demo_inv/summary');
    expect([hit.cache, hit.headers.get('x-cache-level')]).toEqual(['HIT', 'L1']);
  });
});

describe('TTLs: L1 expires before L2', () => {
  it('lets an L1 entry expire while L2 still has it, so the next read is an L2 hit', async () => {
    let now = 1_000_000;
    const a = await instance('a', { l1: { ttlMs: 2_000, now: () => now }, l2TtlSeconds: 60 });
    await a.http.get('/employees/5');
    const [key] = await services.redisKeys();
    expect(await services.redis.pttl(key as string)).toBeGreaterThan(59_000);
    now += 1_999;
    expect((await a.http.get('/employees/5')).headers.get('x-cache-level')).toBe('L1');
    now += 2;
    const res = await a.http.get('/employees/5');
    expect(res.headers.get('x-cache-level'), 'L1 outlived its TTL').toBe('L2');
  });

  it('refuses an L1 TTL that is not shorter than the L2 TTL, naming both options', async () => {
    const redis = createRedisClient({ log: () => {} });
    const subscriber = createRedisClient({ log: () => {} });
    cleanups.push(() => {
      redis.disconnect();
      subscriber.disconnect();
    });
    const make = () =>
      createApp({
        db: services.db,
        redis,
        subscriber,
        keyPrefix: services.prefix,
        l1: { ttlMs: 60_000 },
        l2TtlSeconds: 60,
      });
    expect(make).toThrow(TypeError);
    expect(make).toThrow(/l1\.ttlMs \(60000\).*shorter than l2\.ttlSeconds/);
  });
});

describe('PATCH /employees/:id and invalidation across instances', () => {
  it('updates the row and the next read on the same instance sees it', async () => {
    const a = await instance('a');
    await a.http.get('/employees/10');
    const res = await patch(a.http, '/employees/10', { name: 'Ada Lovelace', status: 'out' });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: 10, name: 'Ada Lovelace', status: 'out' });
    expect(res.timing.db).toBeGreaterThan(0);
    const read = await a.http.get('/employees/10');
    expect(read.cache).toBe('MISS');
    expect(read.json()).toMatchObject({ name: 'Ada Lovelace', status: 'out' });
  });

  it("shows a PATCH on instance A in instance B's next read: B's L1 was cleared over pub/sub", async () => {
    const a = await instance('a');
    const b = await instance('b');
    await a.http.get('/employees/11');
    await b.http.get('/employees/11'); // L2 hit, backfills b's L1
    expect((await b.http.get('/employees/11')).headers.get('x-cache-level')).toBe('L1');

    expect((await patch(a.http, '/employees/11', { name: 'Grace Hopper' })).status).toBe(200);
    const read = await eventually(
      () => b.http.get('/employees/11'),
      (r) => nameOf(r) === 'Grace Hopper',
    );
    expect(nameOf(read), "b still serves the old name from its L1 a second after a's PATCH").toBe('Grace Hopper');
    expect(read.cache).toBe('MISS');
    expect(b.locals.cache.l1.entries).toBe(1);
  });

  it('invalidates only after the UPDATE has committed, so a read during the write cannot cache the old row', async () => {
    const a = await instance('a');
    const b = await instance('b');
    await a.http.get('/employees/12');
    await b.http.get('/employees/12');

    // Hold the row: the PATCH's UPDATE waits for this transaction.
    const locker = await services.db.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM employees WHERE id = 12 FOR UPDATE');
      const pid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      const patched = patch(a.http, '/employees/12', { name: 'Katherine Johnson' });
      const blocked = await eventually(
        async () =>
          (
            await services.db.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
              [pid],
            )
          ).rows[0]?.n,
        (n) => n === 1,
        5000,
      );
      expect(blocked, 'the PATCH never reached its UPDATE').toBe(1);
      // A read while the write is in progress: still the old row, which is right at this moment.
      await a.http.get('/employees/12');
      await locker.query('COMMIT');
      expect((await patched).status).toBe(200);
    } finally {
      locker.release();
    }
    const onA = await a.http.get('/employees/12');
    const onB = await eventually(
      () => b.http.get('/employees/12'),
      (r) => nameOf(r) === 'Katherine Johnson',
    );
    expect(nameOf(onA)).toBe('Katherine Johnson');
    expect(nameOf(onB)).toBe('Katherine Johnson');
  });

  /**
   * The stale-set race: B misses, loads the old row, and before it stores it in Redis the
   * test holds that store (a gate, no sleep) while A renames the employee and invalidates.
   * Then B's store goes. The order is forced, so the race happens every time.
   */
  async function staleSetRace(id: number, options: Partial<AppDeps> = {}) {
    const a = await instance('a', options);
    const b = await instance('b', options);
    const key = cacheKey({ prefix: services.prefix, name: 'employee', params: { id } });
    const before = nameOf(await a.http.get(`/employees/${id}`));
    await services.redis.del(key); // nobody has it in L2; a's L1 is not read by b
    const held = holdTheStoreOf(b.client, key);
    const reading = b.http.get(`/employees/${id}`); // misses, loads the old row, waits at the gate
    await held.reached;
    const renamed = `Renamed During B's Load ${id}`;
    expect((await patch(a.http, `/employees/${id}`, { name: renamed })).status).toBe(200);
    held.release();
    const answered = await reading;
    return { a, b, key, before, renamed, answered };
  }

  it('refuses to cache a load that a PATCH overtook: the old row never reaches Redis, both instances read the new one', async () => {
    const { a, b, key, before, renamed, answered } = await staleSetRace(14);
    expect(nameOf(answered), 'the GET began before the PATCH: the old row is a right answer for it').toBe(before);
    expect(
      await services.redis.getBuffer(key),
      "B stored the row it loaded before A's PATCH, after the PATCH deleted the key: every instance would serve the old name for a whole L2 TTL",
    ).toBeNull();
    expect(nameOf(await b.http.get('/employees/14')), 'b, right after the race').toBe(renamed);
    expect(nameOf(await a.http.get('/employees/14')), 'a, right after the race').toBe(renamed);
  });

  it('without the generation guard, the race leaves the old row in Redis, bounded by the L2 TTL (the README says so)', async () => {
    const { key, before } = await staleSetRace(15, { generationGuard: false, l2TtlSeconds: 60 });
    const stored = await services.redis.getBuffer(key);
    expect(stored, 'the race did not happen: the test forces it, so the guard must be off').not.toBeNull();
    expect((JSON.parse(String(stored)) as { name: string }).name).toBe(before);
    const pttl = await services.redis.pttl(key);
    expect(pttl, 'the old row must still expire with the L2 TTL: that is the bound').toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });

  it('stays consistent under a hammer: two instances, readers and writers at once, then every key agrees everywhere', async () => {
    // b's PostgreSQL answers 30 ms late (a chaos proxy): its loads are slow, so a's writes
    // often land inside them, which is when the stale-set race strikes.
    const slow = await startChaosProxy({ upstream: databaseUrl() });
    const slowDb = createPool({ url: slow.url, searchPath: [services.schema, 'public'], max: 4 });
    cleanups.push(async () => {
      await slowDb.end();
      await slow.close();
    });
    slow.delay(30);
    const a = await instance('a');
    const b = await instance('b', { db: slowDb });
    const report = await hammerEmployeeNames({
      instances: [a, b],
      ids: [20, 21, 22, 23],
      db: services.db,
      cached: async (id) => {
        const stored = await services.redis.get(
          cacheKey({ prefix: services.prefix, name: 'employee', params: { id } }),
        );
        return stored === null ? undefined : (JSON.parse(stored) as { name: string }).name;
      },
    });
    expectConsistent(report);
  });

  it('clears L1 when the bus reconnects after an outage: invalidations sent meanwhile were lost', async () => {
    const a = await instance('a');
    await a.http.get('/employees/13');
    expect(a.locals.cache.l1.entries).toBe(1);
    // A real dropped connection (ioredis closes the socket, then reconnects by itself).
    a.subscriber.disconnect(true);
    const entries = await eventually(
      async () => a.locals.cache.l1.entries,
      (n) => n === 0,
      3000,
    );
    expect(entries, 'L1 kept its entries after the bus reconnected').toBe(0);
    expect((await a.http.get('/employees/13')).headers.get('x-cache-level')).toBe('L2');
  });
});

describe('PATCH validation', () => {
  it.each([
    ['an empty body', {}, 'body'],
    ['an unknown field', { email: 'x@example.com' }, 'email'],
    ['a status that is neither in nor out', { status: 'away' }, 'status'],
    ['an empty name', { name: '   ' }, 'name'],
    ['a name with a NUL character (PostgreSQL text cannot hold it)', { name: 'a\u0000b' }, 'name'],
    ['malformed JSON', '{"name": ', 'is not valid JSON: it ends at position 9'],
  ])('rejects %s with a 400 problem+json, before any query', async (_what, body, detail) => {
    const a = await instance('a');
    const res = await patch(a.http, '/employees/3', body);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.json<{ detail: string }>().detail).toContain(detail);
    expect(services.queries.count).toBe(0);
  });

  it("says where malformed JSON breaks in the workshop's words, not the parser's", async () => {
    const a = await instance('a');
    await expectMalformedJson(a.http, 'PATCH', '/employees/3');
    expect(services.queries.count).toBe(0);
  });

  it('answers 404 for an employee that does not exist', async () => {
    const a = await instance('a');
    expect((await patch(a.http, '/employees/999999999', { status: 'in' })).status).toBe(404);
  });
});

describe('when Redis is slow', () => {
  it('logs one line when a GET times out and the answer is a BYPASS, not silence; at most one per 10 s', async () => {
    // Redis through a proxy the test freezes: connected, silent, like a Redis that cannot keep
    // up. The client's own 250 ms timeout, as in main.ts.
    const proxy = await startChaosProxy({ upstream: redisUrl() });
    cleanups.push(() => proxy.close());
    const redis = createRedisClient({ url: proxy.url, log: () => {} });
    const subscriber = createRedisClient({ log: () => {}, commandTimeoutMs: 5_000 });
    cleanups.push(() => {
      redis.disconnect();
      subscriber.disconnect();
    });
    expect(await whenReady(redis, 15_000)).toBe(true);
    const logged: string[] = [];
    const app = createApp({
      db: services.db,
      redis,
      subscriber,
      keyPrefix: services.prefix,
      log: (line) => logged.push(String(line)),
    });
    cleanups.push(() => (app.locals as AppLocals).close());
    await (app.locals as AppLocals).ready;
    const http = await serve(app);
    cleanups.push(() => http.close());

    proxy.blackhole();
    const first = await http.get('/employees/21');
    const second = await http.get('/employees/22');
    proxy.restore();
    expect([first.status, first.cache, second.cache]).toEqual([200, 'BYPASS', 'BYPASS']);
    expect(logged).toEqual(['⚠ Redis get failed: Command timed out. Answered from PostgreSQL (X-Cache: BYPASS).']);
  });
});

describe('when Redis is unreachable', () => {
  it('answers from PostgreSQL with X-Cache: BYPASS, never a 500, and writes still succeed', async () => {
    const quiet = { log: () => {} };
    const redis = createRedisClient({ url: 'redis://127.0.0.1:1', ...quiet });
    const subscriber = createRedisClient({ url: 'redis://127.0.0.1:1', ...quiet });
    cleanups.push(() => {
      redis.disconnect();
      subscriber.disconnect();
    });
    const app = createApp({ db: services.db, redis, subscriber, keyPrefix: services.prefix, log: () => {} });
    cleanups.push(() => (app.locals as AppLocals).close());
    const http = await serve(app);
    cleanups.push(() => http.close());

    const started = performance.now();
    const res = await http.get('/employees/20');
    expect(res.status).toBe(200);
    expect(res.cache).toBe('BYPASS');
    expect(res.timing.db).toBeGreaterThan(0);
    expect(performance.now() - started, 'a dead Redis made the request wait').toBeLessThan(1000);

    const write = await patch(http, '/employees/20', { status: 'in' });
    expect(write.status).toBe(200);
    expect(write.headers.get('x-cache-invalidation')).toBe('failed');
  });
});
