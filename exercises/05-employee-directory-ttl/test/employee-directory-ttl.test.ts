import { type Employee, getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { captureServerLog, type HttpHarness, serveForTest, useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import type { StalenessBudgets } from '../src/ttl-policy.ts';

const services = useServices();
const redis = createRedisClient({ log: () => {}, commandTimeoutMs: 2_000 });
/** What the app logged: a 500's message says it (the answer itself only says "see the server log"). */
const serverLog = captureServerLog();
const { said } = serverLog;

beforeAll(async () => {
  expect(await whenReady(redis), 'could not connect to Redis').toBe(true);
});
afterAll(() => redis.disconnect());
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
  serverLog.clear();
});

const DEFAULT = { statusSeconds: 60, nameSeconds: 24 * 3600 };

const appWith = (budgets?: StalenessBudgets) =>
  createApp({
    db: services.db,
    redis,
    keyPrefix: services.prefix,
    log: serverLog.log,
    ...(budgets ? { budgets } : {}),
  });

const start = (budgets?: StalenessBudgets) => serveForTest(appWith(budgets));

/** GET /employees/:id, insisting on a 200: what follows reads the answer. */
async function read(http: HttpHarness, id: number) {
  const res = await http.get(`/employees/${id}`);
  expect(res.status, `GET /employees/${id} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
  return res;
}

const flip = (status: string) => (status === 'in' ? 'out' : 'in');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
/** A PTTL in words: `lives 60 s`, or `has no TTL (PTTL -1)`. */
const lifetime = (pttl: number) => (pttl === -1 ? 'has no TTL (PTTL -1)' : `lives ${seconds(pttl)}`);

/**
 * What your app stored in Redis for employee `id`: every key under the test's prefix, its
 * value and its PTTL, sorted into the one holding the name (the profile) and the one holding
 * the status without the name. Found by what the keys hold, whatever you named them.
 */
async function cachedParts(employee: Employee) {
  const keys = await services.redisKeys();
  const entries = await Promise.all(
    keys.map(async (key) => ({
      key,
      value: (await services.redis.get(key).catch(() => null)) ?? '',
      pttl: await services.redis.pttl(key),
    })),
  );
  expect(
    entries.length,
    `after GET /employees/${employee.id} nothing was stored in Redis under the keyPrefix: the employee is not cached`,
  ).toBeGreaterThan(0);
  const holdsStatus = (value: string) => new RegExp(`\\b${employee.status}\\b`).test(value);
  const profile = entries.find((e) => e.value.includes(employee.name));
  const status = entries.find((e) => !e.value.includes(employee.name) && holdsStatus(e.value));
  expect(profile, `no key in Redis holds employee ${employee.id}'s name (${employee.name})`).toBeDefined();
  expect(
    status,
    profile && holdsStatus(profile.value)
      ? `employee ${employee.id} is cached under one key that holds both the name and the status (${profile.key}): ` +
          'cache the profile and the status under two keys, so that each can have its own TTL'
      : `no key in Redis holds employee ${employee.id}'s status without the name: the status is not cached (it needs a key of its own, with its own TTL)`,
  ).toBeDefined();
  return { profile: profile as (typeof entries)[number], status: status as (typeof entries)[number] };
}

type CachedEntry = Awaited<ReturnType<typeof cachedParts>>['profile'];

/**
 * One cold GET of employee `id`, then what it stored. `elapsedMs` is how long the GET and the
 * PTTL reads took together: the key was written somewhere inside that window, so its TTL was
 * between `pttl` and `pttl + elapsedMs`. That is what lets the TTL be bounded from both sides
 * without trusting the machine to be fast.
 */
async function firstGet(http: Awaited<ReturnType<typeof start>>, id: number) {
  const startedAt = Date.now();
  await read(http, id);
  const parts = await cachedParts((await getEmployee(services.db, id)) as Employee);
  return { ...parts, elapsedMs: Date.now() - startedAt };
}

/**
 * The TTL the part was stored with must fit its budget (at most the budget) and use it (more
 * than the budget minus one second: whole seconds, rounded down).
 */
function expectTtl(
  part: 'status' | 'profile',
  entry: CachedEntry,
  budgetSeconds: number,
  elapsedMs: number,
  budgetName: string,
  hint = '',
) {
  const budget = `its ${budgetName} is ${budgetSeconds} s`;
  expect(
    entry.pttl,
    entry.pttl === -1
      ? `the ${part} key ${entry.key} has no TTL (PTTL -1): ${part === 'status' ? 'nothing would ever replace a stale status' : 'a renamed employee would keep the old name forever'}. Store it with a TTL`
      : `the ${part} key has no TTL`,
  ).toBeGreaterThan(0);
  expect(
    entry.pttl,
    `the ${part} key ${lifetime(entry.pttl)}, but ${budget}: an old ${part === 'status' ? 'status' : 'name'} could be served for longer than that${hint}`,
  ).toBeLessThanOrEqual(budgetSeconds * 1000);
  expect(
    entry.pttl + elapsedMs,
    `the ${part} key ${lifetime(entry.pttl)}, but ${budget}: every second you leave unused is a reload nobody asked for. Give it as long as the budget allows (whole seconds)${hint}`,
  ).toBeGreaterThan((budgetSeconds - 1) * 1000);
}

describe('GET /employees/:id, cached in two parts', () => {
  it('answers the same employee as lesson 01, and from Redis the second time', async () => {
    const http = await start();
    const first = await read(http, 5);
    expect(
      first.headers.get('x-cache'),
      'the first GET /employees/5 should say X-Cache: MISS (both parts were loaded): pass both parts to sendParts',
    ).toBe('MISS');
    const truth = JSON.parse(JSON.stringify(await getEmployee(services.db, 5)));
    expect(first.json(), 'GET /employees/5 should answer every field of the employee, as lesson 01 does').toEqual(
      truth,
    );
    services.queries.reset();
    const second = await read(http, 5);
    expect(second.json(), 'the second GET /employees/5 answered something else than the first').toEqual(truth);
    expect(services.queries.count, 'the second GET /employees/5 reached PostgreSQL: it should come from Redis').toBe(0);
    expect(second.headers.get('x-cache'), 'the second GET /employees/5 should say X-Cache: HIT').toBe('HIT');
  });

  it('answers each employee with its own data: the keys hold the id', async () => {
    const http = await start();
    for (const id of [5, 6, 5, 6]) {
      const res = await read(http, id);
      const truth = JSON.parse(JSON.stringify(await getEmployee(services.db, id)));
      expect(
        res.json(),
        `GET /employees/${id} answered another employee (id ${res.json<Employee>().id}): put the id in both cache keys`,
      ).toEqual(truth);
    }
  });

  it('stores the name and the status under two different keys', async () => {
    const http = await start();
    await read(http, 6);
    const { profile, status } = await cachedParts((await getEmployee(services.db, 6)) as Employee);
    expect(profile.key).not.toBe(status.key);
  });

  it('gives the status a TTL of its whole 60 s budget, and the profile its whole 24 h budget', async () => {
    const http = await start();
    const { profile, status, elapsedMs } = await firstGet(http, 7);
    expectTtl('status', status, DEFAULT.statusSeconds, elapsedMs, 'status budget');
    expectTtl('profile', profile, DEFAULT.nameSeconds, elapsedMs, 'name budget');
  });

  it('derives its TTLs from the budgets it is given (status 5 s, name 30 s)', async () => {
    const budgets = { statusSeconds: 5, nameSeconds: 30 };
    const http = await start(budgets);
    const { profile, status, elapsedMs } = await firstGet(http, 8);
    const hint = ': compute the TTLs from `budgets`, do not hard-code them';
    expectTtl('status', status, budgets.statusSeconds, elapsedMs, 'status budget', hint);
    expectTtl('profile', profile, budgets.nameSeconds, elapsedMs, 'name budget', hint);
  });

  it('never rounds a TTL up past a budget with a fraction (status 5.5 s, name 30.9 s)', async () => {
    const budgets = { statusSeconds: 5.5, nameSeconds: 30.9 };
    const http = await start(budgets);
    const { profile, status, elapsedMs } = await firstGet(http, 10);
    const hint = ': SET … EX takes whole seconds, so round down (Math.floor), never up past the budget';
    expectTtl('status', status, budgets.statusSeconds, elapsedMs, 'status budget', hint);
    expectTtl('profile', profile, budgets.nameSeconds, elapsedMs, 'name budget', hint);
  });

  it('refuses a budget under a second when the app is created: no whole-second TTL fits it', () => {
    const tooShort: [StalenessBudgets, keyof StalenessBudgets][] = [
      [{ statusSeconds: 0.5, nameSeconds: 30 }, 'statusSeconds'],
      [{ statusSeconds: 5, nameSeconds: 0.9 }, 'nameSeconds'],
    ];
    for (const [budgets, name] of tooShort) {
      let error: unknown;
      try {
        appWith(budgets);
      } catch (err) {
        error = err;
      }
      expect(
        error,
        `createApp accepted budgets.${name} = ${budgets[name]} s: SET … EX keeps a value at least 1 s, so no TTL fits that budget. ttlsFor should throw a TypeError`,
      ).toBeInstanceOf(TypeError);
      expect(
        (error as Error).message,
        `createApp with budgets.${name} = ${budgets[name]} s threw "${(error as Error).message}": the message should name the budget (${name}) that no TTL fits`,
      ).toContain(name);
    }
    let error: unknown;
    try {
      appWith({ statusSeconds: 1, nameSeconds: 1 });
    } catch (err) {
      error = err;
    }
    expect(
      error,
      `createApp refused budgets of exactly 1 s (${String(error)}): a 1 s TTL fits them, only a budget under a second has no TTL`,
    ).toBeUndefined();
  });

  it('shows a status written straight into PostgreSQL within the status budget, while the name still comes from the cache', async () => {
    const budgets = { statusSeconds: 1, nameSeconds: 60 };
    const http = await start(budgets);
    const before = (await read(http, 9)).json<Employee>();
    // The badge reader and the HR import write to PostgreSQL directly: nobody tells the cache.
    await services.db.query('UPDATE employees SET status = $2, name = $3 WHERE id = $1', [
      9,
      flip(before.status),
      'Renamed In PostgreSQL',
    ]);
    // The parts were cached by the GET above, before this line: a status TTL within its 1 s
    // budget has run out 1 s from now, whatever the machine's speed. A real Redis TTL must
    // really run out here, so we sleep; the 150 ms on top only absorb timer granularity (a
    // slower machine makes the wait longer, never shorter, so the verdict cannot change).
    await sleep(budgets.statusSeconds * 1000 + 150);
    const seen = (await read(http, 9)).json<Employee>();
    expect(
      seen.status,
      `a status changed in PostgreSQL was still not visible ${budgets.statusSeconds} s later; the status budget is ${budgets.statusSeconds} s`,
    ).toBe(flip(before.status));
    expect(
      seen.name,
      `the name changed in PostgreSQL became visible together with the status, after ${budgets.statusSeconds} s: the name should still come from the cache (its budget is ${budgets.nameSeconds} s). Are both parts under one key, or cached with the status TTL?`,
    ).toBe(before.name);
  });

  it('reloads only the status when the status expires: one query, and the profile still comes from Redis', async () => {
    const http = await start();
    await read(http, 12);
    const truth = JSON.parse(JSON.stringify(await getEmployee(services.db, 12)));
    const { status } = await cachedParts(truth as Employee);
    // What the status TTL running out does, without waiting for it: the status key is gone.
    await services.redis.del(status.key);
    services.queries.reset();
    const res = await read(http, 12);
    expect(res.json(), 'GET /employees/12 after its status expired answered something else').toEqual(truth);
    expect(
      res.headers.get('x-cache'),
      'GET /employees/12 reloaded its expired status, so it should say X-Cache: MISS: pass both parts to sendParts',
    ).toBe('MISS');
    expect(
      services.queries.count,
      `after the status expired, GET /employees/12 sent ${services.queries.count} queries to PostgreSQL: only the status should be reloaded (1 query); the profile is still in Redis`,
    ).toBe(1);
  });

  it('never caches a 404', async () => {
    const http = await start();
    for (let i = 1; i <= 2; i++) {
      const res = await http.get('/employees/999999999');
      expect(res.status, `GET /employees/999999999 (request ${i}) answered ${res.status}${said(res)}`).toBe(404);
    }
    expect(
      await services.redisKeys(),
      'a 404 was stored in Redis: it would hide the employee created a second later',
    ).toEqual([]);
  });
});
