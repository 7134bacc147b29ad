import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type ChaosProxy, redisUrl, startChaosProxy, type TestResponse, useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { eventually, type Instance, manualClock, useInstances } from './instances.ts';

/**
 * Redis down, slow or unreachable, through a chaos proxy in front of the shared Redis (which
 * itself is never stopped). Each time: every answer is a 200 with the right body, the
 * circuit opens after 3 failures, and from then on requests do not send Redis a single
 * command, which is what bounds their latency (no wall-clock assertions: this machine is
 * shared). The breaker's clock is the test's, so a cool-down ends when the test says so.
 */
const services = useServices();
const instance = useInstances(services);
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

const THRESHOLD = 3;
const COOL_DOWN_MS = 5_000;
/** Short enough to matter, long enough that a healthy Redis on a busy machine does not time out. */
const COMMAND_TIMEOUT_MS = 400;

async function behindProxy(options: { waitForRedis?: boolean; proxy?: ChaosProxy } = {}) {
  const proxy = options.proxy ?? (await startChaosProxy({ upstream: redisUrl() }));
  instance.later(() => proxy.close());
  const clock = manualClock();
  const app = await instance('a', {
    redisUrl: proxy.url,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    waitForRedis: options.waitForRedis ?? true,
    deps: { breaker: { failureThreshold: THRESHOLD, coolDownMs: COOL_DOWN_MS, now: clock.now } },
  });
  return { proxy, clock, app };
}

/** The employee as PostgreSQL has it now: what every answer must equal, cached or not. */
async function truth(id: number) {
  return JSON.parse(JSON.stringify(await getEmployee(services.db, id)));
}

async function expectCorrect(res: TestResponse, id: number) {
  expect(res.status, `GET /employees/${id} failed: ${res.text.slice(0, 200)}`).toBe(200);
  expect(res.json()).toEqual(await truth(id));
}

/** Requests for employees never asked before (no L1 copy can answer them). */
let nextId = 100;
async function freshRequests(app: Instance, n: number): Promise<TestResponse[]> {
  const out: TestResponse[] = [];
  for (let i = 0; i < n; i++) {
    const id = nextId++;
    const res = await app.http.get(`/employees/${id}`);
    await expectCorrect(res, id);
    out.push(res);
  }
  return out;
}

async function expectOpenAndQuiet(app: Instance) {
  expect(app.locals.cache.circuit, `the circuit should be open after ${THRESHOLD} failures`).toBe('open');
  const before = app.commands.count;
  const answers = await freshRequests(app, 10);
  expect(
    answers.map((r) => r.cache),
    'with the circuit open every answer comes from PostgreSQL',
  ).toEqual(Array(10).fill('BYPASS'));
  expect(app.commands.count - before, 'requests sent commands to Redis while the circuit was open').toBe(0);
  expect(await app.metric('cache_l2_skipped_total', { operation: 'get' })).toBeGreaterThanOrEqual(10);
  expect(await app.metric('cache_circuit_state')).toBe(2);
}

describe('Redis down, slow or unreachable: 200s from PostgreSQL, then not even a try', () => {
  it('Redis down (the proxy cuts every connection): BYPASS, the circuit opens, requests stop touching Redis', async () => {
    const { proxy, app } = await behindProxy();
    const before = await app.http.get('/employees/1');
    expect(before.cache).toBe('MISS');
    proxy.cut();
    const during = await freshRequests(app, THRESHOLD);
    expect(during.map((r) => r.cache)).toEqual(Array(THRESHOLD).fill('BYPASS'));
    expect(await app.metric('cache_l2_errors_total', { operation: 'get' })).toBeGreaterThanOrEqual(THRESHOLD);
    await expectOpenAndQuiet(app);
    // What L1 already held is still served: the outage does not empty the cache.
    expect((await app.http.get('/employees/1')).cache).toBe('HIT');
  });

  it('Redis slow (every byte 2 s late, the command timeout is 400 ms): each try is cut short, then the circuit opens', async () => {
    const { proxy, app } = await behindProxy();
    proxy.delay(2_000);
    const during = await freshRequests(app, THRESHOLD);
    expect(during.map((r) => r.cache)).toEqual(Array(THRESHOLD).fill('BYPASS'));
    await expectOpenAndQuiet(app);
  });

  it('Redis unreachable (a black hole: connected, nothing ever answers): the same, no request hangs', async () => {
    const { proxy, app } = await behindProxy();
    proxy.blackhole();
    await freshRequests(app, THRESHOLD);
    await expectOpenAndQuiet(app);
  });

  it('starts and serves from PostgreSQL with X-Cache: BYPASS when Redis is unreachable from the start', async () => {
    const proxy = await startChaosProxy({ upstream: redisUrl() });
    proxy.blackhole();
    const { app } = await behindProxy({ proxy, waitForRedis: false });
    const answers = await freshRequests(app, THRESHOLD + 2);
    expect(answers.map((r) => r.cache)).toEqual(Array(THRESHOLD + 2).fill('BYPASS'));
    expect(app.locals.cache.circuit).toBe('open');
    expect((await app.http.get('/employees/999999999')).status, 'a 404 stays a 404').toBe(404);
    expect((await app.http.get('/employees/abc')).status, 'a 400 stays a 400').toBe(400);
  });

  it('keeps writes working: a PATCH with Redis down is a 200 that says the invalidation failed', async () => {
    const { proxy, app } = await behindProxy();
    proxy.cut();
    const res = await app.http.request('/employees/30', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'in' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-cache-invalidation')).toBe('failed');
  });
});

describe('recovery: half-open, one probe, closed', () => {
  it('closes the circuit when Redis is back: one probe after the cool-down, then MISS and HIT again', async () => {
    const { proxy, clock, app } = await behindProxy();
    proxy.cut();
    await freshRequests(app, THRESHOLD);
    expect(app.locals.cache.circuit).toBe('open');
    proxy.restore();
    expect(await whenReady(app.redis, 5_000), 'the Redis client did not reconnect after restore()').toBe(true);
    // Before the cool-down is over, still nobody calls Redis.
    const id = nextId++;
    expect((await app.http.get(`/employees/${id}`)).cache).toBe('BYPASS');
    expect(app.locals.cache.circuit).toBe('open');
    clock.advance(COOL_DOWN_MS);
    // Another employee: the BYPASS above kept its answer in L1 (L1 still works during an outage).
    const probeId = nextId++;
    const probe = await app.http.get(`/employees/${probeId}`);
    await expectCorrect(probe, probeId);
    expect(probe.cache, 'the probe reached Redis (a miss) and stored the value').toBe('MISS');
    expect(app.locals.cache.circuit).toBe('closed');
    // L2 has it now: a second instance (its own L1) is served from Redis.
    const other = await instance('b');
    const fromL2 = await other.http.get(`/employees/${probeId}`);
    expect([fromL2.cache, fromL2.headers.get('x-cache-level')]).toEqual(['HIT', 'L2']);
    expect(await app.metric('cache_circuit_transitions_total', { to: 'half-open' })).toBe(1);
    expect(await app.metric('cache_circuit_transitions_total', { to: 'closed' })).toBe(1);
    expect(await app.metric('cache_circuit_state')).toBe(0);
  });

  it('opens again for another cool-down when the probe fails, and lets only one probe through', async () => {
    const { proxy, clock, app } = await behindProxy();
    proxy.cut();
    await freshRequests(app, THRESHOLD);
    clock.advance(COOL_DOWN_MS);
    const before = app.commands.count;
    await freshRequests(app, 5); // the first is the probe (it fails: still cut), the others skip Redis
    expect(app.commands.count - before, 'only the probe may try Redis').toBeLessThanOrEqual(1);
    expect(app.locals.cache.circuit).toBe('open');
    expect(await app.metric('cache_circuit_transitions_total', { to: 'open' })).toBe(2);
  });

  it('logs one line when the circuit opens and one when it closes, not one per request', async () => {
    const { proxy, clock, app } = await behindProxy();
    proxy.cut();
    await freshRequests(app, THRESHOLD + 10);
    proxy.restore();
    await whenReady(app.redis, 5_000);
    clock.advance(COOL_DOWN_MS);
    await freshRequests(app, 1);
    const circuitLines = app.logs.filter((l) => /circuit/.test(l));
    expect(circuitLines).toEqual([expect.stringMatching(/circuit open/), expect.stringMatching(/circuit closed/)]);
    const all = await eventually(
      () => app.logs,
      (l) => l.length > 0,
    );
    expect(all.length, `too many log lines for one outage:\n${all.join('\n')}`).toBeLessThanOrEqual(4);
  });
});
