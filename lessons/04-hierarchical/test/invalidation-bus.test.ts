import { connectRedis, useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createInvalidationBus, type InvalidationBus } from '../src/invalidation-bus.ts';

const services = useServices();
const opened: Redis[] = [];
const buses: InvalidationBus[] = [];

afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close()));
  for (const r of opened.splice(0)) r.disconnect();
});

/** One instance's bus: its own subscriber connection, as a separate process would have. */
function instance(
  id: string,
  channel = `${services.prefix}l1-invalidation`,
  extra: { onResubscribe?: () => void } = {},
) {
  const subscriber = connectRedis({ connectionName: `${services.prefix.replace(/:/g, '-')}${id}` });
  opened.push(subscriber);
  const received: string[][] = [];
  const bus = createInvalidationBus({
    publisher: services.redis,
    subscriber,
    channel,
    instanceId: id,
    onInvalidate: (keys) => received.push(keys),
    ...extra,
  });
  buses.push(bus);
  return { bus, received, subscriber };
}

/** Poll until `check` passes or `timeoutMs` runs out: pub/sub delivery is fast but not synchronous. */
async function eventually(check: () => boolean, timeoutMs = 1000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

describe('the invalidation bus', () => {
  it('delivers the keys one instance publishes to every other instance', async () => {
    const a = instance('a');
    const b = instance('b');
    const c = instance('c');
    await Promise.all([a.bus.ready, b.bus.ready, c.bus.ready]);
    expect(await a.bus.publish(['k1', 'k2'])).toBe(true);
    expect(await eventually(() => b.received.length === 1 && c.received.length === 1)).toBe(true);
    expect(b.received[0]).toEqual(['k1', 'k2']);
  });

  it('does not hand an instance its own messages back', async () => {
    const a = instance('a');
    const b = instance('b');
    await Promise.all([a.bus.ready, b.bus.ready]);
    await a.bus.publish(['mine']);
    await b.bus.publish(['yours']);
    // Messages on one connection arrive in order: once a has b's message, it has seen (and ignored) its own.
    expect(await eventually(() => a.received.length === 1)).toBe(true);
    expect(a.received).toEqual([['yours']]);
    expect(b.received).toEqual([['mine']]);
  });

  it('keeps channels apart: an instance on another channel hears nothing', async () => {
    const a = instance('a');
    const other = instance('b', `${services.prefix}another-app`);
    const same = instance('c');
    await Promise.all([a.bus.ready, other.bus.ready, same.bus.ready]);
    await a.bus.publish(['k']);
    expect(await eventually(() => same.received.length === 1)).toBe(true);
    expect(other.received).toEqual([]);
  });

  it('ignores a malformed message instead of crashing the instance', async () => {
    const errors: string[] = [];
    const subscriber = connectRedis();
    opened.push(subscriber);
    const received: string[][] = [];
    const bus = createInvalidationBus({
      publisher: services.redis,
      subscriber,
      channel: `${services.prefix}l1-invalidation`,
      onInvalidate: (keys) => received.push(keys),
      onError: (error, operation) => errors.push(`${operation}: ${error.message}`),
    });
    buses.push(bus);
    await bus.ready;
    await services.redis.publish(`${services.prefix}l1-invalidation`, 'not json');
    expect(await eventually(() => errors.length === 1)).toBe(true);
    expect(errors[0]).toMatch(/^message: Ignored a malformed/);
    expect(received).toEqual([]);
  });

  it('resolves publish to false, without throwing, when Redis is unreachable', async () => {
    const down = connectRedis({ url: 'redis://127.0.0.1:1', retryStrategy: () => null, enableOfflineQueue: false });
    down.on('error', () => {});
    const subscriber = connectRedis({ url: 'redis://127.0.0.1:1', retryStrategy: () => null });
    subscriber.on('error', () => {});
    opened.push(down, subscriber);
    const errors: string[] = [];
    const bus = createInvalidationBus({
      publisher: down,
      subscriber,
      channel: 'x',
      onInvalidate: () => {},
      onError: (_e, operation) => errors.push(operation),
    });
    buses.push(bus);
    expect(await bus.publish(['k'])).toBe(false);
    expect(errors).toContain('publish');
  });

  it('subscribes again after the connection drops, and says messages may have been lost', async () => {
    let resubscribed = 0;
    const a = instance('a');
    const b = instance('b', undefined, { onResubscribe: () => resubscribed++ });
    await Promise.all([a.bus.ready, b.bus.ready]);
    // A real outage of b's connection: Redis closes it; ioredis reconnects by itself.
    const name = `${services.prefix.replace(/:/g, '-')}b`;
    const list = String(await services.redis.client('LIST'));
    const id = list
      .split('\n')
      .find((line) => line.includes(` name=${name} `))
      ?.match(/^id=(\d+)/)?.[1];
    expect(id, 'could not find the subscriber connection in CLIENT LIST').toBeDefined();
    await services.redis.client('KILL', 'ID', id as string);
    expect(await eventually(() => resubscribed === 1, 3000), 'the bus did not report its resubscription').toBe(true);
    await a.bus.publish(['after-reconnect']);
    expect(await eventually(() => b.received.length === 1)).toBe(true);
  });

  it('rejects one connection used as both publisher and subscriber, naming the fix', () => {
    expect(() =>
      createInvalidationBus({ publisher: services.redis, subscriber: services.redis, channel: 'x', onInvalidate() {} }),
    ).toThrow(/two different Redis connections/);
  });
});
