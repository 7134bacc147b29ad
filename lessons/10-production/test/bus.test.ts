import { redisUrl, startChaosProxy, useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import type { BusRecovery } from '../src/reliable-bus.ts';
import { eventually, useInstances } from './instances.ts';

/**
 * The stale L1 after a bus reconnect, shown and fixed. Instance B hears the bus through a
 * chaos proxy; the test cuts B's subscriber connection while instance A changes an
 * employee and publishes the invalidation, then lets B reconnect. The message sent during
 * the cut is lost (pub/sub keeps nothing for absent subscribers).
 */
const services = useServices();
const instance = useInstances(services);
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

const patch = (
  http: { request: (p: string, i: RequestInit) => Promise<{ status: number }> },
  id: number,
  name: string,
) =>
  http.request(`/employees/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });

async function twoInstances(recovery: BusRecovery) {
  const proxy = await startChaosProxy({ upstream: redisUrl() });
  instance.later(() => proxy.close());
  const a = await instance('a');
  const b = await instance('b', { subscriberUrl: proxy.url, deps: { busRecovery: recovery } });
  return { a, b, proxy };
}

/** Cut B's subscriber, run `meanwhile`, restore, and wait until B has subscribed again. */
async function outage(
  b: Awaited<ReturnType<typeof twoInstances>>['b'],
  proxy: Awaited<ReturnType<typeof twoInstances>>['proxy'],
  meanwhile: () => Promise<void>,
) {
  proxy.cut();
  const deaf = await eventually(
    () => b.locals.cache.bus.connected,
    (c) => !c,
  );
  expect(deaf, "B's bus did not notice its connection was cut").toBe(false);
  await meanwhile();
  proxy.restore();
  const back = await eventually(
    () => b.locals.cache.bus.connected && b.locals.cache.bus.reconnects === 1,
    (ok) => ok,
  );
  expect(back, "B's bus did not subscribe again after the proxy was restored").toBe(true);
}

describe('an invalidation lost while an instance was disconnected from the bus', () => {
  it('WITHOUT the fix (recovery "none"): after the reconnect, B still serves the old name from its L1', async () => {
    const { a, b, proxy } = await twoInstances('none');
    const before = (await b.http.get('/employees/40')).json<{ name: string }>().name;
    expect((await b.http.get('/employees/40')).headers.get('x-cache-level')).toBe('L1');
    await outage(b, proxy, async () => {
      expect((await patch(a.http, 40, 'Renamed While B Was Away')).status).toBe(200);
    });
    const after = await b.http.get('/employees/40');
    expect(after.headers.get('x-cache-level'), 'the naive bus kept the L1 copy').toBe('L1');
    expect(after.json<{ name: string }>().name, 'this is the bug: a stale read after the reconnect').toBe(before);
  });

  it('WITH the epoch check: B sees the epoch moved while it was away, drops its L1 and reads the new name', async () => {
    const { a, b, proxy } = await twoInstances('epoch');
    await b.http.get('/employees/41');
    await outage(b, proxy, async () => {
      expect((await patch(a.http, 41, 'Renamed While B Was Away')).status).toBe(200);
    });
    const after = await b.http.get('/employees/41');
    expect(after.json<{ name: string }>().name, 'B served a stale L1 copy after reconnecting').toBe(
      'Renamed While B Was Away',
    );
    expect(after.headers.get('x-cache-level'), 'the new name comes from Redis or PostgreSQL, not L1').not.toBe('L1');
    expect(await b.metric('cache_bus_flushes_total', { reason: 'reconnect' })).toBe(1);
  });

  it('keeps L1 across a reconnect when nothing was published meanwhile (a flush-on-every-reconnect bus would drop it)', async () => {
    const epoch = await twoInstances('epoch');
    await epoch.b.http.get('/employees/42');
    await outage(epoch.b, epoch.proxy, async () => {});
    expect((await epoch.b.http.get('/employees/42')).headers.get('x-cache-level')).toBe('L1');
    expect(await epoch.b.metric('cache_bus_flushes_total', { reason: 'reconnect' })).toBe(0);
  });

  it('lesson 04\'s "flush" recovery is correct too, at the price of an empty L1 after every reconnect', async () => {
    const { b, proxy } = await twoInstances('flush');
    await b.http.get('/employees/43');
    await outage(b, proxy, async () => {});
    expect((await b.http.get('/employees/43')).headers.get('x-cache-level')).toBe('L2');
  });

  it('drops L1 when a message number is skipped while connected (a message was lost on the way)', async () => {
    const { a, b } = await twoInstances('epoch');
    await b.http.get('/employees/44');
    await b.http.get('/employees/45');
    // Somebody bumped the epoch without the message reaching us: the next message shows a gap.
    await services.redis.incrby(`{${services.prefix}bus}:epoch`, 3);
    await patch(a.http, 44, 'Someone Else');
    const flushed = await eventually(
      () => b.metric('cache_bus_flushes_total', { reason: 'gap' }),
      (n) => n === 1,
    );
    expect(flushed).toBe(1);
    expect((await b.http.get('/employees/45')).headers.get('x-cache-level'), 'employee 45 was in the flushed L1').toBe(
      'L2',
    );
  });
});
