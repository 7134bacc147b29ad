import { type HttpHarness, serve, useServices } from '@cachelab/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AppLocals, createApp, MOUNTS } from '../src/app.ts';

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

describe('every strategy side by side', () => {
  it('serves the same employee, byte for byte, under every lesson', async () => {
    const bodies = await Promise.all(MOUNTS.map((m) => http.get(`${m.path}/employees/42`)));
    for (const res of bodies) expect(res.status).toBe(200);
    expect(new Set(bodies.map((r) => r.text)).size).toBe(1);
    expect(bodies[0]?.json()).toMatchObject({ id: 42 });
  });

  it('queries PostgreSQL on every request under /01, the uncached baseline', async () => {
    await http.get('/01/employees/7');
    await http.get('/01/employees/7');
    expect(services.queries.matching(/FROM employees/)).toBe(2);
  });

  it.each(['/02', '/03', '/04', '/07'])('answers the second request under %s from the cache', async (path) => {
    const first = await http.get(`${path}/employees/8`);
    const second = await http.get(`${path}/employees/8`);
    expect(first.cache).toBe('MISS');
    expect(second.cache).toBe('HIT');
    expect(services.queries.matching(/FROM employees/)).toBe(1);
  });

  it('answers 304 under /07 when the client already holds the current representation', async () => {
    const first = await http.get('/07/employees/9');
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await http.get('/07/employees/9', { 'If-None-Match': etag as string });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
  });

  it.each(MOUNTS.map((m) => m.path))(
    'rejects a bad id under %s with a 400 problem and caches nothing',
    async (path) => {
      const res = await http.get(`${path}/employees/abc`);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(services.queries.count).toBe(0);
      expect(await services.redisKeys()).toEqual([]);
    },
  );

  it('lists the strategies at / and answers 404 problem+json elsewhere', async () => {
    const index = await http.get('/');
    expect(index.json<{ strategies: { path: string }[] }>().strategies.map((s) => s.path)).toEqual(
      MOUNTS.map((m) => m.path),
    );
    const missing = await http.get('/05/employees/1');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
