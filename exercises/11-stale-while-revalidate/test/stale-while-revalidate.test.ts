import { createPool, databaseUrl } from '@cachelab/db';
import {
  captureServerLog,
  countQueries,
  serve,
  startChaosProxy,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { createSwrCache } from '../src/swr-cache.ts';

const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

const FRESH_MS = 60_000;
const GRACE_MS = 300_000;

/** The test's clock: your cache reads it through `now`, the test moves it forward instead of waiting. */
let now = 1_000_000;
beforeEach(() => {
  now = 1_000_000;
});

/**
 * Your app, with a PostgreSQL pool of its own that goes through a proxy the test can cut
 * (a real outage), its queries counted.
 */
async function start() {
  const proxy = await startChaosProxy({ upstream: databaseUrl() });
  const db = createPool({ url: proxy.url, searchPath: [services.schema, 'public'], connectionTimeoutMs: 2_000 });
  const queries = countQueries(db);
  const serverLog = captureServerLog();
  const app = createApp({
    db,
    freshMs: FRESH_MS,
    graceMs: GRACE_MS,
    now: () => now,
    log: serverLog.log,
  });
  const http = await serve(app);
  cleanups.push(async () => {
    await http.close();
    await db.end().catch(() => {});
    await proxy.close();
  });
  const employeeQueries = () => queries.matching(/FROM employees WHERE id/);
  /** What the app logged, as lines (the refresh errors it reported among them). */
  const logged = () => serverLog.entries.map((e) => String(e));
  /** `200 STALE`: status and X-Cache, with what the server logged after a 500 (a 503 is an answer these tests expect). */
  const shown = (res: TestResponse) =>
    `${res.status} ${res.cache ?? '-'}${res.status === 500 ? serverLog.said(res) : ''}`;
  return { http, db, proxy, employeeQueries, logged, shown };
}

/** Poll `read` until `done` accepts its value or `timeoutMs` (generous: the machine is shared) runs out. */
async function eventually<T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = await read();
  }
  return value;
}

/** Lock this test file's `employees` table: a refresh that queries it waits until the lock is released. */
async function lockEmployees() {
  const client = await services.db.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE employees IN ACCESS EXCLUSIVE MODE');
  let done = false;
  const commit = async () => {
    if (done) return;
    done = true;
    await client.query('COMMIT');
    client.release();
  };
  cleanups.push(commit);
  return { client, commit };
}

const nameOf = (res: TestResponse) => res.json<{ name: string }>().name;
const describeAll = (all: TestResponse[], shown: (res: TestResponse) => string) =>
  [...new Set(all.map(shown))].join(', ');

describe('a value past its fresh time', () => {
  it('is served at once as STALE to every reader while exactly one refresh runs, then fresh again', async () => {
    const app = await start();
    const first = await app.http.get('/employees/1');
    expect(app.shown(first)).toBe('200 MISS');
    now += FRESH_MS + 1_000; // a second past its fresh time, well within the grace period

    // The refresh will find the table locked: it cannot finish until the test says so.
    const lock = await lockEmployees();
    const readers = Promise.all(Array.from({ length: 50 }, () => app.http.get('/employees/1')));
    const answered = await Promise.race([
      readers,
      new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 10_000)),
    ]);
    if (answered === 'blocked') {
      await lock.commit();
      await readers;
    }
    expect(
      answered === 'blocked' ? 'no answer after 10 s' : describeAll(answered, app.shown),
      answered === 'blocked'
        ? 'the readers of a stale value waited for the refresh (the database was locked for 10 s): answer with the stale value at once, and refresh in the background'
        : 'every reader of a value within its grace period should get it at once as STALE',
    ).toBe('200 STALE');
    if (answered === 'blocked') return;
    expect(
      answered.every((r) => r.text === first.text),
      'a STALE answer should be the cached body as it was',
    ).toBe(true);

    // While the refresh waits, the employee is renamed; then the lock goes.
    await lock.client.query("UPDATE employees SET name = 'Frances Allen' WHERE id = 1");
    await lock.commit();
    const refreshed = await eventually(
      () => app.http.get('/employees/1'),
      (r) => r.cache === 'HIT' && nameOf(r) === 'Frances Allen',
    );
    expect(
      `${refreshed.cache} ${nameOf(refreshed)}`,
      app.employeeQueries() === 1
        ? 'the stale entry was never refreshed (no query reached PostgreSQL after the first load): serving STALE must start a refresh in the background'
        : 'after the refresh, the next read should be a HIT with the refreshed value',
    ).toBe('HIT Frances Allen');
    // Every refresh started has reached PostgreSQL by now; count them once the pool is idle.
    await eventually(
      () => app.db.waitingCount + (app.db.totalCount - app.db.idleCount),
      (busy) => busy === 0,
    );
    expect(
      app.employeeQueries() - 1,
      `50 stale reads started ${app.employeeQueries() - 1} refreshes: while a refresh of a key runs, the other stale reads must not start another one`,
    ).toBe(1);
  }, 60_000);

  it('refreshes two stale keys at the same time: the slow refresh of one key does not hold back another', async () => {
    const app = await start();
    expect(app.shown(await app.http.get('/employees/12'))).toBe('200 MISS');
    expect(app.shown(await app.http.get('/employees/13'))).toBe('200 MISS');
    now += FRESH_MS + 1_000;
    // Both refreshes will wait on the lock: each must still be started (sent to PostgreSQL).
    const lock = await lockEmployees();
    const reads = Promise.all([app.http.get('/employees/12'), app.http.get('/employees/13')]);
    const answered = await Promise.race([
      reads,
      new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 10_000)),
    ]);
    if (answered === 'blocked') await lock.commit();
    expect(
      answered === 'blocked' ? 'no answer after 10 s' : describeAll(answered, app.shown),
      'the stale reads of employees 12 and 13 should be answered at once as STALE, while their refreshes wait for the database',
    ).toBe('200 STALE');
    const sent = await eventually(app.employeeQueries, (n) => n >= 4);
    await lock.commit();
    expect(
      sent - 2,
      `the stale reads of employees 12 and 13 started ${sent - 2} refresh(es) while the first one was still running: one refresh at a time PER KEY (a map by key), not one for the whole cache`,
    ).toBe(2);
  }, 60_000);
});

describe('the bounds, to the millisecond (the test moves the clock: no real time passes)', () => {
  it('is a HIT until freshMs, STALE from freshMs until freshMs + graceMs, and never served after that', async () => {
    const app = await start();
    const loadedAt = now;
    expect(app.shown(await app.http.get('/employees/11'))).toBe('200 MISS');
    // Every refresh fails from now on: the entry stays the one loaded at `loadedAt`.
    app.proxy.cut();
    const at = async (ageMs: number) => {
      now = loadedAt + ageMs;
      return app.shown(await app.http.get('/employees/11'));
    };
    expect(await at(FRESH_MS - 1), `at age freshMs − 1 ms the value is still fresh: a HIT`).toBe('200 HIT');
    expect(await at(FRESH_MS), `at age freshMs the value is stale: answered at once as STALE`).toBe('200 STALE');
    expect(
      await at(FRESH_MS + GRACE_MS - 1),
      `at age freshMs + graceMs − 1 ms (${FRESH_MS + GRACE_MS - 1} ms) the value is still within its grace period and must be served as STALE: the grace period starts when the value stops being fresh (keep it freshMs + graceMs in all), and the store's ttlMs is in milliseconds`,
    ).toBe('200 STALE');
    expect(
      await at(FRESH_MS + GRACE_MS),
      'at age freshMs + graceMs the grace period is over: the value must not be served any more, however the refreshes went (PostgreSQL is down: the answer is a 503)',
    ).toBe('503 -');
  });
});

describe('when the database fails', () => {
  it('keeps serving the stale value within the grace period, then answers 503 instead of older data', async () => {
    const app = await start();
    const first = await app.http.get('/employees/2');
    expect(app.shown(first)).toBe('200 MISS');
    app.proxy.cut(); // PostgreSQL is down from now on

    now += FRESH_MS + 1_000;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const res = await app.http.get('/employees/2');
      expect(
        app.shown(res),
        attempt === 1
          ? 'with PostgreSQL down, a value within its grace period should still be served, as STALE (without waiting for the database)'
          : `after ${attempt - 1} failed refresh(es), the stale value should still be served within the grace period: a refresh that fails must keep the old entry`,
      ).toBe('200 STALE');
      expect(res.text).toBe(first.text);
      // Wait until this read's refresh has tried PostgreSQL and failed.
      expect(
        await eventually(
          () => app.proxy.stats.refused,
          (n) => n >= attempt,
        ),
        attempt === 1
          ? 'no refresh reached PostgreSQL'
          : 'the stale read after a failed refresh started no new refresh: a refresh that fails must leave your map of running refreshes too (finally, not then)',
      ).toBe(attempt);
      const reported = await eventually(
        () => app.logged().filter((line) => line.includes('refresh')).length,
        (n) => n >= attempt,
      );
      expect(
        reported,
        'a refresh that failed was not reported: catch its error and pass it to options.onRefreshError (nobody awaits a background refresh, so an error not caught there is an unhandled rejection)',
      ).toBe(attempt);
    }

    now += GRACE_MS; // more than fresh time + grace period since the value was loaded
    const late = await app.http.get('/employees/2');
    expect(
      app.shown(late),
      'past the grace period the old value must not be served any more (the database is still down: the answer is an error)',
    ).toBe('503 -');
    expect(late.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    app.proxy.restore();
    const back = await app.http.get('/employees/2');
    expect(app.shown(back), 'with the database back, the next read should load it again').toBe('200 MISS');
  }, 60_000);

  it('tries again after a failed refresh: once PostgreSQL is back, the next stale read refreshes the entry', async () => {
    const app = await start();
    expect(app.shown(await app.http.get('/employees/14'))).toBe('200 MISS');
    app.proxy.cut();
    now += FRESH_MS + 1_000;
    expect(app.shown(await app.http.get('/employees/14'))).toBe('200 STALE');
    // Wait until that read's refresh has failed and been reported.
    await eventually(
      () => app.logged().filter((line) => line.includes('refresh')).length,
      (n) => n >= 1,
    );
    app.proxy.restore();
    await services.db.query("UPDATE employees SET name = 'Barbara Liskov' WHERE id = 14");
    const refreshed = await eventually(
      () => app.http.get('/employees/14'),
      (r) => r.cache === 'HIT' && nameOf(r) === 'Barbara Liskov',
    );
    expect(
      `${refreshed.cache} ${nameOf(refreshed)}`,
      'after one failed refresh, PostgreSQL came back but the stale reads never refreshed the entry again: remove the key from your map of running refreshes when its refresh settles, on failure too (finally, not then)',
    ).toBe('HIT Barbara Liskov');
  }, 60_000);

  it('answers a key that was never cached with the error, not with anything stale', async () => {
    const app = await start();
    app.proxy.cut();
    const res = await app.http.get('/employees/3');
    expect(app.shown(res), 'a key never cached, with PostgreSQL down: the error (503)').toBe('503 -');
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('your cache on its own (createSwrCache), created without onRefreshError', () => {
  it('swallows the error of a failed background refresh: no unhandled rejection, and the stale value is still served', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    cleanups.push(() => {
      process.off('unhandledRejection', listener);
    });
    let clock = 0;
    // onRefreshError is optional: this cache has none.
    const cache = createSwrCache({ freshMs: 1_000, graceMs: 1_000, now: () => clock });
    expect((await cache.get('k', async () => 'cached')).cache).toBe('MISS');
    clock = 1_500;
    const down = () => Promise.reject(new Error('the database is down'));
    const stale = await cache.get('k', down);
    expect(
      `${stale.cache} ${stale.body.toString()}`,
      'an entry within its grace period should be answered at once as STALE',
    ).toBe('STALE "cached"');
    // The refresh fails a few microtasks later; Node reports an unhandled rejection once they
    // have run. One turn of the event loop is enough to see it.
    await new Promise((resolve) => setImmediate(resolve));
    expect(
      unhandled.map((reason) => (reason as Error)?.message ?? String(reason)),
      'a failed refresh of a cache created without onRefreshError left a rejected promise that nobody handles: onRefreshError is optional, call it only when it was given (options.onRefreshError?.(error))',
    ).toEqual([]);
    const again = await cache.get('k', down);
    expect(
      `${again.cache} ${again.body.toString()}`,
      'after a failed refresh, the entry should still be served as STALE',
    ).toBe('STALE "cached"');
  });
});

describe('fresh values', () => {
  it('serves a HIT without touching the database until the fresh time is over', async () => {
    const app = await start();
    expect(app.shown(await app.http.get('/employees/4'))).toBe('200 MISS');
    now += FRESH_MS - 1_000;
    expect(app.shown(await app.http.get('/employees/4'))).toBe('200 HIT');
    expect(app.employeeQueries()).toBe(1);
  });
});
