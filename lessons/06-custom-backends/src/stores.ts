import type { Pool } from '@cachelab/db';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import type { CacheStore } from './cache-store.ts';
import { createMemoryCacheStore } from './memory-cache-store.ts';
import { createCacheTable, createPostgresStore } from './postgres-store.ts';
import { createRedisCacheStore } from './redis-cache-store.ts';
import { createTwoLevelStore } from './two-level-store.ts';

/** The stores this lesson ships, by the name `--store` / `CACHE_STORE` takes. */
export const STORE_KINDS = ['memory', 'redis', 'two-level', 'postgres'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export function isStoreKind(name: string): name is StoreKind {
  return (STORE_KINDS as readonly string[]).includes(name);
}

export interface OpenedStore {
  store: CacheStore;
  /** Stop the store's background work and close the connections opened for it (not `db`). */
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** For the PostgreSQL store. Never closed here. */
  db: Pool;
  /** Namespace of every key, e.g. 'cachelab:06:'. */
  namespace: string;
  /** Redis command timeout, ms. Default lesson 03's 250 ms; the measurement raises it for 100 KB values under load. */
  commandTimeoutMs?: number;
  /** Where Redis outages are logged. Default console.warn. */
  log?: (message: string) => void;
}

/**
 * Open one of the lesson's stores by name, with the connections it needs; main.ts and the
 * measurement use it, so both run exactly the same stores. Fails with one clear line when the
 * backend is not there.
 */
export async function openStore(kind: StoreKind, options: OpenStoreOptions): Promise<OpenedStore> {
  const { db, namespace } = options;
  const redisClient = async () => {
    const redis = createRedisClient({
      ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    if (!(await whenReady(redis, 3_000))) {
      redis.disconnect();
      throw new Error(
        "Can't reach Redis. Start it with `docker compose up -d` or `npx cachelab services up`, or set REDIS_URL.",
      );
    }
    return redis;
  };

  switch (kind) {
    case 'memory':
      return { store: createMemoryCacheStore(), close: async () => {} };
    case 'redis': {
      const redis = await redisClient();
      return {
        store: createRedisCacheStore({ redis, namespace }),
        close: async () => redis.disconnect(),
      };
    }
    case 'two-level': {
      const redis = await redisClient();
      const subscriber = await redisClient();
      const store = createTwoLevelStore({
        l1: createMemoryCacheStore(),
        l2: createRedisCacheStore({ redis, namespace }),
        bus: { publisher: redis, subscriber, channel: `${namespace}l1-invalidation` },
      });
      await store.ready;
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
      await createCacheTable(db);
      const store = createPostgresStore({ db, namespace });
      const sweeper = store.startSweeper({ intervalMs: 60_000 });
      return { store, close: () => sweeper.stop() };
    }
  }
}
