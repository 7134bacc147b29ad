import type { Pool } from '@cachelab/db';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type HttpHarness, type RequestListener, serve } from './http.ts';
import {
  createIsolatedDatabase,
  createIsolatedRedis,
  type IsolatedDatabase,
  type IsolatedRedis,
  isolatedPrefix,
  isolationId,
} from './isolation.ts';
import { countQueries, type QueryCounter } from './query-counter.ts';

export interface TestServices {
  /** PostgreSQL: this file's own `employees`, the shared read-only `borrower_payments`. */
  readonly db: Pool;
  /** Every statement `db` sent since the last `queries.reset()`. */
  readonly queries: QueryCounter;
  /** Redis on the shared server. */
  readonly redis: Redis;
  /** This file's Redis key namespace: pass it to createApp as `keyPrefix`. */
  readonly prefix: string;
  /** Keys under `prefix`. */
  redisKeys(): Promise<string[]>;
  /** Delete this file's Redis keys (use in beforeEach to start each test cold). */
  clearRedis(): Promise<void>;
  /** This file's PostgreSQL schema name. */
  readonly schema: string;
}

/**
 * Give this test file its own PostgreSQL schema and Redis namespace, created before the
 * first test and removed after the last. Files then run in parallel, and graders grade in
 * parallel, without seeing each other's data.
 *
 * ```ts
 * const services = useServices();
 * it('…', async () => { const app = createApp({ db: services.db }); … });
 * ```
 */
export function useServices(): TestServices {
  let database: IsolatedDatabase | undefined;
  let redis: IsolatedRedis | undefined;
  let queries: QueryCounter | undefined;
  const id = isolationId();

  // Redis is connected on first use, not before every file: a file (an exercise) that never
  // touches it runs without a Redis at all. The prefix is only a name: it needs no connection.
  let prefix: string | undefined;
  const isolatedRedis = () => {
    redis ??= createIsolatedRedis({ id });
    return redis;
  };

  beforeAll(async () => {
    database = await createIsolatedDatabase({ id });
    queries = countQueries(database.pool);
    prefix = isolatedPrefix(id);
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled([database?.dispose(), redis?.dispose()]);
  }, 30_000);

  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useServices(): ${what} is only available inside tests and hooks`);
    return value;
  };
  return {
    get db() {
      return need(database, 'db').pool;
    },
    get schema() {
      return need(database, 'schema').schema;
    },
    get queries() {
      return need(queries, 'queries');
    },
    get redis() {
      need(prefix, 'redis');
      return isolatedRedis().redis;
    },
    get prefix() {
      return need(prefix, 'prefix');
    },
    redisKeys: () => {
      need(prefix, 'redis');
      return isolatedRedis().keys();
    },
    clearRedis: () => {
      need(prefix, 'redis');
      return isolatedRedis().clear();
    },
  };
}

/** Serve `app` over HTTP for one test and close it afterwards. */
export async function serveForTest(app: RequestListener): Promise<HttpHarness> {
  const harness = await serve(app);
  afterEach(() => harness.close());
  return harness;
}
