import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import {
  type ChaosProxy,
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
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
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
    log: () => {},
  });
  const http: HttpHarness = await serve(app);
  cleanups.push(() => http.close());
  return { proxy, redis, commands, clock, http, breaker: (app.locals as AppLocals).breaker };
}

/** GET `path`, or fail with a message that names the situation when no answer came in time. */
async function get(http: HttpHarness, path: string, situation: string): Promise<TestResponse> {
  try {
    return await http.request(path, { signal: AbortSignal.timeout(DEADLINE_MS) });
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
      `GET /employees/${id} answered ${res.status} while ${situation}: a cache failure must not fail the request (${res.text.slice(0, 120)})`,
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
