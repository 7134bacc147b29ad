import { useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedisClient, whenReady } from '../src/redis-client.ts';
import { createRedisStore, type RedisStore } from '../src/redis-store.ts';
import { freePort, hasRedisServer, type OwnRedis, startOwnRedis } from './redis-server.ts';

const services = useServices();
let redis: Redis;
let store: RedisStore;

beforeAll(async () => {
  redis = createRedisClient({ log: () => {} });
  expect(await whenReady(redis), 'the client should connect to the shared Redis').toBe(true);
  store = createRedisStore({ redis, ttlSeconds: 60 });
});
afterAll(() => redis.disconnect());
beforeEach(() => services.clearRedis());

const key = (name: string) => `${services.prefix}${name}`;

describe('createRedisStore against a live Redis', () => {
  it('stores a value with SET … EX, so Redis itself expires it: PTTL is within (0, ttl]', async () => {
    expect(await store.set(key('a'), Buffer.from('{"a":1}'))).toBe(true);
    const pttl = await services.redis.pttl(key('a'));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });

  it('takes a per-call ttlSeconds that overrides the default', async () => {
    await store.set(key('short'), Buffer.from('x'), 5);
    const pttl = await services.redis.pttl(key('short'));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(5_000);
  });

  it('answers hit with the stored bytes, miss for a missing key, and miss again after delete', async () => {
    expect(await store.get(key('nothing'))).toEqual({ status: 'miss' });
    await store.set(key('b'), Buffer.from('hello'));
    const hit = await store.get(key('b'));
    expect(hit.status).toBe('hit');
    expect(hit.status === 'hit' && hit.body.toString()).toBe('hello');
    expect(await store.delete(key('b'), key('nothing'))).toBe(true);
    expect(await store.get(key('b'))).toEqual({ status: 'miss' });
    expect(await store.delete()).toBe(true);
  });

  it('is binary-safe: every byte value, including invalid UTF-8, comes back unchanged', async () => {
    const bytes = Buffer.from([...Array.from({ length: 256 }, (_, i) => i), 0xc3, 0x28, 0xff, 0xfe, 0x00]);
    await store.set(key('binary'), bytes);
    const hit = await store.get(key('binary'));
    expect(hit.status).toBe('hit');
    expect(hit.status === 'hit' && hit.body.equals(bytes)).toBe(true);
  });

  it('rejects a ttlSeconds that is not a positive whole number with a TypeError naming it', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => createRedisStore({ redis, ttlSeconds: bad })).toThrow(/ttlSeconds must be a positive whole number/);
      await expect(store.set(key('bad'), Buffer.from('x'), bad)).rejects.toThrow(TypeError);
    }
    expect(() => createRedisClient({ commandTimeoutMs: 0 })).toThrow(/commandTimeoutMs/);
  });
});

describe('when Redis cannot answer, the store never throws', () => {
  it('with nothing listening, get is an error at once and set/delete resolve false', async () => {
    const down = createRedisClient({ url: `redis://127.0.0.1:${await freePort()}`, log: () => {} });
    const failures: string[] = [];
    const broken = createRedisStore({ redis: down, ttlSeconds: 60, onError: (_e, op) => failures.push(op) });
    try {
      const started = performance.now();
      const lookup = await broken.get('k');
      expect(lookup.status).toBe('error');
      expect(lookup.status === 'error' && lookup.error).toBeInstanceOf(Error);
      expect(await broken.set('k', Buffer.from('v'))).toBe(false);
      expect(await broken.delete('k')).toBe(false);
      expect(performance.now() - started, 'three failed commands should take well under a second').toBeLessThan(1_000);
      expect(failures).toEqual(['get', 'set', 'delete']);
    } finally {
      down.disconnect();
    }
  });

  it('an onError that throws does not make the store throw', async () => {
    const down = createRedisClient({ url: `redis://127.0.0.1:${await freePort()}`, log: () => {} });
    const broken = createRedisStore({
      redis: down,
      ttlSeconds: 60,
      onError: () => {
        throw new Error('a broken logger');
      },
    });
    try {
      expect((await broken.get('k')).status).toBe('error');
      expect(await broken.set('k', Buffer.from('v'))).toBe(false);
    } finally {
      down.disconnect();
    }
  });

  describe.skipIf(!hasRedisServer)('with a redis-server of our own (needs redis-server on PATH)', () => {
    let own: OwnRedis;
    beforeAll(async () => {
      own = await startOwnRedis();
    });
    afterAll(() => own.kill());

    it('a frozen (slow) Redis is an error after commandTimeoutMs, not a hang', async () => {
      const client = createRedisClient({ url: own.url, commandTimeoutMs: 200, log: () => {} });
      const slow = createRedisStore({ redis: client, ttlSeconds: 60 });
      try {
        expect(await whenReady(client)).toBe(true);
        await slow.set('k', Buffer.from('v'));
        own.pause();
        const started = performance.now();
        const lookup = await slow.get('k');
        const ms = performance.now() - started;
        expect(lookup.status).toBe('error');
        expect(lookup.status === 'error' && lookup.error.message).toMatch(/timed out/i);
        expect(ms).toBeGreaterThanOrEqual(150);
        expect(ms, 'the lookup should give up after the command timeout').toBeLessThan(1_000);
      } finally {
        own.resume();
        client.disconnect();
      }
    });

    it('the client logs one line when Redis goes away and one when it is back, and works again by itself', async () => {
      const lines: string[] = [];
      const client = createRedisClient({ url: own.url, log: (line) => lines.push(line) });
      const healing = createRedisStore({ redis: client, ttlSeconds: 60 });
      try {
        expect(await whenReady(client)).toBe(true);
        await own.kill();
        // Several reconnection attempts fail meanwhile (100, 200, 400, 800 ms apart)…
        await new Promise((r) => setTimeout(r, 1_600));
        expect((await healing.get('k')).status).toBe('error');
        expect(lines, '…but the outage is logged once').toHaveLength(1);
        expect(lines[0]).toMatch(/unreachable/);
        await own.start();
        expect(await whenReady(client, 3_000), 'the same client should reconnect without help').toBe(true);
        expect(await healing.set('k', Buffer.from('again'))).toBe(true);
        expect((await healing.get('k')).status).toBe('hit');
        expect(lines).toHaveLength(2);
        expect(lines[1]).toMatch(/back/);
      } finally {
        client.disconnect();
      }
    });
  });
});
