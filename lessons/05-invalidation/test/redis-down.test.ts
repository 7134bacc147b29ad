import { createRedisClient } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { serve, useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppLocals, createApp } from '../src/app.ts';
import { send } from './instances.ts';

const services = useServices();
// Nothing listens on port 1: every command fails at once (lesson 03's client does not queue).
const redis = createRedisClient({ url: 'redis://127.0.0.1:1', log: () => {} });
const subscriber = createRedisClient({ url: 'redis://127.0.0.1:1', log: () => {} });
let http: Awaited<ReturnType<typeof serve>>;
let locals: AppLocals;

beforeAll(async () => {
  const app = createApp({ db: services.db, redis, subscriber, keyPrefix: services.prefix, log: () => {} });
  locals = app.locals as AppLocals;
  http = await serve(app);
});
afterAll(async () => {
  await http.close();
  await locals.close();
  redis.disconnect();
  subscriber.disconnect();
});

describe('when Redis is unreachable', () => {
  it.each(['/employees/20', '/departments/Sales/employees?page=1', '/departments/Sales/summary', '/departments'])(
    'GET %s answers from PostgreSQL with X-Cache: BYPASS, never a 500, and fast',
    async (path) => {
      const started = performance.now();
      const res = await http.get(path);
      expect(res.status).toBe(200);
      expect(res.cache).toBe('BYPASS');
      expect(res.timing.db).toBeGreaterThan(0);
      expect(performance.now() - started, 'a dead Redis made the request wait').toBeLessThan(1000);
    },
  );

  it('still commits a write, and says the invalidation failed', async () => {
    const res = await send(http, 'PATCH', '/employees/21', { status: 'out' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-cache-invalidation')).toBe('failed');
    const { rows } = await services.db.query<{ status: string }>('SELECT status FROM employees WHERE id = 21');
    expect(rows[0]?.status).toBe('out');
  });
});
