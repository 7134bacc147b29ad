import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChaosProxy, redisUrl, startChaosProxy } from '../src/index.ts';

/**
 * The chaos proxy in front of the shared Redis. Each test opens its own proxy and client;
 * the shared Redis itself is never touched beyond PING and a few GET/SET of random keys.
 */
const opened: { proxy: ChaosProxy; clients: Redis[] }[] = [];
afterEach(async () => {
  for (const { proxy, clients } of opened.splice(0)) {
    for (const c of clients) c.disconnect();
    await proxy.close();
  }
});

async function setup() {
  const proxy = await startChaosProxy({ upstream: redisUrl() });
  // Fail fast, never queue, reconnect quickly: what a cache's client does (lesson 03).
  const client = new Redis(proxy.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 300,
    retryStrategy: () => 50,
  });
  client.on('error', () => {});
  opened.push({ proxy, clients: [client] });
  await new Promise<void>((resolve) => client.once('ready', () => resolve()));
  return { proxy, client };
}

async function until(check: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting ${timeoutMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('startChaosProxy', () => {
  it('passes a real Redis conversation through and says where to connect', async () => {
    const { proxy, client } = await setup();
    expect(proxy.url).toBe(`redis://127.0.0.1:${proxy.port}`);
    expect(await client.ping()).toBe('PONG');
    expect(proxy.stats.bytesFromClients).toBeGreaterThan(0);
    expect(proxy.stats.bytesToClients).toBeGreaterThan(0);
    expect(proxy.stats.open).toBe(1);
  });

  it('cut() drops open connections and refuses new ones until restore()', async () => {
    const { proxy, client } = await setup();
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    proxy.cut();
    await closed;
    await expect(client.ping(), 'a command while cut should fail at once').rejects.toThrow();
    await until(() => proxy.stats.refused > 0, 'the client to try to reconnect and be refused');
    proxy.restore();
    await until(() => client.status === 'ready', 'the client to reconnect after restore()');
    expect(await client.ping()).toBe('PONG');
  });

  it('blackhole() holds every byte: commands time out, the connection stays open, and late replies arrive in order after restore()', async () => {
    const { proxy, client } = await setup();
    const key = `cachelab:test:chaos:${process.pid}:${Date.now()}`;
    await client.set(key, 'before', 'PX', 10_000);
    proxy.blackhole();
    const sentBefore = proxy.stats.bytesFromClients;
    await expect(client.get(key), 'a GET into a black hole should time out').rejects.toThrow(/timed out/i);
    expect(proxy.stats.bytesFromClients, 'the client did send its GET').toBeGreaterThan(sentBefore);
    expect(proxy.stats.open, 'a black hole keeps the connection open').toBe(1);
    proxy.restore();
    // The held GET reaches Redis now; its reply is matched to the timed-out command, and
    // the next command gets its own reply: nothing was lost, so nothing is out of step.
    expect(await client.set(key, 'after', 'PX', 10_000)).toBe('OK');
    expect(await client.get(key)).toBe('after');
    await client.del(key);
  });

  it('delay(ms) adds latency in each direction and keeps the order of commands', async () => {
    const { proxy, client } = await setup();
    await client.ping(); // warm
    proxy.delay(60);
    const started = performance.now();
    await client.ping();
    const slow = performance.now() - started;
    expect(slow, 'a round trip through delay(60) takes at least 2 × 60 ms').toBeGreaterThanOrEqual(110);
    const replies = await Promise.all([client.echo('a'), client.echo('b'), client.echo('c')]);
    expect(replies).toEqual(['a', 'b', 'c']);
    proxy.restore();
    expect(proxy.delayMs).toBe(0);
    expect(await client.ping()).toBe('PONG');
  });

  it('rejects an upstream without a port and a negative delay, naming the fix', async () => {
    await expect(startChaosProxy({ upstream: 'tcp://127.0.0.1' })).rejects.toThrow(/has no port/);
    const { proxy } = await setup();
    expect(() => proxy.delay(-1)).toThrow(/ms must be a number ≥ 0/);
  });
});
