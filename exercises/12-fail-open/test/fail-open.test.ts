import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import {
  type ChaosProxy,
  captureServerLog,
  type HttpHarness,
  redisUrl,
  serve,
  startChaosProxy,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppLocals, createApp } from '../src/app.ts';
import { type CircuitBreaker, createCircuitBreaker } from '../src/circuit-breaker.ts';
import { createRedisCache } from '../src/redis-cache.ts';
import { createRedisClient } from '../src/redis-client.ts';

/**
 * Your app talks to the real Redis through a chaos proxy that the tests cut ("Redis is
 * down"), slow down by 10 s ("Redis is slow") or turn into a black hole ("Redis is
 * unreachable": connected, silent). The shared Redis itself is never stopped.
 *
 * Every request has a deadline of its own: a request that is still waiting after
 * DEADLINE_MS fails its test with a message that says so (instead of a silent timeout).
 */
const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];
/** What the app logged: a 500's message says it (the answer itself only says "see the server log"). */
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

const DEADLINE_MS = 4_000;
const THRESHOLD = 3;
const COOL_DOWN_MS = 10_000;

/** The commands your app sent to Redis (they still run: this only counts them). */
function countCommands(redis: Redis) {
  const counter = { sent: 0 };
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    if (!['info', 'ping', 'select', 'client'].includes(command.name)) counter.sent++;
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
  return counter;
}

function ready(redis: Redis, timeoutMs = 5_000): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function start() {
  const proxy: ChaosProxy = await startChaosProxy({ upstream: redisUrl() });
  cleanups.push(() => proxy.close());
  const redis = createRedisClient(proxy.url);
  cleanups.push(() => redis.disconnect());
  const commands = countCommands(redis);
  expect(await ready(redis), 'your Redis client did not connect to a healthy Redis within 5 s').toBe(true);
  let nowMs = 1_000_000;
  const clock = { now: () => nowMs, advance: (ms: number) => (nowMs += ms) };
  const app = createApp({
    db: services.db,
    redis,
    keyPrefix: services.prefix,
    breaker: { failureThreshold: THRESHOLD, coolDownMs: COOL_DOWN_MS, now: clock.now },
    log: serverLog.log,
  });
  const http: HttpHarness = await serve(app);
  cleanups.push(() => http.close());
  return { proxy, redis, commands, clock, http, breaker: (app.locals as AppLocals).breaker };
}

/**
 * GET `path`, or fail with a message that names the situation when no answer came in time, or
 * when the answer is a 5xx (no request of these tests may fail: the cache fails open).
 */
async function get(http: HttpHarness, path: string, situation: string): Promise<TestResponse> {
  try {
    const res = await http.request(path, { signal: AbortSignal.timeout(DEADLINE_MS) });
    expect(
      res.status,
      `GET ${path} answered ${res.status}${said(res)} while ${situation}: a cache failure must not fail the request`,
    ).toBeLessThan(500);
    return res;
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') {
      throw new Error(
        `GET ${path} did not answer within ${DEADLINE_MS / 1000} s while ${situation}: the request is waiting on Redis. ` +
          'Does your client queue commands while disconnected (enableOfflineQueue), or wait for an answer without a commandTimeout?',
      );
    }
    throw err;
  }
}

let nextId = 200;
/** GET employees never asked before and check each answer is a 200 with the right row, from PostgreSQL. */
async function expectBypass(http: HttpHarness, n: number, situation: string) {
  for (let i = 0; i < n; i++) {
    const id = nextId++;
    const res = await get(http, `/employees/${id}`, situation);
    expect(
      res.status,
      `GET /employees/${id} answered ${res.status}${said(res)} while ${situation}: a cache failure must not fail the request`,
    ).toBe(200);
    expect(res.json(), `GET /employees/${id} answered the wrong body while ${situation}`).toEqual(
      JSON.parse(JSON.stringify(await getEmployee(services.db, id))),
    );
    expect(res.cache, `while ${situation}, the answer should come from PostgreSQL with X-Cache: BYPASS`).toBe('BYPASS');
  }
}

describe('while Redis is healthy', () => {
  it('caches: a MISS, then a HIT', async () => {
    const { http } = await start();
    let seen: (string | undefined)[] = [];
    // A healthy Redis on a busy machine may still miss a short timeout now and then (a BYPASS):
    // try a few employees before concluding.
    for (let attempt = 0; attempt < 3; attempt++) {
      const path = `/employees/${5 + attempt}`;
      seen = [(await get(http, path, 'Redis was healthy')).cache, (await get(http, path, 'Redis was healthy')).cache];
      if (!seen.includes('BYPASS')) break;
    }
    expect(seen, 'with Redis healthy, the first request should be a MISS and the second a HIT').toEqual([
      'MISS',
      'HIT',
    ]);
  });
});

/** Poll `read` until `done` accepts its value or `timeoutMs` (generous: the machine is shared) runs out. */
async function eventually<T>(read: () => T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = read();
  }
  return value;
}

/** Lock this test file's `employees` table: a request's query waits until `release()`. */
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

describe('the command timeout is bounded on both sides', () => {
  // The proxy and your client's timer run in this one process, so which comes first is decided
  // by their due times, not by how fast the machine is: a reply held 2 × 150 ms always arrives
  // after a 250 ms timeout fired, and a 1 ms timeout always fires before a reply held 2 × 20 ms.
  it('a Redis that answers 300 ms late counts as failed: the lookup is cut short (commandTimeout at most 250 ms)', async () => {
    const { proxy, http } = await start();
    proxy.delay(150); // each way: every reply comes at least 300 ms after its command
    const res = await get(http, '/employees/21', 'Redis answered 300 ms late');
    expect(
      `${res.status} ${res.cache}`,
      'a Redis that answers 300 ms late was waited for: a cache lookup is worth a few milliseconds, set commandTimeout to at most 250 ms (in milliseconds)',
    ).toBe('200 BYPASS');
  });

  it('a Redis that answers 40 ms late is still used: MISS, then HIT (the timeout is not so short that it fires on a healthy network)', async () => {
    const { proxy, http } = await start();
    proxy.delay(20); // each way: a healthy Redis across a busy network
    let seen: (string | undefined)[] = [];
    // The reply can come later than 40 ms on a loaded machine (never sooner): three tries.
    for (let attempt = 0; attempt < 3; attempt++) {
      const path = `/employees/${22 + attempt}`;
      seen = [
        (await get(http, path, 'Redis answered 40 ms late')).cache,
        (await get(http, path, 'Redis answered 40 ms late')).cache,
      ];
      if (!seen.includes('BYPASS')) break;
    }
    expect(
      seen,
      'a Redis that answers within 40 ms was treated as failed (BYPASS): is commandTimeout in milliseconds? 0.2 is 0.2 ms, not 200 ms',
    ).toEqual(['MISS', 'HIT']);
  });
});

describe('your client on its own (createRedisClient)', () => {
  it('refuses a command sent while disconnected at once, before any timer fires (no offline queue)', async () => {
    const { proxy, redis } = await start();
    proxy.cut();
    await eventually(
      () => redis.status,
      (status) => status !== 'ready',
    );
    // A queued command is only rejected by the command timeout's timer, which is due later than
    // a 0 ms timer set after it: which comes first is decided by due times, not by the machine.
    const outcome = await Promise.race([
      redis.get(`${services.prefix}offline`).then(
        () => 'answered',
        () => 'refused at once',
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 0)),
    ]);
    expect(
      outcome,
      'a command sent while the client was disconnected waited in the offline queue instead of failing at once: set enableOfflineQueue to false (each request otherwise waits a whole commandTimeout, or the whole outage)',
    ).toBe('refused at once');
  });

  it('keeps reconnecting however long Redis is down: attempts at least 50 ms and at most 2 s apart', async () => {
    const { redis } = await start();
    const retry = redis.options.retryStrategy ?? (() => 0);
    const wrong: string[] = [];
    for (let attempt = 1; attempt <= 1_000; attempt++) {
      const delayMs = retry(attempt);
      if (typeof delayMs !== 'number' || !(delayMs >= 50 && delayMs <= 2_000)) {
        wrong.push(`attempt ${attempt}: ${String(delayMs)}`);
      }
    }
    expect(
      wrong.slice(0, 3),
      'your retryStrategy answered these delays (ms): a reconnection must come at most 2 s after the previous one, however long Redis was down (or caching resumes long after Redis is back; a number that grows without a cap, or null, which stops reconnecting for good), and at least 50 ms after it (a reconnection storm against a Redis that is starting)',
    ).toEqual([]);
  });
});

/** A breaker of the test's own that says yes or no, and records what your cache reports to it. */
function recordingBreaker(allowed: boolean) {
  const reported: string[] = [];
  const breaker: CircuitBreaker = {
    state: allowed ? 'closed' : 'open',
    allow: () => allowed,
    success: () => {
      reported.push('success');
    },
    failure: () => {
      reported.push('failure');
    },
  };
  return { breaker, reported };
}

describe('your cache on its own (createRedisCache): never throws, reports every call it made', () => {
  const key = () => `${services.prefix}direct`;

  it('with Redis healthy: set resolves true, then get is a hit with the bytes, and each call reports a success', async () => {
    const { redis } = await start();
    let seen: { lookups: unknown[]; stored: boolean; reported: string[] } | undefined;
    // A healthy Redis on a busy machine may still miss a short timeout now and then: three tries.
    for (let attempt = 0; attempt < 3; attempt++) {
      const { breaker, reported } = recordingBreaker(true);
      const cache = createRedisCache({ redis, breaker, ttlSeconds: 60 });
      const k = `${key()}:${attempt}`;
      const missing = await cache.get(k);
      const stored = await cache.set(k, Buffer.from('"cached"'));
      seen = { lookups: [missing, await cache.get(k)], stored, reported };
      if (!reported.includes('failure')) break;
    }
    expect(seen?.lookups, 'a key Redis does not have is a miss; once set, it is a hit with the bytes').toEqual([
      { status: 'miss' },
      { status: 'hit', body: Buffer.from('"cached"') },
    ]);
    expect(seen?.stored, 'a SET Redis accepted should resolve true').toBe(true);
    expect(seen?.reported, 'each call Redis answered should be reported to the breaker: success()').toEqual([
      'success',
      'success',
      'success',
    ]);
  });

  it("with Redis down: get resolves { status: 'error' }, set resolves false, and each failure is reported", async () => {
    const { proxy, redis } = await start();
    proxy.cut();
    await eventually(
      () => redis.status,
      (status) => status !== 'ready',
    );
    const { breaker, reported } = recordingBreaker(true);
    const cache = createRedisCache({ redis, breaker, ttlSeconds: 60 });
    expect(
      await cache.get(key()),
      "a GET that Redis failed should resolve { status: 'error' } (never throw, never another shape)",
    ).toEqual({
      status: 'error',
    });
    expect(await cache.set(key(), Buffer.from('"cached"')), 'a SET that Redis failed should resolve false').toBe(false);
    expect(reported, 'each call Redis failed should be reported to the breaker: failure(), for the SET too').toEqual([
      'failure',
      'failure',
    ]);
  });

  it("while the breaker says no: get resolves { status: 'error' } and set false, without sending Redis anything", async () => {
    const { redis, commands } = await start();
    const { breaker, reported } = recordingBreaker(false);
    const cache = createRedisCache({ redis, breaker, ttlSeconds: 60 });
    const before = commands.sent;
    expect(await cache.get(key()), "a GET the breaker refused should resolve { status: 'error' }").toEqual({
      status: 'error',
    });
    expect(await cache.set(key(), Buffer.from('"cached"')), 'a SET the breaker refused should resolve false').toBe(
      false,
    );
    expect(
      commands.sent - before,
      'your cache sent Redis a command the breaker had refused: ask breaker.allow() before the GET and before the SET (Redis can fail between the two)',
    ).toBe(0);
    expect(
      reported,
      'a call the breaker refused was not made, so there is nothing to report (a failure() reported now would restart the cool-down at every request)',
    ).toEqual([]);
  });
});

describe('Redis fails mid-test: every answer is still a 200, from PostgreSQL, in bounded time', () => {
  it('Redis stopped (the proxy cut every connection): 200 with the right employee and X-Cache: BYPASS', async () => {
    const { proxy, http } = await start();
    await get(http, '/employees/5', 'Redis was healthy');
    proxy.cut();
    await expectBypass(http, THRESHOLD + 3, 'Redis was down');
  });

  it('Redis slow (every reply 10 s late): each lookup is cut short by a command timeout, not waited for', async () => {
    const { proxy, http } = await start();
    proxy.delay(10_000);
    await expectBypass(http, THRESHOLD + 1, 'Redis answered 10 s late');
  });

  it('Redis unreachable (connected, but nothing ever comes back): no request hangs', async () => {
    const { proxy, http } = await start();
    proxy.blackhole();
    await expectBypass(http, THRESHOLD + 1, 'Redis was a black hole');
  });

  it('Redis goes down in the middle of a request, between its GET (a miss) and its SET: still a 200 with the right employee', async () => {
    const { proxy, http, redis } = await start();
    const release = await lockEmployees();
    const pending = get(
      http,
      '/employees/30',
      'Redis went down between its GET (a miss) and its SET: a failed SET must not fail the request either',
    );
    void pending.catch(() => {}); // awaited below; this only keeps an early failure from being unhandled
    // The GET has missed, and the request waits for PostgreSQL (on the lock): cut Redis now.
    expect(
      await eventually(
        () => services.queries.matching(/FROM employees WHERE id/),
        (n) => n >= 1,
      ),
    ).toBe(1);
    proxy.cut();
    await eventually(
      () => redis.status,
      (status) => status !== 'ready',
    );
    await release();
    const res = await pending;
    expect(
      res.status,
      `GET /employees/30 answered ${res.status}${said(res)} when Redis went down between its GET and its SET: storing the answer is part of the cache too, a failed SET must not fail the request`,
    ).toBe(200);
    expect(res.json()).toEqual(JSON.parse(JSON.stringify(await getEmployee(services.db, 30))));
  });

  it('a missing employee is still a 404 and a bad id a 400 while Redis is down, never a 500', async () => {
    const { proxy, http } = await start();
    proxy.cut();
    expect((await get(http, '/employees/999999999', 'Redis was down')).status).toBe(404);
    expect((await get(http, '/employees/abc', 'Redis was down')).status).toBe(400);
  });
});

describe('the circuit breaker', () => {
  it.each([
    ['down', (p: ChaosProxy) => p.cut()],
    ['unreachable', (p: ChaosProxy) => p.blackhole()],
  ])(
    'opens after %s Redis failed 3 times in a row, and then requests send Redis no command at all',
    async (what, chaos) => {
      const { proxy, http, breaker, commands } = await start();
      chaos(proxy);
      await expectBypass(http, THRESHOLD, `Redis was ${what}`);
      expect(breaker.state, `after ${THRESHOLD} failures in a row the circuit should be open`).toBe('open');
      const before = commands.sent;
      await expectBypass(http, 5, `Redis was ${what} and the circuit open`);
      expect(
        commands.sent - before,
        'requests kept calling Redis while the circuit was open: each one may wait a whole commandTimeout for nothing',
      ).toBe(0);
    },
  );

  it('counts failures in a row: a success in between starts the count again', async () => {
    const { proxy, http, breaker, redis } = await start();
    proxy.cut();
    await expectBypass(http, THRESHOLD - 1, 'Redis was down');
    proxy.restore();
    expect(await ready(redis, 5_000), 'your Redis client did not reconnect by itself after Redis came back').toBe(true);
    expect((await get(http, '/employees/31', 'Redis was back')).cache).not.toBe('BYPASS');
    proxy.cut();
    await expectBypass(http, THRESHOLD - 1, 'Redis was down again');
    expect(
      breaker.state,
      `${THRESHOLD - 1} failures, a success, ${THRESHOLD - 1} failures: that is never ${THRESHOLD} in a row, the circuit should still be closed (reset the count on success)`,
    ).toBe('closed');
  });

  it('closes again when Redis is back: after the cool-down one request probes, then caching resumes (MISS, HIT)', async () => {
    const { proxy, http, breaker, clock, redis } = await start();
    proxy.cut();
    await expectBypass(http, THRESHOLD, 'Redis was down');
    expect(breaker.state).toBe('open');
    proxy.restore();
    expect(await ready(redis, 5_000), 'your Redis client did not reconnect by itself after Redis came back').toBe(true);
    let path = '/employees/6';
    let probe = await get(http, path, 'Redis was back'); // still open: the cool-down is not over
    // A probe can also time out by bad luck on a busy machine: then the circuit re-opens, and
    // after another cool-down the next request probes again. Three chances.
    for (let attempt = 0; attempt < 3; attempt++) {
      clock.advance(COOL_DOWN_MS);
      path = `/employees/${7 + attempt}`;
      probe = await get(http, path, 'Redis was back');
      if (probe.cache !== 'BYPASS') break;
    }
    expect(
      probe.cache,
      'Redis is back and the cool-down is over, but the request did not reach Redis: does your breaker ever let a probe through and close again?',
    ).toBe('MISS');
    expect(breaker.state, 'a successful probe should close the circuit').toBe('closed');
    const again = await get(http, path, 'Redis was back');
    expect(again.cache, 'caching did not resume').toBe('HIT');
  });

  it('lets only one request probe a Redis that is still down, then stays open for another cool-down', async () => {
    const { proxy, http, breaker, clock, commands } = await start();
    proxy.cut();
    await expectBypass(http, THRESHOLD, 'Redis was down');
    clock.advance(COOL_DOWN_MS);
    const before = commands.sent;
    await expectBypass(http, 4, 'Redis was still down after the cool-down');
    expect(commands.sent - before, 'after a cool-down only ONE request should try Redis (the probe)').toBe(1);
    expect(breaker.state, 'a failed probe should open the circuit again').toBe('open');
  });
});

describe('your breaker on its own, on a clock of the test (createCircuitBreaker)', () => {
  function breakerAt() {
    let nowMs = 5_000_000;
    const breaker = createCircuitBreaker({ failureThreshold: 3, coolDownMs: 10_000, now: () => nowMs });
    const open = () => {
      for (let i = 0; i < 3; i++) {
        expect(breaker.allow(), 'a closed circuit allows every call').toBe(true);
        breaker.failure();
      }
      expect(breaker.state, '3 failures in a row should open the circuit').toBe('open');
    };
    return { breaker, open, advance: (ms: number) => (nowMs += ms) };
  }

  it('stays open for the whole cool-down, to the millisecond, then lets exactly ONE probe through', () => {
    const { breaker, open, advance } = breakerAt();
    open();
    advance(10_000 - 1);
    expect(
      breaker.allow(),
      'the circuit let a call through 1 ms before the end of its cool-down (coolDownMs is in milliseconds, on the `now` clock)',
    ).toBe(false);
    advance(1);
    expect(
      breaker.allow(),
      'the cool-down is over (coolDownMs on the `now` clock you were given) but the circuit let no probe through',
    ).toBe(true);
    expect(breaker.state, 'the caller let through after the cool-down is the probe: the circuit is half-open').toBe(
      'half-open',
    );
    expect(
      [breaker.allow(), breaker.allow()],
      'while the probe is out, every other call must still be refused: ONE probe, not everyone at once',
    ).toEqual([false, false]);
  });

  it('a failed probe opens the circuit for another whole cool-down; a successful one closes it', () => {
    const { breaker, open, advance } = breakerAt();
    open();
    advance(10_000);
    expect(breaker.allow()).toBe(true);
    breaker.failure();
    expect(breaker.state, 'a failed probe should open the circuit again').toBe('open');
    advance(10_000 - 1);
    expect(breaker.allow(), 'after a failed probe, the circuit must stay open for a whole new cool-down').toBe(false);
    advance(1);
    expect(breaker.allow(), 'after the second cool-down, a new probe should go through').toBe(true);
    breaker.success();
    expect(breaker.state, 'a successful probe should close the circuit').toBe('closed');
    expect(breaker.allow()).toBe(true);
  });

  it('stays open for its cool-down on its default clock too (created without `now`)', () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, coolDownMs: 60_000 });
    expect(breaker.allow()).toBe(true);
    breaker.failure();
    expect(
      breaker.allow(),
      'a breaker created without `now` let a call through right after it opened, for a one-minute cool-down: without options.now, read the time from a real clock (performance.now or Date.now, in ms)',
    ).toBe(false);
  });

  it('opens only on failures in a row: a success resets the count', () => {
    const { breaker } = breakerAt();
    for (const outcome of ['failure', 'failure', 'success', 'failure', 'failure'] as const) {
      expect(breaker.allow()).toBe(true);
      breaker[outcome]();
    }
    expect(
      breaker.state,
      '2 failures, a success, 2 failures is never 3 in a row: the circuit should still be closed (reset the count on success)',
    ).toBe('closed');
  });
});
