import { type HttpHarness, serve, useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { type PrivateRedis, startPrivateRedis } from '../src/private-redis.ts';
import { createRedisClient, whenReady } from '../src/redis-client.ts';
import { hasRedisServer } from './redis-server.ts';

/**
 * Step 3's promises about a Redis that is full, on a private redis-server (a free port, its
 * own `maxmemory` and `maxmemory-policy`), never the shared one at 6379:
 *
 * - with `noeviction`, a SET fails with an OOM error, and cache-aside still answers from
 *   PostgreSQL (a MISS, the right body, the error logged), every time, since nothing is stored;
 * - with `allkeys-lru`, Redis makes room: the SET succeeds, the next GET is a HIT, and
 *   `INFO stats` counts the evicted keys.
 */
const services = useServices();
const opened: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});
beforeEach(() => services.queries.reset());

async function fullRedis(policy: string): Promise<{ redis: Redis; server: PrivateRedis }> {
  const server = await startPrivateRedis({ maxmemory: '2mb', 'maxmemory-policy': policy });
  opened.push(() => server.stop());
  const redis = createRedisClient({ url: server.url, commandTimeoutMs: 5_000, log: () => {} });
  opened.push(() => redis.disconnect());
  expect(await whenReady(redis, 10_000), 'the test could not reach its private Redis').toBe(true);
  // Fill it with 1 KB values (noeviction refuses once full), then lower maxmemory (on this
  // private server only) to 256 KB under what it uses: Redis is then over its limit by far more
  // than the few KB that client buffers free or take, so every write is refused (noeviction) or
  // makes Redis evict (allkeys-lru), whatever this machine's timing.
  const filler = Buffer.alloc(1_000, 'f');
  for (let i = 0; i < 4_000; i++) {
    const stored = await redis.set(`filler:${i}`, filler, 'EX', 3600).then(
      () => true,
      (err: Error) => {
        expect(err.message).toMatch(/OOM/);
        return false;
      },
    );
    if (!stored) break;
  }
  const used = Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))?.[1]);
  await redis.config('SET', 'maxmemory', String(used - 256 * 1024));
  return { redis, server };
}

async function app(redis: Redis): Promise<{ http: HttpHarness; logged: string[] }> {
  const logged: string[] = [];
  const http = await serve(
    createApp({ db: services.db, redis, keyPrefix: services.prefix, log: (line) => logged.push(String(line)) }),
  );
  opened.push(() => http.close());
  return { http, logged };
}

describe.skipIf(!hasRedisServer)('a full Redis (maxmemory)', () => {
  it('noeviction: the SET fails with OOM, and the read path still answers from PostgreSQL, a MISS each time', async () => {
    const { redis } = await fullRedis('noeviction');
    await expect(
      redis.set('one-more', 'x'),
      'a Redis over its maxmemory with noeviction should refuse a SET',
    ).rejects.toThrow(/OOM command not allowed/);
    const { http, logged } = await app(redis);
    for (let round = 1; round <= 2; round++) {
      const res = await http.get('/employees/42');
      expect(res.status, 'a refused SET must not turn into an error for the client').toBe(200);
      expect(res.json<{ id: number }>().id).toBe(42);
      expect(res.headers.get('x-cache'), `request ${round}: nothing could be stored, so it is a MISS`).toBe('MISS');
    }
    expect(services.queries.matching(/FROM employees/), 'both requests went to PostgreSQL').toBe(2);
    expect(logged.join('\n'), 'the refused SET should be logged').toMatch(/OOM/);
    const stats = await redis.info('stats');
    expect(stats).toMatch(/^evicted_keys:0\r?$/m);
  });

  it('allkeys-lru: Redis evicts to make room, the SET succeeds and the next GET is a HIT', async () => {
    const { redis } = await fullRedis('allkeys-lru');
    const evicted = Number(/^evicted_keys:(\d+)/m.exec(await redis.info('stats'))?.[1]);
    expect(evicted, 'a Redis over its maxmemory with allkeys-lru should have evicted keys').toBeGreaterThan(0);
    const { http, logged } = await app(redis);
    expect((await http.get('/employees/42')).headers.get('x-cache')).toBe('MISS');
    expect((await http.get('/employees/42')).headers.get('x-cache'), 'the SET should have found room').toBe('HIT');
    expect(services.queries.matching(/FROM employees/)).toBe(1);
    expect(logged, 'nothing failed, nothing logged').toEqual([]);
  });
});
