import { captureServerLog, type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppDeps, createApp } from '../src/app.ts';

const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];
/** What the app logged: a 500's message says it (the answer itself only says "see the server log"). */
const serverLog = captureServerLog();
const { said } = serverLog;

beforeEach(() => {
  services.queries.reset();
  serverLog.clear();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** Your app on a free port; `arrivals` counts the requests that reached it. */
async function start(options: Partial<AppDeps> = {}) {
  const app = createApp({ db: services.db, log: serverLog.log, ...options });
  const counter = { arrivals: 0 };
  const http = await serve((req, res) => {
    counter.arrivals++;
    app(req, res);
  });
  cleanups.push(() => http.close());
  return Object.assign(counter, { http });
}

/** Poll `read` until `done` accepts its value or `timeoutMs` runs out; returns the last value. */
async function eventually<T>(read: () => T, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = read();
  }
  return value;
}

/**
 * Lock this test file's `employees` table: every query on it waits until `release()`.
 * The first load then stays "in progress" for as long as the test needs, so that all the
 * concurrent requests really arrive while it runs.
 */
async function lockEmployees() {
  const client = await services.db.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE employees IN ACCESS EXCLUSIVE MODE');
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await client.query('COMMIT');
    client.release();
  };
  cleanups.push(release);
  return release;
}

/** Send `n` GETs at once, hold them until all have reached the app, then let the database answer. */
async function stampede(app: { http: HttpHarness; arrivals: number }, path: string, n: number) {
  return stampedeAll(
    app,
    Array.from({ length: n }, () => path),
  );
}

/** The same with one GET per path in `paths`, sent in that order, all at once. */
async function stampedeAll(app: { http: HttpHarness; arrivals: number }, paths: string[]) {
  const release = await lockEmployees();
  const responses = Promise.all(paths.map((path) => app.http.get(path)));
  await eventually(
    () => app.arrivals,
    (arrived) => arrived >= paths.length,
  );
  await release();
  return responses;
}

/** The app's own query (`SELECT … FROM employees WHERE id = $1`), not the test's set-up statements. */
const employeeQueries = () => services.queries.matching(/FROM employees WHERE id/);
const statuses = (all: TestResponse[]) => {
  const count = new Map<number, number>();
  for (const r of all) count.set(r.status, (count.get(r.status) ?? 0) + 1);
  const failed = all.find((r) => r.status >= 500);
  return `${[...count].map(([status, n]) => `${n}× ${status}`).join(', ')}${failed ? said(failed) : ''}`;
};

/** GET `path`, insisting on `status` (200 unless said): what follows reads the answer. */
async function getExpecting(http: HttpHarness, path: string, status = 200): Promise<TestResponse> {
  const res = await http.get(path);
  expect(res.status, `GET ${path} answered ${res.status}${said(res)}`).toBe(status);
  return res;
}

describe('one load per key', () => {
  it('makes exactly one query for 1,000 concurrent requests of a cold employee, and answers each of them', async () => {
    const app = await start();
    const all = await stampede(app, '/employees/7', 1000);
    expect(
      employeeQueries(),
      `1,000 concurrent requests for employee 7 made ${employeeQueries()} queries: the requests that miss while a load for the same key runs must wait for that load, not start their own`,
    ).toBe(1);
    expect(
      all.every((r) => r.status === 200 && r.json<{ id: number }>().id === 7),
      `every request should get employee 7; got ${statuses(all)}`,
    ).toBe(true);
  }, 60_000);

  it('makes one query per key for 1,000 concurrent requests of employees 7 and 8, interleaved, and answers each with its own employee', async () => {
    const app = await start();
    const paths = Array.from({ length: 1000 }, (_, i) => `/employees/${i % 2 === 0 ? 7 : 8}`);
    const all = await stampedeAll(app, paths);
    const wrongBody = all.findIndex(
      (r, i) => r.status !== 200 || `/employees/${r.json<{ id: number }>().id}` !== paths[i],
    );
    expect(
      wrongBody === -1
        ? 'each got its own employee'
        : `GET ${paths[wrongBody]} answered ${all[wrongBody]?.status}${all[wrongBody] ? said(all[wrongBody]) : ''} ${all[wrongBody]?.text.slice(0, 80)}`,
      'a request got the answer of a load for ANOTHER key: a flight must be shared only by the requests for its own key (one entry per key, not one for everything)',
    ).toBe('each got its own employee');
    expect(
      employeeQueries(),
      `1,000 concurrent requests for two employees (7, 8, 7, 8, …) made ${employeeQueries()} queries instead of 2: remember the load in progress of EVERY key at once (a map by key), not just the last one`,
    ).toBe(2);
  }, 60_000);

  it('loads again once the cached answer has expired: a finished load is not reused', async () => {
    let now = 1_000_000;
    const app = await start({ now: () => now, ttlMs: 60_000 });
    expect((await getExpecting(app.http, '/employees/8')).cache).toBe('MISS');
    expect((await getExpecting(app.http, '/employees/8')).cache, 'the second request should be a cache HIT').toBe(
      'HIT',
    );
    await services.db.query("UPDATE employees SET name = 'Edsger Dijkstra' WHERE id = 8");
    now += 60_001; // the cached employee has expired
    const after = await getExpecting(app.http, '/employees/8');
    expect(
      after.json<{ name: string }>().name,
      'after the cached employee expired, the next request got the result of the old, finished load instead of loading again: remove a flight from your map once its load has settled',
    ).toBe('Edsger Dijkstra');
    expect(employeeQueries()).toBe(2);
  });
});

describe('errors', () => {
  it("hands the loader's error to every waiting request: 1,000 concurrent requests for a missing employee all get the 404, with one query", async () => {
    const app = await start();
    const all = await stampede(app, '/employees/999999', 1000);
    expect(
      employeeQueries(),
      `1,000 concurrent requests for a missing employee made ${employeeQueries()} queries: a load that fails is shared like one that succeeds`,
    ).toBe(1);
    expect(
      all.every((r) => r.status === 404 && r.headers.get('content-type')?.startsWith('application/problem+json')),
      `every request should get the 404 problem of the one load (a waiter must see the same error); got ${statuses(all)}`,
    ).toBe(true);
  }, 60_000);

  it('does not keep an error: after a 404, the next request asks PostgreSQL again and finds the employee created meanwhile', async () => {
    const app = await start();
    const { rows } = await services.db.query<{ id: number }>('SELECT max(id) + 1 AS id FROM employees');
    const id = rows[0]?.id as number;
    await getExpecting(app.http, `/employees/${id}`, 404);
    await services.db.query(
      `INSERT INTO employees (id, name, email, department, status) VALUES ($1, 'Grace Hopper', $2, 'Engineering', 'in')`,
      [id, `grace.${id}@example.com`],
    );
    const again = await app.http.get(`/employees/${id}`);
    expect(
      again.status,
      `the request after a failed load answered ${again.status}${said(again)} without asking PostgreSQL again: a failed flight must be removed (not kept) so that the next request runs the loader again`,
    ).toBe(200);
    expect(again.json<{ name: string }>().name).toBe('Grace Hopper');
    expect(employeeQueries()).toBe(2);
  });

  it('leaves no unhandled rejection behind when a load fails', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    cleanups.push(() => {
      process.off('unhandledRejection', listener);
    });
    const app = await start();
    await getExpecting(app.http, '/employees/999998', 404);
    // Node reports an unhandled rejection once the microtasks of the turn that rejected it have
    // run: long before the 404 reached this test. One more turn of the event loop, to be sure.
    await new Promise((resolve) => setImmediate(resolve));
    expect(
      unhandled.map((reason) => (reason as Error)?.message ?? String(reason)),
      'a failed load left a rejected promise that nobody handles (Node ends the process on one by default): `p.finally(…)` and `p.then(…)` return NEW promises that reject when p does; keep and return the one you chained, or handle every copy you make',
    ).toEqual([]);
  });
});

describe('keys are independent', () => {
  it("answers a request for another key while one key's load is still running", async () => {
    const app = await start();
    const release = await lockEmployees();
    const blocked = app.http.get('/employees/9');
    // The load of employee 9 has reached PostgreSQL, and waits there on the lock.
    expect(await eventually(employeeQueries, (n) => n >= 1)).toBe(1);
    const other = await Promise.race([
      app.http.get('/investors/DEMO_INV/summary'),
      new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 10_000)),
    ]);
    await release();
    expect(
      other === 'waited' ? 'still waiting after 10 s' : `${other.status}${said(other)}`,
      "GET /investors/DEMO_INV/summary waited for employee 9's load: a flight must only hold back requests for its own key, not every key",
    ).toBe('200');
    const nine = await blocked;
    expect(nine.status, `GET /employees/9 answered ${nine.status}${said(nine)}`).toBe(200);
  }, 60_000);
});
