import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, whenReady } from '../src/redis-client.ts';
import { redisErrorLog } from '../src/redis-error-log.ts';
import { freePort } from './redis-server.ts';

/** How every lesson's app logs Redis command failures (lessons 03, 04, 05, 07). */
const connected = createRedisClient({ log: () => {} });
const timedOut = new Error('Command timed out');

beforeAll(async () => {
  expect(await whenReady(connected), 'the client should connect to the shared Redis').toBe(true);
});
afterAll(() => connected.disconnect());

describe('redisErrorLog', () => {
  it('logs a failure in one line that says what it did to the request', () => {
    const lines: string[] = [];
    const onError = redisErrorLog(connected, (line) => lines.push(line));
    onError(timedOut, 'get');
    onError(timedOut, 'set');
    onError(timedOut, 'generation read');
    expect(lines).toEqual([
      '⚠ Redis get failed: Command timed out. Answered from PostgreSQL (X-Cache: BYPASS).',
      '⚠ Redis set failed: Command timed out. The answer was sent but not stored: the next request misses again.',
      '⚠ Redis generation read failed: Command timed out.',
    ]);
  });

  it('logs each kind of failure at most once every 10 s, then says how many it did not log', () => {
    const lines: string[] = [];
    let now = 1_000_000;
    const onError = redisErrorLog(connected, (line) => lines.push(line), { now: () => now });
    onError(timedOut, 'get');
    for (let i = 0; i < 41; i++) onError(timedOut, 'get');
    now += 9_999;
    onError(timedOut, 'get');
    expect(lines).toHaveLength(1);
    now += 1;
    onError(timedOut, 'get');
    expect(lines.at(-1)).toBe(
      '⚠ Redis get failed: Command timed out (and 42 more since the last message). Answered from PostgreSQL (X-Cache: BYPASS).',
    );
  });

  it('says nothing while the client is disconnected: the client reports the outage itself, once', async () => {
    const down = createRedisClient({ url: `redis://127.0.0.1:${await freePort()}`, log: () => {} });
    try {
      const lines: string[] = [];
      const onError = redisErrorLog(down, (line) => lines.push(line));
      const failed = await down.get('any').catch((err: Error) => err);
      onError(failed as Error, 'get');
      expect(lines).toEqual([]);
    } finally {
      down.disconnect();
    }
  });
});
