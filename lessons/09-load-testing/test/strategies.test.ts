import type { RunningStrategy } from '@cachelab/bench';
import { createApp as createLruApp } from '@cachelab/lesson-02-in-memory-lru';
import { type HttpHarness, serve, useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { strategyNamed } from '../src/strategies.ts';

// The servers a benchmark compares must answer the same requests with the same bytes:
// otherwise the comparison measures the difference in answers, not in code.
const services = useServices();
const running: RunningStrategy[] = [];
const harness = new Map<string, HttpHarness>();
const NAMES = [
  'express',
  'node-http',
  'ladder-timing',
  'ladder-lookup',
  'ladder-lean',
  'bentocache',
  'cacheable',
  'http-cache',
  'stampede',
];

beforeAll(async () => {
  const context = { db: services.db, keyPrefix: services.prefix, log: () => {}, settings: {} };
  for (const name of NAMES) {
    const strategy = await strategyNamed(name).create(context);
    running.push(strategy);
    harness.set(name, await serve(strategy.listener));
  }
  harness.set('lesson 02', await serve(createLruApp({ db: services.db, log: () => {} })));
}, 60_000);
afterAll(async () => {
  await Promise.all([...harness.values()].map((h) => h.close()));
  await Promise.all(running.map((r) => r.close?.()));
});

describe('the servers a benchmark compares', () => {
  it('answer GET /employees/:id with the same bytes as lesson 02', async () => {
    const expected = (await harness.get('lesson 02')?.get('/employees/42'))?.text;
    expect(expected).toContain('"id":42');
    for (const name of NAMES) {
      const res = await harness.get(name)?.get('/employees/42');
      expect(res?.status, name).toBe(200);
      expect(res?.text, `${name} must send the bytes lesson 02 sends`).toBe(expected);
      expect(res?.headers.get('content-type'), name).toMatch(/^application\/json/);
    }
  });

  it('serve the 100,000-row answer from a constant in the references', async () => {
    const res = await harness
      .get('express')
      ?.get('/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000');
    expect(res?.json<{ count: number }>().count).toBeGreaterThan(0);
  });

  it('mark a lean hit like lesson 02 marks one: X-Cache HIT and l1 in Server-Timing', async () => {
    for (const name of ['ladder-lookup', 'ladder-lean']) {
      const res = await harness.get(name)?.get('/employees/7');
      expect(res?.cache, name).toBe('HIT');
      expect(res?.timing.l1, name).toBeGreaterThanOrEqual(0);
      expect(res?.timing.total, name).toBeGreaterThanOrEqual(0);
    }
  });

  it('say MISS then HIT on the library caches, and never cache a 404', async () => {
    for (const name of ['bentocache', 'cacheable']) {
      const h = harness.get(name) as HttpHarness;
      expect((await h.get('/employees/11')).cache, name).toBe('MISS');
      expect((await h.get('/employees/11')).cache, name).toBe('HIT');
      services.queries.reset();
      expect((await h.get('/employees/999999')).status, name).toBe(404);
      expect((await h.get('/employees/999999')).status, name).toBe(404);
      expect(services.queries.matching(/FROM employees/), `${name} must query again for a missing employee`).toBe(2);
      expect((await h.get('/employees/abc')).status, name).toBe(400);
    }
  });

  it('reject a bad id with a 400 in the lean hit path too', async () => {
    for (const id of ['abc', '0', '99999999999']) {
      expect((await harness.get('ladder-lean')?.get(`/employees/${id}`))?.status, id).toBe(400);
    }
  });
});
