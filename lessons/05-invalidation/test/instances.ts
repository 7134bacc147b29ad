import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type HttpHarness, serve, type TestResponse, type TestServices } from '@cachelab/testkit';
import { afterEach } from 'vitest';
import { type AppDeps, type AppLocals, createApp } from '../src/app.ts';

/**
 * One instance of the API, as a separate process would be: its own L1s, its own two Redis
 * connections, its own bus subscriptions, on its own port. Everything is closed after each test.
 */
export function useInstances(services: TestServices) {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const clean of cleanups.splice(0).reverse()) await clean();
  });

  return async function instance(name: string, options: Partial<AppDeps> = {}) {
    const quiet = { log: () => {} };
    const redis = createRedisClient({ ...quiet, commandTimeoutMs: 2_000 });
    const subscriber = createRedisClient(quiet);
    cleanups.push(() => {
      redis.disconnect();
      subscriber.disconnect();
    });
    await whenReady(redis);
    const app = createApp({
      db: services.db,
      redis,
      subscriber,
      keyPrefix: services.prefix,
      instanceId: name,
      log: () => {},
      ...options,
    });
    const locals = app.locals as AppLocals;
    cleanups.push(() => locals.close());
    await locals.ready;
    const http = await serve(app);
    cleanups.push(() => http.close());
    return { http, locals, redis, subscriber };
  };
}

export type Instance = Awaited<ReturnType<ReturnType<typeof useInstances>>>;

/** Poll `read` until `done` accepts its result or `timeoutMs` runs out; returns the last result. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = await read();
  }
  return value;
}

export function send(http: HttpHarness, method: string, path: string, body?: unknown): Promise<TestResponse> {
  return http.request(path, {
    method,
    ...(body === undefined
      ? {}
      : {
          headers: { 'content-type': 'application/json' },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        }),
  });
}

export const parts = (res: TestResponse) => res.headers.get('x-cache-parts');
