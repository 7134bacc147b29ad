import { createRedisClient } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { createTokens } from '@cachelab/lesson-10-production/auth';
import { captureServerLog, type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { keyFor, type RequestFacts } from '../src/cache-rules.ts';

/**
 * Two employees sign in (7 and 8) and an anonymous visitor browses. Whatever order they come
 * in, nobody may be served somebody else's answer: not /me, not the email address that only
 * signed-in callers see. The tests change rows behind the cache's back (a direct UPDATE) to
 * tell an answer that came from an old entry from one that came from PostgreSQL.
 */
const services = useServices();
const SECRET = 'exercise-13-test-secret-0123456789';
const tokens = createTokens(SECRET);
/**
 * What the app logged. No request of these tests may fail: through `serverLog.failOn5xx`, a 5xx
 * stops the test at once with what the server logged (the answer only says "see the server log").
 */
const serverLog = captureServerLog();
let http: HttpHarness;

beforeEach(async () => {
  await services.clearRedis();
  serverLog.clear();
  http = serverLog.failOn5xx(
    await serve(
      createApp({
        db: services.db,
        redis: services.redis,
        keyPrefix: services.prefix,
        authSecret: SECRET,
        log: serverLog.log,
      }),
    ),
  );
});
afterEach(() => http.close());

const as = (user: number, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${tokens.issue(user)}`,
  ...extra,
});
const body = (res: TestResponse) => res.json<{ id: number; name: string; email?: string }>();
const rename = (id: number, name: string) =>
  services.db.query('UPDATE employees SET name = $1 WHERE id = $2', [name, id]);

describe('GET /me: per-user data', () => {
  it('answers every user with their own profile, whoever asked first', async () => {
    expect(body(await http.get('/me', as(7))).id).toBe(7);
    const eight = await http.get('/me', as(8));
    expect(eight.status).toBe(200);
    expect(body(eight).id, "user 8 was served user 7's profile: the /me entry is not keyed on the user").toBe(8);
  });

  it('still caches /me, once per user: the second request of the same user is a HIT', async () => {
    await http.get('/me', as(7));
    await http.get('/me', as(8));
    const again = await http.get('/me', as(7));
    expect(body(again).id).toBe(7);
    expect(again.cache, "/me should be cached per user (a HIT for the user's second request)").toBe('HIT');
  });

  it('cannot be steered by a header the client sets: user 8 asking "as 7" still gets their own profile', async () => {
    await http.get('/me', as(7)); // user 7's profile is in the cache now
    const sneaky = await http.get('/me', as(8, { 'x-user-id': '7', 'x-forwarded-user': '7' }));
    expect(sneaky.status).toBe(200);
    expect(
      body(sneaky).id,
      "user 8 read user 7's cached profile by sending X-User-Id / X-Forwarded-User: key on the VERIFIED user, never on a header",
    ).toBe(8);
  });

  it('never puts a credential in a cache key: the key holds the user the token proved, not the token', async () => {
    await http.get('/me', as(7));
    await http.get('/me', as(8));
    const keys = await services.redisKeys();
    expect(keys.length, '/me as users 7 and 8 should leave one cache entry per user').toBe(2);
    const leaking = keys.filter((key) =>
      [tokens.issue(7), tokens.issue(8)].some(
        (token) => key.includes(token) || key.includes(encodeURIComponent(token)),
      ),
    );
    expect(
      leaking,
      'a cache key holds a bearer token: anyone who can list Redis keys (a monitoring tool, a support account) could copy it and sign in as that user. Key /me on the user the token proved (facts.user), never on the Authorization header',
    ).toEqual([]);
  });

  it('answers 401 without a valid token, whatever headers say who the caller is', async () => {
    await http.get('/me', as(7));
    const res = await http.get('/me', { 'x-user-id': '7', 'x-forwarded-user': '7' });
    expect(res.status).toBe(401);
  });
});

describe('GET /employees/:id: shared for anonymous visitors, never for signed-in callers', () => {
  it('is cached for anonymous visitors: MISS, then HIT, without an email address', async () => {
    const first = await http.get('/employees/5');
    const second = await http.get('/employees/5');
    expect([first.cache, second.cache], 'anonymous requests should share one cached entry').toEqual(['MISS', 'HIT']);
    expect(body(second).email, 'an anonymous visitor must never see an email address').toBeUndefined();
  });

  it("never stores a signed-in caller's answer where anonymous visitors read", async () => {
    const signedIn = await http.get('/employees/6', as(7));
    expect(body(signedIn).email, 'a signed-in caller sees the email').toMatch(/@/);
    const anonymous = await http.get('/employees/6');
    expect(
      body(anonymous).email,
      'an anonymous visitor was served the email address a signed-in request had cached in the shared entry',
    ).toBeUndefined();
  });

  it('never answers a signed-in caller from the entry anonymous visitors share', async () => {
    await http.get('/employees/9'); // the shared, anonymous entry
    await rename(9, 'Renamed After The Anonymous Read');
    const signedIn = await http.get('/employees/9', as(7));
    expect(signedIn.status).toBe(200);
    expect(body(signedIn).name, 'a request with Authorization was answered from the shared entry').toBe(
      'Renamed After The Anonymous Read',
    );
    expect(body(signedIn).email, 'a signed-in caller sees the email').toMatch(/@/);
  });

  it('treats a cookie as a credential: a request with a Cookie neither reads nor fills the shared entry', async () => {
    const cookie = { cookie: 'session=s3ss10n-of-employee-7' };
    await http.get('/employees/11'); // the shared, anonymous entry
    await rename(11, 'Renamed After The Anonymous Read');
    const withCookie = await http.get('/employees/11', cookie);
    expect(withCookie.status).toBe(200);
    expect(
      body(withCookie).name,
      'a request with a Cookie was answered from the entry anonymous visitors share: a cookie is a credential (a session), like Authorization',
    ).toBe('Renamed After The Anonymous Read');

    await services.clearRedis();
    await http.get('/employees/12', cookie);
    const anonymous = await http.get('/employees/12');
    expect(
      anonymous.cache,
      'a request with a Cookie filled the entry anonymous visitors share (their next request was a HIT): what a signed-in session was answered must never be stored where others read',
    ).toBe('MISS');
  });

  it('never lets two signed-in users share one entry either', async () => {
    await http.get('/employees/10', as(7));
    await rename(10, 'Renamed After User 7 Read');
    const eight = await http.get('/employees/10', as(8));
    expect(body(eight).name, "user 8 was answered from the entry user 7's request filled: that is a shared entry").toBe(
      'Renamed After User 7 Read',
    );
  });
});

describe('what HTTP caches and a Redis outage see', () => {
  it('says Vary: Authorization on every /employees/:id answer, no-cache when anonymous, private when signed in, no ETag', async () => {
    const anonymous = await http.get('/employees/7');
    expect(anonymous.headers.get('vary'), 'the answer depends on who asks: caches must key on it').toMatch(
      /Authorization/i,
    );
    expect(anonymous.headers.get('cache-control')).toBe('no-cache');
    const signedIn = await http.get('/employees/7', as(8));
    expect(signedIn.headers.get('vary')).toMatch(/Authorization/i);
    expect(signedIn.headers.get('cache-control'), 'the answer with the email is for this caller only').toBe(
      'private, no-store',
    );
    expect(signedIn.headers.get('etag'), 'a validator on a per-user answer').toBeNull();
  });

  it('answers from PostgreSQL with X-Cache: BYPASS when Redis is unreachable, never a 500', async () => {
    const down = createRedisClient({ url: 'redis://127.0.0.1:1', log: () => {} });
    const app = serverLog.failOn5xx(
      await serve(
        createApp({ db: services.db, redis: down, keyPrefix: services.prefix, authSecret: SECRET, log: serverLog.log }),
      ),
    );
    try {
      const anonymous = await app.get('/employees/7');
      expect(anonymous.status, 'a cache that is down must not take the API down').toBe(200);
      expect(anonymous.cache).toBe('BYPASS');
      expect(body(anonymous).email).toBeUndefined();
      const me = await app.get('/me', as(8));
      expect([me.status, me.cache]).toEqual([200, 'BYPASS']);
      expect(body(me).id).toBe(8);
    } finally {
      await app.close();
      down.disconnect();
    }
  });
});

describe('keyFor on its own: safe for any facts, not only the ones app.ts gives it today', () => {
  const prefix = 'ex13-unit:';
  const employee = (user: number | undefined, headers: RequestFacts['headers'] = {}): RequestFacts => ({
    route: 'employee',
    params: { id: 5 },
    user,
    headers,
  });
  const shared = () => keyFor(employee(undefined), prefix);

  it('gives an anonymous request for /employees/:id the shared key, with the prefix first', () => {
    expect(
      shared(),
      'an anonymous request should get one shared key per employee, built with cacheKey({ prefix, … })',
    ).toMatch(/^ex13-unit:/);
  });

  it.each([
    ['a user the token proved (whatever the headers)', employee(7), employee(8)],
    [
      'an Authorization header no user was proved from',
      employee(undefined, { authorization: 'Basic dXNlci03OnNlY3JldA==' }),
      employee(undefined, { authorization: 'Basic dXNlci04OnNlY3JldA==' }),
    ],
  ])('never gives a request with %s the shared key, nor one another caller gets', (_what, one, other) => {
    const mine = keyFor(one, prefix);
    expect(
      mine === shared() ? 'the shared anonymous key' : 'not the shared key',
      `keyFor(${JSON.stringify(one)}) returned the key anonymous visitors share: a request with credentials (a proved user, Authorization or a cookie) must not be cached (null), or be keyed per user`,
    ).toBe('not the shared key');
    if (mine === null) return;
    expect(
      keyFor(other, prefix),
      `keyFor(${JSON.stringify(one)}) and keyFor(${JSON.stringify(other)}) returned the same key: two different callers would share one entry`,
    ).not.toBe(mine);
    const credential = one.headers.authorization;
    if (credential === undefined) return;
    expect(
      mine.includes(credential) || mine.includes(encodeURIComponent(credential)),
      `keyFor(${JSON.stringify(one)}) put the credential in the key: anyone who can list Redis keys could copy it`,
    ).toBe(false);
  });

  it('does not cache /me for nobody: with no proved user there is no one to key it on (null)', () => {
    expect(
      keyFor({ route: 'me', params: {}, user: undefined, headers: {} }, prefix),
      'keyFor for /me without a proved user returned a key: that is one entry shared by everybody who is not signed in; return null',
    ).toBeNull();
  });
});
