import { captureServerLog, type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';

/**
 * The stretch goal of exercise 01 (README): a parameter GET /payments does not know is a 400
 * that names it, not silently ignored. (`npx cachelab verify 01 --stretch`)
 */
const services = useServices();
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

const GOOD = 'investor=DEMO_INV&from=2024-01-01&to=2024-02-01';

interface Problem {
  detail?: string;
  errors?: { parameter?: string; message?: string }[];
}

function problem(res: TestResponse): Problem | undefined {
  try {
    return res.json<Problem>();
  } catch {
    return undefined;
  }
}

function answered(path: string, res: TestResponse): string {
  return res.status >= 500
    ? `GET ${path} answered ${res.status}${serverLog.said(res)}`
    : `GET ${path} answered ${res.status}`;
}

describe('a parameter the endpoint does not know is a 400 that names it', () => {
  it('rejects ?sort=amount with a 400 problem naming `sort`, before any query', async () => {
    const path = `/payments?${GOOD}&limit=10&sort=amount`;
    const res = await http.get(path);
    expect(
      res.status,
      `${answered(path, res)}: \`sort\` is not a parameter of GET /payments, and ignoring it answers a question the client did not ask (sorted by amount?). Reject it with a 400 that names it`,
    ).toBe(400);
    expect(
      res.headers.get('content-type') ?? '',
      `GET ${path} answered 400 as ${res.headers.get('content-type')}: errors are application/problem+json (badRequest(…))`,
    ).toMatch(/^application\/problem\+json/);
    const body = problem(res);
    const entry = body?.errors?.find((e) => e.parameter === 'sort');
    expect(
      entry,
      `the 400 for GET ${path} lists ${JSON.stringify(body?.errors)} in \`errors\`: it should name \`sort\` as { parameter: "sort", message }`,
    ).toBeDefined();
    expect(
      entry?.message ?? '',
      `the 400 for GET ${path} says nothing about \`sort\` in its message: say that it is not a parameter of this endpoint`,
    ).not.toBe('');
    expect(
      body?.detail ?? '',
      `the 400 for GET ${path} has the detail "${body?.detail}", which does not name \`sort\`: say in words which parameter is unknown`,
    ).toContain('sort');
    expect(
      services.queries.count,
      `GET ${path} was rejected only after PostgreSQL had run ${services.queries.count} statement(s): check the parameters before the first query`,
    ).toBe(0);
  });

  it('names every unknown parameter, each once, along with the known ones that are wrong', async () => {
    const path = '/payments?investor=DEMO_INV&from=2024-01-01&to=2024-02-01&limit=0&sort=amount&order=desc';
    const res = await http.get(path);
    expect(res.status, `${answered(path, res)}: two unknown parameters and a bad limit are a 400`).toBe(400);
    const listed = (problem(res)?.errors ?? []).map((e) => e.parameter);
    for (const parameter of ['sort', 'order', 'limit'])
      expect(
        listed,
        `the 400 for GET ${path} lists ${JSON.stringify(listed)}: it should name \`${parameter}\` too, so the client fixes everything in one go`,
      ).toContain(parameter);
    expect(
      listed.filter((p) => p === 'sort').length,
      `the 400 for GET ${path} lists ${JSON.stringify(listed)}: name \`sort\` once`,
    ).toBe(1);
    expect(
      listed,
      `the 400 for GET ${path} lists ${JSON.stringify(listed)}: only the bad parameters, never "undefined" or ""`,
    ).not.toContain(undefined);
  });

  it('still answers a request with only known parameters', async () => {
    const path = `/payments?${GOOD}&limit=5`;
    const res = await http.get(path);
    expect(res.status, `${answered(path, res)}: a request with only known parameters must still work`).toBe(200);
    expect(res.json<{ count: number }>().count, `GET ${path} did not return 5 payments`).toBe(5);
  });
});
