import {
  createRedisClient,
  type RedisClientOptions,
  whenReady,
} from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import {
  captureServerLog,
  expectJsonOnly,
  expectMalformedJson,
  type HttpHarness,
  redisUrl,
  serve,
  startChaosProxy,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppDeps, createApp } from '../src/app.ts';

const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];
/** What the instances logged: a 500's message says it (the answer itself only says "see the server log"). */
const serverLog = captureServerLog();
const { said } = serverLog;

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
  serverLog.clear();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** Counts the commands an instance sends to Redis (they still run: this only watches). */
function watchRedis(redis: Redis) {
  const sent: string[] = [];
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    sent.push(command.name);
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
  return {
    get sent(): readonly string[] {
      return sent;
    },
    reset: () => {
      sent.length = 0;
    },
  };
}

/** One instance of your app, as a separate server process would be: its own L1 and its own Redis connections. */
async function instance(name: string, extra: Partial<AppDeps> = {}, redisOptions: RedisClientOptions = {}) {
  // A command timeout far above the default 250 ms: on a loaded machine a stalled event loop must
  // not turn a healthy Redis into a BYPASS (Redis failing is tested on purpose, elsewhere).
  const redis = createRedisClient({ log: () => {}, commandTimeoutMs: 5_000, ...redisOptions });
  const subscriber = createRedisClient({ log: () => {}, commandTimeoutMs: 5_000 });
  cleanups.push(() => {
    redis.disconnect();
    subscriber.disconnect();
  });
  // Generous: on a loaded machine connecting can take seconds, and a client that is not ready
  // fails every command (BYPASS), which would fail the test for the wrong reason.
  expect(await whenReady(redis, 15_000), `instance ${name} could not connect to Redis`).toBe(true);
  const app = createApp({
    db: services.db,
    redis,
    subscriber,
    keyPrefix: services.prefix,
    instanceId: name,
    log: serverLog.log,
    // L1's clock stands still unless a test moves it (the TTL tests pass their own): whether an
    // L1 copy is still there never depends on how long the machine took between two requests,
    // and an L1 TTL in the wrong unit fails the TTL tests, which say so, not the read tests.
    now: () => 1_000_000,
    ...extra,
  });
  cleanups.push(() => app.locals.close?.());
  // Wait for the subscription (resolves as soon as Redis confirms it; the timeout only stops a
  // starter that never subscribes from hanging).
  await Promise.race([app.locals.ready, new Promise((r) => setTimeout(r, 10_000))]);
  const http = await serve(app);
  cleanups.push(() => http.close());
  return { http, redis: watchRedis(redis) };
}

/** Read again and again until `done` or `timeoutMs`: a message between instances takes a moment. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = await read();
  }
  return value;
}

/** GET /employees/:id, insisting on a 200: every check after it reads the answer. */
async function fetchEmployee(http: HttpHarness, id: number): Promise<TestResponse> {
  const res = await http.get(`/employees/${id}`);
  expect(res.status, `GET /employees/${id} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
  return res;
}

/** PATCH /employees/:id, insisting on a 200. */
async function patchOk(http: HttpHarness, id: number, body: unknown): Promise<TestResponse> {
  const res = await patch(http, id, body);
  expect(res.status, `PATCH /employees/${id} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
  return res;
}

const level = (res: TestResponse) => (res.cache === 'HIT' ? res.headers.get('x-cache-level') : res.cache);
const nameOf = (res: TestResponse) => res.json<{ name?: string }>().name;
const patch = (http: HttpHarness, id: number, body: unknown) =>
  http.request(`/employees/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('reads', () => {
  it('serves a repeated read on the same instance from L1, without Redis or PostgreSQL', async () => {
    const a = await instance('a');
    expect((await fetchEmployee(a.http, 1)).cache, 'the first read of employee 1 should be a MISS').toBe('MISS');
    services.queries.reset();
    a.redis.reset();
    const again = await fetchEmployee(a.http, 1);
    expect(level(again), 'the second read of employee 1 on the same instance should come from L1').toBe('L1');
    expect(services.queries.count, 'an L1 hit reached PostgreSQL').toBe(0);
    expect(a.redis.sent, 'an L1 hit sent commands to Redis').toEqual([]);
  });

  it("backfills L1 on an L2 hit: instance B's second read stays in B's memory", async () => {
    const a = await instance('a');
    const b = await instance('b');
    await fetchEmployee(a.http, 2);
    services.queries.reset();
    const first = await fetchEmployee(b.http, 2);
    expect(level(first), "B's first read of employee 2 should be an L2 hit: A put it in Redis").toBe('L2');
    expect(services.queries.count, "B's first read went to PostgreSQL although Redis had the employee").toBe(0);
    b.redis.reset();
    const second = await fetchEmployee(b.http, 2);
    expect(
      level(second),
      "B's second read of employee 2 was not served from B's L1: after an L2 hit, copy the value into L1 (backfill)",
    ).toBe('L1');
    expect(b.redis.sent, "B's second read asked Redis again: the L2 hit was not kept in L1").toEqual([]);
  });

  it('answers from PostgreSQL with X-Cache: BYPASS, not a 500, when Redis is unreachable', async () => {
    const redis = createRedisClient({ url: 'redis://127.0.0.1:1', log: () => {} });
    const subscriber = createRedisClient({ url: 'redis://127.0.0.1:1', log: () => {} });
    cleanups.push(() => {
      redis.disconnect();
      subscriber.disconnect();
    });
    const app = createApp({ db: services.db, redis, subscriber, keyPrefix: services.prefix, log: serverLog.log });
    cleanups.push(() => app.locals.close?.());
    const http = await serve(app);
    cleanups.push(() => http.close());
    const res = await http.get('/employees/3');
    expect(res.status, `with Redis down, GET /employees/3 answered ${res.status}${said(res)}`).toBe(200);
    expect(res.cache, 'with Redis down, the answer should say X-Cache: BYPASS').toBe('BYPASS');
    const write = await patch(http, 3, { status: 'in' });
    expect(
      write.status,
      `with Redis down, a PATCH answered ${write.status}${said(write)}: a cache failure must not fail a write`,
    ).toBe(200);
  });
});

describe('TTLs', () => {
  it('keeps the Redis copy for L2_TTL_SECONDS, at most 60 s: PTTL right after the write', async () => {
    const a = await instance('a');
    await fetchEmployee(a.http, 4);
    // Read at once: the write happened before the answer was sent.
    const [key] = await services.redisKeys();
    const l2TtlMs = await services.redis.pttl(key as string);
    expect(l2TtlMs, 'the employee was not stored in Redis with a TTL').toBeGreaterThan(1000);
    expect(
      l2TtlMs,
      `the employee's Redis copy lives ${Math.round(l2TtlMs / 1000)} s: L2 keeps it 60 s at most. L2_TTL_SECONDS is in seconds (60), not milliseconds (60000)`,
    ).toBeLessThanOrEqual(60_000);
  });

  it('keeps the L1 copy for at least a second (on L1’s clock)', async () => {
    let now = 1_000_000;
    const a = await instance('a', { now: () => now });
    await fetchEmployee(a.http, 4);
    // L1's own clock moves, not the real one: the verdict does not depend on the machine's speed.
    now += 1_000;
    a.redis.reset();
    const later = await fetchEmployee(a.http, 4);
    expect(
      level(later),
      `1 s after caching employee 4, instance A no longer had it in L1 (it answered from ${level(later)}): an L1 copy must live at least a second. L1_TTL_MS is in milliseconds (10 s is 10000, not 10)`,
    ).toBe('L1');
    expect(a.redis.sent, 'an L1 hit sent commands to Redis').toEqual([]);
  });

  it('lets the L1 copy expire before the L2 copy', async () => {
    let now = 1_000_000;
    const a = await instance('a', { now: () => now });
    await fetchEmployee(a.http, 4);
    const [key] = await services.redisKeys();
    const l2TtlMs = await services.redis.pttl(key as string);
    expect(l2TtlMs, 'the employee was not stored in Redis with a TTL').toBeGreaterThan(1000);
    // Move L1's clock to one second before the Redis copy expires.
    now += l2TtlMs - 1000;
    const late = await fetchEmployee(a.http, 4);
    expect(
      level(late),
      `L1 still served employee 4 ${Math.round((l2TtlMs - 1000) / 1000)} s after caching it, 1 s before its Redis copy expires: the L1 TTL must be shorter than the L2 TTL`,
    ).toBe('L2');
  });
});

describe('writes', () => {
  it('shows a PATCH in the next read on the same instance', async () => {
    const a = await instance('a');
    await fetchEmployee(a.http, 5);
    await patchOk(a.http, 5, { name: 'Ada Lovelace' });
    const read = await fetchEmployee(a.http, 5);
    expect(
      nameOf(read),
      `after the PATCH, instance A still answers the old name (${level(read)}): the PATCH must invalidate the cached employee`,
    ).toBe('Ada Lovelace');
  });

  it('shows a PATCH on instance A in the next reads on instance B (its L1 copy is dropped)', async () => {
    const a = await instance('a');
    const b = await instance('b');
    await fetchEmployee(a.http, 6);
    await fetchEmployee(b.http, 6);
    await fetchEmployee(b.http, 6);
    await patchOk(a.http, 6, { name: 'Grace Hopper' });
    const read = await eventually(
      () => fetchEmployee(b.http, 6),
      (r) => nameOf(r) === 'Grace Hopper',
    );
    expect(
      nameOf(read),
      `a second after the PATCH on A, B still answers the old name from ${level(read)}: ` +
        (level(read) === 'L1'
          ? "B's L1 was never told. Deleting the key in Redis and in A's memory is not enough: publish it to the other instances"
          : 'the PATCH must invalidate the cached employee'),
    ).toBe('Grace Hopper');
  });

  it('deletes the Redis copy before telling the other instances', async () => {
    const a = await instance('a');
    const b = await instance('b');
    await fetchEmployee(a.http, 9);
    await fetchEmployee(b.http, 9);
    a.redis.reset();
    await patchOk(a.http, 9, { name: 'Mary Jackson' });
    const sent = a.redis.sent.map((name) => name.toLowerCase());
    const commands = sent.join(', ') || 'nothing';
    const deleted = sent.findIndex((name) => name === 'del' || name === 'unlink');
    const published = sent.indexOf('publish');
    expect(
      deleted,
      `during the PATCH, instance A sent ${commands} to Redis: the PATCH must delete the employee's Redis copy (cache.delete)`,
    ).toBeGreaterThanOrEqual(0);
    expect(
      published,
      `until the PATCH answered, instance A sent ${commands} to Redis and no PUBLISH: after deleting, publish the key so the other instances drop their L1 copies, and answer only once that is done (await cache.delete(…))`,
    ).toBeGreaterThanOrEqual(0);
    expect(
      deleted < published,
      `during the PATCH, instance A sent ${commands}: it told the other instances before deleting the Redis copy. An instance that drops its L1 copy and reads at once still finds the old value in Redis and puts it back in its L1, where no message reaches it again. Delete L2 (and this L1) first, then publish`,
    ).toBe(true);
  });

  it('answers a PATCH only once its invalidation is done, so the writer reads its own write', async () => {
    // Instance A's Redis goes through a proxy the test can freeze, with a command timeout long
    // enough that a frozen Redis makes A wait instead of giving up.
    const proxy = await startChaosProxy({ upstream: redisUrl() });
    cleanups.push(() => proxy.close());
    const a = await instance('a', {}, { url: proxy.url, commandTimeoutMs: 30_000 });
    await fetchEmployee(a.http, 8);
    const [key] = await services.redisKeys();

    proxy.blackhole(); // Redis "freezes" for A: what A sends is held until restore()
    const before = proxy.stats.bytesFromClients;
    let answered = false;
    const patched = patch(a.http, 8, { name: 'Dorothy Vaughan' }).finally(() => {
      answered = true;
    });
    void patched.catch(() => {}); // awaited below; this only keeps an early failure from being unhandled
    try {
      // Wait (not time) for the UPDATE to commit and A to send its invalidation, held by the proxy.
      await eventually(async () => proxy.stats.bytesFromClients > before, Boolean, 10_000);
      expect(
        proxy.stats.bytesFromClients > before,
        `instance A sent nothing to Redis for the PATCH${answered ? ', which it answered' : ''}: the PATCH must invalidate the cached employee (await cache.delete(…))`,
      ).toBe(true);
      // A PATCH that does not wait for its invalidation answers now, in a few ms; the second
      // is room for a loaded machine. A right answer cannot answer in it, however slow or fast
      // the machine: what it waits for is held until restore().
      await eventually(async () => answered, Boolean, 1_000);
      expect(
        answered,
        'instance A answered the PATCH while its invalidation was still on its way to Redis: await cache.delete(…) before answering. Otherwise a client that reads right after its own write can get the old name, from Redis or from an L1 not yet told',
      ).toBe(false);
    } finally {
      proxy.restore();
    }
    const done = await patched;
    expect(done.status, `the PATCH answered ${done.status}${said(done)}`).toBe(200);
    expect(await services.redis.exists(key as string), 'after the PATCH answered, the Redis copy was still there').toBe(
      0,
    );
    const read = await fetchEmployee(a.http, 8);
    expect(nameOf(read), `right after its PATCH answered, A still answers the old name (${level(read)})`).toBe(
      'Dorothy Vaughan',
    );
  });

  it('invalidates after the UPDATE has committed, so a read during the write cannot cache the old row again', async () => {
    const a = await instance('a');
    const b = await instance('b');
    await fetchEmployee(a.http, 7);
    await fetchEmployee(b.http, 7);

    // Hold a lock on the row: the PATCH's UPDATE has to wait until this transaction ends.
    const locker = await services.db.connect();
    let patched: Promise<TestResponse> | undefined;
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM employees WHERE id = 7 FOR UPDATE');
      const pid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      patched = patch(a.http, 7, { name: 'Katherine Johnson' });
      const waiting = await eventually(
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
      expect(waiting, 'the PATCH never got to its UPDATE').toBe(1);
      // While the UPDATE waits, other requests read employee 7 (the old row is still the committed one).
      await fetchEmployee(a.http, 7);
      await fetchEmployee(b.http, 7);
      await locker.query('COMMIT');
    } finally {
      locker.release();
    }
    const done = await patched;
    expect(done?.status, `the PATCH answered ${done?.status}${done ? said(done) : ''}`).toBe(200);
    for (const [who, inst] of [
      ['A', a],
      ['B', b],
    ] as const) {
      const read = await eventually(
        () => fetchEmployee(inst.http, 7),
        (r) => nameOf(r) === 'Katherine Johnson',
      );
      expect(
        nameOf(read),
        `${who} still answers the old name after the PATCH (${level(read)}): either the PATCH does not invalidate at all (see the tests above), or it invalidates before the UPDATE has committed and a read that ran while the UPDATE waited cached the old row again. Invalidate after the commit`,
      ).toBe('Katherine Johnson');
    }
  });
});

describe('what a PATCH reads', () => {
  it('answers a body not sent as application/json with 415 naming it, before any query', async () => {
    const a = await instance('a');
    // Without a Content-Type (curl -d without -H), and as text/plain: the label is the mistake, not the body.
    await expectJsonOnly(a.http, 'PATCH', '/employees/10', '{"name":"Ada"}', undefined);
    await expectJsonOnly(a.http, 'PATCH', '/employees/10', '{"name":"Ada"}');
    expect(services.queries.count, 'a PATCH with a body in the wrong media type reached PostgreSQL').toBe(0);
  });

  it('answers malformed JSON with a 400 that says where it breaks, before any query', async () => {
    const a = await instance('a');
    await expectMalformedJson(a.http, 'PATCH', '/employees/10');
    expect(services.queries.count, 'a PATCH with malformed JSON reached PostgreSQL').toBe(0);
  });
});
