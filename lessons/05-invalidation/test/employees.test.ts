import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { expectProblem, useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { eventually, parts, send, useInstances } from './instances.ts';

const services = useServices();
const instance = useInstances(services);

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

const PROFILE_QUERY = /SELECT id, name, email, department, updated_at FROM employees/;
const STATUS_QUERY = /SELECT id, status, status_updated_at FROM employees/;
const key = (name: string, id: number) => `${services.prefix}${name}:v1:id=${id}`;

describe('GET /employees/:id: a profile and a status, cached apart', () => {
  it('answers lesson 01’s employee, field for field, composed from two keys', async () => {
    const { http } = await instance('a');
    const res = await http.get('/employees/42');
    expect(res.status).toBe(200);
    const truth = await getEmployee(services.db, 42);
    expect(res.json()).toEqual(JSON.parse(JSON.stringify(truth)));
    expect(res.cache).toBe('MISS');
    expect(parts(res)).toBe('profile=MISS, status=MISS');
    expect(Object.keys(res.timing)).toEqual(expect.arrayContaining(['l1', 'l2', 'db', 'json', 'total']));
    expect(await services.redisKeys()).toEqual([key('employee-profile', 42), key('employee-status', 42)]);
  });

  it('gives each key the TTL of its kind: the status 50 s (60 s budget), the profile 12 h (24 h budget)', async () => {
    const { http } = await instance('a');
    await http.get('/employees/43');
    const statusTtl = await services.redis.pttl(key('employee-status', 43));
    const profileTtl = await services.redis.pttl(key('employee-profile', 43));
    expect(statusTtl).toBeGreaterThan(49_000);
    expect(statusTtl).toBeLessThanOrEqual(50_000);
    expect(profileTtl).toBeGreaterThan(12 * 3600_000 - 1_000);
    expect(profileTtl).toBeLessThanOrEqual(12 * 3600_000);
  });

  it('serves a repeated read from L1 without touching PostgreSQL', async () => {
    const { http } = await instance('a');
    const first = await http.get('/employees/44');
    services.queries.reset();
    const second = await http.get('/employees/44');
    expect([second.cache, second.headers.get('x-cache-level'), parts(second)]).toEqual([
      'HIT',
      'L1',
      'profile=L1, status=L1',
    ]);
    expect(second.text).toBe(first.text);
    expect(services.queries.count).toBe(0);
    expect(second.timing.db).toBeUndefined();
  });

  it('shows a status written straight into PostgreSQL once the status TTL is over, without reloading the profile', async () => {
    let now = 1_000_000;
    const { http } = await instance('a', { ttls: { status: { l2TtlSeconds: 1, l1TtlMs: 500 } }, now: () => now });
    const before = (await http.get('/employees/45')).json<{ status: string; name: string }>();
    const flipped = before.status === 'in' ? 'out' : 'in';
    // The badge reader writes to the database directly: nobody tells the cache.
    await services.db.query('UPDATE employees SET status = $2, name = $3 WHERE id = $1', [45, flipped, 'Not Yet Seen']);
    now += 501; // the status's L1 copy is over (500 ms); the profile's (5 min) is not
    const expired = await eventually(
      () => services.redis.pttl(key('employee-status', 45)),
      (ttl) => ttl === -2,
      2_000,
    );
    expect(expired, 'the status key outlived its 1 s TTL').toBe(-2);
    services.queries.reset();
    const after = await http.get('/employees/45');
    expect(after.json()).toMatchObject({ status: flipped, name: before.name });
    expect(parts(after)).toBe('profile=L1, status=MISS');
    expect(services.queries.matching(STATUS_QUERY)).toBe(1);
    expect(services.queries.matching(PROFILE_QUERY), 'the profile was loaded again with the status').toBe(0);
  });

  it('never caches a 404, and rejects a bad id with a 400 before any query', async () => {
    const { http } = await instance('a');
    expect(expectProblem(await http.get('/employees/abc'), 400).detail).toContain('`id`');
    expect(services.queries.count).toBe(0);
    expectProblem(await http.get('/employees/999999999'), 404);
    expectProblem(await http.get('/employees/999999999'), 404);
    expect(services.queries.matching(PROFILE_QUERY)).toBe(2);
    expect(await services.redisKeys()).toEqual([]);
  });
});

describe('writes: commit, then drop what changed', () => {
  it('PATCH of a status drops the status key only: the profile stays in L1', async () => {
    const { http } = await instance('a');
    const before = (await http.get('/employees/50')).json<{ status: string }>();
    const status = before.status === 'in' ? 'out' : 'in';
    const res = await send(http, 'PATCH', '/employees/50', { status });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json()).toMatchObject({ id: 50, status });
    const read = await http.get('/employees/50');
    expect(read.json()).toMatchObject({ status });
    expect(parts(read)).toBe('profile=L1, status=MISS');
  });

  it('PATCH of a name drops the profile key only: the status stays in L1', async () => {
    const { http } = await instance('a');
    await http.get('/employees/51');
    expect((await send(http, 'PATCH', '/employees/51', { name: 'Ada Lovelace' })).status).toBe(200);
    const read = await http.get('/employees/51');
    expect(read.json()).toMatchObject({ name: 'Ada Lovelace' });
    expect(parts(read)).toBe('profile=MISS, status=L1');
  });

  it('PUT replaces every field and the next read shows all of them', async () => {
    const { http } = await instance('a');
    await http.get('/employees/52');
    const replacement = { name: 'Grace Hopper', email: 'GRACE@navy.example', department: 'legal', status: 'out' };
    const res = await send(http, 'PUT', '/employees/52', replacement);
    expect(res.status).toBe(200);
    const expected = { id: 52, name: 'Grace Hopper', email: 'grace@navy.example', department: 'Legal', status: 'out' };
    expect(res.json()).toMatchObject(expected);
    expect((await http.get('/employees/52')).json()).toMatchObject(expected);
  });

  it('PUT accepts back what GET returned, even an address stored untidy (as older seeds made them)', async () => {
    // This file's own copy of the table: databases seeded before the seed was fixed hold
    // addresses such as this one, and a client that PUTs back what it read must not get a 400.
    await services.db.query("UPDATE employees SET email = 'niklaus.van rossum.42@example.com' WHERE id = 42");
    const { http } = await instance('a');
    const { name, email, department, status } = (await http.get('/employees/42')).json<Record<string, string>>();
    expect(email).toBe('niklaus.van rossum.42@example.com');
    const res = await send(http, 'PUT', '/employees/42', { name, email, department, status });
    expect(res.status, res.text).toBe(200);
  });

  it('POST answers 201 with a Location, and the new employee is readable at once', async () => {
    const { http } = await instance('a');
    const res = await send(http, 'POST', '/employees', {
      name: 'Radia Perlman',
      email: 'radia@example.com',
      department: 'Engineering',
    });
    expect(res.status).toBe(201);
    const created = res.json<{ id: number }>();
    expect(created).toMatchObject({ name: 'Radia Perlman', status: 'in', department: 'Engineering' });
    expect(res.headers.get('location')).toBe(`/employees/${created.id}`);
    const read = await http.get(`/employees/${created.id}`);
    expect(read.status).toBe(200);
    expect(read.json()).toMatchObject({ id: created.id, name: 'Radia Perlman' });
  });

  it('DELETE answers 204, and the next read is a 404: nothing cached survives it', async () => {
    const { http } = await instance('a');
    expect((await http.get('/employees/53')).status).toBe(200);
    expect((await send(http, 'DELETE', '/employees/53')).status).toBe(204);
    expectProblem(await http.get('/employees/53'), 404);
    expect(await services.redisKeys()).not.toContain(key('employee-profile', 53));
  });

  it('answers 409 problem+json for an email another employee has, in any case, and changes nothing', async () => {
    const { http } = await instance('a');
    const taken = (await getEmployee(services.db, 60))?.email as string;
    const post = await send(http, 'POST', '/employees', { name: 'X', email: taken.toUpperCase(), department: 'Sales' });
    expect(expectProblem(post, 409).detail).toContain(taken);
    const patch = await send(http, 'PATCH', '/employees/61', { email: taken });
    expectProblem(patch, 409);
    expect((await getEmployee(services.db, 61))?.email).not.toBe(taken);
  });

  it.each([
    ['PATCH', '/employees/999999999', { status: 'in' }],
    ['PUT', '/employees/999999999', { name: 'A', email: 'a@example.com', department: 'Sales', status: 'in' }],
    ['DELETE', '/employees/999999999', undefined],
  ])('%s of an unknown employee is a 404', async (method, path, body) => {
    const { http } = await instance('a');
    expectProblem(await send(http, method, path, body), 404);
  });

  it.each([
    ['POST', '/employees', {}, 'name'],
    ['POST', '/employees', { name: 'A', email: 'not-an-email', department: 'Sales' }, 'email'],
    ['POST', '/employees', { name: 'A', email: 'a@example.com', department: 'Nowhere' }, 'department'],
    ['POST', '/employees', { name: 'A', email: 'a@example.com', department: 'Sales', salary: 1 }, 'salary'],
    ['PUT', '/employees/70', { name: 'A' }, 'email'],
    ['PATCH', '/employees/70', {}, 'at least one'],
    ['PATCH', '/employees/70', { status: 'away' }, 'status'],
    ['PATCH', '/employees/70', { name: '  ' }, 'name'],
    ['PATCH', '/employees/70', { name: 'a\u0000b' }, 'name'],
    ['POST', '/employees', { name: 'A', email: 'a\u0000@example.com', department: 'Sales' }, 'email'],
    ['PATCH', '/employees/x', { status: 'in' }, '`id`'],
    ['PATCH', '/employees/70', '{"name": ', undefined],
  ])(
    '%s %s with %j is a 400 problem+json before any query, and nothing is cached',
    async (method, path, body, names) => {
      const { http } = await instance('a');
      const detail = expectProblem(await send(http, method, path, body), 400).detail;
      if (names) expect(detail).toContain(names);
      expect(services.queries.count).toBe(0);
      expect(await services.redisKeys()).toEqual([]);
    },
  );
});

describe('the TTL policy', () => {
  it('refuses TTLs that could serve a status older than its 60 s budget, naming the kind and the sum', () => {
    const make = () =>
      createApp({
        db: services.db,
        redis: services.redis,
        subscriber: services.redis,
        keyPrefix: services.prefix,
        ttls: { status: { l2TtlSeconds: 300 } },
      });
    expect(make).toThrow(TypeError);
    expect(make).toThrow(/ttls\.status: L2 300 s \+ L1 10 s = 310 s, over the status staleness budget of 60 s/);
  });
});

describe('lesson 01’s routes, cached as in lesson 04', () => {
  it.each([
    ['/payments?investor=DEMO_INV&from=2024-03-01&to=2024-04-01&limit=50', /borrower_payments/],
    ['/investors/INV00001/summary', /borrower_payments/],
  ])('%s: MISS, then an L1 HIT without a query', async (path, table) => {
    const { http } = await instance('a');
    const miss = await http.get(path);
    expect([miss.status, miss.cache]).toEqual([200, 'MISS']);
    expect(miss.timing.db).toBeGreaterThan(0);
    const hit = await http.get(path);
    expect([hit.cache, hit.headers.get('x-cache-level')]).toEqual(['HIT', 'L1']);
    expect(services.queries.matching(table)).toBe(1);
  });
});
