import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import type { CircuitBreaker } from '@cachelab/lesson-10-production/circuit-breaker';
import { type ChaosProxy, redisUrl, startChaosProxy } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';

/**
 * What the capstone's tests share: Redis clients (through a chaos proxy when a test needs to
 * take Redis down), a clock the tests move, a command counter, and a breaker of the test's
 * own that records what your store reports to it.
 */
export const cleanups: (() => Promise<void> | void)[] = [];

export async function runCleanups(): Promise<void> {
  for (const clean of cleanups.splice(0).reverse()) await clean();
}

/** A clock in epoch ms that only the test moves. */
export function testClock(start = Date.now()) {
  let nowMs = start;
  return { now: () => nowMs, advance: (ms: number) => (nowMs += ms) };
}
export type TestClock = ReturnType<typeof testClock>;

/** Lesson 03's client (fails fast: no offline queue, a command timeout), closed after the test. */
export async function redisClient(url = redisUrl(), commandTimeoutMs = 250): Promise<Redis> {
  const redis = createRedisClient({ url, commandTimeoutMs, log: () => {} });
  cleanups.push(() => redis.disconnect());
  expect(await whenReady(redis, 5_000), `a Redis client did not connect to ${url} within 5 s`).toBe(true);
  return redis;
}

/** A chaos proxy in front of the shared Redis: cut(), blackhole(), restore(). Closed after the test. */
export async function chaosProxy(): Promise<ChaosProxy> {
  const proxy = await startChaosProxy({ upstream: redisUrl() });
  cleanups.push(() => proxy.close());
  return proxy;
}

/**
 * The commands a Redis client sends (they still run: this only counts them), and how many of
 * the reads among them have been answered (or failed). Everything your code sends is counted,
 * PING and INFO included. Left out: what ioredis sends by itself while it sets a connection up
 * (status "connect": SELECT, CLIENT SETINFO, the INFO of its ready check), which a reconnection
 * can put anywhere in a test, and those same set-up commands while the client is not ready: the
 * ready check's INFO goes out only once CLIENT SETINFO has answered or failed, and against a cut
 * Redis the connection is closed by then (status "close" or "reconnecting"; seen in 5 of 10 runs
 * of the Redis-cut test at load 10, which then blamed the learner's code for an INFO). (A
 * sandbox's proxy logs in on its own side: its AUTH never passes through this client.)
 */
export function countCommands(redis: Redis) {
  const counter = { sent: 0, reads: 0, readsSettled: 0, names: [] as string[] };
  const send = redis.sendCommand.bind(redis);
  const setUp = new Set(['info', 'client', 'select', 'auth', 'hello']);
  redis.sendCommand = ((command: { name: string; promise: Promise<unknown> }, ...rest: unknown[]) => {
    if (redis.status !== 'connect' && !(redis.status !== 'ready' && setUp.has(command.name))) {
      counter.sent++;
      counter.names.push(command.name);
    }
    if (command.name === 'get') {
      counter.reads++;
      command.promise.then(
        () => counter.readsSettled++,
        () => counter.readsSettled++,
      );
    }
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
  return counter;
}

/**
 * Watch what a subscriber connection receives on `channel`: `next()` resolves with the ms it
 * waited when the next message arrives (after the bus's own listener has handled it: listeners
 * run in the order they were added, and the bus added its listener first), or with undefined
 * after `timeoutMs`. Generous by default: l1TtlMs, the bound the lessons give a lost message.
 */
export function busListener(subscriber: Redis, channel: string) {
  const waiting: ((ms: number) => void)[] = [];
  const onMessage = (from: string) => {
    if (from === channel) for (const resolve of waiting.splice(0)) resolve(0);
  };
  subscriber.on('message', onMessage);
  cleanups.push(() => {
    subscriber.off('message', onMessage);
  });
  return {
    next(timeoutMs = 10_000): Promise<number | undefined> {
      const started = performance.now();
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(undefined), timeoutMs);
        waiting.push(() => {
          clearTimeout(timer);
          resolve(Math.round(performance.now() - started));
        });
      });
    },
  };
}

/** A breaker of the test's own: says yes or no, and records what the store reports. */
export function recordingBreaker(allowed: boolean) {
  const reported: string[] = [];
  let asked = 0;
  const breaker: CircuitBreaker = {
    state: allowed ? 'closed' : 'open',
    failures: 0,
    allow: () => {
      asked++;
      return allowed;
    },
    success: () => {
      reported.push('success');
    },
    failure: () => {
      reported.push('failure');
    },
  };
  return {
    breaker,
    reported,
    get asked() {
      return asked;
    },
  };
}

/** Poll `read` until `done` accepts its value or `timeoutMs` (generous: the machine is shared) runs out. */
export async function eventually<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    value = await read();
  }
  return value;
}

/** A promise the test resolves: a loader that waits for it is "a slow query" the test ends. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * Why a read answered X-Cache `got` where a test expected `want`, in the exercise's terms: the
 * likely cause in your code, for a failure message. Every test that expects MISS, HIT or STALE
 * runs with a healthy store.
 */
export function whyStatus(got: string | undefined, want: string): string {
  if (got === want) return '';
  if (got === 'BYPASS')
    return 'BYPASS with a healthy store means get() in read-through.ts answered from the loader without a lookup (the starter does only that), or its store.read failed: look the key up with store.read first, and answer BYPASS only when that lookup rejects';
  if (got === 'MISS' && want === 'HIT')
    return 'a MISS where an entry was just filled: fill() must store it (store.set of lesson 08’s encodeEntry around lesson 07’s encodeRepresentation, for the kind’s TTL plus the grace), and get() must answer a fresh stored entry (decodeStored, then freshness) as a HIT';
  if (got === 'MISS' && want === 'STALE')
    return 'a MISS for an entry past its TTL but within the grace: the store must still hold it (fill() stores it for the kind’s TTL plus graceMs), and get() answers it at once as STALE while refreshInBackground loads the new value';
  if ((got === 'HIT' || got === 'STALE') && want === 'MISS')
    return `an entry lesson 08’s freshness() calls expired (past its TTL and its grace) was answered ${got}: only a fresh entry is a HIT and only one within the grace is STALE; anything else is a MISS that loads`;
  if (got === 'HIT' && want === 'STALE')
    return 'an entry past its TTL was answered as fresh: ask lesson 08’s freshness(entry, now) whether it is fresh, stale or expired';
  if (got === 'STALE' && want === 'HIT')
    return 'the entry was still stale after its refresh: the background refresh must store what it loaded (fill with storeIt true)';
  return `X-Cache ${got ?? '(none)'} where ${want} was expected`;
}
