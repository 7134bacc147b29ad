import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { createTokens } from '../src/auth.ts';
import { AUTH_SECRET, useInstances } from './instances.ts';

const services = useServices();
const instance = useInstances(services);
const tokens = createTokens(AUTH_SECRET);
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

const bearer = (id: number) => ({ authorization: `Bearer ${tokens.issue(id)}` });
const idOf = (res: { json: <T>() => T }) => res.json<{ id: number }>().id;

describe('per-user data', () => {
  it("answers GET /me with the caller's own profile, from an entry keyed on the verified user", async () => {
    const app = await instance('a');
    const seven = await app.http.get('/me', bearer(7));
    const eight = await app.http.get('/me', bearer(8));
    expect([seven.status, eight.status]).toEqual([200, 200]);
    expect(idOf(seven)).toBe(7);
    expect(idOf(eight), "user 8 was served user 7's profile").toBe(8);
    const sevenAgain = await app.http.get('/me', bearer(7));
    expect([sevenAgain.cache, idOf(sevenAgain)]).toEqual(['HIT', 7]);
    expect(sevenAgain.headers.get('cache-control')).toBe('private, no-store');
    expect(sevenAgain.headers.get('vary')).toMatch(/Authorization/i);
    const keys = await services.redisKeys();
    expect(keys.filter((k) => k.includes('me:v1:'))).toEqual([
      `${services.prefix}me:v1:user=7`,
      `${services.prefix}me:v1:user=8`,
    ]);
  });

  it.each([
    ['no credentials at all', {}],
    ['a token with a forged signature', { authorization: `Bearer 7.${'A'.repeat(43)}` }],
    ["another user's id in a header the client sets", { 'x-user-id': '7' }],
    ['a token signed with another secret', { authorization: `Bearer ${createTokens('x'.repeat(32)).issue(7)}` }],
  ])('answers 401, never a cached profile, for %s', async (_what, headers) => {
    const app = await instance('a');
    await app.http.get('/me', bearer(7)); // user 7's profile is cached now
    const res = await app.http.get('/me', headers);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(res.text).not.toContain('"email"');
  });

  it('never answers a request with Authorization from a shared entry, and never stores its answer in one', async () => {
    const app = await instance('a');
    // A shared entry exists for employee 9…
    const anonymous = await app.http.get('/employees/9');
    expect(anonymous.cache).toBe('MISS');
    expect(anonymous.headers.get('vary'), 'the anonymous answer varies by user too: say so to caches').toMatch(
      /Authorization/i,
    );
    expect(anonymous.headers.get('cache-control'), 'a cache may keep it, but must revalidate').toBe('no-cache');
    const hit = await app.http.get('/employees/9');
    expect(hit.headers.get('x-cache-level')).toBe('L1');
    expect(hit.headers.get('vary'), 'an L1 hit says the same').toBe('Authorization');
    expect(hit.headers.get('cache-control')).toBe('no-cache');
    expect((await app.http.get('/employees/999999')).headers.get('vary'), 'and so does a 404').toBe('Authorization');
    services.queries.reset();
    // …but an authenticated request is answered by PostgreSQL, not from it.
    const authed = await app.http.get('/employees/9', bearer(9));
    expect(authed.status).toBe(200);
    expect(authed.cache).toBe('BYPASS');
    expect(authed.headers.get('cache-control')).toBe('private, no-store');
    expect(authed.headers.get('vary')).toMatch(/Authorization/i);
    expect(services.queries.matching(/FROM employees/)).toBe(1);
    // An authenticated request for a cold key does not create the shared entry either.
    await app.http.get('/employees/10', { cookie: 'session=abc' });
    expect((await services.redisKeys()).some((k) => k.includes('employee:v1:id=10'))).toBe(false);
    expect((await app.http.get('/employees/10')).cache).toBe('MISS');
  });

  it('serves the shared summary to a request with a cookie: its answer does not depend on who asks', async () => {
    const app = await instance('a');
    expect((await app.http.get('/investors/DEMO_INV/summary')).cache).toBe('MISS');
    services.queries.reset();
    const withCookie = await app.http.get('/investors/DEMO_INV/summary', { cookie: 'a=1' });
    expect(withCookie.status).toBe(200);
    expect(withCookie.cache, 'a cookie sent the summary to PostgreSQL although nobody sees a different one').toBe(
      'HIT',
    );
    expect(services.queries.count, 'the request with a cookie cost a query').toBe(0);
    const withToken = await app.http.get('/investors/DEMO_INV/summary', bearer(7));
    expect([withToken.cache, services.queries.count]).toEqual(['HIT', 0]);
  });

  it('lets a request with credentials fill a public entry, and an anonymous caller then gets the same bytes', async () => {
    const app = await instance('a');
    const path = '/payments?investor=DEMO_INV&from=2024-03-01&to=2024-03-02&limit=5';
    const first = await app.http.get(path, { cookie: 'session=abc' });
    expect(first.cache).toBe('MISS');
    const anonymous = await app.http.get(path);
    expect(anonymous.cache).toBe('HIT');
    expect(anonymous.text).toBe(first.text);
  });
});

describe('keys that user input cannot forge, collide or blow up', () => {
  it('encodes values, so a value that looks like another parameter is another key', () => {
    const forged = cacheKey({ name: 'card', params: { id: '1&lang=fr' } });
    const real = cacheKey({ name: 'card', params: { id: '1', lang: 'fr' } });
    expect(forged).not.toBe(real);
    // Naive concatenation collides: "a:b" + "c" and "a" + "b:c" are both "a:b:c".
    expect(cacheKey({ name: 'x', params: { a: 'a:b', b: 'c' } })).not.toBe(
      cacheKey({ name: 'x', params: { a: 'a', b: 'b:c' } }),
    );
  });

  it('hashes a long parameter part, so a key stays short whatever a client sends', () => {
    const key = cacheKey({ prefix: 'cachelab:10:', name: 'search', params: { q: 'x'.repeat(100_000) } });
    expect(key.length).toBeLessThan(100);
    expect(key).toMatch(/^cachelab:10:search:v1:#[A-Za-z0-9_-]{43}$/);
  });

  it('keeps one card entry per supported language, however many Accept-Language values an attacker sends', async () => {
    const app = await instance('a');
    const hostile = Array.from({ length: 40 }, (_, i) => `x-${i};q=1, fr;q=0.${i % 9}, ${'z'.repeat(i)}`);
    for (const value of hostile) {
      expect((await app.http.get('/employees/11/card', { 'accept-language': value })).status).toBe(200);
    }
    const cards = (await services.redisKeys()).filter((k) => k.includes('card:'));
    expect(cards.length, `one entry per header value is a memory attack: ${cards.join(', ')}`).toBeLessThanOrEqual(3);
  });
});

describe('no secrets in cached values, keys or logs', () => {
  it('keeps tokens and the signing secret out of Redis and out of the log, whatever the request', async () => {
    const app = await instance('a');
    const good = tokens.issue(12);
    const forged = `12.${'B'.repeat(43)}`;
    await app.http.get('/me', { authorization: `Bearer ${good}` });
    await app.http.get('/me', { authorization: `Bearer ${forged}` });
    await app.http.get('/employees/12', { authorization: `Bearer ${good}` });
    await app.http.get('/employees/12/card');
    const keys = await services.redisKeys();
    expect(keys.length).toBeGreaterThan(0);
    const values = await Promise.all(keys.map((k) => services.redis.getBuffer(k)));
    const everything = [...keys, ...values.map((v) => v?.toString('latin1') ?? ''), ...app.logs].join('\n');
    for (const secret of [good, forged, good.split('.')[1] as string, AUTH_SECRET]) {
      expect(everything.includes(secret), `found a credential in Redis or the log: ${secret.slice(0, 12)}…`).toBe(
        false,
      );
    }
  });
});

describe('cache poisoning through headers the key ignores', () => {
  const attacker = { 'x-forwarded-host': 'evil.example', 'accept-language': 'de' };

  it('THE ATTACK (the insecure card): one request with X-Forwarded-Host and Accept-Language rewrites what everybody gets', async () => {
    const app = await instance('a', { deps: { insecureCardKey: true } });
    const poisoned = await app.http.get('/employees/13/card', attacker);
    expect(poisoned.cache).toBe('MISS');
    const victim = await app.http.get('/employees/13/card');
    expect(victim.cache).toBe('HIT');
    const body = victim.json<{ lang: string; profile: string }>();
    expect(body.profile, 'the victim got the attacker’s link').toBe('http://evil.example/employees/13');
    expect(body.lang, 'and the attacker’s language').toBe('de');
  });

  it('THE FIX: the link comes from configuration and the negotiated language is in the key', async () => {
    const app = await instance('a', { deps: { publicBaseUrl: 'https://api.example.com' } });
    const attempt = await app.http.get('/employees/13/card', attacker);
    expect(attempt.json<{ profile: string }>().profile).toBe('https://api.example.com/employees/13');
    const victim = await app.http.get('/employees/13/card');
    const body = victim.json<{ lang: string; profile: string }>();
    expect(body).toMatchObject({ lang: 'en', profile: 'https://api.example.com/employees/13' });
    expect(victim.cache, 'the victim’s English card is its own entry, not the German one').toBe('MISS');
    expect(victim.headers.get('vary')).toMatch(/Accept-Language/i);
    expect(victim.headers.get('content-language')).toBe('en');
    const french = await app.http.get('/employees/13/card', { 'accept-language': 'fr-CH, fr;q=0.9, en;q=0.8' });
    expect(french.json<{ lang: string }>().lang).toBe('fr');
  });
});
