import { type Employee, getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { serveForTest, useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import type { StalenessBudgets } from '../src/ttl-policy.ts';

const services = useServices();
const redis = createRedisClient({ log: () => {}, commandTimeoutMs: 2_000 });

beforeAll(async () => {
  expect(await whenReady(redis), 'could not connect to Redis').toBe(true);
});
afterAll(() => redis.disconnect());
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

const DEFAULT = { statusSeconds: 60, nameSeconds: 24 * 3600 };

function start(budgets?: StalenessBudgets) {
  return serveForTest(
    createApp({ db: services.db, redis, keyPrefix: services.prefix, log: () => {}, ...(budgets ? { budgets } : {}) }),
  );
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

describe('GET /employees/:id, cached in two parts', () => {
  it('answers the same employee as lesson 01, and from Redis the second time', async () => {
    const http = await start();
    const first = await http.get('/employees/5');
    expect(first.status, first.text.slice(0, 200)).toBe(200);
    const truth = JSON.parse(JSON.stringify(await getEmployee(services.db, 5)));
    expect(first.json(), 'GET /employees/5 should answer every field of the employee, as lesson 01 does').toEqual(
      truth,
    );
    services.queries.reset();
    const second = await http.get('/employees/5');
    expect(second.json(), 'the second GET /employees/5 answered something else than the first').toEqual(truth);
    expect(services.queries.count, 'the second GET /employees/5 reached PostgreSQL: it should come from Redis').toBe(0);
    expect(second.headers.get('x-cache'), 'the second GET /employees/5 should say X-Cache: HIT').toBe('HIT');
  });

  it('stores the name and the status under two different keys', async () => {
    const http = await start();
    await http.get('/employees/6');
    const { profile, status } = await cachedParts((await getEmployee(services.db, 6)) as Employee);
    expect(profile.key).not.toBe(status.key);
  });

  it('gives the status a TTL within its 60 s budget, and the profile a longer one within 24 h', async () => {
    const http = await start();
    await http.get('/employees/7');
    const { profile, status } = await cachedParts((await getEmployee(services.db, 7)) as Employee);
    expect(
      status.pttl,
      status.pttl === -1
        ? `the status key ${status.key} has no TTL (PTTL -1): nothing would ever replace a stale status. Store it with a TTL`
        : 'the status key has no TTL',
    ).toBeGreaterThan(0);
    expect(
      status.pttl,
      `the status key lives ${seconds(status.pttl)}: a status change must be visible within ${DEFAULT.statusSeconds} s, so its TTL can be at most that`,
    ).toBeLessThanOrEqual(DEFAULT.statusSeconds * 1000);
    expect(
      profile.pttl,
      profile.pttl === -1
        ? `the profile key ${profile.key} has no TTL (PTTL -1): a renamed employee would keep the old name forever`
        : 'the profile key has no TTL',
    ).toBeGreaterThan(0);
    expect(
      profile.pttl,
      `the profile key lives ${seconds(profile.pttl)}, no longer than the status (${seconds(status.pttl)}): names change about once a year and may be up to 24 h old, so one TTL for both reloads every name as often as every status`,
    ).toBeGreaterThan(status.pttl + 500);
    expect(
      profile.pttl,
      `the profile key lives ${seconds(profile.pttl)}: a name change must be visible within 24 h`,
    ).toBeLessThanOrEqual(DEFAULT.nameSeconds * 1000);
  });

  it('derives its TTLs from the budgets it is given (status 5 s, name 30 s)', async () => {
    const budgets = { statusSeconds: 5, nameSeconds: 30 };
    const http = await start(budgets);
    await http.get('/employees/8');
    const { profile, status } = await cachedParts((await getEmployee(services.db, 8)) as Employee);
    expect(
      status.pttl,
      `with a status budget of 5 s the status key ${lifetime(status.pttl)}: compute the TTLs from \`budgets\`, do not hard-code them`,
    ).toBeGreaterThan(0);
    expect(status.pttl, `with a status budget of 5 s the status key ${lifetime(status.pttl)}`).toBeLessThanOrEqual(
      5_000,
    );
    expect(
      profile.pttl,
      `with a name budget of 30 s the profile key ${lifetime(profile.pttl)}: it must be longer than the status TTL and at most 30 s`,
    ).toBeGreaterThan(status.pttl + 500);
    expect(
      profile.pttl,
      `with a name budget of 30 s the profile key ${lifetime(profile.pttl)}: compute the TTLs from \`budgets\``,
    ).toBeLessThanOrEqual(30_000);
  });

  it('shows a status written straight into PostgreSQL within the status budget, while the name still comes from the cache', async () => {
    const budgets = { statusSeconds: 2, nameSeconds: 60 };
    const http = await start(budgets);
    const before = (await http.get('/employees/9')).json<Employee>();
    // The badge reader and the HR import write to PostgreSQL directly: nobody tells the cache.
    await services.db.query('UPDATE employees SET status = $2, name = $3 WHERE id = $1', [
      9,
      flip(before.status),
      'Renamed In PostgreSQL',
    ]);
    const changedAt = Date.now();
    let seen = before;
    while (Date.now() - changedAt < budgets.statusSeconds * 1000 + 800) {
      seen = (await http.get('/employees/9')).json<Employee>();
      if (seen.status !== before.status) break;
      await sleep(100);
    }
    const after = Date.now() - changedAt;
    expect(
      seen.status,
      `a status changed in PostgreSQL was still not visible ${seconds(after)} later; the status budget is ${budgets.statusSeconds} s`,
    ).toBe(flip(before.status));
    expect(
      seen.name,
      `the name changed in PostgreSQL became visible together with the status, after ${seconds(after)}: the name should still come from the cache (its budget is ${budgets.nameSeconds} s). Are both parts under one key, or cached with the status TTL?`,
    ).toBe(before.name);
  });

  it('serves most reads without PostgreSQL, while statuses keep changing', async () => {
    const http = await start({ statusSeconds: 1, nameSeconds: 60 });
    const ids = [11, 12, 13, 14];
    let reads = 0;
    let withoutDb = 0;
    for (let i = 0; i < 200; i++) {
      const id = ids[i % ids.length] as number;
      if (i % 40 === 39) {
        await services.db.query(
          "UPDATE employees SET status = CASE status WHEN 'in' THEN 'out' ELSE 'in' END WHERE id = $1",
          [id],
        );
      }
      services.queries.reset();
      const res = await http.get(`/employees/${id}`);
      expect(res.status, res.text.slice(0, 200)).toBe(200);
      reads += 1;
      if (services.queries.count === 0) withoutDb += 1;
      await sleep(10);
    }
    expect(
      withoutDb / reads,
      `only ${withoutDb} of ${reads} reads of 4 employees were served without PostgreSQL: with a status TTL that uses its budget (1 s here) and a much longer profile TTL, most reads should come from Redis`,
    ).toBeGreaterThanOrEqual(0.75);
  });

  it('never caches a 404', async () => {
    const http = await start();
    expect((await http.get('/employees/999999999')).status).toBe(404);
    expect((await http.get('/employees/999999999')).status).toBe(404);
    expect(
      await services.redisKeys(),
      'a 404 was stored in Redis: it would hide the employee created a second later',
    ).toEqual([]);
  });
});
