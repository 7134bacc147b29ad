import type { Employee } from '@cachelab/lesson-01-uncached/queries';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { captureServerLog, type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { employeeKey, keysAffectedBy } from '../src/keys.ts';

/**
 * The stretch goal of exercise 06 (README): each write invalidates only the responses whose
 * content it changed — a rename the employee and the list, not the summary, whose head counts
 * it did not change. (`npx cachelab verify 06 --stretch`)
 */
const services = useServices();
const serverLog = captureServerLog();
const { said } = serverLog;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  await services.clearRedis();
  serverLog.clear();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

const P = 'stretch:';
const ada: Employee = {
  id: 7,
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  department: 'Sales',
  status: 'in',
  status_updated_at: '2024-05-01T12:00:00.000Z',
  updated_at: '2024-05-01T12:00:00.000Z',
};
/** The keys, named for messages: `employee 7`, `Sales list`, `Sales summary`. */
const named = (keys: string[]) =>
  keys
    .map((k) =>
      k === employeeKey(P, 7)
        ? 'employee 7'
        : k.includes('dept-employees')
          ? `${/dept=([^:]+)/.exec(k)?.[1]} list`
          : k.includes('dept-summary')
            ? `${/dept=([^:]+)/.exec(k)?.[1]} summary`
            : k,
    )
    .sort();

describe('keysAffectedBy: only the responses whose content the write changed', () => {
  const cases: [string, Employee | undefined, Employee | undefined, string[]][] = [
    ['a rename', ada, { ...ada, name: 'Ada King' }, ['Sales list', 'employee 7']],
    ['a new email', ada, { ...ada, email: 'ada.king@example.com' }, ['Sales list', 'employee 7']],
    [
      'a status change',
      ada,
      { ...ada, status: 'out', status_updated_at: '2024-05-02T08:00:00.000Z' },
      ['Sales list', 'Sales summary', 'employee 7'],
    ],
    [
      'a move to Legal',
      ada,
      { ...ada, department: 'Legal' },
      ['Legal list', 'Legal summary', 'Sales list', 'Sales summary', 'employee 7'],
    ],
    ['a hire (POST)', undefined, ada, ['Sales list', 'Sales summary', 'employee 7']],
    ['a departure (DELETE)', ada, undefined, ['Sales list', 'Sales summary', 'employee 7']],
  ];
  it.each(cases)('%s', (what, before, after, expected) => {
    const keys = named(keysAffectedBy(P, { before, after }));
    expect(
      keys,
      `for ${what}, keysAffectedBy returns ${JSON.stringify(keys)}: it should be exactly ${JSON.stringify(expected)} (the summary holds head counts in and out: only a status change, a hire, a departure or a move changes them; the list holds names, emails and statuses)`,
    ).toEqual(expected);
  });
});

async function instance(name: string): Promise<HttpHarness> {
  const redis = createRedisClient({ log: () => {} });
  const subscriber = createRedisClient({ log: () => {} });
  cleanups.push(() => {
    redis.disconnect();
    subscriber.disconnect();
  });
  await whenReady(redis);
  const app = createApp({
    db: services.db,
    redis,
    subscriber,
    keyPrefix: services.prefix,
    instanceId: name,
    log: serverLog.log,
  });
  cleanups.push(() => app.locals.close?.());
  await Promise.race([app.locals.ready, new Promise((r) => setTimeout(r, 2000))]);
  const http = await serve(app);
  cleanups.push(() => http.close());
  return http;
}
async function ok(res: Promise<TestResponse>, what: string): Promise<TestResponse> {
  const r = await res;
  expect(r.status, `${what} answered ${r.status}${said(r)}`).toBeLessThan(300);
  return r;
}
const patch = (http: HttpHarness, id: number, body: unknown) =>
  http.request(`/employees/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('the summary stays cached through a rename', () => {
  it('a rename on A leaves the summary cached on B (a HIT); a status change does not', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const { rows } = await services.db.query<{ id: number; status: string }>(
      "SELECT id, status FROM employees WHERE department = 'Finance' ORDER BY id LIMIT 1",
    );
    const employee = rows[0] as { id: number; status: string };
    const summary = '/departments/Finance/summary';
    await ok(b.get(summary), `GET ${summary} on B`);
    await ok(patch(a, employee.id, { name: 'Renamed Only' }), `PATCH /employees/${employee.id} { name } on A`);
    const afterRename = await ok(b.get(summary), `GET ${summary} on B`);
    expect(
      afterRename.cache,
      `after a rename in Finance, GET ${summary} on B was a ${afterRename.cache}: a rename changes no head count, so it should not invalidate the summary (compare before and after in keysAffectedBy)`,
    ).toBe('HIT');
    const status = employee.status === 'in' ? 'out' : 'in';
    await ok(patch(a, employee.id, { status }), `PATCH /employees/${employee.id} { status } on A`);
    const afterStatus = await ok(b.get(summary), `GET ${summary} on B`);
    expect(
      afterStatus.cache,
      `after a status change in Finance, GET ${summary} on B was a ${afterStatus.cache}: the head counts changed, so the summary must be invalidated`,
    ).not.toBe('HIT');
  });
});
