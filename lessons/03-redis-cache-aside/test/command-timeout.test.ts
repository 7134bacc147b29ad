import { type ChaosProxy, redisUrl, startChaosProxy, useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRedisClient, whenReady } from '../src/redis-client.ts';

/**
 * What `commandTimeout` bounds, and what it does not (step 2's "What the timeout bounds", steps/2-when-redis-is-slow-or-down.md):
 *
 * - it runs from the moment a command is written until its reply has been read completely;
 * - the wait before it is written (behind the auto-pipelined batch in flight) is not counted,
 *   so against a frozen Redis a request can wait about twice the timeout;
 * - it is a timer of this process: it fires when the event loop gets to it.
 *
 * Through testkit's chaos proxy, whose delays are timers in this same process as the client's:
 * which comes first is decided by their due times, not by the machine's speed. The upper
 * bounds leave room for a loaded machine; the lower bounds are what the statements are about.
 */
const services = useServices();
const opened: (() => Promise<void> | void)[] = [];
beforeEach(() => services.clearRedis());
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function clientThrough(proxy: ChaosProxy | undefined, commandTimeoutMs: number): Promise<Redis> {
  const redis = createRedisClient({ ...(proxy ? { url: proxy.url } : {}), commandTimeoutMs, log: () => {} });
  opened.push(() => redis.disconnect());
  expect(await whenReady(redis, 15_000), 'the test could not reach Redis').toBe(true);
  return redis;
}

async function proxy(): Promise<ChaosProxy> {
  const started = await startChaosProxy({ upstream: redisUrl() });
  opened.push(() => started.close());
  return started;
}

/** Resolve once `read()` is true, checking every turn of the event loop (at most `timeoutMs`). */
async function until(read: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!read()) {
    if (performance.now() > deadline) throw new Error(`gave up waiting after ${timeoutMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** How a GET ended, and after how long. */
async function outcome(get: Promise<unknown>, started: number): Promise<{ ms: number; error?: string }> {
  try {
    await get;
    return { ms: performance.now() - started };
  } catch (err) {
    return { ms: performance.now() - started, error: (err as Error).message };
  }
}

const key = (name: string) => `${services.prefix}${name}`;

describe('commandTimeout', () => {
  it('covers the whole reply, not only its start: a reply that stalls after its first bytes fails after the timeout', async () => {
    const timeoutMs = 250;
    await services.redis.set(key('big'), Buffer.alloc(4_000_000, 'x'));
    const chaos = await proxy();
    const redis = await clientThrough(chaos, timeoutMs);
    const before = chaos.stats.bytesToClients;
    const started = performance.now();
    const get = outcome(redis.getBuffer(key('big')), started);
    await until(() => chaos.stats.bytesToClients > before); // the reply has begun to arrive…
    chaos.blackhole(); // …and the rest of its 4 MB is held
    const result = await get;
    chaos.restore();
    expect(result.error, 'a reply that stopped half-way was waited for').toMatch(/timed out/i);
    expect(result.ms).toBeGreaterThanOrEqual(timeoutMs - 5);
    expect(result.ms, 'the GET should fail once its timeout is over').toBeLessThan(timeoutMs + 1_000);
  });

  it('does not count the wait behind the batch in flight: a GET queued behind a slow one is answered after more than the timeout, without failing', async () => {
    // Every byte is held 400 ms each way, so each batch takes at least 800 ms: under the 1,500 ms
    // timeout on its own, but two one after the other take at least 1,600 ms.
    const timeoutMs = 1_500;
    await services.redis.set(key('v'), 'value');
    const chaos = await proxy();
    const redis = await clientThrough(chaos, timeoutMs);
    chaos.delay(400);
    const sent = chaos.stats.bytesFromClients;
    const first = outcome(redis.get(key('v')), performance.now());
    await until(() => chaos.stats.bytesFromClients > sent); // the first GET's batch has left
    const second = outcome(redis.get(key('v')), performance.now());
    const [one, two] = [await first, await second];
    expect(one.error, 'the first GET failed: the machine was too slow for this test').toBeUndefined();
    expect(two.error, 'the queued GET failed').toBeUndefined();
    expect(
      two.ms,
      'the queued GET should wait for the batch in flight (uncounted by its timeout), then for its own',
    ).toBeGreaterThan(timeoutMs);
  });

  it('lets a frozen Redis cost about twice the timeout, not once: the batch in flight times out first, then the GET behind it', async () => {
    const timeoutMs = 200;
    await services.redis.set(key('v'), 'value');
    const chaos = await proxy();
    const redis = await clientThrough(chaos, timeoutMs);
    chaos.blackhole(); // Redis "freezes": nothing comes back
    const sent = chaos.stats.bytesFromClients;
    const first = outcome(redis.get(key('v')), performance.now());
    await until(() => chaos.stats.bytesFromClients > sent);
    const second = outcome(redis.get(key('v')), performance.now());
    const [one, two] = [await first, await second];
    chaos.restore();
    expect([one.error, two.error]).toEqual([expect.stringMatching(/timed out/i), expect.stringMatching(/timed out/i)]);
    expect(two.ms, 'the second GET waited for the first to time out, then for its own timeout').toBeGreaterThan(
      1.5 * timeoutMs,
    );
    expect(two.ms, 'about twice the timeout, with room for a loaded machine').toBeLessThan(2 * timeoutMs + 800);
  });

  it('is a timer of this process: an event loop busy past the timeout fails a GET that Redis had already answered', async () => {
    const timeoutMs = 250;
    await services.redis.set(key('small'), Buffer.alloc(100_000, 'x'));
    const redis = await clientThrough(undefined, timeoutMs);
    const get = outcome(redis.getBuffer(key('small')), performance.now());
    // Queued after the client's own setImmediate that writes the GET: the GET is on its way,
    // Redis answers in well under a millisecond, and this process does not look for 500 ms.
    setImmediate(() => {
      const until = performance.now() + 2 * timeoutMs;
      while (performance.now() < until) {
        // busy, as a process is while it serializes a 17.8 MB answer for someone else
      }
    });
    const result = await get;
    expect(result.error, 'when the event loop comes back, expired timers run before the socket is read').toMatch(
      /timed out/i,
    );
  });
});
