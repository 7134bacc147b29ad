import { createServer } from 'node:net';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import {
  type ChaosProxy,
  captureServerLog,
  type HttpHarness,
  redisUrl,
  serve,
  startChaosProxy,
  useServices,
} from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';

const services = useServices();
/** What the app logged for its 500s, so a message can say what went wrong inside (`said`). */
const serverLog = captureServerLog();
const { log, said } = serverLog;
let http: HttpHarness;

beforeAll(async () => {
  http = await serve(createApp({ db: services.db, redis: services.redis, keyPrefix: services.prefix, log }));
});
afterAll(() => http.close());
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
  serverLog.clear();
});

/** The task: an entry lives TTL_SECONDS (30 s), so PTTL right after the write is at most this… */
const MAX_TTL_MS = 30_000;
/**
 * …and at least this. PTTL is read right after the response, so the entry has lost a few ms;
 * the 10 s of room are for a loaded machine, and still tell 30 s from 30 ms (PX) or 3 s.
 */
const MIN_TTL_MS = 20_000;

const ROUTES = [
  ['the investor summary', '/investors/INV00001/summary', /borrower_payments/],
  ['the employee', '/employees/42', /FROM employees/],
] as const;

/** A TCP port nobody listens on: a Redis that is down. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

describe('cache-aside', () => {
  it.each(ROUTES)('serves %s from Redis the second time, without asking PostgreSQL', async (what, path, table) => {
    const first = await http.get(path);
    expect(first.status, `GET ${path} answered ${first.status}${said(first)}: it should answer 200`).toBe(200);
    expect(
      first.cache,
      `the first GET ${path} said X-Cache: ${first.cache}: nothing was in Redis yet, so it is a MISS`,
    ).toBe('MISS');
    // What the first request left in Redis, at once: when the second request misses, this tells
    // "nothing stored" and "stored, but gone already" (a TTL in the wrong unit) from "never looked up".
    const stored = await Promise.all((await services.redisKeys()).map((key) => services.redis.pttl(key)));
    const ttlLeft = stored.find((pttl) => pttl > 0);

    services.queries.reset();
    const second = await http.get(path);
    expect(second.status, `the second GET ${path} answered ${second.status}${said(second)}`).toBe(200);
    expect(
      services.queries.matching(table),
      `the second request for ${what} reached PostgreSQL: it should have been served from Redis. ${
        stored.length === 0
          ? 'Right after the first answer, nothing was in Redis: store the body after a miss, for TTL_SECONDS (EX takes seconds: an entry written with PX 30 is gone after 30 ms)'
          : ttlLeft !== undefined && ttlLeft <= MIN_TTL_MS
            ? `Right after the first answer, its entry had ${ttlLeft} ms left (PTTL), so it expired before the second request: TTL_SECONDS is seconds, EX 30, not PX 30`
            : 'The first request stored it: look the key up first'
      }`,
    ).toBe(0);
    expect(second.cache, `the second GET ${path} said X-Cache: ${second.cache}: an answer from Redis is a HIT`).toBe(
      'HIT',
    );
    expect(
      second.text,
      `the second GET ${path} answered a different body than the first: send the stored bytes as they are`,
    ).toBe(first.text);
    expect(second.headers.get('content-type') ?? '', `the second GET ${path} is not sent as application/json`).toMatch(
      /^application\/json/,
    );
  });

  it.each(ROUTES)('stores %s for 30 seconds: PTTL right after the write is within (20 s, 30 s]', async (what, path) => {
    const res = await http.get(path);
    expect(res.status, `GET ${path} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
    // Read the time to live at once: the write happened before the answer was sent.
    const keys = await services.redisKeys();
    const pttls = await Promise.all(keys.map((key) => services.redis.pttl(key)));
    expect(
      keys.length,
      `right after a GET of ${what}, no entry was in Redis: store the body after a miss, for TTL_SECONDS (EX is seconds: an entry written with PX 30 is gone after 30 ms)`,
    ).toBe(1);
    const pttl = pttls[0] as number;
    const name = (keys[0] as string).slice(services.prefix.length);
    expect(
      pttl,
      `the entry ${name} never expires (PTTL -1): store it with an expiry, in the same command (SET key value EX seconds)`,
    ).not.toBe(-1);
    expect(
      pttl,
      `the entry ${name} lives ${Math.round(pttl / 1000)} s: the task allows at most 30 s (TTL_SECONDS). EX takes seconds: TTL_SECONDS as it is, not × 1000`,
    ).toBeLessThanOrEqual(MAX_TTL_MS);
    expect(
      pttl,
      `right after it was written, the entry ${name} has only ${pttl} ms left (PTTL): it should live TTL_SECONDS, 30 s. PX takes milliseconds, EX seconds: SET key value EX 30`,
    ).toBeGreaterThan(MIN_TTL_MS);
  });
});

describe('one command for the value and its expiry', () => {
  it('stores an entry with SET … EX (or PX) in one command, never SET then EXPIRE', async () => {
    // The app on a client of its own, whose commands this test sees one by one.
    // A command timeout far above the default 250 ms: on a loaded machine a stalled event loop
    // must not turn this test's SET into a timeout (Redis failing is tested below, on purpose).
    const redis = createRedisClient({ log: () => {}, commandTimeoutMs: 5_000 });
    redis.options.enableAutoPipelining = false;
    expect(await whenReady(redis, 15_000), 'the test could not reach Redis').toBe(true);
    const sent: { name: string; args: string[] }[] = [];
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = ((command: { name: string; args: unknown[] }, ...rest: unknown[]) => {
      sent.push({ name: command.name.toLowerCase(), args: command.args.map((a) => String(a)) });
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof redis.sendCommand;
    const own = await serve(createApp({ db: services.db, redis, keyPrefix: services.prefix, log }));
    try {
      const res = await own.get('/employees/7');
      expect(res.status, `GET /employees/7 answered ${res.status}${said(res)}`).toBe(200);
      const [key] = await services.redisKeys();
      expect(key, 'after a miss nothing was stored in Redis: store the body after a miss').toBeDefined();
      const onKey = sent.filter((c) => c.args[0] === key && c.name !== 'get');
      const names = onKey.map((c) => c.name).join(', then ');
      const expiryInSet = (c: { name: string; args: string[] }) =>
        c.name === 'setex' ||
        c.name === 'psetex' ||
        (c.name === 'set' && c.args.slice(2).some((a) => /^(ex|px|exat|pxat)$/i.test(a)));
      expect(
        onKey.length === 1 && expiryInSet(onKey[0] as { name: string; args: string[] }),
        `after the miss the app wrote the entry with ${names || 'nothing'}: write the value and its expiry in one command (SET key value EX seconds). With SET then EXPIRE, a crash or a lost connection between the two leaves an entry that never expires`,
      ).toBe(true);
    } finally {
      await own.close();
      redis.disconnect();
    }
  });
});

describe('errors are never cached', () => {
  it('a 404 stores nothing, so an employee created after it is found', async () => {
    const { rows } = await services.db.query<{ id: number }>(
      "SELECT nextval(pg_get_serial_sequence('employees', 'id'))::int AS id",
    );
    const id = rows[0]?.id as number;
    const path = `/employees/${id}`;
    const before = await http.get(path);
    expect(before.status, `GET ${path} answered ${before.status}${said(before)}: there is no such employee yet`).toBe(
      404,
    );
    expect(
      await services.redisKeys(),
      `GET ${path} answered 404 and left something in Redis: only answers that were found may be cached`,
    ).toEqual([]);

    await services.db.query(
      "INSERT INTO employees (id, name, email, department, status) VALUES ($1, 'New Hire', $2, 'Sales', 'in')",
      [id, `new.hire.${id}@example.com`],
    );
    const after = await http.get(path);
    expect(
      after.status,
      `GET ${path} answered ${after.status}${said(after)} after the employee was created: a "not found" must not be remembered`,
    ).toBe(200);
  });

  it('an unknown investor is a 404 every time', async () => {
    const path = '/investors/NOBODY/summary';
    for (let i = 1; i <= 2; i++) {
      const res = await http.get(path);
      expect(
        res.status,
        `GET ${path} (request ${i}) answered ${res.status}${said(res)}: NOBODY does not exist${i > 1 ? ': was the "not found" of the first request stored in Redis?' : ''}`,
      ).toBe(404);
    }
    expect(await services.redisKeys(), `the 404s for ${path} left something in Redis`).toEqual([]);
  });
});

describe('when Redis is down, PostgreSQL answers', () => {
  let down: Redis;
  let broken: HttpHarness;
  beforeAll(async () => {
    // A client that fails at once (no queue while disconnected, 250 ms per command), pointed
    // at a port where nothing listens: every Redis command fails, as when Redis is down.
    down = createRedisClient({ url: `redis://127.0.0.1:${await closedPort()}`, log: () => {} });
    broken = await serve(createApp({ db: services.db, redis: down, keyPrefix: services.prefix, log }));
  });
  afterAll(async () => {
    await broken.close();
    down.disconnect();
  });

  it.each(ROUTES)('still answers %s, with X-Cache: BYPASS', async (what, path) => {
    const healthy = await http.get(path);
    expect(healthy.status, `with Redis up, GET ${path} answered ${healthy.status}${said(healthy)}`).toBe(200);
    serverLog.clear();
    const started = performance.now();
    const res = await broken.get(path);
    const ms = performance.now() - started;
    expect(
      res.status,
      `with Redis down, GET ${path} answered ${res.status}${said(res)}: a cache failure must be treated like a miss and answered from PostgreSQL`,
    ).toBe(200);
    expect(res.text, `with Redis down, GET ${path} answered a different body than with Redis up`).toBe(healthy.text);
    expect(
      res.cache,
      `with Redis down, GET ${path} said X-Cache: ${res.cache}: an answer from PostgreSQL because Redis failed is a BYPASS`,
    ).toBe('BYPASS');
    expect(ms, `with Redis down, ${what} took ${Math.round(ms)} ms: do not wait for Redis`).toBeLessThan(3_000);
  });

  it('still answers 404 for an employee that does not exist', async () => {
    const res = await broken.get('/employees/999999999');
    expect(res.status, `with Redis down, GET /employees/999999999 answered ${res.status}${said(res)}`).toBe(404);
  });
});

describe('when Redis fails after the lookup, the answer still comes', () => {
  /** Read again and again until `done`, for at most `timeoutMs`: waiting for something to happen, not timing it. */
  async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let value = await read();
    while (!done(value) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      value = await read();
    }
    return value;
  }

  it('answers 200 when Redis goes down between the GET and the SET', async () => {
    const path = '/employees/42';
    const healthy = await http.get(path);
    expect(healthy.status, `GET ${path} answered ${healthy.status}${said(healthy)}`).toBe(200);
    await services.clearRedis();
    serverLog.clear();

    // The app's Redis goes through a proxy the test can cut, like a Redis that crashes.
    const proxy: ChaosProxy = await startChaosProxy({ upstream: redisUrl() });
    // A long command timeout: the lookup must really succeed (a MISS) even on a loaded machine,
    // so that it is the SET, after the cut, that fails (at once: the connection is gone).
    const redis = createRedisClient({ url: proxy.url, log: () => {}, commandTimeoutMs: 5_000 });
    const own = await serve(createApp({ db: services.db, redis, keyPrefix: services.prefix, log }));
    // Lock the (per-test-file) employees table, so that the request stops at its query, after
    // its Redis GET (a miss) and before its SET: the moment Redis goes down is then certain.
    const locker = await services.db.connect();
    try {
      expect(await whenReady(redis, 15_000), 'the test could not reach Redis through its proxy').toBe(true);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE employees IN ACCESS EXCLUSIVE MODE');
      const pid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      const answer = own.get(path);
      const waiting = await until(
        async () =>
          (
            await services.db.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))',
              [pid],
            )
          ).rows[0]?.n,
        (n) => n === 1,
        10_000,
      );
      expect(waiting, `GET ${path} never queried PostgreSQL for the employee, though Redis was empty`).toBe(1);
      proxy.cut();
      // ioredis notices the closed connection: from now on every command fails at once.
      expect(
        await until(
          () => redis.status,
          (status) => status !== 'ready',
          5_000,
        ),
        'the test could not make Redis go away',
      ).not.toBe('ready');
      await locker.query('COMMIT');
      const res = await answer;
      expect(
        res.status,
        `GET ${path} answered ${res.status}${said(res)} when Redis went down after the lookup: PostgreSQL had answered, so a SET that fails must not fail the request (catch it; the next request simply misses again)`,
      ).toBe(200);
      expect(res.text, `GET ${path} answered a different body when the SET failed`).toBe(healthy.text);
      expect(
        res.cache,
        `GET ${path} said X-Cache: ${res.cache} although the answer came from PostgreSQL: it is a MISS (or BYPASS), never a HIT`,
      ).not.toBe('HIT');
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      locker.release();
      await own.close();
      redis.disconnect();
      await proxy.close();
    }
  });
});
