import type { RunningStrategy } from '@cachelab/bench';
import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { type HttpHarness, serve, useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { strategies } from '../src/bench-strategy.ts';

// `npm run bench` compares this strategy with bare Express sending the same bytes: it must
// send those bytes, and its repeat requests must be the L1 hits the bench says it measures.
const services = useServices();
let running: RunningStrategy;
let http: HttpHarness;

beforeAll(async () => {
  const strategy = strategies.find((s) => s.name === 'production');
  if (!strategy) throw new Error('bench-strategy.ts has no "production" strategy');
  running = await strategy.create({
    db: services.db,
    keyPrefix: services.prefix,
    log: (err) => console.error(err),
    settings: { ttl: 'long' },
  });
  http = await serve(running.listener);
}, 30_000);
afterAll(async () => {
  await http?.close();
  await running?.close?.();
});

describe("lesson 10's app as the bench runs it", () => {
  it('answers GET /employees/:id with the bytes of the row, then from L1, and counts it in /metrics', async () => {
    const expected = JSON.stringify(await getEmployee(services.db, 42));
    const first = await http.get('/employees/42');
    expect(first.status).toBe(200);
    expect(first.text).toBe(expected);
    expect(first.cache).toBe('MISS');
    services.queries.reset();
    const second = await http.get('/employees/42');
    expect(second.text).toBe(expected);
    expect(second.cache).toBe('HIT');
    expect(second.headers.get('x-cache-level')).toBe('L1');
    // The L1 hit says what the shared anonymous answer says: it varies by user, revalidate it.
    expect(second.headers.get('vary')).toBe('Authorization');
    expect(second.headers.get('cache-control')).toBe('no-cache');
    expect(second.timing.l1).toBeGreaterThanOrEqual(0);
    expect(services.queries.count).toBe(0);
    const metrics = (await http.get('/metrics')).text;
    expect(metrics).toMatch(/^cache_requests_total\{name="employee",result="hit"\} 1$/m);
    // main.ts's process metrics are on, as in production.
    expect(metrics).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });
});
