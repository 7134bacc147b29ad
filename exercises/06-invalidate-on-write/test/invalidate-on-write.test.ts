import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import {
  captureServerLog,
  expectJsonOnly,
  expectMalformedJson,
  type HttpHarness,
  redisUrl,
  serve,
  startChaosProxy,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppDeps, createApp } from '../src/app.ts';

const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];
/** What the instances logged: a 500's message says it (the answer itself only says "see the server log"). */
const serverLog = captureServerLog();
const { said } = serverLog;

beforeEach(async () => {
  await services.clearRedis();
  serverLog.clear();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** One instance of your app, as a separate server process would be: its own L1 and its own Redis connections. */
async function instance(name: string, extra: Partial<AppDeps> = {}, options: { redisUrl?: string } = {}) {
  const redis = createRedisClient({ log: () => {}, ...(options.redisUrl ? { url: options.redisUrl } : {}) });
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
    ...extra,
  });
  cleanups.push(() => app.locals.close?.());
  await Promise.race([app.locals.ready, new Promise((r) => setTimeout(r, 2000))]);
  const http = await serve(app);
  cleanups.push(() => http.close());
  return { name, http };
}
type Instance = Awaited<ReturnType<typeof instance>>;

/**
 * A gate for `beforeCommit`: the write that reaches it waits there, its transaction still
 * open, until the test calls `open()`.
 */
function gate() {
  let arrive!: () => void;
  let open!: () => void;
  const arrived = new Promise<void>((resolve) => {
    arrive = resolve;
  });
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    beforeCommit: async () => {
      arrive();
      await opened;
    },
    /** true once a write waits at the gate; false if none came within `timeoutMs`. */
    reached: (timeoutMs = 5000) =>
      Promise.race([arrived.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs))]),
    open: () => open(),
  };
}

/** Read again and again until `done` or `timeoutMs`: a message between instances takes a moment. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    value = await read();
  }
  return value;
}

interface Row {
  id: number;
  name: string;
  email: string;
  department: string;
  status: 'in' | 'out';
}
interface List {
  total: number;
  employees: { id: number; name: string; status: string }[];
}
interface Counts {
  employees: number;
  in: number;
  out: number;
}

/** The `n`th employee of a department, straight from PostgreSQL. */
async function employeeOf(department: string, n = 0): Promise<Row> {
  const { rows } = await services.db.query<Row>(
    'SELECT id, name, email, department, status FROM employees WHERE department = $1 ORDER BY id OFFSET $2 LIMIT 1',
    [department, n],
  );
  return rows[0] as Row;
}

/** What a department's summary must say now, counted in PostgreSQL. */
async function countsOf(department: string): Promise<Counts> {
  const { rows } = await services.db.query<Counts>(
    `SELECT count(*)::int AS employees, count(*) FILTER (WHERE status = 'in')::int AS "in",
            count(*) FILTER (WHERE status = 'out')::int AS "out" FROM employees WHERE department = $1`,
    [department],
  );
  return rows[0] as Counts;
}

const employeePath = (id: number) => `/employees/${id}`;
const listPath = (department: string) => `/departments/${encodeURIComponent(department)}/employees`;
const summaryPath = (department: string) => `/departments/${encodeURIComponent(department)}/summary`;

const send = (http: HttpHarness, method: string, path: string, body?: unknown) =>
  http.request(path, {
    method,
    ...(body === undefined
      ? {}
      : {
          headers: { 'content-type': 'application/json' },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        }),
  });

const level = (res: TestResponse) =>
  res.cache === 'HIT' ? `its ${res.headers.get('x-cache-level')}` : `a ${res.cache ?? res.status}`;
const entryOf = (res: TestResponse, id: number) =>
  res.status === 200 ? res.json<List>().employees.find((e) => e.id === id) : undefined;
const countsIn = (res: TestResponse): Counts | undefined => {
  if (res.status !== 200) return undefined;
  const { employees, in: inside, out } = res.json<Counts>();
  return { employees, in: inside, out };
};

/** Read every path on `who`, so that each is cached (in Redis and in that instance's L1). */
async function warm(who: Instance, paths: string[]) {
  for (const path of paths) {
    const res = await who.http.get(path);
    expect(res.status, `${who.name.toUpperCase()}: GET ${path} answered ${res.status}${said(res)}`).toBe(200);
  }
  // A second time: on an instance that did not load it, the first read was an L2 hit that filled its L1.
  for (const path of paths) await who.http.get(path);
}

/**
 * B must show what A wrote, within a second (the bus is fast, not instant). When it does not,
 * say why, by asking A too: if A is wrong as well, the key was never invalidated; if only B
 * is, B was never told.
 */
async function expectOnB(
  a: Instance,
  b: Instance,
  path: string,
  what: string,
  write: string,
  fresh: (res: TestResponse) => boolean,
) {
  const onB = await eventually(() => b.http.get(path), fresh);
  if (fresh(onB)) return;
  expect(onB.status, `after ${write} on A, B answered GET ${path} with ${onB.status}${said(onB)}`).toBeLessThan(500);
  const onA = await a.http.get(path);
  expect(onA.status, `after ${write} on A, A answered GET ${path} with ${onA.status}${said(onA)}`).toBeLessThan(500);
  const why = fresh(onA)
    ? `A shows the change, but B still answers from ${level(onB)}: B was never told to drop its copy. Invalidate through the cache (cache.delete): it deletes the Redis copy and A's L1, and tells every other instance over the bus`
    : onA.headers.get('x-cache-level') === 'L1'
      ? `A still shows the old value too, from its own L1: ${write} does not invalidate the cached ${what}, or only in Redis. Which cached responses does this write change? Invalidate each through the cache (cache.delete: Redis, this instance's L1, and the bus for the others)`
      : `A still shows the old value too (from ${level(onA)}): ${write} does not invalidate the cached ${what}. Which cached responses does this write change?`;
  expect(fresh(onB), `a second after ${write} on A, B's ${what} is out of date (${path}). ${why}`).toBe(true);
}

describe('every write shows on the other instance', () => {
  it("a POST on A shows the new employee in B's department list and summary", async () => {
    const a = await instance('a');
    const b = await instance('b');
    const department = 'Legal';
    await warm(a, [listPath(department), summaryPath(department)]);
    await warm(b, [listPath(department), summaryPath(department)]);

    const res = await send(a.http, 'POST', '/employees', {
      name: 'Ada Newcomer',
      email: 'ada.newcomer@test.example',
      department,
      status: 'out',
    });
    expect(res.status, `POST /employees answered ${res.status}${said(res)}`).toBe(201);
    const { id } = res.json<Row>();
    const expected = await countsOf(department);

    const write = 'a POST of a new employee into Legal';
    await expectOnB(a, b, listPath(department), 'list of Legal', write, (r) => entryOf(r, id)?.name === 'Ada Newcomer');
    await expectOnB(a, b, summaryPath(department), 'summary of Legal', write, (r) =>
      isDeepEqual(countsIn(r), expected),
    );
    const created = await b.http.get(employeePath(id));
    expect(created.status, `B answers ${created.status}${said(created)} for the employee A has just created`).toBe(200);
  });

  it("a PATCH on A shows in B's reads of the employee, of its department list and of its summary", async () => {
    const a = await instance('a');
    const b = await instance('b');
    const employee = await employeeOf('Finance', 3);
    const status = employee.status === 'in' ? 'out' : 'in';
    const paths = [employeePath(employee.id), listPath('Finance'), summaryPath('Finance')];
    await warm(a, paths);
    await warm(b, paths);

    const res = await send(a.http, 'PATCH', employeePath(employee.id), { name: 'Grace Renamed', status });
    expect(res.status, `PATCH answered ${res.status}${said(res)}`).toBe(200);
    const expected = await countsOf('Finance');

    const write = `a PATCH of employee ${employee.id}'s name and status`;
    await expectOnB(a, b, employeePath(employee.id), `employee ${employee.id}`, write, (r) => {
      const row = r.status === 200 ? r.json<Row>() : undefined;
      return row?.name === 'Grace Renamed' && row.status === status;
    });
    await expectOnB(a, b, listPath('Finance'), 'list of Finance', write, (r) => {
      const entry = entryOf(r, employee.id);
      return entry?.name === 'Grace Renamed' && entry.status === status;
    });
    await expectOnB(a, b, summaryPath('Finance'), 'summary of Finance (its in/out counts)', write, (r) =>
      isDeepEqual(countsIn(r), expected),
    );
  });

  it('a DELETE on A makes B answer 404 for the employee and drop them from the list and the summary', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const employee = await employeeOf('Support', 5);
    const paths = [employeePath(employee.id), listPath('Support'), summaryPath('Support')];
    await warm(a, paths);
    await warm(b, paths);

    const res = await send(a.http, 'DELETE', employeePath(employee.id));
    expect(res.status, `DELETE answered ${res.status}${said(res)}`).toBe(204);
    const expected = await countsOf('Support');

    const write = `a DELETE of employee ${employee.id}`;
    await expectOnB(a, b, employeePath(employee.id), `employee ${employee.id}`, write, (r) => r.status === 404);
    await expectOnB(
      a,
      b,
      listPath('Support'),
      'list of Support',
      write,
      (r) => r.status === 200 && entryOf(r, employee.id) === undefined,
    );
    await expectOnB(a, b, summaryPath('Support'), 'summary of Support', write, (r) =>
      isDeepEqual(countsIn(r), expected),
    );
  });

  it('moving an employee to another department on A updates BOTH departments on B', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const employee = await employeeOf('Marketing', 7);
    const paths = [
      employeePath(employee.id),
      listPath('Marketing'),
      summaryPath('Marketing'),
      listPath('Operations'),
      summaryPath('Operations'),
    ];
    await warm(a, paths);
    await warm(b, paths);

    const res = await send(a.http, 'PATCH', employeePath(employee.id), { department: 'Operations' });
    expect(res.status, `PATCH answered ${res.status}${said(res)}`).toBe(200);
    const [oldCounts, newCounts] = [await countsOf('Marketing'), await countsOf('Operations')];

    const write = `moving employee ${employee.id} from Marketing to Operations`;
    await expectOnB(
      a,
      b,
      employeePath(employee.id),
      `employee ${employee.id}`,
      write,
      (r) => r.status === 200 && r.json<Row>().department === 'Operations',
    );
    await expectOnB(a, b, listPath('Operations'), 'list of Operations (the new department)', write, (r) =>
      Boolean(entryOf(r, employee.id)),
    );
    await expectOnB(a, b, summaryPath('Operations'), 'summary of Operations (the new department)', write, (r) =>
      isDeepEqual(countsIn(r), newCounts),
    );
    await expectOnB(
      a,
      b,
      listPath('Marketing'),
      'list of Marketing (the department they left)',
      write,
      (r) => r.status === 200 && entryOf(r, employee.id) === undefined,
    );
    await expectOnB(a, b, summaryPath('Marketing'), 'summary of Marketing (the department they left)', write, (r) =>
      isDeepEqual(countsIn(r), oldCounts),
    );
  });
});

describe('invalidation waits for the commit', () => {
  const cases = [
    {
      method: 'POST',
      department: 'People',
      pick: async () => undefined,
      request: (http: HttpHarness) =>
        send(http, 'POST', '/employees', {
          name: 'Hedy Gated',
          email: 'hedy.gated@test.example',
          department: 'People',
        }),
      status: 201,
    },
    {
      method: 'PATCH',
      department: 'Engineering',
      pick: () => employeeOf('Engineering', 11),
      request: (http: HttpHarness, id?: number) => send(http, 'PATCH', employeePath(id ?? 0), { name: 'Linus Gated' }),
      status: 200,
    },
    {
      method: 'DELETE',
      department: 'Sales',
      pick: () => employeeOf('Sales', 13),
      request: (http: HttpHarness, id?: number) => send(http, 'DELETE', employeePath(id ?? 0)),
      status: 204,
    },
  ];

  it.each(cases)(
    "a read on B while A's $method is still uncommitted cannot keep the old value in the cache",
    async ({ method, department, pick, request, status }) => {
      const held = gate();
      const a = await instance('a', { beforeCommit: held.beforeCommit });
      const b = await instance('b');
      const employee = await pick();
      const paths = [...(employee ? [employeePath(employee.id)] : []), listPath(department), summaryPath(department)];
      await warm(a, paths); // cached in Redis; B has read nothing yet

      const pending = request(a.http, employee?.id);
      expect(
        await held.reached(),
        `A's ${method} never reached beforeCommit(): keep the \`await beforeCommit?.()\` in inTransaction, before COMMIT (the test holds the write there)`,
      ).toBe(true);
      // The write is done but not committed. Both instances read meanwhile: they get the old,
      // committed values, which is right at this moment.
      const during = new Map<string, TestResponse>();
      for (const path of paths) {
        during.set(path, await b.http.get(path));
        await a.http.get(path);
      }
      held.open();
      const res = await pending;
      expect(res.status, `${method} answered ${res.status}${said(res)}`).toBe(status);
      const id = employee?.id ?? res.json<Row>().id;
      const expected = await countsOf(department);
      const fresh: Record<string, (r: TestResponse) => boolean> = {
        [listPath(department)]: (r) =>
          method === 'DELETE' ? entryOf(r, id) === undefined : entryOf(r, id)?.name.endsWith('Gated') === true,
        [summaryPath(department)]: (r) => isDeepEqual(countsIn(r), expected),
        ...(employee
          ? {
              [employeePath(employee.id)]: (r: TestResponse) =>
                method === 'DELETE' ? r.status === 404 : r.json<Row>().name === 'Linus Gated',
            }
          : {}),
      };

      for (const path of paths) {
        const check = fresh[path] ?? (() => true);
        for (const who of [b, a]) {
          const read = await eventually(() => who.http.get(path), check);
          expect(
            read.status,
            `${who.name.toUpperCase()}: GET ${path} answered ${read.status}${said(read)}`,
          ).toBeLessThan(500);
          const whileOpen = during.get(path);
          const why =
            whileOpen?.cache === 'MISS'
              ? `While the ${method} was still uncommitted, B's read of it missed Redis (X-Cache: MISS): something had already deleted the cached copy, before the COMMIT. So B loaded the OLD value from PostgreSQL and cached it again, and nothing removed it after the COMMIT. Invalidate once inTransaction(…) has resolved, not inside it and not before it`
              : `Nothing removed it after the COMMIT: the failing tests above say which copy this write leaves behind`;
          expect(
            check(read),
            `after A's ${method} committed, ${who.name.toUpperCase()} still answers ${path} with the old value (from ${level(read)}). ${why}.`,
          ).toBe(true);
        }
      }
    },
  );
});

describe('a write answers once its invalidation has finished', () => {
  it('when Redis stops answering mid-write, the PATCH still succeeds and says X-Cache-Invalidation: failed', async () => {
    // A's Redis connection goes through a proxy the test can freeze: a real Redis, reached
    // over a network that stops delivering (a frozen server, a partition). Its DEL and PUBLISH
    // then fail after the client's command timeout (250 ms), and invalidate() says so in the
    // X-Cache-Invalidation header, but only to a response that has waited for it. No clock is
    // involved in the verdict: a write that answers first cannot carry the header at all.
    const proxy = await startChaosProxy({ upstream: redisUrl() });
    cleanups.push(() => proxy.close());
    const a = await instance('a', {}, { redisUrl: proxy.url });
    const employee = await employeeOf('Finance', 23);
    await warm(a, [employeePath(employee.id), listPath('Finance')]);

    proxy.blackhole();
    const res = await send(a.http, 'PATCH', employeePath(employee.id), { name: 'Ken Unacknowledged' });
    proxy.restore();
    expect(
      res.status,
      `a PATCH while Redis did not answer got ${res.status}${said(res)}: the write is committed in PostgreSQL, so it succeeded; a cache failure must not turn it into an error`,
    ).toBe(200);
    expect(
      res.headers.get('x-cache-invalidation'),
      'Redis never acknowledged the invalidation, yet the PATCH answered without X-Cache-Invalidation: failed. It answered before its invalidation finished: await invalidate(…) before you answer, so that the client that wrote reads its own write next, and learns when the cache could not be told',
    ).toBe('failed');
    expect((await getRow(employee.id))?.name, 'the PATCH did not reach PostgreSQL').toBe('Ken Unacknowledged');
  });

  it('the instance that wrote shows the write at once, on the very next read', async () => {
    const a = await instance('a');
    const employee = await employeeOf('Engineering', 21);
    const paths = [employeePath(employee.id), listPath('Engineering')];
    await warm(a, paths);
    const res = await send(a.http, 'PATCH', employeePath(employee.id), { name: 'Barbara Next' });
    expect(res.status, `PATCH answered ${res.status}${said(res)}`).toBe(200);
    expect(
      ['db', 'l2'].filter((metric) => !(metric in res.timing)),
      `the PATCH's Server-Timing is ${JSON.stringify(res.headers.get('server-timing'))}: it should time the transaction as \`db\` and the invalidation as \`l2\` (keep the starter's time(res, 'db', …), and invalidate with invalidate(res, …), which records l2)`,
    ).toEqual([]);
    const own = await a.http.get(employeePath(employee.id));
    expect(own.status, `GET ${employeePath(employee.id)} answered ${own.status}${said(own)}`).toBe(200);
    expect(
      own.json<Row>().name,
      `right after A answered the PATCH, A itself still answers employee ${employee.id} with the old name (from ${level(own)}): answer a write only once its invalidation has finished`,
    ).toBe('Barbara Next');
    const list = await a.http.get(listPath('Engineering'));
    expect(list.status, `GET ${listPath('Engineering')} answered ${list.status}${said(list)}`).toBe(200);
    expect(
      entryOf(list, employee.id)?.name,
      `right after A answered the PATCH, A's list of Engineering still has the old name (from ${level(list)})`,
    ).toBe('Barbara Next');
  });
});

describe('failed writes', () => {
  it('a write that fails (400, 404, 409) invalidates nothing and stores nothing', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const employee = await employeeOf('Finance', 17);
    const other = await employeeOf('Legal', 19);
    const paths = [employeePath(employee.id), listPath('Finance'), summaryPath('Finance'), listPath('Legal')];
    await warm(a, paths);
    await warm(b, paths);
    const keysBefore = await services.redisKeys();
    const bodiesBefore = new Map<string, string>();
    for (const path of paths) bodiesBefore.set(path, (await b.http.get(path)).text);

    const failing: [string, string, string, unknown, number][] = [
      ['a PATCH with an empty name', 'PATCH', employeePath(employee.id), { name: ' ' }, 400],
      ['a PATCH with malformed JSON', 'PATCH', employeePath(employee.id), '{"name": ', 400],
      ["a PATCH to another employee's email", 'PATCH', employeePath(employee.id), { email: other.email }, 409],
      [
        "a move to Legal with another employee's email",
        'PATCH',
        employeePath(employee.id),
        { department: 'Legal', email: other.email },
        409,
      ],
      ['a PATCH of an employee that does not exist', 'PATCH', employeePath(999_999_999), { status: 'in' }, 404],
      ['a DELETE of an employee that does not exist', 'DELETE', employeePath(999_999_999), undefined, 404],
      [
        "a POST with another employee's email",
        'POST',
        '/employees',
        { name: 'X', email: other.email, department: 'Finance' },
        409,
      ],
      ['a POST without a department', 'POST', '/employees', { name: 'X', email: 'x@test.example' }, 400],
      [
        'a POST into a department that does not exist',
        'POST',
        '/employees',
        { name: 'X', email: 'x@test.example', department: 'Astrology' },
        400,
      ],
    ];
    for (const [what, method, path, body, status] of failing) {
      const res = await send(a.http, method, path, body);
      expect(res.status, `${what} (${method} ${path}) answered ${res.status}, not ${status}${said(res)}`).toBe(status);
    }

    const keysAfter = await services.redisKeys();
    const gone = keysBefore.filter((k) => !keysAfter.includes(k)).map((k) => k.slice(services.prefix.length));
    const added = keysAfter.filter((k) => !keysBefore.includes(k)).map((k) => k.slice(services.prefix.length));
    expect(
      gone,
      `writes that FAILED deleted cached entries from Redis (${gone.join(', ')}): a write that is rejected or rolled back changed nothing, so it must invalidate nothing. Invalidate only once the write has committed`,
    ).toEqual([]);
    expect(
      added,
      `writes that FAILED stored new entries in Redis (${added.join(', ')}): a failed write must store nothing`,
    ).toEqual([]);
    for (const path of paths) {
      const read = await b.http.get(path);
      expect(read.text, `after writes that all failed, B answers ${path} differently than before`).toBe(
        bodiesBefore.get(path),
      );
      expect(
        read.headers.get('x-cache-level'),
        `after writes that all failed, B no longer has ${path} in its L1 (it answered from ${level(read)}): a failed write must invalidate nothing`,
      ).toBe('L1');
    }
  });
});

async function getRow(id: number): Promise<Row | undefined> {
  const { rows } = await services.db.query<Row>(
    'SELECT id, name, email, department, status FROM employees WHERE id = $1',
    [id],
  );
  return rows[0];
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

describe('what a write reads', () => {
  it('answers a body not sent as application/json with 415 naming it, before any write', async () => {
    const a = await instance('a');
    const employee = await employeeOf('Finance', 29);
    const body = JSON.stringify({
      name: 'Ada Unlabelled',
      email: 'ada.unlabelled@test.example',
      department: 'Finance',
    });
    // Without a Content-Type (curl -d without -H) and as text/plain: the label is the mistake, not the body.
    await expectJsonOnly(a.http, 'POST', '/employees', body, undefined);
    await expectJsonOnly(a.http, 'PATCH', employeePath(employee.id), '{"name":"Ada Unlabelled"}', undefined);
    await expectJsonOnly(a.http, 'PATCH', employeePath(employee.id), '{"name":"Ada Unlabelled"}');
    expect((await getRow(employee.id))?.name, 'a PATCH the server refused (415) changed the row').toBe(employee.name);
  });

  it('answers malformed JSON with a 400 that says where it breaks', async () => {
    const a = await instance('a');
    const employee = await employeeOf('Finance', 31);
    await expectMalformedJson(a.http, 'POST', '/employees');
    await expectMalformedJson(a.http, 'PATCH', employeePath(employee.id));
  });
});
