import { createPool } from '@cachelab/db';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createRedisClient } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import type { CacheStore } from '../src/cache-store.ts';
import { createMemoryCacheStore } from '../src/memory-cache-store.ts';
import { createPostgresStore } from '../src/postgres-store.ts';
import { createRedisCacheStore } from '../src/redis-cache-store.ts';
import { type OpenedStore, openStore, STORE_KINDS, type StoreKind } from '../src/stores.ts';
import { createTwoLevelStore } from '../src/two-level-store.ts';

const services = useServices();
beforeEach(() => services.queries.reset());

const CLASSIC = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=1000';

function expectJson(res: TestResponse, cache: string) {
  expect(res.status, res.text.slice(0, 300)).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.cache).toBe(cache);
}

/**
 * A store whose backend is not there: real clients pointed at a port where nothing listens
 * (no fakes). Memory has no backend to lose.
 */
function brokenStore(kind: StoreKind): { store: CacheStore; close(): Promise<void> } | undefined {
  const quiet = { log: () => {} };
  switch (kind) {
    case 'memory':
      return undefined;
    case 'redis': {
      const redis = createRedisClient({ url: 'redis://127.0.0.1:1', ...quiet });
      return { store: createRedisCacheStore({ redis, namespace: 'x:' }), close: async () => redis.disconnect() };
    }
    case 'two-level': {
      const redis = createRedisClient({ url: 'redis://127.0.0.1:1', ...quiet });
      const subscriber = createRedisClient({ url: 'redis://127.0.0.1:1', ...quiet });
      const store = createTwoLevelStore({
        l1: createMemoryCacheStore(),
        l2: createRedisCacheStore({ redis, namespace: 'x:' }),
        bus: { publisher: redis, subscriber, channel: 'x:l1' },
      });
      return {
        store,
        close: async () => {
          await store.close();
          redis.disconnect();
          subscriber.disconnect();
        },
      };
    }
    case 'postgres': {
      const db = createPool({ url: 'postgres://postgres@127.0.0.1:1/cachelab', connectionTimeoutMs: 500 });
      return { store: createPostgresStore({ db, namespace: 'x:' }), close: () => db.end() };
    }
  }
}

describe.each(STORE_KINDS)('the lesson-01 routes cached in the %s store', (kind) => {
  let opened: OpenedStore;
  let http: HttpHarness;

  beforeAll(async () => {
    opened = await openStore(kind, { db: services.db, namespace: `${services.prefix}${kind}:`, log: () => {} });
    http = await serve(createApp({ db: services.db, store: opened.store, log: () => {} }));
  });
  afterAll(async () => {
    await http.close();
    await opened.store.clear();
    await opened.close();
  });
  beforeEach(async () => {
    await opened.store.clear();
    services.queries.reset(); // the PostgreSQL store's own statements are not the ones counted here
  });

  it('answers a second GET from the store, without touching PostgreSQL', async () => {
    const miss = await http.get('/employees/42');
    expectJson(miss, 'MISS');
    expect(miss.timing.db).toBeGreaterThan(0);
    const hit = await http.get('/employees/42');
    expectJson(hit, 'HIT');
    expect(hit.text, 'the hit must send the very bytes the miss sent').toBe(miss.text);
    expect(hit.timing.db, 'a hit has no db time').toBeUndefined();
    expect(services.queries.matching(/FROM employees/)).toBe(1);
  });

  it('says in Server-Timing how long the store took, under l1 (in-process) or l2 (shared), named after the store', async () => {
    await http.get('/investors/DEMO_INV/summary');
    const res = await http.get('/investors/DEMO_INV/summary');
    const metric = opened.store.capabilities.sharedAcrossProcesses ? 'l2' : 'l1';
    expect(res.timing[metric]).toBeGreaterThanOrEqual(0);
    expect(res.headers.get('server-timing')).toContain(`${metric};dur=`);
    expect(res.headers.get('server-timing')).toContain(`desc="${opened.store.name}"`);
  });

  it('caches the classic payments query under the key of its normalised parameters', async () => {
    expectJson(await http.get(CLASSIC), 'MISS');
    const reordered = await http.get('/payments?limit=1000&to=2025-01-01&from=2024-01-01&investor=demo_inv');
    expectJson(reordered, 'HIT');
    expect(services.queries.matching(/borrower_payments/)).toBe(1);
    const key = cacheKey({
      name: 'payments',
      version: 1,
      params: { investor: 'DEMO_INV', from: '2024-01-01', to: '2025-01-01', limit: 1000 },
    });
    expect((await opened.store.get(key))?.toString()).toBe(reordered.text);
  });

  it('never stores a 400 or a 404', async () => {
    expect((await http.get('/employees/abc')).status).toBe(400);
    expect(services.queries.count, 'a 400 must not reach PostgreSQL').toBe(0);
    expect((await http.get('/employees/999999999')).status).toBe(404);
    expect((await http.get('/employees/999999999')).status).toBe(404);
    expect(services.queries.matching(/FROM employees/), 'a cached 404 would hide a row created later').toBe(2);
    expect(
      await opened.store.get(cacheKey({ name: 'employee', version: 1, params: { id: 999999999 } })),
    ).toBeUndefined();
  });

  const broken = brokenStore(kind);
  it.skipIf(!broken)(
    'answers from PostgreSQL with X-Cache: BYPASS when the store’s backend is down, never a 500',
    async () => {
      const down = broken as NonNullable<typeof broken>;
      const app = await serve(createApp({ db: services.db, store: down.store, log: () => {} }));
      try {
        const started = performance.now();
        const res = await app.get('/employees/7');
        expectJson(res, 'BYPASS');
        expect(res.json()).toMatchObject({ id: 7 });
        expect(performance.now() - started, 'a dead backend must not make the request wait').toBeLessThan(1_500);
      } finally {
        await app.close();
        await down.close();
      }
    },
  );
});

describe('one app, any store', () => {
  it('says which store it runs on', async () => {
    const http = await serve(createApp({ db: services.db, store: createMemoryCacheStore() }));
    try {
      const res = await http.get('/');
      expect(res.json()).toMatchObject({ store: { name: 'memory', capabilities: { sharedAcrossProcesses: false } } });
    } finally {
      await http.close();
    }
  });

  it('shares entries between two apps over a shared store, and not over memory', async () => {
    const shared = await openStore('postgres', { db: services.db, namespace: `${services.prefix}two-apps:` });
    const one = await serve(createApp({ db: services.db, store: shared.store }));
    const two = await serve(createApp({ db: services.db, store: shared.store }));
    const privateOne = await serve(createApp({ db: services.db, store: createMemoryCacheStore() }));
    const privateTwo = await serve(createApp({ db: services.db, store: createMemoryCacheStore() }));
    try {
      expect((await one.get('/employees/9')).cache).toBe('MISS');
      expect((await two.get('/employees/9')).cache, 'the second app should find the first one’s entry').toBe('HIT');
      expect((await privateOne.get('/employees/9')).cache).toBe('MISS');
      expect((await privateTwo.get('/employees/9')).cache, 'each memory store is its own').toBe('MISS');
    } finally {
      await Promise.all([one.close(), two.close(), privateOne.close(), privateTwo.close()]);
      await shared.store.clear();
      await shared.close();
    }
  });

  it('refuses a TTL that is not a positive whole number of ms', () => {
    expect(() => createApp({ db: services.db, store: createMemoryCacheStore(), ttlMs: 0 })).toThrow(/ttlMs/);
  });
});
