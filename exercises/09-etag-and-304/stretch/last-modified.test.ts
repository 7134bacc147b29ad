import { captureServerLog, type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';

/**
 * The stretch goal of exercise 09 (README): `Last-Modified` on GET /employees/:id (the later of
 * `updated_at` and `status_updated_at`), and a 304 for `If-Modified-Since` — only when the
 * request has no `If-None-Match`, which takes precedence (RFC 9110 §13.2.2).
 * (`npx cachelab verify 09 --stretch`)
 */
const services = useServices();
const serverLog = captureServerLog();
const { said } = serverLog;
const open: HttpHarness[] = [];

async function start(): Promise<HttpHarness> {
  const served = await serve(createApp({ db: services.db, log: serverLog.log }));
  open.push(served);
  return serverLog.failOn5xx(served);
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});
beforeEach(() => serverLog.clear());

interface Employee {
  updated_at: string;
  status_updated_at: string;
}

/** The Last-Modified an employee's 200 must carry: the later of its two times, as an HTTP-date (whole seconds). */
function expectedLastModified(res: TestResponse): string {
  const e = res.json<Employee>();
  const latest = Math.max(new Date(e.updated_at).getTime(), new Date(e.status_updated_at).getTime());
  return new Date(latest).toUTCString();
}

/**
 * Give employee `id` these two times (in this test file's own schema), so that which one is
 * later is known, and a change made by the test is seconds after them (an HTTP-date has whole
 * seconds: a PATCH in the same second as the data was seeded would not move it).
 */
async function setTimes(id: number, updatedAt: string, statusUpdatedAt: string): Promise<void> {
  await services.db.query('UPDATE employees SET updated_at = $2, status_updated_at = $3 WHERE id = $1', [
    id,
    updatedAt,
    statusUpdatedAt,
  ]);
}

/** GET /employees/:id with these headers. */
const get = (http: HttpHarness, id: number, headers: Record<string, string> = {}) =>
  http.request(`/employees/${id}`, { headers });

describe('Last-Modified and If-Modified-Since on GET /employees/:id', () => {
  it('sends Last-Modified: the later of updated_at and status_updated_at, as an HTTP-date', async () => {
    await setTimes(42, '2024-03-01T10:00:00Z', '2024-05-01T12:30:45Z'); // the status changed last
    await setTimes(46, '2024-06-01T08:15:30Z', '2024-02-01T09:00:00Z'); // the name changed last
    const http = await start();
    for (const [id, expected, later] of [
      [42, 'Wed, 01 May 2024 12:30:45 GMT', 'status_updated_at'],
      [46, 'Sat, 01 Jun 2024 08:15:30 GMT', 'updated_at'],
    ] as const) {
      const res = await get(http, id);
      expect(res.status, `GET /employees/${id} answered ${res.status}${said(res)}`).toBe(200);
      expect(
        res.headers.get('last-modified'),
        `GET /employees/${id} has Last-Modified ${JSON.stringify(res.headers.get('last-modified'))}: send the later of its updated_at and status_updated_at (here ${later}) as an HTTP-date: ${expected} (Date's toUTCString())`,
      ).toBe(expected);
    }
  });

  it('answers If-Modified-Since with a 304 and no body when nothing changed since, a 200 when it did', async () => {
    const http = await start();
    const first = await get(http, 43);
    const lastModified = expectedLastModified(first);
    const same = await get(http, 43, { 'if-modified-since': lastModified });
    expect(
      same.status,
      `GET /employees/43 with If-Modified-Since: ${lastModified} (its own Last-Modified, no If-None-Match) answered ${same.status}${said(same)}: nothing changed since, so 304`,
    ).toBe(304);
    expect(same.text, 'a 304 has no body').toBe('');
    expect(same.headers.get('etag'), 'a 304 keeps the ETag').toBe(first.headers.get('etag'));
    const earlier = new Date(new Date(lastModified).getTime() - 1000).toUTCString();
    const older = await get(http, 43, { 'if-modified-since': earlier });
    expect(
      older.status,
      `GET /employees/43 with If-Modified-Since: ${earlier}, a second before its Last-Modified ${lastModified}, answered ${older.status}: it changed since, so 200 with the body`,
    ).toBe(200);
  });

  it('lets If-None-Match take precedence: a tag that does not match is a 200 whatever If-Modified-Since says', async () => {
    const http = await start();
    const first = await get(http, 44);
    const lastModified = expectedLastModified(first);
    const res = await get(http, 44, { 'if-none-match': '"an-old-version"', 'if-modified-since': lastModified });
    expect(
      res.status,
      `GET /employees/44 with If-None-Match: "an-old-version" (not its ETag) and If-Modified-Since: ${lastModified} answered ${res.status}: when If-None-Match is there, If-Modified-Since is ignored (RFC 9110 §13.2.2), so 200`,
    ).toBe(200);
  });

  it('moves Last-Modified forward when the status changes: the old date then gets a 200', async () => {
    await setTimes(45, '2024-03-01T10:00:00Z', '2024-03-01T10:00:00Z');
    const http = await start();
    const first = await get(http, 45);
    const before = expectedLastModified(first);
    const status = first.json<{ status: string }>().status === 'in' ? 'out' : 'in';
    const patched = await http.request('/employees/45', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status }),
    });
    expect(patched.status, `PATCH /employees/45 answered ${patched.status}${said(patched)}`).toBe(200);
    const after = await get(http, 45, { 'if-modified-since': before });
    expect(
      after.status,
      `GET /employees/45 with If-Modified-Since: ${before} after its status changed answered ${after.status}: status_updated_at is later now, so 200 with the new status`,
    ).toBe(200);
    expect(after.headers.get('last-modified'), 'Last-Modified after the status change').toBe(
      expectedLastModified(after),
    );
  });
});
