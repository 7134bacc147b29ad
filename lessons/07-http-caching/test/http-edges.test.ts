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

/**
 * If-Modified-Since against a write in the same second, and the HTTP edges this lesson's app
 * inherits from lesson 01 (OPTIONS, 405, 415, text that is not valid Unicode).
 */
const services = useServices();
let http: HttpHarness;
const closers: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  const redis = createRedisClient({ log: () => {} });
  const subscriber = createRedisClient({ log: () => {} });
  closers.push(() => {
    redis.disconnect();
    subscriber.disconnect();
  });
  await whenReady(redis);
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

const patch = (id: number, body: string, type = 'application/json') =>
  http.request(`/employees/${id}`, { method: 'PATCH', headers: { 'content-type': type }, body });

describe('If-Modified-Since and a write in the same second', () => {
  it('does not confirm a copy from 10:00:00.100 as current after a write at 10:00:00.700', async () => {
    // The clock is set by hand (this file's own schema): the two writes fall in one second on
    // every machine, however slow.
    const at = (time: string) =>
      services.db.query(
        `UPDATE employees SET updated_at = $2, status_updated_at = '2026-03-01T09:00:00Z' WHERE id = $1`,
        [31, time],
      );
    await at('2026-03-01T10:00:00.100Z');
    const copy = await http.get('/employees/31');
    expect(copy.headers.get('last-modified')).toBe('Sun, 01 Mar 2026 10:00:00 GMT');

    // A second write in the same second: through the API (so the cache is invalidated),
    // then its time set to 10:00:00.700.
    expect((await patch(31, '{"name":"Written In The Same Second"}')).status).toBe(200);
    await at('2026-03-01T10:00:00.700Z');

    const revalidated = await http.get('/employees/31', {
      'if-modified-since': copy.headers.get('last-modified') as string,
    });
    expect(revalidated.headers.get('last-modified'), 'both writes are in the same second').toBe(
      copy.headers.get('last-modified'),
    );
    expect(revalidated.status, 'a 304 would tell the client its copy with the old name is current').toBe(200);
    expect(revalidated.json<{ name: string }>().name).toBe('Written In The Same Second');
    // A date after that second does prove the copy current.
    const later = await http.get('/employees/31', { 'if-modified-since': 'Sun, 01 Mar 2026 10:00:01 GMT' });
    expect(later.status).toBe(304);
  });
});

describe('the HTTP edges inherited from lesson 01', () => {
  it.each([
    ['/employees/42', 'GET, HEAD, PATCH, OPTIONS'],
    ['/me', 'GET, HEAD, OPTIONS'],
    ['/payments', 'GET, HEAD, OPTIONS'],
    ['/investors/DEMO_INV/summary', 'GET, HEAD, OPTIONS'],
  ])('answers OPTIONS %s with 204 and a DELETE with 405, both with Allow: %s', async (path, allow) => {
    await expectAllowed(http, path, allow, 'DELETE');
  });

  it('says on OPTIONS which media type a PATCH takes, and answers any other with 415', async () => {
    const options = await http.request('/employees/42', { method: 'OPTIONS' });
    expect(options.headers.get('accept-patch')).toBe('application/json');
    await expectJsonOnly(http, 'PATCH', '/employees/42', '{"status":"out"}');
    expect(services.queries.count).toBe(0);
  });

  it("answers malformed JSON with a 400 that says where it breaks, in the workshop's words", async () => {
    await expectMalformedJson(http, 'PATCH', '/employees/42');
    expect(services.queries.count).toBe(0);
  });

  it('rejects a name with a lone surrogate with a 400 naming it, before PostgreSQL', async () => {
    const res = await patch(44, '{"name":"\\udfff"}');
    expect(expectProblem(res, 400).errors?.map((e) => e.parameter)).toEqual(['name']);
    expect(services.queries.count).toBe(0);
  });
});
