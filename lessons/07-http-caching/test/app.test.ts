import { createHash } from 'node:crypto';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import {
  expectConsistent,
  type HttpHarness,
  hammerEmployeeNames,
  holdTheStoreOf,
  serve,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import CachePolicy from 'http-cache-semantics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppDeps, type AppLocals, createApp, KEY_VERSION } from '../src/app.ts';
import { decodeRepresentation, strongEtag } from '../src/representation.ts';

const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** One instance of the API with its own L1, and a count of the bodies it hashed. */
async function instance(name: string, options: Partial<AppDeps> = {}) {
  const redis = createRedisClient({ log: () => {} });
  const subscriber = createRedisClient({ log: () => {} });
  cleanups.push(() => {
    redis.disconnect();
    subscriber.disconnect();
  });
  await whenReady(redis);
  const hashed = { count: 0 };
  const app = createApp({
    db: services.db,
    redis,
    subscriber,
    keyPrefix: services.prefix,
    instanceId: name,
    etagOf: (body) => {
      hashed.count += 1;
      return strongEtag(body);
    },
    log: () => {},
    ...options,
  });
  const locals = app.locals as AppLocals;
  cleanups.push(() => locals.close());
  await locals.ready;
  const http = await serve(app);
  cleanups.push(() => http.close());
  return { http, hashed, redis };
}

const CLASSIC = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000';
const SMALL = '/payments?investor=DEMO_INV&from=2024-01-01&to=2024-02-01&limit=20';
const sha256Etag = (text: string) => `"${createHash('sha256').update(text).digest('base64url')}"`;
const patch = (http: HttpHarness, id: number, body: unknown) =>
  http.request(`/employees/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** http-cache-semantics 4.3 has these (index.js); @types/http-cache-semantics 4.2 does not declare them yet. */
type PolicyWithClock = CachePolicy & { now(): number; useStaleWhileRevalidate(): boolean };

/** The request and response as http-cache-semantics reads them. */
function policyOf(path: string, res: TestResponse, requestHeaders: Record<string, string> = {}, shared = true) {
  const request = { url: path, method: 'GET', headers: { host: '127.0.0.1', ...requestHeaders } };
  const response = { status: res.status, headers: Object.fromEntries(res.headers) };
  return { request, policy: new CachePolicy(request, response, { shared }) };
}

describe('validators: a strong ETag computed once, stored with the entry', () => {
  it('sends Cache-Control, a strong ETag that is the SHA-256 of the body, and Last-Modified', async () => {
    const { http } = await instance('a');
    const res = await http.get(SMALL);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=60, s-maxage=300, stale-while-revalidate=30');
    expect(res.headers.get('etag'), 'the ETag must be strong (no W/) and derived from the bytes sent').toBe(
      sha256Etag(res.text),
    );
    expect(new Date(res.headers.get('last-modified') ?? '').getTime()).toBeGreaterThan(0);
  });

  it('answers If-None-Match with the current ETag by 304: no body, the same validators and Cache-Control', async () => {
    const { http } = await instance('a');
    const full = await http.get(CLASSIC);
    const etag = full.headers.get('etag') as string;
    const notModified = await http.get(CLASSIC, { 'if-none-match': etag });
    expect(notModified.status).toBe(304);
    expect(notModified.text, 'a 304 has no body').toBe('');
    for (const header of ['etag', 'cache-control', 'last-modified']) {
      expect(notModified.headers.get(header), `the 304 must repeat ${header}`).toBe(full.headers.get(header));
    }
    expect(notModified.headers.get('content-length')).toBeNull();
    expect(services.queries.matching(/borrower_payments/), 'the 304 reached PostgreSQL').toBe(1);
  });

  it('answers an employee from L1 with the same validators, as a 200 or as a 304, saying so', async () => {
    const { http } = await instance('a');
    const miss = await http.get('/employees/18');
    const etag = miss.headers.get('etag') as string;
    const hit = await http.get('/employees/18');
    const notModified = await http.get('/employees/18', { 'if-none-match': etag });
    expect([miss.cache, hit.cache, notModified.cache]).toEqual(['MISS', 'HIT', 'HIT']);
    expect([hit.status, notModified.status]).toEqual([200, 304]);
    expect(hit.text).toBe(miss.text);
    expect(hit.headers.get('content-type')).toBe('application/json; charset=utf-8');
    for (const res of [hit, notModified]) {
      expect(res.headers.get('x-cache-level')).toBe('L1');
      expect(res.timing.l1).toBeGreaterThanOrEqual(0);
      for (const header of ['etag', 'cache-control', 'last-modified']) {
        expect(res.headers.get(header), header).toBe(miss.headers.get(header));
      }
    }
  });

  it('hashes a body once per cache fill, never per request: the 304s and 200s that follow hash nothing', async () => {
    const { http, hashed } = await instance('a');
    const first = await http.get(CLASSIC);
    expect(first.timing.etag, 'the fill shows its hashing time in Server-Timing').toBeGreaterThan(0);
    const etag = first.headers.get('etag') as string;
    for (let i = 0; i < 3; i++) {
      const again = await http.get(CLASSIC);
      expect(again.status).toBe(200);
      expect(again.timing.etag, 'a cache hit must not hash the body').toBeUndefined();
      expect((await http.get(CLASSIC, { 'if-none-match': etag })).status).toBe(304);
    }
    expect(hashed.count, 'the body was hashed more than once').toBe(1);
  });

  it('gives the same ETag and Last-Modified on every instance, so any of them can answer 304', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const fromA = await a.http.get('/employees/12');
    const fromB = await b.http.get('/employees/12', { 'if-none-match': fromA.headers.get('etag') as string });
    expect(fromB.status, 'instance b did not recognise the ETag instance a sent').toBe(304);
    expect(fromB.headers.get('last-modified')).toBe(fromA.headers.get('last-modified'));
    expect(b.hashed.count, 'b hashed a body it found in L2 with its ETag').toBe(0);
  });

  it('computes the same ETag again for the same bytes after the entry is gone', async () => {
    const a = await instance('a');
    const before = await a.http.get('/employees/13');
    await services.clearRedis();
    const b = await instance('b'); // a cold L1 and an empty L2: a new fill
    const after = await b.http.get('/employees/13');
    expect(after.cache).toBe('MISS');
    expect(after.headers.get('etag'), 'the same bytes got another ETag').toBe(before.headers.get('etag'));
  });
});

describe('If-None-Match and If-Modified-Since', () => {
  it('answers a stale ETag with 200 and the current body', async () => {
    const { http } = await instance('a');
    const res = await http.get('/employees/14', { 'if-none-match': '"an-old-version"' });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: 14 });
  });

  it('answers 304 when any tag of a list matches, W/ or not, and for If-None-Match: *', async () => {
    const { http } = await instance('a');
    const etag = (await http.get('/employees/15')).headers.get('etag') as string;
    expect((await http.get('/employees/15', { 'if-none-match': `"old", ${etag}` })).status).toBe(304);
    expect((await http.get('/employees/15', { 'if-none-match': `W/${etag}` })).status).toBe(304);
    expect((await http.get('/employees/15', { 'if-none-match': '*' })).status).toBe(304);
    expect((await http.get('/employees/15', { 'if-none-match': '"old", "older"' })).status).toBe(200);
  });

  it('answers a conditional request for something that does not exist with 404, never 304', async () => {
    const { http } = await instance('a');
    for (const condition of ['*', '"whatever"']) {
      const res = await http.get('/employees/999999999', { 'if-none-match': condition });
      expect(res.status).toBe(404);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('etag')).toBeNull();
    }
  });

  it('changes the ETag when the data changes: after a PATCH the old ETag gets a 200 with the new row', async () => {
    const { http } = await instance('a');
    const before = await http.get('/employees/16');
    const oldEtag = before.headers.get('etag') as string;
    expect((await patch(http, 16, { name: 'Grace Hopper' })).status).toBe(200);
    const after = await http.get('/employees/16', { 'if-none-match': oldEtag });
    expect(after.status, 'a client holding the old row was told it is still current').toBe(200);
    expect(after.json<{ name: string }>().name).toBe('Grace Hopper');
    expect(after.headers.get('etag')).not.toBe(oldEtag);
    expect((await http.get('/employees/16', { 'if-none-match': after.headers.get('etag') as string })).status).toBe(
      304,
    );
  });

  it('never confirms the old ETag after a PATCH that overtook a load (the stale-set race, forced): 200 with the new row on both instances', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const id = 18;
    const key = cacheKey({ prefix: services.prefix, name: 'employee', version: KEY_VERSION, params: { id } });
    const oldEtag = (await a.http.get(`/employees/${id}`)).headers.get('etag') as string;
    await services.redis.del(key); // b must load the row itself
    // b misses and loads the old row; the test holds its store while a renames the employee.
    const held = holdTheStoreOf(b.redis, key);
    const reading = b.http.get(`/employees/${id}`);
    await held.reached;
    expect((await patch(a.http, id, { name: 'Renamed During The Load' })).status).toBe(200);
    held.release();
    expect((await reading).headers.get('etag'), 'the GET began before the PATCH: it answers the old row').toBe(oldEtag);
    expect(
      await services.redis.getBuffer(key),
      "b stored the old row after a's PATCH deleted it: a 304 would confirm the old ETag for a whole L2 TTL",
    ).toBeNull();
    for (const [name, http] of [
      ['a', a.http],
      ['b', b.http],
    ] as const) {
      const res = await http.get(`/employees/${id}`, { 'if-none-match': oldEtag });
      expect(res.status, `instance ${name} told a client holding the old row that it is still current`).toBe(200);
      expect(res.json<{ name: string }>().name).toBe('Renamed During The Load');
    }
  });

  it('stays consistent under a hammer: readers with their ETags and PATCHes on two instances, then every key agrees everywhere', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const key = (id: number) =>
      cacheKey({ prefix: services.prefix, name: 'employee', version: KEY_VERSION, params: { id } });
    const report = await hammerEmployeeNames({
      instances: [a, b],
      ids: [24, 25, 26, 27],
      db: services.db,
      cached: async (id) => {
        const stored = await services.redis.getBuffer(key(id));
        const representation = stored && decodeRepresentation(stored);
        return representation ? (JSON.parse(String(representation.body)) as { name: string }).name : undefined;
      },
    });
    expectConsistent(report);
  });

  it('honours If-Modified-Since against Last-Modified, the later of updated_at and status_updated_at', async () => {
    const { http } = await instance('a');
    const res = await http.get('/employees/17');
    const body = res.json<{ updated_at: string; status_updated_at: string }>();
    const changed = Math.max(Date.parse(body.updated_at), Date.parse(body.status_updated_at));
    const lastModified = res.headers.get('last-modified') as string;
    expect(Date.parse(lastModified)).toBe(Math.floor(changed / 1000) * 1000);
    const later = new Date(Date.parse(lastModified) + 1000).toUTCString();
    expect((await http.get('/employees/17', { 'if-modified-since': later })).status).toBe(304);
    // The same second as Last-Modified: another write in that second would look the same.
    expect((await http.get('/employees/17', { 'if-modified-since': lastModified })).status).toBe(200);
    const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString();
    expect((await http.get('/employees/17', { 'if-modified-since': earlier })).status).toBe(200);
    expect((await http.get('/employees/17', { 'if-modified-since': 'not a date' })).status).toBe(200);
  });

  it('answers a conditional HEAD like a conditional GET', async () => {
    const { http } = await instance('a');
    const etag = (await http.get('/investors/DEMO_INV/summary')).headers.get('etag') as string;
    const head = await http.request('/investors/DEMO_INV/summary', {
      method: 'HEAD',
      headers: { 'if-none-match': etag },
    });
    expect(head.status).toBe(304);
  });
});

describe('what a client cache makes of it (http-cache-semantics, RFC 9111)', () => {
  it('stores the payments and keeps them fresh for exactly max-age in a browser and s-maxage in a CDN', async () => {
    const { http } = await instance('a');
    const res = await http.get(SMALL);
    const browser = policyOf(SMALL, res, {}, false).policy as PolicyWithClock;
    const cdn = policyOf(SMALL, res, {}, true).policy;
    expect(browser.storable()).toBe(true);
    expect(cdn.storable()).toBe(true);
    expect(browser.maxAge()).toBe(60);
    expect(cdn.maxAge()).toBe(300);
    const request = { url: SMALL, method: 'GET', headers: { host: '127.0.0.1' } };
    expect(browser.satisfiesWithoutRevalidation(request)).toBe(true);
    // Move the browser's clock (http-cache-semantics documents now() as the seam for this).
    const received = Date.now();
    browser.now = () => received + 59_000;
    expect(browser.stale(), 'stale before max-age').toBe(false);
    browser.now = () => received + 61_000;
    expect(browser.stale(), 'still fresh after max-age').toBe(true);
    expect(browser.useStaleWhileRevalidate(), 'stale-while-revalidate=30 should still allow the copy').toBe(true);
    browser.now = () => received + 91_000;
    expect(browser.useStaleWhileRevalidate()).toBe(false);
  });

  it('revalidates a stale copy to a 304 that the cache accepts as "not modified"', async () => {
    const { http } = await instance('a');
    const res = await http.get('/employees/18');
    const { request, policy } = policyOf('/employees/18', res, {}, false);
    expect(policy.storable(), 'no-cache may be stored').toBe(true);
    expect(policy.satisfiesWithoutRevalidation(request), 'no-cache must be revalidated before each use').toBe(false);

    const headers = policy.revalidationHeaders(request) as Record<string, string>;
    expect(headers['if-none-match']).toBe(res.headers.get('etag'));
    expect(headers['if-modified-since']).toBe(res.headers.get('last-modified'));
    const revalidation = await http.get('/employees/18', headers);
    expect(revalidation.status).toBe(304);
    const updated = policy.revalidatedPolicy(request, {
      status: revalidation.status,
      headers: Object.fromEntries(revalidation.headers),
    });
    expect(updated.modified, 'the cache would throw its copy away').toBe(false);
    expect(updated.matches, 'the 304 did not match the stored copy (same strong ETag)').toBe(true);
    expect(updated.policy.responseHeaders()['cache-control']).toBe('no-cache');
  });

  it('does not let errors be stored by anyone', async () => {
    const { http } = await instance('a');
    for (const path of ['/employees/999999999', '/employees/abc', '/payments?investor=DEMO_INV&limit=-1']) {
      const res = await http.get(path);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(policyOf(path, res, {}, false).policy.storable(), `${path} is storable`).toBe(false);
    }
  });
});

describe('GET /me: per-user, private, Vary: Authorization', () => {
  const as = (user: number) => ({ authorization: `Bearer ${user}` });

  it('answers each user with their own profile, private and varying on Authorization', async () => {
    const { http } = await instance('a');
    const ada = await http.get('/me', as(21));
    const bob = await http.get('/me', as(22));
    expect(ada.json()).toMatchObject({ id: 21 });
    expect(bob.json(), 'the second user got the first user’s cached profile').toMatchObject({ id: 22 });
    for (const res of [ada, bob]) {
      expect(res.headers.get('cache-control')).toBe('private, no-cache');
      expect(res.headers.get('vary')).toMatch(/\bAuthorization\b/i);
    }
    expect(ada.headers.get('etag')).not.toBe(bob.headers.get('etag'));
  });

  it('is not storable by a shared cache, and storable by the browser', async () => {
    const { http } = await instance('a');
    const res = await http.get('/me', as(21));
    expect(policyOf('/me', res, as(21), true).policy.storable(), 'a CDN may store a per-user response').toBe(false);
    expect(policyOf('/me', res, as(21), false).policy.storable()).toBe(true);
  });

  it('repeats private and Vary on the 304', async () => {
    const { http } = await instance('a');
    const etag = (await http.get('/me', as(23))).headers.get('etag') as string;
    const res = await http.get('/me', { ...as(23), 'if-none-match': etag });
    expect(res.status).toBe(304);
    expect(res.headers.get('cache-control')).toBe('private, no-cache');
    expect(res.headers.get('vary')).toMatch(/\bAuthorization\b/i);
  });

  it('answers 401 no-store without credentials, with bad ones, or as an employee that does not exist', async () => {
    const { http } = await instance('a');
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer nobody' },
      { authorization: 'Bearer 999999999' },
    ];
    for (const headers of attempts) {
      const res = await http.get('/me', headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });
});
