import {
  type ChaosProxy,
  connectRedis,
  createIsolatedRedis,
  type IsolatedRedis,
  redisUrl,
  startChaosProxy,
} from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTrackedL1, type TrackedL1, type TrackedL1Options } from '../src/tracked-l1.ts';

// CLIENT TRACKING is per connection: these tests turn it on only on the cache's own
// connections, and write only keys under this file's prefix. Nothing else on the shared
// Redis changes (no CONFIG SET, no FLUSHALL).
let iso: IsolatedRedis;
/** "Another instance": a plain client that writes. */
let writer: Redis;
const caches: TrackedL1[] = [];
const clients: Redis[] = [];
const proxies: ChaosProxy[] = [];

beforeAll(() => {
  iso = createIsolatedRedis();
  writer = iso.redis;
});
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()));
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await iso.clear();
});
afterAll(async () => {
  await iso.dispose();
});

let made = 0;
async function cache(options: Partial<TrackedL1Options> & { url?: string } = {}): Promise<TrackedL1> {
  const { url, ...rest } = options;
  const redis = connectRedis(url ? { url } : {});
  clients.push(redis);
  const name = `${iso.prefix.replace(/:/g, '-')}cache${++made}`;
  const c = createTrackedL1({ redis, name, l1: { maxBytes: 1_000_000, ttlMs: 60_000 }, ...rest });
  caches.push(c);
  await withTimeout(c.ready, 3000, 'tracking never came on');
  return c;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (waited ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll until `check` passes or `timeoutMs` runs out: invalidations arrive on another connection. */
async function eventually(check: () => boolean, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

/**
 * Wait until the cache has heard a write to `marker` (a key it tracks). Redis sends a
 * connection's invalidations in order, so once the marker's message is in, every message
 * caused by an earlier write is in too: "no message came" becomes a count, not a sleep.
 */
async function barrier(c: TrackedL1, marker: string): Promise<void> {
  const before = c.stats.keys;
  await writer.set(marker, String(Date.now()));
  expect(
    await eventually(() => c.stats.keys > before),
    `no invalidation for ${marker}: is it tracked by this cache?`,
  ).toBe(true);
}

/** The id of the connection called `name`, from CLIENT LIST. */
async function clientId(name: string): Promise<string> {
  const list = String(await writer.client('LIST'));
  const id = list
    .split('\n')
    .find((line) => line.includes(` name=${name} `))
    ?.match(/^id=(\d+)/)?.[1];
  expect(id, `no connection named ${name} in CLIENT LIST`).toBeDefined();
  return id as string;
}

describe('an L1 invalidated by CLIENT TRACKING (default mode)', () => {
  it('keeps a value it read, and drops it when another client writes the key', async () => {
    const key = `${iso.prefix}employee:42`;
    await writer.set(key, 'Niklaus');
    const c = await cache();
    expect(await c.get(key)).toEqual({ value: Buffer.from('Niklaus'), level: 'redis' });
    expect(await c.get(key)).toEqual({ value: Buffer.from('Niklaus'), level: 'l1' });

    await writer.set(key, 'Ada');
    expect(await eventually(() => !c.holds(key)), 'the L1 entry survived a SET by another client').toBe(true);
    expect(c.stats).toMatchObject({ messages: 1, keys: 1, dropped: 1 });
    expect(await c.get(key)).toEqual({ value: Buffer.from('Ada'), level: 'redis' });
  });

  it('is told once per read: a second write before any new read sends no second message', async () => {
    const key = `${iso.prefix}employee:42`;
    const marker = `${iso.prefix}marker`;
    await writer.mset(key, 'v1', marker, 'm');
    const c = await cache();
    await c.get(key);
    await c.get(marker);
    await writer.set(key, 'v2');
    await writer.set(key, 'v3'); // Redis forgot the key after the first message: nobody read it since
    await barrier(c, marker);
    expect(c.stats).toMatchObject({ messages: 2, keys: 2 });
  });

  it('does not keep a read in OPTIN mode unless asked, and is told only about the kept ones', async () => {
    const plain = `${iso.prefix}plain`;
    const kept = `${iso.prefix}kept`;
    await writer.mset(plain, 'p', kept, 'k');
    const c = await cache({ optIn: true });
    await c.get(plain);
    expect((await c.get(plain)).level, 'a read without keep was kept in OPTIN mode').toBe('redis');
    await c.get(kept, { keep: true });
    expect((await c.get(kept, { keep: true })).level).toBe('l1');

    await writer.set(plain, 'p2'); // not tracked: no message
    await barrier(c, kept);
    expect(c.stats).toMatchObject({ messages: 1, keys: 1, dropped: 1 });
  });
});

describe("what Redis does with a tracked connection's own writes (why tracked-l1 fills L1 only from reads)", () => {
  it("a GET of a missing key is tracked: without NOLOOP, the connection's own SET of it comes back as a message", async () => {
    const reader = connectRedis();
    const listener = connectRedis();
    clients.push(reader, listener);
    const id = await listener.client('ID');
    const heard: string[] = [];
    listener.on('messageBuffer', (_channel: Buffer, payload: unknown) => {
      if (Array.isArray(payload)) heard.push(...payload.map(String));
    });
    await listener.subscribe('__redis__:invalidate');
    const key = `${iso.prefix}loaded-from-postgres`;
    await reader.client('TRACKING', 'ON', 'REDIRECT', id);
    expect(await reader.get(key)).toBeNull();
    await reader.set(key, 'row from PostgreSQL');
    expect(await eventually(() => heard.includes(key)), 'no message for the own SET of a key read while absent').toBe(
      true,
    );
  });

  it('an own SET ends the tracking of a key: with NOLOOP no message comes, and a later DEL by another client tells nobody', async () => {
    const reader = connectRedis();
    const listener = connectRedis();
    clients.push(reader, listener);
    const id = await listener.client('ID');
    const heard: string[] = [];
    listener.on('messageBuffer', (_channel: Buffer, payload: unknown) => {
      if (Array.isArray(payload)) heard.push(...payload.map(String));
    });
    await listener.subscribe('__redis__:invalidate');
    const key = `${iso.prefix}loaded-from-postgres`;
    const marker = `${iso.prefix}marker`;
    await writer.set(marker, 'm');
    await reader.client('TRACKING', 'ON', 'REDIRECT', id, 'NOLOOP');
    expect(await reader.get(key)).toBeNull(); // the miss: tracked although the key is absent
    await reader.get(marker);
    await reader.set(key, 'row from PostgreSQL'); // the fill after the load
    await writer.del(key); // another instance's PATCH
    await writer.set(marker, 'barrier');
    expect(await eventually(() => heard.includes(marker))).toBe(true);
    expect(heard, 'Redis still tracked the key after the connection wrote it itself').toEqual([marker]);
  });
});

describe('BCAST mode', () => {
  it('is told about every write under its prefix, read or not, and keeps nothing outside it', async () => {
    const tracked = `${iso.prefix}tracked:`;
    const outside = `${iso.prefix}outside:1`;
    await writer.mset(`${tracked}1`, 'a', outside, 'o');
    const c = await cache({ bcast: { prefixes: [tracked] } });
    expect((await c.get(`${tracked}1`)).level).toBe('redis');
    expect((await c.get(`${tracked}1`)).level).toBe('l1');
    await c.get(outside);
    expect((await c.get(outside)).level, 'a key outside the BCAST prefixes was kept in L1').toBe('redis');

    await writer.set(`${tracked}2`, 'never read'); // never read: BCAST still tells
    await writer.set(`${tracked}2`, 'again'); // and tells again: no "once per read" here
    await writer.set(outside, 'o2'); // outside the prefix: nothing
    await barrier(c, `${tracked}1`);
    expect(c.stats).toMatchObject({ messages: 3, keys: 3, dropped: 1 });
    expect(c.holds(`${tracked}1`)).toBe(false);
  });

  it('refuses BCAST without a prefix, naming the fix', () => {
    expect(() =>
      createTrackedL1({ redis: writer, bcast: { prefixes: [] }, l1: { maxBytes: 1000, ttlMs: 1000 } }),
    ).toThrow(/at least one non-empty key prefix/);
  });
});

describe('when a connection drops', () => {
  it('empties L1 when the network cuts both connections, and serves the new value once back', async () => {
    const proxy = await startChaosProxy({ upstream: redisUrl() });
    proxies.push(proxy);
    const key = `${iso.prefix}employee:7`;
    await writer.set(key, 'old');
    const c = await cache({ url: proxy.url });
    await c.get(key);
    expect(c.holds(key)).toBe(true);

    proxy.cut();
    expect(await eventually(() => !c.tracking), 'the cache did not notice the cut').toBe(true);
    // Written while the cache is away: the invalidation has nowhere to go and is lost.
    await writer.set(key, 'new');
    proxy.restore();
    expect(await eventually(() => c.tracking, 5000), 'tracking did not come back after the cut').toBe(true);

    expect(c.stats.flushes, 'L1 was not emptied when its connections dropped').toBe(1);
    expect(await c.get(key), 'the value read before the cut was served after it').toEqual({
      value: Buffer.from('new'),
      level: 'redis',
    });
  });

  it('empties L1 when only the read connection drops: Redis forgets its tracking and tells nobody', async () => {
    const key = `${iso.prefix}employee:8`;
    await writer.set(key, 'old');
    const c = await cache();
    await c.get(key);
    await writer.client('KILL', 'ID', await clientId(`${iso.prefix.replace(/:/g, '-')}cache${made}-reads`));
    expect(await eventually(() => c.stats.flushes === 1), 'L1 kept its entries after the read connection dropped').toBe(
      true,
    );
    expect(c.holds(key)).toBe(false);
    expect(await eventually(() => c.tracking, 5000)).toBe(true);
    await c.get(key); // tracked again, on the new connection
    await writer.set(key, 'new');
    expect(await eventually(() => !c.holds(key)), 'writes are not invalidated after the reconnection').toBe(true);
  });

  it('empties L1 when only the invalidation connection drops, and redirects to the new one', async () => {
    const key = `${iso.prefix}employee:9`;
    await writer.set(key, 'old');
    const c = await cache();
    await c.get(key);
    await writer.client('KILL', 'ID', await clientId(`${iso.prefix.replace(/:/g, '-')}cache${made}-invalidations`));
    expect(await eventually(() => c.stats.flushes === 1), 'L1 kept its entries with nobody listening').toBe(true);
    expect(await eventually(() => c.tracking, 5000)).toBe(true);
    await c.get(key);
    expect(c.holds(key)).toBe(true);
    await writer.set(key, 'new');
    // Only arrives if CLIENT TRACKING now redirects to the new connection's id.
    expect(await eventually(() => !c.holds(key)), 'no invalidation after the listener reconnected').toBe(true);
  });
});
