import { type HttpHarness, serve, useServices } from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppDeps, createApp, DEFAULT_MAX_BYTES } from '../src/app.ts';

const services = useServices();
const open: HttpHarness[] = [];

/** A fresh app, hence a fresh (empty) cache, served over HTTP. */
async function start(options: Omit<AppDeps, 'db'> = {}): Promise<HttpHarness> {
  const http = await serve(createApp({ db: services.db, log: () => {}, ...options }));
  open.push(http);
  return http;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});
beforeEach(() => services.queries.reset());

const CLASSIC = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000';
const payments = (params: string) => `/payments?investor=DEMO_INV&${params}`;
const paymentQueries = () => services.queries.matching(/FROM borrower_payments/);

interface Stats {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
}
interface PaymentsBody {
  from: string;
  to: string;
  limit: number;
  count: number;
  rows: { transaction_date: string }[];
}

describe('GET /employees/:id', () => {
  it('serves a second GET from memory without touching PostgreSQL', async () => {
    const http = await start();
    const first = await http.get('/employees/42');
    const second = await http.get('/employees/42');
    expect(first.status).toBe(200);
    expect(first.cache).toBe('MISS');
    expect(first.timing.db).toBeGreaterThan(0);
    expect(second.status).toBe(200);
    expect(second.cache).toBe('HIT');
    expect(second.text).toBe(first.text);
    expect(second.timing.l1).toBeGreaterThanOrEqual(0);
    expect(second.timing.db, 'a hit must not report a db time').toBeUndefined();
    expect(services.queries.matching(/FROM employees/)).toBe(1);
  });

  it('does not cache a 404: the next request asks PostgreSQL again', async () => {
    const http = await start();
    expect((await http.get('/employees/999999999')).status).toBe(404);
    const again = await http.get('/employees/999999999');
    expect(again.status).toBe(404);
    expect(again.cache).toBeUndefined();
    expect(services.queries.matching(/FROM employees/)).toBe(2);
    expect((await http.get('/cache/stats')).json<Stats>().entries).toBe(0);
  });

  it('sends a hit with exactly the headers of a miss: JSON content type, length, X-Cache and Server-Timing', async () => {
    const http = await start();
    const miss = await http.get('/employees/43');
    const hit = await http.get('/employees/43');
    for (const res of [miss, hit]) {
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(res.text)));
      expect(res.timing.total).toBeGreaterThanOrEqual(0);
      expect(res.timing.l1).toBeGreaterThanOrEqual(0);
    }
    expect(hit.cache).toBe('HIT');
    expect(hit.headers.get('server-timing')).toMatch(
      /^l1;dur=[\d.]+;desc="in-memory cache", total;dur=[\d.]+;desc="total"$/,
    );
  });

  it('reads an id the way the validation does: 007 is employee 7, and 0, 2147483648 or 1e3 are 400s never cached', async () => {
    const http = await start();
    expect((await http.get('/employees/7')).cache).toBe('MISS');
    const padded = await http.get('/employees/007');
    expect(padded.cache, '007 is the same employee as 7, so the same cache entry').toBe('HIT');
    for (const bad of ['0', '000', '2147483648', '99999999999', '1e3', '-1', '4.2', 'abc']) {
      const res = await http.get(`/employees/${bad}`);
      expect(res.status, `/employees/${bad}`).toBe(400);
      expect(res.json<{ errors: { parameter: string }[] }>().errors[0]?.parameter).toBe('id');
      expect(res.cache).toBeUndefined();
    }
    expect(services.queries.matching(/FROM employees/)).toBe(1);
    expect((await http.get('/employees/2147483647')).status, 'the largest int4 is a valid id (no such row)').toBe(404);
  });
});

describe('GET /payments', () => {
  it('serves the 100,000-row answer from memory the second time, within the default bound', async () => {
    const http = await start();
    const miss = await http.get(CLASSIC);
    const hit = await http.get(CLASSIC);
    expect(miss.cache).toBe('MISS');
    expect(hit.cache).toBe('HIT');
    expect(hit.headers.get('content-type')).toMatch(/^application\/json/);
    expect(hit.text).toBe(miss.text);
    expect(hit.json<PaymentsBody>().count).toBe(100_000);
    expect(paymentQueries(), 'the second request reached PostgreSQL').toBe(1);

    const stats = (await http.get('/cache/stats')).json<Stats>();
    expect(stats.entries).toBe(1);
    // The entry is the body's bytes plus the key: at least the body, and under the bound.
    expect(stats.bytes).toBeGreaterThanOrEqual(Buffer.byteLength(miss.text));
    expect(stats.bytes).toBeLessThan(Buffer.byteLength(miss.text) + 200);
    expect(stats.bytes).toBeLessThanOrEqual(DEFAULT_MAX_BYTES);
    expect(stats.maxBytes).toBe(DEFAULT_MAX_BYTES);
  });

  it('keys on every parameter: a different limit, from, to or investor is a different entry', async () => {
    const http = await start();
    const base = await http.get(payments('from=2024-01-01&to=2025-01-01&limit=50'));
    expect(base.cache).toBe('MISS');

    const fewer = await http.get(payments('from=2024-01-01&to=2025-01-01&limit=10'));
    expect(fewer.cache, 'limit=10 was served the entry of limit=50').toBe('MISS');
    expect(fewer.json<PaymentsBody>().count).toBe(10);

    const later = await http.get(payments('from=2024-06-01&to=2025-01-01&limit=50'));
    expect(later.cache, 'another `from` was served the entry of the first range').toBe('MISS');
    expect(later.json<PaymentsBody>().rows.every((r) => r.transaction_date >= '2024-06-01')).toBe(true);

    const shorter = await http.get(payments('from=2024-01-01&to=2024-01-02&limit=50'));
    expect(shorter.cache, 'another `to` was served the entry of the first range').toBe('MISS');
    expect(shorter.json<PaymentsBody>().rows.every((r) => r.transaction_date < '2024-01-02')).toBe(true);

    const other = await http.get('/payments?investor=INV00001&from=2024-01-01&to=2025-01-01&limit=50');
    expect(other.cache, 'another investor was served DEMO_INV’s entry').toBe('MISS');

    expect(paymentQueries()).toBe(5);
    expect((await http.get('/cache/stats')).json<Stats>().entries).toBe(5);
  });

  it('treats the same question written differently as one entry (the key comes from the normalised query)', async () => {
    const http = await start();
    await http.get(payments('from=2024-01-01&to=2024-02-01'));
    const reordered = await http.get('/payments?to=2024-02-01&from=2024-01-01&investor=demo_inv&limit=1000');
    expect(reordered.cache, 'the default limit, the order and the case of the id do not change the answer').toBe('HIT');
    expect(paymentQueries()).toBe(1);
  });

  it('does not cache a 400 or a 404', async () => {
    const http = await start();
    const bad = await http.get(payments('from=2024-01-01&to=2025-01-01&limit=-1'));
    expect(bad.status).toBe(400);
    expect(bad.cache).toBeUndefined();
    expect(services.queries.count, 'bad input must be rejected before any query').toBe(0);

    const missing = '/payments?investor=NOBODY&from=2024-01-01&to=2025-01-01';
    expect((await http.get(missing)).status).toBe(404);
    expect((await http.get(missing)).status).toBe(404);
    expect(services.queries.matching(/FROM investors/), 'a cached 404 would hide an investor created later').toBe(2);
    expect((await http.get('/cache/stats')).json<Stats>().entries).toBe(0);
  });

  it('evicts the least recently used answers when a small maxBytes is full', async () => {
    // About 9 kB per 50-row answer: 20 kB holds two of them.
    const http = await start({ cache: { maxBytes: 20_000 } });
    const ranges = ['2024-01', '2024-02', '2024-03', '2024-04'].map((m) =>
      payments(`from=${m}-01&to=2025-01-01&limit=50`),
    );
    for (const path of ranges) expect((await http.get(path)).cache).toBe('MISS');

    const stats = (await http.get('/cache/stats')).json<Stats>();
    expect(stats.bytes, 'the cache went over its byte bound').toBeLessThanOrEqual(20_000);
    expect(stats.entries).toBe(2);
    expect((await http.get(ranges[3] as string)).cache, 'the most recent answer should still be there').toBe('HIT');
    expect((await http.get(ranges[0] as string)).cache, 'the oldest answer should have been evicted').toBe('MISS');
  });

  it('does not store an answer larger than maxBytes, and still answers it', async () => {
    const http = await start({ cache: { maxBytes: 1_000_000 } });
    const first = await http.get(payments('from=2024-01-01&to=2025-01-01&limit=20000'));
    const second = await http.get(payments('from=2024-01-01&to=2025-01-01&limit=20000'));
    expect(first.status).toBe(200);
    expect(second.cache).toBe('MISS');
    expect(second.json<PaymentsBody>().count).toBe(20_000);
    expect((await http.get('/cache/stats')).json<Stats>()).toMatchObject({ entries: 0, bytes: 0 });
  });
});

describe('GET /investors/:id/summary', () => {
  it('is cached per investor', async () => {
    const http = await start();
    expect((await http.get('/investors/DEMO_INV/summary')).cache).toBe('MISS');
    expect((await http.get('/investors/demo_inv/summary')).cache).toBe('HIT');
    expect((await http.get('/investors/INV00001/summary')).cache).toBe('MISS');
    expect(paymentQueries()).toBe(2);
  });
});

describe('the limits of a per-process cache', () => {
  it('expires an entry after ttlMs on the injected clock', async () => {
    let now = 1_000_000;
    const http = await start({ cache: { ttlMs: 60_000 }, now: () => now });
    expect((await http.get('/employees/7')).cache).toBe('MISS');
    now += 60_000;
    expect((await http.get('/employees/7')).cache, 'an entry exactly ttlMs old is still fresh').toBe('HIT');
    now += 1;
    const expired = await http.get('/employees/7');
    expect(expired.cache, 'an entry older than ttlMs must be loaded again').toBe('MISS');
    expect(services.queries.matching(/FROM employees/)).toBe(2);
  });

  it('does not share entries between two apps: each process has its own cache', async () => {
    const one = await start();
    const two = await start();
    expect((await one.get('/employees/9')).cache).toBe('MISS');
    expect((await one.get('/employees/9')).cache).toBe('HIT');
    expect((await two.get('/employees/9')).cache, 'the second app saw the first one’s entry').toBe('MISS');
    expect(services.queries.matching(/FROM employees/)).toBe(2);
  });

  it('counts hits and misses in /cache/stats', async () => {
    const http = await start();
    await http.get('/employees/1');
    await http.get('/employees/1');
    await http.get('/employees/1');
    await http.get('/employees/2');
    const res = await http.get('/cache/stats');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json<Stats>()).toMatchObject({ entries: 2, hits: 2, misses: 2 });
  });

  it('rejects a nonsensical cache bound when the app is created', () => {
    expect(() => createApp({ db: services.db, cache: { maxBytes: 0 } })).toThrow(/maxBytes/);
  });
});
