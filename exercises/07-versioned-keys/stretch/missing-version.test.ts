import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { captureServerLog, type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';

/**
 * The stretch goal of exercise 07 (README): a version Redis has evicted (or never had) starts
 * where no old page can be, the current time in milliseconds, created on first read with
 * SET … NX, and INCR goes on from there. (`npx cachelab verify 07 --stretch`)
 */
const services = useServices();
const serverLog = captureServerLog();
const { said } = serverLog;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  await services.clearRedis();
  serverLog.clear();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** One instance of the app, with Redis connections of its own. */
async function instance(name: string): Promise<HttpHarness> {
  const redis = createRedisClient({ log: () => {} });
  const subscriber = createRedisClient({ log: () => {} });
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
    log: serverLog.log,
  });
  cleanups.push(() => app.locals.close?.());
  await Promise.race([app.locals.ready, new Promise((r) => setTimeout(r, 2000))]);
  const http = await serve(app);
  cleanups.push(() => http.close());
  return http;
}

const versionKey = (dept: string) => cacheKey({ prefix: services.prefix, name: 'dept-version', params: { dept } });
const pagePath = (dept: string, page: number) =>
  `/departments/${encodeURIComponent(dept)}/employees?page=${page}&size=25`;
interface Page {
  employees: { id: number; name: string }[];
}

async function getPage(http: HttpHarness, path: string): Promise<TestResponse> {
  const res = await http.get(path);
  expect(res.status, `GET ${path} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
  return res;
}
async function rename(http: HttpHarness, id: number, name: string): Promise<void> {
  const res = await http.request(`/employees/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  expect(res.status, `PATCH /employees/${id} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
}
const nameOf = (res: TestResponse, id: number) => res.json<Page>().employees.find((e) => e.id === id)?.name;

describe('a missing version starts where no old page can be', () => {
  it('a department read for the first time gets a version: the time of that read in ms, with no TTL', async () => {
    const a = await instance('a');
    const before = Date.now();
    await getPage(a, pagePath('Legal', 1));
    const after = Date.now();
    const stored = await services.redis.get(versionKey('Legal'));
    expect(
      stored,
      `after the first read of Legal there is no version under ${versionKey('Legal').slice(services.prefix.length)}: create it on first read, as the current time in ms, with SET … NX (so that every instance agrees on one)`,
    ).not.toBeNull();
    const version = Number(stored);
    expect(
      version >= before && version <= after,
      `Legal's version after its first read is ${stored}: it should be the time of that read in milliseconds (between ${before} and ${after}), so that it is larger than any version an old page was cached under`,
    ).toBe(true);
    expect(
      await services.redis.pttl(versionKey('Legal')),
      "Legal's version has a TTL: a version must never expire (it would start again)",
    ).toBe(-1);
  });

  it('an evicted version brings back no page cached before it, and the next write moves on from the new start', async () => {
    const a = await instance('a');
    const path = pagePath('Sales', 1);
    const [first] = (await getPage(a, path)).json<Page>().employees;
    const id = first?.id ?? 0;
    const original = first?.name;
    await getPage(a, path); // cached under the first version
    // A name that sorts first (pages are ordered by name): the employee stays on page 1.
    await rename(a, id, 'AAAA Evicted');
    expect(nameOf(await getPage(a, path), id), 'after the rename').toBe('AAAA Evicted');
    const bumped = Number(await services.redis.get(versionKey('Sales')));

    await services.redis.del(versionKey('Sales')); // Redis, short of memory, evicts the version
    const afterEviction = await getPage(a, path);
    expect(
      nameOf(afterEviction, id),
      `after Redis evicted Sales's version, page 1 showed employee ${id} as ${JSON.stringify(nameOf(afterEviction, id))} (X-Cache: ${afterEviction.cache}), the page cached before the rename: a missing version read as 0 is a version old pages were cached under. Start it at the current time in ms instead`,
    ).toBe('AAAA Evicted');

    await services.redis.del(versionKey('Sales')); // evicted again, and this time a write comes first
    await rename(a, id, 'AAAA Twice');
    const version = Number(await services.redis.get(versionKey('Sales')));
    expect(
      version,
      `after the version was evicted and a write bumped it, Sales is at version ${version}, not past ${bumped} (before the eviction): INCR of a missing key gives 1, a version old pages may be cached under. Create it at the current time in ms (SET … NX) before the INCR`,
    ).toBeGreaterThan(bumped);
    const read = await getPage(a, path);
    expect(nameOf(read, id), `after the second rename (X-Cache: ${read.cache})`).toBe('AAAA Twice');
    await rename(a, id, original ?? 'Sam');
  });
});
