import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { captureServerLog, type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';

/**
 * The stretch goal of exercise 04 (README): a read on instance B that has fetched the old value
 * from L2 when B receives an invalidation must not put that value into B's L1 afterwards.
 * (`npx cachelab verify 04 --stretch`)
 *
 * The interleaving is the test's, not the clock's: B's L2 reads (getBuffer) wait at a gate after
 * Redis has answered, and the test opens it once B's subscriber has delivered the invalidation.
 */
const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];
const serverLog = captureServerLog();
const { said } = serverLog;

beforeEach(async () => {
  await services.clearRedis();
  serverLog.clear();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** Holds B's L2 reads after Redis answered them, until `open()`. */
function gate() {
  let armed = false;
  let arrive: () => void = () => {};
  let open: () => void = () => {};
  const arrived = new Promise<void>((resolve) => {
    arrive = resolve;
  });
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    /** Wrap `redis.getBuffer` (what L2 reads with): once armed, a read waits after its answer. */
    install(redis: Redis) {
      const getBuffer = redis.getBuffer.bind(redis) as (...args: unknown[]) => Promise<Buffer | null>;
      redis.getBuffer = (async (...args: unknown[]) => {
        const value = await getBuffer(...args);
        if (armed) {
          arrive();
          await opened;
        }
        return value;
      }) as typeof redis.getBuffer;
    },
    arm: () => {
      armed = true;
    },
    reached: (timeoutMs = 10_000) =>
      Promise.race([arrived.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs))]),
    open: () => {
      armed = false;
      open();
    },
  };
}

/** An instance; `held` wraps its L2 reads; `invalidations` resolves at the next invalidation its bus delivered. */
async function instance(name: string, held?: ReturnType<typeof gate>) {
  const redis = createRedisClient({ log: () => {}, commandTimeoutMs: 10_000 });
  const subscriber = createRedisClient({ log: () => {}, commandTimeoutMs: 10_000 });
  cleanups.push(() => {
    redis.disconnect();
    subscriber.disconnect();
  });
  expect(await whenReady(redis, 15_000), `instance ${name} could not connect to Redis`).toBe(true);
  held?.install(redis);
  const app = createApp({
    db: services.db,
    redis,
    subscriber,
    keyPrefix: services.prefix,
    instanceId: name,
    log: serverLog.log,
    now: () => 1_000_000,
  });
  cleanups.push(() => app.locals.close?.());
  await Promise.race([app.locals.ready, new Promise((r) => setTimeout(r, 10_000))]);
  const channel = cacheKey({ prefix: services.prefix, name: 'l1-invalidation' });
  /** Resolves after the app's own listener (registered first) has handled the next message. */
  const nextInvalidation = () =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      const onMessage = (from: string) => {
        if (from !== channel) return;
        clearTimeout(timer);
        subscriber.off('message', onMessage);
        resolve(true);
      };
      subscriber.on('message', onMessage);
    });
  const http = await serve(app);
  cleanups.push(() => http.close());
  return { http, nextInvalidation };
}

async function fetchEmployee(http: HttpHarness, id: number): Promise<TestResponse> {
  const res = await http.get(`/employees/${id}`);
  expect(res.status, `GET /employees/${id} answered ${res.status}${said(res)}`).toBe(200);
  return res;
}
async function rename(http: HttpHarness, id: number, name: string): Promise<void> {
  const res = await http.request(`/employees/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  expect(res.status, `PATCH /employees/${id} answered ${res.status}${said(res)}`).toBe(200);
}
const nameOf = (res: TestResponse) => res.json<{ name: string }>().name;

describe('a read in flight during an invalidation does not fill L1 with the old value', () => {
  it('B fetched the old value from L2, then received A’s invalidation: B’s next read shows the new name', async () => {
    const held = gate();
    const a = await instance('a');
    const b = await instance('b', held);
    const old = nameOf(await fetchEmployee(a.http, 11)); // L2 holds the old name now
    held.arm();
    const inFlight = fetchEmployee(b.http, 11); // L1 miss on B, L2 hit: waits after Redis answered
    expect(await held.reached(), 'B never read employee 11 from L2 (an L1 miss must read L2)').toBe(true);
    const delivered = b.nextInvalidation();
    await rename(a.http, 11, 'Grace Inflight');
    expect(await delivered, 'B never received the invalidation A published for employee 11').toBe(true);
    held.open();
    await inFlight; // it answers what it fetched before the write: that one is fine
    const next = await fetchEmployee(b.http, 11);
    expect(
      nameOf(next),
      `B's read after the rename answered ${JSON.stringify(nameOf(next))} (X-Cache: ${next.cache}, level ${next.headers.get('x-cache-level')}), the old name ${JSON.stringify(old)}: the read that was in flight when B dropped the key put the value it fetched before into L1 afterwards. Skip the L1 fill when the key was invalidated while the read was running`,
    ).toBe('Grace Inflight');
  });

  it('the same when the invalidation is B’s own write: the writer reads its own write next', async () => {
    const held = gate();
    const b = await instance('b', held);
    const a = await instance('a');
    const old = nameOf(await fetchEmployee(a.http, 12));
    held.arm();
    const inFlight = fetchEmployee(b.http, 12);
    expect(await held.reached(), 'B never read employee 12 from L2').toBe(true);
    await rename(b.http, 12, 'Hedy Inflight'); // B deletes the key while its own read waits (a PATCH reads no L2)
    held.open();
    await inFlight;
    const next = await fetchEmployee(b.http, 12);
    expect(
      nameOf(next),
      `B's read after its own rename answered ${JSON.stringify(nameOf(next))} (X-Cache: ${next.cache}, level ${next.headers.get('x-cache-level')}), the old name ${JSON.stringify(old)}: a read in flight during B's own delete filled L1 afterwards. Mark the key invalidated in delete too, not only when the bus delivers`,
    ).toBe('Hedy Inflight');
  });
});
