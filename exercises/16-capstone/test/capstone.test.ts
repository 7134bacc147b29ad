import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import {
  captureServerLog,
  expectProblem,
  type HttpHarness,
  serve,
  type TestResponse,
  useServices,
} from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppLocals, createApp } from '../src/app.ts';
import {
  busListener,
  chaosProxy,
  cleanups,
  countCommands,
  eventually,
  redisClient,
  runCleanups,
  type TestClock,
  testClock,
  whyStatus,
} from './instances.ts';

/**
 * The whole capstone over HTTP: createApp() on the real PostgreSQL (this file's own copy of
 * the employees) and the real Redis (this file's own prefix), one or two instances sharing L2,
 * each with its own L1. Redis goes through a chaos proxy where a test takes it down.
 */
const services = useServices();
const serverLog = captureServerLog();
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
  serverLog.clear();
});
afterEach(runCleanups);

const THRESHOLD = 3;
const COOL_DOWN_MS = 10_000;
/** The app's Redis command timeout, ms (see instance()). */
const COMMAND_TIMEOUT_MS = 1_000;
/**
 * How long a request may take. Lesson 03's bound on what a silent Redis adds to a request is
 * about twice the command timeout (auto-pipelining: the batch before it times out, then its
 * own): 2 s here. The deadline doubles that for a machine at load 15.
 */
const DEADLINE_MS = 4 * COMMAND_TIMEOUT_MS;

/** One instance of the app, as one process runs it. `viaProxy`: its Redis connections go through `proxy`. */
async function instance(
  options: { clock?: TestClock; proxyUrl?: string; etagOf?: (b: Buffer) => string; commandTimeoutMs?: number } = {},
) {
  const clock = options.clock ?? testClock();
  let breakerMs = 1_000_000;
  // A command timeout of 1 s, not lesson 03's 250 ms: a healthy Redis on a busy test machine
  // must not time out by bad luck (a black-holed one still costs one timeout per request, 4 s allowed).
  const commandTimeoutMs = options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
  const redis = await redisClient(options.proxyUrl, commandTimeoutMs);
  const subscriber = await redisClient(options.proxyUrl, commandTimeoutMs);
  const commands = countCommands(redis);
  const app = createApp({
    db: services.db,
    redis,
    subscriber,
    keyPrefix: services.prefix,
    now: clock.now,
    breaker: { failureThreshold: THRESHOLD, coolDownMs: COOL_DOWN_MS, now: () => breakerMs },
    ...(options.etagOf ? { etagOf: options.etagOf } : {}),
    log: serverLog.log,
  });
  const locals = app.locals as AppLocals;
  // The bus is done code: its SUBSCRIBE is confirmed at once on a healthy Redis (10 s: a busy machine).
  const ready = await Promise.race([locals.ready.then(() => true), new Promise((r) => setTimeout(r, 10_000, false))]);
  expect(ready, 'a new instance’s bus did not confirm its subscription within 10 s').toBe(true);
  cleanups.push(() => locals.close());
  const http = await serve(app);
  cleanups.push(() => http.close());
  return {
    http,
    redis,
    commands,
    clock,
    locals,
    /** Messages this instance receives on the bus. */
    bus: busListener(subscriber, `${services.prefix}l1-invalidation`),
    coolDownOver: () => {
      breakerMs += COOL_DOWN_MS;
    },
  };
}

/** GET with a deadline: a request still waiting after DEADLINE_MS fails with a message that says so. */
async function get(http: HttpHarness, path: string, situation: string, headers: Record<string, string> = {}) {
  try {
    const res = await http.request(path, { headers, signal: AbortSignal.timeout(DEADLINE_MS) });
    expect(res.status, `GET ${path} answered ${res.status}${serverLog.said(res)} while ${situation}`).toBeLessThan(500);
    return res;
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') {
      throw new Error(
        `GET ${path} did not answer within ${DEADLINE_MS / 1000} s while ${situation}: the request is waiting on Redis (or on a load that never ends). A silent Redis may cost a request about two command timeouts (${(2 * COMMAND_TIMEOUT_MS) / 1000} s here), never more: ask the breaker before every L2 call, and store nothing after a failed lookup.`,
      );
    }
    throw err;
  }
}

async function patch(http: HttpHarness, path: string, body: unknown): Promise<TestResponse> {
  return http.request(path, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** A PATCH the test expects to succeed: a 200, or a message with what the server said. */
async function patchOk(http: HttpHarness, path: string, body: unknown): Promise<TestResponse> {
  const res = await patch(http, path, body);
  expect(
    res.status,
    `PATCH ${path} ${JSON.stringify(body)} answered ${res.status}${serverLog.said(res)}: a valid write answers 200 (cache.invalidate never throws: it reports failures to onError)`,
  ).toBe(200);
  return res;
}

const row = async (id: number) => JSON.parse(JSON.stringify(await getEmployee(services.db, id)));

describe('the read path over HTTP', () => {
  it('a MISS, then a HIT with the same body, ETag and Last-Modified, from the database once', async () => {
    const { http } = await instance();
    const first = await get(http, '/employees/42', 'Redis was healthy');
    const second = await get(http, '/employees/42', 'Redis was healthy');
    expect(
      [first.cache, second.cache],
      `two GETs of employee 42 should answer MISS (loaded and stored), then HIT (served from the cache); they answered ${first.cache} and ${second.cache}: ${whyStatus(first.cache, 'MISS') || whyStatus(second.cache, 'HIT')}`,
    ).toEqual(['MISS', 'HIT']);
    expect(first.timing, 'a MISS says how long the database took in Server-Timing (db)').toHaveProperty('db');
    expect(services.queries.matching(/FROM employees WHERE id/), 'one query for two requests').toBe(1);
    expect(second.json(), 'the HIT’s body is not employee 42’s row as PostgreSQL has it').toEqual(await row(42));
    expect(second.headers.get('etag'), 'a hit carries the ETag of the entry').toBe(first.headers.get('etag'));
    expect(
      second.headers.get('last-modified'),
      'a hit carries the Last-Modified of the entry (stored with it at the fill, not the time of the hit)',
    ).toBe(first.headers.get('last-modified'));
  });

  it('If-None-Match with the current ETag is a 304 with no body; with an old ETag after a write, a 200 with the new row', async () => {
    const { http } = await instance();
    const first = await get(http, '/employees/43', 'Redis was healthy');
    const etag = first.headers.get('etag') ?? '';
    expect(etag, 'a cached answer carries an ETag').toMatch(/^"/);
    const revalidated = await get(http, '/employees/43', 'Redis was healthy', { 'if-none-match': etag });
    expect(revalidated.status, 'the client holds the current copy: 304 Not Modified').toBe(304);
    expect(revalidated.text, 'a 304 has no body').toBe('');
    expect(revalidated.headers.get('etag'), 'a 304 carries the ETag the client already holds').toBe(etag);
    await patchOk(http, '/employees/43', { status: 'out' === first.json<{ status: string }>().status ? 'in' : 'out' });
    const changed = await get(http, '/employees/43', 'Redis was healthy', { 'if-none-match': etag });
    expect(
      changed.status,
      'after a write, a client sending the OLD ETag got a 304: it keeps showing the old row. A 304 only when If-None-Match matches the current entry’s ETag',
    ).toBe(200);
    expect(
      changed.json(),
      'after the PATCH, the GET answered the old row: invalidate deletes the employee’s key',
    ).toEqual(await row(43));
    expect(changed.headers.get('etag'), 'a changed row kept its old ETag: compute the ETag at each fill').not.toBe(
      etag,
    );
  });

  it('hashes each body once per fill: ten hits and 304s compute no ETag', async () => {
    let hashed = 0;
    const { createHash } = await import('node:crypto');
    const { http } = await instance({
      etagOf: (b) => {
        hashed++;
        return `"${createHash('sha256').update(b).digest('base64url')}"`;
      },
    });
    const etag = (await get(http, '/employees/44', 'Redis was healthy')).headers.get('etag') ?? '';
    const statuses: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get(http, '/employees/44', 'Redis was healthy')).cache);
    for (let i = 0; i < 5; i++)
      statuses.push((await get(http, '/employees/44', 'Redis was healthy', { 'if-none-match': etag })).cache);
    const notHit = statuses.find((s) => s !== 'HIT');
    expect(
      hashed,
      notHit
        ? `the ETag was computed ${hashed} times for 11 requests, because the 10 after the first were not all hits (X-Cache: ${statuses.join(', ')}), so each loaded and hashed anew: ${whyStatus(notHit, 'HIT')}`
        : `the ETag was computed ${hashed} times for one fill and 10 hits: compute it once, when the entry is filled, and keep it in the entry`,
    ).toBe(1);
  });

  it('another instance finds the entry in L2, copies it into its L1, and then answers it without Redis', async () => {
    const clock = testClock();
    const a = await instance({ clock });
    const fromDb = (await get(a.http, '/employees/45', 'Redis was healthy')).cache;
    expect(
      fromDb,
      `instance A’s first GET of employee 45 should load it and store it in L2 (MISS): ${whyStatus(fromDb, 'MISS')}`,
    ).toBe('MISS');
    // B starts after A's fill: the bus message of A's set (published before B subscribed) can
    // never reach B late and drop the copy this test expects B to keep.
    const b = await instance({ clock });
    const sent = performance.now();
    const fromL2 = await get(b.http, '/employees/45', 'Redis was healthy');
    const tookMs = performance.now() - sent;
    expect(
      fromL2.cache,
      `instance B should find what instance A stored in L2 (HIT): ${whyStatus(fromL2.cache, 'HIT')}`,
    ).toBe('HIT');
    expect(fromL2.timing, 'an L2 hit says so in Server-Timing (l2)').toHaveProperty('l2');
    expect(
      fromL2.timing.l2,
      `Server-Timing says the L2 lookup took ${fromL2.timing.l2} ms, longer than the whole request (${tookMs.toFixed(1)} ms, measured by the test): measure it as now minus the start`,
    ).toBeLessThanOrEqual(tookMs);
    const before = b.commands.names.length;
    const fromL1 = await get(b.http, '/employees/45', 'Redis was healthy');
    expect(fromL1.cache, `B’s second GET of employee 45 should be a HIT: ${whyStatus(fromL1.cache, 'HIT')}`).toBe(
      'HIT',
    );
    expect(
      b.commands.names.slice(before),
      'instance B asked Redis again for an entry it had just read from L2: backfill L1 on an L2 hit',
    ).toEqual([]);
    expect(
      services.queries.matching(/FROM employees WHERE id/),
      'instance B queried PostgreSQL for employee 45 although A had stored it in L2',
    ).toBe(1);
  });

  it('50 concurrent requests for a cold key make ONE query, and every one gets the row', async () => {
    const { http, commands } = await instance();
    const release = await lockEmployees();
    const requests = Array.from({ length: 50 }, () => get(http, '/employees/46', 'Redis was healthy'));
    for (const r of requests) void r.catch(() => {}); // awaited below
    // Every request has looked in Redis and missed: what each does next is decided now.
    const looked = await eventually(
      () => commands.readsSettled,
      (n) => n >= 50,
    );
    expect(
      looked,
      `only ${looked} of the 50 requests had looked the key up in Redis (a GET each) after 10 s: does every request read the store before it loads?`,
    ).toBeGreaterThanOrEqual(50);
    await new Promise((r) => setTimeout(r, 20));
    await release();
    const answers = await Promise.all(requests);
    expect(
      answers.map((a) => a.status).filter((s) => s !== 200),
      'some of the 50 concurrent requests did not answer 200: every waiter of the one load gets its row',
    ).toEqual([]);
    expect(
      services.queries.matching(/FROM employees WHERE id/),
      '50 concurrent misses of one key each queried PostgreSQL: run the loads of one key as one flight',
    ).toBe(1);
    expect(answers[49]?.json(), 'the last of the 50 waiters got another body than employee 46’s row').toEqual(
      await row(46),
    );
  });
});

/** Lock this test file's `employees` table: a request's query waits until `release()`. */
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

describe('writes: what a reader sees after a PATCH', () => {
  it('the writer’s next read has the new row; the other instance’s too, once the bus has told it (its L1 copy is dropped)', async () => {
    const clock = testClock();
    const a = await instance({ clock });
    await get(a.http, '/employees/47', 'Redis was healthy');
    const b = await instance({ clock }); // after A's fill: the only message B hears is the PATCH's
    await get(b.http, '/employees/47', 'Redis was healthy');
    const inL1 = (await get(b.http, '/employees/47', 'Redis was healthy')).cache;
    expect(
      inL1,
      `B’s second GET of employee 47 should be a HIT from its L1 (its first read found A’s entry in L2 and copied it into L1): ${whyStatus(inL1, 'HIT')}`,
    ).toBe('HIT');
    const renamed = `Renamed ${Date.now()}`;
    const heard = b.bus.next();
    await patchOk(a.http, '/employees/47', { name: renamed });
    // Pub/sub is asynchronous: wait until B has heard A (lesson 04), then B's next read must be new.
    const heardAfterMs = await heard;
    expect(
      heardAfterMs,
      'instance B heard nothing on the bus within 10 s (l1TtlMs) of A’s PATCH: a delete must publish the key on the bus, or B serves its L1 copy until it expires',
    ).toBeDefined();
    const other = await get(b.http, '/employees/47', 'Redis was healthy');
    expect(
      other.json<{ name: string }>().name,
      `instance B heard A’s invalidation (${heardAfterMs} ms after the PATCH was sent) and still served the old name: drop the L1 copy of each key the bus names`,
    ).toBe(renamed);
    // Read by the writer last: its fill publishes too, and B must have heard the PATCH's message, not that one.
    const own = await get(a.http, '/employees/47', 'Redis was healthy');
    expect(own.json<{ name: string }>().name, 'the writer read its old row back after its own PATCH').toBe(renamed);
  });

  it('moving an employee to another department refreshes BOTH departments’ summaries (the tag it left and the tag it joined)', async () => {
    const { http } = await instance();
    const employee = await row(48);
    const from = employee.department as string;
    const to = from === 'Legal' ? 'Sales' : 'Legal';
    const summary = async (dept: string) =>
      (await get(http, `/departments/${dept}/summary`, 'Redis was healthy')).json<{ employees: number }>().employees;
    const before = { from: await summary(from), to: await summary(to) };
    const again = (await get(http, `/departments/${from}/summary`, 'Redis was healthy')).cache;
    expect(
      again,
      `a second GET of the ${from} summary should be a HIT (the route caches it, kind 'aggregate', tagged with its department): ${whyStatus(again, 'HIT')}`,
    ).toBe('HIT');
    await patchOk(http, '/employees/48', { department: to });
    expect(
      { [from]: await summary(from), [to]: await summary(to) },
      `after moving employee 48 from ${from} to ${to}, one summary still showed its old count: invalidate the tag of the department the employee left AND of the one it joined`,
    ).toEqual({ [from]: before.from - 1, [to]: before.to + 1 });
  });

  it('a status change refreshes the department’s summary (in/out counts)', async () => {
    const { http } = await instance();
    const employee = await row(49);
    const dept = employee.department as string;
    const counts = async () =>
      (await get(http, `/departments/${dept}/summary`, 'Redis was healthy')).json<{ in: number }>().in;
    const before = await counts();
    const status = employee.status === 'in' ? 'out' : 'in';
    await patchOk(http, '/employees/49', { status });
    expect(await counts(), 'the summary kept its old in/out counts after a status change in its department').toBe(
      before + (status === 'in' ? 1 : -1),
    );
  });
});

describe('bad input and errors', () => {
  it('a bad id is a 400 problem+json, before any query or Redis command, and nothing is cached', async () => {
    const { http, commands } = await instance();
    const before = commands.sent;
    for (const path of ['/employees/abc', '/employees/-1', '/employees/1e3']) {
      expectProblem(await get(http, path, 'the id was bad'), 400);
    }
    const res = await patch(http, '/employees/50', { status: 'maybe' });
    expectProblem(res, 400);
    expect(commands.sent - before, 'bad input reached Redis').toBe(0);
    expect(services.queries.count, 'bad input reached PostgreSQL').toBe(0);
    expect(await services.redisKeys(), 'bad input left something in Redis').toEqual([]);
  });

  it('a missing employee is a 404 that is not cached: once the row exists, it is served', async () => {
    const { http } = await instance();
    const id = 900_000 + Math.floor(Math.random() * 10_000);
    expectProblem(await get(http, `/employees/${id}`, 'the employee did not exist'), 404);
    expectProblem(await get(http, `/employees/${id}`, 'the employee did not exist'), 404);
    await services.db.query(
      `INSERT INTO employees (id, name, email, department, status) VALUES ($1, 'New Hire', $2, 'Legal', 'in')`,
      [id, `new.hire.${id}@example.com`],
    );
    const res = await get(http, `/employees/${id}`, 'the employee had just been created');
    expect(res.status, 'the 404 was cached: the new employee is invisible until it expires').toBe(200);
    expect(res.json<{ name: string }>().name).toBe('New Hire');
  });
});

describe('fail open: Redis down, slow or gone', () => {
  let nextId = 300;
  async function expectBypass(http: HttpHarness, n: number, situation: string) {
    for (let i = 0; i < n; i++) {
      const id = nextId++;
      const res = await get(http, `/employees/${id}`, situation);
      expect(res.status, `while ${situation}, GET /employees/${id} should answer 200 from PostgreSQL`).toBe(200);
      expect(res.json(), `while ${situation}, GET /employees/${id} answered another body than its row`).toEqual(
        await row(id),
      );
      expect(res.cache, `while ${situation}, the answer should come from PostgreSQL with X-Cache: BYPASS`).toBe(
        'BYPASS',
      );
    }
  }

  /**
   * After THRESHOLD requests whose lookups failed, the circuit is open; if not, the message says
   * why: no lookup reached Redis at all (`readsBefore`: the GETs sent before those requests), or
   * the lookups failed without the breaker hearing of it.
   */
  function expectCircuitOpen(locals: AppLocals, commands: { reads: number }, readsBefore: number, situation: string) {
    const state = locals.breaker.state;
    const noLookup =
      commands.reads === readsBefore
        ? 'none of those requests looked its key up in Redis (no GET was sent): get() in read-through.ts must look the key up with store.read before loading, and the store must '
        : 'the requests looked their keys up in Redis and failed, but the breaker was not told: ';
    expect(
      state,
      `after ${THRESHOLD} failed reads in a row (${situation}) the circuit should be open, and it is ${state}: ${noLookup}read L2 through callL2 so the breaker counts failures`,
    ).toBe('open');
  }

  it('Redis cut: every answer a 200 from PostgreSQL; after 3 failures the circuit opens and requests send Redis nothing', async () => {
    const proxy = await chaosProxy();
    const { http, redis, commands, locals } = await instance({ proxyUrl: proxy.url });
    proxy.cut();
    await eventually(
      () => redis.status,
      (s) => s !== 'ready',
    );
    const readsBefore = commands.reads;
    await expectBypass(http, THRESHOLD, 'Redis was down');
    expectCircuitOpen(locals, commands, readsBefore, 'Redis was down');
    const before = commands.names.length;
    await expectBypass(http, 5, 'Redis was down and the circuit open');
    expect(
      commands.names.slice(before),
      'requests kept calling Redis while the circuit was open: ask the breaker before every L2 read',
    ).toEqual([]);
    const metrics = (await get(http, '/metrics', 'Redis was down')).text;
    const metric = (line: RegExp) => line.exec(metrics)?.[1] ?? '(no such line)';
    expect(
      metric(/^cache_circuit_transitions_total\{to="open"\} (\d+)$/m),
      'the circuit opened (the test saw it open), yet lesson 10’s metrics did not count that one opening (cache_circuit_transitions_total{to="open"})',
    ).toBe('1');
    expect(
      metric(/^cache_l2_skipped_total\{operation="get"\} (\d+)$/m),
      'lesson 10’s metrics should count the Redis reads the open circuit skipped (cache_l2_skipped_total{operation="get"}), and they count none: ask the breaker through callL2, which tells the observer (l2Skipped) of each call it refuses, not before L1 or on your own',
    ).toMatch(/^[1-9]\d*$/);
  });

  it('Redis a black hole (connected, silent): each of the first 3 requests waits one command timeout, then none sends Redis anything', async () => {
    const proxy = await chaosProxy();
    // Every command of this test is meant to time out: lesson 03's 250 ms, not the healthy tests' 1 s.
    const { http, commands, locals } = await instance({ proxyUrl: proxy.url, commandTimeoutMs: 250 });
    proxy.blackhole();
    const readsBefore = commands.reads;
    await expectBypass(http, THRESHOLD, 'Redis was a black hole');
    expectCircuitOpen(locals, commands, readsBefore, 'Redis was a black hole');
    const before = commands.names.length;
    await expectBypass(http, 5, 'Redis was a black hole and the circuit open');
    expect(
      commands.names.slice(before),
      'while the circuit was open, requests still sent Redis commands and each waited a whole command timeout: ask the breaker (callL2) before every L2 read and write',
    ).toEqual([]);
  });

  it('an entry in L1 is still a HIT while Redis is down and the circuit open', async () => {
    const proxy = await chaosProxy();
    const { http, redis, locals, commands } = await instance({ proxyUrl: proxy.url });
    await get(http, '/employees/51', 'Redis was healthy');
    proxy.cut();
    await eventually(
      () => redis.status,
      (s) => s !== 'ready',
    );
    const readsBefore = commands.reads;
    await expectBypass(http, THRESHOLD, 'Redis was down');
    expectCircuitOpen(locals, commands, readsBefore, 'Redis was down');
    const res = await get(http, '/employees/51', 'Redis was down and the circuit open');
    expect(
      res.cache,
      'this instance holds employee 51 in L1: neither Redis being down nor the open circuit may stop it from serving it (read L1 before asking the breaker)',
    ).toBe('HIT');
  });

  it('after the cool-down, with Redis back, one probe closes the circuit and caching resumes (MISS, then HIT)', async () => {
    const proxy = await chaosProxy();
    const { http, redis, locals, commands, coolDownOver } = await instance({ proxyUrl: proxy.url });
    proxy.cut();
    const readsBefore = commands.reads;
    await expectBypass(http, THRESHOLD, 'Redis was down');
    expectCircuitOpen(locals, commands, readsBefore, 'Redis was down');
    proxy.restore();
    expect(
      await eventually(
        () => redis.status,
        (s) => s === 'ready',
      ),
      'the chaos proxy let Redis through again, but the app’s connection did not reconnect within 10 s (done code: the machine may be very busy; run it again)',
    ).toBe('ready');
    let probe: TestResponse | undefined;
    let path = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      coolDownOver();
      path = `/employees/${60 + attempt}`;
      probe = await get(http, path, 'Redis was back');
      if (probe.cache !== 'BYPASS') break;
    }
    expect(
      probe?.cache,
      'Redis is back and the cool-down is over, but the request did not reach Redis: ask the breaker (callL2) on every L2 read, as it lets one probe through after the cool-down, and report the probe’s success',
    ).toBe('MISS');
    expect(
      locals.breaker.state,
      'the probe reached Redis and Redis answered, yet the circuit did not close: report each L2 call’s success to the breaker (callL2 does)',
    ).toBe('closed');
    const resumed = (await get(http, path, 'Redis was back')).cache;
    expect(
      resumed,
      `with the circuit closed again, the probe’s key should now be a HIT (caching resumed): ${whyStatus(resumed, 'HIT')}`,
    ).toBe('HIT');
  });
});
