import { expectMalformedJson, expectProblem, type HttpHarness, serve, useServices } from '@cachelab/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AppLocals, createApp, MOUNTS } from '../src/app.ts';

/**
 * The HTTP edges of lesson 01's shared pieces, in every lesson mounted here (01, 02, 03, 04,
 * 07): each lesson's app inherits them by composing lesson 01's 404 handler, error handler,
 * validation and body parser, and this shows it does, one request per lesson and edge.
 */
const services = useServices();
let http: HttpHarness;
let subscriber: Redis;
let locals: AppLocals;

beforeAll(async () => {
  subscriber = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const app = createApp({
    db: services.db,
    redis: services.redis,
    subscriber,
    keyPrefix: services.prefix,
    log: () => {},
  });
  locals = app.locals as AppLocals;
  await locals.ready;
  http = await serve(app);
});
afterAll(async () => {
  await http.close();
  await locals.close();
  subscriber.disconnect();
});
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

const PATHS = MOUNTS.map((m) => m.path);
/** The lessons whose app has `PATCH /employees/:id`. */
const WRITES = ['/04', '/07'];

describe.each(PATHS)('the app under %s', (mount) => {
  const allow = WRITES.includes(mount) ? 'GET, HEAD, PATCH, OPTIONS' : 'GET, HEAD, OPTIONS';

  it('answers OPTIONS with 204 and Allow, and a method the path does not have with 405 and Allow', async () => {
    const options = await http.request(`${mount}/employees/42`, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe(allow);
    const post = await http.request(`${mount}/employees/42`, { method: 'POST' });
    const body = expectProblem(post, 405);
    expect(body.type).toBe('urn:cachelab:problem:method-not-allowed');
    expect(body.detail, 'the detail names the path as the client sent it').toContain(`${mount}/employees/42`);
    expect(post.headers.get('allow')).toBe(allow);
    const summary = await http.request(`${mount}/investors/DEMO_INV/summary`, { method: 'DELETE' });
    expectProblem(summary, 405);
    expect(summary.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect(services.queries.count).toBe(0);
  });

  it('says a repeated parameter was given more than once, and a malformed %-escape that the URL is malformed', async () => {
    const twice = expectProblem(
      await http.get(`${mount}/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=1&limit=2`),
      400,
    );
    expect(twice.errors).toEqual([{ parameter: 'limit', message: expect.stringMatching(/more than once/) }]);
    expect(expectProblem(await http.get(`${mount}/employees/%zz`), 400).type).toBe(
      'urn:cachelab:problem:malformed-url',
    );
    expect(services.queries.count).toBe(0);
    expect(await services.redisKeys()).toEqual([]);
  });
});

describe.each(WRITES)('the PATCH of the app under %s', (mount) => {
  it('answers a body that is not labelled JSON with 415 and Accept-Patch', async () => {
    const res = await http.request(`${mount}/employees/42`, {
      method: 'PATCH',
      headers: { 'content-type': 'text/plain' },
      body: '{"name":"Ada"}',
    });
    expect(expectProblem(res, 415).detail).toContain('application/json');
    expect(res.headers.get('accept-patch')).toBe('application/json');
    expect(services.queries.count).toBe(0);
  });

  it('answers malformed JSON with a 400 that says where it breaks, naming the path under its mount', async () => {
    const problem = await expectMalformedJson(http, 'PATCH', `${mount}/employees/42`);
    expect(problem.detail).toMatch(new RegExp(`^The body of PATCH ${mount}/employees/42 is not valid JSON`));
    expect(services.queries.count).toBe(0);
  });

  it('rejects a name with a lone surrogate with a 400 naming it: nothing reaches PostgreSQL or the cache', async () => {
    const before = await http.get(`${mount}/employees/43`); // cached now
    const keys = await services.redisKeys();
    services.queries.reset();
    const res = await http.request(`${mount}/employees/43`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Ada \\ud800"}',
    });
    expect(expectProblem(res, 400).errors?.map((e) => e.parameter)).toEqual(['name']);
    expect(services.queries.count, 'the bad name reached PostgreSQL').toBe(0);
    expect(await services.redisKeys()).toEqual(keys);
    expect((await http.get(`${mount}/employees/43`)).text).toBe(before.text);
  });
});
