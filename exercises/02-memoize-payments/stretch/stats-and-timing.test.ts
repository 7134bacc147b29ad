import { captureServerLog, type HttpHarness, serve, useServices } from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';

/**
 * The stretch goal of exercise 02 (README): `hits` and `misses` in /cache/stats, and a
 * Server-Timing `l1` metric for the lookup. (`npx cachelab verify 02 --stretch`)
 */
const services = useServices();
const server = captureServerLog();
const open: HttpHarness[] = [];

/** A fresh app, so a fresh cache and fresh counters; its clock stands still. */
async function start(): Promise<HttpHarness> {
  const http = await serve(createApp({ db: services.db, log: server.log, now: () => 1_000_000 }));
  open.push(http);
  return http;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});
beforeEach(() => server.clear());

const Q = '/payments?investor=DEMO_INV&from=2024-06-01&to=2024-07-01&limit=10';
const OTHER = '/payments?investor=DEMO_INV&from=2024-06-01&to=2024-07-01&limit=20';

interface Stats {
  entries?: number;
  hits?: unknown;
  misses?: unknown;
}

async function stats(http: HttpHarness): Promise<Stats> {
  const res = await http.get('/cache/stats');
  expect(res.status, `GET /cache/stats answered ${res.status}${server.said(res)}`).toBe(200);
  return res.json<Stats>();
}

describe('hits and misses in /cache/stats, a Server-Timing l1 metric for the lookup', () => {
  it('counts every lookup: a miss, two hits of it, a miss of another question', async () => {
    const http = await start();
    for (const path of [Q, Q, Q, OTHER]) {
      const res = await http.get(path);
      expect(res.status, `GET ${path} answered ${res.status}${server.said(res)}`).toBe(200);
    }
    const s = await stats(http);
    expect(
      { hits: s.hits, misses: s.misses },
      `after GET limit=10 (MISS), limit=10 twice (HIT, HIT) and limit=20 (MISS), /cache/stats says ${JSON.stringify(s)}: add \`hits\` (lookups that found the answer) and \`misses\` (lookups that did not) as numbers`,
    ).toEqual({ hits: 2, misses: 2 });
  });

  it('counts per app: a second app (another server, another process) starts at zero and counts its own', async () => {
    const a = await start();
    const b = await start();
    await a.get(Q);
    await a.get(Q);
    const before = await stats(b);
    expect(
      { hits: before.hits, misses: before.misses },
      `app B's /cache/stats says ${JSON.stringify(before)} after two requests to app A only: each app's counters are its own (keep them with its cache, not in a module-level variable)`,
    ).toEqual({ hits: 0, misses: 0 });
    const res = await b.get(Q);
    expect(res.cache, `GET ${Q} on app B, whose cache is its own, answered X-Cache: ${res.cache}`).toBe('MISS');
    const after = await stats(b);
    expect(
      { hits: after.hits, misses: after.misses },
      `app B's /cache/stats says ${JSON.stringify(after)} after its own first request: one miss, and app A's hit is not B's`,
    ).toEqual({ hits: 0, misses: 1 });
  });

  it('times the lookup as Server-Timing l1, on a miss and on a hit', async () => {
    const http = await start();
    for (const expected of ['MISS', 'HIT']) {
      const res = await http.get(Q);
      expect(res.cache, `GET ${Q} answered X-Cache: ${res.cache}`).toBe(expected);
      expect(
        typeof res.timing.l1,
        `GET ${Q} (X-Cache: ${expected}) has Server-Timing "${res.headers.get('server-timing')}": add an l1 metric (lesson 01's record(res, 'l1', ms) or time(res, 'l1', …)) for the cache lookup, on hits and misses alike`,
      ).toBe('number');
    }
  });
});
