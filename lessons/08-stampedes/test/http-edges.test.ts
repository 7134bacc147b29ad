import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import {
  expectAllowed,
  expectJsonOnly,
  expectMalformedJson,
  expectProblem,
  type HttpHarness,
  serve,
  useServices,
} from '@cachelab/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AppLocals, createApp } from '../src/app.ts';

/** The HTTP edges this lesson's app inherits from lesson 01: OPTIONS, 405, 415, text that is not valid Unicode. */
const services = useServices();
let http: HttpHarness;
const closers: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  const redis = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
  const subscriber = createRedisClient({ commandTimeoutMs: 5_000, log: () => {} });
  closers.push(() => {
    redis.disconnect();
    subscriber.disconnect();
  });
  await whenReady(redis, 5_000);
  const app = createApp({ db: services.db, redis, subscriber, keyPrefix: services.prefix, log: () => {} });
  const locals = app.locals as AppLocals;
  closers.push(() => locals.close());
  await locals.ready;
  http = await serve(app);
  closers.push(() => http.close());
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

describe('the HTTP edges inherited from lesson 01', () => {
  it.each([
    ['/employees/42', 'GET, HEAD, PATCH, OPTIONS'],
    ['/investors/DEMO_INV/summary', 'GET, HEAD, OPTIONS'],
  ])('answers OPTIONS %s with 204 and a PUT with 405, both with Allow: %s', async (path, allow) => {
    await expectAllowed(http, path, allow, 'PUT');
  });

  it('answers a PATCH that is not labelled JSON (here: no Content-Type at all) with 415 and Accept-Patch', async () => {
    await expectJsonOnly(http, 'PATCH', '/employees/42', '{"status":"out"}', undefined);
    expect(services.queries.count).toBe(0);
  });

  it("answers malformed JSON with a 400 that says where it breaks, in the workshop's words", async () => {
    await expectMalformedJson(http, 'PATCH', '/employees/42');
    expect(services.queries.count).toBe(0);
  });

  it('rejects a name with a lone surrogate with a 400 naming it, before PostgreSQL and the cache', async () => {
    const res = await http.request('/employees/45', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Ada \\ud800"}',
    });
    expect(expectProblem(res, 400).errors?.map((e) => e.parameter)).toEqual(['name']);
    expect(services.queries.count).toBe(0);
    expect(await services.redisKeys()).toEqual([]);
  });
});
