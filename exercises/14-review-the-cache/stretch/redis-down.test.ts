import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import {
  captureServerLog,
  type HttpHarness,
  redisUrl,
  serve,
  startChaosProxy,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';

/**
 * The stretch goal of exercise 14 (README), its eighth problem: what the handler does when Redis
 * is down. A cache is an optimisation (exercise 03, lesson 10): a failed GET is a miss, a failed
 * SET is skipped, and the answer comes from PostgreSQL. (`npx cachelab verify 14 --stretch`)
 * Redis goes through a proxy the test cuts, a real outage.
 */
const services = useServices();
const serverLog = captureServerLog();
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => serverLog.clear());
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

const PATH = '/payments?investor=DEMO_INV&from=2024-03-01&to=2024-04-01&limit=10';

async function start() {
  const proxy = await startChaosProxy({ upstream: redisUrl() });
  cleanups.push(() => proxy.close());
  const redis = createRedisClient({ url: proxy.url, log: () => {} });
  cleanups.push(() => redis.disconnect());
  expect(await whenReady(redis, 15_000), 'the test could not connect to Redis through its proxy').toBe(true);
  const http: HttpHarness = await serve(
    createApp({ db: services.db, redis, keyPrefix: services.prefix, log: serverLog.log }),
  );
  cleanups.push(() => http.close());
  return { proxy, http };
}

function expectAnswered(res: TestResponse, when: string): void {
  expect(
    res.status,
    `${when}, GET ${PATH} answered ${res.status}${serverLog.said(res)}: a cache that fails must not fail the request. Treat a failed Redis GET as a miss and skip a failed SET, and answer from PostgreSQL`,
  ).toBe(200);
  expect(res.json<unknown[]>().length, `${when}, GET ${PATH} returned the wrong number of payments`).toBe(10);
}

describe('the eighth problem: Redis down', () => {
  it('answers from PostgreSQL while Redis is down, and caches again once it is back', async () => {
    const { proxy, http } = await start();
    proxy.cut();
    const down = await http.get(PATH);
    expectAnswered(down, 'with Redis down');
    expect(down.cache, `with Redis down, GET ${PATH} said X-Cache: HIT`).not.toBe('HIT');

    proxy.restore();
    // The client reconnects by itself (lesson 03's retryStrategy): read until it caches again.
    const deadline = Date.now() + 15_000;
    let last: TestResponse | undefined;
    while (Date.now() < deadline) {
      last = await http.get(PATH);
      expectAnswered(last, 'after Redis came back');
      if (last.cache === 'HIT') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(
      last?.cache,
      `15 s after Redis came back, GET ${PATH} was still not a HIT: once Redis answers again, cache again`,
    ).toBe('HIT');
  });
});
