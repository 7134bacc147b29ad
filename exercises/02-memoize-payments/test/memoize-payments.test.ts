import { captureServerLog, type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppDeps, createApp } from '../src/app.ts';

const services = useServices();
const open: HttpHarness[] = [];
/** What the apps logged: a 500's message says it (the answer itself only says "see the server log"). */
const server = captureServerLog();

/**
 * A fresh app, so a fresh cache: every test starts cold. Its clock stands still unless a test
 * passes its own `now` (the TTL test does): whether an answer is still cached never depends on
 * how long the machine took between two requests, and a TTL in the wrong unit fails the TTL
 * test, which says so, rather than the tests of the key.
 */
async function start(options: Omit<AppDeps, 'db'> = {}): Promise<HttpHarness> {
  const http = await serve(createApp({ db: services.db, log: server.log, now: () => 1_000_000, ...options }));
  open.push(http);
  return http;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});
beforeEach(() => {
  services.queries.reset();
  server.clear();
});

interface Payments {
  investor: string;
  from: string;
  to: string;
  limit: number;
  count: number;
  rows: { transaction_date: string }[];
}
interface Stats {
  entries: number;
  bytes: number;
}

/** DEMO_INV's payments from `from` to the end of 2024. */
const payments = (from: string, limit: number) =>
  `/payments?investor=DEMO_INV&from=${from}&to=2025-01-01&limit=${limit}`;
/**
 * The body echoes the query the rows answer: insist it is the query that was asked, so a
 * key that leaves out a parameter shows even when the cached rows happen to look right.
 */
function expectAnswers(res: TestResponse, path: string, asked: Partial<Omit<Payments, 'count' | 'rows'>>): Payments {
  const body = res.json<Payments>();
  for (const [name, value] of Object.entries(asked)) {
    const got = body[name as keyof typeof asked];
    expect(
      got,
      `GET ${path} (X-Cache: ${res.cache}) was answered for ${name}=${got} instead of ${name}=${value}: the cached answer of another question. The key must include ${name}`,
    ).toBe(value);
  }
  return body;
}

/** How many times the big table was scanned since the test began. */
const scans = () => services.queries.matching(/FROM borrower_payments/);

async function stats(http: HttpHarness): Promise<Stats> {
  const res = await http.get('/cache/stats');
  expect(
    res.status,
    `GET /cache/stats answered ${res.status}${server.said(res)}: keep that route, the tests read it`,
  ).toBe(200);
  return res.json<Stats>();
}

/** Ask, and insist on a 200: every other check reads the body. */
async function get(http: HttpHarness, path: string): Promise<TestResponse> {
  const res = await http.get(path);
  expect(res.status, `GET ${path} answered ${res.status}${server.said(res)}: it should answer 200`).toBe(200);
  return res;
}

/** Ask the same question twice and insist the second answer came from the cache. */
async function getTwice(http: HttpHarness, path: string): Promise<TestResponse> {
  const before = scans();
  const first = await get(http, path);
  const statementsBefore = services.queries.count;
  const second = await get(http, path);
  const sentBySecond = services.queries.statements.slice(statementsBefore);
  const reached = scans() - before;
  expect(
    reached,
    reached === 0
      ? `GET ${path} twice never reached PostgreSQL, though this app was just created: its cache already held the answer. Each createApp must start with an empty cache of its own`
      : `GET ${path} twice reached PostgreSQL ${reached} times: the second answer should come from the cache (look it up before querying, store it after)`,
  ).toBe(1);
  expect(second.cache, `the second GET ${path} said X-Cache: ${second.cache}: a cached answer says HIT`).toBe('HIT');
  expect(
    sentBySecond,
    `the second GET ${path} was a HIT but still sent ${sentBySecond.length} statement(s) to PostgreSQL (${sentBySecond.join(' | ').slice(0, 160)}): look the cache up before anything queries PostgreSQL, the "does this investor exist?" query included`,
  ).toEqual([]);
  expect(second.text, `the second GET ${path} came from the cache but differs from the first answer`).toBe(first.text);
  const type = second.headers.get('content-type') ?? '(none)';
  expect(
    type,
    `the second GET ${path} (a HIT) was sent as ${type}: a Buffer sent as it is goes out as application/octet-stream, so say application/json on a hit too`,
  ).toMatch(/^application\/json/);
  return first;
}

describe('memoizing GET /payments', () => {
  it('serves a second identical request from memory without querying PostgreSQL', async () => {
    const http = await start();
    const path = payments('2024-01-01', 50);
    const first = await getTwice(http, path);
    expect(first.cache, `the first GET ${path} said X-Cache: ${first.cache}: nothing was cached yet, so MISS`).toBe(
      'MISS',
    );
  });

  it('treats the same question written differently as one entry', async () => {
    const http = await start();
    await getTwice(http, '/payments?investor=DEMO_INV&from=2024-01-01&to=2024-02-01');
    const same = await get(http, '/payments?to=2024-02-01&limit=1000&from=2024-01-01&investor=demo_inv');
    expect(
      same.cache,
      'investor=demo_inv, the parameters in another order and limit=1000 (the default) ask the same question: build the key from the validated `q`, not from the raw query string',
    ).toBe('HIT');
  });
});

describe('the key is every parameter', () => {
  it('answers limit=10 with 10 rows after limit=50 was cached', async () => {
    const http = await start();
    await getTwice(http, payments('2024-01-01', 50));
    const path = payments('2024-01-01', 10);
    const body = expectAnswers(await get(http, path), path, { limit: 10 });
    expect(
      body.count,
      `GET ${path} returned ${body.count} rows, the cached answer of limit=50: the key must include limit`,
    ).toBe(10);
  });

  it('answers another date range with that range’s rows', async () => {
    const http = await start();
    await getTwice(http, payments('2024-01-01', 20));
    const later = payments('2024-07-01', 20);
    const body = expectAnswers(await get(http, later), later, { from: '2024-07-01', to: '2025-01-01', limit: 20 });
    const outside = body.rows.filter((r) => r.transaction_date < '2024-07-01').length;
    expect(
      outside,
      `GET ${later} returned ${outside} payments dated before 2024-07-01, from the cached answer of another range: the key must include from`,
    ).toBe(0);
    const shorter = '/payments?investor=DEMO_INV&from=2024-01-01&to=2024-01-02&limit=20';
    // The first 20 payments of 2024 are all dated 2024-01-01, so the rows alone cannot tell
    // [2024-01-01, 2025-01-01) from [2024-01-01, 2024-01-02): the echoed `to` can.
    const shortRes = await get(http, shorter);
    expect(
      shortRes.cache,
      `GET ${shorter} is a new question (another \`to\`) but said X-Cache: ${shortRes.cache}: the key must include to`,
    ).toBe('MISS');
    const short = expectAnswers(shortRes, shorter, { from: '2024-01-01', to: '2024-01-02', limit: 20 });
    const after = short.rows.filter((r) => r.transaction_date >= '2024-01-02').length;
    expect(
      after,
      `GET ${shorter} returned ${after} payments dated 2024-01-02 or later, from a cached answer of another range: the key must include to`,
    ).toBe(0);
  });

  it('answers another investor with that investor’s rows', async () => {
    const http = await start();
    await getTwice(http, payments('2024-01-01', 20));
    const path = '/payments?investor=INV00001&from=2024-01-01&to=2025-01-01&limit=20';
    const res = await get(http, path);
    expect(
      res.json<Payments>().investor,
      `GET ${path} was answered with DEMO_INV's cached payments: the key must include the investor`,
    ).toBe('INV00001');
    expect(res.cache, `GET ${path} said X-Cache: ${res.cache}: a new question is a MISS`).toBe('MISS');
  });
});

describe('memory is bounded by bytes', () => {
  it('evicts the oldest answers when new ones would pass maxBytes', async () => {
    // Each answer of 400 rows is about 71 kB of JSON: only one fits in 100 kB.
    const maxBytes = 100_000;
    const http = await start({ cache: { maxBytes } });
    const months = ['2024-01-01', '2024-02-01', '2024-03-01'].map((from) => payments(from, 400));
    await getTwice(http, months[0] as string); // caching works at all
    for (const path of months.slice(1)) {
      const res = await get(http, path);
      expect(
        res.cache,
        `GET ${path} is a new question but said X-Cache: ${res.cache}: the key must include every parameter`,
      ).toBe('MISS');
    }

    const held = await stats(http);
    expect(
      held.bytes,
      `after three answers of about 71 kB the cache holds ${held.bytes} bytes in ${held.entries} entries, over maxBytes ${maxBytes}: bound it by bytes (lru-cache: maxSize with a sizeCalculation)`,
    ).toBeLessThanOrEqual(maxBytes);
    const last = await get(http, months[2] as string);
    expect(
      last.cache,
      `the most recent answer (${months[2]}) was not kept (X-Cache: ${last.cache}): a full cache evicts the least recently used answers, not the newest`,
    ).toBe('HIT');
    const oldest = await get(http, months[0] as string);
    expect(
      oldest.json<Payments>().from,
      `GET ${months[0]} was answered with the rows of another range: the key must include every parameter`,
    ).toBe('2024-01-01');
    expect(
      oldest.cache,
      `the oldest answer (${months[0]}) was still cached after 3 × 71 kB went into a ${maxBytes}-byte cache: the cache is not bounded by bytes (an entry count, like max: 100, does not bound memory)`,
    ).toBe('MISS');
  });

  it('keeps many small answers that fit in maxBytes: the bound is bytes, not a count', async () => {
    const maxBytes = 100_000;
    const http = await start({ cache: { maxBytes } });
    // Five answers of 10 rows, about 1.9 kB each: 9.5 kB in all.
    const small = ['2024-01-01', '2024-02-01', '2024-03-01', '2024-04-01', '2024-05-01'].map((f) => payments(f, 10));
    await getTwice(http, small[0] as string); // caching works at all
    for (const path of small.slice(1)) await get(http, path);
    services.queries.reset();
    for (const path of small) {
      const res = await get(http, path);
      expect(
        res.cache,
        `GET ${path} was evicted though five small answers (about 9.5 kB) fit in ${maxBytes} bytes: bound the memory by bytes, not by a number of entries`,
      ).toBe('HIT');
    }
    expect(scans()).toBe(0);
  });

  it('still answers a result larger than maxBytes, without storing it, even one byte larger', async () => {
    // The size of this answer, from an app with room for it (whose cache must keep it)…
    const path = payments('2024-01-01', 10);
    const size = Buffer.byteLength((await getTwice(await start(), path)).text);
    // …then an app whose whole cache is one byte too small for it.
    const maxBytes = size - 1;
    const http = await start({ cache: { maxBytes } });
    const answers: TestResponse[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await get(http, path);
      const body = res.json<Payments>();
      expect(body.count, `GET ${path} returned ${body.count} rows with maxBytes ${maxBytes}`).toBe(10);
      answers.push(res);
    }
    expect(
      answers[1]?.cache,
      `GET ${path} is ${size} bytes, one more than maxBytes (${maxBytes}), yet the second request said X-Cache: ${answers[1]?.cache}: an answer larger than maxBytes must not be stored (count every byte of its body: sizeCalculation, never less than body.length)`,
    ).toBe('MISS');
    const held = await stats(http);
    expect(
      held.bytes,
      `a ${size}-byte answer went into a ${maxBytes}-byte cache and it now holds ${held.bytes} bytes: a value larger than the bound must not be stored`,
    ).toBeLessThanOrEqual(maxBytes);
  });
});

describe('what is not cached, and for how long', () => {
  it('does not cache a 404: an unknown investor is looked up again', async () => {
    const http = await start();
    const path = '/payments?investor=NOBODY&from=2024-01-01&to=2025-01-01';
    for (let i = 0; i < 2; i++) {
      const res = await http.get(path);
      expect(res.status, `GET ${path} answered ${res.status}${server.said(res)}: NOBODY does not exist, so 404`).toBe(
        404,
      );
      expect(
        res.cache,
        `GET ${path} answered 404 with X-Cache: ${res.cache}: errors are not cached, so they say nothing about the cache`,
      ).not.toBe('HIT');
    }
    expect(
      services.queries.matching(/FROM investors/),
      `GET ${path} twice asked PostgreSQL about NOBODY ${services.queries.matching(/FROM investors/)} time(s): a cached 404 would hide an investor created a second later, so only 200s are stored`,
    ).toBe(2);
    const held = await stats(http);
    expect(held.entries, `after two 404s the cache holds ${held.entries} entries: store only 200s`).toBe(0);
  });

  it('serves an answer until ttlMs has passed, then asks PostgreSQL again', async () => {
    let now = 1_000_000;
    // Not the app's default (60 s): the cache must use the ttlMs it is given.
    const ttlMs = 45_000;
    const http = await start({ cache: { ttlMs }, now: () => now });
    const path = payments('2024-01-01', 50);
    await getTwice(http, path);
    // Both sides of the bound, on the injected clock: still fresh 1 s before ttlMs (a TTL far too
    // short, or in the wrong unit, fails here), expired 1 ms after it (too long, or none, fails below).
    now += ttlMs - 1_000;
    const fresh = await get(http, path);
    expect(
      fresh.cache,
      `GET ${path} 44 s after it was stored said X-Cache: ${fresh.cache}: with ttlMs 45000 it should still be a HIT (lru-cache's ttl is in milliseconds, and it comes from options.ttlMs)`,
    ).toBe('HIT');
    now += 1_001;
    // lru-cache may reuse its last reading of the clock for 1 ms (its ttlResolution): give it that.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const expired = await get(http, path);
    expect(
      expired.cache,
      `GET ${path} 45.001 s after it was stored said X-Cache: ${expired.cache}: it is older than ttlMs (45000), so it must be loaded again (lru-cache: ttl from options.ttlMs, perf: { now } for the injected clock, and a read must not restart the TTL)`,
    ).toBe('MISS');
    expect(scans(), 'an expired answer must be fetched from PostgreSQL again').toBe(2);
  });

  it('gives each app its own cache', async () => {
    const one = await start();
    const two = await start();
    const path = payments('2024-01-01', 30);
    await getTwice(one, path);
    const other = await get(two, path);
    expect(
      other.cache,
      `a second app answered GET ${path} from the first app's cache: create the cache inside createApp (createPaymentsCache), not once per module`,
    ).toBe('MISS');
  });
});
