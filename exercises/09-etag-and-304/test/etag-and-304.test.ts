import {
  captureServerLog,
  expectJsonOnly,
  expectMalformedJson,
  type HttpHarness,
  serve,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import CachePolicy from 'http-cache-semantics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { strongEtag } from '../src/http-cache.ts';

const services = useServices();
const open: HttpHarness[] = [];
/** What the apps logged: a 500's message says it (the answer itself only says "see the server log"). */
const serverLog = captureServerLog();
const { said } = serverLog;

/**
 * The ETag the tests hand to the app as `etagOf`: strong, from the bytes, and recognisable
 * (a `seam-` prefix), so a test can tell it from a tag the app computed some other way.
 */
const seamEtag = (body: Buffer) => strongEtag(body).replace(/^"/, '"seam-');

/**
 * A fresh app (an empty cache), and how many bodies it hashed through `etagOf`. No request of
 * these tests may fail: a 5xx stops the test at once, with what the server logged.
 */
async function start() {
  const hashed = { count: 0 };
  const served = await serve(
    createApp({
      db: services.db,
      etagOf: (body) => {
        hashed.count += 1;
        return seamEtag(body);
      },
      log: serverLog.log,
    }),
  );
  open.push(served);
  return { http: serverLog.failOn5xx(served), hashed };
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});
beforeEach(() => {
  services.queries.reset();
  serverLog.clear();
});

/** The ETag of a response, failing with a clear message when there is none. */
function etagOf(res: TestResponse, what: string): string {
  expect(res.status, `${what} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
  const etag = res.headers.get('etag');
  expect(etag, `${what} has no ETag header: send the representation's ETag with every 200`).not.toBeNull();
  return etag as string;
}

/** PATCH an employee's name, insisting on a 200. */
async function rename(http: HttpHarness, id: number, name: string): Promise<TestResponse> {
  const res = await http.request(`/employees/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  expect(res.status, `PATCH /employees/${id} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
  return res;
}

/** The request and response as an HTTP client cache (RFC 9111) reads them. */
function clientCache(path: string, res: TestResponse, requestHeaders: Record<string, string>, shared: boolean) {
  const request = { url: path, method: 'GET', headers: { host: '127.0.0.1', ...requestHeaders } };
  return {
    request,
    policy: new CachePolicy(request, { status: res.status, headers: Object.fromEntries(res.headers) }, { shared }),
  };
}

describe('the ETag', () => {
  it('is a strong entity tag: in quotes, without W/', async () => {
    const { http } = await start();
    const etag = etagOf(await http.get('/employees/1'), 'GET /employees/1');
    expect(etag, 'an ETag is a quoted string, e.g. "abc"; W/"…" would make it weak').toMatch(/^"[^"]+"$/);
  });

  it('is the same for the same bytes, on another instance too', async () => {
    const one = await start();
    const two = await start();
    const a = await one.http.get('/employees/2');
    const b = await two.http.get('/employees/2');
    expect(b.text).toBe(a.text);
    expect(
      etagOf(b, 'the second instance'),
      'two instances sent different ETags for the same bytes: derive the ETag from the body, not from a time or a counter',
    ).toBe(etagOf(a, 'the first instance'));
  });

  it('changes when the data changes', async () => {
    const { http } = await start();
    const before = etagOf(await http.get('/employees/3'), 'GET /employees/3');
    await rename(http, 3, 'Barbara Liskov');
    const after = await http.get('/employees/3');
    expect(after.json<{ name: string }>().name).toBe('Barbara Liskov');
    expect(etagOf(after, 'GET /employees/3 after the PATCH'), 'the employee changed but the ETag did not').not.toBe(
      before,
    );
  });

  it('is computed once per cached entry, with etagOf, never per request', async () => {
    const { http, hashed } = await start();
    const first = await http.get('/employees/4');
    const etag = etagOf(first, 'GET /employees/4');
    expect(
      etag,
      'the ETag sent is not the one etagOf returned: compute it with the etagOf given to createApp (the tests count its calls)',
    ).toBe(seamEtag(Buffer.from(first.text)));
    for (let i = 0; i < 3; i++) {
      expect(etagOf(await http.get('/employees/4'), 'a cached GET /employees/4'), 'the ETag of a cache hit').toBe(etag);
      await http.get('/employees/4', { 'if-none-match': etag });
    }
    expect(
      hashed.count,
      `etagOf was called ${hashed.count} times for 7 requests of one cached employee; expected once: in represent(), when the entry is cached, every later 200 and 304 reusing the stored ETag`,
    ).toBe(1);
  });
});

describe('If-None-Match', () => {
  it('answers 304 with no body and the same ETag and Cache-Control when the client has the current version', async () => {
    const { http } = await start();
    const full = await http.get('/employees/5');
    const etag = etagOf(full, 'GET /employees/5');
    const res = await http.get('/employees/5', { 'if-none-match': etag });
    expect(
      res.status,
      `If-None-Match carried the current ETag: the answer should be 304 Not Modified${said(res)}`,
    ).toBe(304);
    expect(res.text, 'a 304 has no body').toBe('');
    expect(res.headers.get('etag'), 'the 304 must repeat the ETag').toBe(etag);
    expect(res.headers.get('cache-control'), 'the 304 must repeat Cache-Control').toBe(
      full.headers.get('cache-control'),
    );

    // What a browser's cache does with that 304: keep its copy (not modified, same validator).
    const { request, policy } = clientCache('/employees/5', full, {}, false);
    const updated = policy.revalidatedPolicy(request, { status: res.status, headers: Object.fromEntries(res.headers) });
    expect(updated.modified, 'a client cache would throw its copy away after this 304').toBe(false);
    expect(updated.matches, 'a client cache could not match this 304 to its copy: send the ETag on the 304').toBe(true);
  });

  it('answers 304 from another instance too, even before that instance has cached the employee', async () => {
    const one = await start();
    const two = await start();
    const etag = etagOf(await one.http.get('/employees/9'), 'GET /employees/9 on the first instance');
    // Behind a load balancer the revalidation may land on an instance whose cache is cold: it
    // builds the representation (a MISS) and its ETag is the same, because it comes from the bytes.
    const res = await two.http.get('/employees/9', { 'if-none-match': etag });
    expect(
      res.status,
      `the second instance answered ${res.status} to the ETag the first one sent, for the same bytes: a 304 depends on the ETags being equal, not on whether the entry was a cache hit${said(res)}`,
    ).toBe(304);
    expect(res.text, 'a 304 has no body').toBe('');
  });

  it('answers a stale ETag with 200 and the current body', async () => {
    const { http } = await start();
    const old = etagOf(await http.get('/employees/6'), 'GET /employees/6');
    await rename(http, 6, 'Frances Allen');
    const res = await http.get('/employees/6', { 'if-none-match': old });
    expect(
      res.status,
      `the client holds an old version: it must get a 200 with the new one, not a 304${said(res)}`,
    ).toBe(200);
    expect(res.json<{ name: string }>().name).toBe('Frances Allen');
    const fresh = etagOf(res, 'the 200 after the PATCH');
    expect(fresh).not.toBe(old);
    expect((await http.get('/employees/6', { 'if-none-match': '"not-the-current-one"' })).status).toBe(200);
  });

  it('handles a list of ETags and weak W/ tags: any match is a 304', async () => {
    const { http } = await start();
    const etag = etagOf(await http.get('/employees/7'), 'GET /employees/7');
    const listed = await http.get('/employees/7', { 'if-none-match': `"an-older-one", ${etag}` });
    expect(listed.status, `If-None-Match: "an-older-one", ${etag} contains the current ETag${said(listed)}`).toBe(304);
    const weak = await http.get('/employees/7', { 'if-none-match': `W/${etag}` });
    expect(weak.status, `If-None-Match compares weakly: W/"x" matches "x"${said(weak)}`).toBe(304);
    const inside = `"W/${etag.slice(1)}`;
    const notWeak = await http.get('/employees/7', { 'if-none-match': inside });
    expect(
      notWeak.status,
      `If-None-Match: ${inside} is another tag, not a weak ${etag}: W/ marks a weak tag only in front of the quotes (strip a leading W/, not one anywhere in the tag)${said(notWeak)}`,
    ).toBe(200);
    const none = await http.get('/employees/7', { 'if-none-match': '"an-older-one", "another-one"' });
    expect(none.status, `no tag of the list is the current ETag: the answer is a 200${said(none)}`).toBe(200);
  });

  it('answers If-None-Match: * with 304 when the employee exists, and 404 when it does not', async () => {
    const { http } = await start();
    await http.get('/employees/8');
    const star = await http.get('/employees/8', { 'if-none-match': '*' });
    expect(star.status, `If-None-Match: * means "any version": the client has one, so 304${said(star)}`).toBe(304);
    const missing = await http.get('/employees/999999999', { 'if-none-match': '*' });
    expect(
      missing.status,
      `a conditional request for something that does not exist is a 404, never a 304${said(missing)}`,
    ).toBe(404);
    expect(missing.headers.get('cache-control'), 'errors must not be stored').toBe('no-store');
  });
});

describe('GET /me: one user’s data', () => {
  const as = (user: number) => ({ authorization: `Bearer ${user}` });

  it('gives each user their own profile and ETag', async () => {
    const { http } = await start();
    const ada = await http.get('/me', as(11));
    const bob = await http.get('/me', as(12));
    expect(ada.json(), 'GET /me as 11').toMatchObject({ id: 11 });
    expect(bob.json(), 'GET /me as 12 got somebody else’s profile').toMatchObject({ id: 12 });
    expect(etagOf(bob, 'GET /me as 12')).not.toBe(etagOf(ada, 'GET /me as 11'));
  });

  it('is private and varies on Authorization, on the 200 and on the 304', async () => {
    const { http } = await start();
    const full = await http.get('/me', as(13));
    const notModified = await http.get('/me', { ...as(13), 'if-none-match': etagOf(full, 'GET /me') });
    expect(
      notModified.status,
      `a revalidation of /me with its current ETag answered ${notModified.status}${said(notModified)}`,
    ).toBe(304);
    for (const [what, res] of [
      ['the 200', full],
      ['the 304', notModified],
    ] as const) {
      expect(res.headers.get('cache-control') ?? '', `${what} of /me must say Cache-Control: private`).toMatch(
        /\bprivate\b/,
      );
      expect(res.headers.get('cache-control') ?? '', `${what} of /me must not be public`).not.toMatch(/\bpublic\b/);
      expect(res.headers.get('vary') ?? '', `${what} of /me must say Vary: Authorization`).toMatch(
        /\bauthorization\b/i,
      );
    }
  });

  it('makes the browser revalidate its copy on every use, so that a change of one’s own record shows at once', async () => {
    const { http } = await start();
    const full = await http.get('/me', as(15));
    const { request, policy } = clientCache('/me', full, as(15), false);
    expect(
      policy.satisfiesWithoutRevalidation(request),
      `with Cache-Control: ${full.headers.get('cache-control')} the browser would show its copy of /me without asking, for as long as max-age allows: the user would not see their own change. Say no-cache (keep it, but revalidate it each time)`,
    ).toBe(false);
    await rename(http, 15, 'Grace Hopper');
    const again = await http.get('/me', { ...as(15), 'if-none-match': etagOf(full, 'GET /me') });
    expect(
      again.status,
      `after a PATCH of employee 15, their /me revalidation must get the new record (200), not 304${said(again)}`,
    ).toBe(200);
    expect(again.json<{ name: string }>().name).toBe('Grace Hopper');
  });

  it('may be stored by the user’s browser but never by a shared cache', async () => {
    const { http } = await start();
    const res = await http.get('/me', as(14));
    expect(
      clientCache('/me', res, as(14), true).policy.storable(),
      'a shared cache (CDN, proxy) may store this per-user response and serve it to the next user',
    ).toBe(false);
    expect(
      clientCache('/me', res, as(14), false).policy.storable(),
      'the user’s own browser should be allowed to keep it',
    ).toBe(true);
  });
});

describe('what a PATCH reads', () => {
  it('answers a body not sent as application/json with 415 naming it, and malformed JSON with a 400 that says where', async () => {
    const { http } = await start();
    const nameOf16 = async () => (await http.get('/employees/16')).json<{ name: string }>().name;
    const before = await nameOf16();
    // Without a Content-Type (curl -d without -H) and as text/plain: the label is the mistake, not the body.
    await expectJsonOnly(http, 'PATCH', '/employees/16', '{"name":"Ada Unlabelled"}', undefined);
    await expectJsonOnly(http, 'PATCH', '/employees/16', '{"name":"Ada Unlabelled"}');
    await expectMalformedJson(http, 'PATCH', '/employees/16');
    expect(await nameOf16(), 'a PATCH the server refused changed the employee').toBe(before);
  });
});
