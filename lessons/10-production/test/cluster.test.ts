import { type HttpHarness, isolationId, serve, useServices } from '@cachelab/testkit';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppLocals, createApp } from '../src/app.ts';
import { createClusterClient } from '../src/cluster-client.ts';
import { AUTH_SECRET, eventually } from './instances.ts';
import { hasRedisServer, startTestCluster, type TestCluster } from './redis-cluster.ts';

/**
 * The lesson's cache, unchanged, on a three-node Redis Cluster that this file creates
 * (redis-server --cluster-enabled yes on three free ports, redis-cli --cluster create) and
 * tears down. The only switch is `shardedPubSub: true` for the bus (SPUBLISH/SSUBSCRIBE).
 */
const services = useServices();

describe.skipIf(!hasRedisServer)('on a Redis Cluster (skipped: redis-server or redis-cli is not on PATH)', () => {
  let cluster: TestCluster;
  const clients: Cluster[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  const prefix = `cachelab:test:${isolationId()}:`;

  beforeAll(async () => {
    cluster = await startTestCluster();
  }, 60_000);
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    for (const c of clients) c.disconnect();
    await cluster?.stop();
  }, 30_000);

  const cluster3 = () => {
    const c = createClusterClient(cluster.nodes, { commandTimeoutMs: 2_000 });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  const ready = (c: Cluster) =>
    c.status === 'ready' ? Promise.resolve() : new Promise<void>((resolve) => c.once('ready', () => resolve()));

  async function instance(name: string): Promise<{ http: HttpHarness; locals: AppLocals }> {
    const redis = cluster3();
    const subscriber = cluster3();
    await Promise.all([ready(redis), ready(subscriber)]);
    const app = createApp({
      db: services.db,
      redis,
      subscriber,
      keyPrefix: prefix,
      authSecret: AUTH_SECRET,
      instanceId: name,
      shardedPubSub: true,
      log: () => {},
    });
    const locals = app.locals as AppLocals;
    closers.push(() => locals.close());
    await locals.ready;
    const http = await serve(app);
    closers.push(() => http.close());
    return { http, locals };
  }

  it('serves MISS then HIT, shares L2 between instances, and invalidates across them over sharded pub/sub', async () => {
    const a = await instance('a');
    const b = await instance('b');
    expect((await a.http.get('/employees/60')).cache).toBe('MISS');
    const fromL2 = await b.http.get('/employees/60');
    expect([fromL2.cache, fromL2.headers.get('x-cache-level')]).toEqual(['HIT', 'L2']);
    expect((await b.http.get('/employees/60')).headers.get('x-cache-level')).toBe('L1');
    const patched = await a.http.request('/employees/60', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Cluster Renamed' }),
    });
    expect(patched.status).toBe(200);
    expect(patched.headers.get('x-cache-invalidation'), 'the invalidation failed on the cluster').toBeNull();
    const seen = await eventually(
      () => b.http.get('/employees/60'),
      (r) => r.json<{ name: string }>().name === 'Cluster Renamed',
    );
    expect(seen.json<{ name: string }>().name, "B's L1 was not invalidated over SSUBSCRIBE").toBe('Cluster Renamed');
    // Lesson 08's generation guard: the PATCH's MULTI (INCR generation + DEL value) and the
    // GET's compare-and-set script each touch both keys, so both must hash to one slot.
    const parts = { name: 'employee', params: { id: 60 } };
    const valueKey = a.locals.cache.key(parts);
    const generationKey = a.locals.cache.generationKey(parts);
    const redis = cluster3();
    await ready(redis);
    const [valueSlot, generationSlot] = await Promise.all([
      redis.cluster('KEYSLOT', valueKey),
      redis.cluster('KEYSLOT', generationKey),
    ]);
    expect(generationSlot, `${generationKey} is not in the slot of ${valueKey}`).toBe(valueSlot);
    expect(await redis.get(generationKey), 'the PATCH did not bump the generation').toBe('1');
    expect(await redis.exists(valueKey), 'the refill after the PATCH was refused or lost').toBe(1);
  });

  it('spreads keys over the three nodes, and keeps the bus epoch and channel in one slot with a hash tag', async () => {
    const redis = cluster3();
    await ready(redis);
    const keys = Array.from({ length: 30 }, (_, i) => `${prefix}employee:v1:id=${i}`);
    const slots = await Promise.all(keys.map((k) => redis.cluster('KEYSLOT', k) as Promise<number>));
    const owners = new Set(
      slots.map((slot) => {
        const node = redis.slots[slot]?.[0];
        return node;
      }),
    );
    expect(owners.size, 'thirty keys without a hash tag should land on more than one node').toBeGreaterThan(1);
    const [epochSlot, channelSlot] = await Promise.all([
      redis.cluster('KEYSLOT', `{${prefix}bus}:epoch`),
      redis.cluster('KEYSLOT', `{${prefix}bus}:invalidation`),
    ]);
    expect(epochSlot).toBe(channelSlot);
  });

  it('refuses a two-key script across slots (CROSSSLOT) and runs it once both keys share a hash tag', async () => {
    const redis = cluster3();
    await ready(redis);
    const script = "redis.call('INCR', KEYS[1]); return redis.call('DEL', KEYS[2])";
    // Lesson 08's generation guard touches a value key and its generation key in one script.
    const value = `${prefix}employee:v1:id=7`;
    const generation = `${prefix}generation:employee:v1:id=7`;
    const [s1, s2] = await Promise.all([redis.cluster('KEYSLOT', value), redis.cluster('KEYSLOT', generation)]);
    if (s1 !== s2) {
      await expect(redis.eval(script, 2, generation, value)).rejects.toThrow(/CROSSSLOT/);
    }
    const tagged = `{${prefix}employee:7}`;
    await expect(redis.eval(script, 2, `${tagged}:generation`, `${tagged}:value`)).resolves.toBe(0);
  });
});
