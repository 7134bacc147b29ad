import { type HttpHarness, serve } from '@cachelab/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createUpstreamApp } from '../src/upstream-app.ts';
import { startUpstreamStub, type UpstreamStub, type UpstreamStubOptions } from '../src/upstream-stub.ts';

// Everything here is counted (requests that reached the stub) or read from an injected clock:
// no assertion on how long anything took. The stub's latency is small, to keep the file quick.
const opened: { stub: UpstreamStub; http: HttpHarness }[] = [];
afterEach(async () => {
  for (const { stub, http } of opened.splice(0)) await Promise.all([http.close(), stub.close()]);
});

async function setup(stubOptions: UpstreamStubOptions = {}, cache: { staleIfErrorMs?: number; cache?: boolean } = {}) {
  const stub = await startUpstreamStub({ latencyMs: 20, limit: 1000, maxAgeSeconds: 60, ...stubOptions });
  let nowMs = 1_000_000;
  const clock = {
    advance(ms: number) {
      nowMs += ms;
    },
  };
  const app = createUpstreamApp({ baseUrl: stub.url, now: () => nowMs, log: () => {}, ...cache });
  const http = await serve(app);
  opened.push({ stub, http });
  return { stub, http, clock, app };
}

const version = (text: string) => (JSON.parse(text) as { version: number }).version;

describe('a cache in front of a slow upstream API', () => {
  it("answers from the cache while the upstream's max-age lasts, and asks again after it", async () => {
    const { stub, http, clock } = await setup({ maxAgeSeconds: 60 });
    expect((await http.get('/rates/EUR')).cache).toBe('MISS');
    clock.advance(59_000);
    const hit = await http.get('/rates/EUR');
    expect(hit.cache).toBe('HIT');
    expect(hit.headers.get('age')).toBe('59');
    expect(hit.headers.get('cache-control')).toBe('public, max-age=1');
    expect(stub.stats.requests, 'a request within max-age reached the upstream').toBe(1);
    stub.bump();
    clock.advance(1_000);
    const refreshed = await http.get('/rates/EUR');
    expect(refreshed.cache, 'an answer past its max-age was still served as fresh').toBe('MISS');
    expect(version(refreshed.text)).toBe(2);
    expect(stub.stats.requests).toBe(2);
  });

  it('sends one upstream request for 100 concurrent misses of one path', async () => {
    const { stub, http } = await setup();
    const answers = await Promise.all(Array.from({ length: 100 }, () => http.get('/rates/USD')));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(stub.stats.requests, 'concurrent misses were not collapsed into one request').toBe(1);
  });

  it('stores nothing the upstream marks no-store, private or no-cache', async () => {
    for (const cc of ['no-store', 'private, max-age=60', 'no-cache, max-age=60']) {
      const { stub, http } = await setup();
      stub.setCacheControl(cc);
      await http.get('/rates/EUR');
      expect((await http.get('/rates/EUR')).cache, `an answer with Cache-Control: ${cc} was stored`).toBe('MISS');
      expect(stub.stats.requests).toBe(2);
    }
  });

  it('serves the stale answer when the upstream fails, for staleIfErrorMs past its freshness and no longer', async () => {
    const { stub, http, clock } = await setup({ maxAgeSeconds: 60 }, { staleIfErrorMs: 30_000 });
    await http.get('/rates/EUR');
    stub.fail(503);
    clock.advance(60_000 + 29_000); // 29 s past max-age
    const stale = await http.get('/rates/EUR');
    expect(stale.status, 'a failing upstream turned a stale-able answer into an error').toBe(200);
    expect(stale.cache).toBe('STALE');
    expect(stale.headers.get('cache-control')).toBe('public, max-age=0');
    expect(version(stale.text)).toBe(1);

    clock.advance(1_000); // 30 s past max-age: the bound
    const tooOld = await http.get('/rates/EUR');
    expect(tooOld.status, 'a stale answer was served past staleIfErrorMs').toBe(502);
    expect(tooOld.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(tooOld.headers.get('cache-control')).toBe('no-store');
  });

  it("takes the bound from the upstream's stale-if-error, and never serves stale under must-revalidate", async () => {
    const sie = await setup({ maxAgeSeconds: 10, cacheControl: 'stale-if-error=5' }, { staleIfErrorMs: 600_000 });
    await sie.http.get('/rates/EUR');
    sie.stub.fail(500);
    sie.clock.advance(14_000);
    expect((await sie.http.get('/rates/EUR')).cache).toBe('STALE');
    sie.clock.advance(1_000);
    expect((await sie.http.get('/rates/EUR')).status, "stale past the upstream's stale-if-error=5").toBe(502);

    const mr = await setup({ maxAgeSeconds: 10, cacheControl: 'must-revalidate' }, { staleIfErrorMs: 600_000 });
    await mr.http.get('/rates/EUR');
    mr.stub.fail(500);
    mr.clock.advance(10_000);
    expect((await mr.http.get('/rates/EUR')).status, 'a must-revalidate answer was served stale').toBe(502);
  });

  it('asks a failing upstream once per path per errorBackoffMs while it has a stale copy to serve', async () => {
    const { stub, http, clock } = await setup({ maxAgeSeconds: 1 });
    await http.get('/rates/EUR');
    stub.fail(503);
    clock.advance(2_000);
    for (let i = 0; i < 10; i++) expect((await http.get('/rates/EUR')).cache).toBe('STALE');
    expect(stub.stats.requests, 'every stale answer asked the failing upstream again').toBe(2);
    clock.advance(1_000);
    expect((await http.get('/rates/EUR')).cache).toBe('STALE');
    expect(stub.stats.requests, 'the upstream was not asked again after errorBackoffMs').toBe(3);
  });

  it('never stores a 5xx or a 429 as the answer: the next request after the outage gets the real one', async () => {
    const { stub, http } = await setup();
    stub.fail(503);
    expect((await http.get('/rates/GBP')).status).toBe(502);
    stub.restore();
    const after = await http.get('/rates/GBP');
    expect(after.status, 'the 503 was kept as the answer').toBe(200);
    expect(after.cache).toBe('MISS');
  });

  it("turns a 429 into a 503 with the upstream's Retry-After, and sends nothing more until it has passed", async () => {
    const { stub, http, clock } = await setup();
    stub.fail(429, 30);
    const limited = await http.get('/rates/JPY');
    expect(limited.status).toBe(503);
    expect(limited.headers.get('retry-after')).toBe('30');
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    stub.restore();
    clock.advance(10_000);
    const held = await http.get('/rates/JPY');
    expect(held.status).toBe(503);
    expect(held.headers.get('retry-after')).toBe('20');
    expect(stub.stats.requests, 'a request reached the upstream before its Retry-After had passed').toBe(1);
    clock.advance(20_000);
    const after = await http.get('/rates/JPY');
    expect(after.status, 'the 429 was kept as the answer after its Retry-After').toBe(200);
    expect(stub.stats.requests).toBe(2);
  });

  it('answers a stale copy, not a 503, while the upstream rate-limits us', async () => {
    const { stub, http, clock } = await setup({ maxAgeSeconds: 1 });
    await http.get('/rates/CHF');
    stub.fail(429, 5);
    clock.advance(2_000);
    expect((await http.get('/rates/CHF')).cache).toBe('STALE');
    expect((await http.get('/rates/CHF')).cache).toBe('STALE');
    expect(stub.stats.requests, 'the held-back request still reached the upstream').toBe(2);
  });

  it('rejects a malformed currency with a 400 problem+json, before anything reaches the upstream', async () => {
    const { stub, http } = await setup();
    for (const bad of ['eur', 'EURO', 'E1R', '%E2%82%AC']) {
      const res = await http.get(`/rates/${bad}`);
      expect(res.status, `/rates/${bad}`).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    expect(stub.stats.requests).toBe(0);
  });

  it('without the cache, every request reaches the upstream (the baseline of the measurement)', async () => {
    const { stub, http } = await setup({}, { cache: false });
    await Promise.all(Array.from({ length: 20 }, () => http.get('/rates/EUR')));
    expect(stub.stats.requests).toBe(20);
  });
});
