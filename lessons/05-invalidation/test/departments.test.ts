import { useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { send, useInstances } from './instances.ts';

const services = useServices();
const instance = useInstances(services);

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

interface Page {
  department: string;
  page: number;
  total: number;
  pages: number;
  employees: { id: number; name: string; email: string }[];
}
interface Counts {
  department?: string;
  employees: number;
  in: number;
  out: number;
}
interface Overview extends Counts {
  departments: Counts[];
}

const versionKey = (dept: string) => `${services.prefix}dept-version:v1:dept=${dept}`;
const tagKey = (dept: string) => `${services.prefix}tag:v1:dept=${dept}`;
const pageKeys = async (dept: string) =>
  (await services.redisKeys()).filter((k) => k.startsWith(`${services.prefix}dept-employees:v1:dept=${dept}&`));

/** An employee of `dept` (seeded ids: id % 8 picks the department) that no other test of this file writes. */
async function someoneIn(dept: string, skip = 0): Promise<{ id: number; name: string; status: string }> {
  const { rows } = await services.db.query<{ id: number; name: string; status: string }>(
    'SELECT id, name, status FROM employees WHERE department = $1 ORDER BY id OFFSET $2 LIMIT 1',
    [dept, 100 + skip],
  );
  return rows[0] as { id: number; name: string; status: string };
}

describe('GET /departments/:name/employees: versioned keys', () => {
  it('pages a department by name, 50 at a time, names and emails only', async () => {
    const { http } = await instance('a');
    const res = await http.get('/departments/engineering/employees?page=2');
    expect(res.status).toBe(200);
    const page = res.json<Page>();
    expect(page).toMatchObject({ department: 'Engineering', page: 2, pageSize: 50, total: 1250, pages: 25 });
    expect(page.employees).toHaveLength(50);
    expect(Object.keys(page.employees[0] ?? {})).toEqual(['id', 'name', 'email']);
    expect(res.cache).toBe('MISS');
    expect(
      (await http.get('/departments/Engineering/employees?page=2')).cache,
      'the name’s case made another key',
    ).toBe('HIT');
  });

  it('keys every page with the department’s version, and reads that version from Redis even on an L1 hit', async () => {
    const { http } = await instance('a');
    await http.get('/departments/Sales/employees');
    const version = await services.redis.get(versionKey('Sales'));
    expect(Number(version), 'a new version starts at the current time in ms, never at 1').toBeGreaterThan(1e12);
    expect(await pageKeys('Sales')).toEqual([
      `${services.prefix}dept-employees:v1:dept=Sales&dept_version=${version}&page=1`,
    ]);
    const hit = await http.get('/departments/Sales/employees');
    expect([hit.cache, hit.headers.get('x-cache-level')]).toEqual(['HIT', 'L1']);
    expect(hit.timing.l2, 'the version lookup is a Redis round trip').toBeGreaterThan(0);
  });

  it('drops every cached page of a department with one INCR when a name in it changes', async () => {
    const { http } = await instance('a');
    const paths = [1, 2, 3].map((p) => `/departments/Support/employees?page=${p}`);
    for (const path of paths) expect((await http.get(path)).cache).toBe('MISS');
    for (const path of paths) expect((await http.get(path)).cache).toBe('HIT');
    await http.get('/departments/Legal/employees?page=1');
    const before = Number(await services.redis.get(versionKey('Support')));

    const { id } = await someoneIn('Support');
    expect((await send(http, 'PATCH', `/employees/${id}`, { name: 'Aaron Aardvark' })).status).toBe(200);
    expect(Number(await services.redis.get(versionKey('Support')))).toBe(before + 1);

    const first = await http.get(paths[0] as string);
    expect(first.cache).toBe('MISS');
    expect(first.json<Page>().employees[0], 'the renamed employee sorts first now').toMatchObject({
      id,
      name: 'Aaron Aardvark',
    });
    for (const path of paths.slice(1)) expect((await http.get(path)).cache, `${path} survived the bump`).toBe('MISS');
    expect((await http.get('/departments/Legal/employees?page=1')).cache, 'another department lost its pages').toBe(
      'HIT',
    );
  });

  it('leaves the lists cached when only a status changes: they hold no status', async () => {
    const { http } = await instance('a');
    await http.get('/departments/Finance/employees?page=1');
    const { id, status } = await someoneIn('Finance');
    await send(http, 'PATCH', `/employees/${id}`, { status: status === 'in' ? 'out' : 'in' });
    expect((await http.get('/departments/Finance/employees?page=1')).cache).toBe('HIT');
  });

  it('moves an employee: both departments’ lists are new, and each shows the right total', async () => {
    const { http } = await instance('a');
    await http.get('/departments/Operations/employees');
    await http.get('/departments/People/employees');
    const { id } = await someoneIn('Operations');
    expect((await send(http, 'PATCH', `/employees/${id}`, { department: 'People' })).status).toBe(200);
    const from = await http.get('/departments/Operations/employees');
    const to = await http.get('/departments/People/employees');
    expect([from.cache, to.cache]).toEqual(['MISS', 'MISS']);
    expect(from.json<Page>().total).toBe(1249);
    expect(to.json<Page>().total).toBe(1251);
  });

  it('never serves an earlier page again when the version key is lost (evicted): it starts again from a new number', async () => {
    const { http } = await instance('a');
    await http.get('/departments/Marketing/employees');
    const { id } = await someoneIn('Marketing');
    await send(http, 'PATCH', `/employees/${id}`, { name: 'Aaron Zed' });
    await http.get('/departments/Marketing/employees');
    const used = (await pageKeys('Marketing')).map((k) => Number(/dept_version=(\d+)/.exec(k)?.[1]));
    expect(used).toHaveLength(2);

    await services.redis.del(versionKey('Marketing')); // what eviction would do
    const res = await http.get('/departments/Marketing/employees');
    expect(res.cache, 'an old page was served after the version key was lost').toBe('MISS');
    expect(res.json<Page>().employees[0]?.name).toBe('Aaron Zed');
    const now = Number(await services.redis.get(versionKey('Marketing')));
    expect(now).toBeGreaterThan(Math.max(...used));
  });

  it('answers 404 for an unknown department and 400 for a bad page, and caches neither', async () => {
    const { http } = await instance('a');
    expect((await http.get('/departments/Nowhere/employees')).status).toBe(404);
    for (const page of ['0', '501', 'x', '1.5']) {
      const res = await http.get(`/departments/Sales/employees?page=${page}`);
      expect(res.status, `page=${page}`).toBe(400);
      expect(res.json<{ detail: string }>().detail).toContain('`page`');
    }
    expect((await http.get('/departments/Sales/employees?page=1&sort=name')).status).toBe(400);
    expect(services.queries.count).toBe(0);
    expect(await services.redisKeys()).toEqual([]);
  });
});

describe('GET /departments/:name/summary and GET /departments: tags', () => {
  it('registers each aggregate under its department tags: the overview under every department', async () => {
    const { http } = await instance('a');
    const summary = await http.get('/departments/Legal/summary');
    expect(summary.json<Counts>()).toMatchObject({ department: 'Legal', employees: 1250 });
    const overview = (await http.get('/departments')).json<Overview>();
    expect(overview.departments).toHaveLength(8);
    expect(overview.employees).toBe(overview.departments.reduce((n, d) => n + d.employees, 0));

    expect((await services.redis.smembers(tagKey('Legal'))).sort()).toEqual([
      `${services.prefix}departments:v1`,
      `${services.prefix}dept-summary:v1:dept=Legal`,
    ]);
    expect(await services.redis.smembers(tagKey('Sales'))).toEqual([`${services.prefix}departments:v1`]);
    const ttl = await services.redis.pttl(tagKey('Legal'));
    expect(ttl, 'a tag set must live as long as the keys it lists').toBeGreaterThan(49_000);
  });

  it('drops the department’s summary and the overview on a status change, and only those', async () => {
    const { http } = await instance('a');
    const before = (await http.get('/departments/Engineering/summary')).json<Counts>();
    const overviewBefore = (await http.get('/departments')).json<Overview>();
    await http.get('/departments/Sales/summary');
    const someone = await someoneIn('Engineering', 1);
    const status = someone.status === 'in' ? 'out' : 'in';
    expect((await send(http, 'PATCH', `/employees/${someone.id}`, { status })).status).toBe(200);
    expect(await services.redis.exists(tagKey('Engineering')), 'the tag set is taken with its keys').toBe(0);

    const after = await http.get('/departments/Engineering/summary');
    expect(after.cache).toBe('MISS');
    expect(after.json<Counts>().in).toBe(before.in + (status === 'in' ? 1 : -1));
    const overview = await http.get('/departments');
    expect(overview.cache).toBe('MISS');
    expect(overview.json<Overview>().in).toBe(overviewBefore.in + (status === 'in' ? 1 : -1));
    expect((await http.get('/departments/Sales/summary')).cache, 'Sales had nothing to do with it').toBe('HIT');
  });

  it('leaves the counts cached on a rename: they hold no names', async () => {
    const { http } = await instance('a');
    await http.get('/departments/Support/summary');
    const { id } = await someoneIn('Support', 2);
    await send(http, 'PATCH', `/employees/${id}`, { name: 'Someone Else' });
    expect((await http.get('/departments/Support/summary')).cache).toBe('HIT');
  });

  it('counts a hire and a departure at once', async () => {
    const { http } = await instance('a');
    const before = (await http.get('/departments/People/summary')).json<Counts>();
    const hired = await send(http, 'POST', '/employees', {
      name: 'New Hire',
      email: 'new.hire@example.com',
      department: 'People',
      status: 'out',
    });
    expect(hired.status).toBe(201);
    const afterHire = (await http.get('/departments/People/summary')).json<Counts>();
    expect(afterHire).toMatchObject({ employees: before.employees + 1, out: before.out + 1 });
    expect((await send(http, 'DELETE', `/employees/${hired.json<{ id: number }>().id}`)).status).toBe(204);
    expect((await http.get('/departments/People/summary')).json<Counts>()).toEqual(before);
  });
});
