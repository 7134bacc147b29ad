import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
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
  services.queries.reset();
  serverLog.clear();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** One instance of your app, as a separate server process would be: its own L1 and its own Redis connections. */
async function instance(
  name: string,
  extra: Partial<AppDeps> = {},
  options: { redisUrl?: string; commandTimeoutMs?: number } = {},
) {
  const redis = createRedisClient({
    log: () => {},
    ...(options.redisUrl ? { url: options.redisUrl } : {}),
    ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
  });
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
 * A gate for `beforeCommit`. Until `hold(n)`, writes go straight through. After it, the next
 * `n` writes wait there, transactions open, until `open()`: a test can line up concurrent
 * writes so that they commit together, or hold one write while it reads.
 */
function gate() {
  let expected = 0;
  let waiting = 0;
  let allThere: () => void = () => {};
  let arrived = Promise.resolve();
  let open: () => void = () => {};
  let opened = Promise.resolve();
  return {
    beforeCommit: async () => {
      if (waiting >= expected) return;
      waiting++;
      if (waiting === expected) allThere();
      await opened;
    },
    hold(n: number) {
      expected = n;
      waiting = 0;
      arrived = new Promise<void>((resolve) => {
        allThere = resolve;
      });
      opened = new Promise<void>((resolve) => {
        open = resolve;
      });
    },
    /** true once all the held writes wait at the gate; false if they did not within `timeoutMs`. */
    reached: (timeoutMs = 5000) =>
      Promise.race([arrived.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs))]),
    open: () => open(),
  };
}

interface Page {
  page: number;
  size: number;
  total: number;
  employees: { id: number; name: string; email: string }[];
}

const pagePath = (dept: string, page: number, size: number) =>
  `/departments/${encodeURIComponent(dept)}/employees?page=${page}&size=${size}`;
const patch = (http: HttpHarness, id: number, body: unknown) =>
  http.request(`/employees/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
/** GET `path`, insisting on a 200: what follows reads the page. */
async function getPage(http: HttpHarness, path: string): Promise<TestResponse> {
  const res = await http.get(path);
  expect(res.status, `GET ${path} answered ${res.status}${said(res)}: it should answer 200`).toBe(200);
  return res;
}
const level = (res: TestResponse) => (res.cache === 'HIT' ? `${res.headers.get('x-cache-level')}` : `${res.cache}`);
const LIST_QUERY = /FROM employees WHERE department/;
/** Where the tests read a department's version (see deptVersionKey in src/dept-version.ts). */
const versionKey = (dept: string) => cacheKey({ prefix: services.prefix, name: 'dept-version', params: { dept } });
async function versionOf(dept: string): Promise<number> {
  return Number((await services.redis.get(versionKey(dept))) ?? 0);
}

/** Employees of a department, straight from PostgreSQL. */
async function employeesOf(dept: string, n: number): Promise<{ id: number; name: string; email: string }[]> {
  const { rows } = await services.db.query<{ id: number; name: string; email: string }>(
    'SELECT id, name, email FROM employees WHERE department = $1 ORDER BY id LIMIT $2',
    [dept, n],
  );
  return rows;
}

/** Read every page twice, so that each is cached; the second read must be a hit. */
async function warm(who: Instance, pages: [string, number, number][]) {
  for (const [dept, page, size] of pages) {
    const first = await getPage(who.http, pagePath(dept, page, size));
    expectPage(first, page, size);
  }
  for (const [dept, page, size] of pages) {
    const again = await getPage(who.http, pagePath(dept, page, size));
    expect(
      again.cache,
      `the second read of ${pagePath(dept, page, size)} with no write in between was a ${again.cache}: pages must be cached while their department does not change`,
    ).toBe('HIT');
    expectPage(again, page, size);
  }
}

/** The page asked for, not another one cached under the same key. */
function expectPage(res: TestResponse, page: number, size: number) {
  const body = res.json<Page>();
  expect(
    { page: body.page, size: body.size },
    `GET ?page=${page}&size=${size} answered page ${body.page} of size ${body.size} (X-Cache: ${res.cache}): two different pages share one cache key. Put every parameter of the request in the key (page and size), with the version`,
  ).toEqual({ page, size });
}

/** Read each page; return the ones that were NOT a miss, as "page 2 (size 25): HIT from L1". */
async function notMissed(who: Instance, pages: [string, number, number][]) {
  const stale: string[] = [];
  for (const [dept, page, size] of pages) {
    const res = await getPage(who.http, pagePath(dept, page, size));
    if (res.cache !== 'MISS') stale.push(`${dept} page ${page} (size ${size}): ${res.cache} from ${level(res)}`);
  }
  return stale;
}

describe('one write, every page of the department', () => {
  it("one write to Sales makes every cached page of Sales miss, while Legal's pages stay cached", async () => {
    const a = await instance('a');
    const sales: [string, number, number][] = [
      ['Sales', 1, 25],
      ['Sales', 2, 25],
      ['Sales', 3, 25],
      ['Sales', 4, 25],
      ['Sales', 5, 25],
      ['Sales', 1, 100],
      ['Sales', 2, 100],
    ];
    const legal: [string, number, number][] = [
      ['Legal', 1, 25],
      ['Legal', 2, 25],
      ['Legal', 1, 100],
    ];
    await warm(a, [...sales, ...legal]);
    const [employee] = (await getPage(a.http, pagePath('Sales', 3, 25))).json<Page>().employees;
    const res = await patch(a.http, employee?.id ?? 0, { name: 'Sam Versioned' });
    expect(res.status, `PATCH answered ${res.status}${said(res)}`).toBe(200);
    expect(
      ['db', 'l2'].filter((metric) => !(metric in res.timing)),
      `the PATCH's Server-Timing is ${JSON.stringify(res.headers.get('server-timing'))}: it should time the write as \`db\` and the version bumps as \`l2\` (keep the names the starter gives them)`,
    ).toEqual([]);

    services.queries.reset();
    const stale = await notMissed(a, sales);
    const version = await versionOf('Sales');
    expect(
      stale,
      `after one write to Sales, these pages of Sales still came from the cache: ${stale.join('; ')}. ` +
        "Every page of the department must miss, even those that do not show the employee who changed: put Sales' version in every page key, and move the version on after the write. " +
        `(Sales' version in Redis is now ${version}${version === 1 ? ': if a missing version counts as 1, the first bump changes no key' : ''}.)`,
    ).toEqual([]);
    expect(
      services.queries.matching(LIST_QUERY),
      `after one write to Sales, its ${sales.length} pages should each be loaded again from PostgreSQL once`,
    ).toBe(sales.length);

    services.queries.reset();
    const legalMissed = (await notMissed(a, legal)).length;
    expect(
      services.queries.matching(LIST_QUERY),
      `a write to Sales made ${legal.length - legalMissed} of Legal's ${legal.length} pages reach PostgreSQL again: move on only the version of the department the write changed`,
    ).toBe(0);
  });

  it('moving someone from Marketing to Operations makes the pages of BOTH departments miss', async () => {
    const a = await instance('a');
    const marketing: [string, number, number][] = [
      ['Marketing', 1, 25],
      ['Marketing', 2, 25],
    ];
    const operations: [string, number, number][] = [
      ['Operations', 1, 25],
      ['Operations', 2, 25],
    ];
    const finance: [string, number, number][] = [['Finance', 1, 25]];
    await warm(a, [...marketing, ...operations, ...finance]);
    const [employee] = await employeesOf('Marketing', 1);
    const res = await patch(a.http, employee?.id ?? 0, { department: 'Operations' });
    expect(res.status, `PATCH answered ${res.status}${said(res)}`).toBe(200);

    const staleNew = await notMissed(a, operations);
    expect(
      staleNew,
      `after moving employee ${employee?.id} into Operations, pages of Operations still came from the cache: ${staleNew.join('; ')}`,
    ).toEqual([]);
    const staleOld = await notMissed(a, marketing);
    expect(
      staleOld,
      `after moving employee ${employee?.id} OUT of Marketing, pages of Marketing still came from the cache: ${staleOld.join('; ')}. A move changes both departments: bump the one in the row before the write too`,
    ).toEqual([]);
    services.queries.reset();
    await getPage(a.http, pagePath('Finance', 1, 25));
    expect(
      services.queries.matching(LIST_QUERY),
      "a move between Marketing and Operations made Finance's page reach PostgreSQL again",
    ).toBe(0);
  });

  it('shows the write on another instance at once: B reads the version from Redis, so its L1 copy of the old page is never used', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const pages: [string, number, number][] = [
      ['Support', 1, 25],
      ['Support', 2, 25],
    ];
    await warm(a, pages);
    await warm(b, pages); // B: an L2 hit, then its own L1
    const [employee] = (await getPage(b.http, pagePath('Support', 1, 25))).json<Page>().employees;
    const res = await patch(a.http, employee?.id ?? 0, { name: 'Aaron Versioned' });
    expect(res.status, `PATCH answered ${res.status}${said(res)}`).toBe(200);

    const nameOn = (res: TestResponse) => res.json<Page>().employees.find((e) => e.id === employee?.id)?.name;
    const read = await getPage(b.http, pagePath('Support', 1, 25));
    const onA = nameOn(await getPage(a.http, pagePath('Support', 1, 25)));
    expect(
      nameOn(read),
      onA === 'Aaron Versioned'
        ? `right after A's PATCH, A shows the new name on Support page 1 but B still shows the old one (from ${level(read)}): B built the same key as before the write. Read the version from Redis on every request, not from a copy in memory`
        : `right after A's PATCH, neither A nor B shows the new name on Support page 1 (B answered from ${level(read)}): the write did not change the page's key (see the tests above)`,
    ).toBe('Aaron Versioned');
  });
  it('a bump made by another process (INCR of the version in Redis) makes the next read miss', async () => {
    const a = await instance('a');
    await warm(a, [['Support', 3, 25]]);
    // Another instance of the app, in another process, has just committed a write to Support.
    await services.redis.incr(versionKey('Support'));
    const read = await getPage(a.http, pagePath('Support', 3, 25));
    expect(
      read.cache,
      `after Support's version moved on in Redis (under ${versionKey('Support').slice(services.prefix.length)}), the next read of Support page 3 was a ${read.cache} from ${level(read)}: each request must read the version from Redis, where every instance bumps it, not from a copy in this process`,
    ).toBe('MISS');
  });
});

describe('when Redis cannot answer', () => {
  it('a page is read from PostgreSQL (BYPASS), never from an old copy under a version the app guessed', async () => {
    // A's Redis connection goes through a proxy the test freezes: a real Redis that stops
    // answering. Reading the version then fails after the client's command timeout (250 ms).
    const proxy = await startChaosProxy({ upstream: redisUrl() });
    cleanups.push(() => proxy.close());
    const a = await instance('a', {}, { redisUrl: proxy.url });
    const path = pagePath('Support', 4, 25);
    await warm(a, [['Support', 4, 25]]); // cached under Support's version 0: in Redis and in A's L1
    // A new email, not a new name: the pages are sorted by name, so the employee stays on page 4.
    const [employee] = (await getPage(a.http, path)).json<Page>().employees;
    const email = `unreachable.${employee?.id}@test.example`;
    const res = await patch(a.http, employee?.id ?? 0, { email });
    expect(res.status, `PATCH answered ${res.status}${said(res)}`).toBe(200);

    proxy.blackhole();
    const read = await a.http.get(path);
    proxy.restore();
    expect(read.status, `with Redis not answering, GET ${path} answered ${read.status}${said(read)}`).toBe(200);
    const shown = read.json<Page>().employees.find((e) => e.id === employee?.id)?.email;
    expect(
      shown,
      `with Redis not answering, A served Support page 4 with employee ${employee?.id}'s old email (X-Cache: ${read.cache} from ${level(read)}): when the version cannot be read it is unknown, not 0. Let currentVersion reject, so that the route skips the cache and reads PostgreSQL (X-Cache: BYPASS)`,
    ).toBe(email);
    expect(read.cache, 'a page read while the version could not be known should say X-Cache: BYPASS').toBe('BYPASS');
  });
});

describe('old pages and the version key', () => {
  it('a write deletes no page: the old ones stay until their TTL, and the version outlives them', async () => {
    const a = await instance('a');
    const pages: [string, number, number][] = [
      ['Finance', 1, 25],
      ['Finance', 2, 25],
      ['Finance', 3, 25],
      ['Finance', 1, 50],
    ];
    await warm(a, pages);
    const oldPages = (await services.redisKeys()).filter((k) => k !== versionKey('Finance'));
    expect(oldPages.length, 'the cached pages of Finance are not in Redis').toBeGreaterThanOrEqual(pages.length);
    const [employee] = await employeesOf('Finance', 1);
    const res = await patch(a.http, employee?.id ?? 0, { name: 'Fay Versioned' });
    expect(res.status, `PATCH answered ${res.status}${said(res)}`).toBe(200);

    const keysAfter = await services.redisKeys();
    const deleted = oldPages.filter((k) => !keysAfter.includes(k));
    expect(
      deleted.length,
      `the write deleted ${deleted.length} of the ${oldPages.length} cached entries of Finance one by one: with versioned keys a write deletes nothing. Nobody will ask for the old pages again, and their TTL removes them`,
    ).toBe(0);
    let longest = 0;
    for (const key of oldPages) {
      const ttl = await services.redis.pttl(key);
      expect(
        ttl,
        `the old page ${key.slice(services.prefix.length)} has no TTL (PTTL ${ttl}): nobody will ever read it again, and nothing will ever remove it. Cache every page with a TTL`,
      ).toBeGreaterThan(0);
      longest = Math.max(longest, ttl);
    }
    const stored = await services.redis.get(versionKey('Finance'));
    expect(
      stored,
      `after a write to Finance there is no version in Redis under ${versionKey('Finance').slice(services.prefix.length)} (the tests read it there: deptVersionKey in src/dept-version.ts)`,
    ).not.toBeNull();
    const versionTtl = await services.redis.pttl(versionKey('Finance'));
    expect(
      versionTtl,
      `Finance's version expires in ${versionTtl} ms. Pages are cached under it until the moment it disappears, and live their TTL after that; meanwhile the count starts again at 0, and the next write moves it to 1, a number pages of Finance were cached under before: those old pages are served again. Whatever its length, a TTL on the version can bring old pages back: give it none`,
    ).toBe(-1);
  });
});

describe('bumps: after the commit, and every one counts', () => {
  it('8 writes to Engineering committing at the same moment move its version on by exactly 8', async () => {
    // A's Redis connection goes through a proxy that the test freezes while the 8 writes
    // commit: every command they send to bump the version is held until all 8 have sent theirs,
    // then delivered at once. That is "at the same moment" made exact, whatever the machine's
    // speed: a bump that reads the version and writes it back plus one sends 8 reads that all
    // see the same number. (The command timeout is long, so that nothing gives up while held.)
    const proxy = await startChaosProxy({ upstream: redisUrl() });
    cleanups.push(() => proxy.close());
    const held = gate();
    const a = await instance(
      'a',
      { beforeCommit: held.beforeCommit },
      { redisUrl: proxy.url, commandTimeoutMs: 30_000 },
    );
    const people = await employeesOf('Engineering', 9);
    // One write first, so that Engineering has a version in Redis whatever its starting value.
    const first = await patch(a.http, people[8]?.id ?? 0, { name: 'Eve First' });
    expect(first.status, `PATCH answered ${first.status}${said(first)}`).toBe(200);
    const before = await versionOf('Engineering');

    held.hold(8);
    const writes = people.slice(0, 8).map((p, i) => patch(a.http, p.id, { name: `Eng Concurrent ${i}` }));
    expect(
      await held.reached(),
      'the 8 PATCHes never all reached beforeCommit(): keep the `await beforeCommit?.()` in inTransaction, before COMMIT',
    ).toBe(true);
    proxy.blackhole();
    const sentBefore = proxy.stats.bytesFromClients;
    held.open(); // all 8 commit, then bump, at the same moment
    // Wait until all 8 have committed and each has sent at least one command naming the version
    // key (a command that names the key is at least the key plus 20 bytes of RESP framing).
    const committed = async () =>
      (
        await services.db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM employees WHERE name LIKE 'Eng Concurrent %'",
        )
      ).rows[0]?.n ?? 0;
    const minimum = 8 * (versionKey('Engineering').length + 20);
    const deadline = Date.now() + 10_000;
    while ((await committed()) < 8 || proxy.stats.bytesFromClients - sentBefore < minimum) {
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    proxy.restore();
    for (const res of await Promise.all(writes))
      expect(res.status, `PATCH answered ${res.status}${said(res)}`).toBe(200);

    const after = await versionOf('Engineering');
    expect(
      after - before,
      after === before
        ? `8 writes to Engineering did not move its version at all (${before} before, ${after} after): see the tests above`
        : after - before < 8
          ? `8 writes to Engineering, committed at the same moment, moved its version from ${before} to ${after}: ${8 - (after - before)} bumps were lost. Reading the version and writing it back plus one is two commands, and two writers that read the same number both write the same next one. Redis has one command that does both, atomically`
          : `8 writes to Engineering moved its version from ${before} to ${after}: each write should move it on by one`,
    ).toBe(8);
  });

  it('bumps after the commit: a read while the write is still open cannot cache the old page under the new version', async () => {
    const held = gate();
    const a = await instance('a', { beforeCommit: held.beforeCommit });
    const b = await instance('b');
    const path = pagePath('People', 1, 25);
    await warm(a, [['People', 1, 25]]);
    const [employee] = (await getPage(a.http, path)).json<Page>().employees;

    held.hold(1);
    const pending = patch(a.http, employee?.id ?? 0, { name: 'Aaron Gated' });
    expect(
      await held.reached(),
      'the PATCH never reached beforeCommit(): keep the `await beforeCommit?.()` in inTransaction, before COMMIT',
    ).toBe(true);
    // The write is done but not committed: a read now gets the old page, which is right at this moment.
    const during = await getPage(b.http, path);
    held.open();
    const res = await pending;
    expect(res.status, `PATCH answered ${res.status}${said(res)}`).toBe(200);

    for (const who of [a, b]) {
      const read = await getPage(who.http, path);
      const shown = read.json<Page>().employees.find((e) => e.id === employee?.id);
      expect(
        shown?.name,
        during.cache === 'MISS'
          ? `after the PATCH committed, ${who.name.toUpperCase()} still shows the old name on People page 1 (from ${level(read)}). While the PATCH was still uncommitted, B's read of that page missed (X-Cache: MISS): the version had already moved on, before the COMMIT. So B loaded the OLD page from PostgreSQL and cached it under the NEW version, the one every reader uses from then on. Bump once inTransaction(…) has resolved`
          : `after the PATCH committed, ${who.name.toUpperCase()} still shows the old name on People page 1 (from ${level(read)}): the PATCH did not move People's version on after its commit`,
      ).toBe('Aaron Gated');
    }
  });

  it('a write that fails (400, 404, 409) moves no version', async () => {
    const a = await instance('a');
    const [first, second] = await employeesOf('Legal', 2);
    await patch(a.http, second?.id ?? 0, { name: 'Leo First' }); // so that Legal has a version
    await warm(a, [['Legal', 1, 25]]);
    const before = await versionOf('Legal');
    const failing: [string, number, unknown, number][] = [
      ['an empty name', first?.id ?? 0, { name: ' ' }, 400],
      ["another employee's email", first?.id ?? 0, { email: second?.email }, 409],
      ["a move with another employee's email", first?.id ?? 0, { department: 'Sales', email: second?.email }, 409],
      ['an employee that does not exist', 999_999_999, { name: 'Nobody' }, 404],
    ];
    for (const [what, id, body, status] of failing) {
      const res = await patch(a.http, id, body);
      expect(res.status, `a PATCH with ${what} answered ${res.status}, not ${status}${said(res)}`).toBe(status);
    }
    expect(
      await versionOf('Legal'),
      "PATCHes that all failed moved Legal's version: a write that was rejected or rolled back changed nothing, so it must not throw away the department's cached pages. Bump only after a successful commit",
    ).toBe(before);
    expect(await versionOf('Sales'), "a move that failed (409) moved Sales' version").toBe(0);
    const read = await getPage(a.http, pagePath('Legal', 1, 25));
    expect(read.cache, 'after writes that all failed, Legal page 1 is no longer cached').toBe('HIT');
  });
});

describe('what a PATCH reads', () => {
  it('answers a body not sent as application/json with 415 naming it, and moves no version', async () => {
    const a = await instance('a');
    const [employee] = await employeesOf('Marketing', 1);
    const path = `/employees/${employee?.id ?? 0}`;
    const before = await versionOf('Marketing');
    // Without a Content-Type (curl -d without -H) and as text/plain: the label is the mistake, not the body.
    await expectJsonOnly(a.http, 'PATCH', path, '{"name":"Ada Unlabelled"}', undefined);
    await expectJsonOnly(a.http, 'PATCH', path, '{"name":"Ada Unlabelled"}');
    expect(await versionOf('Marketing'), "a PATCH the server refused (415) moved Marketing's version").toBe(before);
  });

  it('answers malformed JSON with a 400 that says where it breaks, and moves no version', async () => {
    const a = await instance('a');
    const [employee] = await employeesOf('Marketing', 1);
    const before = await versionOf('Marketing');
    await expectMalformedJson(a.http, 'PATCH', `/employees/${employee?.id ?? 0}`);
    expect(await versionOf('Marketing'), "a PATCH with malformed JSON moved Marketing's version").toBe(before);
  });
});
