import { hitRatio, runLoad, type StrategyServer, startServer } from '@cachelab/bench';
import { useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRATEGIES_MODULE, strategies, strategyNamed } from '../src/strategies.ts';

// The load machinery end to end, small and bounded: a real server process per strategy,
// autocannon in its own process, counts checked (never timings: the machine is shared).
useServices(); // the global setup checks the services; this file uses the shared database read-only

describe('a bounded load test against a strategy in its own process', () => {
  let lru: StrategyServer;
  beforeAll(async () => {
    lru = await startServer({ module: STRATEGIES_MODULE, strategy: 'lru' });
  }, 30_000);
  afterAll(() => lru.close());

  it('counts one miss and one query per distinct key, and hits for every repeat', async () => {
    const keys = [1, 2, 3, 1, 2, 3, 1, 1, 4, 4];
    const paths = Array.from({ length: 100 }, (_, i) => `/employees/${keys[i % keys.length]}`);
    await lru.reset();
    // One connection: requests one after the other, so two misses of one key cannot overlap.
    const result = await runLoad({ url: lru.url, paths, connections: 1, amount: paths.length });
    const stats = await lru.stats();
    expect(result.requests, 'every request of the bounded run was answered').toBe(100);
    expect(result.statuses['2xx']).toBe(100);
    expect(result.xCache, 'four distinct keys: four misses, the rest hits').toEqual({ MISS: 4, HIT: 96 });
    expect(hitRatio(result)).toBe(0.96);
    expect(stats.queries, 'the server counted one PostgreSQL query per miss').toBe(4);
  }, 30_000);

  it('sends the extra headers given for a path', async () => {
    const http = await startServer({ module: STRATEGIES_MODULE, strategy: 'http-cache' });
    try {
      const first = await fetch(`${http.url}/employees/5`);
      const etag = first.headers.get('etag') as string;
      const result = await runLoad({
        url: http.url,
        paths: ['/employees/5'],
        headersByPath: { '/employees/5': { 'If-None-Match': etag } },
        connections: 2,
        amount: 20,
      });
      expect(result.statuses, 'a client holding the current ETag gets 304s').toEqual({ '3xx': 20 });
    } finally {
      await http.close();
    }
  }, 30_000);

  it('refuses to load anything but 127.0.0.1', async () => {
    await expect(runLoad({ url: 'http://example.com', paths: ['/'], amount: 1 })).rejects.toThrow(/only 127\.0\.0\.1/);
  });
});

describe('the strategies', () => {
  it('have unique names and name the lessons they come from', () => {
    expect(new Set(strategies.map((s) => s.name)).size).toBe(strategies.length);
    expect(strategyNamed('two-level').label).toContain('lesson 04');
    expect(() => strategyNamed('nope')).toThrow(/Pick one of: uncached, lru/);
  });
});
