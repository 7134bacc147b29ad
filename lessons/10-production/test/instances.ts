import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type HttpHarness, redisUrl, serve, type TestServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterEach } from 'vitest';
import { type AppDeps, type AppLocals, createApp } from '../src/app.ts';
import { type Family, parsePrometheusText, sampleValue } from './prometheus-text.ts';

export const AUTH_SECRET = 'lesson-10-tests-secret-0123456789';

/** Commands the app sent on a client (they still run: this only watches). INFO/PING of the client itself are not counted. */
export function watchRedis(redis: Redis) {
  const sent: string[] = [];
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    if (!['info', 'ping', 'select', 'client', 'subscribe', 'ssubscribe'].includes(command.name))
      sent.push(command.name);
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
  return {
    get count() {
      return sent.length;
    },
    get names() {
      return [...sent];
    },
  };
}

/** A clock the test moves by hand (for the breaker's cool-down). */
export function manualClock(startMs = 1_000_000) {
  let t = startMs;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

/**
 * A timer the test fires by hand (the background retries of failed invalidations): `fire()`
 * runs what was scheduled so far and waits for it; `delays` is every delay ever asked for.
 */
export function manualTimer() {
  const scheduled: { fn: () => Promise<void>; cancelled: boolean }[] = [];
  const delays: number[] = [];
  return {
    setTimer(fn: () => Promise<void>, ms: number) {
      const entry = { fn, cancelled: false };
      scheduled.push(entry);
      delays.push(ms);
      return {
        cancel() {
          entry.cancelled = true;
        },
      };
    },
    /** Run every retry scheduled until now (not the ones they schedule) and wait for them; how many ran. */
    async fire(): Promise<number> {
      const due = scheduled.splice(0).filter((e) => !e.cancelled);
      for (const e of due) await e.fn();
      return due.length;
    },
    get delays() {
      return [...delays];
    },
    get waiting() {
      return scheduled.filter((e) => !e.cancelled).length;
    },
  };
}

export interface InstanceOptions {
  /** Where the app's Redis connection goes (default: the shared Redis). */
  redisUrl?: string;
  /** Where its subscriber connection goes (default: the same as redisUrl). */
  subscriberUrl?: string;
  /** Wait until both connections are ready and the bus subscribed. Default true. */
  waitForRedis?: boolean;
  commandTimeoutMs?: number;
  deps?: Partial<AppDeps>;
}

/**
 * One instance of the lesson's API, as a separate process would be: its own L1, its own two
 * Redis connections (through a chaos proxy when the test says so), its own bus subscription.
 */
export function useInstances(services: TestServices) {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const clean of cleanups.splice(0).reverse()) await clean();
  });
  const later = (clean: () => Promise<void> | void) => cleanups.push(clean);

  async function instance(name: string, options: InstanceOptions = {}) {
    const url = options.redisUrl ?? redisUrl();
    // Generous by default: on a loaded 2-core machine a healthy Redis must not look failed.
    const commandTimeoutMs = options.commandTimeoutMs ?? 5_000;
    const redis = createRedisClient({ url, commandTimeoutMs, log: () => {} });
    const subscriber = createRedisClient({ url: options.subscriberUrl ?? url, commandTimeoutMs, log: () => {} });
    cleanups.push(() => {
      redis.disconnect();
      subscriber.disconnect();
    });
    const logs: string[] = [];
    const watched = watchRedis(redis);
    if (options.waitForRedis !== false) await whenReady(redis, 5_000);
    const app = createApp({
      db: services.db,
      redis,
      subscriber,
      keyPrefix: services.prefix,
      authSecret: AUTH_SECRET,
      instanceId: name,
      log: (m) => logs.push(String(m instanceof Error ? m.stack : m)),
      ...options.deps,
    });
    const locals = app.locals as AppLocals;
    cleanups.push(() => locals.close());
    if (options.waitForRedis !== false) await locals.ready;
    const http: HttpHarness = await serve(app);
    cleanups.push(() => http.close());
    return {
      http,
      locals,
      redis,
      subscriber,
      commands: watched,
      logs,
      async metrics(): Promise<Map<string, Family>> {
        const res = await http.get('/metrics');
        if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
        return parsePrometheusText(res.text);
      },
      async metric(sample: string, labels: Record<string, string> = {}): Promise<number> {
        const res = await http.get('/metrics');
        return sampleValue(parsePrometheusText(res.text), sample, labels);
      },
    };
  }
  return Object.assign(instance, { later });
}

export type Instance = Awaited<ReturnType<ReturnType<typeof useInstances>>>;

/** Poll `read` until `done` accepts its value or `timeoutMs` runs out; returns the last value. */
export async function eventually<T>(
  read: () => Promise<T> | T,
  done: (value: T) => boolean,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = await read();
  }
  return value;
}
