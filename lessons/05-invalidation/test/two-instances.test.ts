import type { HttpHarness, TestResponse } from '@cachelab/testkit';
import { expectConsistent, hammerEmployeeNames, useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { departmentSummary, departmentsOverview, listDepartmentPage } from '../src/directory-queries.ts';
import { eventually, send, useInstances } from './instances.ts';

const services = useServices();
const instance = useInstances(services);

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

interface Row {
  id: number;
  name: string;
  email: string;
  department: string;
  status: string;
}

/** The first employee (by id) of `dept` after skipping `skip`. Each case below takes its own. */
async function employeeOf(dept: string, skip: number): Promise<Row> {
  const { rows } = await services.db.query<Row>(
    'SELECT id, name, email, department, status FROM employees WHERE department = $1 ORDER BY id OFFSET $2 LIMIT 1',
    [dept, skip],
  );
  return rows[0] as Row;
}

/** What PostgreSQL says now, in the bytes the API would send (the ground truth for every read). */
async function truth(path: string): Promise<{ status: number; body?: unknown }> {
  const employee = /^\/employees\/(\d+)$/.exec(path);
  if (employee) {
    const id = Number(employee[1]);
    const { rows } = await services.db.query(
      'SELECT id, name, email, department, status, status_updated_at, updated_at FROM employees WHERE id = $1',
      [id],
    );
    return rows[0] ? { status: 200, body: JSON.parse(JSON.stringify(rows[0])) } : { status: 404 };
  }
  const page = /^\/departments\/(\w+)\/employees$/.exec(path);
  if (page) return { status: 200, body: await listDepartmentPage(services.db, page[1] as never, 1) };
  const summary = /^\/departments\/(\w+)\/summary$/.exec(path);
  if (summary) return { status: 200, body: await departmentSummary(services.db, summary[1] as never) };
  return { status: 200, body: await departmentsOverview(services.db) };
}

const view = (res: TestResponse) => ({ status: res.status, ...(res.status === 200 ? { body: res.json() } : {}) });

interface Case {
  what: string;
  /** The employee written, and the department(s) involved. */
  pick(): Promise<{ id?: number; departments: string[] }>;
  write(a: HttpHarness, id: number | undefined): Promise<TestResponse>;
}

const cases: Case[] = [
  {
    what: 'PATCH of a status',
    pick: async () => {
      const e = await employeeOf('Sales', 10);
      return { id: e.id, departments: ['Sales'] };
    },
    write: async (a, id) => {
      const current = (await a.get(`/employees/${id}`)).json<Row>().status;
      return send(a, 'PATCH', `/employees/${id}`, { status: current === 'in' ? 'out' : 'in' });
    },
  },
  {
    what: 'PATCH of a name',
    pick: async () => ({ id: (await employeeOf('Legal', 11)).id, departments: ['Legal'] }),
    write: (a, id) => send(a, 'PATCH', `/employees/${id}`, { name: 'Aaron Abbott' }),
  },
  {
    what: 'PATCH of a department',
    pick: async () => ({ id: (await employeeOf('Finance', 12)).id, departments: ['Finance', 'Support'] }),
    write: (a, id) => send(a, 'PATCH', `/employees/${id}`, { department: 'Support' }),
  },
  {
    what: 'PUT of every field',
    pick: async () => ({ id: (await employeeOf('People', 13)).id, departments: ['People', 'Operations'] }),
    write: (a, id) =>
      send(a, 'PUT', `/employees/${id}`, {
        name: 'Aaron Able',
        email: 'aaron.able@example.com',
        department: 'Operations',
        status: 'out',
      }),
  },
  {
    what: 'POST of a new employee',
    pick: async () => ({ departments: ['Marketing'] }),
    write: (a) =>
      send(a, 'POST', '/employees', { name: 'Aaron Adams', email: 'aaron.adams@example.com', department: 'Marketing' }),
  },
  {
    what: 'DELETE of an employee',
    pick: async () => {
      // The first name on page 1, so that the page visibly changes.
      const first = (await listDepartmentPage(services.db, 'Engineering', 1)).employees[0];
      return { id: first?.id as number, departments: ['Engineering'] };
    },
    write: (a, id) => send(a, 'DELETE', `/employees/${id}`),
  },
];

describe('every write path leaves no stale read, on any instance', () => {
  it.each(cases)('$what on instance A: B’s next reads of the employee, the lists and the counts are new', async (c) => {
    const a = await instance('a');
    const b = await instance('b');
    const { id, departments } = await c.pick();
    const paths = [
      ...(id ? [`/employees/${id}`] : []),
      ...departments.flatMap((d) => [`/departments/${d}/employees`, `/departments/${d}/summary`]),
      '/departments',
    ];
    // Warm both levels, and B's L1: the second read on B must be an L1 hit.
    for (const path of paths) await a.http.get(path);
    for (const path of paths) await b.http.get(path);
    for (const path of paths) {
      const warm = await b.http.get(path);
      expect([warm.cache, warm.headers.get('x-cache-level')], `${path} was not in B's L1`).toEqual(['HIT', 'L1']);
    }

    const written = await c.write(a.http, id);
    expect(written.status, written.text).toBeLessThan(300);
    expect(written.headers.get('x-cache-invalidation')).toBeNull();

    // Versioned list keys need no bus: B reads the new version from Redis on its very next read.
    for (const dept of departments) {
      const path = `/departments/${dept}/employees`;
      expect(view(await b.http.get(path)), `B served an old page of ${dept} right after the write`).toEqual(
        await truth(path),
      );
    }
    // Deleted keys reach B's L1 over lesson 04's bus: a message, so allow it a moment.
    for (const path of paths) {
      const expected = await truth(path);
      const seen = await eventually(
        () => b.http.get(path),
        (res) => JSON.stringify(view(res)) === JSON.stringify(expected),
      );
      expect(view(seen), `B still served the old ${path} a second after A's ${c.what}`).toEqual(expected);
    }
  });
});

describe('under a hammer', () => {
  it('stays consistent: two instances, readers and PATCHes at once, then every profile agrees everywhere', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const report = await hammerEmployeeNames({
      instances: [a, b],
      ids: [90, 91, 92, 93],
      db: services.db,
      cached: async (id) => {
        const stored = await services.redis.get(a.locals.keys.profile(id));
        return stored === null ? undefined : (JSON.parse(stored) as Row).name;
      },
    });
    expectConsistent(report);
  });
});
