import { captureServerLog, type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';

const services = useServices();
/** What the app logged for its 500s, so a message can say what went wrong inside. */
const serverLog = captureServerLog();
let http: HttpHarness;

beforeAll(async () => {
  http = await serve(createApp({ db: services.db, log: serverLog.log }));
});
afterAll(() => http.close());
beforeEach(() => {
  services.queries.reset();
  serverLog.clear();
});

/** A good query: DEMO_INV has about 10,000 payments in January 2024. */
const GOOD = 'investor=DEMO_INV&from=2024-01-01&to=2024-02-01';

interface Problem {
  status?: number;
  detail?: string;
  errors?: { parameter?: string; message?: string }[];
}

interface Payments {
  investor: unknown;
  limit: unknown;
  count: number;
  rows: { transaction_date: string }[];
}

/** ` (the server logged: …)` after a 500, or ` ("detail")` after a problem: what the learner needs to see. */
function said(res: TestResponse): string {
  if (res.status >= 500) {
    const last = serverLog.entries.at(-1);
    if (last instanceof Error && last.name === 'ZodError') {
      return ' (a ZodError reached the error handler, which answers 500 to any error it does not know: turn it into badRequest(…))';
    }
    return serverLog.said(res);
  }
  if (/problem\+json/.test(res.headers.get('content-type') ?? '')) {
    const detail = safeJson<Problem>(res)?.detail;
    if (detail) return ` ("${detail}")`;
  }
  return '';
}

function safeJson<T>(res: TestResponse): T | undefined {
  try {
    return res.json<T>();
  } catch {
    return undefined;
  }
}

/** The statements PostgreSQL received, for messages: `SELECT 1 FROM investors …`. */
function statements(): string {
  return services.queries.statements.map((s) => (s.length > 70 ? `${s.slice(0, 70)}…` : s)).join(' | ');
}

describe('a good request', () => {
  it('still answers with the payments, and the db time in Server-Timing', async () => {
    const path = `/payments?${GOOD}&limit=10`;
    const res = await http.get(path);
    expect(res.status, `GET ${path} answered ${res.status}${said(res)}: a good request must still work`).toBe(200);
    const body = res.json<Payments>();
    expect(body.count, `GET ${path} returned ${body.count} payments: limit=10 asks for 10`).toBe(10);
    expect(
      body.rows.every((r) => r.transaction_date >= '2024-01-01' && r.transaction_date < '2024-02-01'),
      `GET ${path} returned payments outside [2024-01-01, 2024-02-01): pass the parsed from/to to the query`,
    ).toBe(true);
    expect(
      res.timing.db,
      `GET ${path} has no db time in Server-Timing ("${res.headers.get('server-timing')}"): keep the query inside time(res, 'db', …)`,
    ).toBeGreaterThan(0);
  });

  it('is normalised: investor in upper case, limit as a number', async () => {
    const path = `/payments?investor=demo_inv&from=2024-01-01&to=2024-02-01&limit=25`;
    const res = await http.get(path);
    expect(
      res.status,
      `GET ${path} answered ${res.status}${said(res)}: investor ids are case-insensitive, demo_inv is DEMO_INV`,
    ).toBe(200);
    const body = res.json<Payments>();
    expect(
      body.investor,
      `GET ${path} used the investor ${JSON.stringify(body.investor)}: normalise it to upper case, so that demo_inv and DEMO_INV are one question (and, from lesson 02, one cache key)`,
    ).toBe('DEMO_INV');
    expect(
      body.limit,
      `GET ${path} used the limit ${JSON.stringify(body.limit)}: the query string gives the text "25", the handler should get the number 25`,
    ).toBe(25);
  });

  it('trims the spaces around the investor id instead of rejecting it', async () => {
    const path = '/payments?investor=%20demo_inv%20&from=2024-01-01&to=2024-02-01&limit=5';
    const res = await http.get(path);
    expect(
      res.status,
      `GET ${path} answered ${res.status}${said(res)}: " demo_inv " is the investor DEMO_INV with spaces around it (a copy-paste): trim it before checking it`,
    ).toBe(200);
    const body = res.json<Payments>();
    expect(
      body.investor,
      `GET ${path} used the investor ${JSON.stringify(body.investor)}: trim the spaces and upper-case it, so that it is DEMO_INV`,
    ).toBe('DEMO_INV');
  });

  it('gets limit 1,000 when the client gives none', async () => {
    const path = `/payments?${GOOD}`;
    const res = await http.get(path);
    expect(res.status, `GET ${path} answered ${res.status}${said(res)}: limit is optional`).toBe(200);
    const body = res.json<Payments>();
    expect(
      body.limit,
      `GET ${path} used the limit ${JSON.stringify(body.limit)}: when limit is missing it defaults to 1000`,
    ).toBe(1000);
    expect(body.count, `GET ${path} returned ${body.count} payments: the default limit is 1000`).toBe(1000);
  });

  it.each([
    ['the smallest limit, 1', `${GOOD}&limit=1`],
    ['the largest limit, 100000', `${GOOD}&limit=100000`],
    ['a leap day, 2024-02-29', 'investor=DEMO_INV&from=2024-02-29&to=2024-03-01&limit=5'],
  ])('accepts %s', async (what, query) => {
    const path = `/payments?${query}`;
    const res = await http.get(path);
    expect(res.status, `GET ${path} answered ${res.status}${said(res)}: ${what} is valid`).toBe(200);
  });

  it('accepts an investor id of exactly 32 characters as well-formed (404: nobody has that id)', async () => {
    const id = 'A'.repeat(32);
    const path = `/payments?investor=${id}&from=2024-01-01&to=2024-02-01`;
    const res = await http.get(path);
    expect(
      res.status,
      `GET ${path} answered ${res.status}${said(res)}: an id of 32 letters is allowed (1–32), so it is checked in the database and, as nobody has it, answered 404`,
    ).toBe(404);
  });

  it('answers 404 for a well-formed investor that does not exist, without scanning the payments', async () => {
    const path = '/payments?investor=NOBODY&from=2024-01-01&to=2024-02-01';
    const res = await http.get(path);
    expect(
      res.status,
      `GET ${path} answered ${res.status}${said(res)}: NOBODY is a valid id that no investor has, so 404 (not 400)`,
    ).toBe(404);
    expect(
      services.queries.matching(/borrower_payments/),
      `GET ${path} scanned borrower_payments for an investor that does not exist: check the investor first`,
    ).toBe(0);
  });
});

/** What each kind of message must say, in any words: the learner's message is checked against these. */
const MISSING: Says = [/required|missing/i, 'that it is missing (e.g. "is required")'];
const TWICE: Says = [
  /once|twice|more than one|repeated|duplicate|several|multiple|single/i,
  'that it was given more than once (e.g. "must be given once")',
];
const INVESTOR: Says = [/32|letters|digits|characters/i, 'the rule it breaks: 1–32 letters, digits, _ or -'];
const LIMIT: Says = [
  /100[,. ]?000|whole|integer|at least|positive/i,
  'the rule it breaks: a whole number from 1 to 100,000',
];
const DATE: Says = [/YYYY-MM-DD|date/i, 'the rule it breaks: a real date written YYYY-MM-DD'];
const RANGE: Says = [/after|before|later|earlier|empty|range/i, 'the rule it breaks: `to` must be after `from`'];
/** [a pattern the message must match, what it should say, for the failure message] */
type Says = [RegExp, string];

/** Every entry of `errors` must be `{ parameter, message }`, each bad parameter once: the failure, or undefined. */
function malformedErrors(path: string, errors: unknown): string | undefined {
  if (!Array.isArray(errors)) return `the 400 for GET ${path} has no \`errors\` array`;
  for (const e of errors as unknown[]) {
    const { parameter, message } = (e ?? {}) as { parameter?: unknown; message?: unknown };
    if (typeof parameter !== 'string' || typeof message !== 'string' || message.trim() === '') {
      return `the 400 for GET ${path} lists ${JSON.stringify(e)} in \`errors\`: each entry is { parameter, message }, with a message that says what is wrong`;
    }
  }
  const names = (errors as { parameter: string }[]).map((e) => e.parameter);
  const twice = names.find((p, i) => names.indexOf(p) !== i);
  if (twice !== undefined) {
    return `the 400 for GET ${path} lists \`${twice}\` more than once in \`errors\` (${JSON.stringify(names)}): each bad parameter once, with one message, even when its value breaks several rules`;
  }
  return undefined;
}

describe('a bad request is a 400 problem naming the parameter, before any query', () => {
  // [what is wrong, query string, the parameter(s) the 400 may name, the rule in the learner's words, what its message says]
  const cases: [string, string, string[], string, Says][] = [
    ['a missing investor', 'from=2024-01-01&to=2024-02-01', ['investor'], 'a missing investor', MISSING],
    [
      'an empty investor',
      'investor=&from=2024-01-01&to=2024-02-01',
      ['investor'],
      'an empty investor',
      [/32|letters|digits|characters|empty|required|missing/i, 'that it is empty, or the rule it breaks'],
    ],
    [
      'an investor id with SQL in it',
      "investor=x'%20OR%201=1--&from=2024-01-01&to=2024-02-01",
      ['investor'],
      'an investor that is not 1–32 letters, digits, _ or -',
      INVESTOR,
    ],
    [
      'an investor id of 33 characters',
      `investor=${'A'.repeat(33)}&from=2024-01-01&to=2024-02-01`,
      ['investor'],
      'an investor id longer than 32 characters',
      INVESTOR,
    ],
    [
      'a 40-character investor id that starts like a good one',
      `investor=DEMO_INV${'_X'.repeat(16)}&from=2024-01-01&to=2024-02-01`,
      ['investor'],
      'an investor id longer than 32 characters (anchor the pattern: ^…$)',
      INVESTOR,
    ],
    [
      'an investor given twice',
      'investor=DEMO_INV&investor=INV00001&from=2024-01-01&to=2024-02-01',
      ['investor'],
      'a parameter given twice',
      TWICE,
    ],
    ['a negative limit', `${GOOD}&limit=-1`, ['limit'], 'a bad limit', LIMIT],
    ['a zero limit', `${GOOD}&limit=0`, ['limit'], 'a bad limit', LIMIT],
    ['a limit just over 100000', `${GOOD}&limit=100001`, ['limit'], 'a limit over 100000', LIMIT],
    ['a huge limit', `${GOOD}&limit=99999999999999999999`, ['limit'], 'a bad limit', LIMIT],
    ['a limit that is not a number', `${GOOD}&limit=ten`, ['limit'], 'a bad limit', LIMIT],
    ['a limit with a fraction', `${GOOD}&limit=2.5`, ['limit'], 'a bad limit', LIMIT],
    ['a limit given twice', `${GOOD}&limit=10&limit=20`, ['limit'], 'a parameter given twice', TWICE],
    ['a missing from', 'investor=DEMO_INV&to=2024-02-01', ['from'], 'a missing date', MISSING],
    ['a to given twice', `${GOOD}&to=2024-03-01`, ['to'], 'a parameter given twice', TWICE],
    [
      'a from that is not YYYY-MM-DD',
      'investor=DEMO_INV&from=2024-1-1&to=2024-02-01',
      ['from'],
      'a malformed date',
      DATE,
    ],
    ['a to written with slashes', 'investor=DEMO_INV&from=2024-01-01&to=2024/02/01', ['to'], 'a malformed date', DATE],
    ['February 30th', 'investor=DEMO_INV&from=2024-02-30&to=2024-04-01', ['from'], 'an impossible date', DATE],
    ['a 13th month', 'investor=DEMO_INV&from=2024-01-01&to=2024-13-01', ['to'], 'an impossible date', DATE],
    [
      'February 29th of a year that is not a leap year',
      'investor=DEMO_INV&from=2023-02-01&to=2023-02-29',
      ['to'],
      'an impossible date',
      DATE,
    ],
    [
      'a range that ends before it starts',
      'investor=DEMO_INV&from=2024-02-01&to=2024-01-01',
      ['to', 'from'],
      'a range that ends before it starts',
      RANGE,
    ],
    [
      'an empty range (from equal to to)',
      'investor=DEMO_INV&from=2024-01-01&to=2024-01-01',
      ['to', 'from'],
      'an empty range ([from, to) with to = from asks for nothing: `to` must be after `from`)',
      RANGE,
    ],
  ];

  it.each(cases)('rejects %s', async (_what, query, parameters, rule, [says, shouldSay]) => {
    const path = `/payments?${query}`;
    const res = await http.get(path);
    const named = parameters.map((p) => `\`${p}\``).join(' or ');

    expect(
      res.status,
      `GET ${path} answered ${res.status}${said(res)}: ${rule} must be rejected with 400 before it reaches PostgreSQL`,
    ).toBe(400);

    const type = res.headers.get('content-type') ?? '(no content type)';
    expect(
      type,
      `GET ${path} answered 400 as ${type}: errors are application/problem+json (throw badRequest(…), do not send text)`,
    ).toMatch(/^application\/problem\+json/);

    const body = safeJson<Problem>(res);
    const listed = (body?.errors ?? []).map((e) => e.parameter);
    expect(
      listed.some((p) => p !== undefined && parameters.includes(p)),
      `the 400 for GET ${path} lists ${JSON.stringify(listed)} in \`errors\`: it should name ${named}, as { parameter, message }`,
    ).toBe(true);
    const malformed = malformedErrors(path, body?.errors);
    expect(malformed, malformed).toBeUndefined();
    const error = body?.errors?.find((e) => e.parameter !== undefined && parameters.includes(e.parameter));
    expect(
      error?.message,
      `the 400 for GET ${path} says ${JSON.stringify(error?.message)} about \`${error?.parameter}\`: the message should say ${shouldSay}`,
    ).toMatch(says);
    const detail = body?.detail ?? '';
    expect(
      detail,
      `the 400 for GET ${path} has no \`detail\`: say in words what is wrong, for the person reading it`,
    ).not.toBe('');
    expect(
      detail,
      `the 400 for GET ${path} has the detail "${detail}", which does not name \`${error?.parameter}\`: say in words which parameter is wrong and why`,
    ).toContain(error?.parameter ?? '');

    expect(
      services.queries.count,
      `GET ${path} was rejected only after PostgreSQL had run ${services.queries.count} statement(s) (${statements()}): validate before the first query`,
    ).toBe(0);
  });

  it('names every bad parameter at once, not only the first, and only those', async () => {
    const path = '/payments?investor=&from=2024-1-1&to=2024-02-01&limit=0';
    const res = await http.get(path);
    expect(res.status, `GET ${path} answered ${res.status}${said(res)}: three bad parameters are a 400`).toBe(400);
    const errors = safeJson<Problem>(res)?.errors;
    const listed = (errors ?? []).map((e) => e.parameter);
    for (const parameter of ['investor', 'from', 'limit']) {
      expect(
        listed,
        `the 400 for GET ${path} lists ${JSON.stringify(listed)}: it should name \`${parameter}\` too, so the client fixes everything in one go`,
      ).toContain(parameter);
    }
    expect(
      listed,
      `the 400 for GET ${path} lists ${JSON.stringify(listed)}: \`to\` is a good date, only \`from\` is malformed, so do not blame \`to\` (a date that is not a date cannot be compared: stop there, e.g. zod's abort: true)`,
    ).not.toContain('to');
    const malformed = malformedErrors(path, errors);
    expect(malformed, malformed).toBeUndefined();
    const detail = safeJson<Problem>(res)?.detail ?? '';
    for (const parameter of ['investor', 'from', 'limit']) {
      expect(
        detail,
        `the 400 for GET ${path} has the detail "${detail}", which does not name \`${parameter}\`: say in words every parameter that is wrong`,
      ).toContain(parameter);
    }
    expect(services.queries.count, `GET ${path} reached PostgreSQL (${statements()})`).toBe(0);
  });
});
