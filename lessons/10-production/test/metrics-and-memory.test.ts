import { createPool, databaseUrl } from '@cachelab/db';
import { startChaosProxy, useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { createBoundedL1 } from '../src/bounded-l1.ts';
import { manualClock, useInstances } from './instances.ts';
import { sampleValue } from './prometheus-text.ts';

const services = useServices();
const instance = useInstances(services);
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

describe('GET /metrics', () => {
  it('is valid Prometheus text (a strict parser accepts every line) with every series of the cache', async () => {
    const app = await instance('a');
    const res = await app.http.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = await app.metrics();
    const types = Object.fromEntries([...families.values()].map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      cache_requests_total: 'counter',
      cache_hit_ratio: 'gauge',
      cache_l1_evictions_total: 'counter',
      cache_l1_bytes: 'gauge',
      cache_l1_max_bytes: 'gauge',
      cache_loader_duration_seconds: 'histogram',
      cache_l2_errors_total: 'counter',
      cache_l2_skipped_total: 'counter',
      cache_circuit_state: 'gauge',
      cache_bus_connected: 'gauge',
    });
    for (const f of families.values()) expect(f.help, `${f.name} has no HELP`).not.toBe('');
  });

  it('moves: a miss then a hit count one each, the hit ratio is 0.5, the loader histogram has one observation', async () => {
    const app = await instance('a');
    await app.http.get('/employees/3');
    await app.http.get('/employees/3');
    const m = await app.metrics();
    expect(sampleValue(m, 'cache_requests_total', { name: 'employee', result: 'miss' })).toBe(1);
    expect(sampleValue(m, 'cache_requests_total', { name: 'employee', result: 'hit' })).toBe(1);
    expect(sampleValue(m, 'cache_hit_ratio', { name: 'employee' })).toBe(0.5);
    expect(sampleValue(m, 'cache_loader_duration_seconds_count', { name: 'employee' })).toBe(1);
    expect(sampleValue(m, 'cache_loader_duration_seconds_bucket', { name: 'employee', le: '+Inf' })).toBe(1);
    expect(sampleValue(m, 'cache_loader_duration_seconds_sum', { name: 'employee' })).toBeGreaterThan(0);
    expect(sampleValue(m, 'cache_l1_bytes')).toBeGreaterThan(0);
    expect(sampleValue(m, 'cache_l1_entries')).toBe(1);
    expect(sampleValue(m, 'cache_circuit_state')).toBe(0);
    expect(sampleValue(m, 'cache_bus_connected')).toBe(1);
  });

  it('counts STALE: an entry past its TTL answers while PostgreSQL is down, and the series says so', async () => {
    // The app's PostgreSQL goes through a chaos proxy the test can cut.
    const pgProxy = await startChaosProxy({ upstream: databaseUrl() });
    const db = createPool({ url: pgProxy.url, max: 2, connectionTimeoutMs: 1_000 });
    instance.later(async () => {
      await db.end();
      await pgProxy.close();
    });
    const clock = manualClock(Date.now());
    const app = await instance('a', { deps: { db, now: clock.now, l2TtlSeconds: 60, staleIfErrorMs: 300_000 } });
    const fresh = await app.http.get('/employees/4');
    expect(fresh.cache).toBe('MISS');
    clock.advance(61_000); // past the 60 s TTL, within the 5 min of stale-if-error
    pgProxy.cut();
    const stale = await app.http.get('/employees/4');
    expect(stale.status, 'PostgreSQL is down but a stale copy exists: it should answer').toBe(200);
    expect(stale.cache).toBe('STALE');
    expect(stale.json()).toEqual(fresh.json());
    expect(await app.metric('cache_requests_total', { name: 'employee', result: 'stale' })).toBe(1);
    expect(await app.metric('cache_loader_errors_total', { name: 'employee' })).toBe(1);
    // No stale copy of employee 5: the outage is a 503, not a made-up answer.
    expect((await app.http.get('/employees/5')).status).toBe(503);
  });
});

describe('when PostgreSQL stops answering on open connections', () => {
  it('answers the requests that joined the hung load within the query timeout: STALE when a copy exists, else 503', async () => {
    // The proxy holds every byte: connections stay open, queries never return. Only the
    // pool's query timeout (here 500 ms) bounds how long a request waits.
    const pgProxy = await startChaosProxy({ upstream: databaseUrl() });
    const db = createPool({ url: pgProxy.url, max: 2, connectionTimeoutMs: 1_000, queryTimeoutMs: 500 });
    instance.later(async () => {
      pgProxy.restore();
      await db.end();
      await pgProxy.close();
    });
    const clock = manualClock(Date.now());
    const app = await instance('a', { deps: { db, now: clock.now, l2TtlSeconds: 60, staleIfErrorMs: 300_000 } });
    const fresh = await app.http.get('/employees/6');
    expect(fresh.cache).toBe('MISS');
    clock.advance(61_000); // past the TTL, within stale-if-error
    pgProxy.blackhole();

    let started = performance.now();
    const joined = await Promise.all(Array.from({ length: 8 }, () => app.http.get('/employees/6')));
    let waited = performance.now() - started;
    expect(
      joined.map((r) => `${r.status} ${r.cache}`),
      'a stale copy exists: every request that joined the hung load must get it',
    ).toEqual(Array(8).fill('200 STALE'));
    expect(joined[0]?.json()).toEqual(fresh.json());
    expect(waited, 'within the query timeout (plus a margin), not as long as the outage').toBeLessThan(500 + 1_500);

    started = performance.now();
    const none = await Promise.all(Array.from({ length: 4 }, () => app.http.get('/employees/7')));
    waited = performance.now() - started;
    expect(
      none.map((r) => r.status),
      'no copy of employee 7: a 503, not a made-up answer',
    ).toEqual(Array(4).fill(503));
    expect(waited, 'within the query timeout (plus a margin)').toBeLessThan(500 + 1_500);
  });
});

describe('memory bounds that hold under load', () => {
  const MAX_BYTES = 1024 * 1024;
  // 16 different weeks of 2024, 2,000 payments each: ~350 KB of JSON per answer, 5.6 MB in all.
  const weeks = Array.from({ length: 16 }, (_, i) => {
    const from = new Date(Date.UTC(2024, 0, 1 + 7 * i)).toISOString().slice(0, 10);
    const to = new Date(Date.UTC(2024, 0, 8 + 7 * i)).toISOString().slice(0, 10);
    return `/payments?investor=DEMO_INV&from=${from}&to=${to}&limit=2000`;
  });

  it('keeps L1 at or under maxBytes while 16 large distinct answers arrive at once, evicting (and counting) the rest', async () => {
    const app = await instance('a', { deps: { l1: { maxBytes: MAX_BYTES } } });
    const answers = await Promise.all(weeks.map((path) => app.http.get(path)));
    expect(answers.map((r) => r.status)).toEqual(Array(16).fill(200));
    const sizes = answers.map((r) => r.text.length);
    expect(Math.min(...sizes), 'the answers should be large (hundreds of KB)').toBeGreaterThan(200_000);
    const m = await app.metrics();
    expect(sampleValue(m, 'cache_l1_bytes'), 'L1 holds more than its bound').toBeLessThanOrEqual(MAX_BYTES);
    expect(sampleValue(m, 'cache_l1_max_bytes')).toBe(MAX_BYTES);
    expect(sampleValue(m, 'cache_l1_evictions_total'), 'filling 5.6 MB into 1 MiB must evict').toBeGreaterThanOrEqual(
      16 - Math.floor(MAX_BYTES / Math.min(...sizes)) - 1,
    );
    // L2 has all of them: what L1 evicted is an L2 hit, not a query.
    services.queries.reset();
    const again = await Promise.all(weeks.map((path) => app.http.get(path)));
    expect(again.every((r) => r.cache === 'HIT')).toBe(true);
    expect(services.queries.matching(/borrower_payments/)).toBe(0);
  });

  it('counts the memory a body really holds: a small view on a big buffer is copied, not kept with its megabyte', () => {
    const l1 = createBoundedL1({ maxBytes: 10_000, ttlMs: 60_000 });
    const reply = Buffer.alloc(1024 * 1024, 'x'); // e.g. one big socket read
    const body = reply.subarray(100, 200); // 100 bytes of it
    l1.set('k', body);
    const stored = l1.get('k') as Buffer;
    expect(stored.equals(body)).toBe(true);
    expect(stored.buffer.byteLength, 'L1 kept the whole 1 MiB buffer alive for 100 bytes').toBe(100);
    expect(l1.bytes).toBe(100 + 'k'.length);
  });

  it('never stores a value larger than the bound, and says how many it evicted', () => {
    const l1 = createBoundedL1({ maxBytes: 1_000, ttlMs: 60_000 });
    l1.set('big', Buffer.alloc(2_000));
    expect(l1.entries).toBe(0);
    for (let i = 0; i < 30; i++) l1.set(`k${i}`, Buffer.alloc(100));
    expect(l1.bytes).toBeLessThanOrEqual(1_000);
    expect(l1.evictions).toBe(30 - Math.floor(1_000 / 102));
  });
});
